//! What each `kith` command does, and how its answer is printed (JSON or for people).

use anyhow::Context as _;
use serde::Serialize;

use super::{Cli, Client, Command};
use crate::{
    api::{ConnectRequest, ConnectResponse, OpenResponse, StatusJson},
    daemon::{Daemon, Overrides},
    home::{Home, Identity},
    store::Store,
    unix_now,
};

#[derive(Debug, Serialize)]
struct Ids {
    account: String,
    device: String,
}

pub(super) async fn run(cli: Cli) -> anyhow::Result<()> {
    let home = Home::new(cli.home.clone().unwrap_or_else(Home::default_root));
    let json = cli.json;
    match cli.command {
        Command::Init { name, device_name } => {
            let identity = init(&home, name.as_deref(), device_name.as_deref())?;
            print_ids(json, &identity, "created account")
        }
        Command::Id => match home.recovering()? {
            Some(recovering) => super::recovery::print_recovering(json, &recovering),
            None => print_ids(json, &home.load()?, ""),
        },
        Command::Daemon {
            listen,
            api,
            no_mdns,
            bootstrap,
            relay,
        } => {
            if !home.is_initialised() {
                let identity = init(&home, None, None)?;
                // The binary's edge, not the daemon: tell the person who they now are.
                say!(
                    "created account {} in {}",
                    identity.account(),
                    home.root().display()
                );
            }
            run_daemon(
                &home,
                Overrides {
                    listen,
                    api,
                    no_mdns,
                    bootstrap,
                    relay,
                },
            )
            .await
        }
        Command::Status => {
            let status: StatusJson = Client::for_home(&home)?.get(&home, "/status").await?;
            if json {
                return print_json(&status);
            }
            say!("account  {}", status.account);
            say!("device   {}", status.device);
            for addr in &status.listen {
                say!("listen   {addr}");
            }
            say!("reachability  {}", status.reachability);
            for relay in &status.relays {
                say!("relay    {relay}");
            }
            say!("peers    {}", status.peers.len());
            for peer in &status.peers {
                let account = peer
                    .account
                    .as_deref()
                    .unwrap_or("(not a Kith account yet)");
                say!(
                    "  {}  {}  {} ({})",
                    peer.device,
                    account,
                    peer.addr,
                    peer.via
                );
            }
            say!("friends online  {}", status.friends_online);
            Ok(())
        }
        Command::Profile(command) => super::profile::profile(&home, json, command).await,
        Command::Link(command) => super::profile::link(&home, json, command).await,
        Command::Device(command) => super::devices::device(&home, json, command).await,
        Command::Post(args) => super::posts::post(&home, json, args).await,
        Command::Feed {
            account,
            all,
            limit,
        } => super::posts::feed(&home, json, account, all, limit).await,
        Command::Bridge(command) => super::posts::bridge(&home, json, command).await,
        Command::Friend(command) => super::friends::friend(&home, json, command).await,
        Command::Contacts(command) => super::friends::contacts(&home, json, command).await,
        Command::Discoverable(command) => super::friends::discoverable(&home, json, command).await,
        Command::Recovery(command) => super::recovery::recovery(&home, json, command).await,
        Command::Recover {
            words,
            account,
            friends: _,
            device_name,
        } => match (words, account) {
            (Some(words), _) => {
                super::recovery::recover(&home, json, &words, device_name.as_deref())
            }
            (None, Some(account)) => super::recovery::recover_through_friends(
                &home,
                json,
                &account,
                device_name.as_deref(),
            ),
            (None, None) => anyhow::bail!("give --words, or --account ACCOUNT --friends"),
        },
        Command::Export {
            out,
            passphrase_file,
        } => super::recovery::export(&home, json, &out, &passphrase_file).await,
        Command::Import {
            file,
            passphrase_file,
            device_name,
        } => super::recovery::import(&home, json, &file, &passphrase_file, device_name.as_deref()),
        Command::Open { no_browser } => {
            let answer: OpenResponse = Client::for_home(&home)?
                .post(&home, "/open", &serde_json::json!({}))
                .await?;
            if !no_browser && let Err(e) = open_browser(&answer.url) {
                eprintln!("could not start a browser ({e}); open the link yourself");
            }
            if json {
                print_json(&answer)
            } else {
                say!("{}", answer.url);
                say!("(works once, for the next two minutes)");
                Ok(())
            }
        }
        Command::Connect { addr } => {
            let request = ConnectRequest { addr };
            let answer: ConnectResponse = Client::for_home(&home)?
                .post(&home, "/connect", &request)
                .await?;
            if json {
                print_json(&answer)
            } else {
                say!("connected to {}", answer.device);
                Ok(())
            }
        }
    }
}

pub(super) fn host_name_or(device_name: Option<&str>) -> String {
    device_name.map(str::to_string).unwrap_or_else(host_name)
}

fn init(home: &Home, name: Option<&str>, device_name: Option<&str>) -> anyhow::Result<Identity> {
    let device_name = host_name_or(device_name);
    let identity = Identity::generate(&device_name, unix_now())?;
    home.create(&identity)?;
    if let Some(name) = name {
        let store = Store::open(&home.db_path())?;
        store.set_display_name(name)?;
    }
    Ok(identity)
}

async fn run_daemon(home: &Home, overrides: Overrides) -> anyhow::Result<()> {
    loop {
        let mut daemon = Daemon::start(home, overrides.clone()).await?;
        let signalled = tokio::select! {
            signal = wait_for_signal() => Ok(signal),
            reason = daemon.node_stopped() => Err(reason),
        };
        match signalled {
            Ok(signal) => {
                signal.context("cannot wait for signals")?;
                tracing::info!("shutting down");
                daemon.stop().await;
                return Ok(());
            }
            // A recovering device's node stops once the account is back:
            // start again, now as the account's device.
            Err(_) if daemon.is_recovering() && home.load().is_ok() => {
                tracing::info!("account recovered; starting the node");
                daemon.stop().await;
            }
            Err(reason) => {
                tracing::error!(%reason, "the node stopped unexpectedly; exiting");
                let _ = std::fs::remove_file(home.daemon_info_path());
                anyhow::bail!("{reason}")
            }
        }
    }
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

pub(super) fn print_ids(json: bool, identity: &Identity, label: &str) -> anyhow::Result<()> {
    let ids = Ids {
        account: identity.account().to_string(),
        device: identity.device().to_string(),
    };
    if json {
        return print_json(&ids);
    }
    if !label.is_empty() {
        say!("{label}");
    }
    say!("account  {}", ids.account);
    say!("device   {}", ids.device);
    Ok(())
}

pub(super) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .take(kith_keys::MAX_DEVICE_NAME_LEN)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "device".to_string())
}

/// Hand `url` to the desktop's browser (`xdg-open`, or `open` on macOS),
/// without waiting for it.
fn open_browser(url: &str) -> std::io::Result<()> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
}
