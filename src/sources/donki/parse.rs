//! NASA DONKI FLR JSON -> [`FlareEvent`], spec 2.5.
//!
//! flare-plus had three DONKI code paths with different rules (Q9). This is the one
//! normaliser: the main pipeline's row shape (`verified = true`, class string verbatim,
//! path (a)), the CLI's id and region handling (`flrID or id or activityID`, numeric-string
//! region numbers, path (c)), times converted to UTC (Q10 fix) and per-record class
//! validation (Q33 fix).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::{FlareCategory, FlareEvent, FlareSource};
use crate::sources::field::{self, present, reason};
use crate::sources::parse_error::{Parsed, PayloadError, RejectCode, RejectReason, Rejected};
use crate::sources::payload::for_each_element;

/// Longest accepted `classType`. flare-plus's VARCHAR(5) made one longer value abort the
/// whole batch (Q33); we reject just that record.
pub const MAX_FLARE_CLASS_CHARS: usize = 10;
/// `flare_events.location` is VARCHAR(20).
pub const MAX_LOCATION_CHARS: usize = 20;

/// Parses the payload; flares keep payload order.
pub fn parse_donki_flares(bytes: &[u8]) -> Result<Parsed<FlareEvent>, PayloadError> {
    let mut parsed = Parsed::new();
    for_each_element(bytes, |_, raw| match flare(raw) {
        Ok(f) => parsed.records.push(f),
        Err(why) => parsed.rejected.push(Rejected {
            raw: raw.get().to_owned(),
            reason: why,
        }),
    })?;
    Ok(parsed)
}

#[derive(Deserialize)]
#[allow(non_snake_case)] // DONKI's own field names, so the mapping reads one to one.
struct DonkiRecord<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    flrID: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    activityID: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    beginTime: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    peakTime: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    endTime: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    classType: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    sourceLocation: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    activeRegionNum: Option<&'a RawValue>,
}

fn flare(raw: &RawValue) -> Result<FlareEvent, RejectReason> {
    if !raw.get().trim_start().starts_with('{') {
        return Err(reason(
            RejectCode::NotAnObject,
            "record is not a JSON object",
        ));
    }
    let rec: DonkiRecord<'_> = serde_json::from_str(raw.get())
        .map_err(|e| reason(RejectCode::Malformed, e.to_string()))?;
    // flare-plus skipped a falsy classType; an empty string is missing too.
    let class = field::opt_string(rec.classType, "classType")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            reason(
                RejectCode::MissingField,
                "classType is absent, null or empty",
            )
        })?;
    field::check_len(&class, "classType", MAX_FLARE_CLASS_CHARS)?;
    let (class_category, class_magnitude) = parse_flare_class(&class)?;
    let start_time = field::required_time(rec.beginTime, "beginTime")?;
    let peak_time = field::required_time(rec.peakTime, "peakTime")?;
    let end_time = field::opt_time(rec.endTime, "endTime")?;
    let location = field::opt_string(rec.sourceLocation, "sourceLocation")?;
    if let Some(loc) = &location {
        field::check_len(loc, "sourceLocation", MAX_LOCATION_CHARS)?;
    }
    Ok(FlareEvent {
        source: FlareSource::Donki,
        external_id: external_id(&rec)?,
        start_time,
        peak_time,
        end_time,
        flare_class: class.into_owned(),
        class_category,
        class_magnitude,
        active_region: field::opt_i32(rec.activeRegionNum, "activeRegionNum")?,
        location: location.map(|l| l.into_owned()),
        verified: true,
    })
}

/// `flrID or id or activityID` (Python truthiness: the first non-empty string).
fn external_id(rec: &DonkiRecord<'_>) -> Result<Option<String>, RejectReason> {
    for (value, name) in [
        (rec.flrID, "flrID"),
        (rec.id, "id"),
        (rec.activityID, "activityID"),
    ] {
        if let Some(id) = field::opt_string(value, name)? {
            if !id.is_empty() {
                return Ok(Some(id.into_owned()));
            }
        }
    }
    Ok(None)
}

