//! The class names the settings accept, parsed once into typed values.
//!
//! A new authentication class is one variant here, one arm in `FromStr` and one arm where
//! `state.rs` builds it.

use std::collections::HashMap;
use std::str::FromStr;

use crate::rest::throttling::Rate;

/// DRF's `DEFAULT_AUTHENTICATION_CLASSES` members, by their `AUTHENTICATION_CLASSES` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticationClass {
    /// simplejwt's `JWTAuthentication`.
    Jwt,
    /// simplejwt's `JWTStatelessUserAuthentication`: the user comes from the token's claims.
    JwtStateless,
    /// DRF's `SessionAuthentication` (the admin session, with CSRF on unsafe methods).
    Session,
    /// DRF's `BasicAuthentication`.
    Basic,
    /// DRF's `TokenAuthentication` (`Authorization: Token <key>`).
    Token,
    /// DRF's `RemoteUserAuthentication`: a trusted proxy names the user in a header.
    RemoteUser,
}

impl FromStr for AuthenticationClass {
    type Err = String;

    fn from_str(name: &str) -> Result<AuthenticationClass, String> {
        Ok(match name {
            "jwt" => AuthenticationClass::Jwt,
            "jwt_stateless" => AuthenticationClass::JwtStateless,
            "session" => AuthenticationClass::Session,
            "basic" => AuthenticationClass::Basic,
            "token" => AuthenticationClass::Token,
            "remote_user" => AuthenticationClass::RemoteUser,
            other => {
                return Err(format!(
                    "unknown class {other:?} (known: jwt, jwt_stateless, session, basic, token, remote_user)"
                ));
            }
        })
    }
}

/// DRF's `DEFAULT_THROTTLE_CLASSES` members, with the rate each one applies.
#[derive(Debug, Clone, PartialEq)]
pub enum ThrottleClass {
    /// `AnonRateThrottle` at the `anon` rate.
    Anon(Rate),
    /// `UserRateThrottle` at the `user` rate.
    User(Rate),
    /// `ScopedRateThrottle`: each view's `throttle_scope` picks its rate from all of them.
    Scoped(HashMap<String, Rate>),
}

impl ThrottleClass {
    /// The class named `name`, with its rate from `rates` (which must have it).
    pub fn from_name(name: &str, rates: &HashMap<String, Rate>) -> Result<ThrottleClass, String> {
        let rate = |scope: &str| {
            rates
                .get(scope)
                .copied()
                .ok_or_else(|| format!("no rate for the {scope:?} throttle class"))
        };
        Ok(match name {
            "anon" => ThrottleClass::Anon(rate("anon")?),
            "user" => ThrottleClass::User(rate("user")?),
            "scoped" => ThrottleClass::Scoped(rates.clone()),
            other => {
                return Err(format!(
                    "unknown class {other:?} (known: anon, user, scoped)"
                ));
            }
        })
    }
}

/// `THROTTLE_RATES`: `scope=rate` pairs.
pub fn parse_rates(value: &str) -> Result<HashMap<String, Rate>, String> {
    let mut rates = HashMap::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (scope, rate) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not scope=rate"))?;
        let rate = rate
            .trim()
            .parse::<Rate>()
            .map_err(|e| format!("{item:?}: {e}"))?;
        rates.insert(scope.trim().to_string(), rate);
    }
    Ok(rates)
}
