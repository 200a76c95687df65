//! Provides `TokenBackend`, the only caller of jsonwebtoken: signs and verifies compact JWS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use crate::jwt::algorithms::JwtAlgorithm;
use std::sync::Arc;

use crate::jwt::exceptions::TokenError;
use crate::jwt::jwks::JwksClient;
use crate::jwt::keys::JwtKeys;
use crate::jwt::ring::KeyRing;

pub type Claims = Map<String, Value>;

/// A claim by name. A token has a handful of claims: comparing their names one by one costs
/// less than the map's SipHash of the name (~220 instructions, a dozen lookups per request).
pub fn claim<'a>(claims: &'a Claims, name: &str) -> Option<&'a Value> {
    if claims.len() > 16 {
        return claims.get(name);
    }
    claims
        .iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// simplejwt's `TOKEN_TYPE_CLAIM`, `JTI_CLAIM` and `USER_ID_CLAIM`: what three claims are
/// called on the wire. Inside portcullis they keep their default names; the backend renames
/// them when it signs and when it verifies (nothing to do with the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub token_type: String,
    pub jti: String,
    pub user_id: String,
}

impl Default for ClaimNames {
    fn default() -> ClaimNames {
        ClaimNames {
            token_type: "token_type".into(),
            jti: "jti".into(),
            user_id: "user_id".into(),
        }
    }
}

impl ClaimNames {
    /// Every wire name its inside name (compared in place: building a default to compare with
    /// cost three Strings on every token read).
    fn is_default(&self) -> bool {
        self.renamed().iter().all(|(inside, wire)| inside == wire)
    }

    /// (inside name, wire name) of each renamed claim.
    fn renamed(&self) -> [(&str, &str); 3] {
        [
            ("token_type", self.token_type.as_str()),
            ("jti", self.jti.as_str()),
            ("user_id", self.user_id.as_str()),
        ]
    }

    fn wire_names(&self, claims: &Claims) -> Claims {
        claims
            .iter()
            .map(|(name, value)| {
                let wire = self
                    .renamed()
                    .into_iter()
                    .find(|(inside, _)| inside == name)
                    .map_or(name.as_str(), |(_, wire)| wire);
                (wire.to_string(), value.clone())
            })
            .collect()
    }

    /// The inside names; a wire claim that has an inside name of its own (`jti` when the id is
    /// `JTI_CLAIM=id`) is not the one simplejwt reads, and is left out.
    fn inside_names(&self, claims: Claims) -> Claims {
        if self.is_default() {
            return claims;
        }
        let renamed = self.renamed();
        claims
            .into_iter()
            .filter_map(|(name, value)| {
                if let Some((inside, _)) = renamed.iter().find(|(_, wire)| *wire == name) {
                    return Some((inside.to_string(), value));
                }
                let shadowed = renamed.iter().any(|(inside, _)| *inside == name);
                (!shadowed).then_some((name, value))
            })
            .collect()
    }
}

/// simplejwt's `AUDIENCE` and `ISSUER`: added to every new token, required on every token.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub audience: Option<String>,
    pub issuer: Option<String>,
}

/// What verifies signatures: the configured public key (or HMAC secret), or the issuer's key
/// set by the token's `kid` (`JWT_JWK_URL`).
enum Verifier {
    Key(DecodingKey),
    KeySet(Arc<JwksClient>),
    /// Only while a key set is being attached (`with_key_set`): nothing verifies.
    Nothing,
}

pub struct TokenBackend {
    algorithm: Algorithm,
    header: String,
    /// `None`: a verify-only instance.
    encoding_key: Option<EncodingKey>,
    verifier: Verifier,
    /// The signing key ring, when the database has one (it then signs and picks keys by kid).
    ring: Option<Arc<KeyRing>>,
    validation: Validation,
    leeway: f64,
    /// The strict token profile (`JWT_STRICT`): see `StrictProfile`.
    strict: Option<StrictProfile>,
    audience: Audience,
    claim_names: ClaimNames,
    /// With an HMAC algorithm and its secret: the key prepared once, which checks this
    /// backend's own tokens (`decode_own`).
    own_hmac: Option<aws_lc_rs::hmac::Key>,
}

impl TokenBackend {
    /// An HMAC backend (tests, tools): `secret` signs and verifies.
    pub fn new(secret: &[u8], algorithm: JwtAlgorithm, leeway: u64) -> TokenBackend {
        TokenBackend::with_keys(
            JwtKeys::hmac(secret),
            algorithm,
            leeway,
            Audience::default(),
        )
    }

