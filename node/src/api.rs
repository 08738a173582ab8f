//! The local HTTP+JSON API on loopback: the only way in for the CLI and the web page.
//!
//! Every request passes [`auth::guard`] (Host, Origin, then the bearer token
//! or a page session) before any route sees it, and every response carries
//! [`web::security_headers`]. Routes live under `/v1/`; state changes are
//! POST only. The page itself is served at `/` (see [`web`]).
//! The API's JSON shapes are defined only here (the CLI reads answers
//! through these same types); `docs/api.md` lists them.

mod auth;
mod devices;
mod error;
mod friends;
mod posts;
mod profile;
mod recovery;
pub(crate) mod routes;
pub mod session;
pub mod web;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::DefaultBodyLimit, routing};

pub use devices::{
    DeviceJson, DevicesJson, LinkDeviceRequest, LinkDeviceResponse, RevokeRequest, RevokeResponse,
};
pub use error::{ApiError, ApiRefusal, ErrorBody, ErrorDetail, status};
pub use friends::{
    AccountRequest, AddRequest, FriendsJson, IdentifierJson, IdentifiersJson, ImportRequest,
    ImportResponse, InviteRequest, InviteResponse, OutcomeJson, RequestsJson, SuggestionsJson,
};
pub use posts::{
    BridgeAddRequest, BridgeJson, BridgeNameRequest, BridgesJson, DeliveryJson, FeedJson,
    FeedPostJson, PostRequest, PostResponse, PostStatusJson,
};
pub use profile::{
    AccountQuery, FieldJson, FieldRequest, LinkJson, LinkRequest, LinksJson, ProfileJson,
    SetFieldRequest, SetFieldResponse, StatementJson, StatementQuery,
};
pub use recovery::{
    ApproveRequest, ApproveResponse, HolderJson, RecoveryRequestJson, RecoveryRequestsJson,
    RecoverySetupJson, RecoverySetupRequest, RecoveryStatusJson,
};
pub use routes::{ConnectRequest, ConnectResponse, PeerJson, StatusJson};
pub use web::{ExportRequest, ExportResponse, OpenResponse};

use crate::node::Node;

/// Largest request body the API reads, in bytes.
pub const MAX_BODY_BYTES: usize = crate::contacts::MAX_CONTACTS_FILE_BYTES + 64 * 1024;

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
        .route("/", routing::get(web::page))
        .route("/login", routing::get(web::login))
        .route("/app.js", routing::get(web::script))
        .route("/app.css", routing::get(web::style))
        .route("/v1/open", routing::post(web::open))
        .route("/v1/qr", routing::get(web::qr))
        .route("/v1/export", routing::post(web::export))
        .route("/v1/status", routing::get(routes::status))
        .route("/v1/connect", routing::post(routes::connect))
        .route("/v1/events", routing::get(routes::events))
        .route("/v1/friends", routing::get(friends::list))
        .route("/v1/friends/invite", routing::post(friends::invite))
        .route("/v1/friends/add", routing::post(friends::add))
        .route("/v1/friends/requests", routing::get(friends::requests))
        .route("/v1/friends/accept", routing::post(friends::accept))
        .route("/v1/friends/decline", routing::post(friends::decline))
        .route("/v1/friends/remove", routing::post(friends::remove))
        .route("/v1/friends/block", routing::post(friends::block))
        .route(
            "/v1/friends/suggestions",
            routing::get(friends::suggestions),
        )
        .route(
            "/v1/contacts/import",
            routing::post(friends::import_contacts),
        )
        .route("/v1/profile", routing::get(profile::show))
        .route("/v1/profile/set", routing::post(profile::set))
        .route("/v1/profile/unset", routing::post(profile::unset))
        .route("/v1/links", routing::get(profile::links))
        .route("/v1/links/add", routing::post(profile::add_link))
        .route("/v1/links/remove", routing::post(profile::remove_link))
        .route("/v1/links/statement", routing::get(profile::statement))
        .route("/v1/posts", routing::post(posts::post))
        .route("/v1/posts/status", routing::get(posts::post_status))
        .route("/v1/feed", routing::get(posts::feed))
        .route("/v1/bridges", routing::get(posts::bridge_list))
        .route("/v1/bridges/add", routing::post(posts::bridge_add))
        .route("/v1/bridges/remove", routing::post(posts::bridge_remove))
        .route("/v1/bridges/test", routing::post(posts::bridge_test))
        .route("/v1/devices", routing::get(devices::list))
        .route("/v1/devices/link", routing::post(devices::link))
        .route("/v1/devices/revoke", routing::post(devices::revoke))
        .route("/v1/recovery/setup", routing::post(recovery::setup))
        .route("/v1/recovery/status", routing::get(recovery::status))
        .route("/v1/recovery/requests", routing::get(recovery::requests))
        .route("/v1/recovery/approve", routing::post(recovery::approve))
        .route("/v1/discoverable", routing::get(friends::discoverable_list))
        .route(
            "/v1/discoverable/add",
            routing::post(friends::discoverable_add),
        )
        .route(
            "/v1/discoverable/remove",
            routing::post(friends::discoverable_remove),
        )
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::map_response(web::security_headers))
        .with_state(state)
}
