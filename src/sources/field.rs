//! Typed reads of one record field, with a [`RejectReason`] that names the field and value.
//!
//! Records are first deserialized into structs of `Option<&RawValue>` (see [`present`]), so
//! "absent", "null" and "wrong type" stay distinguishable and every problem can be reported
//! per field instead of as one opaque serde message.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::parse_error::{RejectCode, RejectReason};
use super::timestamp::parse_timestamp;

/// `deserialize_with` helper: keeps a present field (even `null`) as its raw text, so that
/// `#[serde(default)]` leaves only truly absent fields as `None`.
pub(crate) fn present<'de, D>(d: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: Deserializer<'de>,
{
    <&'de RawValue>::deserialize(d).map(Some)
}

/// The JSON kind of a raw field value, with the scalar content where it is cheap.
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// A JSON number literal, as written (parsed later with Rust's correctly rounded parser,
    /// so values match Python's `float()` bit for bit).
    Number(&'a str),
    String(Cow<'a, str>),
    Array,
    Object,
}

impl Json<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array => "an array",
            Json::Object => "an object",
        }
    }
}

pub(crate) fn reason(code: RejectCode, detail: impl Into<String>) -> RejectReason {
    RejectReason {
        code,
        detail: detail.into(),
    }
}

/// Short excerpt of a raw value for reject details (the full record travels in `raw`).
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

pub(crate) fn inspect(raw: &RawValue) -> Json<'_> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'n') => Json::Null,
        Some(b't') => Json::Bool(true),
        Some(b'f') => Json::Bool(false),
        Some(b'[') => Json::Array,
        Some(b'{') => Json::Object,
        Some(b'"') => match serde_json::from_str::<&str>(text) {
            Ok(s) => Json::String(Cow::Borrowed(s)),
            // Escapes need unescaping into an owned string; the value was already validated
            // by the payload walk, so the fallback only fails on lone surrogates.
            Err(_) => match serde_json::from_str::<String>(text) {
                Ok(s) => Json::String(Cow::Owned(s)),
                Err(_) => Json::Object,
            },
        },
        _ => Json::Number(text),
    }
}

/// A required field: absent or `null` is [`RejectCode::MissingField`].
pub(crate) fn required<'a>(
    value: Option<&'a RawValue>,
    name: &str,
) -> Result<&'a RawValue, RejectReason> {
    match value {
        None => Err(reason(
            RejectCode::MissingField,
            format!("{name} is absent"),
        )),
        Some(raw) if matches!(inspect(raw), Json::Null) => {
            Err(reason(RejectCode::MissingField, format!("{name} is null")))
        }
        Some(raw) => Ok(raw),
    }
}

fn wrong_type(name: &str, expected: &str, raw: &RawValue, got: &Json<'_>) -> RejectReason {
    reason(
        RejectCode::WrongType,
        format!(
            "{name} must be {expected}, got {} {}",
            got.kind(),
            excerpt(raw.get())
        ),
    )
}

/// A string field; absent or null is `None`, any other type is rejected.
pub(crate) fn opt_string<'a>(
    value: Option<&'a RawValue>,
    name: &str,
) -> Result<Option<Cow<'a, str>>, RejectReason> {
    let Some(raw) = value else { return Ok(None) };
    match inspect(raw) {
        Json::Null => Ok(None),
        Json::String(s) => Ok(Some(s)),
        other => Err(wrong_type(name, "a string", raw, &other)),
    }
}

/// A string field where a non-string is treated as absent (flare-plus Q39 fix: a NaN or a
/// number in a class column must not sink the record or the batch).
pub(crate) fn lenient_string<'a>(value: Option<&'a RawValue>) -> Option<Cow<'a, str>> {
    match inspect(value?) {
        Json::String(s) => Some(s),
        _ => None,
    }
}

