//! Configuration loading, shared by every component: the embedded `config/default.toml`,
//! then an optional `--config FILE`, then `FLARE__SECTION__KEY` environment variables. The
//! typed sections live beside the components they configure (`bus::NatsConfig`,
//! `store::StoreConfig`, ...); `pipeline::Config` gathers them. Defaults exist in one place,
//! `config/default.toml`: a section's `Default` is its part of that file.
//!
//! Durations are written as text (`"30s"`, `"5m"`, `"2h"`, `"7days"`; humantime's syntax).
//! A key of the older numeric form (`connect_timeout_ms = 5000`) is reported with its new
//! name instead of a bare "unknown field".

pub mod secret;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::de::DeserializeOwned;

pub use secret::{redact_url, Secret, SecretUrl};

/// The compiled-in defaults: SQLite in ./data, NATS on localhost.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Why the configuration cannot be used. Lists every problem found.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration: {0}")]
    Load(String),
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

/// Problems found by validation, reported together.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    /// Records `problem` unless `ok`.
    pub fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.0.push(problem());
        }
    }

    /// `Ok` if nothing was found.
    pub fn into_result(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self.0))
        }
    }
}

/// Checks a section's values beyond what its types enforce (ranges, combinations).
pub trait Validate {
    fn validate(&self, problems: &mut Problems);
}

/// The section at dotted `path` of the embedded defaults (for a section's `Default`).
///
/// # Panics
/// If `config/default.toml` lacks the section or it does not fit `T`: a build defect that
/// `every_section_has_embedded_defaults`-style tests catch, never a user's input.
pub fn embedded_section<T: DeserializeOwned>(path: &str) -> T {
    let mut value: toml::Value = toml::from_str(DEFAULT_TOML).expect("config/default.toml parses");
    for part in path.split('.') {
        value = value
            .get(part)
            .cloned()
            .unwrap_or_else(|| panic!("config/default.toml has no [{path}]"));
    }
    value
        .try_into()
        .unwrap_or_else(|e| panic!("config/default.toml [{path}] does not fit its type: {e}"))
}

/// Loads the layers into `T` with the process environment.
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> Result<T, ConfigError> {
    load_with_env(file, flare_env_vars()?)
}

/// [`load`] with an explicit environment (tests use it; no global mutation). Besides the
/// `FLARE__*` variables, `NASA_API_KEY` is the DONKI key, below
/// `FLARE__SOURCES__DONKI__API_KEY` and above the files.
pub fn load_with_env<T: DeserializeOwned>(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
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
    let mut env: HashMap<String, String> = env.into_iter().collect();
    if let Some(key) = env.remove(NASA_API_KEY) {
        env.entry(DONKI_KEY_VAR.to_string()).or_insert(key);
    }
    // String settings are taken verbatim; only the others are parsed as numbers and
    // booleans. Parsing every variable (the `config` crate's `try_parsing`) turned a
    // password or token such as `0123` into the integer 123 and back into "123", and
    // `1e5` into "100000": a secret that looks like a number was silently changed.
    let defaults = default_keys();
    let (raw, typed): (HashMap<String, String>, HashMap<String, String>) = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("FLARE__"))
        .partition(|(k, _)| defaults.strings.contains(&env_key(k)));
    let environment = |parse: bool, vars: HashMap<String, String>| {
        Environment::with_prefix("FLARE")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(parse)
            .source(Some(vars))
    };
    let merged = builder
        .add_source(environment(true, typed))
        .add_source(environment(false, raw))
        .build()
        .map_err(|e| ConfigError::Load(e.to_string()))?;
    let renamed = renamed_keys(&merged, &defaults.all);
    if !renamed.is_empty() {
        return Err(ConfigError::Invalid(renamed));
    }
    merged
        .try_deserialize()
        .map_err(|e| ConfigError::Invalid(vec![e.to_string()]))
}

const NASA_API_KEY: &str = "NASA_API_KEY";
const DONKI_KEY_VAR: &str = "FLARE__SOURCES__DONKI__API_KEY";

/// The process's `FLARE__*` variables and `NASA_API_KEY`. `std::env::vars()` panics on any
/// variable that is not UTF-8 and prints its value (possibly a secret) in the panic
/// message; here such a variable of ours is an error naming only the variable, and other
/// variables are ignored.
fn flare_env_vars() -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars = Vec::new();
    let mut not_utf8 = Vec::new();
    for (key, value) in std::env::vars_os() {
        let Some(key) = key
            .to_str()
            .filter(|k| k.starts_with("FLARE__") || *k == NASA_API_KEY)
        else {
            continue;
        };
        match value.into_string() {
            Ok(value) => vars.push((key.to_string(), value)),
            Err(_) => not_utf8.push(key.to_string()),
        }
    }
    if not_utf8.is_empty() {
        return Ok(vars);
    }
    not_utf8.sort();
    Err(ConfigError::Load(format!(
        "environment variable(s) {} not valid UTF-8 (value not shown)",
        not_utf8.join(", ")
    )))
}

/// `FLARE__SOURCES__DONKI__API_KEY` -> `sources.donki.api_key` (the `config` crate's key).
fn env_key(var: &str) -> String {
    var.trim_start_matches("FLARE__")
        .to_lowercase()
        .replace("__", ".")
}

/// The dotted keys of the embedded defaults: all of them, and those whose value is a string
/// (taken from the environment verbatim). Derived from the file, so a new setting needs no
/// list update.
struct DefaultKeys {
    all: HashSet<String>,
    strings: HashSet<String>,
}

fn default_keys() -> DefaultKeys {
    fn walk(prefix: &str, table: &toml::Table, out: &mut DefaultKeys) {
        for (name, value) in table {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            match value {
                toml::Value::Table(inner) => walk(&key, inner, out),
                toml::Value::String(_) => {
                    out.strings.insert(key.clone());
                    out.all.insert(key);
                }
                _ => {
                    out.all.insert(key);
                }
            }
        }
    }
    let mut out = DefaultKeys {
        all: HashSet::new(),
        strings: HashSet::new(),
    };
    if let Ok(table) = toml::from_str::<toml::Table>(DEFAULT_TOML) {
        walk("", &table, &mut out);
    }
    out
}

/// Keys of the older numeric duration form (`..._ms`, `_secs`, `_minutes`, `_hours`,
/// `_days`) whose new name is a known key: "X is now Y, a duration such as "30s"".
fn renamed_keys(merged: &config::Config, known: &HashSet<String>) -> Vec<String> {
    fn walk(prefix: &str, table: &toml::Table, known: &HashSet<String>, out: &mut Vec<String>) {
        for (name, value) in table {
            let key = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            if let toml::Value::Table(inner) = value {
                walk(&key, inner, known, out);
                continue;
            }
            let renamed = ["_ms", "_secs", "_minutes", "_hours", "_days"]
                .iter()
                .find_map(|unit| key.strip_suffix(unit))
                .filter(|new| !known.contains(&key) && known.contains(*new));
            if let Some(new) = renamed {
                out.push(format!(
                    "{key} is now {new}, a duration with its unit such as \"30s\", \"5m\" or \"2h\""
                ));
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(table) = merged.clone().try_deserialize::<toml::Table>() {
        walk("", &table, known, &mut out);
    }
    out
}

#[cfg(test)]
mod tests;
