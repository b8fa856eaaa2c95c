use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid, User};

use crate::port::free_port;
use crate::process::{find_program, wait_until, ChildGuard};

/// A throwaway PostgreSQL cluster (`initdb` into a temp dir, `postgres` on a free loopback
/// port, trust auth for user `postgres`). Dropping it stops the server and removes the data.
///
/// PostgreSQL refuses to run as root; when the tests run as root the cluster runs as the
/// `postgres` system user (or `$FLARE_TEST_PG_USER`).
#[derive(Debug)]
pub struct Postgres {
    child: Option<ChildGuard>,
    bin_dir: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    run_as: Option<(Uid, Gid)>,
    durable: bool,
}

impl Postgres {
    /// Starts a cluster tuned for tests: `fsync=off` (no machine crash is simulated, so the
    /// data is still safe against a server crash).
    pub fn start() -> Postgres {
        Self::start_inner(false)
    }

    /// Starts a cluster with stock durability settings (fsync on), for benchmarks.
    pub fn start_durable() -> Postgres {
        Self::start_inner(true)
    }

    fn start_inner(durable: bool) -> Postgres {
        let bin_dir = postgres_bin_dir();
        let run_as = run_as_user();
        let dir = tempfile::Builder::new()
            .prefix("flare-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("testkit: cannot create a temp dir for PostgreSQL: {e}"));
        if let Some((uid, gid)) = run_as {
            nix::unistd::chown(dir.path(), Some(uid), Some(gid)).unwrap_or_else(|e| {
                panic!(
                    "testkit: cannot hand {} to the postgres user: {e}",
                    dir.path().display()
                )
            });
        }
        let mut pg = Postgres {
            child: None,
            bin_dir,
            port: free_port(),
            dir,
            run_as,
            durable,
        };
        pg.initdb();
        pg.launch();
        pg
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn initdb(&self) {
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "testkit: cannot run initdb from {}: {e}",
                    self.bin_dir.display()
                )
            });
        if !output.status.success() {
            panic!(
                "testkit: initdb failed: {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|e| panic!("testkit: cannot open the PostgreSQL log: {e}"));
        if let Some((uid, gid)) = self.run_as {
            let _ = nix::unistd::chown(&self.log_path(), Some(uid), Some(gid));
        }
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(self.dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=100",
            ])
            .args(["-c", "timezone=UTC", "-c", "log_timezone=UTC"]);
        if !self.durable {
            cmd.args(["-c", "fsync=off", "-c", "full_page_writes=off"]);
        }
        cmd.stdout(Stdio::null()).stderr(log);
        let mut child = ChildGuard::spawn("postgres", &mut cmd);
        let ready = wait_until(Duration::from_secs(30), || self.is_ready());
        if !ready || !child.is_running() {
            panic!(
                "testkit: PostgreSQL did not become ready on port {}:\n{}",
                self.port,
                self.log()
            );
        }
        self.child = Some(child);
    }

    fn is_ready(&self) -> bool {
        self.command("pg_isready")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-q",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// URL of database `name` on this cluster.
    pub fn url_for(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let output = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .output()
            .unwrap_or_else(|e| panic!("testkit: cannot run createdb: {e}"));
        if !output.status.success() {
            panic!(
                "testkit: createdb {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        self.url_for(name)
    }

    /// Fast shutdown (SIGINT): connections are cut, data is kept for [`Postgres::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop_with(Signal::SIGINT, Duration::from_secs(30));
        }
    }

    /// Immediate shutdown (SIGQUIT): what a crash looks like to clients; recovery runs on
    /// the next start.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop_with(Signal::SIGQUIT, Duration::from_secs(30));
        }
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Starts a stopped server (same as [`Postgres::restart`] when it is running).
    pub fn start_again(&mut self) {
        if self.child.is_none() {
            self.launch();
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.is_running())
    }

    /// The postmaster's PID (to read its memory or CPU from /proc in tests).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.pid())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Immediate shutdown lets the postmaster take its backends down with it.
            child.stop_with(Signal::SIGQUIT, Duration::from_secs(10));
        }
    }
}

/// The directory holding `initdb`, `postgres` and `pg_isready`: `$FLARE_PG_BIN`, else the
/// directory of `pg_ctl` on PATH (symlinks resolved), else the newest
/// /usr/lib/postgresql/*/bin.
fn postgres_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLARE_PG_BIN") {
        return PathBuf::from(dir);
    }
    let has_all = |dir: &Path| {
        ["initdb", "postgres", "pg_isready", "createdb"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    if let Some(pg_ctl) = find_program("pg_ctl", &[]) {
        if let Some(dir) = std::fs::canonicalize(&pg_ctl)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            if has_all(&dir) {
                return dir;
            }
        }
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|d| has_all(d))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates.pop().unwrap_or_else(|| {
        panic!(
            "testkit: PostgreSQL server binaries (initdb, postgres, pg_isready) not found: put pg_ctl's directory \
             on PATH, set FLARE_PG_BIN, or install postgresql-15"
        )
    })
}

/// When running as root, the uid/gid to run PostgreSQL as.
fn run_as_user() -> Option<(Uid, Gid)> {
    if !Uid::effective().is_root() {
        return None;
    }
    let name = std::env::var("FLARE_TEST_PG_USER").unwrap_or_else(|_| "postgres".to_string());
    let user = User::from_name(&name)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("testkit: running as root and there is no user {name:?} to run PostgreSQL as; create it or set FLARE_TEST_PG_USER"));
    Some((user.uid, user.gid))
}
