//! Who may talk to the API: the right Host, no foreign Origin, the bearer token.
//!
//! Host and Origin checks stop DNS rebinding and cross-site requests from a
//! browser; the token stops other local users and processes. Checked in
//! that order, so a foreign page learns nothing about the token.

use super::ApiRefusal;
use std::net::SocketAddr;

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse as _, Response},
};

use super::{ApiError, ApiState};

#[derive(Debug)]
pub(crate) struct Access {
    token: String,
    hosts: Vec<String>,
    origins: Vec<String>,
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
        }
    }

    fn check(&self, request: &Request) -> Result<(), ApiError> {
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
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(presented.trim().as_bytes(), self.token.as_bytes()) {
            return Err(ApiError::new(
                ApiRefusal::Unauthorized,
                "missing or wrong bearer token (it is in $KITH_HOME/api-token)",
            ));
        }
        Ok(())
    }
}

pub(crate) async fn guard(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    match state.access.check(&request) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::debug!(code = e.code, path = %request.uri().path(), "API request refused");
            e.into_response()
        }
    }
}

/// Compare without revealing, through timing, how much of the token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
            Ok(())
        );
        let r = request(
            "localhost:4000",
            Some("http://127.0.0.1:4000"),
            Some("secret"),
        );
        assert_eq!(access().check(&r), Ok(()));
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
