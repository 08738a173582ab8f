//! The paper key: an account key as 24 words of the BIP-39 English list,
//! the last word carrying a checksum, so a mistyped word is caught rather
//! than silently giving another account.

use zeroize::Zeroizing;

use crate::{AccountKey, KEY_LEN};

/// Words in a paper key (256 bits and an 8-bit checksum, 11 bits a word).
pub const PAPER_KEY_WORDS: usize = 24;

/// Why words are not a paper key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaperKeyError {
    #[error("a paper key has {PAPER_KEY_WORDS} words, these are {0}")]
    WordCount(usize),
    #[error("`{0}` is not a paper-key word (the BIP-39 English list)")]
    UnknownWord(String),
    #[error("the words do not check out: one is wrong or out of order")]
    Checksum,
}

/// The account key's seed as words, separated by single spaces.
pub fn to_words(key: &AccountKey) -> Zeroizing<String> {
    let seed = key.seed();
    // 32 bytes is always a valid BIP-39 entropy length.
    match bip39::Mnemonic::from_entropy(seed.as_ref()) {
        Ok(mnemonic) => Zeroizing::new(mnemonic.words().collect::<Vec<_>>().join(" ")),
        Err(_) => Zeroizing::new(String::new()),
    }
}

/// The account key written as `words` (any case, any whitespace).
pub fn from_words(words: &str) -> Result<AccountKey, PaperKeyError> {
    let normalised = Zeroizing::new(
        words
            .split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" "),
    );
    let count = normalised.split(' ').filter(|w| !w.is_empty()).count();
    if count != PAPER_KEY_WORDS {
        return Err(PaperKeyError::WordCount(count));
    }
    let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalised)
        .map_err(|e| match e {
            bip39::Error::UnknownWord(i) => PaperKeyError::UnknownWord(
                normalised.split(' ').nth(i).unwrap_or_default().to_string(),
            ),
            bip39::Error::BadWordCount(n) => PaperKeyError::WordCount(n),
            _ => PaperKeyError::Checksum,
        })?;
    let (entropy, len) = mnemonic.to_entropy_array();
    let entropy = Zeroizing::new(entropy);
    let seed: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(
        entropy
            .get(..len)
            .and_then(|e| e.try_into().ok())
            .ok_or(PaperKeyError::WordCount(count))?,
    );
    Ok(AccountKey::from_seed(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_give_back_the_same_account() {
        let key = AccountKey::generate();
        let words = to_words(&key);
        assert_eq!(words.split(' ').count(), PAPER_KEY_WORDS);
        let back = from_words(&format!("  {}\n", words.to_uppercase())).unwrap();
        assert_eq!(back.id(), key.id());
    }

    #[test]
    fn a_wrong_word_is_caught() {
        let words = to_words(&AccountKey::from_seed(&[7; KEY_LEN]));
        let mut list: Vec<&str> = words.split(' ').collect();
        assert_eq!(
            from_words(&list[..23].join(" ")).unwrap_err(),
            PaperKeyError::WordCount(23)
        );
        list.swap(0, 1);
        assert_eq!(
            from_words(&list.join(" ")).unwrap_err(),
            PaperKeyError::Checksum
        );
        list[3] = "kithkith";
        assert_eq!(
            from_words(&list.join(" ")).unwrap_err(),
            PaperKeyError::UnknownWord("kithkith".into())
        );
    }
}
