use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::port::{free_port, is_listening};
use crate::process::{find_program, wait_until, ChildGuard};

/// A private `nats-server` with JetStream, on a free loopback port, with its own store
/// directory. Dropping it kills the server and removes the directory.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<ChildGuard>,
    binary: PathBuf,
    port: u16,
    monitor_port: u16,
    /// Holds the config file and the JetStream store; kept across restarts.
    dir: tempfile::TempDir,
    config_path: PathBuf,
    log_path: PathBuf,
}

/// Extra settings for [`NatsServer`]: authentication blocks, TLS, limits, as nats-server
/// config text.
#[derive(Debug, Default)]
pub struct NatsServerBuilder {
    extra_config: String,
}

impl NatsServerBuilder {
    /// Appends raw nats-server configuration (e.g. an `authorization { .. }` block).
    pub fn config(mut self, text: &str) -> Self {
        self.extra_config.push_str(text);
        self.extra_config.push('\n');
        self
    }

    pub fn start(self) -> NatsServer {
        NatsServer::start_with(self)
    }
}

impl NatsServer {
    /// Starts a server with JetStream and default settings.
    pub fn start() -> NatsServer {
        NatsServerBuilder::default().start()
    }

    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::default()
    }

    fn start_with(builder: NatsServerBuilder) -> NatsServer {
        let binary = find_program("nats-server", &[PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
            .unwrap_or_else(|| {
                panic!("testkit: nats-server not found on PATH; install it (Debian: apt-get install -y nats-server)")
            });
        let dir = tempfile::Builder::new()
            .prefix("flare-nats-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testkit: cannot create a temp dir for nats-server: {e}"));
        let port = free_port();
        let monitor_port = free_port();
        let store = dir.path().join("jetstream");
        let mut config = String::new();
        let _ = writeln!(config, "listen: 127.0.0.1:{port}");
        let _ = writeln!(config, "http: 127.0.0.1:{monitor_port}");
        let _ = writeln!(config, "server_name: flare_test_{port}");
        let _ = writeln!(
            config,
            "jetstream {{ store_dir: {:?}, max_memory_store: 268435456, max_file_store: 4294967296 }}",
            store.display().to_string()
        );
        config.push_str(&builder.extra_config);
        let config_path = dir.path().join("nats.conf");
        std::fs::write(&config_path, config)
            .unwrap_or_else(|e| panic!("testkit: cannot write nats.conf: {e}"));
        let log_path = dir.path().join("nats.log");
        let mut server = NatsServer {
            child: None,
            binary,
            port,
            monitor_port,
            dir,
            config_path,
            log_path,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap_or_else(|e| panic!("testkit: cannot open the nats-server log: {e}"));
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let mut child = ChildGuard::spawn("nats-server", &mut cmd);
        let monitor_port = self.monitor_port;
        let ready = wait_until(Duration::from_secs(15), || {
            is_listening(self.port)
                && http_status(monitor_port, "/healthz?js-enabled-only=true") == Some(200)
        });
        if !ready || !child.is_running() {
            let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            panic!(
                "testkit: nats-server did not become ready on port {}:\n{log}",
                self.port
            );
        }
        self.child = Some(child);
    }

    /// `nats://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP monitoring port (`/varz`, `/jsz`, `/healthz`).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("jetstream")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Graceful stop (SIGTERM); the JetStream store is kept for [`NatsServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop_with(Signal::SIGTERM, Duration::from_secs(10));
        }
    }

    /// SIGKILL: a crash. The store is kept.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Starts the server again on the same port with the same store (after stop or kill).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.is_running())
    }

    /// The server's log so far (useful in assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Minimal HTTP/1.0 GET on loopback, returning the status code. Enough for health probes
/// without pulling an HTTP client into the test kit.
pub(crate) fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}
