//! Header names the runtime writes. Application headers (schema, entry time) are defined by
//! the application.

/// JetStream's de-duplication key (`Nats-Msg-Id`): a re-publish with the same id inside the
/// stream's duplicate window is dropped by the server.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// Why a record was dead-lettered: a bounded machine-readable code (e.g. `invalid_json`).
pub const DLQ_CODE: &str = "Flare-Dlq-Code";
/// Why a record was dead-lettered, for humans.
pub const DLQ_REASON: &str = "Flare-Dlq-Reason";
/// The subject the record was originally published on.
pub const DLQ_SUBJECT: &str = "Flare-Dlq-Subject";
/// The stream sequence of the original message (when it came from a stream).
pub const DLQ_STREAM_SEQUENCE: &str = "Flare-Dlq-Stream-Sequence";
/// The actor that gave up on the record.
pub const DLQ_ACTOR: &str = "Flare-Dlq-Actor";
/// For a record dead-lettered out of a batch message: its position in the batch.
pub const DLQ_RECORD_INDEX: &str = "Flare-Dlq-Record-Index";
