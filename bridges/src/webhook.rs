//! The webhook bridge: each post as a JSON POST to a URL (Slack/Discord-style
//! incoming webhooks, or your own service), with the post id as `Idempotency-Key`.

use std::time::Duration;

use kith_protocol::bridge::{
    Configure, Description, PERMANENT, Publish, Published, RpcError, TRANSIENT,
};

use crate::{Bridge, check_settings, error, http_error_code};

/// How long one POST may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Default)]
pub struct Webhook {
    url: Option<String>,
    client: Option<reqwest::blocking::Client>,
    /// Post ids already delivered, kept in `state_dir/delivered` so a retry
    /// after a crash of the daemon does not post again.
    journal: Option<std::path::PathBuf>,
    delivered: std::collections::HashSet<String>,
}

impl Webhook {
    fn remember(&mut self, post: &str) {
        use std::io::Write as _;
        self.delivered.insert(post.to_string());
        if let Some(journal) = &self.journal {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(journal)
                .and_then(|mut f| writeln!(f, "{post}").and_then(|()| f.sync_data()));
            if let Err(e) = written {
                eprintln!("cannot record delivery of {post}: {e}");
            }
        }
    }
}

impl Bridge for Webhook {
    fn describe(&self) -> Description {
        Description {
            name: "webhook".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec!["publish".into()],
        }
    }

    fn configure(&mut self, config: Configure) -> Result<(), RpcError> {
        check_settings(&config.settings, &["url"], &["url"])?;
        let url = config.settings.get("url").cloned().unwrap_or_default();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(error(
                kith_protocol::bridge::INVALID_PARAMS,
                format!("url `{}` is not http(s)", public_part(&url)),
            ));
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| error(PERMANENT, format!("cannot build an HTTP client: {e}")))?;
        let journal = std::path::Path::new(&config.state_dir).join("delivered");
        self.delivered = std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        self.journal = Some(journal);
        self.url = Some(url);
        self.client = Some(client);
        Ok(())
    }

    fn publish(&mut self, post: Publish) -> Result<Published, RpcError> {
        let (Some(url), Some(client)) = (&self.url, &self.client) else {
            return Err(error(PERMANENT, "not configured"));
        };
        if self.delivered.contains(&post.post) {
            return Ok(Published {
                remote_id: post.post,
                url: None,
            });
        }
        let response = client
            .post(url)
            .header("Idempotency-Key", &post.post)
            .json(&serde_json::json!({ "post": post.post, "text": post.text, "at": post.at, "account": post.account }))
            .send()
            .map_err(|e| {
                let e = e.without_url();
                error(TRANSIENT, format!("POST {} failed: {e}", public_part(url)))
            })?;
        let status = response.status();
        if status.is_success() {
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            self.remember(&post.post);
            return Ok(Published {
                remote_id: post.post,
                url: location,
            });
        }
        let code = http_error_code(status);
        Err(error(
            code,
            format!("POST {} answered {status}", public_part(url)),
        ))
    }
}

/// A webhook URL as it may be shown: scheme, host and port only. Its path,
/// query and user-info often carry the token that authorises posting.
fn public_part(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/…")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_scheme_and_host_of_a_webhook_url_are_shown() {
        assert_eq!(
            super::public_part("https://u:p@hooks.example:8443/t/SECRET?token=X#y"),
            "https://hooks.example:8443/…"
        );
        assert_eq!(super::public_part("nonsense"), "://nonsense/…");
    }
}
