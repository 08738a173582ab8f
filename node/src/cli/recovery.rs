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
    api::{ExportRequest, ExportResponse},
    home::{Home, Identity},
    store::Store,
    unix_now,
};

#[derive(Debug, Serialize)]
struct WordsJson<'a> {
    words: &'a str,
}

pub(super) fn recovery(home: &Home, json: bool, command: RecoveryCommand) -> anyhow::Result<()> {
    match command {
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
