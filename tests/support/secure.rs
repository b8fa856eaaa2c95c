//! Helpers of the security tests: a throwaway PKI (CA, server and client certificates made
//! with the `openssl` CLI), NATS user nkeys, a password-protected PostgreSQL role on a testkit
//! cluster, the NATS server's own view (streams, failed logins), and the sockets a process
//! listens on (read from /proc, so "bound to loopback" is checked on the process itself).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A CA with one server certificate (for `127.0.0.1` and `localhost`) and one client
/// certificate, as PEM files in `dir`.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("the TLS tests need the openssl CLI (Debian: apt-get install openssl): {e}")
        });
    assert!(
        output.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Pki {
    /// Generates the CA and both certificates under `dir/name-*` (EC P-256, valid 2 days).
    pub fn generate(dir: &Path, name: &str) -> Pki {
        let f = |suffix: &str| format!("{name}-{suffix}");
        let p = |suffix: &str| dir.join(f(suffix));
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        let (ca_key, ca_pem, ca_subject) =
            (f("ca.key"), f("ca.pem"), format!("/CN={name} test CA"));
        ca.extend([
            "-keyout",
            &ca_key,
            "-out",
            &ca_pem,
            "-days",
            "2",
            "-subj",
            &ca_subject,
        ]);
        openssl(dir, &ca);
        for (who, cn, usage, san) in [
            (
                "server",
                "localhost",
                "serverAuth",
                "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
            ),
            ("client", "flare-plus", "clientAuth", ""),
        ] {
            let (key, csr, pem, ext) = (
                f(&format!("{who}.key")),
                f(&format!("{who}.csr")),
                f(&format!("{who}.pem")),
                f(&format!("{who}.ext")),
            );
            let subject = format!("/CN={cn}");
            let mut req = vec!["req"];
            req.extend(ec);
            req.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
            openssl(dir, &req);
            std::fs::write(
                dir.join(&ext),
                format!(
                    "{san}basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
                ),
            )
            .expect("write the extensions file");
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_pem,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            );
        }
        Pki {
            ca: p("ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server.key"),
            client_cert: p("client.pem"),
            client_key: p("client.key"),
        }
    }

    /// A nats-server `tls { }` block serving this PKI's server certificate; with `verify`,
    /// clients must present a certificate signed by this CA.
    pub fn nats_tls_block(&self, verify: bool) -> String {
        let mut block = format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n",
            self.server_cert.display().to_string(),
            self.server_key.display().to_string()
        );
        if verify {
            block.push_str(&format!(
                "  ca_file: {:?}\n  verify: true\n",
                self.ca.display().to_string()
            ));
        }
        block.push_str("  timeout: 2\n}\n");
        block
    }
}

/// A fresh NATS user nkey pair: (seed `SU...`, public key `U...`).
pub fn user_nkey() -> (String, String) {
    let pair = nkeys::KeyPair::new_user();
    (
        pair.seed().expect("a new pair has a seed"),
        pair.public_key(),
    )
}

/// Lines of the nats-server log reporting a refused login. nats-server 2.9 writes
/// `... - authentication error` for every connection whose credentials it refused.
pub fn failed_logins(nats_log: &str) -> usize {
    nats_log
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("authentication error") || l.contains("authorization violation")
        })
        .count()
}

/// Names of the JetStream streams the server holds (from its monitoring endpoint, which
/// needs no client credentials).
pub fn stream_names(monitor_port: u16) -> HashSet<String> {
    let (status, body) = super::procs::http_get(monitor_port, "/jsz?streams=true")
        .expect("nats-server monitoring answers");
    assert_eq!(status, 200, "{body}");
    let jsz: serde_json::Value = serde_json::from_str(&body).expect("/jsz is JSON");
    jsz["account_details"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|account| account["stream_detail"].as_array().into_iter().flatten())
        .filter_map(|stream| stream["name"].as_str().map(str::to_string))
        .collect()
}

fn psql(pg: &testkit::Postgres, sql: &str) {
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
            "-U",
            "postgres",
        ])
        .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .unwrap_or_else(|e| panic!("the password test needs psql on PATH: {e}"));
    assert!(
        output.status.success(),
        "psql {sql:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Creates database `db` owned by a new login role `role` with `password`, and switches the
/// cluster from trust to password (SCRAM) authentication for every role but `postgres`.
/// Returns the role's URL (password included). Waits until the server refuses a wrong
/// password, so the switch is in effect when this returns.
pub fn password_protected_database(
    pg: &testkit::Postgres,
    db: &str,
    role: &str,
    password: &str,
) -> String {
    pg.create_database(db);
    psql(
        pg,
        &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"),
    );
    psql(pg, &format!("ALTER DATABASE {db} OWNER TO {role}"));
    let hba = pg.dir().join("data/pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\n\
         host all postgres 127.0.0.1/32 trust\n\
         host all all 127.0.0.1/32 scram-sha-256\n\
         host all all ::1/128 scram-sha-256\n",
    )
    .expect("rewrite pg_hba.conf");
    psql(pg, "SELECT pg_reload_conf()");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let probe = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &pg.port().to_string(), "-U", role])
            .args(["-d", db, "-w", "-c", "SELECT 1"])
            .env("PGPASSWORD", "not-the-password")
            .output()
            .expect("psql");
        if String::from_utf8_lossy(&probe.stderr).contains("password authentication failed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PostgreSQL still accepts a wrong password after reloading pg_hba.conf"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("postgres://{role}:{password}@127.0.0.1:{}/{db}", pg.port())
}

/// TCP addresses process `pid` listens on: its socket inodes (/proc/PID/fd) matched against
/// the LISTEN rows of /proc/PID/net/tcp{,6}.
pub fn listening_addrs(pid: u32) -> Vec<SocketAddr> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().to_string();
                    let inode = link.strip_prefix("socket:[")?.strip_suffix(']')?;
                    Some(inode.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || cols[3] != "0A" || !inodes.contains(cols[9]) {
                continue;
            }
            if let Some(addr) = parse_proc_addr(cols[1]) {
                out.push(addr);
            }
        }
    }
    out
}

/// `0100007F:24F8` (IPv4) or 32 hex digits + port (IPv6): 32-bit words in host (little-endian)
/// order, port big-endian hex.
pub fn parse_proc_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = match words.as_slice() {
        [w] => IpAddr::V4(Ipv4Addr::from(w.swap_bytes())),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}