    /// Checks every token against the strict profile (and types new access tokens `typ`).
    pub fn with_strict_profile(mut self, profile: StrictProfile) -> TokenBackend {
        self.strict = Some(profile);
        self
    }

    /// The wire names of the type, id and user claims (simplejwt's `*_CLAIM` settings).
    pub fn with_claim_names(mut self, names: ClaimNames) -> TokenBackend {
        self.claim_names = names;
        self
    }

    pub fn with_keys(
        keys: JwtKeys,
        algorithm: JwtAlgorithm,
        leeway: u64,
        audience: Audience,
    ) -> TokenBackend {
        let validation = algorithm.pinned_validation();
        let hmac_algorithm = match algorithm {
            JwtAlgorithm::HS256 => Some(aws_lc_rs::hmac::HMAC_SHA256),
            JwtAlgorithm::HS384 => Some(aws_lc_rs::hmac::HMAC_SHA384),
            JwtAlgorithm::HS512 => Some(aws_lc_rs::hmac::HMAC_SHA512),
            _ => None,
        };
        let own_hmac = hmac_algorithm
            .zip(keys.hmac_secret.as_deref())
            .map(|(algorithm, secret)| aws_lc_rs::hmac::Key::new(algorithm, secret));
        let algorithm = algorithm.jsonwebtoken();
        let header = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, algorithm_name(algorithm));
        TokenBackend {
            algorithm,
            header: URL_SAFE_NO_PAD.encode(header),
            encoding_key: keys.signing,
            verifier: keys.verifying.map_or(Verifier::Nothing, Verifier::Key),
            ring: None,
            validation,
            leeway: leeway as f64,
            audience,
            claim_names: ClaimNames::default(),
            strict: None,
            own_hmac,
        }
    }

    /// Verifies with the issuer's key set (`JWT_JWK_URL`) instead of the verifying key.
    pub fn with_key_set(mut self, key_set: Arc<JwksClient>) -> TokenBackend {
        self.verifier = Verifier::KeySet(key_set);
        self
    }

    /// With a key set: fetches it when it cannot verify this token as it is (its `kid` is
    /// new, or the set is stale), bounded in time. Call before `decode`; a no-op otherwise.
    pub async fn prepare(&self, token: &str) {
        if let Verifier::KeySet(key_set) = &self.verifier
            && let Some(kid) = key_id(token)
        {
            key_set.prepare(&kid).await;
        }
    }

    /// Signs with the ring's active key once there is one, and verifies by `kid` with its keys.
    pub fn with_key_ring(mut self, ring: Arc<KeyRing>) -> TokenBackend {
        self.ring = Some(ring);
        self
    }

    fn access_typ(&self) -> Option<&str> {
        self.strict.as_ref()?.access_typ.as_deref()
    }

    /// Whether this instance can issue tokens: the ring's signing key once the ring is in use
    /// (none when every activated key was retired), else the configured one.
    pub fn can_sign(&self) -> bool {
        match self.ring.as_ref().map(|ring| ring.state()) {
            Some(ring) if ring.in_use() => ring.signing.is_some(),
            _ => self.encoding_key.is_some(),
        }
    }

    /// Signs the claims, keeping their order, under the header `{"alg":"HS256","typ":"JWT"}`,
    /// with `aud` and `iss` appended when configured (as simplejwt's backend adds them).
    /// `None` on a verify-only instance, or when the signer refuses (never with a key that
    /// passed the startup check).
    pub fn encode(&self, claims: &Claims) -> Option<String> {
        let ring = self.ring.as_ref().map(|ring| ring.state());
        let ring_key = ring.as_ref().and_then(|ring| ring.signing.as_ref());
        // Once the ring is in use the configured key never signs again: its tokens (no kid)
        // would outlive the window in which they are accepted.
        if ring.as_ref().is_some_and(|ring| ring.in_use()) && ring_key.is_none() {
            return None;
        }
        let (header, key, algorithm) = match ring_key {
            Some(ring_key) => (
                ring_key.header.as_str(),
                &ring_key.encoding,
                ring_key.algorithm.jsonwebtoken(),
            ),
            None => (
                self.header.as_str(),
                self.encoding_key.as_ref()?,
                self.algorithm,
            ),
        };
        let renamed;
        let claims = if self.claim_names.is_default() {
            claims
        } else {
            renamed = self.claim_names.wire_names(claims);
            &renamed
        };
        let mut with_audience;
        let claims = if self.audience.audience.is_some() || self.audience.issuer.is_some() {
            with_audience = claims.clone();
            if let Some(audience) = &self.audience.audience {
                with_audience.insert("aud".into(), audience.as_str().into());
            }
            if let Some(issuer) = &self.audience.issuer {
                with_audience.insert("iss".into(), issuer.as_str().into());
            }
            &with_audience
        } else {
            claims
        };
        let payload = serde_json::to_vec(claims).ok()?;
        let typed;
        let header = match self.access_typ() {
            Some(typ) if claim(claims, &self.claim_names.token_type) == Some(&"access".into()) => {
                typed = typed_header(header, typ)?;
                typed.as_str()
            }
            _ => header,
        };
        let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, algorithm).ok()?;
        Some(format!("{message}.{signature}"))
    }

    /// Verifies signature and algorithm, then PyJWT's header checks and registered-claim checks
    /// (`exp`, `nbf`, `iat`, and the types of `jti` and `sub`).
    pub fn decode(&self, token: &str, now: f64) -> Result<Claims, TokenError> {
        // With a ring in use, the `kid` chooses the key; a token without one is the configured
        // key's, accepted only as long as the tokens issued before the rotation live.
        let ring = self
            .ring
            .as_ref()
            .map(|ring| ring.state())
            .filter(|ring| ring.in_use());
        // A token this ring signed has exactly the header of its key: found without decoding.
        let header_segment = token.split('.').next().unwrap_or_default();
        let signed_here = ring
            .as_ref()
            .and_then(|ring| ring.key_by_header(header_segment).cloned());
        let kid = match (&ring, &self.verifier, &signed_here) {
            (_, _, Some(_)) | (None, Verifier::Key(_), _) => None,
            _ => key_id(token),
        };
        let has_kid = signed_here.is_some() || kid.is_some();
        let known_header = header_segment == self.header || signed_here.is_some();
        let ring_key = match (&ring, &kid, signed_here) {
            (_, _, Some(key)) => Some(key),
            (Some(ring), Some(kid), None) => ring.key(kid).cloned(),
            _ => None,
        };
        let from_key_set;
        let (key, validation) = match (&ring_key, &self.verifier) {
            (Some(ring_key), _) => (&ring_key.decoding, &ring_key.validation),
            (None, Verifier::Key(_)) if ring.is_some() && has_kid => {
                return Err(TokenError::Invalid);
            }
            (None, Verifier::Key(key)) => (key, &self.validation),
            (None, Verifier::KeySet(key_set)) => {
                from_key_set = kid
                    .as_deref()
                    .and_then(|kid| key_set.key(kid))
                    .ok_or(TokenError::Invalid)?;
                (&*from_key_set, &self.validation)
            }
            (None, Verifier::Nothing) => return Err(TokenError::Invalid),
        };
        let strict_rules = self.strict.as_ref().is_some_and(|profile| profile.rules);
        let own = match (&ring_key, &self.verifier, &self.own_hmac) {
            (None, Verifier::Key(_), Some(hmac)) if header_segment == self.header => Some(hmac),
            _ => None,
        };
        let own_claims = match own {
            Some(hmac) if strict_rules => decode_own::<UniqueClaims>(hmac, token)?.map(|c| c.0),
            Some(hmac) => decode_own::<JsonwebtokenClaims>(hmac, token)?.map(|c| c.0),
            None => None,
        };
        let data = match own_claims {
            Some(claims) => jsonwebtoken::TokenData {
                header: Header::new(self.algorithm),
                claims,
            },
            // A claim named twice fails while the claims are read: no second parse.
            None if strict_rules => jsonwebtoken::decode::<UniqueClaims>(token, key, validation)
                .map(|data| jsonwebtoken::TokenData {
                    header: data.header,
                    claims: data.claims.0,
                })
                .map_err(|_| TokenError::Invalid)?,
            None => jsonwebtoken::decode::<Claims>(token, key, validation)
                .map_err(|_| TokenError::Invalid)?,
        };
        let legacy_until = ring
            .as_ref()
            .filter(|_| !has_kid)
            .and_then(|ring| ring.legacy_until);
        if let Some(until) = legacy_until {
            let exp = claim(&data.claims, "exp").and_then(number);
            if exp.is_none_or(|exp| exp > until as f64) {
                return Err(TokenError::Invalid);
            }
        }
        if !supported_header(&data.header) {
            return Err(TokenError::Invalid);
        }
        if let Some(profile) = &self.strict {
            // A header this backend writes has no member twice: only others are read again.
            profile.check(token, known_header, &data, &self.claim_names.token_type)?;
        }
        let claims = data.claims;
        if let Some(exp) = claim(&claims, "exp") {
            // PyJWT's `int(exp)`; a numeric string passes there and then crashes simplejwt.
            let exp = number(exp).ok_or(TokenError::Invalid)?;
            if exp <= now - self.leeway {
                return Err(TokenError::Expired);
            }
        }
        for name in ["nbf", "iat"] {
            if let Some(value) = claim(&claims, name) {
                let instant = integer_like(value).ok_or(TokenError::Invalid)?;
                if instant > now + self.leeway {
                    return Err(TokenError::Invalid);
                }
            }
        }
        // PyJWT refuses a `jti` or `sub` that is present but not a string (null included).
        for name in ["jti", "sub"] {
            if claim(&claims, name).is_some_and(|value| !value.is_string()) {
                return Err(TokenError::Invalid);
            }
        }
        self.check_audience(&claims)?;
        Ok(self.claim_names.inside_names(claims))
    }

    /// PyJWT's `aud` and `iss` checks as simplejwt asks for them: only when configured (then
    /// the claim is required); `aud` may be one string or a list of strings.
    fn check_audience(&self, claims: &Claims) -> Result<(), TokenError> {
        if let Some(expected) = &self.audience.audience {
            let matches = match claim(claims, "aud") {
                Some(Value::String(aud)) => aud == expected,
                Some(Value::Array(auds)) => {
                    auds.iter().all(Value::is_string)
                        && auds.iter().any(|aud| aud.as_str() == Some(expected))
                }
                _ => false,
            };
            if !matches {
                return Err(TokenError::Invalid);
            }
        }
        if let Some(expected) = &self.audience.issuer
            && claim(claims, "iss").and_then(Value::as_str) != Some(expected)
        {
            return Err(TokenError::Invalid);
        }
        Ok(())
    }
}

