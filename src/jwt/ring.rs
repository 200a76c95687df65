//! The signing key ring: keys an operator rotates without logging anybody out.
//!
//! Keys live in the database (`signing_keys`), so every instance sees the same ring: the key
//! activated last signs, and every key not retired verifies, chosen by the token's `kid` (never
//! by `jku`, `x5u`, `jwk` or `x5c`, and never used as a path, a query or a URL). Each key's
//! algorithm is pinned to it. Instances read the ring again every `KEY_RING_TTL_MS`.
//!
//! Without any ring key nothing changes: tokens are signed with `JWT_SIGNING_KEY` /
//! `SECRET_KEY` and carry no `kid`. Once a ring key has been activated, a token without `kid`
//! (one of that configured key) is accepted only if it expires within the longest token
//! lifetime after that first activation: the tokens issued before the rotation, until they
//! expire, and none minted later with the old key.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
use serde_json::Value;

use crate::db::{self, DbPool};
use crate::jwt::algorithms::JwtAlgorithm;
use crate::jwt::keys::JwtKeys;
use crate::models::signing_keys::{self, SigningKeyRow};
use crate::sealing::Sealer;

/// The algorithms `keys generate` makes keys for.
pub const RING_ALGORITHMS: [JwtAlgorithm; 4] = [
    JwtAlgorithm::EdDSA,
    JwtAlgorithm::ES256,
    JwtAlgorithm::RS256,
    JwtAlgorithm::HS256,
];

/// The sealing key of the ring's private keys.
pub fn sealer(secret_key: &str) -> Result<Sealer, String> {
    Sealer::new(secret_key, b"signing keys")
}

/// A ring key, ready to sign and verify.
pub struct RingKey {
    pub kid: String,
    pub algorithm: JwtAlgorithm,
    pub activated_at: Option<i64>,
    /// The row's sealed key as read: a reload reuses the key while it is unchanged.
    sealed: String,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    /// The JOSE header of the tokens it signs, base64url: `alg`, `typ`, `kid`.
    pub(crate) header: String,
    /// Pinned to the key's algorithm; time claims are checked by the backend, as for the
    /// configured key.
    pub(crate) validation: Validation,
}

/// What the ring holds at one moment.
#[derive(Default)]
pub struct RingState {
    pub signing: Option<Arc<RingKey>>,
    keys: HashMap<String, Arc<RingKey>>,
    /// The same keys by the header of the tokens they sign: a token this ring signed finds
    /// its key without decoding its header.
    by_header: HashMap<String, Arc<RingKey>>,
    /// With a ring in use: the latest `exp` a token without `kid` may have.
    pub legacy_until: Option<i64>,
    /// The public JWKs of the keys not retired (asymmetric ones), for `/.well-known/jwks.json`.
    pub published: Vec<Value>,
}

impl RingState {
    /// Whether the ring decides how tokens are signed and verified (a key was activated).
    pub fn in_use(&self) -> bool {
        self.legacy_until.is_some()
    }

    /// The key a `kid` names, unless it is retired (or unknown).
    pub fn key(&self, kid: &str) -> Option<&Arc<RingKey>> {
        self.keys.get(kid)
    }

    /// The key whose tokens have exactly this (base64url) header.
    pub fn key_by_header(&self, header: &str) -> Option<&Arc<RingKey>> {
        self.by_header.get(header)
    }
}

pub struct KeyRing {
    pool: DbPool,
    sealer: Sealer,
    /// The longest a token lives (refresh or sliding refresh lifetime, plus leeway), seconds.
    longest_lifetime: i64,
    state: RwLock<Arc<RingState>>,
}

impl KeyRing {
    /// The ring as the database holds it now.
    pub fn load(pool: DbPool, secret_key: &str, longest_lifetime: i64) -> Result<KeyRing, String> {
        let ring = KeyRing {
            pool,
            sealer: sealer(secret_key)?,
            longest_lifetime,
            state: RwLock::new(Arc::new(RingState::default())),
        };
        ring.reload()?;
        Ok(ring)
    }

    /// What the ring holds now (cheap: one `Arc`).
    pub fn state(&self) -> Arc<RingState> {
        self.state
            .read()
            .map(|state| Arc::clone(&state))
            .unwrap_or_default()
    }

    /// Reads the ring again from the database (blocking: call it from a thread of its own).
    pub fn reload(&self) -> Result<(), String> {
        let rows = db::run_blocking(&self.pool, signing_keys::all)
            .map_err(|e| format!("cannot read the signing keys: {e}"))?;
        let state = build_state(&rows, &self.sealer, self.longest_lifetime, &self.state())?;
        if let Ok(mut current) = self.state.write() {
            *current = Arc::new(state);
        }
        Ok(())
    }

    /// Reloads the ring every `every` on a thread of its own, for as long as the ring is used.
    pub fn watch(ring: &Arc<KeyRing>, every: Duration) {
        let weak: Weak<KeyRing> = Arc::downgrade(ring);
        let spawned = std::thread::Builder::new()
            .name("key-ring".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(ring) = weak.upgrade() else { return };
                    if let Err(error) = ring.reload() {
                        log::warn!("key ring: {error} (the keys read last stay in use)");
                    }
                }
            });
        if let Err(error) = spawned {
            log::error!(
                "key ring: cannot start its reload thread ({error}); restart to pick up a rotation"
            );
        }
    }
}

