//! Finds the socket of a PostgreSQL connection, so a watchdog can cut it.
//!
//! Diesel keeps libpq's connection private, so its socket is found from the outside: the
//! process's sockets (`/proc/self/fd`) before and after a connection is opened, filtered by the
//! server's port. Connections are opened one at a time (see `db::establish_postgres`), so the
//! one new socket to that port is this connection's.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An open socket of this process: its descriptor and its inode, which tells a reused
/// descriptor number apart from the socket it once was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Socket {
    fd: RawFd,
    inode: u64,
}

/// Where a PostgreSQL server listens, to tell its sockets from the others.
#[derive(Debug, Clone, Copy)]
pub struct ServerPort(pub u16);

impl Socket {
    /// Every socket the process has open now (none where `/proc` is not mounted).
    pub fn all() -> HashSet<Socket> {
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return HashSet::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let fd = entry.file_name().to_str()?.parse().ok()?;
                Some(Socket {
                    fd,
                    inode: socket_inode(fd)?,
                })
            })
            .collect()
    }

    /// The sockets opened since `before` that are connected to `port` (TCP), or to a
    /// PostgreSQL Unix socket (`.s.PGSQL.<port>`).
    pub fn opened_since(before: &HashSet<Socket>, port: ServerPort) -> Vec<Socket> {
        Socket::all()
            .into_iter()
            .filter(|socket| !before.contains(socket) && socket.is_connected_to(port))
            .collect()
    }

    /// Shuts the socket down in both directions (see `shut_down`), while the descriptor is
    /// still this socket: for a connection still being opened, whose descriptor libpq may
    /// close and the process reuse at any time.
    pub fn shut_down_if_open(&self) {
        if socket_inode(self.fd) == Some(self.inode) {
            shut_down(self.fd);
        }
    }

    /// A descriptor of our own for the socket (a duplicate, close-on-exec), to cut it with
    /// later: it stays this socket whatever libpq does with its descriptor. Call it while the
    /// connection that owns the socket is open.
    pub fn duplicate(&self) -> Option<OwnedFd> {
        if socket_inode(self.fd) != Some(self.inode) {
            return None;
        }
        // SAFETY: fcntl(2) F_DUPFD_CLOEXEC on a descriptor this process has open; the new
        // descriptor is ours alone, so OwnedFd may close it.
        let duplicate = unsafe { libc::fcntl(self.fd, libc::F_DUPFD_CLOEXEC, 0) };
        (duplicate >= 0).then(|| unsafe { OwnedFd::from_raw_fd(duplicate) })
    }

    fn is_connected_to(&self, port: ServerPort) -> bool {
        // SAFETY: getpeername(2) writes at most `len` bytes into the zeroed storage.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let peer = &mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr;
        if unsafe { libc::getpeername(self.fd, peer, &mut len) } != 0 {
            return false;
        }
        match storage.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let v4 = unsafe { &*(peer as *const libc::sockaddr_in) };
                u16::from_be(v4.sin_port) == port.0
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let v6 = unsafe { &*(peer as *const libc::sockaddr_in6) };
                u16::from_be(v6.sin6_port) == port.0
            }
            libc::AF_UNIX => {
                // SAFETY: the family says the storage holds a sockaddr_un.
                let unix = unsafe { &*(peer as *const libc::sockaddr_un) };
                let path: Vec<u8> = unix
                    .sun_path
                    .iter()
                    .take_while(|&&c| c != 0)
                    .map(|&c| c as u8)
                    .collect();
                path.ends_with(format!(".s.PGSQL.{}", port.0).as_bytes())
            }
            _ => false,
        }
    }
}

/// Shuts a socket down in both directions: a read blocked on it (by libpq, on any descriptor
/// of the socket) returns at once, and the peer sees the connection end. It frees nothing, so
/// the descriptors stay valid until closed.
pub fn shut_down(fd: RawFd) {
    // SAFETY: shutdown(2) only changes the socket's state; a descriptor that is not a socket
    // gets ENOTSOCK.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

/// A descriptor's number, for the watchdog that cuts it while its owner keeps it open.
pub fn raw(fd: &OwnedFd) -> RawFd {
    fd.as_raw_fd()
}

/// The inode of descriptor `fd` when it is a socket (`/proc/self/fd/N -> socket:[inode]`).
fn socket_inode(fd: RawFd) -> Option<u64> {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    target
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The port a `postgres://` URL names: `?port=` wins (libpq's rule), then the authority's
/// port (the last host's, for a multi-host URL), then PostgreSQL's default.
pub fn server_port(url: &str) -> ServerPort {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let from_query = query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "port").then(|| value.rsplit(',').next()?.parse().ok())?
    });
    let authority = before_query.split('/').next().unwrap_or("");
    let hosts = authority
        .rsplit_once('@')
        .map_or(authority, |(_, hosts)| hosts);
    let last_host = hosts.rsplit(',').next().unwrap_or("");
    let from_authority = last_host
        .rsplit_once(':')
        .filter(|(host, _)| !host.ends_with(':') && (!host.starts_with('[') || host.ends_with(']')))
        .and_then(|(_, port)| port.parse().ok());
    ServerPort(from_query.or(from_authority).unwrap_or(5432))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_port_comes_from_the_url() {
        for (url, port) in [
            ("postgres://u:p@db/app", 5432),
            ("postgres://u:p@db:6543/app", 6543),
            ("postgres://u@[::1]:7000/app", 7000),
            ("postgres://u@[::1]/app", 5432),
            ("postgres://u@a:1,b:2/app", 2),
            ("postgres://u@db:6543/app?port=7777&sslmode=require", 7777),
            ("postgres://u@db/app?connect_timeout=2", 5432),
        ] {
            assert_eq!(server_port(url).0, port, "{url}");
        }
    }

    #[test]
    fn a_new_tcp_socket_to_the_port_is_found_and_can_be_cut() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = ServerPort(listener.local_addr().unwrap().port());
        let before = Socket::all();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, _) = listener.accept().unwrap();
        let found = Socket::opened_since(&before, port);
        assert_eq!(found.len(), 1, "{found:?}");
        let ours = found[0].duplicate().unwrap();
        shut_down(raw(&ours));
        // A read on a shut-down socket returns at once instead of waiting for the peer.
        let mut buffer = [0u8; 1];
        assert_eq!(client.read(&mut buffer).unwrap(), 0);
    }
}
