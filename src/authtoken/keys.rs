//! Provides the keys themselves: new random keys, their digest, and sealing for single mode.

use sha2::{Digest, Sha256};

use crate::sealing::Sealer;

/// A new key: 40 hex characters from 20 random bytes, as DRF's `Token.generate_key`.
pub fn new_key() -> Result<String, String> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random bytes for a key: {e}"))?;
    Ok(hex::encode(bytes))
}

/// What the table stores of a key.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Seals single-mode keys (the purpose their sealing key is derived for).
pub fn sealer(secret_key: &str) -> Result<Sealer, String> {
    Sealer::new(secret_key, b"auth token keys")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_look_like_drfs_and_seal_only_for_their_row_and_secret() {
        let key = new_key().unwrap();
        assert_eq!(key.len(), 40);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(key, new_key().unwrap());
        let sealer = sealer(&"s".repeat(40)).unwrap();
        let sealed = sealer.seal(&key, &digest(&key)).unwrap();
        assert_eq!(
            sealer.open(&sealed, &digest(&key)).as_deref(),
            Some(key.as_str())
        );
        assert_eq!(sealer.open(&sealed, &digest("other")), None);
        let other = super::sealer(&"t".repeat(40)).unwrap();
        assert_eq!(other.open(&sealed, &digest(&key)), None);
        assert_eq!(sealer.open("zz", "d"), None);
    }
}
