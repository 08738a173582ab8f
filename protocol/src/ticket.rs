//! Tickets: one token of URL-safe text (also a QR code's payload) that says
//! who to reach, where, until when, and carries a one-time secret.
//!
//! ```text
//! text     = prefix || base64url-nopad(payload || sha256(payload)[0..4])
//! prefix   = "kithfriend1" (friend ticket) | "kithdevice1" (device pairing)
//! payload  = version (u8, = 1)
//!            account (32)  device (32)
//!            expires_at (u64 BE, unix seconds)
//!            secret (32)
//!            addr_count (u8, ≤ MAX_TICKET_ADDRS)
//!            addr_count × ( len (u16 BE, ≤ MAX_TICKET_ADDR_LEN) || multiaddr bytes )
//! ```
//!
//! The 4-byte checksum catches typos and truncation before anything is
//! dialled. Parsing is total: bad text is an `Err`, never a panic.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use kith_keys::{AccountId, DeviceId};
use sha2::{Digest as _, Sha256};

pub const VERSION: u8 = 1;

/// Most addresses a ticket carries (a QR code has to stay scannable).
pub const MAX_TICKET_ADDRS: usize = 8;

/// Longest multiaddr in a ticket, in bytes.
pub const MAX_TICKET_ADDR_LEN: usize = 256;

/// Longest ticket text accepted, in characters.
pub const MAX_TICKET_TEXT: usize = 4096;

/// What a ticket is for; each kind has its own text prefix, so one can never
/// be used as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketKind {
    Friend,
    Pairing,
}

