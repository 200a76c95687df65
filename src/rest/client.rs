//! Provides the client's identity (its IP address), believing forwarded headers only from trusted proxies.
//!
//! DRF keys throttles on the whole client-controlled `X-Forwarded-For`, which lets anyone reset
//! their own limit. Here the peer address is the client unless the peer is a trusted proxy; then
//! `X-Forwarded-For` is read right to left, skipping trusted hops, and the first untrusted
//! address is the client.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// `TRUSTED_PROXIES`, as application data: what a view reads when it asks whether the client
/// came over HTTPS (`Request::is_secure`).
pub struct TrustedProxies(pub Vec<IpNet>);

pub fn client_ip(request: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = peer_ip(request)?;
    // Most requests come straight from the client: no header to read.
    if !is_trusted(&peer, trusted_proxies) {
        return Some(peer);
    }
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    Some(resolve(peer, &forwarded, trusted_proxies))
}

/// The peer's address in its canonical form: a listener bound to `[::]` sees an IPv4 client
/// (an IPv4 nginx in front) as `::ffff:127.0.0.1`, which no IPv4 network in `TRUSTED_PROXIES`
/// contains. Every trust decision starts from this address.
pub fn peer_ip(request: &HttpRequest) -> Option<IpAddr> {
    request.peer_addr().map(|addr| addr.ip().to_canonical())
}

/// Whether the peer is one of `proxies` (`TRUSTED_PROXIES`, `REMOTE_USER_PROXIES`).
pub fn peer_is_one_of(request: &HttpRequest, proxies: &[IpNet]) -> bool {
    peer_ip(request).is_some_and(|peer| is_trusted(&peer, proxies))
}

/// The client address as a throttle key (DRF's `get_ident`), `unknown` without a peer address.
pub fn ident(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// An `X-Forwarded-For` entry: an address, or `ip:port` / `[v6]:port` as some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let bracketed = hop.strip_prefix('[').and_then(|v6| v6.strip_suffix(']'));
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<std::net::SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .or_else(|| {
            bracketed?
                .parse::<std::net::Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })
        .map(|ip| ip.to_canonical())
}

fn is_trusted(ip: &IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

fn resolve(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| is_trusted(ip, trusted);
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for
        .rsplit(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        match parse_hop(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A hop we cannot read ends the chain of trust: the last trusted hop added it.
            None => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(resolve(peer, "1.2.3.4", &nets(&["127.0.0.1/32"])), peer);
        assert_eq!(resolve(peer, "1.2.3.4", &[]), peer);
    }

    #[test]
    fn trusted_hops_are_skipped_right_to_left() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        let client = resolve(proxy, "6.6.6.6, 198.51.100.7, 10.1.1.1", &trusted);
        assert_eq!(client, "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn hops_with_a_port_name_their_address() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = nets(&["127.0.0.1/32"]);
        let v4 = resolve(proxy, "198.51.100.7:54321", &trusted);
        assert_eq!(v4, "198.51.100.7".parse::<IpAddr>().unwrap());
        let v6 = resolve(proxy, "[2001:db8::7]:443", &trusted);
        assert_eq!(v6, "2001:db8::7".parse::<IpAddr>().unwrap());
        let bare = resolve(proxy, "[2001:db8::8]", &trusted);
        assert_eq!(bare, "2001:db8::8".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv4_mapped_hops_are_their_ipv4_address() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = nets(&["127.0.0.1/32", "10.0.0.0/8"]);
        let client = resolve(proxy, "198.51.100.7, ::ffff:10.1.1.1", &trusted);
        assert_eq!(client, "198.51.100.7".parse::<IpAddr>().unwrap());
        let mapped = resolve(proxy, "[::ffff:198.51.100.8]:443", &trusted);
        assert_eq!(mapped, "198.51.100.8".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn trusted_peer_without_header_is_the_client() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(resolve(proxy, "", &nets(&["127.0.0.1/32"])), proxy);
        assert_eq!(resolve(proxy, "garbage", &nets(&["127.0.0.1/32"])), proxy);
    }
}
