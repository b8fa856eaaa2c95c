//! `healthz`: the container healthcheck probe of the flare-plus image.
//!
//! The runtime image (distroless) has no shell, curl or wget, and `flare-plus` has no health
//! subcommand; this std-only program (compiled with plain `rustc` in the Dockerfile's build
//! stage, ~400 KiB) does one HTTP/1.0 GET and exits 0 only on a `200` status.
//!
//!     healthz [http://HOST:PORT/PATH]     (default http://127.0.0.1:9464/healthz)
//!
//! Exit status: 0 healthy, 1 unhealthy (non-200, refused, timeout), 2 bad argument.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_URL: &str = "http://127.0.0.1:9464/healthz";
const TIMEOUT: Duration = Duration::from_secs(3);

/// `http://host:port/path` -> (`host:port`, `/path`).
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some((authority, path.to_string()))
}

fn probe(authority: &str, path: &str) -> Result<(), String> {
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    stream.set_write_timeout(Some(TIMEOUT)).ok();
    let host = authority.split(':').next().unwrap_or(authority);
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: flare-plus-healthz\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("sending the request: {e}"))?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match stream.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(format!("reading the response: {e}")),
        }
    }
    let status_line = String::from_utf8_lossy(&head[..n]);
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    if status_line.starts_with("HTTP/") && code == "200" {
        Ok(())
    } else {
        Err(format!(
            "unhealthy: {}",
            status_line.lines().next().unwrap_or("empty response")
        ))
    }
}

fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let Some((authority, path)) = split_url(&url) else {
        eprintln!("healthz: expected http://HOST:PORT/PATH, got {url:?}");
        return ExitCode::from(2);
    };
    match probe(&authority, &path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthz: {e}");
            ExitCode::from(1)
        }
    }
}
