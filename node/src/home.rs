//! The node's home directory: which file lives where, creating an account, loading it back.
//!
//! ```text
//! $KITH_HOME/
//!   keys/account.key   account secret key (0600; absent on devices linked without --admin)
//!   keys/device.key    this device's secret key (0600)
//!   device.cert        the account's certificate for this device (hex)
//!   keys/recovering    while a social recovery is under way (no device.cert
//!                      yet): {"account","device_name"}
//!   config.toml        optional settings (see config.example.toml)
//!   api-token          bearer token of the local API (0600)
//!   daemon.lock        held (flock) by the running daemon
//!   daemon.json        {"pid","api","listen"} while a daemon runs
//!   db/                sled database (see store.rs)
//! ```

use std::{
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
};

use kith_keys::{AccountId, AccountKey, DeviceCert, DeviceId, DeviceKey, KeyFileError};

/// Where a node keeps everything.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

/// The keys and certificate that make this device a device of an account.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Present only on devices that hold the account key.
    pub account_key: Option<AccountKey>,
    pub device_key: DeviceKey,
    pub cert: DeviceCert,
}

impl Identity {
    /// A brand-new account with this device as its first device.
    pub fn generate(device_name: &str, now: u64) -> Result<Self, HomeError> {
        Self::new_device_of(AccountKey::generate(), device_name, now)
    }

    /// A new device key for an existing account, certified by its key (a
    /// recovery from the paper key or an export).
    pub fn new_device_of(
        account_key: AccountKey,
        device_name: &str,
        now: u64,
    ) -> Result<Self, HomeError> {
        let device_key = DeviceKey::generate();
        let cert = DeviceCert::issue(&account_key, device_key.id(), device_name, now)
            .map_err(|e| HomeError::InvalidDeviceName(e.to_string()))?;
        Ok(Identity {
            account_key: Some(account_key),
            device_key,
            cert,
        })
    }

    pub fn account(&self) -> AccountId {
        self.cert.account
    }

    pub fn device(&self) -> DeviceId {
        self.device_key.id()
    }
}

