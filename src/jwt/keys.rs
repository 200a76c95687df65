//! Loads the signing and verifying keys simplejwt's `SIGNING_KEY` / `VERIFYING_KEY` name.
//!
//! HMAC (HS*): one secret signs and verifies (`JWT_SIGNING_KEY`, else `SECRET_KEY`).
//! Asymmetric: a PEM private key signs (PKCS#8; also PKCS#1 for RSA, SEC1 for EC), a PEM public
//! key verifies, derived from the private key when not given. Only a public key: this instance
//! verifies tokens and issues none. Every key is tried once at startup (a signature made and
//! checked), so a key that does not fit the algorithm, or a public key that does not match the
//! private one, stops startup instead of failing requests. With `JWT_JWK_URL` the public keys
//! come from the issuer's key set (`jwks`), and no key at all is needed here.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::jwt::algorithms::JwtAlgorithm;

/// The keys a `TokenBackend` signs and verifies with.
pub struct JwtKeys {
    /// `None`: verify-only.
    pub signing: Option<EncodingKey>,
    /// `None`: only with a key set (`JWT_JWK_URL`), which then verifies every token.
    pub verifying: Option<DecodingKey>,
    /// The HMAC secret itself, for the backend's own verification of its own tokens (a key
    /// prepared once, where jsonwebtoken prepares one per token).
    pub hmac_secret: Option<Vec<u8>>,
}

impl JwtKeys {
    /// HMAC keys from a secret.
    pub fn hmac(secret: &[u8]) -> JwtKeys {
        JwtKeys {
            signing: Some(EncodingKey::from_secret(secret)),
            verifying: Some(DecodingKey::from_secret(secret)),
            hmac_secret: Some(secret.to_vec()),
        }
    }

    /// The keys for `algorithm` from the settings' texts (PEM, or an HMAC secret); errors say
    /// which setting to fix. `key_set`: the public keys come from `JWT_JWK_URL`, so neither
    /// key is required.
    pub fn load(
        algorithm: JwtAlgorithm,
        signing: Option<&str>,
        verifying: Option<&str>,
        key_set: bool,
    ) -> Result<JwtKeys, String> {
        let alg = algorithm.jsonwebtoken();
        if algorithm.is_hmac() {
            let secret = signing.ok_or("an HMAC algorithm needs a signing key")?;
            return Ok(JwtKeys::hmac(secret.as_bytes()));
        }
        let signing = signing
            .map(|pem| private_key(algorithm, pem.as_bytes()))
            .transpose()?;
        let verifying = match (verifying, &signing) {
            (Some(pem), _) => Some(public_key(algorithm, pem.as_bytes())?),
            (None, Some(private)) => {
                let jwk = Jwk::from_encoding_key(private, alg)
                    .map_err(|e| format!("cannot derive the public key: {e}"))?;
                Some(
                    DecodingKey::from_jwk(&jwk)
                        .map_err(|e| format!("cannot derive the public key: {e}"))?,
                )
            }
            (None, None) if key_set => None,
            (None, None) => {
                return Err("an asymmetric algorithm needs a signing or a verifying key".into());
            }
        };
        let keys = JwtKeys {
            signing,
            verifying,
            hmac_secret: None,
        };
        keys.check(alg)?;
        Ok(keys)
    }

    /// Signs and verifies a probe, so a key that does not fit fails now.
    fn check(&self, alg: Algorithm) -> Result<(), String> {
        let (Some(signing), Some(verifying)) = (&self.signing, &self.verifying) else {
            return Ok(());
        };
        let probe = b"portcullis key check";
        let signature = jsonwebtoken::crypto::sign(probe, signing, alg)
            .map_err(|e| format!("the private key does not sign with {alg:?}: {e}"))?;
        let verified = jsonwebtoken::crypto::verify(&signature, probe, verifying, alg)
            .map_err(|e| format!("the public key does not verify with {alg:?}: {e}"))?;
        if !verified {
            return Err("the public key does not match the private key".into());
        }
        Ok(())
    }
}

fn private_key(algorithm: JwtAlgorithm, pem_text: &[u8]) -> Result<EncodingKey, String> {
    let bad = |e: &dyn std::fmt::Display| format!("not a {} private key: {e}", algorithm.family());
    match algorithm.family() {
        "RSA" => EncodingKey::from_rsa_pem(pem_text).map_err(|e| bad(&e)),
        "EC" => {
            // SEC1 (`EC PRIVATE KEY`) or PKCS#8: aws-lc reads both and gives PKCS#8 back.
            let block = pem::parse(pem_text).map_err(|e| bad(&e))?;
            let curve = match algorithm {
                JwtAlgorithm::ES384 => &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                _ => &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            };
            let pair =
                aws_lc_rs::signature::EcdsaKeyPair::from_private_key_der(curve, block.contents())
                    .map_err(|e| bad(&e))?;
            let pkcs8 = pair.to_pkcs8v1().map_err(|e| bad(&e))?;
            Ok(EncodingKey::from_ec_der(pkcs8.as_ref()))
        }
        _ => EncodingKey::from_ed_pem(pem_text).map_err(|e| bad(&e)),
    }
}

fn public_key(algorithm: JwtAlgorithm, pem_text: &[u8]) -> Result<DecodingKey, String> {
    let bad =
        |e: jsonwebtoken::errors::Error| format!("not a {} public key: {e}", algorithm.family());
    match algorithm.family() {
        "RSA" => DecodingKey::from_rsa_pem(pem_text).map_err(bad),
        "EC" => DecodingKey::from_ec_pem(pem_text).map_err(bad),
        _ => DecodingKey::from_ed_pem(pem_text).map_err(bad),
    }
}
