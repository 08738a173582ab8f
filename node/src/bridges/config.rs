//! `$KITH_HOME/bridges/NAME.json`: one bridge's plugin and settings, mode
//! 0600 (settings hold platform tokens). Never logged, never sent over the API.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::home::{HomeError, write_private};

/// Longest bridge name.
pub const MAX_BRIDGE_NAME_LEN: usize = 32;

/// Most bridges configured at once.
pub const MAX_BRIDGES: usize = 32;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeConfig {
    pub name: String,
    pub plugin: String,
    pub settings: BTreeMap<String, String>,
}

impl std::fmt::Debug for BridgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Settings carry secrets: show their keys only.
        f.debug_struct("BridgeConfig")
            .field("name", &self.name)
            .field("plugin", &self.plugin)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeConfigError {
    #[error("bridge names are 1 to {MAX_BRIDGE_NAME_LEN} lower-case letters, digits or '-'")]
    InvalidName,
    #[error("bridge config {0} is corrupt: {1}")]
    Corrupt(PathBuf, String),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_BRIDGE_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl BridgeConfig {
    pub fn save(&self, dir: &Path) -> Result<(), BridgeConfigError> {
        if !valid_name(&self.name) {
            return Err(BridgeConfigError::InvalidName);
        }
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| BridgeConfigError::Corrupt(dir.to_path_buf(), e.to_string()))?;
        write_private(&dir.join(format!("{}.json", self.name)), &json)?;
        Ok(())
    }

    pub fn remove(dir: &Path, name: &str) -> Result<(), BridgeConfigError> {
        let path = dir.join(format!("{name}.json"));
        std::fs::remove_file(&path).map_err(|e| BridgeConfigError::Io(path, e))
    }

    /// Every configured bridge; a corrupt file is reported, not dropped.
    pub fn load_all(dir: &Path) -> (Vec<BridgeConfig>, Vec<BridgeConfigError>) {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return (good, bad);
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<BridgeConfig>(&b).map_err(|e| e.to_string()))
            {
                Ok(config) => good.push(config),
                Err(e) => bad.push(BridgeConfigError::Corrupt(path, e)),
            }
        }
        good.sort_by(|a, b| a.name.cmp(&b.name));
        (good, bad)
    }

    /// The plugin executable: next to `kith` itself first (reference
    /// bridges ship alongside it), then as given (a path, or found on `PATH`).
    pub fn executable(&self) -> PathBuf {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|d| d.join(&self.plugin)));
        match beside {
            Some(path) if !self.plugin.contains('/') && path.is_file() => path,
            _ => PathBuf::from(&self.plugin),
        }
    }
}
