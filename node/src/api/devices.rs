//! Device routes: pairing tickets, the device list, revocation.

use super::ApiRefusal;
use axum::{Json, body::Bytes, extract::State, extract::rejection::BytesRejection};
use kith_protocol::pairing::DEFAULT_PAIR_TTL_SECS;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, routes::parse_body};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LinkDeviceRequest {
    pub ttl_secs: Option<u64>,
    #[serde(default)]
    pub admin: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LinkDeviceResponse {
    pub ticket: String,
    pub expires_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeviceJson {
    pub device: String,
    pub name: String,
    pub added_at: u64,
    pub revoked: bool,
    pub this: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DevicesJson {
    pub devices: Vec<DeviceJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RevokeRequest {
    pub device: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RevokeResponse {
    pub device: String,
    pub revoked: bool,
}

pub(super) async fn link(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LinkDeviceResponse>, ApiError> {
    let request: LinkDeviceRequest = parse_body(body)?;
    let invite = state
        .node
        .device_link(
            request.ttl_secs.unwrap_or(DEFAULT_PAIR_TTL_SECS),
            request.admin,
        )
        .await?;
    Ok(Json(LinkDeviceResponse {
        ticket: invite.ticket,
        expires_at: invite.expires_at,
    }))
}

pub(super) async fn list(State(state): State<ApiState>) -> Result<Json<DevicesJson>, ApiError> {
    let devices = state.node.devices(None).await?;
    Ok(Json(DevicesJson {
        devices: devices
            .into_iter()
            .map(|d| DeviceJson {
                device: d.device.to_string(),
                name: d.name,
                added_at: d.added_at,
                revoked: d.revoked,
                this: d.this,
            })
            .collect(),
    }))
}

pub(super) async fn revoke(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RevokeResponse>, ApiError> {
    let request: RevokeRequest = parse_body(body)?;
    let device = request.device.trim().parse().map_err(|e| {
        ApiError::new(
            ApiRefusal::InvalidDevice,
            format!("`{}` is not a device id: {e}", request.device),
        )
    })?;
    state.node.revoke_device(device).await?;
    Ok(Json(RevokeResponse {
        device: request.device.trim().to_string(),
        revoked: true,
    }))
}
