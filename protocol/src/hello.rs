//! `/kith/hello/1`: on every new connection each side presents its device certificate.
//!
//! The certificate binds the connection's (Noise-authenticated) `PeerId` to an
//! account. A hello whose certificate does not verify, or names a device other
//! than the one at the end of the connection, makes the receiver close the
//! connection.

use kith_keys::{AccountId, DeviceCert, DeviceId, VerifyError};
use serde::{Deserialize, Serialize};

use crate::limits::MAX_AGENT_LEN;

/// The libp2p protocol name.
pub const PROTOCOL: &str = "/kith/hello/1";

/// Current hello version. A peer with another major version is still
/// accepted if its certificate verifies; versions only add fields.
pub const VERSION: u32 = 1;

/// One side's introduction. Sent as the request by whoever opens the stream
/// and as the response by the other side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub cert: DeviceCert,
    /// Software name and version, for logs only.
    pub agent: String,
}

/// Why a hello was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    #[error("device certificate does not verify: {0}")]
    BadCertificate(#[from] VerifyError),
    #[error("certificate is for device {cert}, but the connection is from {connection}")]
    WrongDevice {
        cert: DeviceId,
        connection: DeviceId,
    },
    #[error("agent string is {0} bytes, the limit is {MAX_AGENT_LEN}")]
    AgentTooLong(usize),
}

impl Hello {
    pub fn new(cert: DeviceCert, agent: &str) -> Self {
        Hello {
            version: VERSION,
            cert,
            agent: agent.chars().take(MAX_AGENT_LEN).collect(),
        }
    }

    /// Judge a hello that arrived over a connection from `connection`:
    /// returns the account the peer belongs to.
    pub fn check(&self, connection: &DeviceId) -> Result<AccountId, HelloError> {
        if self.agent.len() > MAX_AGENT_LEN {
            return Err(HelloError::AgentTooLong(self.agent.len()));
        }
        self.cert.verify()?;
        if &self.cert.device != connection {
            return Err(HelloError::WrongDevice {
                cert: self.cert.device,
                connection: *connection,
            });
        }
        Ok(self.cert.account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::{AccountKey, DeviceKey};

    fn setup() -> (AccountKey, DeviceKey, Hello) {
        let account = AccountKey::from_seed(&[1; 32]);
        let device = DeviceKey::from_seed(&[2; 32]);
        let cert = DeviceCert::issue(&account, device.id(), "test", 1_700_000_000).unwrap();
        let hello = Hello::new(cert, "kith/test");
        (account, device, hello)
    }

    #[test]
    fn accepts_matching_certificate() {
        let (account, device, hello) = setup();
        assert_eq!(hello.check(&device.id()), Ok(account.id()));
    }

    #[test]
    fn rejects_certificate_for_another_device() {
        let (_, _, hello) = setup();
        let intruder = DeviceKey::from_seed(&[3; 32]).id();
        assert!(matches!(
            hello.check(&intruder),
            Err(HelloError::WrongDevice { .. })
        ));
    }

    #[test]
    fn rejects_tampered_certificate() {
        let (_, device, mut hello) = setup();
        hello.cert.name = "evil".into();
        assert!(matches!(
            hello.check(&device.id()),
            Err(HelloError::BadCertificate(_))
        ));
    }

    #[test]
    fn rejects_certificate_signed_by_another_account() {
        let (_, device, mut hello) = setup();
        hello.cert.account = AccountKey::from_seed(&[9; 32]).id();
        assert!(matches!(
            hello.check(&device.id()),
            Err(HelloError::BadCertificate(_))
        ));
    }

    #[test]
    fn rejects_oversized_agent() {
        let (_, device, mut hello) = setup();
        hello.agent = "x".repeat(MAX_AGENT_LEN + 1);
        assert_eq!(
            hello.check(&device.id()),
            Err(HelloError::AgentTooLong(MAX_AGENT_LEN + 1))
        );
    }
}
