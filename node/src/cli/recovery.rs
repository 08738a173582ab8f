//! `kith recovery` and `kith recover`: the account's paper key, and a new
//! device for the account from it. Both work on the home directly, no
//! daemon: the words are the account key, and never travel over the API.

use anyhow::Context as _;
use serde::Serialize;

use super::{
    RecoveryCommand,
    commands::{host_name_or, print_ids},
};
use crate::{
    home::{Home, Identity},
    unix_now,
};

#[derive(Debug, Serialize)]
struct WordsJson<'a> {
    words: &'a str,
}

pub(super) fn recovery(home: &Home, json: bool, command: RecoveryCommand) -> anyhow::Result<()> {
    match command {
        RecoveryCommand::Words => {
            let identity = home.load()?;
            let key = identity.account_key.as_ref().context(
                "this device does not hold the account key; run this on the account's first device",
            )?;
            let words = kith_keys::paper::to_words(key);
            if json {
                return super::commands::print_json(&WordsJson { words: &words });
            }
            say!("Your paper key. Write these words down, in order, and keep them");
            say!("somewhere safe: anyone who reads them owns your account.");
            say!();
            for (i, word) in words.split(' ').enumerate() {
                say!("{:>2}. {word}", i + 1);
            }
            Ok(())
        }
    }
}

pub(super) fn recover(
    home: &Home,
    json: bool,
    words: &str,
    device_name: Option<&str>,
) -> anyhow::Result<()> {
    let key = kith_keys::paper::from_words(words)?;
    let identity = Identity::new_device_of(key, &host_name_or(device_name), unix_now())?;
    home.create(&identity)?;
    print_ids(
        json,
        &identity,
        "recovered the account; this device has a new key. Start `kith daemon`, \
         connect to a friend, and your documents come back from their copies",
    )
}
