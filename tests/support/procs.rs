//! Running the built `flare-plus` binary as separate processes (roles), configured through
//! environment variables, with their logs kept for failure messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::ChildGuard;

/// One `flare-plus` process. Its HTTP endpoint binds port 0 (no race with other tests for a
/// "free" port); the port it got is read from its log.
pub struct Proc {
    pub child: ChildGuard,
    pub http_port: u16,
    pub log: PathBuf,
}

/// What a multi-process test runs against: a private nats-server and temp dir, the role
/// processes' environment, and a JetStream client for the test's own reads.
pub struct Stack {
    pub nats: testkit::NatsServer,
    pub dir: tempfile::TempDir,
    pub env: Env,
    pub rt: tokio::runtime::Runtime,
    pub js: async_nats::jetstream::Context,
}

impl Stack {
    /// `database_url`: the roles' database (None: SQLite in the temp dir); `extra`: more
    /// environment for every process.
    pub fn start(database_url: Option<String>, extra: &[(&str, &str)]) -> Stack {
        let nats = testkit::NatsServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("flare.db").display()));
        let env = Env {
            nats_url: nats.url(),
            database_url,
            dir: dir.path().to_path_buf(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        let client = rt
            .block_on(async_nats::connect(nats.url()))
            .expect("connect to the test nats-server");
        let js = {
            let _guard = rt.enter();
            async_nats::jetstream::new(client)
        };
        Stack {
            nats,
            dir,
            env,
            rt,
            js,
        }
    }
}

/// Environment shared by the processes of one test.
#[derive(Clone)]
pub struct Env {
    pub nats_url: String,
    pub database_url: String,
    pub dir: PathBuf,
    pub extra: Vec<(String, String)>,
}

impl Env {
    pub fn command(&self, http_port: u16, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flare-plus"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("FLARE__NATS__URL", &self.nats_url)
            .env("FLARE__NATS__EMBEDDED", "false")
            .env("FLARE__DATABASE__URL", &self.database_url)
            .env("FLARE__HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
            .env("FLARE__SHUTDOWN__LIMIT", "20s")
            .env("RUST_LOG", "info")
            .env_remove("NASA_API_KEY")
            .stdin(Stdio::null());
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts `flare-plus ARGS`; stdout and stderr go to a log file named after `name`.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        // Port 0: the process binds a free port itself (no race with other tests for a port
        // that was free a moment ago); `discover_port` reads it from the log.
        let mut cmd = self.command(0, args);
        cmd.stdout(file.try_clone().expect("log file")).stderr(file);
        Proc {
            child: ChildGuard::spawn(name, &mut cmd),
            http_port: 0,
            log,
        }
    }
}

impl Proc {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The HTTP port the process bound (read from its log; 0 until it logged it).
    pub fn port(&self) -> u16 {
        if self.http_port != 0 {
            return self.http_port;
        }
        self.log_text()
            .lines()
            .find(|l| l.contains("serving /metrics"))
            .and_then(|l| l.split("127.0.0.1:").nth(1))
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0)
    }

    /// Waits until /readyz answers 200 (the process is connected and its consumers bound).
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let port = self.port();
            if port != 0 && http_get(port, "/readyz").map(|(s, _)| s) == Some(200) {
                self.http_port = port;
                return;
            }
            assert!(
                self.child.is_running(),
                "{} exited before becoming ready:\n{}",
                self.child.name(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} not ready within {timeout:?}:\n{}",
            self.child.name(),
            self.log_text()
        );
    }

    /// The process's /metrics text.
    pub fn metrics(&self) -> String {
        http_get(self.port(), "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// SIGTERM and wait for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.child
            .stop_with(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(30))
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        self.child.wait_timeout(timeout).unwrap_or_else(|| {
            panic!(
                "{} did not exit within {timeout:?}:\n{}",
                self.child.name(),
                self.log_text()
            )
        })
    }
}

/// HTTP/1.0 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The value of one series (`name{labels}`) in Prometheus text, if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Sum of every series of `name` whose labels contain `filter`.
pub fn metric_sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(name)
                && (l[name.len()..].starts_with('{') || l[name.len()..].starts_with(' '))
        })
        .filter(|l| l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-30d")
}