/// The strict token profile (`JWT_STRICT`, on by default; `JWT_TYP`), on top of PyJWT's
/// checks, which stay as they are:
/// - no member name twice in the JOSE header or the claims (RFC 7519 lets the last one win;
///   two parsers reading different values is how claims are smuggled, CVE-2022-39227);
/// - `exp`, `iat` and `nbf`, when present, are JSON integers within ±2^53, and `exp` is before
///   the year 10000 (PyJWT takes `true`, `"1000"`, `1e300`);
/// - with `JWT_TYP` (e.g. `at+jwt`, RFC 9068), access tokens carry it as `typ` and an access
///   token without it is refused.
#[derive(Debug, Clone, Default)]
pub struct StrictProfile {
    /// `JWT_STRICT`: the member and time-claim rules.
    pub rules: bool,
    /// `JWT_TYP`.
    pub access_typ: Option<String>,
}

/// 2^53: beyond it a JSON number is not an exact integer everywhere.
const MAX_SAFE_INTEGER: i64 = 1 << 53;
/// 10000-01-01T00:00:00Z.
const YEAR_10000: i64 = 253_402_300_800;

impl StrictProfile {
    fn check(
        &self,
        token: &str,
        known_header: bool,
        data: &jsonwebtoken::TokenData<Claims>,
        token_type_claim: &str,
    ) -> Result<(), TokenError> {
        if self.rules {
            self.check_rules(token, known_header, &data.claims)?;
        }
        if let Some(typ) = &self.access_typ
            && claim(&data.claims, token_type_claim).and_then(Value::as_str) == Some("access")
            && data.header.typ.as_deref() != Some(typ.as_str())
        {
            return Err(TokenError::Invalid);
        }
        Ok(())
    }

