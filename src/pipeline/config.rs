//! The whole configuration of a process: one section per component, each defined beside the
//! component it configures, loaded by [`crate::config`] (embedded defaults, `--config FILE`,
//! `FLARE__SECTION__KEY`). `flare-plus check-config` prints [`Config::redacted_toml`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bus::NatsConfig;
use crate::config::{self, ConfigError, Problems, Validate};
use crate::detect::{DetectionConfig, MergeRule};
use crate::sources::fetch::FetchConfig;
use crate::sources::SourcesConfig;
use crate::store::StoreConfig;

use super::features::config::FeaturesConfig;
use super::ingest::config::IngestConfig;
use super::writer::config::WriterConfig;

/// Every section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS servers, credentials and stream limits.
    pub nats: NatsConfig,
    /// The database.
    pub database: StoreConfig,
    /// This process's /metrics, /healthz and /readyz endpoint.
    pub http: HttpConfig,
    /// How upstream fetches behave.
    pub http_client: FetchConfig,
    /// The live upstream feeds.
    pub sources: SourcesConfig,
    /// Flare detection from the X-ray flux.
    pub detection: DetectionConfig,
    /// The ingest role.
    pub ingest: IngestConfig,
    /// The storage writer role.
    pub writer: WriterConfig,
    /// The feature role.
    pub features: FeaturesConfig,
    /// Orderly stop.
    pub shutdown: ShutdownConfig,
    /// Log output.
    pub logging: LoggingConfig,
}

/// `[http]`: the process's endpoint.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the /metrics, /healthz, /readyz endpoint (port 0: any free port).
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        config::embedded_section("http")
    }
}

impl HttpConfig {
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|e| format!("http.listen {:?} is not host:port ({e})", self.listen))
    }
}

/// `[shutdown]`: how a process stops on SIGINT/SIGTERM.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Longest drain before exiting anyway (the rest is redelivered to the next process).
    #[serde(with = "humantime_serde")]
    pub limit: Duration,
    /// Keep answering /metrics (with /readyz 503) this long after draining, for a last scrape.
    #[serde(with = "humantime_serde")]
    pub final_scrape_delay: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> ShutdownConfig {
        config::embedded_section("shutdown")
    }
}

/// `[logging]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// A tracing filter, e.g. `info` or `flare_plus=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
    /// Warn about operations (fetch, publish, batch write, tick) slower than this (zero: off).
    #[serde(with = "humantime_serde")]
    pub slow_operation: Duration,
}

impl Default for LoggingConfig {
    fn default() -> LoggingConfig {
        config::embedded_section("logging")
    }
}