impl TicketKind {
    pub fn prefix(self) -> &'static str {
        match self {
            TicketKind::Friend => "kithfriend1",
            TicketKind::Pairing => "kithdevice1",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    pub kind: TicketKind,
    pub account: AccountId,
    pub device: DeviceId,
    pub expires_at: u64,
    pub secret: [u8; 32],
    /// Multiaddrs in their binary form (the node converts them).
    pub addrs: Vec<Vec<u8>>,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("kind", &self.kind)
            .field("account", &self.account)
            .field("device", &self.device)
            .field("expires_at", &self.expires_at)
            .field("secret", &"<redacted>")
            .field("addrs", &self.addrs.len())
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TicketError {
    #[error("not a Kith {expected} ticket")]
    WrongPrefix { expected: &'static str },
    #[error("ticket text is not valid (damaged or cut off?)")]
    Encoding,
    #[error("ticket checksum does not match (damaged or mistyped?)")]
    Checksum,
    #[error("ticket version {0} is not supported by this kith")]
    Version(u8),
    #[error("ticket is malformed: {0}")]
    Malformed(&'static str),
    #[error("ticket expired at {0} (unix time); ask for a new one")]
    Expired(u64),
    #[error("too many addresses in ticket (at most {MAX_TICKET_ADDRS})")]
    TooManyAddrs,
}

impl Ticket {
    pub fn to_text(&self) -> String {
        let payload = self.payload();
        let mut bytes = payload.clone();
        bytes.extend_from_slice(&checksum(&payload));
        format!("{}{}", self.kind.prefix(), URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The payload bytes (what the checksum covers).
    pub fn payload(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        out.extend_from_slice(self.account.as_bytes());
        out.extend_from_slice(self.device.as_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&self.secret);
        let addrs: Vec<&Vec<u8>> = self
            .addrs
            .iter()
            .filter(|a| a.len() <= MAX_TICKET_ADDR_LEN)
            .take(MAX_TICKET_ADDRS)
            .collect();
        out.push(addrs.len() as u8);
        for addr in addrs {
            out.extend_from_slice(&(addr.len() as u16).to_be_bytes());
            out.extend_from_slice(addr);
        }
        out
    }

    /// Parse ticket text of the given kind. Does not check expiry: see [`check_fresh`](Self::check_fresh).
    pub fn parse(kind: TicketKind, text: &str) -> Result<Self, TicketError> {
        let text = text.trim();
        let body = text
            .strip_prefix(kind.prefix())
            .ok_or(TicketError::WrongPrefix {
                expected: kind_name(kind),
            })?;
        if text.len() > MAX_TICKET_TEXT {
            return Err(TicketError::Encoding);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TicketError::Encoding)?;
        if bytes.len() < 4 {
            return Err(TicketError::Encoding);
        }
        let (payload, sum) = bytes.split_at(bytes.len() - 4);
        if checksum(payload) != sum {
            return Err(TicketError::Checksum);
        }
        let mut r = Reader(payload);
        let version = r.u8()?;
        if version != VERSION {
            return Err(TicketError::Version(version));
        }
        let account =
            AccountId::from_bytes(r.array()?).map_err(|_| TicketError::Malformed("account key"))?;
        let device =
            DeviceId::from_bytes(r.array()?).map_err(|_| TicketError::Malformed("device key"))?;
        let expires_at = u64::from_be_bytes(r.array()?);
        let secret = r.array()?;
        let count = usize::from(r.u8()?);
        if count > MAX_TICKET_ADDRS {
            return Err(TicketError::TooManyAddrs);
        }
        let mut addrs = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes(r.array()?));
            if len > MAX_TICKET_ADDR_LEN {
                return Err(TicketError::Malformed("address too long"));
            }
            addrs.push(r.take(len)?.to_vec());
        }
        if !r.0.is_empty() {
            return Err(TicketError::Malformed("trailing bytes"));
        }
        Ok(Ticket {
            kind,
            account,
            device,
            expires_at,
            secret,
            addrs,
        })
    }

    pub fn check_fresh(&self, now: u64) -> Result<(), TicketError> {
        if now >= self.expires_at {
            return Err(TicketError::Expired(self.expires_at));
        }
        Ok(())
    }
}

/// What a node stores of a ticket's secret: its sha256, never the secret.
pub fn secret_hash(secret: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

fn kind_name(kind: TicketKind) -> &'static str {
    match kind {
        TicketKind::Friend => "friend",
        TicketKind::Pairing => "device pairing",
    }
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let hash = Sha256::digest(payload);
    [hash[0], hash[1], hash[2], hash[3]]
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TicketError> {
        if self.0.len() < n {
            return Err(TicketError::Malformed("cut off"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], TicketError> {
        self.take(N)?
            .try_into()
            .map_err(|_| TicketError::Malformed("cut off"))
    }
    fn u8(&mut self) -> Result<u8, TicketError> {
        Ok(self.take(1)?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_keys::{AccountKey, DeviceKey};

    fn golden() -> Ticket {
        Ticket {
            kind: TicketKind::Friend,
            account: AccountKey::from_seed(&[0x11; 32]).id(),
            device: DeviceKey::from_seed(&[0x22; 32]).id(),
            expires_at: 1_700_000_000,
            secret: [0x33; 32],
            // /ip4/127.0.0.1/tcp/4001
            addrs: vec![vec![0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1]],
        }
    }

    /// ```text
    /// 01                                version
    /// d04ab232…c9778737                 account (seed 0x11)
    /// a09aa5f4…3455a4f0                 device (seed 0x22)
    /// 000000006553f100                  expires_at 1_700_000_000
    /// 3333…33                           secret
    /// 01                                one address
    /// 0008 047f000001060fa1             /ip4/127.0.0.1/tcp/4001
    /// ```
    const GOLDEN_PAYLOAD: &str = concat!(
        "01",
        "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737",
        "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0",
        "000000006553f100",
        "3333333333333333333333333333333333333333333333333333333333333333",
        "01",
        "0008047f000001060fa1",
    );

    #[test]
    fn golden_payload_and_text() {
        let ticket = golden();
        assert_eq!(hex::encode(ticket.payload()), GOLDEN_PAYLOAD);
        let text = ticket.to_text();
        assert!(text.starts_with("kithfriend1"));
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{text}"
        );
        assert_eq!(Ticket::parse(TicketKind::Friend, &text).unwrap(), ticket);
    }

    #[test]
    fn kinds_do_not_mix() {
        let text = golden().to_text();
        assert!(matches!(
            Ticket::parse(TicketKind::Pairing, &text),
            Err(TicketError::WrongPrefix { .. })
        ));
    }

    #[test]
    fn damage_is_detected() {
        let text = golden().to_text();
        assert_eq!(
            Ticket::parse(TicketKind::Friend, "garbage-ticket").unwrap_err(),
            TicketError::WrongPrefix { expected: "friend" }
        );
        assert!(Ticket::parse(TicketKind::Friend, &text[..text.len() - 3]).is_err());
        let mut chars: Vec<char> = text.chars().collect();
        let i = chars.len() / 2;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert!(Ticket::parse(TicketKind::Friend, &typo).is_err());
        assert!(Ticket::parse(TicketKind::Friend, "kithfriend1").is_err());
        assert!(Ticket::parse(TicketKind::Friend, "kithfriend1!!!!").is_err());
    }

    #[test]
    fn expiry_is_checked() {
        let ticket = golden();
        assert_eq!(ticket.check_fresh(1_699_999_999), Ok(()));
        assert_eq!(
            ticket.check_fresh(1_700_000_000),
            Err(TicketError::Expired(1_700_000_000))
        );
    }

    #[test]
    fn secret_is_not_in_debug() {
        assert!(!format!("{:?}", golden()).contains("51, 51"));
    }
}
