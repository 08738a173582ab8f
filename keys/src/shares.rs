//! Shamir shares of an account key: `threshold` of them give the key back,
//! fewer reveal nothing about it (social recovery). Pure; the field
//! arithmetic is the `blahaj` crate's (GF(256), one polynomial per byte).

use blahaj::{Share, Sharks};
use zeroize::Zeroizing;

use crate::{AccountId, AccountKey, KEY_LEN};

/// Most shares one key is split into (friends asked to hold one each).
pub const MAX_SHARES: u8 = 16;

/// Length of one share's bytes: its x coordinate and one byte per key byte.
pub const SHARE_LEN: usize = KEY_LEN + 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    #[error(
        "the threshold must be between 1 and the number of shares ({count}); it was {threshold}"
    )]
    BadThreshold { threshold: u8, count: u8 },
    #[error("at most {MAX_SHARES} shares; asked for {0}")]
    TooMany(u8),
    #[error("{have} distinct shares given; {threshold} are needed")]
    NotEnough { have: usize, threshold: u8 },
    #[error("a share is malformed")]
    Malformed,
    #[error("the shares do not combine into this account's key")]
    WrongKey,
}

/// Split the account key into `count` shares, any `threshold` of which
/// recover it. Each share is [`SHARE_LEN`] bytes.
pub fn split(
    key: &AccountKey,
    threshold: u8,
    count: u8,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShareError> {
    if count > MAX_SHARES {
        return Err(ShareError::TooMany(count));
    }
    if threshold == 0 || threshold > count {
        return Err(ShareError::BadThreshold { threshold, count });
    }
    let seed = key.seed();
    Ok(Sharks(threshold)
        .dealer(seed.as_slice())
        .take(usize::from(count))
        .map(|share| Zeroizing::new(Vec::from(&share)))
        .collect())
}

/// Combine shares back into the key of `account`. Shares repeating an x
/// coordinate count once; the result must be `account`'s key, so shares
/// of another key, or a tampered share, give [`ShareError::WrongKey`].
pub fn combine(
    account: &AccountId,
    threshold: u8,
    shares: &[&[u8]],
) -> Result<AccountKey, ShareError> {
    let mut parsed: Vec<Share> = Vec::with_capacity(shares.len());
    for bytes in shares {
        // x = 0 would be the secret itself: no dealer hands that out.
        if bytes.len() != SHARE_LEN || bytes[0] == 0 {
            return Err(ShareError::Malformed);
        }
        if parsed.iter().any(|s| s.x.0 == bytes[0]) {
            continue;
        }
        parsed.push(Share::try_from(*bytes).map_err(|_| ShareError::Malformed)?);
    }
    if threshold == 0 || parsed.len() < usize::from(threshold) {
        return Err(ShareError::NotEnough {
            have: parsed.len(),
            threshold,
        });
    }
    let secret = Zeroizing::new(
        Sharks(threshold)
            .recover(&parsed)
            .map_err(|_| ShareError::Malformed)?,
    );
    let seed: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(
        secret
            .as_slice()
            .try_into()
            .map_err(|_| ShareError::Malformed)?,
    );
    let key = AccountKey::from_seed(&seed);
    if key.id() != *account {
        return Err(ShareError::WrongKey);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slices(shares: &[Zeroizing<Vec<u8>>]) -> Vec<&[u8]> {
        shares.iter().map(|s| s.as_slice()).collect()
    }

    #[test]
    fn any_threshold_of_the_shares_give_the_key_back() {
        let key = AccountKey::generate();
        let shares = split(&key, 2, 3).unwrap();
        assert_eq!(shares.len(), 3);
        for pair in [[0, 1], [0, 2], [1, 2]] {
            let chosen = [shares[pair[0]].as_slice(), shares[pair[1]].as_slice()];
            let back = combine(&key.id(), 2, &chosen).unwrap();
            assert_eq!(back.id(), key.id());
        }
        assert_eq!(
            combine(&key.id(), 2, &slices(&shares)).unwrap().id(),
            key.id()
        );
    }

    #[test]
    fn fewer_than_the_threshold_are_refused() {
        let key = AccountKey::generate();
        let shares = split(&key, 3, 5).unwrap();
        let two = [shares[0].as_slice(), shares[3].as_slice()];
        assert!(matches!(
            combine(&key.id(), 3, &two),
            Err(ShareError::NotEnough { have: 2, .. })
        ));
        // The same share twice is one share.
        let repeated = [
            shares[0].as_slice(),
            shares[0].as_slice(),
            shares[1].as_slice(),
        ];
        assert!(matches!(
            combine(&key.id(), 3, &repeated),
            Err(ShareError::NotEnough { have: 2, .. })
        ));
        // Lying about the threshold does not help: the result is not the key.
        assert_eq!(
            combine(&key.id(), 2, &two).unwrap_err(),
            ShareError::WrongKey
        );
    }

    #[test]
    fn tampered_or_foreign_shares_do_not_combine() {
        let key = AccountKey::generate();
        let other = AccountKey::generate();
        let mut shares = split(&key, 2, 3).unwrap();
        let foreign = split(&other, 2, 3).unwrap();
        let mixed = [shares[0].as_slice(), foreign[1].as_slice()];
        assert_eq!(
            combine(&key.id(), 2, &mixed).unwrap_err(),
            ShareError::WrongKey
        );
        shares[1][5] ^= 1;
        assert_eq!(
            combine(&key.id(), 2, &slices(&shares[..2])).unwrap_err(),
            ShareError::WrongKey
        );
        assert_eq!(
            combine(&key.id(), 2, &[&[0u8; SHARE_LEN][..], shares[2].as_slice()]).unwrap_err(),
            ShareError::Malformed
        );
        assert_eq!(
            combine(&key.id(), 2, &[&[1u8, 2, 3][..]]).unwrap_err(),
            ShareError::Malformed
        );
    }

    #[test]
    fn thresholds_are_checked() {
        let key = AccountKey::generate();
        assert!(split(&key, 0, 3).is_err());
        assert!(split(&key, 4, 3).is_err());
        assert!(split(&key, 2, MAX_SHARES + 1).is_err());
        assert_eq!(split(&key, 1, 1).unwrap()[0].len(), SHARE_LEN);
    }
}
