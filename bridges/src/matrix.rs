//! The Matrix bridge: each post as an `m.room.message` in a configured room,
//! sent with the post id as the transaction id (so the homeserver keeps one
//! copy however often it is sent), and the display name via the profile API.

use std::time::Duration;

use kith_protocol::bridge::{
    Configure, Description, INVALID_PARAMS, PERMANENT, Publish, Published, RpcError, TRANSIENT,
    UpdateProfile,
};

use crate::{Bridge, check_settings, error, http_error_code};

#[derive(Debug, Default)]
pub struct Matrix {
    homeserver: String,
    token: String,
    room: String,
    client: Option<reqwest::blocking::Client>,
}

impl Matrix {
    /// `homeserver/_matrix/client/v3/<segments>`, each segment
    /// percent-encoded (room and user ids hold `!`, `:` and `@`).
    fn endpoint(&self, segments: &[&str]) -> Result<reqwest::Url, RpcError> {
        let mut url = reqwest::Url::parse(&self.homeserver)
            .map_err(|e| error(PERMANENT, format!("homeserver URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| error(PERMANENT, "the homeserver URL cannot take a path"))?
            .pop_if_empty()
            .extend(["_matrix", "client", "v3"])
            .extend(segments);
        Ok(url)
    }

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
        let body: serde_json::Value = response.json().unwrap_or_default();
        if status.is_success() {
            return Ok(body);
        }
        let code = http_error_code(status);
        let reason = body["error"].as_str().unwrap_or("").to_string();
        Err(error(
            code,
            format!("{what}: the homeserver answered {status} {reason}"),
        ))
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, RpcError> {
        self.client
            .as_ref()
            .ok_or_else(|| error(PERMANENT, "not configured"))
    }
}

impl Bridge for Matrix {
    fn describe(&self) -> Description {
        Description {
            name: "matrix".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec!["publish".into(), "profile".into()],
        }
    }

    fn configure(&mut self, config: Configure) -> Result<(), RpcError> {
        check_settings(
            &config.settings,
            &["homeserver", "token", "room"],
            &["homeserver", "token", "room"],
        )?;
        let get = |k: &str| config.settings.get(k).cloned().unwrap_or_default();
        self.homeserver = get("homeserver").trim_end_matches('/').to_string();
        if !(self.homeserver.starts_with("http://") || self.homeserver.starts_with("https://")) {
            return Err(error(
                INVALID_PARAMS,
                format!("homeserver `{}` is not an http(s) URL", self.homeserver),
            ));
        }
        self.token = get("token");
        self.room = get("room");
        self.client = Some(
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .map_err(|e| error(PERMANENT, e.to_string()))?,
        );
        Ok(())
    }

    fn publish(&mut self, post: Publish) -> Result<Published, RpcError> {
        let txn = format!("kith-{}", post.post);
        let url = self.endpoint(&["rooms", &self.room, "send", "m.room.message", &txn])?;
        let body = serde_json::json!({ "msgtype": "m.text", "body": post.text });
        let answer = self.send(self.client()?.put(url).json(&body), "sending the message")?;
        let event = answer["event_id"]
            .as_str()
            .ok_or_else(|| error(TRANSIENT, "the answer has no event id"))?;
        Ok(Published {
            remote_id: event.to_string(),
            url: Some(format!("https://matrix.to/#/{}/{}", self.room, event)),
        })
    }

    fn update_profile(&mut self, profile: UpdateProfile) -> Result<(), RpcError> {
        let Some(name) = profile.display_name else {
            return Ok(());
        };
        let whoami = self.send(
            self.client()?.get(self.endpoint(&["account", "whoami"])?),
            "who am I",
        )?;
        let user = whoami["user_id"]
            .as_str()
            .ok_or_else(|| error(TRANSIENT, "whoami has no user id"))?
            .to_string();
        let url = self.endpoint(&["profile", &user, "displayname"])?;
        self.send(
            self.client()?
                .put(url)
                .json(&serde_json::json!({ "displayname": name })),
            "setting the display name",
        )?;
        Ok(())
    }
}
