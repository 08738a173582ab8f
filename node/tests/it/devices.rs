//! Device pairing through the real binary: QR image in, ticket rules, errors.

use std::time::Duration;

use crate::util::{TestHome, assert_one_error_line, wait_for};

#[test]
fn a_device_joins_from_a_qr_image_and_both_list_two_devices() {
    let (a1, a2, a3) = (TestHome::new(), TestHome::new(), TestHome::new());
    let ids = a1.init();
    let _d1 = a1.start_daemon();
    let png = a1.path().join("pair.png");
    let link = a1.json(&["device", "link", "--json", "--png", png.to_str().unwrap()]);
    let ticket = link["ticket"].as_str().unwrap().to_string();
    assert!(ticket.starts_with("kithdevice1"));
    assert!(link["expires_at"].as_u64().is_some());

    let joined = a2.json(&[
        "device",
        "join",
        "--qr-image",
        png.to_str().unwrap(),
        "--device-name",
        "phone",
        "--json",
    ]);
    assert_eq!(joined["account"], ids["account"]);
    assert_eq!(joined["code"].as_str().map(str::len), Some(6));
    assert_eq!(a2.json(&["id", "--json"])["account"], ids["account"]);

    let line = assert_one_error_line(&a3.kith(&["device", "join", &ticket]));
    assert!(line.contains("used"), "reused ticket: {line}");
    let line = assert_one_error_line(&a2.kith(&["device", "join", &ticket]));
    assert!(line.contains("already holds an account"), "{line}");

    let _d2 = a2.start_daemon();
    let listed = |home: &TestHome| {
        let out = home.kith(&["device", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["devices"].as_array().map(|d| d.len()).unwrap_or(0) == 2
    };
    assert!(wait_for(Duration::from_secs(10), || listed(&a1)));
    assert!(wait_for(Duration::from_secs(10), || listed(&a2)));
    let devices = a2.json(&["device", "list", "--json"]);
    let this: Vec<_> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["this"] == true)
        .collect();
    assert_eq!(this.len(), 1);
    assert_eq!(this[0]["name"], "phone");

    // Without the account key, a2 can neither link nor revoke.
    let line = assert_one_error_line(&a2.kith(&["device", "link"]));
    assert!(line.contains("account key"), "{line}");
    let line =
        assert_one_error_line(&a2.kith(&["device", "revoke", ids["device"].as_str().unwrap()]));
    assert!(line.contains("account key"), "{line}");
}

#[test]
fn expired_and_malformed_pairing_tickets_are_refused() {
    let (a1, a2) = (TestHome::new(), TestHome::new());
    a1.init();
    let _d1 = a1.start_daemon();
    let ticket = a1.json(&["device", "link", "--ttl", "1s", "--json"])["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(2100));
    let line = assert_one_error_line(&a2.kith(&["device", "join", &ticket]));
    assert!(line.contains("expired"), "{line}");
    let friend_ticket = a1.json(&["friend", "invite", "--json"])["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let line = assert_one_error_line(&a2.kith(&["device", "join", &friend_ticket]));
    assert!(line.contains("device pairing ticket"), "{line}");
    assert!(
        !a2.path().join("device.cert").exists(),
        "nothing was written"
    );
}
