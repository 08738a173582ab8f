//! A whole running daemon: home lock, node, local API, `daemon.json`; started and stopped as one.

use std::{
    fs::{self, File},
    net::SocketAddr,
    time::Duration,
};

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    api,
    config::{Config, ConfigError},
    home::{Home, HomeError, write_private},
    node::{Node, NodeError, NodeOptions},
    store::{Store, StoreError},
};

/// How long start-up waits for the listeners to report their addresses.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Command-line overrides of `config.toml`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Vec<Multiaddr>,
    pub api: Option<SocketAddr>,
    pub no_mdns: bool,
    pub bootstrap: Vec<Multiaddr>,
    pub relay: bool,
}

/// `$KITH_HOME/daemon.json`: how clients find a running daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub api: SocketAddr,
    pub listen: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error("a kith daemon is already running for {home}{pid}")]
    AlreadyRunning { home: String, pid: String },
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("cannot serve the local API on {addr}: {source}")]
    Api {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--api {addr}: {message}")]
    ApiNotLoopback { addr: SocketAddr, message: String },
    #[error("the listeners reported no address within {LISTEN_TIMEOUT:?}")]
    ListenTimeout,
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// A running daemon. Dropping it without [`stop`](Self::stop) leaves
/// `daemon.json` behind, as a crash would; the next start replaces it.
#[derive(Debug)]
pub struct Daemon {
    home: Home,
    node: Node,
    info: DaemonInfo,
    /// `None` once [`node_stopped`](Self::node_stopped) saw it end.
    node_task: Option<JoinHandle<()>>,
    api_task: JoinHandle<()>,
    api_stop: oneshot::Sender<()>,
    /// Started on a home still recovering its account (social recovery).
    recovering: bool,
    /// Held for the daemon's lifetime; the OS releases it if the process dies.
    _lock: File,
}

impl Daemon {
    /// Start a daemon on an initialised home.
    pub async fn start(home: &Home, overrides: Overrides) -> Result<Daemon, DaemonError> {
        let lock = lock_home(home)?;
        let mut config = Config::load(&home.config_path())?;
        if !overrides.listen.is_empty() {
            config.listen = overrides.listen;
        }
        if let Some(api) = overrides.api {
            crate::config::check_api(&api)
                .map_err(|message| DaemonError::ApiNotLoopback { addr: api, message })?;
            config.api = api;
        }
        if overrides.no_mdns {
            config.mdns = false;
        }
        config.bootstrap.extend(overrides.bootstrap);
        if overrides.relay {
            config.relay = true;
        }

        let store = Store::open(&home.db_path())?;
        let token = home.api_token()?;
        let recovering = home.recovering()?;
        let (node, node_task) = match recovering.clone() {
            Some(recovering) => {
                crate::recovery::recovering::spawn(crate::recovery::recovering::RecoveringOptions {
                    recovering,
                    home: home.clone(),
                    store,
                    listen: config.listen.clone(),
                })
                .await?
            }
            None => {
                let options = NodeOptions {
                    identity: home.load()?,
                    store,
                    listen: config.listen.clone(),
                    bootstrap: config.bootstrap.clone(),
                    mdns: config.mdns,
                    // A relay is a DHT server for those it serves.
                    dht_server: config.dht_server || config.relay,
                    relay: config.relay,
                    bridges_dir: home.root().join("bridges"),
                    max_pending_incoming: kith_protocol::limits::MAX_PENDING_INCOMING,
                    tap: None,
                };
                Node::spawn(options).await?
            }
        };
        let started = async {
            let listen = tokio::time::timeout(LISTEN_TIMEOUT, node.wait_listening())
                .await
                .map_err(|_| DaemonError::ListenTimeout)??;
            let listener =
                TcpListener::bind(config.api)
                    .await
                    .map_err(|source| DaemonError::Api {
                        addr: config.api,
                        source,
                    })?;
            let api_addr = listener.local_addr().map_err(|source| DaemonError::Api {
                addr: config.api,
                source,
            })?;
            Ok::<_, DaemonError>((listen, listener, api_addr))
        }
        .await;
        let (listen, listener, api_addr) = match started {
            Ok(parts) => parts,
            Err(e) => {
                node.shutdown().await;
                return Err(e);
            }
        };

        let router = api::router(node.clone(), token, api_addr);
        let (api_stop, stopped) = oneshot::channel::<()>();
        let api_task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "local API stopped");
            }
        });

        let info = DaemonInfo {
            pid: std::process::id(),
            api: api_addr,
            listen: listen.iter().map(ToString::to_string).collect(),
        };
        let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
        write_private(&home.daemon_info_path(), &json)?;
        tracing::info!(api = %api_addr, home = %home.root().display(), "daemon ready");
        Ok(Daemon {
            home: home.clone(),
            node,
            info,
            node_task: Some(node_task),
            api_task,
            api_stop,
            recovering: recovering.is_some(),
            _lock: lock,
        })
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Resolves only if the node's actor stops on its own (it never should:
    /// a panic there is a bug), with the reason. The daemon then exits with
    /// an error instead of serving an API whose every call would fail.
    pub async fn node_stopped(&mut self) -> String {
        let Some(task) = self.node_task.as_mut() else {
            return std::future::pending().await;
        };
        let ended = task.await;
        self.node_task = None;
        match ended {
            Ok(()) => "the node stopped".to_string(),
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                format!("the node panicked: {message}")
            }
            Err(e) => format!("the node stopped: {e}"),
        }
    }

    /// Whether this daemon runs a recovering device (see
    /// `recovery::recovering`); its node stops once the account is back.
    pub fn is_recovering(&self) -> bool {
        self.recovering
    }

    pub fn info(&self) -> &DaemonInfo {
        &self.info
    }

    /// Stop cleanly: no new API requests, node flushed and stopped,
    /// `daemon.json` removed, lock released.
    pub async fn stop(self) {
        let _ = fs::remove_file(self.home.daemon_info_path());
        let _ = self.api_stop.send(());
        // Long-lived requests (the event stream) do not hold up shutdown.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.api_task).await;
        self.node.shutdown().await;
        if let Some(task) = self.node_task {
            let _ = task.await;
        }
        tracing::info!("daemon stopped");
    }
}

/// Take the home's lock, or say who holds it. A lock left by a dead process
/// is free (the OS drops flocks with their process), so after `kill -9` the
/// next daemon starts normally and replaces the stale `daemon.json`.
fn lock_home(home: &Home) -> Result<File, DaemonError> {
    let path = home.lock_path();
    fs::create_dir_all(home.root()).map_err(|source| DaemonError::Io {
        path: home.root().display().to_string(),
        source,
    })?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| DaemonError::Io {
            path: path.display().to_string(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => {
            let pid = read_info(home)
                .map(|i| format!(" (pid {})", i.pid))
                .unwrap_or_default();
            Err(DaemonError::AlreadyRunning {
                home: home.root().display().to_string(),
                pid,
            })
        }
        Err(fs::TryLockError::Error(source)) => Err(DaemonError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The running daemon's `daemon.json`, if there is one (it may be stale).
pub fn read_info(home: &Home) -> Option<DaemonInfo> {
    let bytes = fs::read(home.daemon_info_path()).ok()?;
    serde_json::from_slice(&bytes).ok()
}