    /// The claims were read as `UniqueClaims` (no member twice); the header is read here.
    fn check_rules(
        &self,
        token: &str,
        known_header: bool,
        claims: &Claims,
    ) -> Result<(), TokenError> {
        if !known_header {
            let header = token
                .split('.')
                .next()
                .and_then(|segment| URL_SAFE_NO_PAD.decode(segment).ok())
                .ok_or(TokenError::Invalid)?;
            if has_duplicate_members(&header) {
                return Err(TokenError::Invalid);
            }
        }
        for name in ["exp", "iat", "nbf"] {
            let Some(value) = claim(claims, name) else {
                continue;
            };
            let integer = value
                .as_i64()
                .filter(|n| (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(n));
            match integer {
                Some(exp) if name == "exp" && exp >= YEAR_10000 => {
                    return Err(TokenError::Invalid);
                }
                Some(_) => {}
                None => return Err(TokenError::Invalid),
            }
        }
        Ok(())
    }
}

/// A token with this backend's own header (its exact bytes: the configured HMAC algorithm, so
/// nothing in it needs reading) checked as jsonwebtoken checks it, with the key prepared once
/// (jsonwebtoken prepares one per token, ~6,000 instructions): exactly three segments, the
/// signature base64url without padding and verified in constant time (aws-lc's
/// `hmac::verify`, jsonwebtoken's own call), then the payload's JSON. `Ok(None)`: a claim
/// jsonwebtoken's validation reads again (`exp`, `nbf`, `sub`, `iss`, `aud`) holds an array or
/// an object, which that second reading may refuse: jsonwebtoken decides those rare tokens.
fn decode_own<T: serde::de::DeserializeOwned + AsRef<Claims>>(
    hmac: &aws_lc_rs::hmac::Key,
    token: &str,
) -> Result<Option<T>, TokenError> {
    let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
    let (_, payload) = message.split_once('.').ok_or(TokenError::Invalid)?;
    if payload.contains('.') {
        return Err(TokenError::Invalid);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Invalid)?;
    aws_lc_rs::hmac::verify(hmac, message.as_bytes(), &signature)
        .map_err(|_| TokenError::Invalid)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Invalid)?;
    let claims: T = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
    let read_again = claims.as_ref().iter().any(|(name, value)| {
        matches!(name.as_str(), "exp" | "nbf" | "sub" | "iss" | "aud")
            && (value.is_array() || value.is_object())
    });
    Ok((!read_again).then_some(claims))
}

