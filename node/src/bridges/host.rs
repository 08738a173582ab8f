//! One supervised bridge process: started, described, configured; calls
//! serialised over its stdin/stdout with a time-out; restarted with backoff
//! when it crashes, hangs or prints garbage; killed on shutdown.

use std::{path::PathBuf, process::Stdio, time::Duration};

use kith_protocol::bridge::{self, Configure, Description, Request, Response};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    process::{Child, ChildStdin, ChildStdout, Command},
    sync::{mpsc, oneshot, watch},
};

use super::{BridgeConfig, redact::Redactor};

/// How long one plugin call may take before the plugin is deemed hung and restarted.
pub const PLUGIN_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Calls queued per bridge before callers wait.
pub const CALL_QUEUE: usize = 16;

/// Longest wait between restarts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What `bridge list` shows of a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeStatus {
    Starting,
    Running(Description),
    /// Crashed or failed to start; restarting after a pause.
    Restarting(String),
    /// Refused its configuration: it will not run until reconfigured.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// May pass: the platform or the plugin had a passing problem.
    #[error("{0}")]
    Transient(String),
    /// Will not pass by retrying.
    #[error("{0}")]
    Permanent(String),
}

impl CallError {
    fn redacted(self, redactor: &Redactor) -> Self {
        match self {
            CallError::Transient(m) => CallError::Transient(redactor.redact(&m)),
            CallError::Permanent(m) => CallError::Permanent(redactor.redact(&m)),
        }
    }
}

#[derive(Debug)]
struct Call {
    method: &'static str,
    params: serde_json::Value,
    reply: oneshot::Sender<Result<serde_json::Value, CallError>>,
}

/// A running bridge. Dropping every handle stops the process.
#[derive(Debug, Clone)]
pub struct BridgeHandle {
    pub config: BridgeConfig,
    calls: mpsc::Sender<Call>,
    status: watch::Receiver<BridgeStatus>,
}

impl BridgeHandle {
    pub fn status(&self) -> BridgeStatus {
        self.status.borrow().clone()
    }

    /// Wait until the plugin is running (or failed), for `bridge add`/`test`.
    pub async fn ready(&mut self) -> BridgeStatus {
        let _ = tokio::time::timeout(
            PLUGIN_CALL_TIMEOUT,
            self.status
                .wait_for(|s| !matches!(s, BridgeStatus::Starting)),
        )
        .await;
        self.status()
    }

    pub async fn call(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(Call {
                method,
                params,
                reply,
            })
            .await
            .map_err(|_| CallError::Transient("the bridge is stopping".into()))?;
        answer
            .await
            .map_err(|_| CallError::Transient("the bridge stopped".into()))?
    }
}

/// Start supervising a bridge process.
pub fn spawn(config: BridgeConfig, state_dir: PathBuf) -> BridgeHandle {
    let (calls_tx, calls_rx) = mpsc::channel(CALL_QUEUE);
    let (status_tx, status_rx) = watch::channel(BridgeStatus::Starting);
    let span = tracing::info_span!("bridge", name = %config.name);
    tokio::spawn(tracing::Instrument::instrument(
        supervise(config.clone(), state_dir, calls_rx, status_tx),
        span,
    ));
    BridgeHandle {
        config,
        calls: calls_tx,
        status: status_rx,
    }
}

