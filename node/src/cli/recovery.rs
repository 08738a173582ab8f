//! `kith recovery`, `kith recover`, `kith export`, `kith import`: the
//! account's paper key and encrypted bundle, and a new device for the
//! account from either. The paper key and the import work on the home
//! directly, no daemon; the export asks the daemon (it holds the store).

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use zeroize::Zeroizing;

use super::{
    Client, RecoveryCommand,
    commands::{host_name_or, print_ids, print_json},
};
use crate::{
    api::{
        ApproveRequest, ApproveResponse, ExportRequest, ExportResponse, RecoveryRequestsJson,
        RecoverySetupJson, RecoverySetupRequest, RecoveryStatusJson,
    },
    home::{Home, Identity, Recovering},
    store::Store,
    unix_now,
};

#[derive(Debug, Serialize)]
struct WordsJson<'a> {
    words: &'a str,
}

pub(super) async fn recovery(
    home: &Home,
    json: bool,
    command: RecoveryCommand,
) -> anyhow::Result<()> {
    match command {
        RecoveryCommand::Setup { friends, threshold } => {
            let request = RecoverySetupRequest { friends, threshold };
            let answer: RecoverySetupJson = Client::for_home(home)?
                .post(home, "/recovery/setup", &request)
                .await?;
            if json {
                return print_json(&answer);
            }
            say!(
                "gave {} friends a share each; any {} of them can give your account back",
                answer.friends.len(),
                answer.threshold
            );
            say!("(`kith recovery status` shows who confirmed holding theirs)");
            Ok(())
        }
        RecoveryCommand::Status => {
            let answer: RecoveryStatusJson = Client::for_home(home)?
                .get(home, "/recovery/status")
                .await?;
            if json {
                return print_json(&answer);
            }
            say!(
                "any {} of these friends can recover your account:",
                answer.threshold
            );
            for friend in &answer.friends {
                let state = match (&friend.error, friend.holds) {
                    (_, true) => "holds its share".to_string(),
                    (Some(code), false) => format!("refused its share ({code})"),
                    (None, false) => "not reached yet".to_string(),
                };
                say!("  {}  {state}", friend.account);
            }
            Ok(())
        }
        RecoveryCommand::Requests => {
            let answer: RecoveryRequestsJson = Client::for_home(home)?
                .get(home, "/recovery/requests")
                .await?;
            if json {
                return print_json(&answer);
            }
            if answer.requests.is_empty() {
                say!("no friend's device asks to recover an account");
            }
            for request in &answer.requests {
                say!(
                    "{} asks from new device {}{}",
                    request.account,
                    request.device,
                    if request.approved { " (approved)" } else { "" }
                );
            }
            if answer.requests.iter().any(|r| !r.approved) {
                say!("Call your friend, have them read you the code on their new device, then:");
                say!("  kith recovery approve ACCOUNT --code CODE");
            }
            Ok(())
        }
        RecoveryCommand::Approve { account, code } => {
            let request = ApproveRequest { account, code };
            let answer: ApproveResponse = Client::for_home(home)?
                .post(home, "/recovery/approve", &request)
                .await?;
            if json {
                return print_json(&answer);
            }
            say!(
                "released your share of {} to device {}",
                answer.account,
                answer.device
            );
            Ok(())
        }
        RecoveryCommand::Words => {
            let identity = home.load()?;
            let key = identity.account_key.as_ref().context(
                "this device does not hold the account key; run this on the account's first device",
            )?;
            let words = kith_keys::paper::to_words(key);
            if json {
                return print_json(&WordsJson { words: &words });
            }
            say!("Your paper key. Write these words down, in order, and keep them");
            say!("somewhere safe: anyone who reads them owns your account.");
            say!();
            for (i, word) in words.split(' ').enumerate() {
                say!("{:>2}. {word}", i + 1);
            }
            Ok(())
        }
    }
}

pub(super) fn recover(
    home: &Home,
    json: bool,
    words: &str,
    device_name: Option<&str>,
) -> anyhow::Result<()> {
    let key = kith_keys::paper::from_words(words)?;
    let identity = Identity::new_device_of(key, &host_name_or(device_name), unix_now())?;
    home.create(&identity)?;
    print_ids(
        json,
        &identity,
        "recovered the account; this device has a new key. Start `kith daemon`, \
         connect to a friend, and your documents come back from their copies",
    )
}

