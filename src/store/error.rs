//! Typed store errors. Callers branch on [`StoreErrorKind`] (retry, dead-letter, stop), label
//! metrics with [`StoreError::code`] (a bounded set), and can log the message as is: it never
//! holds the password of the database URL.

use std::fmt;

use crate::config::secret::{scrub, SecretUrl};

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// The database cannot be reached or is shutting down (I/O, refused connection, pool
    /// timeout, 08xxx, 57P0x, SQLite I/O). Retry later; nothing was committed.
    Unavailable,
    /// The transaction lost a race (40001 serialization, 40P01 deadlock, SQLite busy/locked).
    /// Retry now; nothing was committed.
    Conflict,
    /// The data itself is refused (SQLSTATE class 22 or 23, SQLite constraint/mismatch, NaN).
    /// Retrying cannot help; dead-letter the record.
    Data,
    /// Migrations failed, or the schema is not what this code expects.
    Migration,
    /// Bad URL or options.
    Config,
    /// Anything else (a bug, a corrupt database, a closed store).
    Other,
}

impl StoreErrorKind {
    /// Whether the same operation may succeed when retried unchanged.
    pub fn is_transient(self) -> bool {
        matches!(self, StoreErrorKind::Unavailable | StoreErrorKind::Conflict)
    }
}

/// A store error: kind, bounded code, and a message with credentials redacted.
#[derive(Debug, Clone, thiserror::Error)]
pub struct StoreError {
    kind: StoreErrorKind,
    code: &'static str,
    /// Already redacted when the error is built; no source error is kept, so nothing
    /// unredacted can leak through `source()` or `Debug`.
    message: String,
    /// PostgreSQL SQLSTATE or SQLite extended result code, when the database reported one.
    db_code: Option<String>,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.db_code {
            Some(c) => write!(f, "store {} ({c}): {}", self.code, self.message),
            None => write!(f, "store {}: {}", self.code, self.message),
        }
    }
}

impl StoreError {
    pub(crate) fn new(
        kind: StoreErrorKind,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        StoreError {
            kind,
            code,
            message: message.into(),
            db_code: None,
        }
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }

    /// A short label from a fixed set (for `error_code` metric labels).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The database's own code (SQLSTATE or SQLite extended result code), if any.
    pub fn db_code(&self) -> Option<&str> {
        self.db_code.as_deref()
    }

    /// The redacted message without the kind prefix (used as a rejection reason).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Config, "config", message)
    }

    /// Converts a sqlx error, removing `secret` (the URL password) from its text.
    pub(crate) fn from_sqlx(err: sqlx::Error, secret: &Redactor) -> Self {
        let message = secret.redact(&err.to_string());
        let (kind, code, db_code) = classify(&err);
        StoreError {
            kind,
            code,
            message,
            db_code,
        }
    }

    pub(crate) fn from_migrate(err: sqlx::migrate::MigrateError, secret: &Redactor) -> Self {
        if let sqlx::migrate::MigrateError::Execute(inner) = err {
            let mut e = Self::from_sqlx(inner, secret);
            if !e.kind.is_transient() {
                e.kind = StoreErrorKind::Migration;
                e.code = "migration";
            }
            return e;
        }
        Self::new(
            StoreErrorKind::Migration,
            "migration",
            secret.redact(&err.to_string()),
        )
    }
}

fn classify(err: &sqlx::Error) -> (StoreErrorKind, &'static str, Option<String>) {
    use StoreErrorKind::*;
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned());
            let is_pg = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some();
            let (kind, label) = match code.as_deref() {
                Some(c) if is_pg => classify_sqlstate(c),
                Some(c) => classify_sqlite(c.parse::<i32>().unwrap_or(-1)),
                None => (Other, "database"),
            };
            (kind, label, code)
        }
        sqlx::Error::Io(_) => (Unavailable, "io", None),
        sqlx::Error::PoolTimedOut => (Unavailable, "pool_timeout", None),
        sqlx::Error::WorkerCrashed => (Unavailable, "worker_crashed", None),
        sqlx::Error::Protocol(_) => (Unavailable, "protocol", None),
        sqlx::Error::Tls(_) => (Config, "tls", None),
        sqlx::Error::Configuration(_) | sqlx::Error::InvalidArgument(_) => (Config, "config", None),
        sqlx::Error::Encode(_) => (Data, "encode", None),
        sqlx::Error::Migrate(_) => (Migration, "migration", None),
        sqlx::Error::PoolClosed => (Other, "pool_closed", None),
        sqlx::Error::Decode(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. } => (Migration, "schema_mismatch", None),
        _ => (Other, "other", None),
    }
}

/// PostgreSQL SQLSTATE classes (appendix A of the PostgreSQL manual).
fn classify_sqlstate(code: &str) -> (StoreErrorKind, &'static str) {
    use StoreErrorKind::*;
    match code {
        "40001" => (Conflict, "serialization_failure"),
        "40P01" => (Conflict, "deadlock"),
        "57P01" | "57P02" | "57P03" => (Unavailable, "admin_shutdown"),
        "22001" => (Data, "value_too_long"),
        "42P01" | "42703" => (Migration, "schema_mismatch"),
        "42501" => (Config, "permission_denied"),
        _ => match code.get(..2).unwrap_or("") {
            "08" => (Unavailable, "connection_failure"),
            "53" => (Unavailable, "insufficient_resources"),
            "22" => (Data, "data_exception"),
            "23" => (Data, "constraint_violation"),
            "28" => (Config, "auth"),
            "3D" => (Config, "no_database"),
            _ => (Other, "database"),
        },
    }
}

/// SQLite result codes (the low byte of the extended code).
fn classify_sqlite(code: i32) -> (StoreErrorKind, &'static str) {
    use StoreErrorKind::*;
    match code & 0xff {
        19 => (Data, "constraint_violation"),
        20 => (Data, "datatype_mismatch"),
        18 => (Data, "value_too_big"),
        25 => (Data, "bind_range"),
        5 => (Conflict, "busy"),
        6 => (Conflict, "locked"),
        10 | 13 | 14 | 7 => (Unavailable, "io"),
        8 => (Config, "read_only"),
        3 | 23 => (Config, "permission_denied"),
        _ => (Other, "database"),
    }
}

/// Removes the URL password from text before it goes into an error or a log line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Remembers the secrets of the database URL.
    pub(crate) fn for_url(url: &SecretUrl) -> Self {
        Redactor {
            secrets: url.secrets(),
        }
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_driver_messages() {
        let r = Redactor::for_url(&SecretUrl::new("postgres://u:s%40cret@h/d"));
        assert_eq!(r.redact("bad s@cret and s%40cret"), "bad *** and ***");
    }

    #[test]
    fn sqlstate_kinds() {
        assert_eq!(classify_sqlstate("22001").0, StoreErrorKind::Data);
        assert_eq!(classify_sqlstate("23505").0, StoreErrorKind::Data);
        assert_eq!(classify_sqlstate("40P01").0, StoreErrorKind::Conflict);
        assert_eq!(classify_sqlstate("57P01").0, StoreErrorKind::Unavailable);
        assert_eq!(classify_sqlstate("08006").0, StoreErrorKind::Unavailable);
        assert_eq!(classify_sqlite(2067).0, StoreErrorKind::Data);
        assert_eq!(classify_sqlite(5).0, StoreErrorKind::Conflict);
        assert!(StoreErrorKind::Unavailable.is_transient());
        assert!(!StoreErrorKind::Data.is_transient());
    }
}
