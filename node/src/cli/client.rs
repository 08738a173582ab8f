//! The CLI's HTTP client of the local API: finds the daemon, adds the token, maps errors.

use anyhow::{Context as _, anyhow, bail};
use serde::{Serialize, de::DeserializeOwned};

use crate::{daemon, home::Home};

/// Talks to the daemon of one home.
#[derive(Debug)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    /// Find the daemon of `home` through its `daemon.json`.
    pub fn for_home(home: &Home) -> anyhow::Result<Client> {
        let no_daemon = || no_daemon(home);
        let info = daemon::read_info(home).ok_or_else(no_daemon)?;
        let token = std::fs::read_to_string(home.api_token_path()).map_err(|_| no_daemon())?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client {
            base: format!("http://{}/v1", info.api),
            token: token.trim().to_string(),
            http,
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, home: &Home, path: &str) -> anyhow::Result<T> {
        self.send(home, self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        home: &Home,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        self.send(
            home,
            self.http.post(format!("{}{path}", self.base)).json(body),
        )
        .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        home: &Home,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|e| {
            // Refused connection: a stale daemon.json left by a dead daemon.
            if e.is_connect() {
                no_daemon(home)
            } else {
                anyhow!("the daemon did not answer: {e}")
            }
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the daemon's answer")?;
        if !status.is_success() {
            match serde_json::from_slice::<crate::api::ErrorBody>(&bytes) {
                Ok(body) => bail!("{}", body.error.message),
                Err(_) => bail!("the daemon answered {status}"),
            }
        }
        serde_json::from_slice(&bytes).context("the daemon's answer is not the expected JSON")
    }
}

fn no_daemon(home: &Home) -> anyhow::Error {
    anyhow!(
        "no daemon is running for {} (start it with: kith daemon)",
        home.root().display()
    )
}
