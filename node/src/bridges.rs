//! Bridge plugins on the daemon side: their configuration files and the
//! supervised processes that speak the plugin protocol.

mod config;
mod host;
mod redact;

pub use config::{
    BridgeConfig, BridgeConfigError, MAX_BRIDGE_NAME_LEN, MAX_BRIDGES, valid_name as config_name_ok,
};
pub use host::{BridgeHandle, BridgeStatus, CallError, PLUGIN_CALL_TIMEOUT, spawn};
