//! The reference bridges against real servers started here (installed by
//! `.ci/run`): mastodon-mock. A missing server fails the test, loudly,
//! unless `KITH_SKIP_SERVER_TESTS=1`.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::TcpListener,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

struct Plugin {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    id: u64,
}

impl Plugin {
    fn start(binary: &str) -> Plugin {
        let mut child = Command::new(binary)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start plugin");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Plugin {
            child,
            stdin,
            stdout,
            id: 0,
        }
    }

    fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.id += 1;
        writeln!(
            self.stdin,
            "{}",
            serde_json::json!({"jsonrpc":"2.0","id":self.id,"method":method,"params":params})
        )
        .expect("write");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read");
        serde_json::from_str(&line).expect("JSON")
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until_up(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::blocking::get(url).is_err() {
        assert!(Instant::now() < deadline, "server at {url} did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Start a server program from PATH, or fail (or skip, if asked to).
fn server(program: &str, args: &[&str]) -> Option<Server> {
    match Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => Some(Server(child)),
        Err(e) if std::env::var("KITH_SKIP_SERVER_TESTS").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: {program} not available ({e})");
            None
        }
        Err(e) => {
            panic!("{program} is not installed ({e}); run .ci/run, or set KITH_SKIP_SERVER_TESTS=1")
        }
    }
}

#[test]
fn the_mastodon_bridge_posts_once_updates_the_profile_and_verifies_proofs() {
    let port = free_port();
    let Some(_server) = server(
        "mastodon_mock",
        &[
            "serve",
            "--in-memory",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ],
    ) else {
        return;
    };
    let instance = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{instance}/api/v1/instance"));
    let mut plugin = Plugin::start(env!("CARGO_BIN_EXE_kith-bridge-mastodon"));
    let configured = plugin.call("configure", serde_json::json!({"settings":{"instance":instance,"token":"mock_token"},"state_dir":"/tmp"}));
    assert!(configured["result"].is_object(), "{configured}");

    let post = serde_json::json!({"post":"p-1","text":"hello from kith","at":1,"account":"kith1x"});
    let first = plugin.call("publish", post.clone());
    let again = plugin.call("publish", post);
    let id = first["result"]["remote_id"]
        .as_str()
        .expect("a status id")
        .to_string();
    assert_eq!(
        again["result"]["remote_id"], id,
        "the same post twice is one status"
    );
    assert!(first["result"]["url"].as_str().unwrap().contains(&id));

    let http = reqwest::blocking::Client::new();
    let me: serde_json::Value = http
        .get(format!("{instance}/api/v1/accounts/verify_credentials"))
        .bearer_auth("mock_token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let statuses: serde_json::Value = http
        .get(format!(
            "{instance}/api/v1/accounts/{}/statuses",
            me["id"].as_str().unwrap()
        ))
        .bearer_auth("mock_token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let hellos = statuses
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["content"]
                .as_str()
                .unwrap_or("")
                .contains("hello from kith")
        })
        .count();
    assert_eq!(hellos, 1);

    let long = plugin.call(
        "publish",
        serde_json::json!({"post":"p-2","text":"x".repeat(501),"at":1,"account":"kith1x"}),
    );
    assert_eq!(
        long["error"]["code"], 1001,
        "over the limit is a permanent, clear error: {long}"
    );
    assert!(long["error"]["message"].as_str().unwrap().contains("500"));

    let updated = plugin.call(
        "update_profile",
        serde_json::json!({"display_name":"Ann Kith","bio":"from kith"}),
    );
    assert!(updated["result"].is_object(), "{updated}");
    let me: serde_json::Value = http
        .get(format!("{instance}/api/v1/accounts/verify_credentials"))
        .bearer_auth("mock_token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["display_name"], "Ann Kith");

    // A proof: a status holding the statement, checked by reading it back.
    let statement = "kith1abc is @testuser on this instance";
    let proof = plugin.call(
        "publish",
        serde_json::json!({"post":"p-3","text":statement,"at":1,"account":"kith1abc"}),
    );
    let url = proof["result"]["url"].as_str().unwrap().to_string();
    let ok = plugin.call(
        "verify_link",
        serde_json::json!({"handle":"@testuser","proof":url,"statement":statement}),
    );
    assert_eq!(ok["result"]["verified"], true, "{ok}");
    let other = plugin.call(
        "verify_link",
        serde_json::json!({"handle":"@testuser","proof":url,"statement":"kith1other is @testuser"}),
    );
    assert_eq!(other["result"]["verified"], false);
}

/// Link proofs compare whole handles: this instance's @alice and
/// @alice@other.example (a remote account it knows) are different people,
/// and neither's proof verifies the other's handle.
#[test]
fn a_mastodon_proof_verifies_only_the_whole_handle_that_posted_it() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mock.toml");
    // Seed statuses are by user name: the later `alice` (the remote one)
    // posts the seeded status.
    std::fs::write(
        &config,
        r#"
[[seed.accounts]]
username = "alice"
access_token = "alice_token"

[[seed.accounts]]
username = "alice"
domain = "other.example"

[[seed.statuses]]
account = "alice"
text = "kith1remote is @alice@other.example"
"#,
    )
    .unwrap();
    let Some(_server) = server(
        "mastodon_mock",
        &[
            "serve",
            "--in-memory",
            "--config",
            config.to_str().unwrap(),
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ],
    ) else {
        return;
    };
    let instance = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{instance}/api/v1/instance"));
    let mut plugin = Plugin::start(env!("CARGO_BIN_EXE_kith-bridge-mastodon"));
    let configured = plugin.call(
        "configure",
        serde_json::json!({"settings":{"instance":instance,"token":"alice_token"},"state_dir":dir.path()}),
    );
    assert!(configured["result"].is_object(), "{configured}");
    // Local alice posts her proof through the bridge.
    let local_statement = "kith1local is @alice";
    let posted = plugin.call(
        "publish",
        serde_json::json!({"post":"p-1","text":local_statement,"at":1,"account":"kith1local"}),
    );
    let local_proof = posted["result"]["url"]
        .as_str()
        .expect("a status URL")
        .to_string();
    // The remote alice's status, as this instance knows it.
    let statuses: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{instance}/api/v1/timelines/public"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let remote = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["account"]["acct"] == "alice@other.example")
        .unwrap_or_else(|| panic!("no status by the remote alice in {statuses}"));
    let remote_proof = format!(
        "{instance}/@alice@other.example/{}",
        remote["id"].as_str().unwrap()
    );
    let remote_statement = "kith1remote is @alice@other.example";

    let mut verify = |handle: &str, proof: &str, statement: &str| {
        let answer = plugin.call(
            "verify_link",
            serde_json::json!({"handle":handle,"proof":proof,"statement":statement}),
        );
        answer["result"]["verified"]
            .as_bool()
            .unwrap_or_else(|| panic!("{answer}"))
    };
    assert!(verify("@alice", &local_proof, local_statement));
    assert!(verify(
        &format!("@alice@127.0.0.1:{port}"),
        &local_proof,
        local_statement
    ));
    assert!(verify(
        "@alice@other.example",
        &remote_proof,
        remote_statement
    ));
    // The same local part on another domain borrows nothing.
    assert!(!verify(
        "@alice@other.example",
        &local_proof,
        local_statement
    ));
    assert!(!verify("@alice", &remote_proof, remote_statement));
}

/// A throwaway Synapse (SQLite) on a free loopback port, with one user and one room.
struct Synapse {
    _server: Server,
    url: String,
    token: String,
    room: String,
    _dir: tempfile::TempDir,
}

fn synapse() -> Option<Synapse> {
    let Some(py) = which_synapse_python() else {
        if std::env::var("KITH_SKIP_SERVER_TESTS").as_deref() == Ok("1") {
            eprintln!("SKIPPED: Synapse is not installed");
            return None;
        }
        panic!(
            "Synapse is not installed (pip install matrix-synapse; .ci/run does); or set KITH_SKIP_SERVER_TESTS=1"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("homeserver.yaml");
    let generated = Command::new(&py)
        .current_dir(dir.path())
        .args([
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            "localhost",
            "--config-path",
        ])
        .arg(&config)
        .arg("--data-directory")
        .arg(dir.path())
        .args(["--generate-config", "--report-stats=no"])
        .output()
        .expect("run Synapse");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let port = free_port();
    let yaml = std::fs::read_to_string(&config).unwrap();
    let yaml = yaml
        .replace("port: 8008", &format!("port: {port}"))
        .replace(
            "bind_addresses: ['::1', '127.0.0.1']",
            "bind_addresses: ['127.0.0.1']",
        );
    std::fs::write(&config, yaml).unwrap();
    let server = Server(
        Command::new(&py)
            .current_dir(dir.path())
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Synapse"),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{url}/_matrix/client/versions"));
    let registered = Command::new(&py)
        .current_dir(dir.path())
        .args([
            "-m",
            "synapse._scripts.register_new_matrix_user",
            "-u",
            "ann",
            "-p",
            "kith-test-pw",
            "-a",
            "-c",
        ])
        .arg(&config)
        .arg(&url)
        .output()
        .expect("register a user");
    assert!(
        registered.status.success(),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let http = reqwest::blocking::Client::new();
    let login: serde_json::Value = http
        .post(format!("{url}/_matrix/client/v3/login"))
        .json(&serde_json::json!({"type":"m.login.password","identifier":{"type":"m.id.user","user":"ann"},"password":"kith-test-pw"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = login["access_token"].as_str().expect("a token").to_string();
    let room: serde_json::Value = http
        .post(format!("{url}/_matrix/client/v3/createRoom"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let room = room["room_id"].as_str().expect("a room").to_string();
    Some(Synapse {
        _server: server,
        url,
        token,
        room,
        _dir: dir,
    })
}

/// The Python that has Synapse: the one beside `synapse_homeserver` on PATH.
fn which_synapse_python() -> Option<String> {
    let path = std::env::var("PATH").ok()?;
    path.split(':')
        .map(|d| std::path::Path::new(d).join("synapse_homeserver"))
        .find(|p| p.is_file())
        .and_then(|p| {
            let python = p.parent()?.join("python3");
            python.is_file().then(|| python.display().to_string())
        })
}

#[test]
fn the_matrix_bridge_posts_once_to_a_real_synapse_and_sets_the_display_name() {
    let Some(hs) = synapse() else { return };
    let mut plugin = Plugin::start(env!("CARGO_BIN_EXE_kith-bridge-matrix"));
    let configured = plugin.call("configure", serde_json::json!({"settings":{"homeserver":hs.url,"token":hs.token,"room":hs.room},"state_dir":"/tmp"}));
    assert!(configured["result"].is_object(), "{configured}");
    let post = serde_json::json!({"post":"p-1","text":"hello matrix","at":1,"account":"kith1x"});
    let first = plugin.call("publish", post.clone());
    let again = plugin.call("publish", post);
    let event = first["result"]["remote_id"]
        .as_str()
        .expect("an event id")
        .to_string();
    assert_eq!(
        again["result"]["remote_id"], event,
        "the same post is the same event"
    );
    let named = plugin.call(
        "update_profile",
        serde_json::json!({"display_name":"Ann Kith","bio":null}),
    );
    assert!(named["result"].is_object(), "{named}");

    let http = reqwest::blocking::Client::new();
    let room = hs.room.replace('!', "%21").replace(':', "%3A");
    let messages: serde_json::Value = http
        .get(format!(
            "{}/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=50",
            hs.url
        ))
        .bearer_auth(&hs.token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let hellos = messages["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["content"]["body"] == "hello matrix")
        .count();
    assert_eq!(hellos, 1, "one message in the room");
    let profile: serde_json::Value = http
        .get(format!(
            "{}/_matrix/client/v3/profile/%40ann%3Alocalhost",
            hs.url
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(profile["displayname"], "Ann Kith");
}