/// Claims read into a map, refusing a member named twice (instead of keeping the last).
struct UniqueClaims(Claims);

/// Claims read as `jsonwebtoken::decode` reads them: a member named twice keeps its last value,
/// except the five its validation reads again (`exp`, `nbf`, `sub`, `iss`, `aud`), which it
/// refuses twice. The backend's own check reads claims this way without `JWT_STRICT`.
struct JsonwebtokenClaims(Claims);

impl AsRef<Claims> for UniqueClaims {
    fn as_ref(&self) -> &Claims {
        &self.0
    }
}

impl AsRef<Claims> for JsonwebtokenClaims {
    fn as_ref(&self) -> &Claims {
        &self.0
    }
}

/// The members of a JSON object into claims; `refused_twice` names those that may not repeat.
fn read_claims<'de, A: serde::de::MapAccess<'de>>(
    mut access: A,
    refused_twice: impl Fn(&str) -> bool,
) -> Result<Claims, A::Error> {
    let mut claims = Claims::new();
    while let Some(name) = access.next_key::<String>()? {
        if refused_twice(&name) && claims.contains_key(&name) {
            return Err(serde::de::Error::custom("a claim named twice"));
        }
        let value = access.next_value::<Value>()?;
        claims.insert(name, value);
    }
    Ok(claims)
}

/// A visitor of a JSON object's members, refusing those `refused_twice` names twice.
struct Members<F>(F);

impl<'de, F: Fn(&str) -> bool> serde::de::Visitor<'de> for Members<F> {
    type Value = Claims;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, access: A) -> Result<Claims, A::Error> {
        read_claims(access, self.0)
    }
}

impl<'de> serde::Deserialize<'de> for UniqueClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(Members(|_: &str| true))
            .map(UniqueClaims)
    }
}

impl<'de> serde::Deserialize<'de> for JsonwebtokenClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let validated = |name: &str| matches!(name, "exp" | "nbf" | "sub" | "iss" | "aud");
        deserializer
            .deserialize_map(Members(validated))
            .map(JsonwebtokenClaims)
    }
}

/// Whether the JSON object names a member twice (at its top level).
fn has_duplicate_members(json: &[u8]) -> bool {
    struct Names(bool);
    impl<'de> serde::de::Visitor<'de> for &mut Names {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::with_capacity(8);
            while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                if seen.contains(&name) {
                    self.0 = true;
                }
                seen.push(name);
            }
            Ok(())
        }
    }
    let mut names = Names(false);
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    match serde::Deserializer::deserialize_map(&mut deserializer, &mut names) {
        Ok(()) => names.0,
        // Not an object: jsonwebtoken already refused it; refuse it here too.
        Err(_) => true,
    }
}

/// `header` (base64url JSON) with `typ` set to `typ`.
fn typed_header(header: &str, typ: &str) -> Option<String> {
    let json = URL_SAFE_NO_PAD.decode(header).ok()?;
    let mut value: Map<String, Value> = serde_json::from_slice(&json).ok()?;
    value.insert("typ".into(), typ.into());
    Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&value).ok()?))
}