/// flare-plus's class parse (spec 2.5, 8.3): category = the first character uppercased,
/// magnitude = Python `float()` of the rest. Stricter than flare-plus: the category must be
/// A/B/C/M/X and the magnitude finite, > 0 and < 1000 (Python's `float` also took `nan`,
/// `inf` and `-1`).
pub fn parse_flare_class(class: &str) -> Result<(FlareCategory, f64), RejectReason> {
    let bad = |why: &str| {
        reason(
            RejectCode::BadClass,
            format!("classType {:?}: {why}", field::excerpt(class)),
        )
    };
    let mut chars = class.chars();
    let first = chars.next().ok_or_else(|| bad("empty"))?;
    let mut upper = first.to_uppercase();
    let category = match (upper.next(), upper.next()) {
        (Some(c), None) => FlareCategory::from_letter(c),
        _ => None,
    }
    .ok_or_else(|| bad("the class letter must be A, B, C, M or X"))?;
    let magnitude = python_float(chars.as_str()).ok_or_else(|| bad("no numeric magnitude"))?;
    if !(magnitude.is_finite() && magnitude > 0.0 && magnitude < 1000.0) {
        return Err(bad("the magnitude must be finite, above 0 and below 1000"));
    }
    Ok((category, magnitude))
}

/// Python `float(text)`: surrounding whitespace allowed, `_` only between digits. Rust's
/// parser accepts the same number grammar otherwise (sign, exponent, `inf`, `nan`), and both
/// round correctly, so the value is bit-identical.
fn python_float(text: &str) -> Option<f64> {
    let text = text.trim();
    if !text.contains('_') {
        return text.parse().ok();
    }
    let bytes = text.as_bytes();
    let between_digits = |i: usize| {
        i > 0
            && bytes[i - 1].is_ascii_digit()
            && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit())
    };
    if (0..bytes.len()).any(|i| bytes[i] == b'_' && !between_digits(i)) {
        return None;
    }
    text.replace('_', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Spec 8.3 class-parse table, plus the brief's cases.
    #[test]
    fn spec_8_3_class_parse() {
        use FlareCategory::*;
        for (input, want) in [
            ("M2.5", (M, 2.5)),
            ("X1.0", (X, 1.0)),
            ("C3.4", (C, 3.4)),
            ("B5.6", (B, 5.6)),
            ("X1", (X, 1.0)),
            ("m2.5", (M, 2.5)),
            ("X1_0", (X, 10.0)),
            ("C 3.4 ", (C, 3.4)),
            ("A9.9", (A, 9.9)),
        ] {
            assert_eq!(parse_flare_class(input), Ok(want), "{input}");
        }
        for input in [
            "", "invalid", "X", "Xnan", "Xinf", "X-1", "X0", "X1000", "Z1.0", "X_1", "X1__0", "ßX",
        ] {
            assert_eq!(
                parse_flare_class(input).unwrap_err().code,
                RejectCode::BadClass,
                "{input:?}"
            );
        }
    }

    /// Spec 8.3 conversion example (path (a) row shape).
    #[test]
    fn spec_8_3_conversion() {
        let payload = br#"[{"flrID":"2024-01-01T12:00:00-FLR-001","beginTime":"2024-01-01T12:00Z",
            "peakTime":"2024-01-01T12:15Z","endTime":"2024-01-01T12:30Z","classType":"M2.5",
            "activeRegionNum":1234,"sourceLocation":"S29E34"}]"#;
        let parsed = parse_donki_flares(payload).unwrap();
        assert!(parsed.rejected.is_empty());
        assert_eq!(
            parsed.records,
            vec![FlareEvent {
                source: FlareSource::Donki,
                external_id: Some("2024-01-01T12:00:00-FLR-001".into()),
                start_time: t("2024-01-01T12:00:00Z"),
                peak_time: t("2024-01-01T12:15:00Z"),
                end_time: Some(t("2024-01-01T12:30:00Z")),
                flare_class: "M2.5".into(),
                class_category: FlareCategory::M,
                class_magnitude: 2.5,
                active_region: Some(1234),
                location: Some("S29E34".into()),
                verified: true,
            }]
        );
    }

    #[test]
    fn cli_normaliser_rules_ids_regions_offsets() {
        let payload = br#"[
            {"activityID":"A-1","beginTime":"2024-01-01T00:05Z","peakTime":"2024-01-01T01:00+01:00","classType":"C1","activeRegionNum":"1234","endTime":null},
            {"flrID":"","id":"I-2","beginTime":"2024-01-01","peakTime":"2024-01-01T00:10Z","classType":"X12.3"}
        ]"#;
        let parsed = parse_donki_flares(payload).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        let a = &parsed.records[0];
        assert_eq!(a.external_id.as_deref(), Some("A-1"));
        assert_eq!(a.start_time, t("2024-01-01T00:05:00Z"));
        assert_eq!(a.peak_time, t("2024-01-01T00:00:00Z"));
        assert_eq!((a.end_time, a.active_region), (None, Some(1234)));
        let b = &parsed.records[1];
        assert_eq!(b.external_id.as_deref(), Some("I-2"));
        assert_eq!(b.start_time, t("2024-01-01T00:00:00Z"));
        assert_eq!(
            (b.class_category, b.class_magnitude),
            (FlareCategory::X, 12.3)
        );
    }

    #[test]
    fn each_validation_has_its_code() {
        let ok = r#""beginTime":"2024-01-01T12:00Z","peakTime":"2024-01-01T12:15Z""#;
        let cases = [
            (format!(r#"{{{ok}}}"#), RejectCode::MissingField),
            (
                format!(r#"{{{ok},"classType":null}}"#),
                RejectCode::MissingField,
            ),
            (
                format!(r#"{{{ok},"classType":""}}"#),
                RejectCode::MissingField,
            ),
            (
                format!(r#"{{{ok},"classType":"invalid"}}"#),
                RejectCode::BadClass,
            ),
            (format!(r#"{{{ok},"classType":"X"}}"#), RejectCode::BadClass),
            (
                format!(r#"{{{ok},"classType":"M1.23456789012"}}"#),
                RejectCode::TooLong,
            ),
            (format!(r#"{{{ok},"classType":5}}"#), RejectCode::WrongType),
            (
                r#"{"classType":"M1.0","peakTime":"2024-01-01T12:15Z"}"#.into(),
                RejectCode::MissingField,
            ),
            (
                r#"{"classType":"M1.0","beginTime":"2024-01-01T12:15Z"}"#.into(),
                RejectCode::MissingField,
            ),
            (
                r#"{"classType":"M1.0","beginTime":"invalid","peakTime":"2024-01-01T12:15Z"}"#
                    .into(),
                RejectCode::BadTime,
            ),
            (
                format!(r#"{{{ok},"classType":"M1.0","endTime":"soon"}}"#),
                RejectCode::BadTime,
            ),
            (
                format!(r#"{{{ok},"classType":"M1.0","activeRegionNum":"AR1"}}"#),
                RejectCode::WrongType,
            ),
            (
                format!(
                    r#"{{{ok},"classType":"M1.0","sourceLocation":"{}"}}"#,
                    "N".repeat(21)
                ),
                RejectCode::TooLong,
            ),
            (
                format!(r#"{{{ok},"classType":"M1.0","flrID":7}}"#),
                RejectCode::WrongType,
            ),
            ("17".into(), RejectCode::NotAnObject),
        ];
        for (record, code) in cases {
            let parsed = parse_donki_flares(format!("[{record}]").as_bytes()).unwrap();
            assert!(parsed.records.is_empty(), "{record}");
            assert_eq!(parsed.rejected[0].reason.code, code, "{record}");
        }
    }
}
