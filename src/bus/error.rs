//! Bus errors with a kind the caller can branch on.

/// What went wrong talking to NATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusErrorKind {
    /// No server answered (refused, timed out, DNS).
    Unreachable,
    /// The server refused our credentials: retrying will not help.
    Unauthorized,
    /// TLS setup or handshake failed.
    Tls,
    /// A stream, consumer or bucket could not be created or read.
    Topology,
    /// Anything else.
    Other,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BusError {
    kind: BusErrorKind,
    message: String,
}

impl BusError {
    pub fn new(kind: BusErrorKind, message: impl Into<String>) -> BusError {
        BusError {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> BusErrorKind {
        self.kind
    }
}
