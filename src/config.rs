//! Typed configuration: the embedded `config/default.toml`, then an optional `--config FILE`,
//! then `FLARE__SECTION__KEY` environment variables. [`Config::load`] reports every problem at
//! once; [`Config::redacted_toml`] is what `flare-plus check-config` prints.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use crate::profile::Profile;

/// The compiled-in defaults: SQLite in ./data, NATS on localhost.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// A value that must never be printed: `Debug`, `Display` and serialisation show `***`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself: only for handing it to the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub nats: NatsConfig,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub http_client: HttpClientConfig,
    pub sources: SourcesConfig,
    pub detection: DetectionConfig,
    pub ingest: IngestConfig,
    pub writer: WriterConfig,
    pub features: FeaturesConfig,
    pub shutdown: ShutdownConfig,
    pub logging: LoggingConfig,
}

/// NATS connection, authentication and stream limits. `Debug` and serialisation (what
/// `check-config` prints) show the URLs with any userinfo masked and the secrets as `***`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// One URL or several, comma-separated. Credentials do not belong here (the client
    /// ignores them; [`Config::validate`] refuses them): use `user`/`password` or `token`.
    #[serde(serialize_with = "serialize_redacted_nats_urls")]
    pub url: String,
    pub user: String,
    pub password: Secret,
    pub token: Secret,
    /// An nkey seed (`SU...`); the public key is derived from it.
    pub nkey_seed: Secret,
    /// A `.creds` file (JWT + nkey seed).
    pub creds_file: String,
    pub tls_required: bool,
    pub tls_ca_file: String,
    pub tls_cert_file: String,
    pub tls_key_file: String,
    pub connect_timeout_ms: u64,
    /// Start a local nats-server when none answers and the binary is on PATH.
    pub embedded: bool,
    pub embedded_store_dir: PathBuf,
    pub replicas: usize,
    pub obs_max_bytes: i64,
    pub obs_max_age_hours: u64,
    pub features_max_bytes: i64,
    pub features_max_age_hours: u64,
    pub dlq_max_age_hours: u64,
    /// JetStream's `Nats-Msg-Id` de-duplication window.
    pub duplicate_window_secs: u64,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &redact_nats_urls(&self.url))
            .field("user", &self.user)
            .field("password", &self.password)
            .field("token", &self.token)
            .field("nkey_seed", &self.nkey_seed)
            .field("creds_file", &self.creds_file)
            .field("tls_required", &self.tls_required)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("embedded", &self.embedded)
            .field("embedded_store_dir", &self.embedded_store_dir)
            .field("replicas", &self.replicas)
            .field("obs_max_bytes", &self.obs_max_bytes)
            .field("obs_max_age_hours", &self.obs_max_age_hours)
            .field("features_max_bytes", &self.features_max_bytes)
            .field("features_max_age_hours", &self.features_max_age_hours)
            .field("dlq_max_age_hours", &self.dlq_max_age_hours)
            .field("duplicate_window_secs", &self.duplicate_window_secs)
            .finish()
    }
}

fn serialize_redacted_nats_urls<S: Serializer>(urls: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_nats_urls(urls))
}

/// [`redact_nats_url`] on each of a comma-separated list.
fn redact_nats_urls(urls: &str) -> String {
    urls.split(',')
        .map(redact_nats_url)
        .collect::<Vec<_>>()
        .join(",")
}

/// `nats://user:pass@host` -> `nats://user:***@host`, `nats://token@host` -> `nats://***@host`:
/// in a NATS URL a lone userinfo is a token, so all of it is masked. Other URLs unchanged.
pub fn redact_nats_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

impl NatsConfig {
    /// The configured server URLs.
    pub fn urls(&self) -> Vec<String> {
        self.url
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect()
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://...`; the password inside is never printed.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub slow_statement_ms: u64,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("slow_statement_ms", &self.slow_statement_ms)
            .finish()
    }
}

fn serialize_redacted_url<S: Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

