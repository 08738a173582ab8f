//! The local API's door: token, Host, Origin, methods, and JSON errors.

use crate::util::{TestHome, http};

fn error_code(body: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    v["error"]["code"].as_str().expect("error.code").to_string()
}

#[test]
fn api_refuses_everything_but_its_own_authenticated_clients() {
    let home = TestHome::new();
    home.init();
    let daemon = home.start_daemon();
    let api = daemon.api();
    let token = std::fs::read_to_string(home.path().join("api-token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let auth = ("Authorization", bearer.as_str());

    let (status, body) = http(&api, "GET", "/v1/status", &[auth], "");
    assert_eq!(status, 200, "{body}");
    let status_json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        status_json,
        home.json(&["status", "--json"])
            .as_object()
            .map(|_| status_json.clone())
            .unwrap()
    );

    let (status, body) = http(&api, "GET", "/v1/status", &[], "");
    assert_eq!((status, error_code(&body)), (401, "unauthorized".into()));
    let (status, body) = http(
        &api,
        "GET",
        "/v1/status",
        &[("Authorization", "Bearer wrong")],
        "",
    );
    assert_eq!((status, error_code(&body)), (401, "unauthorized".into()));
    let (status, body) = http(
        &api,
        "GET",
        "/v1/status",
        &[auth, ("Host", "evil.example")],
        "",
    );
    assert_eq!((status, error_code(&body)), (403, "forbidden_host".into()));
    let (status, body) = http(
        &api,
        "GET",
        "/v1/status",
        &[auth, ("Origin", "http://evil.example")],
        "",
    );
    assert_eq!(
        (status, error_code(&body)),
        (403, "forbidden_origin".into())
    );
    let own_origin = format!("http://{api}");
    let (status, _) = http(
        &api,
        "GET",
        "/v1/status",
        &[auth, ("Origin", &own_origin)],
        "",
    );
    assert_eq!(status, 200);

    let (status, body) = http(&api, "GET", "/v1/connect", &[auth], "");
    assert_eq!(
        (status, error_code(&body)),
        (405, "method_not_allowed".into())
    );
    let (status, body) = http(&api, "GET", "/v1/nope", &[auth], "");
    assert_eq!((status, error_code(&body)), (404, "not_found".into()));
    let (status, body) = http(&api, "POST", "/v1/connect", &[auth], "{not json");
    assert_eq!((status, error_code(&body)), (400, "invalid_json".into()));
    let huge = format!(
        "{{\"addr\":\"{}\"}}",
        "x".repeat(kith_node::api::MAX_BODY_BYTES)
    );
    let (status, body) = http(&api, "POST", "/v1/connect", &[auth], &huge);
    assert_eq!((status, error_code(&body)), (413, "body_too_large".into()));
    let (status, body) = http(
        &api,
        "POST",
        "/v1/connect",
        &[auth],
        r#"{"addr":"garbage"}"#,
    );
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_multiaddr".into())
    );
}

#[test]
fn api_token_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = TestHome::new();
    home.init();
    let _daemon = home.start_daemon();
    for file in ["api-token", "keys/account.key", "keys/device.key"] {
        let mode = std::fs::metadata(home.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}

#[test]
fn the_event_stream_reports_peers_as_server_sent_events() {
    use std::io::{BufRead as _, BufReader, Write as _};
    let (a, b) = (TestHome::new(), TestHome::new());
    a.init();
    b.init();
    let da = a.start_daemon();
    let db = b.start_daemon();
    let api = da.api();
    let token = std::fs::read_to_string(a.path().join("api-token")).unwrap();
    let mut stream = std::net::TcpStream::connect(&api).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {}\r\n\r\n",
        token.trim()
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.contains("200"), "{status}");
    assert!(a.kith(&["connect", &db.addr()]).status.success());
    let mut line = String::new();
    let mut seen = false;
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        if line.starts_with("event: peer_connected") {
            seen = true;
            break;
        }
        line.clear();
    }
    assert!(seen, "no peer_connected event on the stream");
}
