//! Friends through the real binary: ticket QR images, the contract's JSON.

use std::time::Duration;

use crate::util::{TestHome, assert_one_error_line, wait_for};

fn decode_qr(path: &std::path::Path) -> String {
    let img = image::open(path).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("decodes").1
}

#[test]
fn a_ticket_from_a_png_makes_friends_both_ways() {
    let (a, b) = (TestHome::new(), TestHome::new());
    let a_ids = a.init();
    let b_ids = b.init();
    let _da = a.start_daemon();
    let _db = b.start_daemon();

    let png = a.path().join("ticket.png");
    let svg = a.path().join("ticket.svg");
    let invite = a.json(&[
        "friend",
        "invite",
        "--json",
        "--png",
        png.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let ticket = invite["ticket"].as_str().unwrap().to_string();
    assert!(ticket.starts_with("kithfriend1"));
    assert_eq!(
        decode_qr(&png),
        ticket,
        "the PNG's payload is exactly the ticket"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));

    let added = b.json(&["friend", "add", &ticket, "--json"]);
    assert_eq!(added["account"], a_ids["account"]);
    let listed = |home: &TestHome, account: &serde_json::Value| {
        home.json(&["friend", "list", "--json"])["friends"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| &f["account"] == account)
    };
    assert!(wait_for(Duration::from_secs(5), || listed(
        &a,
        &b_ids["account"]
    )));
    assert!(wait_for(Duration::from_secs(5), || listed(
        &b,
        &a_ids["account"]
    )));
    let friends = a.json(&["friend", "list", "--json"]);
    let f = &friends["friends"][0];
    assert!(f["since"].as_u64().unwrap() > 0 && f["online"].is_boolean() && f["name"].is_string());

    // Reused ticket, garbage, own ticket: one error line each, or a mere pending request.
    let line = assert_one_error_line(&b.kith(&["friend", "add", "garbage-ticket"]));
    assert!(line.contains("neither a friend ticket"), "{line}");
    let line = assert_one_error_line(&a.kith(&["friend", "add", &ticket]));
    assert!(line.contains("own account"), "{line}");
    let mut damaged = ticket.clone();
    damaged.pop();
    assert_one_error_line(&b.kith(&["friend", "add", &damaged]));
    let line =
        assert_one_error_line(&a.kith(&["friend", "accept", b_ids["account"].as_str().unwrap()]));
    assert!(line.contains("no pending request"), "{line}");
}

#[test]
fn requests_and_suggestions_speak_the_contract() {
    let (a, c) = (TestHome::new(), TestHome::new());
    let a_ids = a.init();
    let c_ids = c.init();
    let da = a.start_daemon();
    let _dc = c.start_daemon();
    c.json(&["connect", &da.addr(), "--json"]);
    let sent = c.json(&[
        "friend",
        "add",
        a_ids["account"].as_str().unwrap(),
        "--message",
        "hi",
        "--json",
    ]);
    assert_eq!(sent["state"], "requested");
    let incoming = || {
        a.json(&["friend", "requests", "--json"])["incoming"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(wait_for(Duration::from_secs(10), || incoming()
        .iter()
        .any(|r| r["account"] == c_ids["account"])));
    let r = &incoming()[0];
    assert_eq!(
        (r["message"].as_str(), r["state"].as_str()),
        (Some("hi"), Some("pending"))
    );
    assert!(r["at"].as_u64().is_some());

    let declined = a.json(&[
        "friend",
        "decline",
        c_ids["account"].as_str().unwrap(),
        "--json",
    ]);
    assert_eq!(declined["state"], "declined");
    let outgoing = || {
        c.json(&["friend", "requests", "--json"])["outgoing"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(wait_for(Duration::from_secs(5), || outgoing()
        .iter()
        .any(|r| r["state"] == "declined")));

    a.json(&["discoverable", "add", "email", "Ann@Example.org", "--json"]);
    assert_eq!(
        a.json(&["discoverable", "list", "--json"])["identifiers"][0]["value"],
        "ann@example.org"
    );
    let vcf = c.path().join("contacts.vcf");
    std::fs::write(
        &vcf,
        "BEGIN:VCARD\nVERSION:4.0\nFN:Ann\nEMAIL:ann@example.org\nEND:VCARD\n",
    )
    .unwrap();
    assert_eq!(
        c.json(&["contacts", "import", vcf.to_str().unwrap(), "--json"])["imported"],
        1
    );
    let suggested = || {
        c.json(&["friend", "suggest", "--json"])["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| {
                s["account"] == a_ids["account"] && s["reason"].as_str().unwrap().contains("Ann")
            })
    };
    assert!(wait_for(Duration::from_secs(15), suggested));

    let line = assert_one_error_line(&a.kith(&["discoverable", "add", "fax", "123"]));
    assert!(line.contains("email or phone"), "{line}");
    let line = assert_one_error_line(&a.kith(&["discoverable", "add", "email", "not-an-address"]));
    assert!(line.contains("not a valid email"), "{line}");
    std::fs::write(&vcf, "nothing useful").unwrap();
    assert_one_error_line(&c.kith(&["contacts", "import", vcf.to_str().unwrap()]));
}
