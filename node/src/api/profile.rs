//! Profile and link routes, and their JSON shapes.

use super::ApiRefusal;
use std::collections::BTreeMap;

use axum::{
    Json,
    body::Bytes,
    extract::{
        Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
};
use kith_keys::AccountId;
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiState,
    routes::{parse_account, parse_body, parse_visibility},
};

#[derive(Debug, Serialize, Deserialize)]
pub struct SetFieldRequest {
    pub field: String,
    pub value: String,
    /// `public` (default) or `friends`.
    pub visibility: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SetFieldResponse {
    pub field: String,
    pub visibility: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FieldRequest {
    pub field: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FieldJson {
    pub value: String,
    pub visibility: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileJson {
    pub account: String,
    pub fields: BTreeMap<String, FieldJson>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AccountQuery {
    pub account: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LinkRequest {
    pub platform: String,
    pub handle: String,
    #[serde(default)]
    pub proof: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LinkJson {
    pub platform: String,
    pub handle: String,
    pub proof: Option<String>,
    /// Whether this node checked the proof through the platform's bridge and found it valid.
    pub verified: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LinksJson {
    pub links: Vec<LinkJson>,
}

fn account_param(
    query: Result<Query<AccountQuery>, QueryRejection>,
) -> Result<Option<AccountId>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(ApiRefusal::BadRequest, e.body_text()))?;
    query.account.map(|a| parse_account(&a)).transpose()
}

pub(super) async fn set(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SetFieldResponse>, ApiError> {
    let request: SetFieldRequest = parse_body(body)?;
    let visibility = parse_visibility(request.visibility.as_deref())?;
    state
        .node
        .set_field(request.field.clone(), request.value, visibility)
        .await?;
    Ok(Json(SetFieldResponse {
        field: request.field,
        visibility: visibility.as_str().into(),
    }))
}

pub(super) async fn unset(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FieldRequest>, ApiError> {
    let request: FieldRequest = parse_body(body)?;
    state.node.unset_field(request.field.clone()).await?;
    Ok(Json(request))
}

pub(super) async fn show(
    State(state): State<ApiState>,
    query: Result<Query<AccountQuery>, QueryRejection>,
) -> Result<Json<ProfileJson>, ApiError> {
    let view = state.node.profile(account_param(query)?).await?;
    Ok(Json(ProfileJson {
        account: view.account.to_string(),
        fields: view
            .fields
            .into_iter()
            .map(|(name, (value, visibility))| {
                (
                    name,
                    FieldJson {
                        value,
                        visibility: visibility.as_str().into(),
                    },
                )
            })
            .collect(),
    }))
}

async fn links_json(
    state: &ApiState,
    account: Option<AccountId>,
) -> Result<Json<LinksJson>, ApiError> {
    let links = state.node.links(account).await?;
    Ok(Json(LinksJson {
        links: links
            .into_iter()
            .map(|(l, verified)| LinkJson {
                platform: l.platform,
                handle: l.handle,
                proof: (!l.proof.is_empty()).then_some(l.proof),
                verified,
            })
            .collect(),
    }))
}

pub(super) async fn add_link(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LinksJson>, ApiError> {
    let request: LinkRequest = parse_body(body)?;
    state
        .node
        .add_link(
            request.platform,
            request.handle,
            request.proof.unwrap_or_default(),
        )
        .await?;
    links_json(&state, None).await
}

pub(super) async fn remove_link(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LinksJson>, ApiError> {
    let request: LinkRequest = parse_body(body)?;
    state
        .node
        .remove_link(request.platform, request.handle)
        .await?;
    links_json(&state, None).await
}

pub(super) async fn links(
    State(state): State<ApiState>,
    query: Result<Query<AccountQuery>, QueryRejection>,
) -> Result<Json<LinksJson>, ApiError> {
    links_json(&state, account_param(query)?).await
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StatementQuery {
    pub platform: String,
    pub handle: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StatementJson {
    pub statement: String,
}

/// `GET /v1/links/statement?platform=&handle=`: what to post on the platform as proof.
pub(super) async fn statement(
    State(state): State<ApiState>,
    query: Result<Query<StatementQuery>, QueryRejection>,
) -> Result<Json<StatementJson>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ApiRefusal::BadRequest, e.body_text()))?;
    Ok(Json(StatementJson {
        statement: state.node.link_statement(q.platform, q.handle).await?,
    }))
}
