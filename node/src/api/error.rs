//! API errors: an HTTP status plus `{"error":{"code","message"}}` with a stable snake_case code.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use crate::node::NodeError;

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
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
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
        let code = match &e {
            NodeError::ActorDropped => "node_stopped",
            NodeError::Listen { .. } => "listen_failed",
            NodeError::Dial { .. } => "dial_failed",
            NodeError::DialTimeout(_) => "dial_timeout",
            NodeError::DialSelf(_) => "dial_self",
            NodeError::Network(_) => "network_error",
            NodeError::Store(_) => "storage_error",
            NodeError::Refused { code, .. } => code,
            #[allow(unreachable_patterns)]
            _ => "internal",
        };
        let status = match &e {
            NodeError::Dial { .. } | NodeError::DialSelf(_) => StatusCode::BAD_GATEWAY,
            NodeError::DialTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            NodeError::ActorDropped => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Refused { code, .. } => match *code {
                "no_such_request" | "not_a_friend" | "not_discoverable" | "no_such_field"
                | "no_such_link" | "unknown_account" => StatusCode::NOT_FOUND,
                "already_friends" | "refused" | "bad_accept" | "already_revoked"
                | "revoke_self" => StatusCode::CONFLICT,
                "no_account_key" => StatusCode::FORBIDDEN,
                "too_many_invites" => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::BAD_REQUEST,
            },
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, code, e.to_string())
    }
}
