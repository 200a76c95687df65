//! Django's `ALLOWED_HOSTS`: a request whose `Host` is not one of the site's names is refused
//! (400) before anything reads it, which stops Host-header poisoning (links and redirects built
//! from it) and DNS rebinding (another site's name pointed at this server), and gives the
//! same-origin checks (browser mode, CSRF) a `Host` they can trust.
//!
//! Django's syntax and matching: `api.example.com` (that name), `.example.com` (the domain and
//! its subdomains), `*` (any name); case-insensitive, a trailing dot ignored, the port
//! ignored. A `Host` that is not a valid name or `[IPv6]`, with an optional port, is refused
//! even with `*`.

use std::borrow::Cow;

/// `ALLOWED_HOSTS`, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    patterns: Vec<String>,
}

/// What Django allows when it runs locally (`DEBUG` with an empty `ALLOWED_HOSTS`).
const LOCAL: [&str; 3] = [".localhost", "127.0.0.1", "[::1]"];

/// Django's 400 page for a refused `Host`, byte for byte.
pub const BAD_REQUEST_PAGE: &str = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  \
    <title>Bad Request (400)</title>\n</head>\n<body>\n  <h1>Bad Request (400)</h1><p></p>\n\
    </body>\n</html>\n";

impl AllowedHosts {
    /// A comma-separated list of patterns.
    pub fn parse(list: &str) -> Result<AllowedHosts, String> {
        let patterns: Vec<String> = list
            .split(',')
            .map(|pattern| pattern.trim().to_ascii_lowercase())
            .filter(|pattern| !pattern.is_empty())
            .collect();
        if patterns.is_empty() {
            return Err("lists no host: name the site's hosts, or `*`".into());
        }
        if let Some(bad) = patterns.iter().find(|pattern| {
            pattern.as_str() != "*" && domain_of(pattern.trim_start_matches('.')).is_none()
        }) {
            return Err(format!(
                "{bad:?} is not a host name, `.domain`, `[IPv6]` or `*`"
            ));
        }
        Ok(AllowedHosts { patterns })
    }

    /// The default: the loopback names, and the host `BIND` names when it is a name or an
    /// address of its own (not `0.0.0.0` or `[::]`, which clients do not use as a `Host`).
    pub fn local(bind: &str) -> AllowedHosts {
        let mut patterns: Vec<String> = LOCAL.iter().map(|p| p.to_string()).collect();
        let host = bind.rsplit_once(':').map_or(bind, |(host, _)| host);
        if let Some(domain) = domain_of(host).map(Cow::into_owned)
            && !["0.0.0.0", "[::]", "[0:0:0:0:0:0:0:0]"].contains(&domain.as_str())
            && !patterns.contains(&domain)
        {
            patterns.push(domain);
        }
        AllowedHosts { patterns }
    }

    /// Whether a request with this `Host` header is served.
    pub fn allows(&self, host: &str) -> bool {
        let Some(domain) = domain_of(host) else {
            return false;
        };
        let domain = domain.as_ref();
        self.patterns.iter().any(|pattern| {
            pattern == "*"
                || pattern == domain
                || pattern
                    .strip_prefix('.')
                    .is_some_and(|parent| domain == parent || domain.ends_with(pattern.as_str()))
        })
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Django's `split_domain_port`: the lowercased domain of `host[:port]` when it is a valid
/// name (letters, digits, `.`, `-`) or bracketed IPv6 address, without a trailing dot.
/// Borrowed when the host is already lower case (every request asks: no allocation then).
fn domain_of(host: &str) -> Option<Cow<'_, str>> {
    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    };
    let domain_end = if host.starts_with('[') {
        host.find(']')? + 1
    } else {
        host.find(':').unwrap_or(host.len())
    };
    let (domain, port) = host.split_at(domain_end);
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = if let Some(inner) = domain.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        // Django: `[a-f0-9]*:[a-f0-9.:]+`.
        let (head, tail) = inner.split_once(':')?;
        head.bytes().all(|b| b.is_ascii_hexdigit())
            && !tail.is_empty()
            && tail
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    } else {
        !domain.is_empty()
            && domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    };
    if !(port_ok && name_ok) {
        return None;
    }
    let length = domain.strip_suffix('.').unwrap_or(domain).len();
    Some(match host {
        Cow::Borrowed(host) => Cow::Borrowed(&host[..length]),
        Cow::Owned(mut host) => {
            host.truncate(length);
            Cow::Owned(host)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn djangos_matching() {
        let hosts = AllowedHosts::parse("api.example.com, .example.org").unwrap();
        for allowed in [
            "api.example.com",
            "API.Example.COM",
            "api.example.com:8443",
            "api.example.com.",
            "example.org",
            "a.b.example.org:80",
        ] {
            assert!(hosts.allows(allowed), "{allowed}");
        }
        for refused in [
            "evil.test",
            "example.com",
            "xapi.example.com",
            "notexample.org",
            "api.example.com:x",
            "api.example.com:",
            "bad host",
            "",
            "api.example.com\0",
            "api.example.com/x",
            "user@api.example.com",
        ] {
            assert!(!hosts.allows(refused), "{refused:?}");
        }
        let any = AllowedHosts::parse("*").unwrap();
        assert!(any.allows("anything.test:1"));
        assert!(!any.allows("bad host"), "invalid even with *");
        assert!(AllowedHosts::parse(" , ").is_err());
        assert!(AllowedHosts::parse("bad host").is_err());
    }

    #[test]
    fn the_local_default_serves_loopback_and_the_bound_name() {
        let local = AllowedHosts::local("0.0.0.0:8000");
        for allowed in [
            "localhost:8000",
            "app.localhost",
            "127.0.0.1:8000",
            "[::1]:8000",
        ] {
            assert!(local.allows(allowed), "{allowed}");
        }
        assert!(!local.allows("0.0.0.0:8000"));
        assert!(!local.allows("203.0.113.7"));
        let bound = AllowedHosts::local("10.0.0.5:8000");
        assert!(bound.allows("10.0.0.5:8000"));
        assert!(!AllowedHosts::local("[::]:8000").allows("[::]:8000"));
    }
}
