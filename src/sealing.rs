//! Provides `Sealer`: secrets kept in the database encrypted at rest (authtoken keys in single
//! mode, signing keys), under keys derived from `SECRET_KEY`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Seals secrets with AES-256-GCM under a key derived from `SECRET_KEY` (HKDF-SHA256) for one
/// purpose, with associated data naming the row, so a sealed secret only opens in its own row.
pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    pub fn new(secret_key: &str, purpose: &[u8]) -> Result<Sealer, String> {
        let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"portcullis");
        let prk = salt.extract(secret_key.as_bytes());
        let info = [purpose];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .map_err(|_| "cannot derive a sealing key".to_string())?;
        Ok(Sealer {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    /// hex(nonce || ciphertext || tag).
    pub fn seal(&self, secret: &str, row: &str) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(row.as_bytes()),
                &mut sealed,
            )
            .map_err(|e| e.to_string())?;
        Ok(hex::encode([nonce.as_slice(), &sealed].concat()))
    }

    /// The secret, or `None` when it was sealed under another `SECRET_KEY`, for another purpose
    /// or for another row.
    pub fn open(&self, sealed: &str, row: &str) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(row.as_bytes()), &mut in_out)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}