/// Rejects strings longer than a column allows (counted in characters, like VARCHAR(n)).
pub(crate) fn check_len(s: &str, name: &str, max_chars: usize) -> Result<(), RejectReason> {
    let n = s.chars().count();
    if n > max_chars {
        return Err(reason(
            RejectCode::TooLong,
            format!(
                "{name} {:?} has {n} characters; at most {max_chars}",
                excerpt(s)
            ),
        ));
    }
    Ok(())
}

pub(crate) fn opt_bool(value: Option<&RawValue>, name: &str) -> Result<Option<bool>, RejectReason> {
    let Some(raw) = value else { return Ok(None) };
    match inspect(raw) {
        Json::Null => Ok(None),
        Json::Bool(b) => Ok(Some(b)),
        other => Err(wrong_type(name, "a boolean", raw, &other)),
    }
}

/// A finite f64 from a JSON number or a numeric string (flare-plus converted with pandas /
/// Python `float`, which accept both). `"NaN"`, `"Infinity"` and numbers beyond f64 are
/// [`RejectCode::NotFinite`].
pub(crate) fn opt_f64(value: Option<&RawValue>, name: &str) -> Result<Option<f64>, RejectReason> {
    let Some(raw) = value else { return Ok(None) };
    let json = inspect(raw);
    let text: &str = match &json {
        Json::Null => return Ok(None),
        Json::Number(t) => t,
        Json::String(s) => s.trim(),
        other => return Err(wrong_type(name, "a number", raw, other)),
    };
    let parsed: f64 = text.parse().map_err(|_| {
        reason(
            RejectCode::WrongType,
            format!("{name} must be a number, got {}", excerpt(raw.get())),
        )
    })?;
    if !parsed.is_finite() {
        return Err(reason(
            RejectCode::NotFinite,
            format!("{name} is not a finite number: {}", excerpt(raw.get())),
        ));
    }
    Ok(Some(parsed))
}

/// An i32 from an integer, an integral float (`120.0`) or such a numeric string. Fractions
/// are rejected rather than truncated (flare-plus's `int(float(x))` silently truncated).
pub(crate) fn opt_i32(value: Option<&RawValue>, name: &str) -> Result<Option<i32>, RejectReason> {
    let Some(raw) = value else { return Ok(None) };
    let json = inspect(raw);
    let text: &str = match &json {
        Json::Null => return Ok(None),
        Json::Number(t) => t,
        Json::String(s) => s.trim(),
        other => return Err(wrong_type(name, "an integer", raw, other)),
    };
    let out_of_range = || {
        reason(
            RejectCode::OutOfRange,
            format!(
                "{name} {} does not fit a 32-bit integer",
                excerpt(raw.get())
            ),
        )
    };
    if let Ok(i) = text.parse::<i64>() {
        return i32::try_from(i).map(Some).map_err(|_| out_of_range());
    }
    let f: f64 = text.parse().map_err(|_| {
        reason(
            RejectCode::WrongType,
            format!("{name} must be an integer, got {}", excerpt(raw.get())),
        )
    })?;
    if !f.is_finite() {
        return Err(reason(
            RejectCode::NotFinite,
            format!("{name} is not a finite number: {}", excerpt(raw.get())),
        ));
    }
    if f.fract() != 0.0 {
        return Err(reason(
            RejectCode::WrongType,
            format!("{name} must be an integer, got {}", excerpt(raw.get())),
        ));
    }
    if f < f64::from(i32::MIN) || f > f64::from(i32::MAX) {
        return Err(out_of_range());
    }
    // In range and integral, so the conversion is exact.
    Ok(Some(f as i32))
}

/// A required timestamp string, converted to UTC (see [`parse_timestamp`]).
pub(crate) fn required_time(
    value: Option<&RawValue>,
    name: &str,
) -> Result<DateTime<Utc>, RejectReason> {
    let raw = required(value, name)?;
    time_of(raw, name)
}

