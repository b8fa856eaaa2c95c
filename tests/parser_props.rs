//! Property tests of the three parsers: no panic on any input, and one bad record among
//! good ones costs exactly that record, with the right reject code.

use proptest::prelude::*;
use serde_json::{json, Value};

use flare_plus::domain::XrayFeed;
use flare_plus::sources::donki::parse_donki_flares;
use flare_plus::sources::swpc_regions::parse_regions;
use flare_plus::sources::swpc_xray::{parse_xrays, parse_xrays_reader};
use flare_plus::sources::RejectCode;

/// Any JSON value, biased towards the field names and shapes the parsers look at.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("time_tag".to_owned()),
        Just("flux".to_owned()),
        Just("energy".to_owned()),
        Just("satellite".to_owned()),
        Just("electron_contaminaton".to_owned()),
        Just("A_FLUX".to_owned()),
        Just("observed_date".to_owned()),
        Just("region".to_owned()),
        Just("area".to_owned()),
        Just("mag_class".to_owned()),
        Just("classType".to_owned()),
        Just("beginTime".to_owned()),
        Just("peakTime".to_owned()),
        Just("activeRegionNum".to_owned()),
        "[a-zA-Z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop_oneof![
            Just("2024-05-01T00:00:00Z".to_owned()),
            Just("0.1-0.8nm".to_owned()),
            Just("0.05-0.4nm".to_owned()),
            Just("M2.5".to_owned()),
            Just("NaN".to_owned()),
            Just("Infinity".to_owned()),
            Just("2024-01-01T12:00Z".to_owned()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn parse_all(bytes: &[u8]) {
    let _ = parse_xrays(bytes, XrayFeed::Primary);
    let _ = parse_xrays_reader(bytes, XrayFeed::Secondary);
    let _ = parse_regions(bytes);
    let _ = parse_donki_flares(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        parse_all(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        parse_all(value.to_string().as_bytes());
        parse_all(Value::Array(vec![value]).to_string().as_bytes());
    }

    /// Valid payloads with a few bytes flipped or cut.
    #[test]
    fn damaged_payloads_never_panic(
        records in prop::collection::vec(json_value(), 0..5),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = Value::Array(records).to_string().into_bytes();
        for (at, b) in damage {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        parse_all(&bytes);
        let end = cut.index(bytes.len() + 1);
        parse_all(&bytes[..end]);
    }
}

fn minute(i: usize) -> String {
    format!(
        "2024-05-{:02}T{:02}:{:02}:00Z",
        1 + i / 1440,
        i / 60 % 24,
        i % 60
    )
}

fn xray_bad(i: usize) -> Vec<(Value, RejectCode)> {
    let t = minute(i);
    vec![
        (
            json!({"time_tag": t, "energy": "0.1-0.8nm", "flux": "NaN"}),
            RejectCode::NotFinite,
        ),
        (
            json!({"time_tag": t, "energy": "0.1-0.8nm", "flux": 1.0}),
            RejectCode::OutOfRange,
        ),
        (
            json!({"time_tag": t, "energy": "1-8A", "flux": 1e-6}),
            RejectCode::UnknownBand,
        ),
        (
            json!({"time_tag": "2024-05-01 25:00", "energy": "0.1-0.8nm", "flux": 1e-6}),
            RejectCode::BadTime,
        ),
        (
            json!({"energy": "0.1-0.8nm", "flux": 1e-6}),
            RejectCode::MissingField,
        ),
        (
            json!({"time_tag": t, "energy": "0.1-0.8nm", "flux": [1e-6]}),
            RejectCode::WrongType,
        ),
        (json!([t]), RejectCode::NotAnObject),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn xray_one_bad_record_costs_one_record(
        fluxes in prop::collection::vec((1e-9f64..1e-3, 1e-9f64..1e-3), 1..30),
        bad in 0usize..7,
        at in any::<prop::sample::Index>(),
    ) {
        let mut records: Vec<Value> = Vec::new();
        for (i, (short, long)) in fluxes.iter().enumerate() {
            records.push(json!({"time_tag": minute(i), "satellite": 16, "flux": short, "energy": "0.05-0.4nm", "electron_contaminaton": false}));
            records.push(json!({"time_tag": minute(i), "satellite": 16, "flux": long, "energy": "0.1-0.8nm", "electron_contaminaton": false}));
        }
        let (bad_record, code) = xray_bad(fluxes.len() + 5).swap_remove(bad);
        let pos = at.index(records.len() + 1);
        records.insert(pos, bad_record.clone());
        let payload = Value::Array(records).to_string();
        let parsed = parse_xrays(payload.as_bytes(), XrayFeed::Primary).unwrap();
        prop_assert_eq!(parsed.records.len(), fluxes.len());
        for (obs, (short, long)) in parsed.records.iter().zip(&fluxes) {
            prop_assert_eq!(obs.flux_short, Some(*short));
            prop_assert_eq!(obs.flux_long, Some(*long));
        }
        prop_assert_eq!(parsed.rejected.len(), 1);
        prop_assert_eq!(parsed.rejected[0].reason.code, code);
        prop_assert_eq!(&parsed.rejected[0].raw, &bad_record.to_string());
    }

    #[test]
    fn regions_one_bad_record_costs_one_record(
        regions in prop::collection::vec((1000i32..99999, -90.0f64..90.0, 0i32..5000), 1..30),
        bad in 0usize..5,
        at in any::<prop::sample::Index>(),
    ) {
        let mut records: Vec<Value> = regions
            .iter()
            .map(|(r, lat, area)| json!({"observed_date": "2024-05-30", "region": r, "latitude": lat, "area": area, "mag_class": "BG"}))
            .collect();
        let (bad_record, code) = [
            (json!({"region": 1}), RejectCode::MissingField),
            (json!({"observed_date": "2024-05-30", "region": null}), RejectCode::MissingField),
            (json!({"observed_date": "2024/05/30", "region": 1}), RejectCode::BadTime),
            (json!({"observed_date": "2024-05-30", "region": 1, "area": 1.5}), RejectCode::WrongType),
            (json!({"observed_date": "2024-05-30", "region": 1, "latitude": 91}), RejectCode::OutOfRange),
        ][bad].clone();
        let pos = at.index(records.len() + 1);
        records.insert(pos, bad_record);
        let parsed = parse_regions(Value::Array(records).to_string().as_bytes()).unwrap();
        prop_assert_eq!(parsed.records.len(), regions.len());
        for (k, r) in parsed.records.iter().enumerate() {
            prop_assert_eq!(r.region_number, regions[k].0);
            prop_assert_eq!(r.source_order as usize, if k < pos { k } else { k + 1 });
        }
        prop_assert_eq!(parsed.rejected.len(), 1);
        prop_assert_eq!(parsed.rejected[0].reason.code, code);
    }

    #[test]
    fn donki_one_bad_record_costs_one_record(
        flares in prop::collection::vec((0usize..4000, 0u8..5, 1u32..99), 1..30),
        bad in 0usize..5,
        at in any::<prop::sample::Index>(),
    ) {
        let mut records: Vec<Value> = flares
            .iter()
            .map(|(m, c, mag)| {
                let class = format!("{}{}.{}", ["A", "B", "C", "M", "X"][*c as usize], mag / 10 + 1, mag % 10);
                json!({"flrID": format!("F{m}"), "beginTime": minute(*m), "peakTime": minute(m + 5), "endTime": null, "classType": class})
            })
            .collect();
        let (bad_record, code) = [
            (json!({"beginTime": minute(1), "peakTime": minute(2)}), RejectCode::MissingField),
            (json!({"beginTime": minute(1), "classType": "M1.0"}), RejectCode::MissingField),
            (json!({"beginTime": minute(1), "peakTime": minute(2), "classType": "X"}), RejectCode::BadClass),
            (json!({"beginTime": minute(1), "peakTime": minute(2), "classType": "M1.0000000000"}), RejectCode::TooLong),
            (json!({"beginTime": "soon", "peakTime": minute(2), "classType": "M1.0"}), RejectCode::BadTime),
        ][bad].clone();
        let pos = at.index(records.len() + 1);
        records.insert(pos, bad_record);
        let parsed = parse_donki_flares(Value::Array(records).to_string().as_bytes()).unwrap();
        prop_assert_eq!(parsed.records.len(), flares.len());
        prop_assert_eq!(parsed.rejected.len(), 1);
        prop_assert_eq!(parsed.rejected[0].reason.code, code);
    }
}

#[test]
fn huge_numbers_and_deep_records_are_rejected_not_fatal() {
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let payload = format!(
        r#"[{{"time_tag":"2024-05-01T00:00:00Z","energy":"0.1-0.8nm","flux":1e999}},
            {{"time_tag":"2024-05-01T00:01:00Z","energy":"0.1-0.8nm","flux":{deep}}},
            {deep},
            {{"time_tag":"2024-05-01T00:02:00Z","energy":"0.1-0.8nm","flux":123456789012345678901234567890}},
            {{"time_tag":"99999-05-01T00:03:00Z","energy":"0.1-0.8nm","flux":1e-6}},
            {{"time_tag":"2024-05-01T00:04:00Z","energy":"0.1-0.8nm","flux":1e-6}}]"#
    );
    let parsed = parse_xrays(payload.as_bytes(), XrayFeed::Primary).unwrap();
    assert_eq!(parsed.records.len(), 1);
    let codes: Vec<_> = parsed.rejected.iter().map(|r| r.reason.code).collect();
    assert_eq!(
        codes,
        vec![
            RejectCode::NotFinite,
            RejectCode::WrongType,
            RejectCode::NotAnObject,
            RejectCode::OutOfRange,
            RejectCode::BadTime
        ]
    );
}
