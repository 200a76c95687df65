//! Which client addresses count as one client, for every per-client limit.
//!
//! An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is the IPv4 client it maps. An IPv6 client
//! is usually given a whole /64 by its provider, and can pick any address in it: counting
//! per address would give one client 2^64 separate limits, so IPv6 clients count by their /64.

use std::net::{IpAddr, Ipv6Addr};

/// The prefix length IPv6 clients are counted by.
pub const IPV6_CLIENT_PREFIX: u8 = 64;

/// The address that stands for `ip`'s client in every per-client count.
pub fn client_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = u128::MAX << (128 - u32::from(IPV6_CLIENT_PREFIX));
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(ip: &str) -> String {
        client_bucket(ip.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(bucket("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
        assert_eq!(bucket("2001:db8:1:2:ffff::1"), "2001:db8:1:2::");
        assert_eq!(bucket("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(bucket("192.0.2.7"), "192.0.2.7");
    }
}