/// An optional timestamp: absent or null is `None`; a present but bad value is rejected.
pub(crate) fn opt_time(
    value: Option<&RawValue>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, RejectReason> {
    match value {
        None => Ok(None),
        Some(raw) if matches!(inspect(raw), Json::Null) => Ok(None),
        Some(raw) => time_of(raw, name).map(Some),
    }
}

fn time_of(raw: &RawValue, name: &str) -> Result<DateTime<Utc>, RejectReason> {
    match inspect(raw) {
        Json::String(s) => parse_timestamp(&s).map_err(|why| {
            reason(
                RejectCode::BadTime,
                format!("{name} {:?}: {why}", excerpt(&s)),
            )
        }),
        other => Err(wrong_type(name, "a timestamp string", raw, &other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn numbers_and_numeric_strings() {
        assert_eq!(
            opt_f64(Some(raw("1.09497e-08")), "f"),
            Ok(Some(1.09497e-08))
        );
        assert_eq!(opt_f64(Some(raw("\" 2.5 \"")), "f"), Ok(Some(2.5)));
        assert_eq!(opt_f64(Some(raw("null")), "f"), Ok(None));
        assert_eq!(opt_f64(None, "f"), Ok(None));
        let code = |t: &str| opt_f64(Some(raw(t)), "f").unwrap_err().code;
        assert_eq!(code("1e400"), RejectCode::NotFinite);
        assert_eq!(code("\"NaN\""), RejectCode::NotFinite);
        assert_eq!(code("\"-Infinity\""), RejectCode::NotFinite);
        assert_eq!(code("\"abc\""), RejectCode::WrongType);
        assert_eq!(code("true"), RejectCode::WrongType);
        assert_eq!(code("[1]"), RejectCode::WrongType);
    }

    #[test]
    fn integers_accept_integral_floats_only() {
        assert_eq!(opt_i32(Some(raw("120")), "i"), Ok(Some(120)));
        assert_eq!(opt_i32(Some(raw("120.0")), "i"), Ok(Some(120)));
        assert_eq!(opt_i32(Some(raw("\"1234\"")), "i"), Ok(Some(1234)));
        assert_eq!(opt_i32(Some(raw("-5")), "i"), Ok(Some(-5)));
        let code = |t: &str| opt_i32(Some(raw(t)), "i").unwrap_err().code;
        assert_eq!(code("12.5"), RejectCode::WrongType);
        assert_eq!(code("99999999999999999999"), RejectCode::OutOfRange);
        assert_eq!(code("3000000000"), RejectCode::OutOfRange);
        assert_eq!(code("1e300"), RejectCode::OutOfRange);
        assert_eq!(code("1e999"), RejectCode::NotFinite);
        assert_eq!(code("{}"), RejectCode::WrongType);
    }

    #[test]
    fn strings_unescape_and_check_types() {
        assert_eq!(
            opt_string(Some(raw(r#""a\u00e9\n""#)), "s")
                .unwrap()
                .as_deref(),
            Some("a\u{e9}\n")
        );
        assert_eq!(opt_string(Some(raw("null")), "s"), Ok(None));
        assert_eq!(
            opt_string(Some(raw("5")), "s").unwrap_err().code,
            RejectCode::WrongType
        );
        assert_eq!(lenient_string(Some(raw("5"))), None);
        assert_eq!(
            check_len("abcd", "s", 3).unwrap_err().code,
            RejectCode::TooLong
        );
        assert_eq!(check_len("\u{e9}\u{e9}\u{e9}", "s", 3), Ok(()));
    }

    #[test]
    fn required_distinguishes_absent_null_and_bad() {
        assert_eq!(
            required(None, "x").unwrap_err().code,
            RejectCode::MissingField
        );
        assert_eq!(
            required(Some(raw("null")), "x").unwrap_err().code,
            RejectCode::MissingField
        );
        assert_eq!(
            required_time(Some(raw("\"2024-13-01\"")), "t")
                .unwrap_err()
                .code,
            RejectCode::BadTime
        );
        assert_eq!(
            required_time(Some(raw("17")), "t").unwrap_err().code,
            RejectCode::WrongType
        );
        assert!(excerpt(&"x".repeat(100)).ends_with("..."));
    }
}
