//! `[database]`: which database, and how the pool behaves.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{embedded_section, Problems, SecretUrl, Validate};

/// The database and its pool. Printing it shows the URL without its password.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (the embedded default; the file and its directory are created) or
    /// `postgres://user:password@host:port/db`.
    pub url: SecretUrl,
    /// Pool size. SQLite serialises writers anyway; extra connections serve readers.
    pub max_connections: u32,
    /// Longest wait for a connection, connecting included. With the database down, a write
    /// fails as unavailable after about this long instead of hanging.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// SQLite only: how long a writer waits for another connection's write lock.
    #[serde(with = "humantime_serde")]
    pub sqlite_busy_timeout: Duration,
    /// Zero (the default) keeps sqlx quiet: every statement at TRACE only
    /// (`RUST_LOG=sqlx::query=trace` shows them). Above zero: every statement at DEBUG and
    /// a WARN for each one that takes at least this long.
    #[serde(with = "humantime_serde")]
    pub slow_statement: Duration,
}

impl Default for StoreConfig {
    /// The `[database]` of `config/default.toml`.
    fn default() -> StoreConfig {
        embedded_section("database")
    }
}

impl StoreConfig {
    /// The default settings for another database (tests, one-off commands with `--db`).
    pub fn for_url(url: &str) -> StoreConfig {
        StoreConfig {
            url: SecretUrl::new(url),
            ..StoreConfig::default()
        }
    }

    /// The slow-statement threshold, if statement logging is on.
    pub fn slow_statement_threshold(&self) -> Option<Duration> {
        (!self.slow_statement.is_zero()).then_some(self.slow_statement)
    }
}

impl Validate for StoreConfig {
    fn validate(&self, problems: &mut Problems) {
        let db = self.url.expose();
        problems.check(
            db.starts_with("sqlite:")
                || db.starts_with("postgres://")
                || db.starts_with("postgresql://"),
            || {
                format!(
                    "database.url {:?} must be sqlite:PATH or postgres://...",
                    self.url.redacted()
                )
            },
        );
        problems.check(self.max_connections > 0, || {
            "database.max_connections must be at least 1".into()
        });
    }
}
