//! API errors: an HTTP status plus `{"error":{"code","message"}}` with a
//! stable snake_case code. Every code comes from a typed refusal (the
//! node's per-capability enums in `crate::refusal`, [`ApiRefusal`] for the
//! API's own), and [`status`] maps their kinds to HTTP in one exhaustive
//! match; `tests::the_documented_table_is_the_code` holds `docs/api.md` to it.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use crate::{
    node::NodeError,
    refusal::{Kind, refusals},
};

refusals! {
    /// What the API itself refuses, before or around the node.
    ApiRefusal {
        Unauthorized = "unauthorized", Unauthenticated;
        ForbiddenHost = "forbidden_host", Forbidden;
        ForbiddenOrigin = "forbidden_origin", Forbidden;
        /// A page session's state change without its CSRF token, or a
        /// request another site started.
        ForbiddenCsrf = "forbidden_csrf", Forbidden;
        /// A page session may not mint login links.
        TokenRequired = "token_required", Forbidden;
        /// Text too long for a QR code.
        QrTooLong = "qr_too_long", Invalid;
        NotFound = "not_found", NotFound;
        MethodNotAllowed = "method_not_allowed", MethodNotAllowed;
        BodyTooLarge = "body_too_large", TooLarge;
        BadRequest = "bad_request", Invalid;
        InvalidJson = "invalid_json", Invalid;
        InvalidMultiaddr = "invalid_multiaddr", Invalid;
        InvalidTicket = "invalid_ticket", Invalid;
        InvalidTarget = "invalid_target", Invalid;
        InvalidAccount = "invalid_account", Invalid;
        InvalidContacts = "invalid_contacts", Invalid;
        InvalidDevice = "invalid_device", Invalid;
        InvalidVisibility = "invalid_visibility", Invalid;
        /// A bridge to test is not running.
        BridgeDown = "bridge_down", Upstream;
    }
}

/// The one mapping from a refusal's kind to its HTTP status.
pub fn status(kind: Kind) -> StatusCode {
    match kind {
        Kind::Invalid => StatusCode::BAD_REQUEST,
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::TooMany => StatusCode::TOO_MANY_REQUESTS,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Kind::Upstream => StatusCode::BAD_GATEWAY,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::TimedOut => StatusCode::GATEWAY_TIMEOUT,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(refusal: ApiRefusal, message: impl Into<String>) -> Self {
        ApiError {
            status: status(refusal.kind()),
            code: refusal.code(),
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError {
            status: status(e.kind()),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refusal::Refusal;
    use std::collections::BTreeMap;

    /// `docs/api.md`'s error table: code → status, from its rows
    /// (`| `a`, `b` | 404 | … |`).
    fn documented() -> BTreeMap<String, u16> {
        let text = include_str!("../../../docs/api.md");
        let table = text
            .split("## Errors")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/api.md has an Errors section");
        let mut out = BTreeMap::new();
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let status: u16 = cells[2]
                .parse()
                .unwrap_or_else(|_| panic!("one status per row: {row}"));
            for code in cells[1].split('`').skip(1).step_by(2) {
                assert!(
                    out.insert(code.to_string(), status).is_none(),
                    "{code} twice"
                );
            }
        }
        out
    }

    /// Every code the code can produce, with the status it gets.
    fn produced() -> BTreeMap<String, u16> {
        let refusals = Refusal::all().map(|r| (r.code(), r.kind()));
        let api = ApiRefusal::ALL.iter().map(|r| (r.code(), r.kind()));
        let other = NodeError::OTHER_CODES.iter().copied();
        refusals
            .chain(api)
            .chain(other)
            .map(|(code, kind)| (code.to_string(), status(kind).as_u16()))
            .collect()
    }

    #[test]
    fn the_documented_table_is_the_code() {
        let (docs, code) = (documented(), produced());
        for (c, s) in &code {
            assert_eq!(
                docs.get(c),
                Some(s),
                "`{c}` answers {s}; docs/api.md says {:?}",
                docs.get(c)
            );
        }
        for c in docs.keys() {
            assert!(
                code.contains_key(c),
                "docs/api.md lists `{c}`, which nothing produces"
            );
        }
    }

    #[test]
    fn a_node_refusal_keeps_its_code_and_status() {
        let e: ApiError = NodeError::refused(crate::refusal::PostsRefusal::NoSuchPost, "x").into();
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, "no_such_post"));
        let e: ApiError =
            NodeError::refused(crate::refusal::PostsRefusal::BridgeRefused, "x").into();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_GATEWAY, "bridge_refused")
        );
    }
}
