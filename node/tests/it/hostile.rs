//! Real daemons under `kith-evil`'s attacks: the victim stays up and
//! responsive, its friend's edits keep arriving, nothing forged appears,
//! and an ex-friend cannot make itself a friend again.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::util::{KITH, TestHome, befriend, wait_for};

fn evil() -> PathBuf {
    let path = std::path::Path::new(KITH).with_file_name("kith-evil");
    assert!(
        path.exists(),
        "no kith-evil next to kith ({}): build the workspace's binaries (cargo test --workspace does)",
        path.display()
    );
    path
}

fn account(home: &TestHome) -> String {
    home.json(&["id", "--json"])["account"]
        .as_str()
        .expect("account")
        .to_string()
}

fn field(home: &TestHome, owner: &str, name: &str) -> Option<String> {
    crate::util::profile_field(home, owner, name)
        .as_str()
        .map(str::to_string)
}

/// Run `attack` against `victim` for `secs` while probing it: every status
/// call answers, and an edit by `friend` made during the attack arrives.
fn survive(
    attack: &str,
    victim: &TestHome,
    addr: &str,
    friend: &TestHome,
    friend_id: &str,
    secs: u64,
) {
    let child = Command::new(evil())
        .args([attack, "--target", addr, "--account", friend_id, "--secs"])
        .arg(secs.to_string())
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kith-evil");
    let end = Instant::now() + Duration::from_secs(secs);
    let mut worst = Duration::ZERO;
    while Instant::now() < end {
        let started = Instant::now();
        let out = victim.kith(&["status", "--json"]);
        worst = worst.max(started.elapsed());
        assert!(
            out.status.success(),
            "[{attack}] the victim stopped answering"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let value = format!("{attack}-done");
    friend.json(&["profile", "set", "motto", &value, "--json"]);
    let arrived = wait_for(Duration::from_secs(30), || {
        field(victim, friend_id, "motto").as_deref() == Some(value.as_str())
    });
    let out = child.wait_with_output().expect("kith-evil ran");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "[{attack}] kith-evil failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        arrived,
        "[{attack}] the friend's edit stopped arriving ({report})"
    );
    assert!(
        worst < Duration::from_secs(5),
        "[{attack}] status took {worst:?} under attack"
    );
    assert_eq!(
        field(victim, friend_id, "forged"),
        None,
        "[{attack}] forged field"
    );
    if attack.starts_with("bomb") {
        let json: serde_json::Value = serde_json::from_str(report.trim()).expect("a JSON report");
        assert!(
            json["inflates_to"].as_u64().unwrap_or(0) >= 1 << 30,
            "{report}"
        );
    }
}

#[test]
fn a_node_under_attack_stays_up_and_keeps_syncing() {
    let (victim, friend) = (TestHome::new(), TestHome::new());
    victim.init();
    friend.init();
    let victim_daemon = victim.start_daemon();
    let _friend_daemon = friend.start_daemon();
    befriend(&victim, &friend);
    let friend_id = account(&friend);
    friend.json(&["profile", "set", "motto", "start", "--json"]);
    assert!(wait_for(Duration::from_secs(30), || {
        field(&victim, &friend_id, "motto").as_deref() == Some("start")
    }));
    let addr = victim_daemon.addr();
    for attack in [
        "bomb-document",
        "bomb-change",
        "orphan-change",
        "junk-announce",
        "pull-flood",
        "conn-flood",
        "handshake-flood",
    ] {
        survive(attack, &victim, &addr, &friend, &friend_id, 4);
    }
}

#[test]
fn an_ex_friend_replaying_its_accept_stays_an_ex_friend() {
    let (victim, ex) = (TestHome::new(), TestHome::new());
    victim.init();
    ex.init();
    let victim_daemon = victim.start_daemon();
    let ex_daemon = ex.start_daemon();
    let (victim_id, ex_id) = (account(&victim), account(&ex));
    victim.json(&["connect", &ex_daemon.addr(), "--json"]);
    victim.json(&["friend", "add", &ex_id, "--message", "hi", "--json"]);
    assert!(wait_for(Duration::from_secs(30), || {
        ex.json(&["friend", "requests", "--json"])
            .to_string()
            .contains(&victim_id)
    }));
    ex.json(&["friend", "accept", &victim_id, "--json"]);
    let friends = || victim.json(&["friend", "list", "--json"]).to_string();
    assert!(wait_for(Duration::from_secs(30), || friends().contains(&ex_id)));
    victim.json(&["friend", "remove", &ex_id, "--json"]);
    ex_daemon.terminate();
    let out = Command::new(evil())
        .args(["stale-accept", "--target", &victim_daemon.addr(), "--home"])
        .arg(ex.path())
        .arg("--json")
        .output()
        .expect("run kith-evil");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let replies = report["replies"].as_array().expect("replies");
    assert_eq!(
        replies.len(),
        2,
        "both the replay and the new accept were sent: {report}"
    );
    assert!(
        replies.iter().all(|r| r != "received" && r != "accepted"),
        "{report}"
    );
    assert!(
        !friends().contains(&ex_id),
        "the ex-friend is a friend again"
    );
    assert_eq!(
        victim.json(&["friend", "requests", "--json"])["incoming"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}
