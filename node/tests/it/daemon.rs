//! The real daemon: start-up, peers, restarts, crashes, locks.

use std::time::Duration;

use crate::util::{TestHome, assert_one_error_line, wait_for};

fn peer_accounts(home: &TestHome) -> Vec<String> {
    let status = home.json(&["status", "--json"]);
    status["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["account"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn connected_daemons_see_each_others_accounts() {
    let (a, b) = (TestHome::new(), TestHome::new());
    let a_ids = a.init();
    let b_ids = b.init();
    let _da = a.start_daemon();
    let db = b.start_daemon();
    let answer = a.json(&["connect", &db.addr(), "--json"]);
    assert_eq!(answer["device"], b_ids["device"]);
    let a_sees_b = wait_for(Duration::from_secs(5), || {
        peer_accounts(&a).contains(&b_ids["account"].as_str().unwrap().into())
    });
    let b_sees_a = wait_for(Duration::from_secs(5), || {
        peer_accounts(&b).contains(&a_ids["account"].as_str().unwrap().into())
    });
    assert!(
        a_sees_b && b_sees_a,
        "a sees {:?}, b sees {:?}",
        peer_accounts(&a),
        peer_accounts(&b)
    );
    let status = a.json(&["status", "--json"]);
    assert_eq!(status["friends_online"], 0);
    assert!(
        status["listen"][0]
            .as_str()
            .unwrap()
            .starts_with("/ip4/127.0.0.1/tcp/")
    );
}

#[test]
fn clean_restart_keeps_identity_and_removes_daemon_json() {
    let home = TestHome::new();
    let ids = home.init();
    let daemon = home.start_daemon();
    assert!(daemon.terminate().success());
    assert!(
        !home.path().join("daemon.json").exists(),
        "daemon.json left after clean exit"
    );
    let _again = home.start_daemon();
    let status = home.json(&["status", "--json"]);
    assert_eq!(status["account"], ids["account"]);
    assert_eq!(status["device"], ids["device"]);
}

#[test]
fn daemon_on_a_fresh_home_creates_the_account() {
    let home = TestHome::new();
    let _daemon = home.start_daemon();
    let ids = home.json(&["id", "--json"]);
    assert_eq!(home.json(&["status", "--json"])["account"], ids["account"]);
}

#[test]
fn second_daemon_on_the_same_home_is_refused() {
    let home = TestHome::new();
    home.init();
    let daemon = home.start_daemon();
    let line = assert_one_error_line(&home.kith(&[
        "daemon",
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
    ]));
    assert!(line.contains("already running"), "{line}");
    // The first one is unharmed.
    assert!(home.kith(&["status"]).status.success(), "{}", daemon.log());
}

#[test]
fn restart_after_kill_9_replaces_the_stale_state() {
    let home = TestHome::new();
    let ids = home.init();
    home.start_daemon().kill_hard();
    assert!(
        home.path().join("daemon.json").exists(),
        "a killed daemon cannot clean up"
    );
    let line = assert_one_error_line(&home.kith(&["status"]));
    assert!(line.contains("no daemon is running"), "{line}");
    let daemon = home.start_daemon();
    let pid = daemon.info()["pid"].as_u64().unwrap();
    assert_ne!(pid, 0);
    assert_eq!(home.json(&["status", "--json"])["account"], ids["account"]);
}

#[test]
fn connect_errors_are_one_line() {
    let home = TestHome::new();
    home.init();
    let daemon = home.start_daemon();
    let line = assert_one_error_line(&home.kith(&["connect", "not/a/multiaddr"]));
    assert!(line.contains("multiaddr"), "{line}");
    // A port nobody listens on: a prompt, clear refusal.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let line =
        assert_one_error_line(&home.kith(&["connect", &format!("/ip4/127.0.0.1/tcp/{port}")]));
    assert!(line.contains("could not connect"), "{line}");
    let line = assert_one_error_line(&home.kith(&["connect", &daemon.addr()]));
    assert!(
        line.contains("own address") || line.contains("could not connect"),
        "{line}"
    );
    assert!(
        home.kith(&["status"]).status.success(),
        "daemon survives bad connects"
    );
}

/// If the node's actor dies (a bug: it never should), the daemon exits
/// non-zero with the reason, rather than serving an API that cannot answer.
#[test]
fn a_dead_actor_ends_the_daemon_with_the_reason() {
    let home = TestHome::new();
    home.init();
    let mut daemon = home.start_daemon_with_env(&[("KITH_FAILPOINT", "actor-panic-on-profile")]);
    let out = home.kith(&["profile", "show"]);
    assert!(!out.status.success());
    let status = daemon
        .wait_exit(Duration::from_secs(20))
        .expect("the daemon kept running after its actor died");
    assert!(!status.success());
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with("error: ") && l.contains("panicked")),
        "no error line with the reason: {log}"
    );
    assert!(!home.path().join("daemon.json").exists());
}

/// `--api` beyond loopback is refused like `api =` in config.toml: one
/// error line, non-zero exit, nothing listening.
#[test]
fn the_api_refuses_to_listen_beyond_loopback() {
    let home = TestHome::new();
    home.init();
    for addr in ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"] {
        let out = home.kith(&[
            "daemon",
            "--api",
            addr,
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
        ]);
        let line = assert_one_error_line(&out);
        assert!(line.contains("loopback"), "{line}");
        assert!(!home.path().join("daemon.json").exists());
    }
}
