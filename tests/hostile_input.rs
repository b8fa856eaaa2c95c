//! Hostile input, from the parsers to the dead-letter stream.
//!
//! - The wire decoders (`Observation::decode`, `VectorMessage::decode`) never panic on any
//!   bytes or any JSON, and fail with a code from a fixed set (proptest, bounded case counts).
//! - The listed hostile payloads (oversized, 100k-deep nesting, invalid UTF-8, 1e400,
//!   2^64, NaN/Infinity literals and strings, impossible timestamps) give a precise
//!   `PayloadError` or per-record reject code, the good records of the same payload still
//!   parse, and the oversized and deep cases stay within a stated peak-RSS growth (measured in
//!   a child process so parallel tests do not blur the number).
//! - End to end: valid and hostile messages published straight to `flare.obs.*` with a writer
//!   process running: every valid record is stored, every hostile one is on `flare.dlq.*` with
//!   its exact payload and a code and reason header, and the writer keeps storing afterwards.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use flare_plus::bus::vectors::VectorMessage;
use flare_plus::bus::ObservationWire;
use flare_plus::domain::Observation;
use flare_plus::domain::{
    FlareCategory, FlareEvent, FlareSource, RegionObservation, XrayFeed, XrayObservation,
};
use flare_plus::sources::donki::parse_donki_flares;
use flare_plus::sources::swpc_regions::parse_regions;
use flare_plus::sources::swpc_xray::{parse_xrays, parse_xrays_reader};
use flare_plus::sources::{PayloadError, RejectCode, MAX_PAYLOAD_BYTES};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::procs::Stack;

// ---------------------------------------------------------------------------------------
// Decoders: no panic, bounded error codes

/// The codes `DecodeError::code` may return (they label metrics and dead-letter headers).
const DECODE_CODES: &[&str] = &["invalid_record", "unknown_version"];

fn check_decoders(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Observation::decode(bytes) {
        Ok(obs) => {
            // Whatever decodes re-encodes to the same observation: nothing half-read.
            let again = Observation::decode(&obs.encode());
            prop_assert_eq!(again.ok(), Some(obs));
        }
        Err(e) => {
            prop_assert!(DECODE_CODES.contains(&e.code()), "code {}", e.code());
            prop_assert!(!e.to_string().is_empty());
        }
    }
    if let Err(e) = VectorMessage::decode(bytes) {
        use serde_json::error::Category;
        // Bytes from memory: never an I/O error; always one of the three input categories.
        prop_assert!(
            matches!(
                e.classify(),
                Category::Syntax | Category::Data | Category::Eof
            ),
            "{:?}",
            e.classify()
        );
    }
    Ok(())
}

