//! The runtime every reference bridge shares: read JSON-RPC requests from
//! stdin one line at a time, call the bridge, write one response line.
//!
//! A bridge implements [`Bridge`]; its `main` is `kith_bridges::serve(MyBridge::default())`.
//! Any language works as long as it speaks the protocol in docs/bridges.md.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod atom;
pub mod mastodon;
pub mod matrix;
pub mod nostr;
pub mod webhook;

use std::{
    collections::BTreeMap,
    io::{BufRead as _, Read as _, Write as _},
    process::ExitCode,
};

use kith_protocol::bridge::{
    self, Configure, Description, INVALID_PARAMS, METHOD_NOT_FOUND, PERMANENT, Publish, Published,
    Request, Response, RpcError, UpdateProfile, Verified, VerifyLink,
};
use serde::{Serialize, de::DeserializeOwned};

/// What a bridge does for each method. Unimplemented optional methods
/// answer "method not found".
pub trait Bridge {
    fn describe(&self) -> Description;
    fn configure(&mut self, config: Configure) -> Result<(), RpcError>;
    fn publish(&mut self, post: Publish) -> Result<Published, RpcError>;
    fn update_profile(&mut self, _profile: UpdateProfile) -> Result<(), RpcError> {
        Err(error(
            METHOD_NOT_FOUND,
            "this bridge does not update profiles",
        ))
    }
    fn verify_link(&mut self, _link: VerifyLink) -> Result<Verified, RpcError> {
        Err(error(METHOD_NOT_FOUND, "this bridge does not verify links"))
    }
}

pub fn error(code: i64, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into(),
    }
}

/// A failed HTTP answer as an error code: server errors, time-outs and rate
/// limits may pass (transient); other client errors will not (permanent).
pub fn http_error_code(status: reqwest::StatusCode) -> i64 {
    if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
        kith_protocol::bridge::TRANSIENT
    } else {
        PERMANENT
    }
}

/// Settings a bridge understands: unknown keys are refused by name, and
/// `required` keys must be present.
pub fn check_settings(
    settings: &BTreeMap<String, String>,
    known: &[&str],
    required: &[&str],
) -> Result<(), RpcError> {
    if let Some(unknown) = settings.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(error(
            INVALID_PARAMS,
            format!("unknown setting `{unknown}` (known: {})", known.join(", ")),
        ));
    }
    if let Some(missing) = required.iter().find(|k| !settings.contains_key(**k)) {
        return Err(error(
            INVALID_PARAMS,
            format!("missing setting `{missing}`"),
        ));
    }
    Ok(())
}

/// Serve requests on stdin until it closes (the daemon stopped or restarts us).
pub fn serve(mut bridge: impl Bridge) -> ExitCode {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    let mut reader = stdin.lock();
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(bridge::MAX_LINE_BYTES as u64 + 1)
            .read_line(&mut line)
        {
            Ok(0) => return ExitCode::SUCCESS,
            Ok(_) if line.len() > bridge::MAX_LINE_BYTES => {
                eprintln!(
                    "request line over {} bytes; stopping",
                    bridge::MAX_LINE_BYTES
                );
                return ExitCode::FAILURE;
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("cannot read stdin: {e}");
                return ExitCode::FAILURE;
            }
        }
        let response = match serde_json::from_str::<Request>(line.trim()) {
            Ok(request) => handle(&mut bridge, request),
            Err(e) => Response::err(0, -32700, format!("not a JSON-RPC request: {e}")),
        };
        let Ok(text) = serde_json::to_string(&response) else {
            return ExitCode::FAILURE;
        };
        if writeln!(stdout, "{text}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return ExitCode::SUCCESS;
        }
    }
}

fn handle(bridge: &mut impl Bridge, request: Request) -> Response {
    let id = request.id;
    let result = match request.method.as_str() {
        "describe" => to_value(Ok(bridge.describe())),
        "configure" => params(request.params)
            .and_then(|p| bridge.configure(p))
            .map(|()| serde_json::json!({})),
        "publish" => to_value(params(request.params).and_then(|p| bridge.publish(p))),
        "update_profile" => params(request.params)
            .and_then(|p| bridge.update_profile(p))
            .map(|()| serde_json::json!({})),
        "verify_link" => to_value(params(request.params).and_then(|p| bridge.verify_link(p))),
        other => Err(error(METHOD_NOT_FOUND, format!("no method `{other}`"))),
    };
    match result {
        Ok(value) => Response::ok(id, value),
        Err(e) => Response {
            jsonrpc: "2.0".into(),
            id,
            result: None,
            error: Some(e),
        },
    }
}

fn params<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, RpcError> {
    serde_json::from_value(value).map_err(|e| error(INVALID_PARAMS, format!("bad params: {e}")))
}

fn to_value<T: Serialize>(result: Result<T, RpcError>) -> Result<serde_json::Value, RpcError> {
    result.and_then(|v| serde_json::to_value(v).map_err(|e| error(PERMANENT, e.to_string())))
}
