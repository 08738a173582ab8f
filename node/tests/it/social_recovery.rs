//! Social recovery through the real binary and real daemons: friends hold
//! shares, a new device asks, its owner's code approves it, K shares give
//! the account back; and the threat model's cases (one share, a wrong
//! code, an impostor's device, an ex-friend).

use std::time::Duration;

use crate::util::{
    DaemonProcess, TestHome, assert_one_error_line, befriend, profile_field as field, wait_for,
};

const WAIT: Duration = Duration::from_secs(30);

fn account_of(home: &TestHome) -> String {
    home.json(&["id", "--json"])["account"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn asks(holder: &TestHome, account: &str) -> usize {
    holder.json(&["recovery", "requests", "--json"])["requests"]
        .as_array()
        .map_or(0, |r| r.iter().filter(|q| q["account"] == account).count())
}

fn all_hold(owner: &TestHome, count: usize) -> bool {
    let status = owner.json(&["recovery", "status", "--json"]);
    let friends = status["friends"].as_array().cloned().unwrap_or_default();
    friends.len() == count && friends.iter().all(|f| f["holds"] == true)
}

fn shares_received(home: &TestHome) -> u64 {
    home.json(&["status", "--json"])["shares_received"]
        .as_u64()
        .unwrap_or(0)
}

/// A person with three friends, each friend's daemon running.
struct Circle {
    owner: TestHome,
    owner_daemon: Option<DaemonProcess>,
    friends: Vec<(TestHome, DaemonProcess)>,
}

fn circle(n: usize) -> Circle {
    let owner = TestHome::new();
    owner.init();
    let owner_daemon = owner.start_daemon();
    let friends = (0..n)
        .map(|_| {
            let home = TestHome::new();
            home.init();
            let daemon = home.start_daemon();
            assert!(owner.kith(&["connect", &daemon.addr()]).status.success());
            befriend(&home, &owner);
            (home, daemon)
        })
        .collect();
    Circle {
        owner,
        owner_daemon: Some(owner_daemon),
        friends,
    }
}

#[test]
fn two_of_three_friends_give_the_account_back_and_one_does_not() {
    let mut c = circle(3);
    let account = account_of(&c.owner);
    c.owner.json(&["profile", "set", "name", "Carol", "--json"]);
    let ids: Vec<String> = c.friends.iter().map(|(h, _)| account_of(h)).collect();
    let mut setup = vec!["recovery", "setup", "--threshold", "2", "--json"];
    for id in &ids {
        setup.extend(["--friend", id.as_str()]);
    }
    let answer = c.owner.json(&setup);
    assert_eq!(answer["threshold"], 2);
    assert!(
        wait_for(WAIT, || all_hold(&c.owner, 3)),
        "the friends never confirmed: {}",
        c.owner.json(&["recovery", "status", "--json"])
    );
    // The share is sealed at rest: its bytes are not in the friend's database.
    c.owner_daemon.take().expect("daemon").kill_hard();
    drop(std::mem::replace(&mut c.owner, TestHome::new()));

    // A new device: a code, and no account until friends approve.
    let fresh = &c.owner;
    let started = fresh.json(&["recover", "--account", &account, "--friends", "--json"]);
    let code = started["code"].as_str().expect("code").to_string();
    let again = fresh.json(&["recover", "--account", &account, "--friends", "--json"]);
    assert_eq!(
        again["code"],
        code.as_str(),
        "a second run shows the same code"
    );
    let id = fresh.json(&["id", "--json"]);
    assert!(id["account"].is_null(), "{id}");
    assert_eq!(id["recovering"], account.as_str());
    let _recovering = fresh.start_daemon();
    assert_eq!(fresh.json(&["status", "--json"])["recovering"], true);
    let refused = assert_one_error_line(&fresh.kith(&["profile", "set", "name", "X"]));
    assert!(refused.contains("recovering"), "{refused}");
    for (_, daemon) in &c.friends[..2] {
        assert!(fresh.kith(&["connect", &daemon.addr()]).status.success());
    }
    let (f, g) = (&c.friends[0].0, &c.friends[1].0);
    assert!(
        wait_for(WAIT, || asks(f, &account) == 1),
        "f never saw the request"
    );

    // A wrong code is refused; the right one releases one share, not enough.
    let wrong = assert_one_error_line(&f.kith(&[
        "recovery",
        "approve",
        &account,
        "--code",
        "000-000-000-000",
    ]));
    assert!(wrong.contains("code"), "{wrong}");
    f.json(&["recovery", "approve", &account, "--code", &code, "--json"]);
    assert!(wait_for(WAIT, || shares_received(fresh) == 1));
    assert!(fresh.json(&["id", "--json"])["account"].is_null());

    // The second approval completes it; the daemon carries on as the account.
    assert!(wait_for(WAIT, || asks(g, &account) == 1));
    g.json(&["recovery", "approve", &account, "--code", &code, "--json"]);
    assert!(
        wait_for(WAIT, || fresh.json(&["id", "--json"])["account"]
            == account.as_str()),
        "two approvals did not recover the account"
    );
    assert!(
        wait_for(WAIT, || fresh.kith(&["status", "--json"]).status.success()
            && field(fresh, &account, "name") == "Carol"),
        "the recovered device did not get its profile back"
    );
    assert!(wait_for(WAIT, || {
        fresh.json(&["friend", "list", "--json"])["friends"]
            .as_array()
            .is_some_and(|f| f.len() == 3)
    }));
    fresh.json(&["profile", "set", "motto", "back", "--json"]);
    assert!(
        wait_for(WAIT, || field(f, &account, "motto") == "back"),
        "a friend does not take the recovered device's edits"
    );
}

#[test]
fn a_share_goes_only_to_the_device_whose_code_was_read() {
    let mut c = circle(1);
    let account = account_of(&c.owner);
    let friend_id = account_of(&c.friends[0].0);
    c.owner.json(&[
        "recovery",
        "setup",
        "--friend",
        &friend_id,
        "--threshold",
        "1",
        "--json",
    ]);
    assert!(wait_for(WAIT, || all_hold(&c.owner, 1)));
    c.owner_daemon.take().expect("daemon").kill_hard();

    // The real owner's new device, and an impostor's asking for the same account.
    let (genuine, impostor) = (TestHome::new(), TestHome::new());
    let started = genuine.json(&["recover", "--account", &account, "--friends", "--json"]);
    let code = started["code"].as_str().expect("code").to_string();
    let genuine_device = started["device"].as_str().expect("device").to_string();
    let impostor_device = impostor.json(&["recover", "--account", &account, "--friends", "--json"])
        ["device"]
        .as_str()
        .expect("device")
        .to_string();
    let (_g, _i) = (genuine.start_daemon(), impostor.start_daemon());
    let (friend, friend_daemon) = &c.friends[0];
    for home in [&genuine, &impostor] {
        assert!(
            home.kith(&["connect", &friend_daemon.addr()])
                .status
                .success()
        );
    }
    assert!(wait_for(WAIT, || asks(friend, &account) == 2));
    friend.json(&["recovery", "approve", &account, "--code", &code, "--json"]);
    assert!(wait_for(WAIT, || account_of(&genuine) == account));
    // The approval named the genuine device alone: the impostor's request
    // stays unapproved, so its asks keep getting "waiting", never the share.
    let requests = friend.json(&["recovery", "requests", "--json"]);
    let approved = |device: &str| {
        requests["requests"]
            .as_array()
            .and_then(|r| r.iter().find(|q| q["device"] == device))
            .map(|q| q["approved"].clone())
    };
    assert_eq!(
        approved(&genuine_device),
        Some(serde_json::json!(true)),
        "{requests}"
    );
    assert_eq!(
        approved(&impostor_device),
        Some(serde_json::json!(false)),
        "{requests}"
    );
    assert_eq!(shares_received(&impostor), 0);
    assert!(impostor.json(&["id", "--json"])["account"].is_null());

    // Guessing codes locks the account's requests.
    for _ in 0..4 {
        let line = assert_one_error_line(&friend.kith(&[
            "recovery",
            "approve",
            &account,
            "--code",
            "111-111-111-111",
        ]));
        assert!(line.contains("code"), "{line}");
    }
    let locked = assert_one_error_line(&friend.kith(&[
        "recovery",
        "approve",
        &account,
        "--code",
        "111-111-111-111",
    ]));
    assert!(locked.contains("too many wrong codes"), "{locked}");
    assert_eq!(asks(friend, &account), 0);
}

#[test]
fn an_ex_friends_share_is_replaced_and_setup_needs_friends_and_the_key() {
    let c = circle(3);
    let ids: Vec<String> = c.friends.iter().map(|(h, _)| account_of(h)).collect();
    let stranger = TestHome::new();
    stranger.init();
    let stranger_id = account_of(&stranger);
    let not_friend = assert_one_error_line(&c.owner.kith(&[
        "recovery",
        "setup",
        "--friend",
        &stranger_id,
        "--threshold",
        "1",
    ]));
    assert!(not_friend.contains("not a friend"), "{not_friend}");
    let too_high = assert_one_error_line(&c.owner.kith(&[
        "recovery",
        "setup",
        "--friend",
        &ids[0],
        "--threshold",
        "2",
    ]));
    assert!(too_high.contains("threshold"), "{too_high}");
    let none = assert_one_error_line(&c.owner.kith(&["recovery", "status"]));
    assert!(none.contains("recovery setup"), "{none}");

    c.owner.json(&[
        "recovery",
        "setup",
        "--friend",
        &ids[0],
        "--friend",
        &ids[1],
        "--friend",
        &ids[2],
        "--threshold",
        "2",
        "--json",
    ]);
    assert!(wait_for(WAIT, || all_hold(&c.owner, 3)));
    c.owner.json(&["friend", "remove", &ids[2], "--json"]);
    // Split anew between the two left; the ex-friend's old share no
    // longer combines with theirs.
    assert!(
        wait_for(WAIT, || all_hold(&c.owner, 2)),
        "{}",
        c.owner.json(&["recovery", "status", "--json"])
    );
    let status = c.owner.json(&["recovery", "status", "--json"]).to_string();
    assert!(!status.contains(&ids[2]), "{status}");
    assert_eq!(status.matches("\"holds\":true").count(), 2, "{status}");
}
