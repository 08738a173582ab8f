//! The CLI contract without a running daemon: init, id, and its error lines.

use crate::util::{TestHome, assert_one_error_line};

#[test]
fn init_prints_ids_and_id_agrees() {
    let home = TestHome::new();
    let ids = home.init();
    let account = ids["account"].as_str().unwrap();
    assert!(account.starts_with("kith1"), "{account}");
    assert!(ids["device"].as_str().unwrap().starts_with("12D3KooW"));
    assert_eq!(home.json(&["id", "--json"]), ids);
}

#[test]
fn second_init_refuses_and_leaves_keys_untouched() {
    let home = TestHome::new();
    let ids = home.init();
    let key_before = std::fs::read(home.path().join("keys/account.key")).unwrap();
    let line = assert_one_error_line(&home.kith(&["init", "--name", "again"]));
    assert!(line.contains("already holds an account"), "{line}");
    assert_eq!(
        std::fs::read(home.path().join("keys/account.key")).unwrap(),
        key_before
    );
    assert_eq!(home.json(&["id", "--json"]), ids);
}

#[test]
fn status_without_daemon_says_how_to_start_one() {
    let home = TestHome::new();
    home.init();
    let line = assert_one_error_line(&home.kith(&["status"]));
    let expected = format!(
        "error: no daemon is running for {} (start it with: kith daemon)",
        home.path().display()
    );
    assert_eq!(line, expected);
}

#[test]
fn id_on_an_empty_home_is_an_error() {
    let home = TestHome::new();
    let line = assert_one_error_line(&home.kith(&["id"]));
    assert!(line.contains("kith init"), "{line}");
}

#[test]
fn corrupt_key_file_is_reported_and_not_rewritten() {
    let home = TestHome::new();
    home.init();
    let path = home.path().join("keys/device.key");
    std::fs::write(&path, "kind = device\nsecret = zz\n").unwrap();
    let line = assert_one_error_line(&home.kith(&["id"]));
    assert!(
        line.contains("device.key") && line.contains("corrupt"),
        "{line}"
    );
    let line = assert_one_error_line(&home.kith(&["daemon", "--no-mdns"]));
    assert!(line.contains("corrupt"), "{line}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "kind = device\nsecret = zz\n"
    );
}

#[test]
fn corrupt_config_names_the_problem() {
    let home = TestHome::new();
    home.init();
    std::fs::write(home.path().join("config.toml"), "listne = []\n").unwrap();
    let line = assert_one_error_line(&home.kith(&["daemon", "--no-mdns"]));
    assert!(line.contains("listne"), "{line}");
    std::fs::write(
        home.path().join("config.toml"),
        "listen = [\"/ip4/x/tcp/1\"]\n",
    )
    .unwrap();
    let line = assert_one_error_line(&home.kith(&["daemon", "--no-mdns"]));
    assert!(line.contains("config.toml"), "{line}");
}

#[test]
fn usage_errors_are_one_line() {
    let home = TestHome::new();
    assert_one_error_line(&home.kith(&["frobnicate"]));
    assert_one_error_line(&home.kith(&["daemon", "--listen", "not-a-multiaddr"]));
    assert_one_error_line(&home.kith(&["init", "--device-name", &"x".repeat(65)]));
}
