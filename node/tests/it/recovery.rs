//! An account that outlives its devices: the paper key and the encrypted
//! export, through the real binary and real daemons.

use std::time::Duration;

use crate::util::{TestHome, assert_one_error_line, befriend, profile_field as field, wait_for};

#[test]
fn the_paper_key_brings_the_account_back_from_a_friend() {
    let (alice, friend) = (TestHome::new(), TestHome::new());
    let ids = alice.init();
    let (account, old_device) = (
        ids["account"].as_str().expect("account").to_string(),
        ids["device"].as_str().expect("device").to_string(),
    );
    friend.init();
    let (daemon, friend_daemon) = (alice.start_daemon(), friend.start_daemon());
    assert!(
        alice
            .kith(&["connect", &friend_daemon.addr()])
            .status
            .success()
    );
    befriend(&alice, &friend);
    alice.json(&[
        "profile",
        "set",
        "phone",
        "+1 555 0100",
        "--visibility",
        "friends",
        "--json",
    ]);
    assert!(wait_for(Duration::from_secs(30), || {
        field(&friend, &account, "phone") == "+1 555 0100"
    }));
    let words = alice.json(&["recovery", "words", "--json"])["words"]
        .as_str()
        .expect("words")
        .to_string();
    assert_eq!(words.split(' ').count(), 24);
    daemon.kill_hard();
    drop(alice); // the device is gone, with its home

    let fresh = TestHome::new();
    let mut wrong: Vec<&str> = words.split(' ').collect();
    wrong.swap(0, 1);
    let line = assert_one_error_line(&fresh.kith(&["recover", "--words", &wrong.join(" ")]));
    assert!(line.contains("do not check out"), "{line}");
    let recovered = fresh.json(&["recover", "--words", &words, "--json"]);
    assert_eq!(recovered["account"], account.as_str());
    assert_ne!(recovered["device"], old_device.as_str());
    let _daemon = fresh.start_daemon();
    assert!(
        fresh
            .kith(&["connect", &friend_daemon.addr()])
            .status
            .success()
    );
    assert!(
        wait_for(Duration::from_secs(30), || field(&fresh, &account, "phone")
            == "+1 555 0100"),
        "the friend did not give the friends-only profile back"
    );
    assert!(
        fresh
            .json(&["friend", "list", "--json"])
            .to_string()
            .contains(
                friend.json(&["id", "--json"])["account"]
                    .as_str()
                    .expect("account")
            )
    );
    fresh.json(&["device", "revoke", &old_device, "--json"]);
    fresh.json(&["profile", "set", "motto", "back", "--json"]);
    assert!(wait_for(Duration::from_secs(30), || field(
        &friend, &account, "motto"
    ) == "back"));
}

#[test]
fn an_export_restores_offline_and_only_with_its_passphrase() {
    let bob = TestHome::new();
    let account = bob.init()["account"].as_str().expect("account").to_string();
    let daemon = bob.start_daemon();
    bob.json(&["profile", "set", "name", "Bobby Tables", "--json"]);
    let dir = tempfile::tempdir().expect("dir");
    let (bundle, pw, bad) = (
        dir.path().join("b.kithexport"),
        dir.path().join("pw"),
        dir.path().join("bad"),
    );
    std::fs::write(&pw, "correct horse battery staple\n").expect("pw");
    std::fs::write(&bad, "wrong\n").expect("bad");
    let (b, p, w) = (
        bundle.to_str().expect("utf-8"),
        pw.to_str().expect("utf-8"),
        bad.to_str().expect("utf-8"),
    );
    bob.json(&["export", "--out", b, "--passphrase-file", p, "--json"]);
    let sealed = std::fs::read(&bundle).expect("bundle");
    assert!(!sealed.windows(12).any(|x| x == b"Bobby Tables"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&bundle)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    daemon.kill_hard();

    let fresh = TestHome::new();
    let line = assert_one_error_line(&fresh.kith(&["import", b, "--passphrase-file", w]));
    assert!(line.contains("wrong passphrase"), "{line}");
    assert!(
        !fresh.path().join("account.key").exists() && !fresh.path().join("device.key").exists()
    );
    let restored = fresh.json(&["import", b, "--passphrase-file", p, "--json"]);
    assert_eq!(restored["account"], account.as_str());
    let again = assert_one_error_line(&fresh.kith(&["import", b, "--passphrase-file", p]));
    assert!(again.contains("already holds an account"), "{again}");
    let _daemon = fresh.start_daemon();
    assert_eq!(field(&fresh, &account, "name"), "Bobby Tables");
    // The restored device is in the account's device list, beside the old one.
    assert!(wait_for(Duration::from_secs(30), || {
        fresh.json(&["device", "list", "--json"])["devices"]
            .as_array()
            .is_some_and(|d| d.len() == 2)
    }));
}
