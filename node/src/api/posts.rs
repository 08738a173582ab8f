//! Post, feed and bridge routes, and their JSON shapes.

use super::ApiRefusal;
use crate::{node::NodeError, refusal::PostsRefusal};
use std::collections::BTreeMap;

use axum::{
    Json,
    body::Bytes,
    extract::{
        Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
};
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiState,
    routes::{parse_account, parse_body, parse_visibility},
};
use crate::{bridges::BridgeConfig, node::BridgeInfo};

/// Posts `feed` returns when no limit is given.
pub const DEFAULT_FEED_LIMIT: usize = 50;

#[derive(Debug, Serialize, Deserialize)]
pub struct PostRequest {
    pub text: String,
    pub visibility: Option<String>,
    /// Only these bridges (default: all, for a public post).
    pub bridges: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PostResponse {
    pub post: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FeedQuery {
    pub account: Option<String>,
    pub all: Option<bool>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FeedPostJson {
    pub post: String,
    pub account: String,
    pub text: String,
    pub at: u64,
    pub visibility: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FeedJson {
    pub posts: Vec<FeedPostJson>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StatusQuery {
    pub post: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeliveryJson {
    pub bridge: String,
    pub state: String,
    pub url: Option<String>,
    pub error: Option<String>,
    pub attempts: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PostStatusJson {
    pub post: String,
    pub deliveries: Vec<DeliveryJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BridgeAddRequest {
    pub name: String,
    pub plugin: String,
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BridgeNameRequest {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BridgeJson {
    pub name: String,
    pub plugin: String,
    pub state: String,
    pub capabilities: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BridgesJson {
    pub bridges: Vec<BridgeJson>,
}

fn bridge_json(b: BridgeInfo) -> BridgeJson {
    BridgeJson {
        name: b.name,
        plugin: b.plugin,
        state: b.state,
        capabilities: b.capabilities,
    }
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::new(ApiRefusal::BadRequest, e.body_text()))
}

pub(super) async fn post(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PostResponse>, ApiError> {
    let request: PostRequest = parse_body(body)?;
    let visibility = parse_visibility(request.visibility.as_deref())?;
    let post = state
        .node
        .post(request.text, visibility, request.bridges)
        .await?;
    Ok(Json(PostResponse { post }))
}

pub(super) async fn feed(
    State(state): State<ApiState>,
    q: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<FeedJson>, ApiError> {
    let q = query(q)?;
    let account = q.account.map(|a| parse_account(&a)).transpose()?;
    let posts = state
        .node
        .feed(
            account,
            q.all.unwrap_or(false),
            q.limit.unwrap_or(DEFAULT_FEED_LIMIT),
        )
        .await?;
    Ok(Json(FeedJson {
        posts: posts
            .into_iter()
            .map(|p| FeedPostJson {
                post: p.post.id,
                account: p.account.to_string(),
                text: p.post.text,
                at: p.post.at,
                visibility: p.visibility.as_str().into(),
            })
            .collect(),
    }))
}

pub(super) async fn post_status(
    State(state): State<ApiState>,
    q: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<PostStatusJson>, ApiError> {
    let q = query(q)?;
    let deliveries = state.node.post_status(q.post.clone()).await?;
    Ok(Json(PostStatusJson {
        post: q.post,
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryJson {
                bridge: d.bridge,
                state: d.state.as_str().into(),
                url: d.url,
                error: d.error,
                attempts: d.attempts,
            })
            .collect(),
    }))
}

pub(super) async fn bridge_add(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BridgesJson>, ApiError> {
    let request: BridgeAddRequest = parse_body(body)?;
    state
        .node
        .add_bridge(BridgeConfig {
            name: request.name,
            plugin: request.plugin,
            settings: request.settings,
        })
        .await?;
    bridge_list(State(state)).await
}

pub(super) async fn bridge_remove(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BridgesJson>, ApiError> {
    let request: BridgeNameRequest = parse_body(body)?;
    state.node.remove_bridge(request.name).await?;
    bridge_list(State(state)).await
}

pub(super) async fn bridge_list(
    State(state): State<ApiState>,
) -> Result<Json<BridgesJson>, ApiError> {
    Ok(Json(BridgesJson {
        bridges: state
            .node
            .bridges()
            .await?
            .into_iter()
            .map(bridge_json)
            .collect(),
    }))
}

/// `bridge test NAME`: the bridge's state as it is now (running, restarting, failed).
pub(super) async fn bridge_test(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BridgesJson>, ApiError> {
    let request: BridgeNameRequest = parse_body(body)?;
    let bridges = state.node.bridges().await?;
    let Some(bridge) = bridges.into_iter().find(|b| b.name == request.name) else {
        return Err(NodeError::refused(
            PostsRefusal::NoSuchBridge,
            format!("no bridge named `{}`", request.name),
        )
        .into());
    };
    if bridge.state != "running" {
        return Err(ApiError::new(
            ApiRefusal::BridgeDown,
            format!("bridge `{}` is {}", bridge.name, bridge.state),
        ));
    }
    Ok(Json(BridgesJson {
        bridges: vec![bridge_json(bridge)],
    }))
}
