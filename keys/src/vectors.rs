//! Golden vectors: fixed seeds must always give these exact ids, bytes and
//! signatures. A change here is a wire-format change: bump the versions.

use crate::{
    AccountId, AccountKey, DeviceCert, DeviceId, DeviceKey, KeyFileError, KeyKind, ParseIdError,
    VerifyError,
    sign::{self, Context},
};

const ACCOUNT_ID: &str = "kith16p9tyvn59w62kwsndz75v90yumgzyj4hrgqkhtu9yz3n9jthsums0m8n44";
const DEVICE_ID: &str = "12D3KooWLdJAwPtyQ5RFnr9wGXsQzpf3P2SeqFbYkqbfVehLu4Ns";

/// The certificate of `fixture()`, byte for byte:
/// ```text
/// d04ab232…c9778737  account public key (seed 0x11 × 32)
/// a09aa5f4…3455a4f0  device public key (seed 0x22 × 32)
/// 00000006           name length
/// 6c6170746f70       "laptop"
/// 000000006553f100   issued_at 1_700_000_000
/// fb88dcaf…5467facb0c  ed25519 signature by the account key
/// ```
const CERT_HEX: &str = concat!(
    "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737",
    "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0",
    "00000006",
    "6c6170746f70",
    "000000006553f100",
    "fb88dcaf6737379d9b533ae3c742fdd298f2f28f9768a888577d00d058d24ffb",
    "5d6d4f348fa623df6fe5ab6aa70cd56e3c41077a326c4155ce240a5467facb0c",
);

fn fixture() -> (AccountKey, DeviceKey, DeviceCert) {
    let account = AccountKey::from_seed(&[0x11; 32]);
    let device = DeviceKey::from_seed(&[0x22; 32]);
    let cert = DeviceCert::issue(&account, device.id(), "laptop", 1_700_000_000).unwrap();
    (account, device, cert)
}

#[test]
fn ids_have_stable_text_forms() {
    let (account, device, _) = fixture();
    assert_eq!(account.id().to_string(), ACCOUNT_ID);
    assert_eq!(device.id().to_string(), DEVICE_ID);
    assert_eq!(ACCOUNT_ID.parse::<AccountId>().unwrap(), account.id());
    assert_eq!(DEVICE_ID.parse::<DeviceId>().unwrap(), device.id());
}

#[test]
fn certificate_has_stable_bytes() {
    let (_, _, cert) = fixture();
    assert_eq!(hex::encode(cert.to_bytes()), CERT_HEX);
    let parsed = DeviceCert::from_bytes(&hex::decode(CERT_HEX).unwrap()).unwrap();
    assert_eq!(parsed, cert);
    assert_eq!(parsed.verify(), Ok(()));
}

#[test]
fn signed_bytes_are_prefixed_with_the_context() {
    // "kith-sig-v1\0" || 0x13 || "kith/device-cert/v1" || "abc"
    let expected = "6b6974682d7369672d763100136b6974682f6465766963652d636572742f7631616263";
    assert_eq!(
        hex::encode(sign::signed_bytes(Context::DeviceCert, b"abc")),
        expected
    );
}

#[test]
fn every_single_character_typo_in_an_account_id_is_rejected() {
    let charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    for (i, original) in ACCOUNT_ID.char_indices().skip(5) {
        for c in charset.chars().filter(|&c| c != original) {
            let mut typo = ACCOUNT_ID.to_string();
            typo.replace_range(i..i + 1, &c.to_string());
            assert!(typo.parse::<AccountId>().is_err(), "typo accepted: {typo}");
        }
    }
}

#[test]
fn account_id_with_wrong_prefix_or_length_is_rejected() {
    let other =
        bech32::encode::<bech32::Bech32m>(bech32::Hrp::parse("npub").unwrap(), &[7; 32]).unwrap();
    assert!(matches!(
        other.parse::<AccountId>(),
        Err(ParseIdError::WrongPrefix(_))
    ));
    let short =
        bech32::encode::<bech32::Bech32m>(bech32::Hrp::parse("kith").unwrap(), &[7; 31]).unwrap();
    assert!(matches!(
        short.parse::<AccountId>(),
        Err(ParseIdError::Length(31))
    ));
    assert!("".parse::<AccountId>().is_err());
    assert!("not an id".parse::<DeviceId>().is_err());
}