/// A social recovery under way: the account asked for and this device's new key.
#[derive(Debug, Clone)]
pub struct Recovering {
    pub account: AccountId,
    pub device_name: String,
    pub device_key: DeviceKey,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct RecoveringMarker {
    account: AccountId,
    device_name: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    #[error("{0} already holds an account ({1}); nothing was changed")]
    AlreadyInitialised(PathBuf, AccountId),
    #[error("{0} holds no account yet (create one with: kith init)")]
    NotInitialised(PathBuf),
    #[error("key file {0} is corrupt: {1}")]
    CorruptKey(PathBuf, KeyFileError),
    #[error("device certificate {0} is corrupt: {1}")]
    CorruptCert(PathBuf, String),
    #[error(
        "this home is still recovering account {0}: start `kith daemon`, connect to your friends and have them approve"
    )]
    Recovering(AccountId),
    #[error("invalid device name: {0}")]
    InvalidDeviceName(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> HomeError + '_ {
    move |source| HomeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    /// `--home`, else `$KITH_HOME` (clap handles both), else the platform data dir.
    pub fn default_root() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("kith")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn account_key_path(&self) -> PathBuf {
        self.root.join("keys").join("account.key")
    }
    pub fn device_key_path(&self) -> PathBuf {
        self.root.join("keys").join("device.key")
    }
    pub fn cert_path(&self) -> PathBuf {
        self.root.join("device.cert")
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn api_token_path(&self) -> PathBuf {
        self.root.join("api-token")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("daemon.lock")
    }
    pub fn daemon_info_path(&self) -> PathBuf {
        self.root.join("daemon.json")
    }
    pub fn db_path(&self) -> PathBuf {
        self.root.join("db")
    }

    pub fn recovering_path(&self) -> PathBuf {
        self.root.join("keys").join("recovering")
    }

    pub fn is_initialised(&self) -> bool {
        self.device_key_path().exists() || self.cert_path().exists()
    }

    /// Write a new identity into an empty home. Refuses, touching nothing, if
    /// the home already holds one.
    pub fn create(&self, identity: &Identity) -> Result<(), HomeError> {
        if self.is_initialised() {
            return Err(match self.load() {
                Ok(existing) => {
                    HomeError::AlreadyInitialised(self.root.clone(), existing.account())
                }
                Err(e) => e,
            });
        }
        let keys = self.root.join("keys");
        fs::create_dir_all(&keys).map_err(io_err(&keys))?;
        restrict_dir(&self.root)?;
        restrict_dir(&keys)?;
        if let Some(account_key) = &identity.account_key {
            write_private(
                &self.account_key_path(),
                account_key.to_file_text().as_bytes(),
            )?;
        }
        write_private(
            &self.device_key_path(),
            identity.device_key.to_file_text().as_bytes(),
        )?;
        // The certificate is written last: its presence marks a complete home.
        write_private(
            &self.cert_path(),
            to_hex(&identity.cert.to_bytes()).as_bytes(),
        )?;
        Ok(())
    }

    /// Begin a social recovery of `account` on an empty home: a new device
    /// key and the `recovering` marker, no certificate yet. Run again for
    /// the same account, it returns the key already made (so the code
    /// shown stays the same).
    pub fn start_recovery(
        &self,
        account: AccountId,
        device_name: &str,
    ) -> Result<DeviceKey, HomeError> {
        if let Some(recovering) = self.recovering()? {
            if recovering.account == account {
                return Ok(recovering.device_key);
            }
            return Err(HomeError::Recovering(recovering.account));
        }
        if self.is_initialised() {
            return Err(match self.load() {
                Ok(existing) => {
                    HomeError::AlreadyInitialised(self.root.clone(), existing.account())
                }
                Err(e) => e,
            });
        }
        if device_name.is_empty() || device_name.len() > kith_keys::MAX_DEVICE_NAME_LEN {
            return Err(HomeError::InvalidDeviceName(format!(
                "1 to {} bytes",
                kith_keys::MAX_DEVICE_NAME_LEN
            )));
        }
        let keys = self.root.join("keys");
        fs::create_dir_all(&keys).map_err(io_err(&keys))?;
        restrict_dir(&self.root)?;
        restrict_dir(&keys)?;
        let device_key = DeviceKey::generate();
        let marker = RecoveringMarker {
            account,
            device_name: device_name.to_string(),
        };
        let json = serde_json::to_vec(&marker).unwrap_or_default();
        // The marker first: a device key without a certificate or a
        // marker would be a broken home.
        write_private(&self.recovering_path(), &json)?;
        write_private(
            &self.device_key_path(),
            device_key.to_file_text().as_bytes(),
        )?;
        Ok(device_key)
    }

    /// The social recovery under way on this home, if any.
    pub fn recovering(&self) -> Result<Option<Recovering>, HomeError> {
        let path = self.recovering_path();
        if self.cert_path().exists() || !path.exists() {
            return Ok(None);
        }
        let marker: RecoveringMarker = serde_json::from_str(&read(&path)?)
            .map_err(|e| HomeError::CorruptCert(path.clone(), e.to_string()))?;
        let device_path = self.device_key_path();
        let device_key = DeviceKey::from_file_text(&read(&device_path)?)
            .map_err(|e| HomeError::CorruptKey(device_path.clone(), e))?;
        Ok(Some(Recovering {
            account: marker.account,
            device_name: marker.device_name,
            device_key,
        }))
    }

    /// The friends gave the account key back: write it and this device's
    /// certificate, then drop the marker (the certificate's presence is
    /// what makes the home complete).
    pub fn finish_recovery(&self, identity: &Identity) -> Result<(), HomeError> {
        if let Some(account_key) = &identity.account_key {
            write_private(
                &self.account_key_path(),
                account_key.to_file_text().as_bytes(),
            )?;
        }
        write_private(
            &self.cert_path(),
            to_hex(&identity.cert.to_bytes()).as_bytes(),
        )?;
        let marker = self.recovering_path();
        fs::remove_file(&marker).map_err(io_err(&marker))?;
        Ok(())
    }

    /// Read the identity back, checking that every piece fits the others.
    pub fn load(&self) -> Result<Identity, HomeError> {
        if !self.is_initialised() {
            return Err(HomeError::NotInitialised(self.root.clone()));
        }
        if let Some(recovering) = self.recovering()? {
            return Err(HomeError::Recovering(recovering.account));
        }
        let device_path = self.device_key_path();
        let device_key = DeviceKey::from_file_text(&read(&device_path)?)
            .map_err(|e| HomeError::CorruptKey(device_path.clone(), e))?;
        let cert_path = self.cert_path();
        let corrupt_cert = |why: String| HomeError::CorruptCert(cert_path.clone(), why);
        let cert_bytes =
            from_hex(read(&cert_path)?.trim()).ok_or_else(|| corrupt_cert("not hex".into()))?;
        let cert = DeviceCert::from_bytes(&cert_bytes).map_err(|e| corrupt_cert(e.to_string()))?;
        cert.verify().map_err(|e| corrupt_cert(e.to_string()))?;
        if cert.device != device_key.id() {
            return Err(corrupt_cert("it certifies another device key".into()));
        }
        let account_path = self.account_key_path();
        let account_key = match fs::read_to_string(&account_path) {
            Ok(text) => {
                let key = AccountKey::from_file_text(&text)
                    .map_err(|e| HomeError::CorruptKey(account_path.clone(), e))?;
                if key.id() != cert.account {
                    return Err(HomeError::CorruptKey(account_path, KeyFileError::Mismatch));
                }
                Some(key)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&account_path)(e)),
        };
        Ok(Identity {
            account_key,
            device_key,
            cert,
        })
    }

    /// The local API token, created on first use.
    pub fn api_token(&self) -> Result<String, HomeError> {
        let path = self.api_token_path();
        match fs::read_to_string(&path) {
            Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| io_err(&path)(io::Error::other(e)))?;
        let token = to_hex(&bytes);
        write_private(&path, token.as_bytes())?;
        Ok(token)
    }
}

