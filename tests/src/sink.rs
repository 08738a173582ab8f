//! A webhook receiver for bridge tests: records every POST with its
//! `Idempotency-Key`, and can fail, or hold, the first requests.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

/// What the sink does with the n-th request (counting from 1).
pub type Behaviour = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Unavailable,
    /// Wait this long before answering 200 (a hung platform, or time for a test to act).
    Hold(Duration),
}

#[derive(Clone)]
pub struct WebhookSink {
    pub url: String,
    received: Arc<Mutex<Vec<(String, String)>>>,
    /// Requests that arrived (answered or still held).
    arrived: Arc<Mutex<usize>>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.url)
            .finish()
    }
}

impl WebhookSink {
    pub fn start(behaviour: Behaviour) -> std::io::Result<WebhookSink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/in", listener.local_addr()?);
        let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let count = Arc::new(Mutex::new(0usize));
        let sink = WebhookSink {
            url,
            received: received.clone(),
            arrived: count.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (received, count, behaviour) =
                    (received.clone(), count.clone(), behaviour.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let (mut key, mut length) = (String::new(), 0usize);
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if lower.starts_with("idempotency-key:") {
                            key = line["idempotency-key:".len()..].trim().to_string();
                        }
                        line.clear();
                    }
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    let n = {
                        let mut c = count.lock().unwrap_or_else(|e| e.into_inner());
                        *c += 1;
                        *c
                    };
                    let status = match behaviour(n) {
                        Reply::Ok => "200 OK",
                        Reply::Unavailable => "503 Service Unavailable",
                        Reply::Hold(d) => {
                            std::thread::sleep(d);
                            "200 OK"
                        }
                    };
                    if status.starts_with("200") {
                        received
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((key, String::from_utf8_lossy(&body).into_owned()));
                    }
                    let mut stream = reader.into_inner();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                    );
                });
            }
        });
        Ok(sink)
    }

    /// How many requests have arrived, including one being held: a test
    /// waits on it to act while the platform holds a call.
    pub fn arrived(&self) -> usize {
        *self.arrived.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every accepted POST: (idempotency key, body).
    pub fn received(&self) -> Vec<(String, String)> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Accepted POSTs with distinct idempotency keys (what a platform that
    /// honours the key would show).
    pub fn distinct(&self) -> usize {
        let mut keys: Vec<String> = self.received().into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        keys.len()
    }
}

/// The path of a binary built alongside the running program: next to it,
/// or one level up for a test binary in `target/*/deps/`.
pub fn sibling_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(|d| d.to_path_buf()).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir.join(name)
}

/// Kill (SIGKILL) this process's children started from `program`.
pub fn kill_children(program: &std::path::Path) -> usize {
    let me = std::process::id().to_string();
    let wanted = program.display().to_string();
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let ppid = stat[close + 1..].split_whitespace().nth(1).unwrap_or("");
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let argv0 = cmdline
            .split(|b| *b == 0)
            .next()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .unwrap_or_default();
        if ppid == me && argv0 == wanted {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if std::process::Command::new("kill")
                .args(["-9", &pid])
                .status()
                .is_ok_and(|s| s.success())
            {
                killed += 1;
            }
        }
    }
    killed
}