/// `scheme://user:password@host/...` -> `scheme://user:***@host/...`, and the values of
/// `password=` / `sslpassword=` query parameters (sqlx reads a PostgreSQL password from
/// there too) -> `***`; other URLs unchanged. Userinfo is taken up to the *last* `@`, so a
/// password with an unescaped `@` or `/` is still hidden (over-masking beats a leak).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let rest = match rest.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => rest.to_string(),
        },
        None => rest.to_string(),
    };
    let rest = match rest.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _value))
                        if name.eq_ignore_ascii_case("password")
                            || name.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{name}=***")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => rest,
    };
    format!("{scheme}://{rest}")
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the /metrics, /healthz, /readyz endpoint.
    pub listen: String,
}

impl HttpConfig {
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|e| format!("http.listen {:?} is not host:port ({e})", self.listen))
    }
}

/// Upstream HTTP behaviour (spec 2.1 made robust).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    pub timeout_secs: u64,
    pub max_response_bytes: u64,
    pub max_retries: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub user_agent: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    pub xray: XraySourceConfig,
    pub regions: RegionsSourceConfig,
    pub donki: DonkiSourceConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct XraySourceConfig {
    pub enabled: bool,
    pub primary_url: String,
    /// Empty: the secondary feed is not polled.
    pub secondary_url: String,
    pub interval_secs: u64,
    pub overlap_minutes: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionsSourceConfig {
    pub enabled: bool,
    pub url: String,
    pub interval_secs: u64,
    pub overlap_minutes: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DonkiSourceConfig {
    pub enabled: bool,
    pub url: String,
    /// NASA API key; also read from `NASA_API_KEY` when empty. Never logged.
    pub api_key: Secret,
    pub interval_secs: u64,
    pub lookback_days: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum MergeRuleName {
    /// Follow `features.profile`: flare-plus's rule for `flare-plus`, peak flux for `improved`.
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "flare-plus")]
    FlarePlus,
    #[serde(rename = "peak-flux")]
    PeakFlux,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionConfig {
    pub merge_rule: MergeRuleName,
    /// Smallest class detected (B, C, M or X); flare-plus used C.
    pub min_class: String,
}

/// Backpressure from the storage writer to ingest. OBS keeps acked messages (limits
/// retention), so its size cannot tell ingest that the writer is slow; the writer consumer's
/// backlog can.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Records per OBS message at most (a batch: see `bus::batch`).
    pub batch_max_records: usize,
    /// Bytes per OBS message at most; below the server's `max_payload` (1 MiB by default).
    pub batch_max_bytes: usize,
    /// Ingest holds publishes back while the writer consumer has more than this many
    /// messages (batches) undelivered or unacked (0 = never).
    pub max_writer_backlog: u64,
    /// How often the backlog is read while publishing.
    pub backlog_check_ms: u64,
}

impl IngestConfig {
    pub fn batch_limits(&self) -> crate::bus::BatchLimits {
        crate::bus::BatchLimits {
            max_records: self.batch_max_records,
            max_bytes: self.batch_max_bytes,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WriterConfig {
    /// Records per transaction at most.
    pub batch_max_records: usize,
    pub batch_max_bytes: usize,
    pub batch_max_wait_ms: u64,
    /// OBS messages delivered and not yet acked (the consumer's `max_ack_pending`).
    pub max_in_flight: usize,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    pub profile: Profile,
    pub cadence_secs: u64,
    pub final_horizon_minutes: u64,
    pub max_in_flight: usize,
    /// Per-region vectors (final only) every this many seconds of data time; 0 = none.
    pub region_vector_every_secs: u64,
    /// `columns` (values in column order) or `named` (objects keyed by column name).
    pub vector_format: crate::bus::vectors::VectorFormat,
    /// This worker's name among feature workers (its consumer and checkpoint); empty = the
    /// host name. Must differ between workers running at the same time.
    pub worker_id: String,
    /// Data time of final vectors a worker keeps for series it does not own, to publish them
    /// if it takes a series over (the owner stopped before publishing them).
    pub handover_window_minutes: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    pub limit_secs: u64,
    pub final_scrape_delay_ms: u64,
}

impl ShutdownConfig {
    pub fn limit(&self) -> Duration {
        Duration::from_secs(self.limit_secs)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    pub level: String,
    pub slow_operation_ms: u64,
}

impl Config {
    /// The detector's merge rule (spec 4.6, Q4).
    pub fn merge_rule(&self) -> crate::detect::MergeRule {
        use crate::detect::MergeRule;
        match self.detection.merge_rule {
            MergeRuleName::Auto => MergeRule::for_profile(self.features.profile),
            MergeRuleName::FlarePlus => MergeRule::FlarePlus,
            MergeRuleName::PeakFlux => MergeRule::PeakFlux,
        }
    }

    /// The smallest class the detector reports (validated to B, C, M or X).
    pub fn min_class(&self) -> crate::domain::FlareCategory {
        self.detection
            .min_class
            .chars()
            .next()
            .and_then(crate::domain::FlareCategory::from_letter)
            .unwrap_or(crate::domain::FlareCategory::C)
    }
}

/// The process's `FLARE__*` variables. `std::env::vars()` panics on any variable that is not
/// UTF-8 and prints its value (possibly a secret) in the panic message; here a non-UTF-8
/// `FLARE__` variable is an error naming only the variable, and other variables are ignored.
fn flare_env_vars() -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars = Vec::new();
    let mut not_utf8 = Vec::new();
    for (key, value) in std::env::vars_os() {
        let Some(key) = key.to_str().filter(|k| k.starts_with("FLARE__")) else {
            continue;
        };
        match value.into_string() {
            Ok(value) => vars.push((key.to_string(), value)),
            Err(_) => not_utf8.push(key.to_string()),
        }
    }
    if not_utf8.is_empty() {
        Ok(vars)
    } else {
        not_utf8.sort();
        Err(ConfigError::Load(format!(
            "environment variable(s) {} not valid UTF-8 (value not shown)",
            not_utf8.join(", ")
        )))
    }
}

/// `FLARE__SOURCES__DONKI__API_KEY` -> `sources.donki.api_key` (the `config` crate's key).
fn env_key(var: &str) -> String {
    var.trim_start_matches("FLARE__")
        .to_lowercase()
        .replace("__", ".")
}

/// Dotted keys whose default is a string: the settings to take from the environment verbatim.
/// Derived from `config/default.toml`, so a new string setting needs no list update.
fn string_keys() -> HashSet<String> {
    fn walk(prefix: &str, table: &toml::Table, out: &mut HashSet<String>) {
        for (name, value) in table {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match value {
                toml::Value::String(_) => {
                    out.insert(key);
                }
                toml::Value::Table(inner) => walk(&key, inner, out),
                _ => {}
            }
        }
    }
    let mut out = HashSet::new();
    if let Ok(table) = toml::from_str::<toml::Table>(DEFAULT_TOML) {
        walk("", &table, &mut out);
    }
    out
}

/// Why the configuration cannot be used. Lists every problem found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration: {0}")]
    Load(String),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

impl Config {
    /// Loads defaults, then `file` (if given), then `FLARE__*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, flare_env_vars()?)
    }

    /// [`Config::load`] with an explicit environment (tests use it; no global mutation).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        use config::{Environment, File, FileFormat};
        let mut builder =
            config::Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        // String settings are taken verbatim; only the others are parsed as numbers and
        // booleans. Parsing every variable (the `config` crate's `try_parsing`) turned a
        // password or token such as `0123` into the integer 123 and back into "123", and
        // `1e5` into "100000": a secret that looks like a number was silently changed.
        let verbatim = string_keys();
        let (raw, typed): (HashMap<String, String>, HashMap<String, String>) = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("FLARE__"))
            .partition(|(k, _)| verbatim.contains(&env_key(k)));
        let environment = |parse: bool, vars: HashMap<String, String>| {
            Environment::with_prefix("FLARE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(parse)
                .source(Some(vars))
        };
        builder = builder
            .add_source(environment(true, typed))
            .add_source(environment(false, raw));
        let raw = builder
            .build()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        let mut cfg: Config = raw
            .try_deserialize()
            .map_err(|e| ConfigError::Invalid(vec![e.to_string()]))?;
        if cfg.sources.donki.api_key.is_empty() {
            if let Ok(key) = std::env::var("NASA_API_KEY") {
                cfg.sources.donki.api_key = Secret::new(key);
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values the types cannot: ranges, formats, combinations. Reports all at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let urls = self.nats.urls();
        if urls.is_empty() {
            problems.push("nats.url is empty".to_string());
        }
        for u in &urls {
            let shown = redact_nats_url(u);
            if !(u.starts_with("nats://")
                || u.starts_with("tls://")
                || u.starts_with("ws://")
                || u.starts_with("wss://"))
            {
                problems.push(format!(
                    "nats.url {shown:?} must start with nats://, tls://, ws:// or wss://"
                ));
            }
            if shown != *u {
                // The client ignores URL credentials (it would fail with a confusing
                // authorization error), and every log line naming the URL would carry them.
                problems.push(format!(
                    "nats.url {shown:?} carries credentials: set nats.user and nats.password, or nats.token, instead"
                ));
            }
        }
        let auth_methods = [
            !self.nats.user.is_empty() || !self.nats.password.is_empty(),
            !self.nats.token.is_empty(),
            !self.nats.nkey_seed.is_empty(),
            !self.nats.creds_file.is_empty(),
        ];
        if auth_methods.iter().filter(|m| **m).count() > 1 {
            problems.push(
                "nats: set only one of user/password, token, nkey_seed, creds_file".to_string(),
            );
        }
        if self.nats.user.is_empty() != self.nats.password.is_empty() {
            problems.push("nats.user and nats.password go together".to_string());
        }
        if !self.nats.nkey_seed.is_empty() && !self.nats.nkey_seed.expose().starts_with('S') {
            problems.push("nats.nkey_seed must be a seed (starts with S)".to_string());
        }
        if self.nats.tls_cert_file.is_empty() != self.nats.tls_key_file.is_empty() {
            problems.push("nats.tls_cert_file and nats.tls_key_file go together".to_string());
        }
        for (key, path) in [
            ("nats.creds_file", &self.nats.creds_file),
            ("nats.tls_ca_file", &self.nats.tls_ca_file),
            ("nats.tls_cert_file", &self.nats.tls_cert_file),
            ("nats.tls_key_file", &self.nats.tls_key_file),
        ] {
            if !path.is_empty() && !Path::new(path).is_file() {
                problems.push(format!("{key}: file {path} does not exist"));
            }
        }
        if self.nats.replicas == 0 || self.nats.replicas > 5 {
            problems.push(format!(
                "nats.replicas must be 1..=5, not {}",
                self.nats.replicas
            ));
        }
        if self.nats.obs_max_bytes <= 0 || self.nats.features_max_bytes <= 0 {
            problems.push("nats.*_max_bytes must be positive".to_string());
        }
        if self.nats.duplicate_window_secs == 0 {
            problems.push("nats.duplicate_window_secs must be positive".to_string());
        }
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database.url {:?} must be sqlite:PATH or postgres://...",
                redact_url(db)
            ));
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections must be at least 1".to_string());
        }
        if let Err(e) = self.http.listen_addr() {
            problems.push(e);
        }
        if self.http_client.timeout_secs == 0 || self.http_client.max_response_bytes == 0 {
            problems.push(
                "http_client.timeout_secs and max_response_bytes must be positive".to_string(),
            );
        }
        for (key, url, enabled) in [
            (
                "sources.xray.primary_url",
                &self.sources.xray.primary_url,
                self.sources.xray.enabled,
            ),
            (
                "sources.regions.url",
                &self.sources.regions.url,
                self.sources.regions.enabled,
            ),
            (
                "sources.donki.url",
                &self.sources.donki.url,
                self.sources.donki.enabled,
            ),
        ] {
            if enabled && !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!("{key} {url:?} must be an http(s) URL"));
            }
        }
        for (key, secs) in [
            (
                "sources.xray.interval_secs",
                self.sources.xray.interval_secs,
            ),
            (
                "sources.regions.interval_secs",
                self.sources.regions.interval_secs,
            ),
            (
                "sources.donki.interval_secs",
                self.sources.donki.interval_secs,
            ),
            ("features.cadence_secs", self.features.cadence_secs),
        ] {
            if secs == 0 {
                problems.push(format!("{key} must be positive"));
            }
        }
        if !matches!(self.detection.min_class.as_str(), "B" | "C" | "M" | "X") {
            problems.push(format!(
                "detection.min_class {:?} must be B, C, M or X",
                self.detection.min_class
            ));
        }
        let w = &self.writer;
        if w.batch_max_records == 0 || w.batch_max_bytes == 0 || w.max_in_flight == 0 {
            problems.push("writer batch limits and max_in_flight must be positive".to_string());
        }
        let i = &self.ingest;
        if i.batch_max_records == 0 || i.batch_max_bytes < 1024 || i.batch_max_bytes > 900 * 1024 {
            problems.push(format!(
                "ingest.batch_max_records must be positive and ingest.batch_max_bytes within 1 KiB..900 KiB (NATS refuses messages over 1 MiB by default), not {}",
                i.batch_max_bytes
            ));
        }
        if self.features.max_in_flight == 0 {
            problems.push("features.max_in_flight must be positive".to_string());
        }
        if let Err(e) = self.logging.level.parse::<tracing_subscriber::EnvFilter>() {
            problems.push(format!("logging.level {:?}: {e}", self.logging.level));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
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

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_default_is_valid_and_points_at_sqlite_and_local_nats() {
        let cfg = Config::load_with_env(None, env(&[])).expect("default config");
        assert_eq!(cfg.database.url, "sqlite://./data/flare.db");
        assert_eq!(cfg.nats.urls(), vec!["nats://127.0.0.1:4222"]);
        assert_eq!(cfg.http.listen, "127.0.0.1:9464");
        assert_eq!(cfg.features.profile, Profile::FlarePlus);
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
            ]),
        )
        .expect("overridden config");
        assert_eq!(cfg.nats.urls(), vec!["nats://a:4222", "nats://b:4222"]);
        assert_eq!(cfg.database.url, "postgres://flare:s3cret@db:5432/flare");
        assert_eq!(cfg.http.listen, "0.0.0.0:9999");
        assert_eq!(cfg.writer.batch_max_records, 10);
        assert_eq!(cfg.features.profile, Profile::Improved);
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
        let missing = dir.path().join("missing.toml");
        let text = Config::load_with_env(Some(&missing), env(&[]))
            .expect_err("missing")
            .to_string();
        assert!(text.contains("does not exist"), "{text}");
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
        assert_eq!(redact_nats_url("nats://u:p@h:4222"), "nats://u:***@h:4222");
        assert_eq!(redact_nats_url("tls://tok@h:4222"), "tls://***@h:4222");
        assert_eq!(redact_nats_url("nats://h:4222"), "nats://h:4222");
        let mut cfg = Config::load_with_env(None, env(&[])).expect("config");
        cfg.nats.url = "nats://a:pw-1@h1:4222,nats://tok-2@h2:4222".into();
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

    #[test]
    fn redact_url_hides_query_string_passwords() {
        assert_eq!(
            redact_url("postgres://h/d?user=u&password=p&sslmode=require"),
            "postgres://h/d?user=u&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://u:p@h/d?sslpassword=k"),
            "postgres://u:***@h/d?sslpassword=***"
        );
    }

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://u:p@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(
            redact_url("sqlite://./data/flare.db"),
            "sqlite://./data/flare.db"
        );
    }
}