/// The state the rows describe. A row that does not open is left out (and logged) unless it
/// is the one that signs: then the ring cannot be used, and the error says why. Keys of
/// unchanged rows are taken from `previous` (no unsealing and parsing at every reload).
fn build_state(
    rows: &[SigningKeyRow],
    sealer: &Sealer,
    longest_lifetime: i64,
    previous: &RingState,
) -> Result<RingState, String> {
    let mut state = RingState::default();
    let live = || rows.iter().filter(|row| row.retired_at.is_none());
    let signing_kid = signing_keys::signing(rows).map(|row| row.kid.as_str());
    for row in live() {
        let reused = previous.keys.get(&row.kid).filter(|key| {
            key.sealed == row.sealed_private_key && key.activated_at == row.activated_at
        });
        let key = match reused {
            Some(key) => Arc::clone(key),
            None => match ring_key(row, sealer) {
                Ok(key) => Arc::new(key),
                Err(error) if Some(row.kid.as_str()) != signing_kid => {
                    log::error!("key ring: {error}; the key is left out");
                    continue;
                }
                Err(error) => return Err(error),
            },
        };
        if Some(row.kid.as_str()) == signing_kid {
            state.signing = Some(Arc::clone(&key));
        }
        if !row.public_jwk.is_empty() {
            match serde_json::from_str::<Value>(&row.public_jwk) {
                Ok(jwk) => state.published.push(jwk),
                Err(e) => log::error!("key ring: key {}: its public JWK is not JSON: {e}", row.kid),
            }
        }
        state.by_header.insert(key.header.clone(), Arc::clone(&key));
        state.keys.insert(row.kid.clone(), key);
    }
    // Retired keys count too: the rotation happened, whatever became of the key since.
    let first_activation = rows.iter().filter_map(|row| row.first_activated_at).min();
    state.legacy_until = first_activation.map(|at| at + longest_lifetime);
    Ok(state)
}

/// Opens a row's private key and makes it ready.
fn ring_key(row: &SigningKeyRow, sealer: &Sealer) -> Result<RingKey, String> {
    let algorithm: JwtAlgorithm = row.algorithm.parse()?;
    let private = sealer
        .open(&row.sealed_private_key, &row.kid)
        .ok_or_else(|| {
            format!(
                "key {}: its private key does not open with this SECRET_KEY",
                row.kid
            )
        })?;
    let keys = JwtKeys::load(algorithm, Some(&private), None, false)
        .map_err(|e| format!("key {}: {e}", row.kid))?;
    let (Some(encoding), Some(decoding)) = (keys.signing, keys.verifying) else {
        return Err(format!("key {}: no key pair", row.kid));
    };
    let header = serde_json::json!({"alg": row.algorithm, "typ": "JWT", "kid": row.kid});
    let validation = algorithm.pinned_validation();
    Ok(RingKey {
        kid: row.kid.clone(),
        algorithm,
        activated_at: row.activated_at,
        sealed: row.sealed_private_key.clone(),
        encoding,
        decoding,
        header: URL_SAFE_NO_PAD.encode(header.to_string()),
        validation,
    })
}

/// A new key of `algorithm`, generated here, sealed, not yet signing (`keys generate`).
pub fn generate(
    algorithm: JwtAlgorithm,
    secret_key: &str,
    now: i64,
) -> Result<SigningKeyRow, String> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
    let pem = |der: &[u8]| pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()));
    let failed = |e: &dyn std::fmt::Display| format!("cannot generate a {algorithm:?} key: {e}");
    let private = match algorithm {
        JwtAlgorithm::EdDSA => {
            let pair = Ed25519KeyPair::generate().map_err(|e| failed(&e))?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().map_err(|e| failed(&e))?;
            pem(der.as_ref())
        }
        JwtAlgorithm::ES256 => {
            let pair =
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|e| failed(&e))?;
            let der = pair.to_pkcs8v1().map_err(|e| failed(&e))?;
            pem(der.as_ref())
        }
        JwtAlgorithm::RS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|e| failed(&e))?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().map_err(|e| failed(&e))?;
            pem(der.as_ref())
        }
        JwtAlgorithm::HS256 => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| failed(&e))?;
            hex::encode(secret)
        }
        other => {
            let names: Vec<String> = RING_ALGORITHMS.iter().map(|a| format!("{a:?}")).collect();
            return Err(format!(
                "{other:?}: a ring key is one of {}",
                names.join(", ")
            ));
        }
    };
    // Hex: safe in a URL, a header and on a command line (a base64url kid may start with `-`).
    let mut id = [0u8; 12];
    getrandom::fill(&mut id).map_err(|e| failed(&e))?;
    let kid = hex::encode(id);
    let keys = JwtKeys::load(algorithm, Some(&private), None, false)?;
    let public_jwk = match (&keys.signing, algorithm.is_hmac()) {
        (Some(encoding), false) => {
            let mut jwk = Jwk::from_encoding_key(encoding, algorithm.jsonwebtoken())
                .map_err(|e| failed(&e))?;
            jwk.common.key_id = Some(kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            jwk.common.key_algorithm = Some(key_algorithm(algorithm));
            serde_json::to_string(&jwk).map_err(|e| failed(&e))?
        }
        _ => String::new(),
    };
    let sealer = sealer(secret_key)?;
    Ok(SigningKeyRow {
        sealed_private_key: sealer.seal(&private, &kid)?,
        kid,
        algorithm: format!("{algorithm:?}"),
        public_jwk,
        created_at: now,
        activated_at: None,
        first_activated_at: None,
        retired_at: None,
    })
}