#[test]
fn tampered_certificates_do_not_verify() {
    let (_, _, cert) = fixture();
    let mut renamed = cert.clone();
    renamed.name = "phone".into();
    assert_eq!(renamed.verify(), Err(VerifyError::BadSignature));

    let mut backdated = cert.clone();
    backdated.issued_at -= 1;
    assert_eq!(backdated.verify(), Err(VerifyError::BadSignature));

    let mut other_device = cert.clone();
    other_device.device = DeviceKey::from_seed(&[0x33; 32]).id();
    assert_eq!(other_device.verify(), Err(VerifyError::BadSignature));

    let mut other_account = cert.clone();
    other_account.account = AccountKey::from_seed(&[0x44; 32]).id();
    assert_eq!(other_account.verify(), Err(VerifyError::BadSignature));

    // Every single flipped bit anywhere in the encoded certificate is caught,
    // either when parsing or when verifying.
    let bytes = cert.to_bytes();
    for i in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[i / 8] ^= 1 << (i % 8);
        let accepted = DeviceCert::from_bytes(&flipped).is_ok_and(|c| c.verify().is_ok());
        assert!(!accepted, "bit {i} flipped and still accepted");
    }
}

#[test]
fn certificate_parsing_is_total() {
    let bytes = hex::decode(CERT_HEX).unwrap();
    for len in 0..bytes.len() {
        assert!(DeviceCert::from_bytes(&bytes[..len]).is_err());
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(DeviceCert::from_bytes(&long).is_err());
    // A huge claimed name length is refused before any allocation.
    let mut huge = bytes[..64].to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(DeviceCert::from_bytes(&huge).is_err());
}

#[test]
fn a_signature_for_one_context_never_verifies_in_another() {
    let (account, _, cert) = fixture();
    let message = b"same bytes";
    let signature = account.sign(Context::FriendHandshake, message);
    assert_eq!(
        account
            .id()
            .verify(Context::FriendHandshake, message, &signature),
        Ok(())
    );
    for other in [
        Context::DeviceCert,
        Context::DeviceRevocation,
        Context::DocumentChange,
        Context::LinkProof,
    ] {
        assert_eq!(
            account.id().verify(other, message, &signature),
            Err(VerifyError::BadSignature)
        );
    }
    // The certificate's own signature, replayed as a revocation over the same payload.
    let payload = &cert.to_bytes()[..cert.to_bytes().len() - 64];
    assert!(
        account
            .id()
            .verify(Context::DeviceRevocation, payload, &cert.signature)
            .is_err()
    );
}

#[test]
fn device_names_are_limited() {
    let (account, device, _) = fixture();
    let long = "x".repeat(crate::MAX_DEVICE_NAME_LEN + 1);
    assert!(matches!(
        DeviceCert::issue(&account, device.id(), &long, 0),
        Err(VerifyError::NameTooLong(_))
    ));
}

#[test]
fn key_files_round_trip_and_detect_damage() {
    let (account, device, _) = fixture();
    let text = account.to_file_text();
    assert_eq!(
        AccountKey::from_file_text(&text).unwrap().id(),
        account.id()
    );
    let device_text = device.to_file_text();
    assert_eq!(
        DeviceKey::from_file_text(&device_text).unwrap().id(),
        device.id()
    );

    assert_eq!(
        AccountKey::from_file_text(&device_text).unwrap_err(),
        KeyFileError::WrongKind {
            expected: KeyKind::Account,
            found: KeyKind::Device
        }
    );
    let flipped = text.replacen("secret = 1", "secret = 2", 1);
    assert_eq!(
        AccountKey::from_file_text(&flipped).unwrap_err(),
        KeyFileError::Mismatch
    );
    assert!(matches!(
        AccountKey::from_file_text("garbage"),
        Err(KeyFileError::Corrupt(_))
    ));
    assert!(matches!(
        AccountKey::from_file_text(""),
        Err(KeyFileError::Corrupt(_))
    ));
}

#[test]
fn secrets_are_redacted_in_debug() {
    let (account, device, _) = fixture();
    let seed_hex = hex::encode([0x11; 32]);
    for shown in [format!("{account:?}"), format!("{device:?}")] {
        assert!(shown.contains("redacted"), "{shown}");
        assert!(!shown.contains(&seed_hex[..16]));
    }
}