/// The token's `kid` header, as the key set's lookup key only (never a path or a URL).
fn key_id(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// The `alg` header value (jsonwebtoken's `Debug` names match the JOSE names).
fn algorithm_name(algorithm: Algorithm) -> String {
    format!("{algorithm:?}")
}

/// PyJWT refuses critical header extensions it does not implement (`crit`) and unencoded
/// payloads (`b64: false`); jsonwebtoken accepts both, so they are checked here.
fn supported_header(header: &Header) -> bool {
    header.crit.is_none()
        && header
            .extras
            .inner()
            .get("b64")
            .is_none_or(|b64| *b64 == Value::Bool(true))
}

/// A time claim as PyJWT's `int(value)` reads a JSON number or boolean (`true` is 1).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Bool(flag) => Some(f64::from(u8::from(*flag))),
        other => other.as_f64().map(f64::trunc),
    }
}

/// `number`, plus the integer strings Python's `int()` accepts (`iat`, `nbf`).
fn integer_like(value: &Value) -> Option<f64> {
    match value {
        Value::String(text) => text.trim().parse::<i64>().ok().map(|n| n as f64),
        other => number(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backend() -> TokenBackend {
        TokenBackend::new(&[7u8; 32], JwtAlgorithm::HS256, 0)
    }

    fn claims(value: Value) -> Claims {
        value.as_object().unwrap().clone()
    }

    /// Whether jsonwebtoken itself accepts `token` (the reference `decode_own` must match).
    fn jsonwebtoken_accepts(secret: &[u8], algorithm: JwtAlgorithm, token: &str) -> bool {
        jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(secret),
            &algorithm.pinned_validation(),
        )
        .is_ok()
    }

    fn own_accepts(backend: &TokenBackend, token: &str) -> bool {
        // Deferred (`Ok(None)`) counts as jsonwebtoken's answer: none of these tokens defers.
        decode_own::<JsonwebtokenClaims>(backend.own_hmac.as_ref().unwrap(), token)
            .is_ok_and(|claims| claims.is_some())
    }

    #[test]
    fn own_tokens_are_checked_exactly_as_jsonwebtoken_checks_them() {
        for algorithm in [
            JwtAlgorithm::HS256,
            JwtAlgorithm::HS384,
            JwtAlgorithm::HS512,
        ] {
            let secret = [7u8; 64];
            let backend = TokenBackend::new(&secret, algorithm, 0);
            let other = TokenBackend::new(&[8u8; 64], algorithm, 0);
            let payload = claims(json!({"exp": 4_000_000_000u64, "jti": "a", "user_id": "1"}));
            let token = backend.encode(&payload).unwrap();
            let (message, signature) = token.rsplit_once('.').unwrap();
            let (header, body) = message.split_once('.').unwrap();
            let forged = other.encode(&payload).unwrap();
            let forged_signature = forged.rsplit_once('.').unwrap().1;
            let mut flipped = signature.to_string().into_bytes();
            flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
            let flipped = String::from_utf8(flipped).unwrap();
            let mut last_bits = signature.to_string();
            let last = last_bits.pop().unwrap();
            last_bits.push(if last == 'A' { 'B' } else { 'A' });
            let cases = [
                token.clone(),
                format!("{message}.{forged_signature}"),
                format!("{message}.{flipped}"),
                format!("{message}.{last_bits}"),
                format!("{message}.{signature}="),
                format!("{message}.{signature}=="),
                format!("{message}."),
                message.to_string(),
                format!("{message}.{signature}.x"),
                format!("{header}.{body}.x.{signature}"),
                format!("{header}..{signature}"),
                format!("{header}.{body}x.{signature}"),
                format!("{header}.{body}=.{signature}"),
                format!("{message}.{signature}\0"),
                format!("{message}. {signature}"),
                format!("{message}.{}", &signature[..signature.len() - 1]),
                format!("{header}.{}.{signature}", URL_SAFE_NO_PAD.encode("[1]")),
                format!("{header}.{}.{signature}", "A".repeat(200_000)),
                format!("{message}.{}", "A".repeat(200_000)),
                String::new(),
                "..".to_string(),
            ];
            for case in &cases {
                assert_eq!(
                    own_accepts(&backend, case),
                    jsonwebtoken_accepts(&secret, algorithm, case),
                    "{algorithm:?}: {case}"
                );
            }
            assert!(own_accepts(&backend, &token));
            assert!(!own_accepts(&backend, &cases[1]));
        }
    }

    /// `decode` with the backend's own check and with jsonwebtoken alone, on payloads signed
    /// with the right key (so only the reading of the claims can differ).
    #[test]
    fn signed_payloads_decode_alike_on_both_paths() {
        let secret = [5u8; 32];
        let payloads = [
            r#"{"exp":4000000000,"jti":"a"}"#,
            r#"{"exp":1,"exp":4000000000,"jti":"a"}"#,
            r#"{"exp":4000000000,"nbf":1,"nbf":2}"#,
            r#"{"exp":4000000000,"sub":"a","sub":"b"}"#,
            r#"{"exp":4000000000,"iss":"a","iss":"b"}"#,
            r#"{"exp":4000000000,"aud":"a","aud":"b"}"#,
            r#"{"exp":4000000000,"jti":"a","jti":"b"}"#,
            r#"{"exp":4000000000,"x":1,"x":2}"#,
            r#"{"exp":4000000000,"sub":{}}"#,
            r#"{"exp":4000000000,"sub":[]}"#,
            r#"{"exp":{"a":1}}"#,
            r#"{"exp":[1]}"#,
            r#"{"exp":4000000000,"nbf":[1]}"#,
            r#"{"exp":4000000000,"iat":{}}"#,
            r#"{"exp":4000000000,"iss":{}}"#,
            r#"{"exp":4000000000,"iss":1}"#,
            r#"{"exp":4000000000,"aud":{}}"#,
            r#"{"exp":4000000000,"aud":[1]}"#,
            r#"{"exp":4000000000,"aud":[[]]}"#,
            r#"{"exp":"4000000000"}"#,
            r#"{"exp":4000000000.5}"#,
            r#"{"exp":-1e400}"#,
            r#"{"exp":4000000000,"sub":"A"}"#,
            r#"{"exp":4000000000,"iss":"A"}"#,
            r#" { "exp" : 4000000000 } "#,
            r#"[1]"#,
            r#"{"exp":4000000000}x"#,
            r#"null"#,
        ];
        for strict in [true, false] {
            let profile = || StrictProfile {
                rules: strict,
                access_typ: None,
            };
            let own =
                TokenBackend::new(&secret, JwtAlgorithm::HS256, 0).with_strict_profile(profile());
            let mut reference =
                TokenBackend::new(&secret, JwtAlgorithm::HS256, 0).with_strict_profile(profile());
            reference.own_hmac = None;
            for payload in payloads {
                let message = format!("{}.{}", own.header, URL_SAFE_NO_PAD.encode(payload));
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
                let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
                let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
                assert_eq!(
                    own.decode(&token, 1000.0),
                    reference.decode(&token, 1000.0),
                    "strict={strict}: {payload}"
                );
            }
        }
    }

    proptest::proptest! {
        /// Signed payloads of random members (names that repeat, values of every JSON type):
        /// `decode` answers alike on both paths, with and without the strict profile.
        #[test]
        fn random_signed_payloads_decode_alike_on_both_paths(
            members in proptest::collection::vec((0usize..8, 0usize..9), 0..7),
            strict in proptest::prelude::any::<bool>(),
        ) {
            const NAMES: [&str; 8] = ["exp", "nbf", "iat", "sub", "iss", "aud", "jti", "x"];
            const VALUES: [&str; 9] = [
                "4000000000", "1", "\"s\"", "{}", "[]", "[\"a\"]", "null", "true", "1.5",
            ];
            let body: Vec<String> = members
                .iter()
                .map(|(name, value)| format!("\"{}\":{}", NAMES[*name], VALUES[*value]))
                .collect();
            let payload = format!("{{{}}}", body.join(","));
            let secret = [6u8; 32];
            let profile = || StrictProfile { rules: strict, access_typ: None };
            let own = TokenBackend::new(&secret, JwtAlgorithm::HS256, 0).with_strict_profile(profile());
            let mut reference =
                TokenBackend::new(&secret, JwtAlgorithm::HS256, 0).with_strict_profile(profile());
            reference.own_hmac = None;
            let message = format!("{}.{}", own.header, URL_SAFE_NO_PAD.encode(&payload));
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
            let tag = aws_lc_rs::hmac::sign(&key, message.as_bytes());
            let token = format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
            proptest::prop_assert_eq!(own.decode(&token, 1000.0), reference.decode(&token, 1000.0), "{}", payload);
        }

        /// Any byte of a valid token changed, removed or added: the backend's own check and
        /// jsonwebtoken's agree.
        #[test]
        fn own_check_agrees_with_jsonwebtoken_on_mutated_tokens(
            position in 0usize..200,
            byte in proptest::prelude::any::<u8>(),
            edit in 0u8..3,
        ) {
            let secret = [9u8; 32];
            let backend = TokenBackend::new(&secret, JwtAlgorithm::HS256, 0);
            let token = backend
                .encode(&claims(json!({"exp": 4_000_000_000u64, "jti": "b", "user_id": 2})))
                .unwrap();
            let mut bytes = token.into_bytes();
            let at = position % bytes.len();
            match edit {
                0 => bytes[at] = byte,
                1 => { bytes.remove(at); }
                _ => bytes.insert(at, byte),
            }
            if let Ok(mutated) = String::from_utf8(bytes) {
                proptest::prop_assert_eq!(
                    own_accepts(&backend, &mutated),
                    jsonwebtoken_accepts(&secret, JwtAlgorithm::HS256, &mutated)
                );
            }
        }
    }

    #[test]
    fn round_trip_keeps_claim_order_and_header() {
        let token = backend()
            .encode(&claims(
                json!({"token_type": "access", "exp": 2000, "iat": 1000}),
            ))
            .unwrap();
        let header = URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        assert_eq!(payload, br#"{"token_type":"access","exp":2000,"iat":1000}"#);
        assert!(backend().decode(&token, 1500.0).is_ok());
    }

    #[test]
    fn expiry_is_inclusive_like_pyjwt() {
        let token = backend().encode(&claims(json!({"exp": 2000}))).unwrap();
        assert_eq!(backend().decode(&token, 2000.0), Err(TokenError::Expired));
        assert!(backend().decode(&token, 1999.5).is_ok());
    }

    #[test]
    fn other_keys_algorithms_and_none_are_invalid() {
        let token = backend().encode(&claims(json!({"exp": 2000}))).unwrap();
        let other_key = TokenBackend::new(&[8u8; 32], JwtAlgorithm::HS256, 0);
        assert_eq!(other_key.decode(&token, 0.0), Err(TokenError::Invalid));
        let hs512 = TokenBackend::new(&[7u8; 32], JwtAlgorithm::HS512, 0)
            .encode(&claims(json!({"exp": 2000})))
            .unwrap();
        assert_eq!(backend().decode(&hs512, 0.0), Err(TokenError::Invalid));
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = token.split('.').nth(1).unwrap();
        assert_eq!(
            backend().decode(&format!("{none_header}.{payload}."), 0.0),
            Err(TokenError::Invalid)
        );
        assert_eq!(backend().decode("garbage", 0.0), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_and_badly_signed_is_invalid() {
        let token = TokenBackend::new(&[8u8; 32], JwtAlgorithm::HS256, 0)
            .encode(&claims(json!({"exp": 1})))
            .unwrap();
        assert_eq!(backend().decode(&token, 100.0), Err(TokenError::Invalid));
    }

    #[test]
    fn non_string_jti_or_sub_and_critical_headers_are_invalid() {
        for claims_value in [
            json!({"exp": 2000, "jti": 5}),
            json!({"exp": 2000, "jti": null}),
            json!({"exp": 2000, "sub": 1}),
        ] {
            let token = backend().encode(&claims(claims_value)).unwrap();
            assert_eq!(backend().decode(&token, 0.0), Err(TokenError::Invalid));
        }
        let message = |header: &str| {
            let payload = URL_SAFE_NO_PAD.encode(r#"{"exp":2000}"#);
            format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header))
        };
        for header in [
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","b64":false}"#,
        ] {
            let message = message(header);
            let key = EncodingKey::from_secret(&[7u8; 32]);
            let signature =
                jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
            let token = format!("{message}.{signature}");
            assert_eq!(backend().decode(&token, 0.0), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn time_claims_are_read_as_python_int_reads_them() {
        let expired = backend().encode(&claims(json!({"exp": true}))).unwrap();
        assert_eq!(backend().decode(&expired, 10.0), Err(TokenError::Expired));
        let text_iat = backend()
            .encode(&claims(json!({"exp": 2000, "iat": "1000", "nbf": true})))
            .unwrap();
        assert!(backend().decode(&text_iat, 1500.0).is_ok());
        let future = backend()
            .encode(&claims(json!({"exp": 2000, "nbf": "1900"})))
            .unwrap();
        assert_eq!(backend().decode(&future, 1500.0), Err(TokenError::Invalid));
    }

    #[test]
    fn future_iat_and_non_numeric_exp_are_invalid() {
        let future = backend()
            .encode(&claims(json!({"exp": 5000, "iat": 4000})))
            .unwrap();
        assert_eq!(backend().decode(&future, 1000.0), Err(TokenError::Invalid));
        let text_exp = backend().encode(&claims(json!({"exp": "soon"}))).unwrap();
        assert_eq!(
            backend().decode(&text_exp, 1000.0),
            Err(TokenError::Invalid)
        );
    }
}