fn key_algorithm(algorithm: JwtAlgorithm) -> KeyAlgorithm {
    match algorithm {
        JwtAlgorithm::ES256 => KeyAlgorithm::ES256,
        JwtAlgorithm::RS256 => KeyAlgorithm::RS256,
        JwtAlgorithm::HS256 => KeyAlgorithm::HS256,
        _ => KeyAlgorithm::EdDSA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-secret-key-long-enough-for-the-test-0123";

    #[test]
    fn generated_keys_open_sign_verify_and_publish_only_public_members() {
        for algorithm in RING_ALGORITHMS {
            let row = generate(algorithm, SECRET, 1000).unwrap();
            assert_eq!(row.algorithm, format!("{algorithm:?}"));
            assert!(!row.sealed_private_key.contains("PRIVATE"));
            let key = ring_key(&row, &sealer(SECRET).unwrap()).unwrap();
            let message = b"m";
            let alg = algorithm.jsonwebtoken();
            let signature = jsonwebtoken::crypto::sign(message, &key.encoding, alg).unwrap();
            assert!(jsonwebtoken::crypto::verify(&signature, message, &key.decoding, alg).unwrap());
            if algorithm.is_hmac() {
                assert_eq!(row.public_jwk, "");
                continue;
            }
            let jwk: Value = serde_json::from_str(&row.public_jwk).unwrap();
            assert_eq!(jwk["kid"], row.kid.as_str());
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], format!("{algorithm:?}"));
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(
                    jwk.get(private).is_none(),
                    "{algorithm:?} publishes {private}"
                );
            }
            // Another SECRET_KEY cannot open it.
            assert!(ring_key(&row, &sealer(&"b".repeat(40)).unwrap()).is_err());
        }
    }

    #[test]
    fn the_latest_activation_signs_and_retired_keys_are_gone() {
        let sealer = sealer(SECRET).unwrap();
        let mut first = generate(JwtAlgorithm::EdDSA, SECRET, 1000).unwrap();
        let mut second = generate(JwtAlgorithm::ES256, SECRET, 1001).unwrap();
        let third = generate(JwtAlgorithm::EdDSA, SECRET, 1002).unwrap();
        let none = RingState::default();
        let state = build_state(&[first.clone()], &sealer, 100, &none).unwrap();
        assert!(!state.in_use() && state.signing.is_none());
        (first.activated_at, first.first_activated_at) = (Some(2000), Some(2000));
        (second.activated_at, second.first_activated_at) = (Some(3000), Some(3000));
        let rows = [first.clone(), second.clone(), third.clone()];
        let state = build_state(&rows, &sealer, 100, &none).unwrap();
        assert_eq!(state.signing.as_ref().unwrap().kid, second.kid);
        assert_eq!(state.legacy_until, Some(2100));
        assert_eq!(state.published.len(), 3);
        // Unchanged rows keep their keys.
        let again = build_state(&rows, &sealer, 100, &state).unwrap();
        assert!(Arc::ptr_eq(
            again.key(&third.kid).unwrap(),
            state.key(&third.kid).unwrap()
        ));
        // A row that does not open is left out, unless it signs.
        let mut damaged = third.clone();
        damaged.sealed_private_key = first.sealed_private_key.clone();
        let state = build_state(
            &[first.clone(), second.clone(), damaged],
            &sealer,
            100,
            &none,
        )
        .unwrap();
        assert!(state.key(&third.kid).is_none());
        let mut damaged_signer = second.clone();
        damaged_signer.sealed_private_key = first.sealed_private_key.clone();
        assert!(build_state(&[first.clone(), damaged_signer], &sealer, 100, &none).is_err());
        // Activated again: signs again; the first activation still bounds tokens without kid.
        first.activated_at = Some(5000);
        first.retired_at = None;
        let state = build_state(&[first.clone(), second.clone()], &sealer, 100, &none).unwrap();
        assert_eq!(state.signing.as_ref().unwrap().kid, first.kid);
        assert_eq!(state.legacy_until, Some(2100));
        first.retired_at = Some(6000);
        let state = build_state(&[first.clone(), second, third], &sealer, 100, &none).unwrap();
        assert!(state.key(&first.kid).is_none());
        assert_eq!(state.published.len(), 2);
        assert_eq!(state.legacy_until, Some(2100));
    }
}
