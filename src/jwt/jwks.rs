//! simplejwt's `JWK_URL` (PyJWT's `PyJWKClient`): tokens are verified with the public key their
//! `kid` names in a JSON Web Key Set fetched over HTTP(S) from the service that issues them.
//!
//! What differs from `PyJWKClient`, on purpose:
//! - an unknown `kid` fetches the set again at most once a minute (`PyJWKClient` fetches on
//!   every unknown `kid`, so a stream of made-up ones becomes a stream of requests to the
//!   issuer), and while one request fetches, others wait for that fetch instead of starting
//!   their own (never for two);
//! - a redirect is followed (3 at most), but not from https to http;
//! - a fetch is bounded (5 s, 512 KiB): a slow or hostile endpoint costs a token a 401, never
//!   a hang;
//! - a set older than `JWT_JWK_LIFESPAN` (PyJWKClient's `lifespan`, 300 s) is fetched again, in the
//!   background, when a token needs it; while that fails, the last set keeps verifying (an
//!   issuer's outage logs nobody out and slows nobody down), and a key the issuer removed stops
//!   verifying with the first fetch that succeeds;
//! - a key is used only with the configured algorithm (pinned): a JWK of another key type,
//!   curve, `alg` or `use` is left out of the set, as is a JWK without `kid`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use serde_json::Value;

use crate::jwt::algorithms::JwtAlgorithm;

/// Fetches for a `kid` the set does not have: at most one per this interval.
const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(60);
/// Fetches of a stale set, or of a set never fetched, while the endpoint fails: at most one
/// per this interval after the last failure.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// The whole fetch: connect, answer, body.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest set read: a key set is a few KiB.
const MAX_BODY: usize = 512 * 1024;

pub struct JwksClient {
    url: String,
    algorithm: JwtAlgorithm,
    lifespan: Duration,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
    /// Held while fetching: one fetch at a time.
    attempts: tokio::sync::Mutex<Attempts>,
    /// Fetches ended so far: a request that waited while one ended does not fetch again.
    generation: AtomicU64,
}

/// When the last fetches happened, for their rate limits.
#[derive(Default)]
struct Attempts {
    /// The end of the last fetch, when it failed.
    last_failure: Option<Instant>,
    last_for_unknown_kid: Option<Instant>,
}

/// Why a token needs the set fetched.
enum Reason {
    /// Never fetched, or older than the lifespan.
    Stale,
    /// Fresh, but without the token's `kid`.
    UnknownKid,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    fn is_fresh(&self, lifespan: Duration) -> bool {
        self.fetched_at
            .is_some_and(|fetched| fetched.elapsed() < lifespan)
    }
}

