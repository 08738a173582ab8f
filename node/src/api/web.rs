//! The local web page: its files (compiled into the binary), the one-time
//! login from `kith open`, QR codes, and the headers that keep it from
//! being framed or fed foreign content.

use std::time::Instant;

use axum::{
    Extension, Json,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiRefusal, ApiState,
    auth::Caller,
    session::{self, LOGIN_CODE_TTL},
};

const PAGE: &str = include_str!("../web/index.html");
const SCRIPT: &str = include_str!("../web/app.js");
const STYLE: &str = include_str!("../web/app.css");

/// Where the page's session CSRF token goes in `index.html`.
const CSRF_SLOT: &str = "{{csrf}}";

/// Longest text `GET /v1/qr` draws (a ticket is well under this).
pub const MAX_QR_TEXT: usize = 1024;

/// What a browser without a session sees: no account data at all.
const LOGGED_OUT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Kith</title><link rel=\"stylesheet\" href=\"/app.css\"></head><body><main class=\"login\">\
<h1>Kith</h1><p>This page needs a login link. Run <code>kith open</code> on this computer; \
each link works once, for two minutes.</p></main></body></html>";

/// Headers every response carries: only this origin's files and
/// connections, never inside a frame, no sniffing, no caching, no referrer.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cache-control", "no-store");
    set(headers, "cross-origin-resource-policy", "same-origin");
    response
}

/// `GET /`: the page for a logged-in browser, else how to log in.
pub(super) async fn page(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    match state.access.page_csrf(&headers) {
        Some(csrf) => Html(PAGE.replace(CSRF_SLOT, &csrf)).into_response(),
        None => (StatusCode::UNAUTHORIZED, Html(LOGGED_OUT)).into_response(),
    }
}

pub(super) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

pub(super) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    code: String,
}

/// `GET /login?code=…`: spend a one-time code, start a session (an
/// HttpOnly, SameSite=Strict cookie) and send the browser to `/`, which
/// takes the code out of the address bar and its history entry.
pub(super) async fn login(
    State(state): State<ApiState>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let (Some(id), Some(csrf)) = (session::secret(), session::secret()) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response();
    };
    let now = Instant::now();
    if !state
        .access
        .sessions()
        .log_in(&query.code, id.clone(), csrf, now)
    {
        tracing::info!("a used, expired or unknown login link was refused");
        return (StatusCode::UNAUTHORIZED, Html(LOGGED_OUT)).into_response();
    }
    tracing::info!("the web page logged in");
    let cookie = format!(
        "{}={id}; HttpOnly; SameSite=Strict; Path=/",
        state.access.cookie_name()
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /v1/open` (`kith open`): a one-time login link. Only the bearer
/// token may ask: a page session must not extend itself.
#[derive(Debug, Serialize, Deserialize)]
pub struct OpenResponse {
    pub url: String,
    /// Unix seconds after which the link no longer works.
    pub expires_at: u64,
}

pub(super) async fn open(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Json<OpenResponse>, ApiError> {
    if caller != Caller::Token {
        return Err(ApiError::new(
            ApiRefusal::TokenRequired,
            "only the bearer token (the CLI) may make login links",
        ));
    }
    let code = session::secret()
        .ok_or_else(|| ApiError::new(ApiRefusal::BadRequest, "no randomness for a login code"))?;
    state
        .access
        .sessions()
        .add_code(code.clone(), Instant::now());
    // The Host header already passed the check: it is this API's address.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    Ok(Json(OpenResponse {
        url: format!("http://{host}/login?code={code}"),
        expires_at: crate::unix_now() + LOGIN_CODE_TTL.as_secs(),
    }))
}

/// `POST /v1/export` (`kith export`): the account key and documents,
/// sealed under the passphrase. Token only: it holds the account key.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportRequest {
    pub passphrase: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportResponse {
    /// The bundle, base64 (standard alphabet).
    pub bundle: String,
}

pub(super) async fn export(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ExportResponse>, ApiError> {
    use base64::Engine as _;
    if caller != Caller::Token {
        return Err(ApiError::new(
            ApiRefusal::TokenRequired,
            "only the bearer token (the CLI) may export the account key",
        ));
    }
    let request: ExportRequest = super::routes::parse_body(body)?;
    let bundle = state.node.export().await?;
    // The key stretching takes a while and much memory: off the runtime.
    let sealed = tokio::task::spawn_blocking(move || {
        crate::backup::seal(&bundle, request.passphrase.as_bytes())
    })
    .await
    .map_err(|e| ApiError::new(ApiRefusal::BadRequest, format!("export failed: {e}")))?
    .map_err(|e| ApiError::new(ApiRefusal::BadRequest, e.to_string()))?;
    Ok(Json(ExportResponse {
        bundle: base64::engine::general_purpose::STANDARD.encode(sealed),
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct QrQuery {
    text: String,
}

/// `GET /v1/qr?text=…`: the text as an SVG QR code, for the page's invite,
/// device-link and account codes.
pub(super) async fn qr(Query(query): Query<QrQuery>) -> Result<Response, ApiError> {
    if query.text.len() > MAX_QR_TEXT {
        return Err(ApiError::new(
            ApiRefusal::QrTooLong,
            format!("QR text is limited to {MAX_QR_TEXT} bytes"),
        ));
    }
    let svg = crate::qr::svg(&query.text)
        .map_err(|e| ApiError::new(ApiRefusal::QrTooLong, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_page_is_under_200_kb_and_has_its_csrf_slot() {
        assert!(PAGE.len() + SCRIPT.len() + STYLE.len() < 200 * 1024);
        assert_eq!(PAGE.matches(CSRF_SLOT).count(), 1);
    }

    #[test]
    fn qr_codes_are_svg_and_bounded() {
        assert!(crate::qr::svg("kithfriend1abc").unwrap().contains("<svg"));
        assert!(crate::qr::svg(&"x".repeat(5000)).is_err());
    }
}
