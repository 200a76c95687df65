//! The djangorestframework-simplejwt port: tokens, the JWT authentication class and the token views.

pub mod algorithms;
pub mod authentication;
pub mod backends;
pub mod cookie;
pub mod exceptions;
pub mod families;
pub mod jwks;
pub mod keys;
pub mod revocations;
pub mod revoke;
pub mod ring;
pub mod serializers;
pub mod sessions;
pub mod tokens;
pub mod views;

pub use algorithms::JwtAlgorithm;
pub use backends::{Audience, ClaimNames, TokenBackend};
pub use exceptions::TokenError;
