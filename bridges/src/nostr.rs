//! The Nostr bridge: each post as a kind-1 note, the profile as kind-0
//! metadata, published to the configured relays.
//!
//! Idempotent by construction: a note's id is the hash of its author, time,
//! kind, tags and content, and the bridge fixes the time to the post's and
//! tags the note with the post id, so publishing a post again yields the same
//! event, which relays store once.

use std::{path::Path, time::Duration};

use kith_protocol::bridge::{
    Configure, Description, INVALID_PARAMS, PERMANENT, Publish, Published, RpcError, TRANSIENT,
    UpdateProfile,
};
use nostr_sdk::prelude::*;

use crate::{Bridge, check_settings, error};

/// How long connecting to the relays may take before publishing anyway.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub struct Nostr {
    runtime: Option<tokio::runtime::Runtime>,
    client: Option<Client>,
    keys: Option<Keys>,
}

impl Nostr {
    fn parts(&self) -> Result<(&tokio::runtime::Runtime, &Client, &Keys), RpcError> {
        match (&self.runtime, &self.client, &self.keys) {
            (Some(r), Some(c), Some(k)) => Ok((r, c, k)),
            _ => Err(error(PERMANENT, "not configured")),
        }
    }
}

/// The key from `nsec`, or the one kept in the state directory, or a new one (kept).
fn load_keys(nsec: Option<&String>, state_dir: &Path) -> Result<Keys, RpcError> {
    if let Some(nsec) = nsec {
        return Keys::parse(nsec).map_err(|e| {
            error(
                INVALID_PARAMS,
                format!("nsec is not a Nostr secret key: {e}"),
            )
        });
    }
    let path = state_dir.join("nsec");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Keys::parse(text.trim())
            .map_err(|e| error(PERMANENT, format!("{} is corrupt: {e}", path.display())));
    }
    let keys = Keys::generate();
    let nsec = keys
        .secret_key()
        .to_bech32()
        .map_err(|e| error(PERMANENT, e.to_string()))?;
    write_private(&path, nsec.as_bytes()).map_err(|e| {
        error(
            PERMANENT,
            format!("cannot keep the key in {}: {e}", path.display()),
        )
    })?;
    Ok(keys)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

impl Bridge for Nostr {
    fn describe(&self) -> Description {
        Description {
            name: "nostr".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec!["publish".into(), "profile".into()],
        }
    }

    fn configure(&mut self, config: Configure) -> Result<(), RpcError> {
        check_settings(&config.settings, &["relays", "nsec"], &["relays"])?;
        let relays: Vec<String> = config
            .settings
            .get("relays")
            .map(|r| {
                r.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if relays.is_empty()
            || relays
                .iter()
                .any(|r| !(r.starts_with("ws://") || r.starts_with("wss://")))
        {
            return Err(error(
                INVALID_PARAMS,
                "relays must be comma-separated ws:// or wss:// URLs",
            ));
        }
        let keys = load_keys(config.settings.get("nsec"), Path::new(&config.state_dir))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| error(PERMANENT, e.to_string()))?;
        let client = Client::new(keys.clone());
        runtime.block_on(async {
            for relay in &relays {
                client
                    .add_relay(relay.as_str())
                    .await
                    .map_err(|e| error(INVALID_PARAMS, format!("relay {relay}: {e}")))?;
            }
            client.try_connect(CONNECT_TIMEOUT).await;
            Ok::<(), RpcError>(())
        })?;
        self.runtime = Some(runtime);
        self.client = Some(client);
        self.keys = Some(keys);
        Ok(())
    }

    fn publish(&mut self, post: Publish) -> Result<Published, RpcError> {
        let (runtime, client, keys) = self.parts()?;
        let event = EventBuilder::text_note(&post.text)
            .custom_created_at(Timestamp::from(post.at))
            .tag(Tag::custom(
                TagKind::custom("kith-post"),
                [post.post.clone()],
            ))
            .sign_with_keys(keys)
            .map_err(|e| error(PERMANENT, format!("cannot sign the note: {e}")))?;
        let output = runtime
            .block_on(client.send_event(&event))
            .map_err(|e| error(TRANSIENT, format!("no relay took the note: {e}")))?;
        if output.success.is_empty() {
            let why: Vec<String> = output
                .failed
                .iter()
                .map(|(r, e)| format!("{r}: {e}"))
                .collect();
            return Err(error(
                TRANSIENT,
                format!("no relay took the note ({})", why.join("; ")),
            ));
        }
        let note = output
            .val
            .to_bech32()
            .unwrap_or_else(|_| output.val.to_hex());
        Ok(Published {
            remote_id: output.val.to_hex(),
            url: Some(format!("nostr:{note}")),
        })
    }

    fn update_profile(&mut self, profile: UpdateProfile) -> Result<(), RpcError> {
        let (runtime, client, _) = self.parts()?;
        let mut metadata = Metadata::new();
        if let Some(name) = profile.display_name {
            metadata = metadata.name(name.clone()).display_name(name);
        }
        if let Some(bio) = profile.bio {
            metadata = metadata.about(bio);
        }
        let output = runtime
            .block_on(client.set_metadata(&metadata))
            .map_err(|e| error(TRANSIENT, format!("no relay took the metadata: {e}")))?;
        if output.success.is_empty() {
            return Err(error(TRANSIENT, "no relay took the metadata"));
        }
        Ok(())
    }
}