fn read(path: &Path) -> Result<String, HomeError> {
    fs::read_to_string(path).map_err(io_err(path))
}

/// Write a file readable only by its owner, atomically: a crash leaves either
/// the old file or the new one, never half of one.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), HomeError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    file.write_all(contents).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

fn restrict_dir(dir: &Path) -> Result<(), HomeError> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let identity = Identity::generate("laptop", 1).unwrap();
        home.create(&identity).unwrap();
        let loaded = home.load().unwrap();
        assert_eq!(loaded.account(), identity.account());
        assert_eq!(loaded.device(), identity.device());
        assert!(loaded.account_key.is_some());
    }

    #[test]
    fn second_create_refuses_and_keeps_keys() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let first = Identity::generate("a", 1).unwrap();
        home.create(&first).unwrap();
        let before = fs::read(home.device_key_path()).unwrap();
        let err = home
            .create(&Identity::generate("b", 2).unwrap())
            .unwrap_err();
        assert!(matches!(err, HomeError::AlreadyInitialised(_, id) if id == first.account()));
        assert_eq!(fs::read(home.device_key_path()).unwrap(), before);
    }

    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.create(&Identity::generate("a", 1).unwrap()).unwrap();
        for path in [home.account_key_path(), home.device_key_path()] {
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        home.api_token().unwrap();
        let mode = fs::metadata(home.api_token_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn corrupt_key_file_is_reported_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.create(&Identity::generate("a", 1).unwrap()).unwrap();
        let text = fs::read_to_string(home.device_key_path()).unwrap();
        fs::write(
            home.device_key_path(),
            text.replacen("secret = ", "secret = ff", 1),
        )
        .unwrap();
        let err = home.load().unwrap_err();
        assert!(
            matches!(err, HomeError::CorruptKey(ref p, _) if p.ends_with("device.key")),
            "{err}"
        );
    }

    #[test]
    fn api_token_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let token = home.api_token().unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(home.api_token().unwrap(), token);
    }
}
