//! The local HTTP+JSON API on loopback: the only way in for the CLI and the web page.
//!
//! Every request passes [`auth::guard`] (Host, Origin, bearer token) before
//! any route sees it. Routes live under `/v1/`; state changes are POST only.
//! Only this module knows the API's JSON shapes; `docs/api.md` lists them.

mod auth;
mod error;
pub(crate) mod routes;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::DefaultBodyLimit, routing};

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use routes::{ConnectRequest, ConnectResponse, PeerJson, StatusJson};

use crate::node::Node;

/// Largest request body the API reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub(crate) node: Node,
    pub(crate) access: Arc<auth::Access>,
}

/// The API router for `node`, answering only at `addr` with `token`.
pub fn router(node: Node, token: String, addr: SocketAddr) -> Router {
    let state = ApiState {
        node,
        access: Arc::new(auth::Access::new(token, addr)),
    };
    Router::new()
        .route("/v1/status", routing::get(routes::status))
        .route("/v1/connect", routing::post(routes::connect))
        .route("/v1/events", routing::get(routes::events))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}
