//! Why a publish did not happen: shared by the [`super::Publisher`] and its
//! [`super::BacklogGate`].

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The message can never be published (too large, invalid subject).
    #[error("message to {subject} cannot be published: {detail}")]
    Rejected { subject: String, detail: String },
    /// A stop was requested while a publish was still failing; it was not stored.
    #[error("stopped while {pending} publishes were not yet acknowledged")]
    Stopped { pending: usize },
}
