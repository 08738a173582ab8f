//! Route handlers and the JSON shapes they speak.

use super::ApiRefusal;
use std::convert::Infallible;

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::StatusCode,
    response::sse::{self, KeepAlive, Sse},
};
use futures::{Stream, StreamExt as _};
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use super::{ApiError, ApiState};
use crate::node::Status;

/// `GET /v1/status`, also `kith status --json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusJson {
    pub account: String,
    pub device: String,
    pub listen: Vec<String>,
    pub peers: Vec<PeerJson>,
    /// `public`, `private` or `unknown`: whether others can dial this node.
    #[serde(default)]
    pub reachability: String,
    /// Relay reservations held: the relayed addresses others reach us at.
    #[serde(default)]
    pub relays: Vec<String>,
    pub friends_online: usize,
    /// Incoming friend-handshake messages dropped by flood limits.
    #[serde(default)]
    pub handshakes_dropped: u64,
    /// Document pulls refused under the serving rule.
    #[serde(default)]
    pub pulls_denied: u64,
    /// Received document changes that failed verification.
    #[serde(default)]
    pub changes_rejected: u64,
    /// Documents this node answered pulls for.
    #[serde(default)]
    pub pulls_served: u64,
    /// Changes applied straight from announcements, without a pull.
    #[serde(default)]
    pub changes_inline: u64,
    /// This device is still recovering `account` through its friends.
    #[serde(default)]
    pub recovering: bool,
    /// While recovering: friends' shares received so far.
    #[serde(default)]
    pub shares_received: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PeerJson {
    pub device: String,
    /// `null` until the peer proved its account.
    pub account: Option<String>,
    pub addr: String,
    /// `direct` or `relayed`.
    #[serde(default)]
    pub via: String,
}

impl From<Status> for StatusJson {
    fn from(s: Status) -> Self {
        StatusJson {
            account: s.account.to_string(),
            device: s.device.to_string(),
            listen: s.listen.iter().map(ToString::to_string).collect(),
            peers: s
                .peers
                .into_iter()
                .map(|p| PeerJson {
                    device: p.device.to_string(),
                    account: p.account.map(|a| a.to_string()),
                    addr: p.addr.to_string(),
                    via: p.via.as_str().into(),
                })
                .collect(),
            reachability: s.reachability.as_str().into(),
            relays: s.relays.iter().map(ToString::to_string).collect(),
            friends_online: s.friends_online,
            handshakes_dropped: s.handshakes_dropped,
            pulls_denied: s.pulls_denied,
            changes_rejected: s.changes_rejected,
            pulls_served: s.pulls_served,
            changes_inline: s.changes_inline,
            recovering: s.recovering,
            shares_received: s.shares_received,
        }
    }
}

pub(super) async fn status(State(state): State<ApiState>) -> Result<Json<StatusJson>, ApiError> {
    Ok(Json(state.node.status().await?.into()))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectRequest {
    pub addr: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectResponse {
    pub device: String,
}

pub(super) async fn connect(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ConnectResponse>, ApiError> {
    let request: ConnectRequest = parse_body(body)?;
    let addr: Multiaddr = request.addr.trim().parse().map_err(|e| {
        ApiError::new(
            ApiRefusal::InvalidMultiaddr,
            format!("`{}` is not a multiaddr: {e}", request.addr),
        )
    })?;
    let device = state.node.connect(addr).await?;
    Ok(Json(ConnectResponse {
        device: device.to_string(),
    }))
}

/// `GET /v1/events`: server-sent events, one per node event, named by its type.
pub(super) async fn events(
    State(state): State<ApiState>,
) -> Sse<impl Stream<Item = Result<sse::Event, Infallible>>> {
    let stream = BroadcastStream::new(state.node.subscribe()).map(|item| {
        Ok(match item {
            Ok(event) => sse::Event::default()
                .event(event.name())
                .json_data(&event)
                .unwrap_or_else(|_| sse::Event::default().event("error")),
            Err(BroadcastStreamRecvError::Lagged(missed)) => sse::Event::default()
                .event("lagged")
                .data(missed.to_string()),
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

pub(super) async fn not_found() -> ApiError {
    ApiError::new(ApiRefusal::NotFound, "no such route (see docs/api.md)")
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ApiRefusal::MethodNotAllowed,
        "wrong method for this route (state changes are POST only)",
    )
}

/// Read a JSON request body, turning every failure (too large, not JSON,
/// wrong shape) into an API error instead of axum's plain-text rejections.
pub(super) fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        let refusal = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiRefusal::BodyTooLarge
        } else {
            ApiRefusal::BadRequest
        };
        ApiError::new(refusal, format!("request body: {}", rejection.body_text()))
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ApiRefusal::InvalidJson, format!("request body: {e}")))
}

/// An account id from a request, or `invalid_account`.
pub(super) fn parse_account(text: &str) -> Result<kith_keys::AccountId, ApiError> {
    text.trim().parse().map_err(|e| {
        ApiError::new(
            ApiRefusal::InvalidAccount,
            format!("`{}` is not an account id: {e}", text.trim()),
        )
    })
}

/// `public` (the default) or `friends`, or `invalid_visibility`.
pub(super) fn parse_visibility(text: Option<&str>) -> Result<crate::node::Visibility, ApiError> {
    let text = text.unwrap_or("public");
    crate::node::Visibility::parse(text).ok_or_else(|| {
        ApiError::new(
            ApiRefusal::InvalidVisibility,
            format!("visibility `{text}` is not public or friends"),
        )
    })
}