/// JSON biased towards the wire shapes: the envelope keys, every field name of every kind,
/// and hostile leaves.
fn wire_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("v"),
        Just("kind"),
        Just("data"),
        Just("feed"),
        Just("time"),
        Just("flux_short"),
        Just("flux_long"),
        Just("satellite"),
        Just("timestamp"),
        Just("region_number"),
        Just("source_order"),
        Just("source"),
        Just("start_time"),
        Just("peak_time"),
        Just("flare_class"),
        Just("class_category"),
        Just("class_magnitude"),
        Just("verified"),
        Just("until"),
        Just("end_of_input"),
        Just("series"),
        Just("tick"),
        Just("status"),
        Just("profile"),
        Just("features"),
    ]
    .prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![Just(1), Just(0), Just(2), Just(u32::MAX as i64 + 1)].prop_map(Value::from),
        prop_oneof![
            Just("xrs"),
            Just("region"),
            Just("flare"),
            Just("progress"),
            Just("primary"),
            Just("nasa_donki"),
            Just("detected"),
            Just("M"),
            Just("final"),
            Just("global"),
            Just("2024-05-01T00:00:00Z"),
            Just("99999-01-01T00:00:00Z"),
            Just("2024-13-40T25:61:00Z"),
            Just("NaN"),
            Just("-Infinity"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
        ".{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..9)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn xray(minute: u32, flux: f64) -> Observation {
    Observation::Xray(XrayObservation {
        feed: XrayFeed::Primary,
        time: Utc.with_ymd_and_hms(2024, 5, 1, 0, minute, 0).unwrap(),
        satellite: Some(16),
        flux_short: Some(flux / 10.0),
        flux_long: Some(flux),
        electron_contamination_short: Some(false),
        electron_contamination_long: None,
    })
}

fn region(number: i32) -> Observation {
    Observation::Region(RegionObservation {
        timestamp: t("2024-05-01T00:00:00Z"),
        region_number: number,
        latitude: Some(-12.5),
        longitude: Some(40.0),
        mcintosh_class: Some("Dkc".into()),
        mount_wilson_class: Some("BG".into()),
        area: Some(250),
        num_sunspots: Some(12),
        source_order: 0,
    })
}

fn donki(id: &str, class: &str, hour: u32) -> Observation {
    let start = Utc.with_ymd_and_hms(2024, 5, 1, hour, 0, 0).unwrap();
    Observation::Flare(FlareEvent {
        source: FlareSource::Donki,
        external_id: Some(id.into()),
        start_time: start,
        peak_time: start + chrono::Duration::minutes(10),
        end_time: Some(start + chrono::Duration::minutes(30)),
        flare_class: class.into(),
        class_category: FlareCategory::M,
        class_magnitude: 1.5,
        active_region: Some(13664),
        location: Some("S18W40".into()),
        verified: true,
    })
}

/// A valid DONKI flare whose text fields are SQL: with string-built SQL it would break the
/// statement or delete rows; with bound parameters it is just text.
fn injection_flare() -> FlareEvent {
    let Observation::Flare(mut f) = donki("x", "M1.5", 1) else {
        unreachable!()
    };
    f.external_id = Some("F-ok'); DELETE FROM flare_events; --".into());
    f.location = Some("x');DROP TABLE t;--".into());
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decoders_survive_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_decoders(&bytes)?;
    }

    #[test]
    fn decoders_survive_arbitrary_json(value in wire_json()) {
        check_decoders(value.to_string().as_bytes())?;
        // The same value inside a valid envelope, where the decoder goes deepest.
        for kind in ["xrs", "region", "flare", "progress"] {
            let wrapped = json!({"v": 1, "kind": kind, "data": value});
            check_decoders(wrapped.to_string().as_bytes())?;
        }
    }

    /// Valid encodings with bytes overwritten and the end cut off.
    #[test]
    fn decoders_survive_damaged_valid_messages(
        which in 0usize..3,
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = [xray(1, 1e-6), region(13664), donki("F1", "M1.5", 1)][which].encode();
        for (at, b) in damage {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        check_decoders(&bytes)?;
        check_decoders(&bytes[..cut.index(bytes.len() + 1)])?;
    }
}

#[test]
fn decoder_hostile_cases_have_exact_codes() {
    let deep = |open: &str, close: &str| {
        format!(
            r#"{{"v":1,"kind":"xrs","data":{}0{}}}"#,
            open.repeat(100_000),
            close.repeat(100_000)
        )
    };
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (
            "deep arrays".into(),
            deep("[", "]").into_bytes(),
            "invalid_record",
        ),
        (
            "deep arrays before v".into(),
            format!(
                r#"{{"x":{}0{},"v":1}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
            .into_bytes(),
            "invalid_record",
        ),
        (
            "deep objects".into(),
            deep(r#"{"a":"#, "}").into_bytes(),
            "invalid_record",
        ),
        (
            "v = 1e400".into(),
            br#"{"v":1e400}"#.to_vec(),
            "invalid_record",
        ),
        (
            "v = 2^64".into(),
            br#"{"v":18446744073709551616}"#.to_vec(),
            "invalid_record",
        ),
        ("v = -1".into(), br#"{"v":-1}"#.to_vec(), "invalid_record"),
        (
            "v = NaN literal".into(),
            br#"{"v":NaN}"#.to_vec(),
            "invalid_record",
        ),
        (
            "not UTF-8".into(),
            b"{\"v\":1,\"kind\":\"\xff\"}".to_vec(),
            "invalid_record",
        ),
        (
            "v = 2".into(),
            br#"{"v":2,"kind":"xrs","data":{}}"#.to_vec(),
            "unknown_version",
        ),
    ];
    let mut fields = serde_json::to_value(xray(1, 1e-6)).unwrap();
    let hostile_fields: [(&str, &str, Value); 6] = [
        ("flux 1e400", "flux_long", Value::Null),
        ("flux \"NaN\"", "flux_long", json!("NaN")),
        ("flux \"Infinity\"", "flux_short", json!("Infinity")),
        ("year 99999", "time", json!("99999-05-01T00:00:00Z")),
        ("month 13", "time", json!("2024-13-40T25:61:00Z")),
        (
            "satellite 2^64",
            "satellite",
            json!(18446744073709551615u64),
        ),
    ];
    let mut cases = cases;
    for (what, field, value) in hostile_fields {
        let data = fields.get_mut("data").unwrap();
        let saved = data[field].clone();
        data[field] = value;
        let mut text = json!({"v": 1, "kind": "xrs", "data": data}).to_string();
        if what == "flux 1e400" {
            text = text.replace("\"flux_long\":null", "\"flux_long\":1e400");
        }
        cases.push((what.to_string(), text.into_bytes(), "invalid_record"));
        fields.get_mut("data").unwrap()[field] = saved;
    }
    for (what, bytes, code) in cases {
        let err = Observation::decode(&bytes).expect_err(&what);
        assert_eq!(err.code(), code, "{what}: {err}");
    }
    // Sanity: the untouched record decodes, so the cases above fail for their one change.
    let good = json!({"v": 1, "kind": "xrs", "data": fields["data"]}).to_string();
    assert_eq!(Observation::decode(good.as_bytes()).unwrap(), xray(1, 1e-6));
    let err = Observation::decode(br#"{"v":2}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "schema version 2 is not supported (this build reads 1)"
    );
    assert!(VectorMessage::decode(deep("[", "]").as_bytes()).is_err());
}

// ---------------------------------------------------------------------------------------
// Parsers: hostile payloads

const DEEP: usize = 100_000;

fn deep_array() -> String {
    format!("{}1{}", "[".repeat(DEEP), "]".repeat(DEEP))
}

fn deep_object() -> String {
    format!("{}1{}", r#"{"a":"#.repeat(DEEP), "}".repeat(DEEP))
}

fn codes(rejected: &[flare_plus::sources::Rejected]) -> Vec<RejectCode> {
    rejected.iter().map(|r| r.reason.code).collect()
}

#[test]
fn xray_payload_with_hostile_records_keeps_the_good_ones() {
    let band = |time: &str, energy: &str, flux: &str| {
        format!(r#"{{"time_tag":"{time}","satellite":16,"energy":"{energy}","flux":{flux}}}"#)
    };
    let (t0, t1, t2) = (
        "2024-05-01T00:00:00Z",
        "2024-05-01T00:01:00Z",
        "2024-05-01T00:02:00Z",
    );
    let long = "0.1-0.8nm";
    let elements = [
        band(t0, "0.05-0.4nm", "2e-8"),
        band(t0, long, "3e-7"),
        band(t1, long, "1e400"),
        band(t1, long, "-1e400"),
        band(t1, long, "18446744073709551616"),
        band(t1, long, "\"NaN\""),
        band(t1, long, "\"Infinity\""),
        band(t1, long, "\"-Infinity\""),
        band("99999-05-01T00:00:00Z", long, "1e-6"),
        band("2024-13-40T25:61:00Z", long, "1e-6"),
        band("2024-02-30T00:00:00Z", long, "1e-6"),
        band(t1, long, &deep_object()),
        deep_array(),
        format!(
            r#"{{"time_tag":"{t1}","satellite":18446744073709551616,"energy":"{long}","flux":1e-6}}"#
        ),
        format!(r#"{{"time_tag":"\ud800","energy":"{long}","flux":1e-6}}"#),
        band(t2, long, "4e-6"),
    ];
    let payload = format!("[{}]", elements.join(","));
    for parsed in [
        parse_xrays(payload.as_bytes(), XrayFeed::Primary).unwrap(),
        parse_xrays_reader(payload.as_bytes(), XrayFeed::Primary).unwrap(),
    ] {
        let got: Vec<(DateTime<Utc>, Option<f64>, Option<f64>)> = parsed
            .records
            .iter()
            .map(|o| (o.time, o.flux_short, o.flux_long))
            .collect();
        assert_eq!(
            got,
            vec![(t(t0), Some(2e-8), Some(3e-7)), (t(t2), None, Some(4e-6)),]
        );
        use RejectCode::*;
        assert_eq!(
            codes(&parsed.rejected),
            vec![
                NotFinite,
                NotFinite,
                OutOfRange,
                NotFinite,
                NotFinite,
                NotFinite,
                BadTime,
                BadTime,
                BadTime,
                WrongType,
                NotAnObject,
                OutOfRange,
                // A lone surrogate escape is not a string at all.
                WrongType
            ]
        );
        // Each reject carries its element's exact text, for replay from the dead letter.
        assert_eq!(parsed.rejected[0].raw, elements[2]);
        assert_eq!(parsed.rejected[10].raw.len(), deep_array().len());
    }
}

#[test]
fn region_payload_with_hostile_records_keeps_the_good_ones() {
    let rec =
        |date: &str, extra: &str| format!(r#"{{"observed_date":"{date}","region":13664{extra}}}"#);
    let day = "2024-05-30";
    let elements = [
        rec(day, r#","latitude":-12.5,"area":250"#),
        rec("99999-01-01", ""),
        rec("2024-13-40", ""),
        format!(r#"{{"observed_date":"{day}","region":18446744073709551616}}"#),
        rec(day, r#","latitude":1e400"#),
        rec(day, r#","longitude":"NaN""#),
        rec(day, r#","area":-1e400"#),
        rec(day, r#","number_spots":"Infinity""#),
        rec(day, &format!(r#","longitude":{}"#, deep_array())),
        format!(r#"{{"observed_date":"{day}","region":13665,"latitude":10}}"#),
    ];
    let parsed = parse_regions(format!("[{}]", elements.join(",")).as_bytes()).unwrap();
    let got: Vec<(i32, u32)> = parsed
        .records
        .iter()
        .map(|r| (r.region_number, r.source_order))
        .collect();
    assert_eq!(got, vec![(13664, 0), (13665, 9)]);
    use RejectCode::*;
    assert_eq!(
        codes(&parsed.rejected),
        vec![BadTime, BadTime, OutOfRange, NotFinite, NotFinite, NotFinite, NotFinite, WrongType]
    );
}

#[test]
fn donki_payload_with_hostile_records_keeps_the_good_ones() {
    let rec = |id: &str, begin: &str, class: &str, extra: &str| {
        format!(
            r#"{{"flrID":"{id}","beginTime":"{begin}","peakTime":"2024-05-01T00:10Z","classType":"{class}"{extra}}}"#
        )
    };
    let begin = "2024-05-01T00:00Z";
    let elements = [
        rec("F1", begin, "M1.5", ""),
        rec("F2", "99999-05-01T00:00Z", "M1.5", ""),
        rec("F3", "2024-13-40T25:61:00Z", "M1.5", ""),
        rec("F4", begin, "MNaN", ""),
        rec("F5", begin, "Xinf", ""),
        rec("F6", begin, "M1e400", ""),
        rec(
            "F7",
            begin,
            "M1.5",
            r#","activeRegionNum":18446744073709551616"#,
        ),
        rec("F8", begin, "M1.5", r#","activeRegionNum":"NaN""#),
        rec(
            "F9",
            begin,
            "M1.5",
            &format!(r#","sourceLocation":{}"#, deep_object()),
        ),
        rec("F10", begin, "X2.0", r#","activeRegionNum":13664"#),
    ];
    let parsed = parse_donki_flares(format!("[{}]", elements.join(",")).as_bytes()).unwrap();
    let got: Vec<(Option<&str>, &str, Option<i32>)> = parsed
        .records
        .iter()
        .map(|f| {
            (
                f.external_id.as_deref(),
                f.flare_class.as_str(),
                f.active_region,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("F1"), "M1.5", None),
            (Some("F10"), "X2.0", Some(13664))
        ]
    );
    use RejectCode::*;
    assert_eq!(
        codes(&parsed.rejected),
        vec![BadTime, BadTime, BadClass, BadClass, BadClass, OutOfRange, NotFinite, WrongType]
    );
}

/// Whole-payload failures: every parser (and the reader form) gives the same clear error.
#[test]
fn hostile_payloads_fail_as_a_whole_with_a_precise_error() {
    type Parse = fn(&[u8]) -> Result<usize, PayloadError>;
    let parsers: [(&str, Parse); 4] = [
        ("xrays", |b| {
            parse_xrays(b, XrayFeed::Primary).map(|p| p.records.len())
        }),
        ("xrays reader", |b| {
            parse_xrays_reader(b, XrayFeed::Primary).map(|p| p.records.len())
        }),
        ("regions", |b| parse_regions(b).map(|p| p.records.len())),
        ("donki", |b| parse_donki_flares(b).map(|p| p.records.len())),
    ];
    let not_json = |e: &PayloadError| matches!(e, PayloadError::NotJson { .. });
    let truncated = |e: &PayloadError| matches!(e, PayloadError::Truncated { .. });
    type Expect = fn(&PayloadError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("NaN literal", br#"[{"flux":NaN}]"#.to_vec(), not_json),
        (
            "Infinity literal",
            br#"[{"flux":Infinity}]"#.to_vec(),
            not_json,
        ),
        ("-Infinity literal", br#"[-Infinity]"#.to_vec(), not_json),
        (
            "unclosed 100k-deep",
            "[".repeat(DEEP).into_bytes(),
            truncated,
        ),
        ("empty", Vec::new(), truncated),
    ];
    for (what, bytes, expected) in &cases {
        for (parser, parse) in &parsers {
            let err = parse(bytes).expect_err(&format!("{parser}: {what}"));
            assert!(expected(&err), "{parser}: {what}: {err:?}");
        }
    }
    let invalid_utf8 = b"[{\"time_tag\":\"\xff\xfe\"}]";
    for (parser, parse) in &parsers {
        let err = parse(invalid_utf8).unwrap_err();
        if *parser == "xrays reader" {
            // The reader never holds the text as one string: serde_json reports it.
            assert!(not_json(&err), "{err:?}");
        } else {
            assert_eq!(err, PayloadError::NotUtf8 { offset: 14 }, "{parser}");
            assert_eq!(
                err.to_string(),
                "payload is not valid UTF-8 (first bad byte at offset 14)"
            );
        }
    }
    // A 100k-deep array as the one element: that element is rejected, nothing else happens.
    for (parser, parse) in &parsers {
        assert_eq!(parse(deep_array().as_bytes()), Ok(0), "{parser}");
    }
}

// ---------------------------------------------------------------------------------------
// Memory: measured in a child process

/// Peak-RSS growth bounds (bytes), far below the input sizes they guard: a copy of the
/// 64 MiB oversized input, or a tree of the deep input, would break them.
const OVERSIZED_SLICE_BOUND: u64 = 4 << 20;
const OVERSIZED_READER_BOUND: u64 = 16 << 20;
const DEEP_BOUND: u64 = 16 << 20;

fn vm_hwm_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb * 1024
}

/// Resets the peak to the current RSS (Linux `clear_refs` value 5).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM via /proc/self/clear_refs");
}

/// An endless JSON array of ~1 MiB X-ray records (each valid, with a big ignored field):
/// what a hostile or broken upstream streaming forever looks like.
struct Endless {
    pending: Vec<u8>,
    at: usize,
    n: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            let minute = self.n % 60;
            let hour = self.n / 60 % 24;
            self.pending = format!(
                r#"{}{{"time_tag":"2024-05-01T{hour:02}:{minute:02}:00Z","energy":"0.1-0.8nm","flux":1e-6,"pad":"{}"}}"#,
                if self.n == 0 { "[" } else { "," },
                "a".repeat(1 << 20)
            )
            .into_bytes();
            self.at = 0;
            self.n += 1;
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The body of the child process: one case, its peak growth printed for the parent.
fn memory_case(case: &str) -> u64 {
    match case {
        "oversized-slice" => {
            // Touch every page now, so reading the input later is not counted as growth.
            let mut big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
            big[0] = b'[';
            big[MAX_PAYLOAD_BYTES] = b']';
            reset_peak();
            let before = vm_hwm_bytes();
            let too_large = PayloadError::TooLarge {
                limit: MAX_PAYLOAD_BYTES,
                actual: MAX_PAYLOAD_BYTES + 1,
            };
            assert_eq!(parse_xrays(&big, XrayFeed::Primary).unwrap_err(), too_large);
            assert_eq!(parse_regions(&big).unwrap_err(), too_large);
            assert_eq!(parse_donki_flares(&big).unwrap_err(), too_large);
            vm_hwm_bytes() - before
        }
        "oversized-reader" => {
            reset_peak();
            let before = vm_hwm_bytes();
            let endless = Endless {
                pending: Vec::new(),
                at: 0,
                n: 0,
            };
            match parse_xrays_reader(endless, XrayFeed::Primary) {
                Err(PayloadError::TooLarge { limit, actual }) => {
                    assert_eq!(limit, MAX_PAYLOAD_BYTES);
                    assert!(actual > limit && actual <= limit + 128 * 1024, "{actual}");
                }
                other => panic!("expected TooLarge, got {other:?}"),
            }
            vm_hwm_bytes() - before
        }
        "deep" => {
            let payloads = [
                deep_array(),
                format!("[{}]", deep_object()),
                format!(r#"[{{"time_tag":{}}}]"#, deep_array()),
            ];
            let envelope = format!(r#"{{"v":1,"kind":"region","data":{}}}"#, deep_object());
            reset_peak();
            let before = vm_hwm_bytes();
            for p in &payloads {
                let bytes = p.as_bytes();
                assert!(parse_xrays(bytes, XrayFeed::Primary).is_ok());
                assert!(parse_xrays_reader(bytes, XrayFeed::Primary).is_ok());
                assert!(parse_regions(bytes).is_ok());
                assert!(parse_donki_flares(bytes).is_ok());
            }
            assert_eq!(
                Observation::decode(envelope.as_bytes()).unwrap_err().code(),
                "invalid_record"
            );
            assert!(VectorMessage::decode(envelope.as_bytes()).is_err());
            vm_hwm_bytes() - before
        }
        other => panic!("unknown memory case {other}"),
    }
}

const PROBE_ENV: &str = "FLARE_TEST_MEMORY_CASE";

/// Runs in the child only (the parent's run of it returns at once).
#[test]
fn memory_probe() {
    if let Ok(case) = std::env::var(PROBE_ENV) {
        println!("peak_growth_bytes={}", memory_case(&case));
    }
}

fn peak_growth_in_child(case: &str) -> u64 {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["memory_probe", "--exact", "--nocapture", "--test-threads=1"])
        .env(PROBE_ENV, case)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{case}: the child failed ({:?}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.split_once("peak_growth_bytes=").map(|(_, v)| v))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{case}: no measurement in:\n{stdout}"))
}

#[test]
fn oversized_and_deep_payloads_stay_within_memory_bounds() {
    for (case, bound) in [
        ("oversized-slice", OVERSIZED_SLICE_BOUND),
        ("oversized-reader", OVERSIZED_READER_BOUND),
        ("deep", DEEP_BOUND),
    ] {
        let growth = peak_growth_in_child(case);
        assert!(
            growth < bound,
            "{case}: peak RSS grew by {growth} bytes, bound {bound}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// End to end: NATS + writer process

struct Published {
    subject: &'static str,
    payload: Vec<u8>,
    /// Expected `Flare-Dlq-Code`, None for a valid record.
    dlq_code: Option<&'static str>,
}

fn valid(obs: Observation) -> Published {
    Published {
        subject: obs.subject(),
        payload: obs.encode(),
        dlq_code: None,
    }
}

fn hostile(subject: &'static str, payload: Vec<u8>, code: &'static str) -> Published {
    Published {
        subject,
        payload,
        dlq_code: Some(code),
    }
}

async fn publish_all(js: &async_nats::jetstream::Context, messages: &[Published]) {
    for m in messages {
        let mut headers = async_nats::HeaderMap::new();
        if m.dlq_code.is_none() {
            let obs = Observation::decode(&m.payload).unwrap();
            headers.insert("Nats-Msg-Id", obs.natural_key().as_str());
        }
        js.publish_with_headers(m.subject, headers, m.payload.clone().into())
            .await
            .expect("publish")
            .await
            .expect("OBS stored the message");
    }
}

/// Every message on the DLQ stream: (subject, payload, headers).
async fn dead_letters(
    js: &async_nats::jetstream::Context,
) -> Vec<(String, Vec<u8>, async_nats::HeaderMap)> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    use futures_util::StreamExt;
    let mut stream = js.get_stream("DLQ").await.expect("DLQ stream");
    let total = stream.info().await.expect("info").state.messages;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("reader");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    for _ in 0..total {
        let m = messages.next().await.expect("a message").expect("ok");
        out.push((
            m.subject.to_string(),
            m.payload.to_vec(),
            m.headers.clone().unwrap_or_default(),
        ));
    }
    out
}

async fn writer_caught_up(js: &async_nats::jetstream::Context) -> bool {
    use async_nats::jetstream::consumer::pull::Config;
    let obs = js.get_stream("OBS").await.unwrap();
    let mut c = obs.get_consumer::<Config>("writer").await.unwrap();
    let info = c.info().await.unwrap();
    info.num_pending == 0 && info.num_ack_pending == 0
}

#[test]
fn hostile_messages_go_to_the_dlq_and_valid_ones_are_stored() {
    let stack = Stack::start(None, &[]);
    let (rt, js, env) = (&stack.rt, &stack.js, &stack.env);
    let mut writer = env.spawn("writer", &["run", "--role", "writer"]);
    writer.wait_ready(Duration::from_secs(60));

    let envelope = |kind: &str, data: String| format!(r#"{{"v":1,"kind":"{kind}","data":{data}}}"#);
    let xray_data = serde_json::to_value(xray(9, 1e-6)).unwrap()["data"].to_string();
    let mut garbage: Vec<u8> = (0..200_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    garbage[0] = 0xff;
    let first: Vec<Published> = vec![
        valid(xray(1, 1e-6)),
        hostile("flare.obs.xrs", garbage, "invalid_record"),
        valid(region(13664)),
        hostile(
            "flare.obs.xrs",
            br#"{"v":2,"kind":"xrs","data":{}}"#.to_vec(),
            "unknown_version",
        ),
        valid(xray(2, 2e-6)),
        hostile(
            "flare.obs.region",
            envelope("region", deep_array()).into_bytes(),
            "invalid_record",
        ),
        hostile(
            "flare.obs.xrs",
            envelope(
                "xrs",
                xray_data
                    .replace("1e-6", "1e400")
                    .replace("0.000001", "1e400"),
            )
            .into_bytes(),
            "invalid_record",
        ),
        hostile(
            "flare.obs.xrs",
            envelope(
                "xrs",
                xray_data.replace("2024-05-01T00:09:00Z", "99999-05-01T00:09:00Z"),
            )
            .into_bytes(),
            "invalid_record",
        ),
        hostile(
            "flare.obs.xrs",
            envelope(
                "xrs",
                xray_data.replace("2024-05-01T00:09:00Z", "2024-13-40T25:61:00Z"),
            )
            .into_bytes(),
            "invalid_record",
        ),
        hostile(
            "flare.obs.flare",
            b"[NaN, Infinity]".to_vec(),
            "invalid_record",
        ),
        // An unknown kind 300 kB long: its error text must not flood the log.
        hostile(
            "flare.obs.xrs",
            format!(r#"{{"v":1,"kind":"{}","data":{{}}}}"#, "K".repeat(300_000)).into_bytes(),
            "invalid_record",
        ),
        // Decodes fine; the flare_events column holds 5 characters, so the store refuses it.
        hostile(
            "flare.obs.flare",
            donki("F-long", "M1.0000", 2).encode(),
            "constraint_violation",
        ),
        // Valid, with SQL in its text fields: stored verbatim (bound, never interpolated).
        valid(Observation::Flare(injection_flare())),
        valid(xray(3, 3e-6)),
    ];
    let wait = |what: &str, done: &dyn Fn() -> bool, writer: &mut support::procs::Proc| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(
                Instant::now() < deadline && writer.child.is_running(),
                "{what}:\n{}",
                writer.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    rt.block_on(publish_all(js, &first));
    let hostile_count = first.iter().filter(|m| m.dlq_code.is_some()).count();
    wait(
        "the writer to take every message",
        &|| rt.block_on(writer_caught_up(js)),
        &mut writer,
    );

    // The DLQ holds each hostile message once, byte for byte, with code and reason.
    let dlq = rt.block_on(dead_letters(js));
    assert_eq!(dlq.len(), hostile_count, "dead letters");
    let expected: Vec<&Published> = first.iter().filter(|m| m.dlq_code.is_some()).collect();
    for (m, (subject, payload, headers)) in expected.iter().zip(&dlq) {
        let code = m.dlq_code.unwrap();
        assert_eq!(
            subject,
            &m.subject.replace("flare.obs.", "flare.dlq."),
            "{code}"
        );
        assert!(payload == &m.payload, "{code}: payload differs");
        assert_eq!(
            headers.get("Flare-Dlq-Code").map(|v| v.as_str()),
            Some(code)
        );
        assert_eq!(
            headers.get("Flare-Dlq-Subject").map(|v| v.as_str()),
            Some(m.subject)
        );
        let reason = headers
            .get("Flare-Dlq-Reason")
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        assert!(
            !reason.is_empty() && reason.len() <= 512,
            "{code}: reason {reason:?}"
        );
    }

    // The writer keeps going: a later batch is stored too.
    let later = vec![valid(xray(4, 4e-6)), valid(xray(5, 5e-6))];
    rt.block_on(publish_all(js, &later));
    wait(
        "the later batch",
        &|| rt.block_on(writer_caught_up(js)),
        &mut writer,
    );
    assert_eq!(
        support::procs::http_get(writer.port(), "/readyz").map(|(s, _)| s),
        Some(200)
    );

    // Storage holds exactly the valid records.
    let store = rt
        .block_on(flare_plus::store::Store::connect(
            &flare_plus::store::StoreConfig::for_url(&env.database_url),
        ))
        .unwrap();
    let (from, to) = (t("2024-04-01T00:00:00Z"), t("2024-06-01T00:00:00Z"));
    let flux = rt
        .block_on(store.read_flux(XrayFeed::Primary, from, to))
        .unwrap();
    let expected_flux: Vec<Observation> = first
        .iter()
        .chain(&later)
        .filter(|m| m.dlq_code.is_none())
        .map(|m| Observation::decode(&m.payload).unwrap())
        .filter(|o| matches!(o, Observation::Xray(_)))
        .collect();
    assert_eq!(expected_flux.len(), 5);
    assert_eq!(
        flux.into_iter().map(Observation::Xray).collect::<Vec<_>>(),
        expected_flux
    );
    let regions = rt.block_on(store.read_regions(from, to)).unwrap();
    assert_eq!(
        regions
            .into_iter()
            .map(Observation::Region)
            .collect::<Vec<_>>(),
        vec![region(13664)]
    );
    let flares = rt.block_on(store.read_flare_events(from, to)).unwrap();
    // (flare_events leaves DONKI's location empty, as flare-plus did: the id carries it.)
    let stored: Vec<(Option<&str>, &str)> = flares
        .iter()
        .map(|f| (f.external_id.as_deref(), f.flare_class.as_str()))
        .collect();
    assert_eq!(
        stored,
        vec![(injection_flare().external_id.as_deref(), "M1.5")],
        "only the valid flare, its SQL-looking id stored verbatim"
    );

    // The writer's counters agree.
    let metrics = writer.metrics();
    let stored = support::procs::metric(&metrics, "pipeline_records_stored_total");
    assert_eq!(stored, Some(7.0), "5 flux, 1 region, 1 flare: {metrics}");
    let dead = support::procs::metric_sum(&metrics, "pipeline_records_dead_lettered_total", "");
    assert_eq!(dead, hostile_count as f64);
    assert_eq!(writer.terminate(), Some(0), "{}", writer.log_text());
}

/// A hostile message must not turn into a log flood: the dead-letter log line carries a
/// bounded excerpt of the decode error (serde_json quotes an unknown `kind` verbatim; before
/// the bound, one 300 kB message wrote ~600 kB of log).
#[test]
fn a_hostile_message_does_not_flood_the_writer_log() {
    let stack = Stack::start(None, &[]);
    let (rt, js, env) = (&stack.rt, &stack.js, &stack.env);
    let mut writer = env.spawn("writer", &["run", "--role", "writer"]);
    writer.wait_ready(Duration::from_secs(60));
    let kind = "K".repeat(300_000);
    let message = hostile(
        "flare.obs.xrs",
        format!(r#"{{"v":1,"kind":"{kind}","data":{{}}}}"#).into_bytes(),
        "invalid_record",
    );
    rt.block_on(publish_all(js, &[message]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rt.block_on(writer_caught_up(js)) {
        assert!(Instant::now() < deadline, "{}", writer.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(writer.terminate(), Some(0));
    let log_bytes = writer.log_text().len();
    assert!(
        log_bytes < 64 * 1024,
        "the writer logged {log_bytes} bytes for one hostile message"
    );
}

/// A batch message (as ingest publishes them) holding records that cannot be used: the
/// undecodable one and the one the store refuses go to the DLQ on their own, each once, with
/// their position in the batch; the rest of the batch is stored and the message acked.
#[test]
fn a_batch_with_bad_records_dead_letters_only_those_records() {
    let stack = Stack::start(None, &[]);
    let (rt, js, env) = (&stack.rt, &stack.js, &stack.env);
    // Both OBS consumers: each dead-letters the undecodable record, the DLQ keeps one.
    let mut writer = env.spawn("writer", &["run", "--role", "writer"]);
    writer.wait_ready(Duration::from_secs(60));
    let mut features = env.spawn("features", &["run", "--role", "features"]);
    features.wait_ready(Duration::from_secs(60));
    let record = |o: &Observation| String::from_utf8(o.encode_record()).unwrap();
    let undecodable = r#"{"kind":"xrs","data":{"feed":"primary"}}"#;
    let refused = record(&donki("F-long", "M1.0000", 2));
    let records = [
        record(&xray(10, 1e-6)),
        undecodable.to_string(),
        record(&xray(11, 2e-6)),
        refused.clone(),
        record(&region(13664)),
    ];
    let payload = format!(r#"{{"v":1,"batch":[{}]}}"#, records.join(","));
    rt.block_on(async {
        js.publish("flare.obs.xrs", payload.into_bytes().into())
            .await
            .expect("publish")
            .await
            .expect("OBS stored the batch")
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rt.block_on(writer_caught_up(js)) || rt.block_on(dead_letters(js)).len() < 2 {
        assert!(Instant::now() < deadline, "{}", writer.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }

    let dlq = rt.block_on(dead_letters(js));
    let mut letters: Vec<(String, String, String, String)> = dlq
        .iter()
        .map(|(subject, payload, h)| {
            let header = |name: &str| {
                h.get(name)
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default()
            };
            (
                header("Flare-Dlq-Record-Index"),
                header("Flare-Dlq-Code"),
                subject.clone(),
                String::from_utf8_lossy(payload).into_owned(),
            )
        })
        .collect();
    letters.sort();
    assert_eq!(
        letters,
        vec![
            (
                "1".to_string(),
                "invalid_record".to_string(),
                "flare.dlq.xrs".to_string(),
                undecodable.to_string()
            ),
            (
                "3".to_string(),
                "constraint_violation".to_string(),
                "flare.dlq.xrs".to_string(),
                refused
            ),
        ],
        "each bad record once, with its position"
    );
    let store = rt
        .block_on(flare_plus::store::Store::connect(
            &flare_plus::store::StoreConfig::for_url(&env.database_url),
        ))
        .unwrap();
    let (from, to) = (t("2024-04-01T00:00:00Z"), t("2024-06-01T00:00:00Z"));
    let flux = rt
        .block_on(store.read_flux(XrayFeed::Primary, from, to))
        .unwrap();
    assert_eq!(
        flux.into_iter().map(Observation::Xray).collect::<Vec<_>>(),
        vec![xray(10, 1e-6), xray(11, 2e-6)]
    );
    let regions = rt.block_on(store.read_regions(from, to)).unwrap();
    assert_eq!(regions.len(), 1);
    let metrics = writer.metrics();
    let count = |name: &str| support::procs::metric_sum(&metrics, name, "");
    assert_eq!(count("pipeline_records_received_total"), 5.0);
    assert_eq!(count("pipeline_records_stored_total"), 3.0);
    assert_eq!(count("pipeline_records_dead_lettered_total"), 2.0);
    assert_eq!(
        support::procs::metric(
            &metrics,
            "actor_messages_total{actor=\"writer\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "the batch message itself was acked"
    );
    assert_eq!(writer.terminate(), Some(0), "{}", writer.log_text());
    assert_eq!(features.terminate(), Some(0), "{}", features.log_text());
}
