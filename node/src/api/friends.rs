//! Friend, contact and discoverability routes, and their JSON shapes.

use super::ApiRefusal;
use crate::{node::NodeError, refusal::FriendsRefusal};
use axum::{Json, body::Bytes, extract::State, extract::rejection::BytesRejection};
use kith_protocol::{
    records::IdentifierKind,
    ticket::{Ticket, TicketKind},
};
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiState,
    routes::{parse_account, parse_body},
};
use crate::{
    node::{DiscoverableChange, FriendAction, FriendOutcome, FriendTarget},
    store::{Direction, RequestRecord},
};

/// Default validity of a friend ticket.
pub const DEFAULT_INVITE_TTL_SECS: u64 = 24 * 60 * 60;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct InviteRequest {
    pub ttl_secs: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InviteResponse {
    pub ticket: String,
    pub expires_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AddRequest {
    /// A friend ticket or an account id.
    pub target: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AccountRequest {
    pub account: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct OutcomeJson {
    pub account: String,
    pub state: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RequestJson {
    pub account: String,
    pub name: String,
    pub message: String,
    pub at: u64,
    pub state: String,
    /// Why the last delivery attempt failed (outgoing only).
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RequestsJson {
    pub incoming: Vec<RequestJson>,
    pub outgoing: Vec<RequestJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FriendJson {
    pub account: String,
    pub name: String,
    pub since: u64,
    pub online: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FriendsJson {
    pub friends: Vec<FriendJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SuggestionJson {
    pub account: String,
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SuggestionsJson {
    pub suggestions: Vec<SuggestionJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImportRequest {
    /// The file's text (vCard or CSV).
    pub content: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ImportResponse {
    pub imported: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IdentifierJson {
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IdentifiersJson {
    pub identifiers: Vec<IdentifierJson>,
}

impl From<FriendOutcome> for OutcomeJson {
    fn from(o: FriendOutcome) -> Self {
        OutcomeJson {
            account: o.account.to_string(),
            state: o.state.as_str().into(),
        }
    }
}

fn request_json(r: &RequestRecord) -> RequestJson {
    RequestJson {
        account: r.account.to_string(),
        name: r.name.clone(),
        message: r.message.clone(),
        at: r.at,
        state: r.state.as_str().into(),
        error: r.last_error.clone(),
    }
}

pub(super) async fn invite(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<InviteResponse>, ApiError> {
    let request: InviteRequest = parse_body(body)?;
    let ttl = std::time::Duration::from_secs(request.ttl_secs.unwrap_or(DEFAULT_INVITE_TTL_SECS));
    let invite = state.node.invite(ttl).await?;
    Ok(Json(InviteResponse {
        ticket: invite.ticket,
        expires_at: invite.expires_at,
    }))
}

pub(super) async fn add(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OutcomeJson>, ApiError> {
    let request: AddRequest = parse_body(body)?;
    let text = request.target.trim();
    let target = if text.starts_with(TicketKind::Friend.prefix()) {
        let ticket = Ticket::parse(TicketKind::Friend, text)
            .map_err(|e| ApiError::new(ApiRefusal::InvalidTicket, e.to_string()))?;
        FriendTarget::Ticket(ticket)
    } else if text.starts_with("kith1") {
        FriendTarget::Account(parse_account(text)?)
    } else {
        return Err(ApiError::new(
            ApiRefusal::InvalidTarget,
            format!(
                "`{text}` is neither a friend ticket (kithfriend1…) nor an account id (kith1…)"
            ),
        ));
    };
    Ok(Json(
        state.node.add_friend(target, request.message).await?.into(),
    ))
}

async fn act(
    state: ApiState,
    body: Result<Bytes, BytesRejection>,
    action: FriendAction,
) -> Result<Json<OutcomeJson>, ApiError> {
    let request: AccountRequest = parse_body(body)?;
    let account = parse_account(&request.account)?;
    Ok(Json(
        state.node.act_on_friend(account, action).await?.into(),
    ))
}

pub(super) async fn accept(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OutcomeJson>, ApiError> {
    act(s, body, FriendAction::Accept).await
}

pub(super) async fn decline(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OutcomeJson>, ApiError> {
    act(s, body, FriendAction::Decline).await
}

pub(super) async fn remove(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OutcomeJson>, ApiError> {
    act(s, body, FriendAction::Remove).await
}

pub(super) async fn block(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OutcomeJson>, ApiError> {
    act(s, body, FriendAction::Block).await
}

pub(super) async fn requests(
    State(state): State<ApiState>,
) -> Result<Json<RequestsJson>, ApiError> {
    let records = state.node.friend_requests().await?;
    let side = |d: Direction| {
        records
            .iter()
            .filter(|r| r.direction == d)
            .map(request_json)
            .collect()
    };
    Ok(Json(RequestsJson {
        incoming: side(Direction::Incoming),
        outgoing: side(Direction::Outgoing),
    }))
}

pub(super) async fn list(State(state): State<ApiState>) -> Result<Json<FriendsJson>, ApiError> {
    let friends = state.node.friends().await?;
    Ok(Json(FriendsJson {
        friends: friends
            .into_iter()
            .map(|f| FriendJson {
                account: f.account.to_string(),
                name: f.name,
                since: f.since,
                online: f.online,
            })
            .collect(),
    }))
}

pub(super) async fn suggestions(
    State(state): State<ApiState>,
) -> Result<Json<SuggestionsJson>, ApiError> {
    let suggestions = state.node.suggestions().await?;
    Ok(Json(SuggestionsJson {
        suggestions: suggestions
            .into_iter()
            .map(|s| SuggestionJson {
                account: s.account.to_string(),
                name: s.name,
                reason: s.reason,
            })
            .collect(),
    }))
}

pub(super) async fn import_contacts(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportResponse>, ApiError> {
    let request: ImportRequest = parse_body(body)?;
    let contacts = crate::contacts::parse(&request.content)
        .map_err(|e| ApiError::new(ApiRefusal::InvalidContacts, e.to_string()))?;
    let imported = state.node.import_contacts(contacts).await?;
    Ok(Json(ImportResponse { imported }))
}

fn parse_identifier(
    body: Result<Bytes, BytesRejection>,
) -> Result<(IdentifierKind, String), ApiError> {
    let request: IdentifierJson = parse_body(body)?;
    let kind = IdentifierKind::parse(&request.kind).ok_or_else(|| {
        ApiError::from(NodeError::refused(
            FriendsRefusal::InvalidIdentifier,
            format!("`{}` is not email or phone", request.kind),
        ))
    })?;
    Ok((kind, request.value))
}

async fn discoverable_change(
    state: ApiState,
    change: DiscoverableChange,
) -> Result<Json<IdentifiersJson>, ApiError> {
    let records = state.node.discoverable(change).await?;
    Ok(Json(IdentifiersJson {
        identifiers: records
            .into_iter()
            .map(|r| IdentifierJson {
                kind: r.kind.as_str().into(),
                value: r.value,
            })
            .collect(),
    }))
}

pub(super) async fn discoverable_add(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IdentifiersJson>, ApiError> {
    let (kind, value) = parse_identifier(body)?;
    discoverable_change(s, DiscoverableChange::Add(kind, value)).await
}

pub(super) async fn discoverable_remove(
    State(s): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IdentifiersJson>, ApiError> {
    let (kind, value) = parse_identifier(body)?;
    discoverable_change(s, DiscoverableChange::Remove(kind, value)).await
}

pub(super) async fn discoverable_list(
    State(s): State<ApiState>,
) -> Result<Json<IdentifiersJson>, ApiError> {
    discoverable_change(s, DiscoverableChange::List).await
}