#[derive(Debug, Serialize)]
struct RecoveringJson {
    account: Option<String>,
    recovering: String,
    device: String,
}

#[derive(Debug, Serialize)]
struct CodeJson {
    code: String,
    account: String,
    device: String,
}

/// `kith id` on a home still recovering: no account yet.
pub(super) fn print_recovering(json: bool, recovering: &Recovering) -> anyhow::Result<()> {
    let ids = RecoveringJson {
        account: None,
        recovering: recovering.account.to_string(),
        device: recovering.device_key.id().to_string(),
    };
    if json {
        return print_json(&ids);
    }
    say!("recovering {} (not done yet)", ids.recovering);
    say!("device     {}", ids.device);
    Ok(())
}

/// `kith recover --account ACCOUNT --friends`: a new device key and the
/// code bound to it, for the friends who hold shares.
pub(super) fn recover_through_friends(
    home: &Home,
    json: bool,
    account: &str,
    device_name: Option<&str>,
) -> anyhow::Result<()> {
    let account: kith_keys::AccountId = account
        .trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("`{account}` is not an account id: {e}"))?;
    let device_key = home.start_recovery(account, &host_name_or(device_name))?;
    let code = kith_protocol::recovery::code(&account, &device_key.id());
    let answer = CodeJson {
        code,
        account: account.to_string(),
        device: device_key.id().to_string(),
    };
    if json {
        return print_json(&answer);
    }
    say!("Recovering {} through your friends.", answer.account);
    say!();
    say!("  code: {}", answer.code);
    say!();
    say!("Start `kith daemon`, connect to friends who hold a share (`kith connect`),");
    say!("and read each of them this code (by phone, in person): they approve with");
    say!("`kith recovery approve {} --code CODE`.", answer.account);
    say!("Once enough have approved, this device holds your account again.");
    Ok(())
}

/// The passphrase: the file's first line (a trailing newline is not part of it).
fn read_passphrase(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the passphrase file {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        anyhow::bail!("the passphrase file {} is empty", path.display());
    }
    Ok(Zeroizing::new(line.to_string()))
}

#[derive(Debug, Serialize)]
struct FileJson {
    file: String,
}

pub(super) async fn export(
    home: &Home,
    json: bool,
    out: &Path,
    passphrase_file: &Path,
) -> anyhow::Result<()> {
    use base64::Engine as _;
    let passphrase = read_passphrase(passphrase_file)?;
    let request = ExportRequest {
        passphrase: passphrase.to_string(),
    };
    let answer: ExportResponse = Client::for_home(home)?
        .post(home, "/export", &request)
        .await?;
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(answer.bundle)
        .context("the daemon's export is not base64")?;
    write_private(out, &bundle)?;
    if json {
        return print_json(&FileJson {
            file: out.display().to_string(),
        });
    }
    say!(
        "wrote {} ({} bytes), sealed under your passphrase",
        out.display(),
        bundle.len()
    );
    Ok(())
}

/// Write `bytes` to a new file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub(super) fn import(
    home: &Home,
    json: bool,
    file: &Path,
    passphrase_file: &Path,
    device_name: Option<&str>,
) -> anyhow::Result<()> {
    use std::io::Read as _;
    let passphrase = read_passphrase(passphrase_file)?;
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .take(crate::backup::MAX_BUNDLE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", file.display()))?;
    if home.is_initialised() {
        anyhow::bail!(
            "{} already holds an account; import into an empty home",
            home.root().display()
        );
    }
    let bundle = crate::backup::open(&bytes, passphrase.as_bytes())?;
    let identity =
        Identity::new_device_of(bundle.account_key, &host_name_or(device_name), unix_now())?;
    home.create(&identity)?;
    let store = Store::open(&home.db_path())?;
    let me = identity.account();
    for doc in &bundle.docs {
        store.compact_doc(&me, doc.kind, &doc.snapshot)?;
        store.append_doc(&me, doc.kind, &[], &doc.signatures)?;
    }
    store.flush()?;
    print_ids(
        json,
        &identity,
        "restored the account; this device has a new key",
    )
}