async fn supervise(
    config: BridgeConfig,
    state_dir: PathBuf,
    mut calls: mpsc::Receiver<Call>,
    status: watch::Sender<BridgeStatus>,
) {
    let mut backoff = Duration::from_secs(1);
    let redactor = Redactor::new(&config.settings);
    let status = RedactingStatus {
        inner: status,
        redactor: redactor.clone(),
    };
    loop {
        let started = Plugin::start(&config, &state_dir, &redactor)
            .await
            .map_err(|e| match e {
                StartError::Refused(m) => StartError::Refused(redactor.redact(&m)),
                StartError::Failed(m) => StartError::Failed(redactor.redact(&m)),
            });
        match started {
            Ok((mut plugin, description)) => {
                tracing::info!(version = %description.version, "bridge running");
                let _ = status.send(BridgeStatus::Running(description));
                backoff = Duration::from_secs(1);
                loop {
                    let Some(call) = calls.recv().await else {
                        plugin.stop().await;
                        return;
                    };
                    let result = plugin
                        .call(call.method, call.params)
                        .await
                        .map(|value| redact_json(value, &redactor))
                        .map_err(|e| e.redacted(&redactor));
                    let broken = result.is_err() && plugin.broken;
                    let _ = call.reply.send(result);
                    if broken {
                        plugin.stop().await;
                        break;
                    }
                }
                let _ = status.send(BridgeStatus::Restarting(
                    "the plugin crashed, hung or misbehaved".into(),
                ));
            }
            Err(StartError::Refused(message)) => {
                tracing::warn!(%message, "bridge refused its configuration");
                let _ = status.send(BridgeStatus::Failed(message.clone()));
                // Answer calls until reconfigured (the bridge is replaced then).
                while let Some(call) = calls.recv().await {
                    let _ = call.reply.send(Err(CallError::Permanent(format!(
                        "bridge is misconfigured: {message}"
                    ))));
                }
                return;
            }
            Err(StartError::Failed(message)) => {
                tracing::warn!(%message, "bridge failed to start");
                let _ = status.send(BridgeStatus::Restarting(message));
            }
        }
        // Pause before restarting, answering calls meanwhile so callers never hang.
        let deadline = tokio::time::Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                call = calls.recv() => match call {
                    Some(call) => { let _ = call.reply.send(Err(CallError::Transient("bridge restarting".into()))); }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum StartError {
    Refused(String),
    Failed(String),
}

struct Plugin {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    /// Set when the process must be restarted (I/O error, time-out, garbage).
    broken: bool,
}

impl Plugin {
    async fn start(
        config: &BridgeConfig,
        state_dir: &std::path::Path,
        redactor: &Redactor,
    ) -> Result<(Plugin, Description), StartError> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            StartError::Failed(format!("cannot create {}: {e}", state_dir.display()))
        })?;
        let mut child = Command::new(config.executable())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StartError::Failed(format!("cannot start `{}`: {e}", config.plugin)))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(StartError::Failed("no pipes to the plugin".into()));
        };
        tokio::spawn(drain_stderr(stderr, redactor.clone()));
        let mut plugin = Plugin {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            next_id: 1,
            broken: false,
        };
        let description: Description = plugin
            .call("describe", serde_json::json!({}))
            .await
            .and_then(|v| {
                serde_json::from_value(v)
                    .map_err(|e| CallError::Transient(format!("bad describe answer: {e}")))
            })
            .map_err(|e| StartError::Failed(e.to_string()))?;
        let configure = Configure {
            settings: config.settings.clone(),
            state_dir: state_dir.display().to_string(),
        };
        let params =
            serde_json::to_value(configure).map_err(|e| StartError::Failed(e.to_string()))?;
        match plugin.call("configure", params).await {
            Ok(_) => Ok((plugin, description)),
            Err(CallError::Permanent(message)) => {
                plugin.stop().await;
                Err(StartError::Refused(message))
            }
            Err(CallError::Transient(message)) => {
                plugin.stop().await;
                Err(StartError::Failed(message))
            }
        }
    }

    async fn call(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, CallError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = Request::new(id, method, params);
        let line =
            serde_json::to_string(&request).map_err(|e| CallError::Permanent(e.to_string()))?;
        match tokio::time::timeout(PLUGIN_CALL_TIMEOUT, self.exchange(&line, id)).await {
            Ok(result) => result,
            Err(_) => {
                self.broken = true;
                Err(CallError::Transient(format!(
                    "the plugin did not answer `{method}` within {PLUGIN_CALL_TIMEOUT:?}"
                )))
            }
        }
    }

    async fn exchange(&mut self, line: &str, id: u64) -> Result<serde_json::Value, CallError> {
        let broken = |this: &mut Plugin, why: String| {
            this.broken = true;
            Err(CallError::Transient(why))
        };
        if let Err(e) = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.write_all(b"\n").await?;
            self.stdin.flush().await
        }
        .await
        {
            return broken(self, format!("cannot write to the plugin: {e}"));
        }
        let mut buf = Vec::new();
        let limit = bridge::MAX_LINE_BYTES as u64 + 1;
        match (&mut self.stdout)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) => return broken(self, "the plugin exited".into()),
            Ok(_) if buf.len() > bridge::MAX_LINE_BYTES => {
                return broken(self, "the plugin wrote an oversized line".into());
            }
            Ok(_) => {}
            Err(e) => return broken(self, format!("cannot read from the plugin: {e}")),
        }
        let response: Response = match serde_json::from_slice(&buf) {
            Ok(r) => r,
            Err(_) => {
                return broken(
                    self,
                    "the plugin wrote something that is not a JSON-RPC response".into(),
                );
            }
        };
        if response.id != id {
            return broken(
                self,
                format!(
                    "the plugin answered request {} instead of {id}",
                    response.id
                ),
            );
        }
        match (response.result, response.error) {
            (_, Some(error)) if error.is_transient() => Err(CallError::Transient(error.message)),
            (_, Some(error)) => Err(CallError::Permanent(error.message)),
            (Some(result), None) => Ok(result),
            (None, None) => broken(
                self,
                "the plugin's response has neither result nor error".into(),
            ),
        }
    }

    async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Log what the plugin writes to stderr, a bounded line at a time.
async fn drain_stderr(stderr: tokio::process::ChildStderr, redactor: Redactor) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader).take(4096).read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = redactor.redact(String::from_utf8_lossy(&buf).trim_end());
                tracing::debug!(%line, "plugin stderr")
            }
        }
    }
}

/// Every string in a plugin's answer, with the bridge's secrets masked.
fn redact_json(value: serde_json::Value, redactor: &Redactor) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redactor.redact(&s)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| redact_json(v, redactor))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, redact_json(v, redactor)))
                .collect(),
        ),
        other => other,
    }
}

/// The bridge's status channel, masking secrets in every message it carries.
struct RedactingStatus {
    inner: watch::Sender<BridgeStatus>,
    redactor: Redactor,
}

impl RedactingStatus {
    fn send(&self, status: BridgeStatus) -> Result<(), watch::error::SendError<BridgeStatus>> {
        let status = match status {
            BridgeStatus::Failed(m) => BridgeStatus::Failed(self.redactor.redact(&m)),
            BridgeStatus::Restarting(m) => BridgeStatus::Restarting(self.redactor.redact(&m)),
            other => other,
        };
        self.inner.send(status)
    }
}
