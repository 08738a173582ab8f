//! The Mastodon bridge: statuses via `POST /api/v1/statuses` (with the post
//! id as `Idempotency-Key`), profile via `PATCH /api/v1/accounts/update_credentials`,
//! link proofs by reading the proof status back.

use std::time::Duration;

use kith_protocol::bridge::{
    Configure, Description, INVALID_PARAMS, PERMANENT, Publish, Published, RpcError, TRANSIENT,
    UpdateProfile, Verified, VerifyLink,
};

use crate::{Bridge, check_settings, error, http_error_code};

/// Mastodon's default status length limit, in characters.
pub const MAX_STATUS_CHARS: usize = 500;

#[derive(Debug, Default)]
pub struct Mastodon {
    instance: String,
    token: String,
    client: Option<reqwest::blocking::Client>,
}

impl Mastodon {
    fn client(&self) -> Result<&reqwest::blocking::Client, RpcError> {
        self.client
            .as_ref()
            .ok_or_else(|| error(PERMANENT, "not configured"))
    }

    /// Send a request and sort the outcome into success, transient and permanent.
    fn send(
        &self,
        request: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> Result<serde_json::Value, RpcError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| error(TRANSIENT, format!("{what}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .map_err(|e| error(TRANSIENT, format!("{what}: unreadable answer: {e}")));
        }
        let body = response.text().unwrap_or_default();
        let code = http_error_code(status);
        Err(error(
            code,
            format!(
                "{what}: {} answered {status}: {}",
                self.instance,
                body.chars().take(200).collect::<String>()
            ),
        ))
    }
}

impl Bridge for Mastodon {
    fn describe(&self) -> Description {
        Description {
            name: "mastodon".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec!["publish".into(), "profile".into(), "verify_link".into()],
        }
    }

    fn configure(&mut self, config: Configure) -> Result<(), RpcError> {
        check_settings(
            &config.settings,
            &["instance", "token"],
            &["instance", "token"],
        )?;
        let instance = config.settings.get("instance").cloned().unwrap_or_default();
        if !(instance.starts_with("http://") || instance.starts_with("https://")) {
            return Err(error(
                INVALID_PARAMS,
                format!("instance `{instance}` is not an http(s) URL"),
            ));
        }
        self.instance = instance.trim_end_matches('/').to_string();
        self.token = config.settings.get("token").cloned().unwrap_or_default();
        self.client = Some(
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .map_err(|e| error(PERMANENT, e.to_string()))?,
        );
        Ok(())
    }

    fn publish(&mut self, post: Publish) -> Result<Published, RpcError> {
        let chars = post.text.chars().count();
        if chars > MAX_STATUS_CHARS {
            return Err(error(
                PERMANENT,
                format!("{chars} characters is over Mastodon's {MAX_STATUS_CHARS}-character limit"),
            ));
        }
        let request = self
            .client()?
            .post(format!("{}/api/v1/statuses", self.instance))
            .header("Idempotency-Key", &post.post)
            .json(&serde_json::json!({ "status": post.text, "visibility": "public" }));
        let status = self.send(request, "posting the status")?;
        let id = status["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| error(TRANSIENT, "the answer has no status id"))?;
        Ok(Published {
            remote_id: id,
            url: status["url"].as_str().map(str::to_string),
        })
    }

    fn update_profile(&mut self, profile: UpdateProfile) -> Result<(), RpcError> {
        // Form data, as the API documents it (JSON is not accepted everywhere).
        let mut form: Vec<(&str, String)> = Vec::new();
        if let Some(name) = profile.display_name {
            form.push(("display_name", name));
        }
        if let Some(bio) = profile.bio {
            form.push(("note", bio));
        }
        let url = format!("{}/api/v1/accounts/update_credentials", self.instance);
        let request = self.client()?.patch(url).form(&form);
        self.send(request, "updating the profile").map(|_| ())
    }

    fn verify_link(&mut self, link: VerifyLink) -> Result<Verified, RpcError> {
        let Some(id) = link
            .proof
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|s| s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty())
        else {
            return Ok(Verified {
                verified: false,
                reason: Some("the proof is not a status URL".into()),
            });
        };
        let status = self.send(
            self.client()?
                .get(format!("{}/api/v1/statuses/{id}", self.instance)),
            "reading the proof",
        )?;
        let acct = status["account"]["acct"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // Whole handles: `acct` is `user` for this instance's own accounts
        // and `user@domain` for others, so both sides get their domain
        // before they are compared (the local part alone would let
        // `@alice@other.example` borrow the proof of this instance's @alice).
        let host = instance_host(&self.instance);
        let by_handle = full_handle(&acct, &host) == full_handle(&link.handle, &host);
        let text = strip_tags(status["content"].as_str().unwrap_or_default());
        let verified = by_handle && text.contains(&link.statement);
        let reason = (!verified).then(|| {
            if by_handle {
                "the proof does not contain the statement".to_string()
            } else {
                format!("the proof was posted by {acct}, not {}", link.handle)
            }
        });
        Ok(Verified { verified, reason })
    }
}

/// The host (and port) of the instance URL, lower-case.
fn instance_host(instance: &str) -> String {
    let rest = instance.split_once("://").map_or(instance, |(_, r)| r);
    rest.split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// `user@domain`, lower-case, for a handle written `@user@domain`,
/// `user@domain` or (on this instance) `user`.
fn full_handle(handle: &str, instance_host: &str) -> String {
    let handle = handle.trim().trim_start_matches('@').to_ascii_lowercase();
    if handle.contains('@') {
        handle
    } else {
        format!("{handle}@{instance_host}")
    }
}

/// Mastodon returns HTML content; compare its text.
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_compare_whole() {
        let host = instance_host("https://Mastodon.Example/");
        assert_eq!(host, "mastodon.example");
        let local = full_handle("alice", &host);
        assert_eq!(local, full_handle("@alice@mastodon.example", &host));
        assert_eq!(local, full_handle("@Alice", &host));
        assert_ne!(local, full_handle("@alice@other.example", &host));
        assert_ne!(full_handle("alice@other.example", &host), local);
    }
}
