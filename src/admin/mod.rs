//! The administrators' side: HTML login/logout/dashboard, server-side sessions and CSRF.

pub mod authentication;
pub mod csrf;
pub mod session;
