//! One integration-test binary: each test starts the real server on a loopback port.

mod cli;
mod helpers;
mod smoke;
