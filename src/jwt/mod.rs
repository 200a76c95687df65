//! The djangorestframework-simplejwt port: tokens, the JWT authentication class and the token views.

pub mod authentication;
pub mod backends;
pub mod exceptions;
pub mod serializers;
pub mod tokens;
pub mod views;

pub use backends::{JwtAlgorithm, TokenBackend};
pub use exceptions::TokenError;
