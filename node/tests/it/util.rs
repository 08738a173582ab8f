//! Running `kith` and its daemon from tests: temp homes, wait-for, raw HTTP.

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub const KITH: &str = env!("CARGO_BIN_EXE_kith");

/// Generous: tests assert behaviour, not speed.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A temporary node home.
pub struct TestHome {
    dir: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        TestHome {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn kith(&self, args: &[&str]) -> Output {
        Command::new(KITH)
            .args(args)
            .env("KITH_HOME", self.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("run kith")
    }

    /// Run, expect success, parse stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.kith(args);
        assert!(
            out.status.success(),
            "kith {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
    }

    pub fn init(&self) -> serde_json::Value {
        self.json(&["init", "--json"])
    }

    pub fn start_daemon(&self) -> DaemonProcess {
        self.start_daemon_with_env(&[])
    }

    /// Start a daemon with extra environment variables (failpoints).
    pub fn start_daemon_with_env(&self, env: &[(&str, &str)]) -> DaemonProcess {
        let log = std::fs::File::create(self.path().join("daemon.log")).expect("log file");
        let child = Command::new(KITH)
            .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
            .env("KITH_HOME", self.path())
            .env("RUST_LOG", "debug,libp2p=info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        let daemon = DaemonProcess {
            child: Some(child),
            home: self.path().to_path_buf(),
        };
        let ready = wait_for(READY_TIMEOUT, || {
            self.path().join("daemon.json").exists()
                && self.kith(&["status", "--json"]).status.success()
        });
        assert!(ready, "daemon not ready; log:\n{}", daemon.log());
        daemon
    }
}

/// `b` adds `a` by a ticket from `a` (both daemons running): friends at once.
pub fn befriend(a: &TestHome, b: &TestHome) {
    let ticket = a.json(&["friend", "invite", "--json"])["ticket"]
        .as_str()
        .expect("ticket")
        .to_string();
    b.json(&["friend", "add", &ticket, "--json"]);
}

/// A `kith daemon` child process, killed when dropped.
pub struct DaemonProcess {
    child: Option<Child>,
    home: PathBuf,
}

impl DaemonProcess {
    pub fn info(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.home.join("daemon.json")).expect("daemon.json");
        serde_json::from_str(&text).expect("daemon.json is JSON")
    }

    pub fn api(&self) -> String {
        self.info()["api"]
            .as_str()
            .expect("api address")
            .to_string()
    }

    pub fn addr(&self) -> String {
        self.info()["listen"][0]
            .as_str()
            .expect("a listen address")
            .to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("daemon.log")).unwrap_or_default()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        child.wait().expect("wait for daemon")
    }

    /// Wait up to `timeout` for the daemon to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill_hard(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert the CLI failed with exactly one `error: ` line on stderr.
pub fn assert_one_error_line(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {err}");
    assert!(
        lines[0].starts_with("error: "),
        "not an `error: ` line: {err}"
    );
    lines[0].to_string()
}

/// Send one raw HTTP/1.1 request (full control of Host/Origin); return status and body.
pub fn http(
    api: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(api).expect("connect to API");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {api}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A profile field as `home`'s daemon shows it; `Null` while the node holds
/// no profile of `account` yet (the state a wait for an edit starts from:
/// right after a friendship is made, its documents may still be on their
/// way).
pub fn profile_field(home: &TestHome, account: &str, name: &str) -> serde_json::Value {
    let out = home.kith(&["profile", "show", account, "--json"]);
    if !out.status.success() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .map(|shown| shown["fields"][name]["value"].clone())
        .unwrap_or_default()
}
