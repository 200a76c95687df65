//! Which client addresses count as one client, for every per-client limit (the throttles, the
//! login failure limits, the hashing queue's fair share).
//!
//! An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is the IPv4 client it maps. An IPv6 client
//! is usually given a whole /64 by its provider, and can pick any address in it: counting
//! per address would give one client 2^64 separate limits, so IPv6 clients count by their
//! prefix (`THROTTLE_IPV6_PREFIX`, 64 by default; 128 counts every address apart).

use std::net::{IpAddr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientBuckets {
    ipv6_prefix: u8,
}

impl Default for ClientBuckets {
    fn default() -> ClientBuckets {
        ClientBuckets { ipv6_prefix: 64 }
    }
}

impl ClientBuckets {
    /// Counts IPv6 clients by their first `ipv6_prefix` bits (1 to 128).
    pub fn new(ipv6_prefix: u8) -> Result<ClientBuckets, String> {
        if !(1..=128).contains(&ipv6_prefix) {
            return Err(format!(
                "{ipv6_prefix} is not a prefix length from 1 to 128"
            ));
        }
        Ok(ClientBuckets { ipv6_prefix })
    }

    /// The address that stands for `ip`'s client in every per-client count.
    pub fn bucket(self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mask = u128::MAX << (128 - u32::from(self.ipv6_prefix));
                    IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
                }
            },
        }
    }
}

impl std::str::FromStr for ClientBuckets {
    type Err = String;

    fn from_str(value: &str) -> Result<ClientBuckets, String> {
        let prefix = value
            .parse::<u8>()
            .map_err(|_| format!("{value:?} is not a prefix length from 1 to 128"))?;
        ClientBuckets::new(prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(prefix: u8, ip: &str) -> String {
        ClientBuckets::new(prefix)
            .unwrap()
            .bucket(ip.parse().unwrap())
            .to_string()
    }

    #[test]
    fn ipv6_counts_by_its_prefix_and_mapped_ipv4_as_ipv4() {
        assert_eq!(bucket(64, "2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::");
        assert_eq!(bucket(64, "2001:db8:1:2:ffff::1"), "2001:db8:1:2::");
        assert_eq!(bucket(48, "2001:db8:1:2:3:4:5:6"), "2001:db8:1::");
        assert_eq!(bucket(128, "2001:db8::6"), "2001:db8::6");
        assert_eq!(bucket(64, "::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(bucket(64, "192.0.2.7"), "192.0.2.7");
        assert!(ClientBuckets::new(0).is_err());
        assert!(ClientBuckets::new(129).is_err());
    }
}
