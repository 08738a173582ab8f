//! The real daemon killed with `kill -9` while 100 deliveries wait: after a
//! restart every post is delivered, none twice.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use kith_tests::sink::{Reply, WebhookSink, sibling_binary};

fn kith(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(sibling_binary("kith"))
        .args(args)
        .env("KITH_HOME", home)
        .output()
        .expect("run kith")
}

fn start_daemon(home: &std::path::Path) -> Child {
    start_daemon_with(home, None)
}

/// A daemon, with a failpoint (`KITH_FAILPOINT`) if given.
fn start_daemon_with(home: &std::path::Path, failpoint: Option<&str>) -> Child {
    let child = Command::new(sibling_binary("kith"))
        .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
        .env("KITH_HOME", home)
        .envs(failpoint.map(|f| ("KITH_FAILPOINT", f)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn daemon");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kith(home, &["status"]).status.success() {
        assert!(Instant::now() < deadline, "daemon not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn a_killed_daemon_delivers_every_pending_post_once_after_restart() {
    let open = Arc::new(AtomicBool::new(false));
    let gate = open.clone();
    let sink = WebhookSink::start(Arc::new(move |_| {
        if gate.load(Ordering::SeqCst) {
            Reply::Ok
        } else {
            Reply::Unavailable
        }
    }))
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    assert!(kith(home.path(), &["init"]).status.success());
    let mut daemon = start_daemon(home.path());
    let url = format!("url={}", sink.url);
    let added = kith(
        home.path(),
        &[
            "bridge",
            "add",
            "hook",
            "--plugin",
            "kith-bridge-webhook",
            "--set",
            &url,
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    for i in 0..100 {
        assert!(
            kith(home.path(), &["post", &format!("pending-{i}")])
                .status
                .success()
        );
    }
    daemon.kill().expect("kill -9");
    daemon.wait().expect("reap");
    open.store(true, Ordering::SeqCst);
    let mut daemon = start_daemon(home.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.distinct() < 100 {
        assert!(
            Instant::now() < deadline,
            "only {}/100 delivered after the restart",
            sink.distinct()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Give a duplicate every chance to show up, then count.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.received().len(), 100, "a post was delivered twice");
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// The daemon dies the instant a post is stored: its outbox entry was stored
/// with it (once, it came second, and such a post never reached its bridges).
#[test]
fn a_post_and_its_outbox_are_stored_together() {
    let sink = WebhookSink::start(Arc::new(|_| Reply::Ok)).unwrap();
    let home = tempfile::tempdir().unwrap();
    assert!(kith(home.path(), &["init"]).status.success());
    let mut daemon = start_daemon(home.path());
    let url = format!("url={}", sink.url);
    let add = [
        "bridge",
        "add",
        "hook",
        "--plugin",
        "kith-bridge-webhook",
        "--set",
        &url,
    ];
    assert!(kith(home.path(), &add).status.success());
    let _ = daemon.kill();
    let _ = daemon.wait();

    let mut daemon = start_daemon_with(home.path(), Some("abort-after-post"));
    // The daemon aborts before it answers.
    assert!(
        !kith(home.path(), &["post", "stored at the crash"])
            .status
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.try_wait().ok().flatten().is_none() {
        assert!(
            Instant::now() < deadline,
            "the failpoint did not abort the daemon"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut daemon = start_daemon(home.path());
    let feed = kith(home.path(), &["feed", "--json"]);
    assert!(
        String::from_utf8_lossy(&feed.stdout).contains("stored at the crash"),
        "the post itself was not stored"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.distinct() < 1 {
        assert!(
            Instant::now() < deadline,
            "the stored post never reached its bridge"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.received().len(), 1);
    let _ = daemon.kill();
    let _ = daemon.wait();
}
