//! Provides `JwtAlgorithm`: simplejwt's `ALGORITHM` setting, which the keys and the backend
//! both need (so neither imports the other for it).

use jsonwebtoken::Algorithm;

/// simplejwt's `ALGORITHM` setting: HMAC with a shared secret, or RSA, RSA-PSS, ECDSA and
/// Ed25519 with a key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

const ALGORITHMS: [(&str, JwtAlgorithm); 12] = [
    ("HS256", JwtAlgorithm::HS256),
    ("HS384", JwtAlgorithm::HS384),
    ("HS512", JwtAlgorithm::HS512),
    ("RS256", JwtAlgorithm::RS256),
    ("RS384", JwtAlgorithm::RS384),
    ("RS512", JwtAlgorithm::RS512),
    ("PS256", JwtAlgorithm::PS256),
    ("PS384", JwtAlgorithm::PS384),
    ("PS512", JwtAlgorithm::PS512),
    ("ES256", JwtAlgorithm::ES256),
    ("ES384", JwtAlgorithm::ES384),
    ("EdDSA", JwtAlgorithm::EdDSA),
];

impl std::str::FromStr for JwtAlgorithm {
    type Err = String;

    fn from_str(value: &str) -> Result<JwtAlgorithm, String> {
        ALGORITHMS
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, algorithm)| *algorithm)
            .ok_or_else(|| {
                let names: Vec<&str> = ALGORITHMS.iter().map(|(name, _)| *name).collect();
                format!("{value:?} is not one of {}", names.join(", "))
            })
    }
}

impl JwtAlgorithm {
    /// The setting's name (`HS256`, `EdDSA`, ...).
    pub fn name(self) -> &'static str {
        ALGORITHMS
            .iter()
            .find(|(_, algorithm)| *algorithm == self)
            .map_or("", |(name, _)| name)
    }

    pub fn is_hmac(self) -> bool {
        matches!(
            self,
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512
        )
    }

    /// The key type: `HMAC`, `RSA` (RS and PS), `EC` or `OKP` (Ed25519).
    pub fn family(self) -> &'static str {
        use JwtAlgorithm::*;
        match self {
            HS256 | HS384 | HS512 => "HMAC",
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => "RSA",
            ES256 | ES384 => "EC",
            EdDSA => "OKP",
        }
    }

    /// jsonwebtoken's validation pinned to this algorithm, its time and audience checks off:
    /// the backend checks them with PyJWT's rules (jsonwebtoken's defaults are a 60 s leeway
    /// and `exp < now` instead of `exp <= now`).
    pub(crate) fn pinned_validation(self) -> jsonwebtoken::Validation {
        let mut validation = jsonwebtoken::Validation::new(self.jsonwebtoken());
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation
    }

    pub(crate) fn jsonwebtoken(self) -> Algorithm {
        use JwtAlgorithm::*;
        match self {
            HS256 => Algorithm::HS256,
            HS384 => Algorithm::HS384,
            HS512 => Algorithm::HS512,
            RS256 => Algorithm::RS256,
            RS384 => Algorithm::RS384,
            RS512 => Algorithm::RS512,
            PS256 => Algorithm::PS256,
            PS384 => Algorithm::PS384,
            PS512 => Algorithm::PS512,
            ES256 => Algorithm::ES256,
            ES384 => Algorithm::ES384,
            EdDSA => Algorithm::EdDSA,
        }
    }
}
