//! `$KITH_HOME/config.toml`: listen addresses, bootstrap peers, mDNS, API address.
//!
//! Every key is optional; unknown keys are an error naming the key, so a typo
//! never silently falls back to a default. `config.example.toml` at the
//! repository root lists every key with its default and is parsed by a test.

use std::{net::SocketAddr, path::Path};

use libp2p::Multiaddr;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Multiaddrs to listen on for peers.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and seed Kademlia with.
    pub bootstrap: Vec<Multiaddr>,
    /// Find peers on the local network with mDNS.
    pub mdns: bool,
    /// Serve the Kademlia DHT (answer others' lookups, hold their records).
    /// A node that does not still looks up and publishes through servers.
    pub dht_server: bool,
    /// Also serve as a public node for others: circuit relay, DHT server,
    /// reachability probes. For a host with a public address.
    pub relay: bool,
    /// Loopback address of the local HTTP API.
    pub api: SocketAddr,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![
                default_addr("/ip4/0.0.0.0/tcp/0"),
                default_addr("/ip4/0.0.0.0/udp/0/quic-v1"),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            dht_server: true,
            relay: false,
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

fn default_addr(text: &str) -> Multiaddr {
    // The defaults are literals checked by `defaults_parse` below.
    text.parse().unwrap_or_else(|_| Multiaddr::empty())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Read the file at `path`; a missing file means all defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).map_err(|message| ConfigError::Invalid {
                path: path.display().to_string(),
                message,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(ConfigError::Read(path.display().to_string(), e)),
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.message().to_string())?;
        check_api(&config.api).map_err(|e| format!("api = \"{}\": {e}", config.api))?;
        Ok(config)
    }
}

/// The local API listens on loopback only, whether its address comes from
/// `config.toml` or `--api`: its token is the only thing between the
/// network and the account otherwise.
pub fn check_api(addr: &std::net::SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{} is not a loopback address; the local API never listens beyond this machine (use 127.0.0.1 or ::1)",
            addr.ip()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let config = Config::default();
        assert_eq!(config.listen.len(), 2);
        assert!(config.listen.iter().all(|a| !a.is_empty()));
    }

    #[test]
    fn example_file_parses_to_the_defaults() {
        let text = include_str!("../../config.example.toml");
        assert_eq!(Config::parse(text).unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("listne = []").unwrap_err();
        assert!(err.contains("listne"), "{err}");
    }

    #[test]
    fn bad_multiaddr_is_rejected() {
        assert!(Config::parse("listen = [\"/ip4/nope/tcp/1\"]").is_err());
    }

    #[test]
    fn api_must_be_loopback() {
        let err = Config::parse("api = \"0.0.0.0:8080\"").unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }
}
