//! A local `nats-server` started by `flare-plus run` when none answers at the configured URL,
//! so the embedded default works on a fresh machine. It is stopped when the process exits.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::error::{BusError, BusErrorKind};

/// The child server; dropping it stops the server.
pub struct EmbeddedNats {
    child: tokio::process::Child,
    url: String,
}

impl EmbeddedNats {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Graceful stop (SIGTERM), then wait for the exit (at most 10 s).
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Finds `nats-server` on PATH (or in /usr/sbin, where Debian puts it).
pub fn find_nats_server() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.into_iter()
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// Host and port of a `nats://host:port` URL (default port 4222).
fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    match rest.rsplit_once(':') {
        Some((host, port)) => (
            host.to_string(),
            port.trim_end_matches('/').parse().unwrap_or(4222),
        ),
        None => (rest.trim_end_matches('/').to_string(), 4222),
    }
}

/// Starts `nats-server -js` on the host and port of `url`, storing under `store_dir`, and waits
/// until it accepts connections.
pub async fn start(binary: &Path, url: &str, store_dir: &Path) -> Result<EmbeddedNats, BusError> {
    let (host, port) = host_port(url);
    std::fs::create_dir_all(store_dir).map_err(|e| {
        BusError::new(
            BusErrorKind::Other,
            format!("cannot create the NATS store {}: {e}", store_dir.display()),
        )
    })?;
    let log = store_dir.join("nats-server.log");
    let log_file = std::fs::File::create(&log).map_err(|e| {
        BusError::new(
            BusErrorKind::Other,
            format!("cannot create {}: {e}", log.display()),
        )
    })?;
    let mut child = tokio::process::Command::new(binary)
        .args(["-js", "-a", &host, "-p", &port.to_string(), "-sd"])
        .arg(store_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            BusError::new(
                BusErrorKind::Other,
                format!("cannot start {}: {e}", binary.display()),
            )
        })?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .is_ok()
        {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(BusError::new(
                BusErrorKind::Other,
                format!("the embedded nats-server exited ({status}):\n{text}"),
            ));
        }
        if tokio::time::Instant::now() > deadline {
            return Err(BusError::new(
                BusErrorKind::Unreachable,
                "the embedded nats-server did not start within 15 s",
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(url, store = %store_dir.display(), "started an embedded nats-server");
    Ok(EmbeddedNats {
        child,
        url: url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn parses_host_and_port() {
        assert_eq!(
            host_port("nats://127.0.0.1:4222"),
            ("127.0.0.1".into(), 4222)
        );
        assert_eq!(
            host_port("nats://u:p@localhost:5000"),
            ("localhost".into(), 5000)
        );
        assert_eq!(host_port("nats://example"), ("example".into(), 4222));
    }
}
