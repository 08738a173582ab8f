//! Who may talk to the API: the right Host, no foreign Origin, then the
//! bearer token (the CLI) or a web-page session (cookie, plus its CSRF
//! token on every state change).
//!
//! Host and Origin checks stop DNS rebinding and cross-site requests from a
//! browser; the token stops other local users and processes. Checked in
//! that order, so a foreign page learns nothing about the token. The page's
//! own files and the login route need no credential (they hold no data);
//! everything under `/v1/` does.

use super::ApiRefusal;
use std::{
    net::SocketAddr,
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, header},
    middleware::Next,
    response::{IntoResponse as _, Response},
};

use super::{ApiError, ApiState, session::Sessions};

/// The header a page session's state changes carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-kith-csrf";

/// Who a request comes from, once let in (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The bearer token: the CLI, scripts.
    Token,
    /// A logged-in web page.
    Page,
    /// No credential: only the page's own files and the login route.
    Anyone,
}

#[derive(Debug)]
pub(crate) struct Access {
    token: String,
    hosts: Vec<String>,
    origins: Vec<String>,
    /// The session cookie's name: it carries the port, as browsers share
    /// cookies between every port of a host.
    cookie: String,
    sessions: Mutex<Sessions>,
}

impl Access {
    pub(crate) fn new(token: String, addr: SocketAddr) -> Self {
        let port = addr.port();
        let mut hosts = vec![addr.to_string(), format!("localhost:{port}")];
        hosts.dedup();
        let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
        Access {
            token,
            hosts,
            origins,
            cookie: format!("kith_session_{port}"),
            sessions: Mutex::new(Sessions::default()),
        }
    }

    pub(crate) fn cookie_name(&self) -> &str {
        &self.cookie
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, Sessions> {
        // A panic elsewhere while holding the lock leaves valid data behind.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This request's session id, from its cookie.
    pub(crate) fn session_of<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, value)| value)
    }

    /// The CSRF token of this request's live session, if it has one.
    pub(crate) fn page_csrf(&self, headers: &HeaderMap) -> Option<String> {
        let session = self.session_of(headers)?;
        self.sessions().touch(session, Instant::now())
    }

    fn check(&self, request: &Request) -> Result<Caller, ApiError> {
        let headers = request.headers();
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(ApiError::new(
                ApiRefusal::ForbiddenHost,
                format!("Host `{host}` is not this API's address"),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
                return Err(ApiError::new(
                    ApiRefusal::ForbiddenOrigin,
                    format!("Origin `{origin}` may not use this API"),
                ));
            }
        }
        if !request.uri().path().starts_with("/v1/") {
            return Ok(Caller::Anyone);
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(presented) = presented {
            if constant_time_eq(presented.trim().as_bytes(), self.token.as_bytes()) {
                return Ok(Caller::Token);
            }
        } else if let Some(csrf) = self.page_csrf(headers) {
            return page_may(request, &csrf).map(|()| Caller::Page);
        }
        Err(ApiError::new(
            ApiRefusal::Unauthorized,
            "missing or wrong bearer token (it is in $KITH_HOME/api-token), \
             or no web-page session (run `kith open`)",
        ))
    }
}

/// A page session's request must come from the page itself: a browser
/// names the site that started it (`Sec-Fetch-Site`), and every state
/// change carries the session's CSRF token, which only the page knows.
fn page_may(request: &Request, csrf: &str) -> Result<(), ApiError> {
    let headers = request.headers();
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return Err(ApiError::new(
            ApiRefusal::ForbiddenCsrf,
            "another site started this request",
        ));
    }
    if request.method() != Method::GET {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !constant_time_eq(presented.as_bytes(), csrf.as_bytes()) {
            return Err(ApiError::new(
                ApiRefusal::ForbiddenCsrf,
                "missing or wrong CSRF token for this page session",
            ));
        }
    }
    Ok(())
}

pub(crate) async fn guard(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Response {
    match state.access.check(&request) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => {
            tracing::debug!(code = e.code, path = %request.uri().path(), "API request refused");
            e.into_response()
        }
    }
}

