//! One integration-test binary: each test starts the real server on a loopback port.

mod admin;
mod auth_token;
mod bad_input;
mod basic_auth;
mod bench_endpoint;
mod bounds;
mod browser;
mod cli;
mod custom_views;
mod families;
mod hardening;
mod hello;
mod helpers;
mod keys;
mod login_failures;
mod production;
mod routing;
mod sessions;
mod sliding;
mod smoke;
mod throttling;
mod token_blacklist;
mod token_cookie;
mod token_obtain;
mod token_refresh;
mod token_verify;
