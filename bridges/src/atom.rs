//! The Atom bridge: keeps an Atom feed file (RFC 4287) of the posts,
//! rewritten atomically on each post.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use kith_protocol::bridge::{
    Configure, Description, INVALID_PARAMS, PERMANENT, Publish, Published, RpcError, TRANSIENT,
};
use serde::{Deserialize, Serialize};

use crate::{Bridge, check_settings, error};

/// Most entries kept in the feed file; the oldest go first.
pub const MAX_ENTRIES: usize = 500;

#[derive(Debug, Default)]
pub struct Atom {
    path: Option<PathBuf>,
    title: String,
    state: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    text: String,
    at: u64,
    account: String,
}

impl Bridge for Atom {
    fn describe(&self) -> Description {
        Description {
            name: "atom".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: vec!["publish".into()],
        }
    }

    fn configure(&mut self, config: Configure) -> Result<(), RpcError> {
        check_settings(&config.settings, &["path", "title"], &["path"])?;
        let path = PathBuf::from(config.settings.get("path").cloned().unwrap_or_default());
        if path.as_os_str().is_empty() || path.is_dir() {
            return Err(error(INVALID_PARAMS, "path must name a file"));
        }
        self.title = config
            .settings
            .get("title")
            .cloned()
            .unwrap_or_else(|| "Kith posts".into());
        self.path = Some(path);
        self.state = Some(Path::new(&config.state_dir).join("entries.json"));
        Ok(())
    }

    fn publish(&mut self, post: Publish) -> Result<Published, RpcError> {
        let (Some(path), Some(state)) = (&self.path, &self.state) else {
            return Err(error(PERMANENT, "not configured"));
        };
        let mut entries: BTreeMap<String, Entry> = match std::fs::read(state) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| error(PERMANENT, format!("state file is corrupt: {e}")))?,
            Err(_) => BTreeMap::new(),
        };
        // The post id is the idempotency key: a repeat changes nothing.
        entries.entry(post.post.clone()).or_insert(Entry {
            text: post.text,
            at: post.at,
            account: post.account,
        });
        while entries.len() > MAX_ENTRIES {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        let state_json =
            serde_json::to_vec(&entries).map_err(|e| error(PERMANENT, e.to_string()))?;
        write_atomically(state, &state_json)?;
        write_atomically(path, render(&self.title, &entries).as_bytes())?;
        Ok(Published {
            remote_id: post.post.clone(),
            url: Some(format!("{}#{}", path.display(), post.post)),
        })
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RpcError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| error(TRANSIENT, format!("cannot write {}: {e}", path.display())))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// RFC 3339 UTC from unix seconds (civil-from-days, Howard Hinnant's algorithm).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn render(title: &str, entries: &BTreeMap<String, Entry>) -> String {
    let mut sorted: Vec<(&String, &Entry)> = entries.iter().collect();
    sorted.sort_by_key(|(_, e)| std::cmp::Reverse(e.at));
    let updated = sorted.first().map(|(_, e)| e.at).unwrap_or(0);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n",
    );
    out.push_str(&format!(
        "  <title>{}</title>\n  <id>urn:kith:feed</id>\n  <updated>{}</updated>\n",
        escape(title),
        rfc3339(updated)
    ));
    for (id, e) in sorted {
        let summary: String = e.text.chars().take(80).collect();
        out.push_str(&format!(
            "  <entry>\n    <id>urn:kith:post:{}</id>\n    <title>{}</title>\n    <updated>{}</updated>\n    <author><name>{}</name></author>\n    <content type=\"text\">{}</content>\n  </entry>\n",
            escape(id),
            escape(&summary),
            rfc3339(e.at),
            escape(&e.account),
            escape(&e.text)
        ));
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn publishing_twice_keeps_one_entry_and_escapes_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut atom = Atom::default();
        let mut settings = BTreeMap::new();
        settings.insert(
            "path".to_string(),
            dir.path().join("feed.xml").display().to_string(),
        );
        atom.configure(Configure {
            settings,
            state_dir: dir.path().display().to_string(),
        })
        .unwrap();
        let post = Publish {
            post: "p1".into(),
            text: "a <b> & c".into(),
            at: 1_700_000_000,
            account: "kith1x".into(),
        };
        atom.publish(post.clone()).unwrap();
        atom.publish(post).unwrap();
        let xml = std::fs::read_to_string(dir.path().join("feed.xml")).unwrap();
        assert_eq!(xml.matches("<entry>").count(), 1);
        assert!(xml.contains("a &lt;b&gt; &amp; c"));
        assert!(xml.starts_with("<?xml"));
    }

    #[test]
    fn unknown_settings_are_named() {
        let mut atom = Atom::default();
        let mut settings = BTreeMap::new();
        settings.insert("pth".to_string(), "x".to_string());
        let err = atom
            .configure(Configure {
                settings,
                state_dir: ".".into(),
            })
            .unwrap_err();
        assert!(err.message.contains("pth"));
    }
}
