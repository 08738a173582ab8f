//! Keeping a bridge's secret settings out of everything the daemon shows or logs.
//!
//! Plugins own platform credentials, and their error messages are free
//! text: a webhook's URL with its token, an access token echoed by a
//! server. Every string that comes from a plugin (errors, delivery URLs,
//! its stderr) passes through the bridge's [`Redactor`] before it reaches a
//! delivery state, an API answer or a log line.

use std::collections::BTreeMap;

/// Settings shorter than this are not treated as secrets (`true`, a port).
const MIN_SECRET_LEN: usize = 6;

const MASK: &str = "[redacted]";

/// The secret-looking pieces of one bridge's settings.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a value containing another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(settings: &BTreeMap<String, String>) -> Self {
        let mut secrets = Vec::new();
        for value in settings.values() {
            secrets.push(value.clone());
            secrets.extend(url_secrets(value));
        }
        secrets.retain(|s| s.len() >= MIN_SECRET_LEN);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

/// The parts of a URL-shaped setting that usually carry a secret: query
/// values, the user-info, and long path segments (webhook tokens), so a
/// plugin that prints the URL in another form still leaks none of them.
fn url_secrets(value: &str) -> Vec<String> {
    let Some((_, rest)) = value.split_once("://") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let (authority, path_and_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        out.push(userinfo.to_string());
        out.extend(userinfo.split(':').map(str::to_string));
    }
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    out.extend(
        path.split('/')
            .filter(|segment| segment.len() >= 16)
            .map(str::to_string),
    );
    for pair in query.split(['&', ';']) {
        if let Some((_, v)) = pair.split_once('=') {
            out.push(v.split('#').next().unwrap_or(v).to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(pairs: &[(&str, &str)]) -> Redactor {
        Redactor::new(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn setting_values_and_the_secret_parts_of_urls_are_masked() {
        let r = redactor(&[
            (
                "url",
                "https://user:hunter22@example.org/hooks/abcdefghijklmnopqrstuv?token=tok12345&x=1",
            ),
            ("token", "s3cr3t-token"),
            ("enabled", "true"),
        ]);
        let leaked = "POST https://example.org/hooks/abcdefghijklmnopqrstuv?token=tok12345 failed; \
                      auth hunter22; bearer s3cr3t-token; enabled true";
        let clean = r.redact(leaked);
        for secret in [
            "tok12345",
            "hunter22",
            "abcdefghijklmnopqrstuv",
            "s3cr3t-token",
        ] {
            assert!(!clean.contains(secret), "{secret} in {clean}");
        }
        assert!(clean.contains("enabled true"), "short values stay: {clean}");
        assert!(clean.contains("https://example.org/hooks/"));
    }
}