impl JwksClient {
    /// Whether `url` can serve keys for `algorithm` (the settings' check: no client built).
    pub fn check(url: &str, algorithm: JwtAlgorithm) -> Result<reqwest::Url, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err("must be an http:// or https:// URL".into());
        }
        if algorithm.is_hmac() {
            return Err(format!(
                "a key set holds public keys; {algorithm:?} is an HMAC algorithm \
                 (JWT_ALGORITHM must be RS*, PS*, ES* or EdDSA)"
            ));
        }
        Ok(parsed)
    }

    /// A client for `url` (checked: http or https), verifying `algorithm` tokens, using a
    /// fetched set for `lifespan` (`JWT_JWK_LIFESPAN`, PyJWKClient's `lifespan`, 300 s).
    pub fn new(
        url: &str,
        algorithm: JwtAlgorithm,
        lifespan: Duration,
    ) -> Result<JwksClient, String> {
        let parsed = JwksClient::check(url, algorithm)?;
        // Redirects as PyJWKClient follows them, but never from https to http.
        let https_only = parsed.scheme() == "https";
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the first URL too.
            if attempt.previous().len() > 3 {
                attempt.error("more than 3 redirects")
            } else if https_only && attempt.url().scheme() != "https" {
                attempt.error("a redirect from https to another scheme")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(redirects)
            // One fetch a minute at most: no connection is worth keeping.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(JwksClient {
            url: url.to_string(),
            algorithm,
            lifespan,
            http,
            keys: RwLock::new(KeySet::default()),
            attempts: tokio::sync::Mutex::new(Attempts::default()),
            generation: AtomicU64::new(0),
        })
    }

    /// The key `kid` names in the set fetched last, if any.
    pub fn key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let keys = self.keys.read().ok()?;
        keys.keys.get(kid).cloned()
    }

    /// Makes sure the set is one a token naming `kid` can be verified with: fetched again
    /// when it does not have `kid` (at most once a minute) or is stale or missing (retried
    /// every few seconds while the endpoint fails). A token whose `kid` the stale set has
    /// never waits: the fetch runs in the background and the stale key verifies meanwhile.
    /// Others wait for at most one fetch (the one under way, or their own).
    pub async fn prepare(self: &Arc<Self>, kid: &str) {
        if self.fetch_needed(kid).is_none() {
            return;
        }
        if self.key(kid).is_some() {
            let client = Arc::clone(self);
            let kid = kid.to_string();
            actix_web::rt::spawn(async move { client.fetch_if_needed(&kid, None).await });
            return;
        }
        let generation = self.generation.load(Ordering::Acquire);
        self.fetch_if_needed(kid, Some(generation)).await;
    }

    /// One fetch at a time; none when another ended since `seen` (the generation the caller
    /// saw before waiting), or when the rate limits say not yet.
    async fn fetch_if_needed(&self, kid: &str, seen: Option<u64>) {
        let mut attempts = match seen {
            Some(_) => self.attempts.lock().await,
            // In the background: if a fetch is under way, it is the one needed.
            None => match self.attempts.try_lock() {
                Ok(guard) => guard,
                Err(_) => return,
            },
        };
        if seen.is_some_and(|seen| seen != self.generation.load(Ordering::Acquire)) {
            return;
        }
        match self.fetch_needed(kid) {
            None => return,
            Some(Reason::Stale) => {
                if attempts
                    .last_failure
                    .is_some_and(|failed| failed.elapsed() < RETRY_INTERVAL)
                {
                    return;
                }
            }
            Some(Reason::UnknownKid) => {
                if attempts
                    .last_for_unknown_kid
                    .is_some_and(|started| started.elapsed() < UNKNOWN_KID_INTERVAL)
                {
                    return;
                }
                attempts.last_for_unknown_kid = Some(Instant::now());
            }
        }
        let fetched = self.fetch().await;
        attempts.last_failure = fetched.is_err().then(Instant::now);
        self.generation.fetch_add(1, Ordering::AcqRel);
        match fetched {
            Ok(keys) => {
                log::info!(
                    "JWT_JWK_URL: {} key(s) for {:?} from {}",
                    keys.len(),
                    self.algorithm,
                    self.url
                );
                if let Ok(mut set) = self.keys.write() {
                    *set = KeySet {
                        keys,
                        fetched_at: Some(Instant::now()),
                    };
                }
            }
            Err(error) => log::warn!("JWT_JWK_URL: cannot fetch {}: {error}", self.url),
        }
    }

    /// `None`: the set can verify `kid` as it is.
    fn fetch_needed(&self, kid: &str) -> Option<Reason> {
        let keys = self.keys.read().ok()?;
        if !keys.is_fresh(self.lifespan) {
            return Some(Reason::Stale);
        }
        (!keys.keys.contains_key(kid)).then_some(Reason::UnknownKid)
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
        let mut response = self
            .http
            .get(&self.url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the endpoint answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the key set is larger than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let document: Value =
            serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err("no \"keys\" list".into());
        };
        let mut keys = HashMap::new();
        for entry in entries {
            // A key of another kind, or one this version cannot read, is only left out.
            let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
                continue;
            };
            // A kid given twice names the first key with it, as PyJWKSet reads it.
            if let Some((kid, key)) = self.usable(&jwk) {
                keys.entry(kid).or_insert_with(|| Arc::new(key));
            }
        }
        Ok(keys)
    }

    /// The JWK's `kid` and key, when it is a signing key for the configured algorithm.
    fn usable(&self, jwk: &Jwk) -> Option<(String, DecodingKey)> {
        let kid = jwk.common.key_id.clone()?;
        if matches!(&jwk.common.public_key_use, Some(usage) if *usage != PublicKeyUse::Signature) {
            return None;
        }
        let alg = self.algorithm.jsonwebtoken();
        // The JOSE names: jsonwebtoken's `Debug` spells both enums that way.
        if let Some(declared) = jwk.common.key_algorithm
            && format!("{declared:?}") != format!("{alg:?}")
        {
            return None;
        }
        let fits = match (&jwk.algorithm, self.algorithm) {
            (AlgorithmParameters::RSA(_), _) => self.algorithm.family() == "RSA",
            (AlgorithmParameters::EllipticCurve(ec), JwtAlgorithm::ES256) => {
                ec.curve == EllipticCurve::P256
            }
            (AlgorithmParameters::EllipticCurve(ec), JwtAlgorithm::ES384) => {
                ec.curve == EllipticCurve::P384
            }
            (AlgorithmParameters::OctetKeyPair(okp), JwtAlgorithm::EdDSA) => {
                okp.curve == EllipticCurve::Ed25519
            }
            _ => false,
        };
        if !fits {
            return None;
        }
        DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
    }
}
