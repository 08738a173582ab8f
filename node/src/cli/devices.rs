//! `kith device …`: link, join (no daemon needed), list, revoke.

use anyhow::{Context as _, bail};
use kith_keys::{AccountKey, DeviceKey};
use kith_protocol::ticket::{Ticket, TicketKind};
use serde::Serialize;

use super::{
    Client, DeviceCommand,
    commands::{host_name, print_json},
    qr,
};
use crate::{
    api::{DevicesJson, LinkDeviceRequest, LinkDeviceResponse, RevokeRequest, RevokeResponse},
    home::{Home, Identity},
    net::join,
    store::{KnownPeer, Store},
    unix_now,
};

#[derive(Debug, Serialize)]
struct Joined {
    account: String,
    device: String,
    /// Compare with the code the linking device shows.
    code: String,
    admin: bool,
}

pub(super) async fn device(home: &Home, json: bool, command: DeviceCommand) -> anyhow::Result<()> {
    match command {
        DeviceCommand::Join {
            ticket,
            qr_image,
            device_name,
        } => {
            let text = match (ticket, qr_image) {
                (Some(text), _) => text,
                (None, Some(path)) => qr::decode_image(&path)?,
                (None, None) => bail!("give a ticket or --qr-image FILE"),
            };
            let joined = join_account(home, &text, device_name.unwrap_or_else(host_name)).await?;
            if json {
                return print_json(&joined);
            }
            say!("joined account {}", joined.account);
            say!("device   {}", joined.device);
            say!(
                "confirmation code {} (the linking device shows the same)",
                joined.code
            );
            Ok(())
        }
        DeviceCommand::Link {
            qr: show_qr,
            png,
            svg,
            ttl,
            admin,
        } => {
            let client = Client::for_home(home)?;
            let request = LinkDeviceRequest {
                ttl_secs: ttl.map(|d| d.as_secs()),
                admin,
            };
            let answer: LinkDeviceResponse = client.post(home, "/devices/link", &request).await?;
            if let Some(path) = &png {
                qr::write_png(&answer.ticket, path)?;
            }
            if let Some(path) = &svg {
                qr::write_svg(&answer.ticket, path)?;
            }
            if json {
                return print_json(&answer);
            }
            if show_qr {
                say!("{}", qr::terminal(&answer.ticket)?);
            }
            say!("{}", answer.ticket);
            Ok(())
        }
        DeviceCommand::List => {
            let client = Client::for_home(home)?;
            let devices: DevicesJson = client.get(home, "/devices").await?;
            if json {
                return print_json(&devices);
            }
            for d in &devices.devices {
                let mut notes = Vec::new();
                if d.this {
                    notes.push("this device");
                }
                if d.revoked {
                    notes.push("revoked");
                }
                say!("{}  {}  {}", d.device, d.name, notes.join(", "));
            }
            Ok(())
        }
        DeviceCommand::Revoke { device } => {
            let client = Client::for_home(home)?;
            let answer: RevokeResponse = client
                .post(home, "/devices/revoke", &RevokeRequest { device })
                .await?;
            if json {
                return print_json(&answer);
            }
            say!("{} revoked", answer.device);
            Ok(())
        }
    }
}

/// Pair a fresh home with a ticket's device and write the new identity.
async fn join_account(home: &Home, text: &str, device_name: String) -> anyhow::Result<Joined> {
    if home.is_initialised() {
        let account = home
            .load()
            .map(|i| i.account().to_string())
            .unwrap_or_default();
        bail!(
            "{} already holds an account {account}; join needs a fresh home (use --home DIR)",
            home.root().display()
        );
    }
    let ticket = Ticket::parse(TicketKind::Pairing, text)?;
    ticket.check_fresh(unix_now())?;
    let device_key = DeviceKey::generate();
    let joined = join::join(&device_key, &ticket, &device_name).await?;
    let account_key = joined.account_seed.map(|seed| AccountKey::from_seed(&seed));
    if account_key
        .as_ref()
        .is_some_and(|k| k.id() != ticket.account)
    {
        bail!("the linked device sent an account key for another account");
    }
    let admin = account_key.is_some();
    let identity = Identity {
        account_key,
        device_key,
        cert: joined.cert,
    };
    home.create(&identity)?;
    // Remember the linking device so the first daemon start dials it and
    // fetches the account's documents.
    let store = Store::open(&home.db_path()).context("opening the new home's database")?;
    let addrs = ticket
        .addrs
        .iter()
        .filter_map(|b| libp2p::Multiaddr::try_from(b.clone()).ok())
        .map(|a| a.to_string())
        .collect();
    store.remember_peer(KnownPeer {
        device: ticket.device,
        account: Some(ticket.account),
        addrs,
        last_seen: unix_now(),
    })?;
    store.flush()?;
    Ok(Joined {
        account: identity.account().to_string(),
        device: identity.device().to_string(),
        code: joined.code,
        admin,
    })
}
