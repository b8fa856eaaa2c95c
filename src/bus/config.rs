//! `[nats]`: where the NATS servers are, how to log in, and the limits of the streams.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{embedded_section, redact_url, Problems, Secret, Validate};

/// NATS connection, authentication and stream limits. Printing it never shows a secret.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// One URL or several, comma-separated (the nodes of a cluster). Credentials do not
    /// belong here (the client ignores them, validation refuses them): use `user`/`password`
    /// or `token`.
    pub url: ServerUrls,
    /// User name for user/password authentication.
    pub user: String,
    /// Password for `user`.
    pub password: Secret,
    /// Token authentication.
    pub token: Secret,
    /// An nkey user seed (`SU...`); the public key is derived from it.
    pub nkey_seed: Secret,
    /// A `.creds` file (JWT + nkey seed); empty for none.
    pub creds_file: String,
    /// Refuse a connection that is not TLS.
    pub tls_required: bool,
    /// CA certificate to trust for the server's certificate; empty for the system roots.
    pub tls_ca_file: String,
    /// Client certificate, for servers that verify clients (with `tls_key_file`).
    pub tls_cert_file: String,
    /// Key of `tls_cert_file`.
    pub tls_key_file: String,
    /// Longest wait for one connection attempt.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Start a local nats-server when none answers at `url` and the binary is on PATH
    /// (`flare-plus run` on a fresh machine).
    pub embedded: bool,
    /// The embedded server's JetStream store.
    pub embedded_store_dir: PathBuf,
    /// Copies of every stream and bucket (3 on a three-node cluster; at most 5).
    pub replicas: usize,
    /// Bytes OBS may hold; when full, publishers wait (DiscardNew).
    pub obs_max_bytes: i64,
    /// How long OBS keeps a record.
    #[serde(with = "humantime_serde")]
    pub obs_max_age: Duration,
    /// Bytes FEATURES may hold; the oldest vectors go first.
    pub features_max_bytes: i64,
    /// How long FEATURES keeps a vector.
    #[serde(with = "humantime_serde")]
    pub features_max_age: Duration,
    /// How long DLQ keeps a dead letter.
    #[serde(with = "humantime_serde")]
    pub dlq_max_age: Duration,
    /// JetStream's `Nats-Msg-Id` de-duplication window.
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
}

impl Default for NatsConfig {
    /// The `[nats]` of `config/default.toml`.
    fn default() -> NatsConfig {
        embedded_section("nats")
    }
}

impl NatsConfig {
    /// The configured server URLs.
    pub fn urls(&self) -> Vec<String> {
        self.url.list()
    }
}

/// A comma-separated list of server URLs; shown with each URL redacted.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ServerUrls(String);

impl ServerUrls {
    pub fn new(urls: impl Into<String>) -> ServerUrls {
        ServerUrls(urls.into())
    }

    /// The URLs, trimmed, empty entries left out.
    pub fn list(&self) -> Vec<String> {
        self.0
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect()
    }

    /// The list as it may be shown.
    pub fn redacted(&self) -> String {
        self.0
            .split(',')
            .map(redact_url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Debug for ServerUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

impl fmt::Display for ServerUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for ServerUrls {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ServerUrls, D::Error> {
        String::deserialize(d).map(ServerUrls)
    }
}

impl Serialize for ServerUrls {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl Validate for NatsConfig {
    fn validate(&self, problems: &mut Problems) {
        let urls = self.urls();
        problems.check(!urls.is_empty(), || "nats.url is empty".into());
        for u in &urls {
            let shown = redact_url(u);
            let scheme_ok = ["nats://", "tls://", "ws://", "wss://"]
                .iter()
                .any(|s| u.starts_with(s));
            problems.check(scheme_ok, || {
                format!("nats.url {shown:?} must start with nats://, tls://, ws:// or wss://")
            });
            // The client ignores URL credentials (it would fail with a confusing
            // authorization error), and every log line naming the URL would carry them.
            problems.check(shown == *u, || {
                format!("nats.url {shown:?} carries credentials: set nats.user and nats.password, or nats.token, instead")
            });
        }
        let auth_methods = [
            !self.user.is_empty() || !self.password.is_empty(),
            !self.token.is_empty(),
            !self.nkey_seed.is_empty(),
            !self.creds_file.is_empty(),
        ];
        problems.check(auth_methods.iter().filter(|m| **m).count() <= 1, || {
            "nats: set only one of user/password, token, nkey_seed, creds_file".into()
        });
        problems.check(self.user.is_empty() == self.password.is_empty(), || {
            "nats.user and nats.password go together".into()
        });
        problems.check(
            self.nkey_seed.is_empty() || self.nkey_seed.expose().starts_with('S'),
            || "nats.nkey_seed must be a seed (starts with S)".into(),
        );
        problems.check(
            self.tls_cert_file.is_empty() == self.tls_key_file.is_empty(),
            || "nats.tls_cert_file and nats.tls_key_file go together".into(),
        );
        for (key, path) in [
            ("nats.creds_file", &self.creds_file),
            ("nats.tls_ca_file", &self.tls_ca_file),
            ("nats.tls_cert_file", &self.tls_cert_file),
            ("nats.tls_key_file", &self.tls_key_file),
        ] {
            problems.check(path.is_empty() || Path::new(path).is_file(), || {
                format!("{key}: file {path} does not exist")
            });
        }
        problems.check((1..=5).contains(&self.replicas), || {
            format!("nats.replicas must be 1..=5, not {}", self.replicas)
        });
        problems.check(
            self.obs_max_bytes > 0 && self.features_max_bytes > 0,
            || "nats.*_max_bytes must be positive".into(),
        );
        problems.check(!self.duplicate_window.is_zero(), || {
            "nats.duplicate_window must be positive".into()
        });
    }
}
