//! Profiles and links through the real binary: the contract's JSON and errors.

use std::time::Duration;

use crate::util::{TestHome, assert_one_error_line, wait_for};

#[test]
fn profile_and_links_speak_the_contract() {
    let (a, b) = (TestHome::new(), TestHome::new());
    let a_ids = a.init();
    b.init();
    let da = a.start_daemon();
    let _db = b.start_daemon();

    let set = a.json(&["profile", "set", "name", "Alice", "--json"]);
    assert_eq!(
        (set["field"].as_str(), set["visibility"].as_str()),
        (Some("name"), Some("public"))
    );
    let set = a.json(&[
        "profile",
        "set",
        "phone",
        "123",
        "--visibility",
        "friends",
        "--json",
    ]);
    assert_eq!(set["visibility"], "friends");
    let own = a.json(&["profile", "show", "--json"]);
    assert_eq!(own["account"], a_ids["account"]);
    assert_eq!(own["fields"]["name"]["value"], "Alice");
    assert_eq!(own["fields"]["phone"]["visibility"], "friends");

    // A connected non-friend sees the public field only.
    b.json(&["connect", &da.addr(), "--json"]);
    let account = a_ids["account"].as_str().unwrap();
    let seen = || {
        let out = b.kith(&["profile", "show", account, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    assert!(wait_for(
        Duration::from_secs(10),
        || seen()["fields"]["name"]["value"] == "Alice"
    ));
    assert!(seen()["fields"].get("phone").is_none());

    a.kith(&["profile", "unset", "phone"]);
    assert!(
        a.json(&["profile", "show", "--json"])["fields"]
            .get("phone")
            .is_none()
    );

    let links = a.json(&[
        "link",
        "add",
        "mastodon",
        "@alice@example.social",
        "--proof",
        "https://example.social/@alice/1",
        "--json",
    ]);
    assert_eq!(links["links"][0]["platform"], "mastodon");
    assert_eq!(links["links"][0]["verified"], false);
    assert!(wait_for(Duration::from_secs(10), || {
        let out = b.kith(&["link", "list", account, "--json"]);
        let links = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default();
        links["links"].as_array().is_some_and(|l| l.len() == 1)
    }));
    let links = a.json(&[
        "link",
        "remove",
        "mastodon",
        "@alice@example.social",
        "--json",
    ]);
    assert_eq!(links["links"].as_array().unwrap().len(), 0);

    // Bad input: one error line each, nothing stored changes.
    let line = assert_one_error_line(&a.kith(&["profile", "set", "bad name", "x"]));
    assert!(line.contains("field names"), "{line}");
    let huge = "x".repeat(kith_crdt::profile::MAX_FIELD_VALUE_LEN + 1);
    let line = assert_one_error_line(&a.kith(&["profile", "set", "bio", &huge]));
    assert!(line.contains("at most"), "{line}");
    assert_one_error_line(&a.kith(&["profile", "set", "x", "y", "--visibility", "secret"]));
    assert_one_error_line(&a.kith(&["profile", "unset", "never-set"]));
    assert_one_error_line(&a.kith(&["profile", "show", "kith1notanaccount"]));
    assert_one_error_line(&a.kith(&["link", "remove", "nowhere", "nobody"]));
    assert_eq!(
        a.json(&["profile", "show", "--json"])["fields"]["name"]["value"],
        "Alice"
    );
}
