//! Provides `TokenBackend`, the only caller of jsonwebtoken: signs and verifies compact JWS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::JwtAlgorithm;
use crate::jwt::exceptions::TokenError;

pub type Claims = Map<String, Value>;

pub struct TokenBackend {
    algorithm: Algorithm,
    header: String,
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
    leeway: f64,
}

impl TokenBackend {
    pub fn new(secret: &[u8], algorithm: JwtAlgorithm, leeway: u64) -> TokenBackend {
        let algorithm = match algorithm {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::HS384 => Algorithm::HS384,
            JwtAlgorithm::HS512 => Algorithm::HS512,
        };
        // The algorithm is pinned; time claims are checked below with PyJWT's rules
        // (jsonwebtoken's defaults: 60 s leeway and `exp < now` instead of `exp <= now`).
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        let header = format!(r#"{{"alg":"{algorithm:?}","typ":"JWT"}}"#);
        TokenBackend {
            algorithm,
            header: URL_SAFE_NO_PAD.encode(header),
            encoding_key: EncodingKey::from_secret(secret),
            decoding_key: DecodingKey::from_secret(secret),
            validation,
            leeway: leeway as f64,
        }
    }

    /// Signs the claims, keeping their order, under the header `{"alg":"HS256","typ":"JWT"}`.
    pub fn encode(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let message = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(payload));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding_key, self.algorithm)
                .expect("HMAC signing cannot fail with a secret key");
        format!("{message}.{signature}")
    }

    /// Verifies signature and algorithm, then PyJWT's registered-claim checks (`exp`, `nbf`, `iat`).
    pub fn decode(&self, token: &str, now: f64) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding_key, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        if let Some(exp) = claims.get("exp") {
            let exp = numeric(exp).ok_or(TokenError::Invalid)?;
            if exp <= now - self.leeway {
                return Err(TokenError::Expired);
            }
        }
        for claim in ["nbf", "iat"] {
            if let Some(value) = claims.get(claim) {
                let instant = numeric(value).ok_or(TokenError::Invalid)?;
                if instant > now + self.leeway {
                    return Err(TokenError::Invalid);
                }
            }
        }
        Ok(claims)
    }
}

/// A time claim must be a number; PyJWT truncates it to an integer.
fn numeric(value: &Value) -> Option<f64> {
    value.as_f64().map(f64::trunc)
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

    #[test]
    fn round_trip_keeps_claim_order_and_header() {
        let token = backend().encode(&claims(
            json!({"token_type": "access", "exp": 2000, "iat": 1000}),
        ));
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
        let token = backend().encode(&claims(json!({"exp": 2000})));
        assert_eq!(backend().decode(&token, 2000.0), Err(TokenError::Expired));
        assert!(backend().decode(&token, 1999.5).is_ok());
    }

    #[test]
    fn other_keys_algorithms_and_none_are_invalid() {
        let token = backend().encode(&claims(json!({"exp": 2000})));
        let other_key = TokenBackend::new(&[8u8; 32], JwtAlgorithm::HS256, 0);
        assert_eq!(other_key.decode(&token, 0.0), Err(TokenError::Invalid));
        let hs512 = TokenBackend::new(&[7u8; 32], JwtAlgorithm::HS512, 0)
            .encode(&claims(json!({"exp": 2000})));
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
            .encode(&claims(json!({"exp": 1})));
        assert_eq!(backend().decode(&token, 100.0), Err(TokenError::Invalid));
    }

    #[test]
    fn future_iat_and_non_numeric_exp_are_invalid() {
        let future = backend().encode(&claims(json!({"exp": 5000, "iat": 4000})));
        assert_eq!(backend().decode(&future, 1000.0), Err(TokenError::Invalid));
        let text_exp = backend().encode(&claims(json!({"exp": "soon"})));
        assert_eq!(
            backend().decode(&text_exp, 1000.0),
            Err(TokenError::Invalid)
        );
    }
}
