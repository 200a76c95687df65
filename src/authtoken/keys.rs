//! Provides the keys themselves: new random keys, their digest, and sealing for single mode.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

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

/// Seals keys with AES-256-GCM under a key derived from `SECRET_KEY` (HKDF-SHA256), the row's
/// digest as associated data, so a sealed key only opens in its own row.
pub struct KeySealer {
    key: LessSafeKey,
}

impl KeySealer {
    pub fn new(secret_key: &str) -> Result<KeySealer, String> {
        let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"portcullis");
        let prk = salt.extract(secret_key.as_bytes());
        let okm = prk
            .expand(&[b"auth token keys"], &AES_256_GCM)
            .map_err(|_| "cannot derive the key that seals auth token keys".to_string())?;
        Ok(KeySealer {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    /// hex(nonce || ciphertext || tag).
    pub fn seal(&self, key: &str, digest: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
        let mut sealed = key.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(digest.as_bytes()),
                &mut sealed,
            )
            .map_err(|e| e.to_string())?;
        Ok(hex::encode([nonce.as_slice(), &sealed].concat()))
    }

    /// The key, or `None` when it was sealed under another secret or for another row.
    pub fn open(&self, sealed: &str, digest: &str) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(digest.as_bytes()), &mut in_out)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
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
        let sealer = KeySealer::new(&"s".repeat(40)).unwrap();
        let sealed = sealer.seal(&key, &digest(&key)).unwrap();
        assert_eq!(
            sealer.open(&sealed, &digest(&key)).as_deref(),
            Some(key.as_str())
        );
        assert_eq!(sealer.open(&sealed, &digest("other")), None);
        let other = KeySealer::new(&"t".repeat(40)).unwrap();
        assert_eq!(other.open(&sealed, &digest(&key)), None);
        assert_eq!(sealer.open("zz", "d"), None);
    }
}
