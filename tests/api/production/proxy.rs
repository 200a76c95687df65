//! A TCP forwarder the tests can take down and bring back: a real outage of a real service.
//! Also a server that accepts and never answers: a hung service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP forwarder in front of a service (PostgreSQL, Redis) that the test can take down and
/// bring back, or make silent without closing anything (a hung server, a host that died).
pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
    silence: Arc<Silence>,
}

/// Which connections forward nothing: all of them while stalled or down, and for good every
/// connection numbered below `silent_below`.
#[derive(Default)]
struct Silence {
    stalled: AtomicBool,
    /// Set the moment the proxy goes down: aborting its tasks takes effect a little later, and
    /// no byte may get through meanwhile (a request would then be answered during the outage).
    down: AtomicBool,
    silent_below: AtomicU64,
    next_connection: AtomicU64,
}

impl Silence {
    fn holds(&self, connection: u64) -> bool {
        self.stalled.load(Ordering::SeqCst)
            || self.down.load(Ordering::SeqCst)
            || connection < self.silent_below.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to`, holding every byte while the connection is silenced.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silence: Arc<Silence>,
    connection: u64,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        while silence.holds(connection) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    // Without silence, the end of one direction ends the other, as a real peer would.
    if !silence.holds(connection) {
        let _ = to.shutdown().await;
    }
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Proxy {
            port,
            target,
            task: None,
            silence: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target;
        let silence = self.silence.clone();
        self.task = Some(tokio::spawn(async move {
            // Owned here, so aborting this task closes the listener and every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let connection = silence.next_connection.fetch_add(1, Ordering::SeqCst);
                let silence = silence.clone();
                connections.spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::join!(
                            pump(in_read, out_write, silence.clone(), connection),
                            pump(out_read, in_write, silence, connection),
                        );
                    }
                });
            }
        }));
    }

    /// The service stops answering, and nothing is closed: open and new connections are
    /// accepted and acknowledged by the kernel, but no byte goes through.
    pub fn stall(&self) {
        self.silence.stalled.store(true, Ordering::SeqCst);
    }

    /// New connections work again; the ones opened so far stay silent for good.
    pub fn answer_new_connections_only(&self) {
        let next = self.silence.next_connection.load(Ordering::SeqCst);
        self.silence.silent_below.store(next, Ordering::SeqCst);
        self.silence.stalled.store(false, Ordering::SeqCst);
    }

    /// The database "goes away": new connections are refused, open ones are cut.
    pub fn down(&mut self) {
        self.silence.down.store(true, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    pub async fn up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot rebind the proxy port: {e}"),
            }
        };
        // The connections of before the outage stay cut.
        let next = self.silence.next_connection.load(Ordering::SeqCst);
        self.silence.silent_below.store(next, Ordering::SeqCst);
        self.silence.down.store(false, Ordering::SeqCst);
        self.serve(listener);
    }
}

/// A listener that accepts connections and stays silent, until dropped.
pub struct SilentServer {
    pub port: u16,
    task: JoinHandle<()>,
}

impl SilentServer {
    pub async fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        SilentServer { port, task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
