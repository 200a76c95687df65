//! Real `portcullis serve` processes (so that SIGTERM is a real signal) and a real nginx.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One `portcullis serve` process on a loopback port it chose itself.
pub struct Instance {
    child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Instance {
    /// Starts the binary with only these variables (plus the test defaults) and waits until it listens.
    pub fn start(vars: &[(&str, &str)]) -> Instance {
        // Its own working directory, so a developer's .env is not read.
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        command
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("SECRET_KEY", crate::helpers::SECRET_KEY)
            .env("BIND", "127.0.0.1:0")
            .env("WORKERS", "2")
            .env("BCRYPT_COST", "4")
            .env("RUST_LOG", "info")
            .env("AUTHENTICATION_CLASSES", "jwt,basic")
            .env("STATIC_DIR", static_dir())
            .env(
                "TEMPLATES_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/templates"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start portcullis serve");
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        // Drains the log for the whole life of the process, so the pipe never fills up.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = port_tx.send(port);
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let port = match port_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("portcullis serve did not start:\n{}", log.lock().unwrap());
            }
        };
        Instance {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits for the process to exit after a signal.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {within:?} after the signal:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "portcullis listening on 127.0.0.1:0 (port 41234) with 2 workers" -> 41234.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split_once("listening on ")?.1;
    rest.split_once("(port ")?.1.split_once(')')?.0.parse().ok()
}

pub fn signal(pid: u32, name: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|status| status.success())
}

pub fn static_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("static")
}

/// nginx in the foreground with its own prefix, pid, logs and temp paths in a temp dir.
pub struct Nginx {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

pub fn nginx_binary() -> PathBuf {
    let installed = Path::new("/usr/sbin/nginx");
    assert!(
        installed.is_file(),
        "nginx is not installed at /usr/sbin/nginx (apt-get install nginx; .ci/run does this)"
    );
    installed.to_path_buf()
}

impl Nginx {
    /// Runs deploy/nginx.conf, made loopback-only, in front of the given instance ports.
    pub fn start(upstream_ports: &[u16]) -> Nginx {
        let binary = nginx_binary();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = super::nginx::loopback_config(dir.path(), port, upstream_ports);
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx { child, port, dir };
        nginx.wait_until_listening();
        nginx
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nginx exited with {status}:\n{}", self.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx is not listening:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // QUIT is nginx's graceful stop; kill follows if it lingers.
        signal(self.child.id(), "QUIT");
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
