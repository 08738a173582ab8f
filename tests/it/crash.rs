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
    let child = Command::new(sibling_binary("kith"))
        .args(["daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
        .env("KITH_HOME", home)
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
