//! simplejwt's `CHECK_REVOKE_TOKEN`: every new token carries a claim (`REVOKE_TOKEN_CLAIM`,
//! default `hash_password`) derived from the user's stored password hash, and a token whose
//! claim no longer matches the user's current hash is refused with `password_changed`, also
//! when the password was changed outside portcullis (Django's admin on a shared table, a SQL
//! script) and no token epoch moved.
//!
//! simplejwt's claim is the MD5 of the hash itself, readable by anyone holding the token. Here
//! it is an HMAC-SHA256 of the hash's digest (`PasswordTag`) under a key derived from
//! `SECRET_KEY`, cut to 128 bits: 32 uppercase hex characters, the shape of simplejwt's claim,
//! and nothing a token's holder can test a password guess against.

use aws_lc_rs::{constant_time, hkdf, hmac};
use serde_json::{Value, json};

use crate::jwt::tokens::Token;
use crate::models::users::User;
use crate::rest::ApiError;

/// The claim and the key it is computed with.
pub struct PasswordClaim {
    /// `REVOKE_TOKEN_CLAIM`.
    pub name: String,
    key: hmac::Key,
}

impl PasswordClaim {
    pub fn new(name: String, secret_key: &str) -> Result<PasswordClaim, String> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portcullis");
        let key: hmac::Key = salt
            .extract(secret_key.as_bytes())
            .expand(&[b"revoke token claim"], hmac::HMAC_SHA256)
            .map_err(|_| "cannot derive the revoke token claim's key".to_string())?
            .into();
        Ok(PasswordClaim { name, key })
    }

    /// The claim's value for the user's current password.
    pub fn value(&self, user: &User) -> String {
        let tag = hmac::sign(&self.key, &user.password_tag.0);
        hex::encode_upper(&tag.as_ref()[..16])
    }

    /// Adds the claim to a new token.
    pub fn add(&self, token: &mut Token, user: &User) {
        token
            .claims
            .insert(self.name.clone(), Value::String(self.value(user)));
    }

    /// Whether the token was issued for the user's current password (a token without the
    /// claim, issued before the setting was on, was not: simplejwt compares `None` too).
    pub fn matches(&self, token: &Token, user: &User) -> bool {
        let Some(Value::String(claimed)) = token.claim(&self.name) else {
            return false;
        };
        constant_time::verify_slices_are_equal(claimed.as_bytes(), self.value(user).as_bytes())
            .is_ok()
    }

    /// Refuses a token issued for another password than the user's current one.
    pub fn check(&self, token: &Token, user: &User) -> Result<(), ApiError> {
        if self.matches(token, user) {
            return Ok(());
        }
        Err(ApiError::authentication_failed_with(json!({
            "detail": "The user's password has been changed.",
            "code": "password_changed",
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tokens::{Lifetimes, Token};
    use crate::models::users::PasswordTag;

    fn user(hash: &str) -> User {
        User {
            id: 1,
            username: "u".into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            tokens_valid_after: 0,
            token_id: None,
            password_tag: PasswordTag::from(hash.to_string()),
        }
    }

    #[test]
    fn the_claim_follows_the_password_and_the_secret_key() {
        let claim = PasswordClaim::new("hash_password".into(), "a secret key").unwrap();
        let lifetimes = Lifetimes {
            access: 300,
            refresh: 3600,
        };
        let mut token = Token::refresh_for_user(1, lifetimes, 1000);
        let before = user("bcrypt$old");
        claim.add(&mut token, &before);
        let value = token.claims["hash_password"].as_str().unwrap().to_string();
        assert_eq!(value.len(), 32);
        assert!(
            value
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert!(claim.matches(&token, &before));
        assert!(!claim.matches(&token, &user("bcrypt$new")));
        let other_key = PasswordClaim::new("hash_password".into(), "another key").unwrap();
        assert!(!other_key.matches(&token, &before));
        token.claims.remove("hash_password");
        assert!(!claim.matches(&token, &before));
        token
            .claims
            .insert("hash_password".into(), json!(value.to_lowercase()));
        assert!(!claim.matches(&token, &before));
    }
}