impl Config {
    /// Loads defaults, then `file` (if given), then the environment; validated.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let cfg: Config = config::load(file)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// [`Config::load`] with an explicit environment (tests use it; no global mutation).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let cfg: Config = config::load_with_env(file, env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values the types cannot, section by section. Reports all at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Problems::default();
        self.nats.validate(&mut problems);
        self.database.validate(&mut problems);
        if let Err(e) = self.http.listen_addr() {
            problems.push(e);
        }
        self.http_client.validate(&mut problems);
        self.sources.validate(&mut problems);
        self.detection.validate(&mut problems);
        self.writer.validate(&mut problems);
        self.ingest.validate(&mut problems);
        self.features.validate(&mut problems);
        if let Err(e) = self.logging.level.parse::<tracing_subscriber::EnvFilter>() {
            problems.push(format!("logging.level {:?}: {e}", self.logging.level));
        }
        problems.into_result()
    }

    /// The detector's merge rule under this configuration's profile.
    pub fn merge_rule(&self) -> MergeRule {
        self.detection.merge_rule(self.features.profile)
    }

    /// The effective configuration as TOML, secrets and URL passwords replaced by `***`.
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# cannot render the configuration: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::ServerUrls;
    use crate::profile::Profile;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_default_is_valid_and_points_at_sqlite_and_local_nats() {
        let cfg = Config::load_with_env(None, env(&[])).expect("default config");
        assert_eq!(cfg.database.url.expose(), "sqlite://./data/flare.db");
        assert_eq!(cfg.nats.urls(), vec!["nats://127.0.0.1:4222"]);
        assert_eq!(cfg.http.listen, "127.0.0.1:9464");
        assert_eq!(cfg.features.profile, Profile::FlarePlus);
        assert_eq!(cfg.features.cadence, Duration::from_secs(60));
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("FLARE__NATS__URL", "nats://a:4222,nats://b:4222"),
                (
                    "FLARE__DATABASE__URL",
                    "postgres://flare:s3cret@db:5432/flare",
                ),
                ("FLARE__HTTP__LISTEN", "0.0.0.0:9999"),
                ("FLARE__WRITER__BATCH_MAX_RECORDS", "10"),
                ("FLARE__FEATURES__PROFILE", "improved"),
                ("FLARE__SHUTDOWN__LIMIT", "2m"),
            ]),
        )
        .expect("overridden config");
        assert_eq!(cfg.nats.urls(), vec!["nats://a:4222", "nats://b:4222"]);
        assert_eq!(
            cfg.database.url.expose(),
            "postgres://flare:s3cret@db:5432/flare"
        );
        assert_eq!(cfg.http.listen, "0.0.0.0:9999");
        assert_eq!(cfg.writer.batch_max_records, 10);
        assert_eq!(cfg.features.profile, Profile::Improved);
        assert_eq!(cfg.shutdown.limit, Duration::from_secs(120));
    }

    #[test]
    fn every_shipped_config_file_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("config dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Config::load_with_env(Some(&path), env(&[]))
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 2, "default.toml and docker.toml at least");
    }

    #[test]
    fn every_section_default_is_the_embedded_file() {
        let loaded = Config::load_with_env(None, env(&[])).expect("default config");
        assert_eq!(loaded.redacted_toml(), Config::default().redacted_toml());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::load_with_env(
            None,
            env(&[
                ("FLARE__HTTP__LISTEN", "not-an-address"),
                ("FLARE__DATABASE__URL", "mysql://x"),
                ("FLARE__WRITER__BATCH_MAX_RECORDS", "0"),
                ("FLARE__INGEST__BATCH_MAX_BYTES", "2000000"),
            ]),
        )
        .expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("ingest.batch_max_bytes"), "{text}");
        assert!(text.contains("http.listen"), "{text}");
        assert!(text.contains("database.url"), "{text}");
        assert!(text.contains("writer batch limits"), "{text}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "[writer]\nbatch_max_mesages = 5\n").unwrap();
        let text = Config::load_with_env(Some(&typo), env(&[]))
            .expect_err("typo")
            .to_string();
        assert!(text.contains("batch_max_mesages"), "{text}");
        let bad_type = dir.path().join("type.toml");
        std::fs::write(&bad_type, "[writer]\nbatch_max_records = \"many\"\n").unwrap();
        assert!(Config::load_with_env(Some(&bad_type), env(&[])).is_err());
        let bad_duration = dir.path().join("duration.toml");
        std::fs::write(&bad_duration, "[writer]\nbatch_max_wait = \"soon\"\n").unwrap();
        assert!(Config::load_with_env(Some(&bad_duration), env(&[])).is_err());
        let missing = dir.path().join("missing.toml");
        let text = Config::load_with_env(Some(&missing), env(&[]))
            .expect_err("missing")
            .to_string();
        assert!(text.contains("does not exist"), "{text}");
    }

    #[test]
    fn min_class_is_a_class_not_a_fallback() {
        let text = Config::load_with_env(None, env(&[("FLARE__DETECTION__MIN_CLASS", "Q")]))
            .expect_err("Q is no class")
            .to_string();
        assert!(
            text.contains("min_class") || text.contains("variant"),
            "{text}"
        );
        let text = Config::load_with_env(None, env(&[("FLARE__DETECTION__MIN_CLASS", "A")]))
            .expect_err("A is below every threshold")
            .to_string();
        assert!(text.contains("detection.min_class"), "{text}");
        let cfg = Config::load_with_env(None, env(&[("FLARE__DETECTION__MIN_CLASS", "M")]))
            .expect("M is valid");
        assert_eq!(cfg.detection.min_class, crate::domain::FlareCategory::M);
    }

    #[test]
    fn secrets_never_appear_in_the_printed_config() {
        let cfg = Config::load_with_env(
            None,
            env(&[
                (
                    "FLARE__DATABASE__URL",
                    "postgres://flare:db-pass-123@db/flare",
                ),
                ("FLARE__NATS__TOKEN", "nats-token-456"),
                ("FLARE__SOURCES__DONKI__API_KEY", "nasa-key-789"),
            ]),
        )
        .expect("config");
        let printed = cfg.redacted_toml();
        let debug = format!("{cfg:?}");
        for secret in ["db-pass-123", "nats-token-456", "nasa-key-789"] {
            assert!(
                !printed.contains(secret),
                "{secret} leaked into check-config output"
            );
            assert!(!debug.contains(secret), "{secret} leaked into Debug");
        }
        assert!(
            printed.contains("postgres://flare:***@db/flare"),
            "{printed}"
        );
        assert_eq!(cfg.nats.token.expose(), "nats-token-456");
    }

    #[test]
    fn string_settings_from_the_environment_are_taken_verbatim() {
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("FLARE__NATS__TOKEN", "0123"),
                ("FLARE__SOURCES__DONKI__API_KEY", "1e5"),
                ("FLARE__HTTP_CLIENT__USER_AGENT", "true"),
                ("FLARE__WRITER__BATCH_MAX_RECORDS", "10"),
                ("FLARE__NATS__TLS_REQUIRED", "true"),
            ]),
        )
        .expect("config");
        assert_eq!(cfg.nats.token.expose(), "0123");
        assert_eq!(cfg.sources.donki.api_key.expose(), "1e5");
        assert_eq!(cfg.http_client.user_agent, "true");
        assert_eq!(cfg.writer.batch_max_records, 10);
        assert!(cfg.nats.tls_required);
    }

    #[test]
    fn nats_urls_never_show_credentials() {
        let mut cfg = Config::load_with_env(None, env(&[])).expect("config");
        cfg.nats.url = ServerUrls::new("nats://a:pw-1@h1:4222,nats://tok-2@h2:4222");
        let shown = format!("{:?}\n{}", cfg.nats, cfg.redacted_toml());
        assert!(
            !shown.contains("pw-1") && !shown.contains("tok-2"),
            "{shown}"
        );
        assert!(
            shown.contains("nats://a:***@h1:4222,nats://***@h2:4222"),
            "{shown}"
        );
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("carries credentials"));
    }
}
