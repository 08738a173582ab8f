//! Social recovery routes: giving out shares, who holds them, friends'
//! recovering devices and approving them.

use axum::{Json, body::Bytes, extract::State, extract::rejection::BytesRejection};
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiState,
    routes::{parse_account, parse_body},
};
use crate::store::RecoverySetup;

#[derive(Debug, Serialize, Deserialize)]
pub struct RecoverySetupRequest {
    pub friends: Vec<String>,
    pub threshold: u8,
}

/// `POST /v1/recovery/setup`'s answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecoverySetupJson {
    pub threshold: u8,
    pub friends: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HolderJson {
    pub account: String,
    /// The friend's node confirmed it stores its share.
    pub holds: bool,
    /// Why the friend's node refused the share, if it did.
    #[serde(default)]
    pub error: Option<String>,
}

/// `GET /v1/recovery/status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecoveryStatusJson {
    pub threshold: u8,
    pub friends: Vec<HolderJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RecoveryRequestJson {
    pub account: String,
    pub device: String,
    /// When the device first asked (unix seconds).
    pub at: u64,
    pub approved: bool,
}

/// `GET /v1/recovery/requests`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecoveryRequestsJson {
    pub requests: Vec<RecoveryRequestJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ApproveRequest {
    pub account: String,
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ApproveResponse {
    pub account: String,
    pub device: String,
    pub approved: bool,
}

pub(super) async fn setup(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RecoverySetupJson>, ApiError> {
    let request: RecoverySetupRequest = parse_body(body)?;
    let friends = request
        .friends
        .iter()
        .map(|f| parse_account(f))
        .collect::<Result<Vec<_>, _>>()?;
    let setup = state
        .node
        .recovery_setup(friends, request.threshold)
        .await?;
    Ok(Json(RecoverySetupJson {
        threshold: setup.threshold,
        friends: setup
            .holders
            .iter()
            .map(|h| h.account.to_string())
            .collect(),
    }))
}

pub(super) async fn status(
    State(state): State<ApiState>,
) -> Result<Json<RecoveryStatusJson>, ApiError> {
    let setup: RecoverySetup = state.node.recovery_status().await?;
    Ok(Json(RecoveryStatusJson {
        threshold: setup.threshold,
        friends: setup
            .holders
            .into_iter()
            .map(|h| HolderJson {
                account: h.account.to_string(),
                holds: h.holds,
                error: h.error,
            })
            .collect(),
    }))
}

pub(super) async fn requests(
    State(state): State<ApiState>,
) -> Result<Json<RecoveryRequestsJson>, ApiError> {
    let asking = state.node.recovery_requests().await?;
    Ok(Json(RecoveryRequestsJson {
        requests: asking
            .into_iter()
            .map(|a| RecoveryRequestJson {
                account: a.account.to_string(),
                device: a.device.to_string(),
                at: a.at,
                approved: a.approved,
            })
            .collect(),
    }))
}

pub(super) async fn approve(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ApproveResponse>, ApiError> {
    let request: ApproveRequest = parse_body(body)?;
    let account = parse_account(&request.account)?;
    let device = state.node.recovery_approve(account, request.code).await?;
    Ok(Json(ApproveResponse {
        account: account.to_string(),
        device: device.to_string(),
        approved: true,
    }))
}