/// Compare without revealing, through timing, how much of the token matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str, origin: Option<&str>, token: Option<&str>) -> Request {
        let mut b = Request::builder()
            .uri("/v1/status")
            .header(header::HOST, host);
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    fn access() -> Access {
        Access::new("secret".into(), "127.0.0.1:4000".parse().unwrap())
    }

    #[test]
    fn accepts_own_host_and_origin() {
        assert_eq!(
            access().check(&request("127.0.0.1:4000", None, Some("secret"))),
            Ok(Caller::Token)
        );
        let r = request(
            "localhost:4000",
            Some("http://127.0.0.1:4000"),
            Some("secret"),
        );
        assert_eq!(access().check(&r), Ok(Caller::Token));
    }

    /// A page request: the session cookie, a method, and optionally the
    /// CSRF header and the site the browser says started it.
    fn page_request(
        access: &Access,
        method: &str,
        session: &str,
        csrf: Option<&str>,
        site: Option<&str>,
    ) -> Request {
        let mut b = Request::builder()
            .method(method)
            .uri("/v1/profile/set")
            .header(header::HOST, "127.0.0.1:4000")
            .header(
                header::COOKIE,
                format!("other=1; {}={session}", access.cookie_name()),
            );
        if let Some(c) = csrf {
            b = b.header(CSRF_HEADER, c);
        }
        if let Some(s) = site {
            b = b.header("sec-fetch-site", s);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    fn logged_in() -> (Access, String, String) {
        let access = access();
        let (code, id, csrf) = (
            crate::api::session::secret().unwrap(),
            crate::api::session::secret().unwrap(),
            crate::api::session::secret().unwrap(),
        );
        let now = std::time::Instant::now();
        access.sessions().add_code(code.clone(), now);
        assert!(
            access
                .sessions()
                .log_in(&code, id.clone(), csrf.clone(), now)
        );
        (access, id, csrf)
    }

    #[test]
    fn a_page_session_needs_its_csrf_token_to_change_anything() {
        let (access, id, csrf) = logged_in();
        let check = |r: Request| access.check(&r).map_err(|e| e.code);
        let same = Some("same-origin");
        assert_eq!(
            check(page_request(&access, "GET", &id, None, same)),
            Ok(Caller::Page)
        );
        assert_eq!(
            check(page_request(&access, "POST", &id, Some(&csrf), same)),
            Ok(Caller::Page)
        );
        assert_eq!(
            check(page_request(&access, "POST", &id, None, same)),
            Err("forbidden_csrf")
        );
        assert_eq!(
            check(page_request(&access, "POST", &id, Some("guess"), same)),
            Err("forbidden_csrf")
        );
        assert_eq!(
            check(page_request(&access, "GET", &id, None, Some("same-site"))),
            Err("forbidden_csrf"),
            "another port of 127.0.0.1 is the same site, not the same origin"
        );
        assert_eq!(
            check(page_request(&access, "GET", "forged", None, same)),
            Err("unauthorized")
        );
        let page = Request::builder()
            .uri("/")
            .header(header::HOST, "127.0.0.1:4000")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(access.check(&page), Ok(Caller::Anyone));
    }

    #[test]
    fn refuses_foreign_host_origin_and_bad_tokens() {
        let code = |r| access().check(&r).unwrap_err().code;
        assert_eq!(
            code(request("evil.example", None, Some("secret"))),
            "forbidden_host"
        );
        assert_eq!(
            code(request("127.0.0.1:4001", None, Some("secret"))),
            "forbidden_host"
        );
        assert_eq!(
            code(request(
                "127.0.0.1:4000",
                Some("http://evil.example"),
                Some("secret")
            )),
            "forbidden_origin"
        );
        assert_eq!(
            code(request("127.0.0.1:4000", Some("null"), Some("secret"))),
            "forbidden_origin"
        );
        assert_eq!(code(request("127.0.0.1:4000", None, None)), "unauthorized");
        assert_eq!(
            code(request("127.0.0.1:4000", None, Some("secre"))),
            "unauthorized"
        );
        assert_eq!(
            code(request("127.0.0.1:4000", None, Some("secrets"))),
            "unauthorized"
        );
    }
}
