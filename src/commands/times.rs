//! The `--times FILE` format: one ISO timestamp per line (`2024-05-21T00:00:00`, UTC when no
//! zone is given; `Z` or an offset is converted), blank lines and `#` comments ignored.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::sources::timestamp::parse_timestamp;

#[derive(Debug, thiserror::Error)]
pub enum TimesError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {detail}")]
    Bad {
        path: String,
        line: usize,
        detail: String,
    },
    #[error("{0} lists no timestamps")]
    Empty(String),
}

/// Reads the timestamps in file order.
pub fn read_times(path: &Path) -> Result<Vec<DateTime<Utc>>, TimesError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TimesError::Io {
        path: shown.clone(),
        source,
    })?;
    let mut times = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let t = parse_timestamp(line).map_err(|detail| TimesError::Bad {
            path: shown.clone(),
            line: i + 1,
            detail,
        })?;
        times.push(t);
    }
    if times.is_empty() {
        return Err(TimesError::Empty(shown));
    }
    Ok(times)
}

/// A `--from`/`--to` time argument (clap's value parser): ISO, UTC when no zone is given.
pub fn time_arg(text: &str) -> Result<DateTime<Utc>, String> {
    parse_timestamp(text).map_err(|e| format!("{text:?}: {e}"))
}
