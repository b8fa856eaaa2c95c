//! Garbled lines become rejects; non-SRS files are whole-file errors; no input panics.

use super::{d, sample, SAMPLES};
use crate::sources::parse_error::RejectCode;
use crate::sources::srs::{
    issue_date, parse_srs, srs_file_date, SrsError, SrsRegion, MAX_SRS_BYTES,
};

fn replace_line(bytes: &[u8], from: &str, to: &str) -> String {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1)
}

#[test]
fn garbled_lines_are_rejected_and_the_rest_parses() {
    let text = replace_line(
        sample("20020624SRS.txt"),
        "0010 S12W13   316  0020 Cso  04   02 Beta",
        "0010 S12W1#   316  0020 Cso  04",
    );
    let text = text.replacen("Beta-Gamma", "Beta-Gamma-Deltx", 1);
    let text = text.replacen("0006  S07W86   030", "0006  S07W86", 1);
    let text = text.replacen("0012 N19E20", "0005 N19E20", 1);
    let parsed = parse_srs(text.as_bytes(), None).unwrap();
    let rejects: Vec<_> = parsed
        .rejected
        .iter()
        .map(|r| (r.raw.as_str(), r.reason.code))
        .collect();
    assert_eq!(
        rejects,
        vec![
            (
                "0008 S09E13   290  0510 Dki  10   30 Beta-Gamma-Deltx",
                RejectCode::BadClass
            ),
            ("0010 S12W1#   316  0020 Cso  04", RejectCode::Malformed),
            (
                "0005 N19E20   283  0010 Axx  01   01 Alpha",
                RejectCode::Malformed
            ),
            ("0006  S07W86", RejectCode::Malformed),
        ]
    );
    assert!(parsed.rejected[0]
        .reason
        .detail
        .starts_with("line 13: Mag Type"));
    assert_eq!(
        parsed.rejected[2].reason.detail,
        "line 16: region 5 is already listed on line 12"
    );
    let regions: Vec<i32> = parsed.records.iter().map(|r| r.region).collect();
    assert_eq!(regions, vec![1, 5, 7, 11, 13, 14, 9997]);
    assert!(parsed
        .records
        .iter()
        .enumerate()
        .all(|(i, r)| r.source_order as usize == i));
}

#[test]
fn section_ii_and_comments_are_not_records() {
    // Section II rows and the free text after it would all be rejects if they were read.
    for (name, bytes) in SAMPLES {
        let parsed = parse_srs(bytes, None).unwrap();
        assert!(parsed.rejected.is_empty(), "{name}");
    }
    let sep = parse_srs(sample("20000922SRS.txt"), None).unwrap().records;
    assert!(sep.iter().all(|r| ![9147, 9149, 9151].contains(&r.region)));
}

#[test]
fn non_srs_files_are_whole_file_errors() {
    let big = vec![b'x'; MAX_SRS_BYTES + 1];
    let cases: [(&[u8], SrsError); 9] = [
        (b"", SrsError::Empty),
        (b"\r\n  \n", SrsError::Empty),
        (
            b"<html><body>404 Not Found</body></html>",
            SrsError::LooksLikeHtml,
        ),
        (b"\x89PNG\r\n\x1a\n\0\0", SrsError::NotUtf8 { offset: 0 }),
        (b"\x1f\x8b\x08\0\0\0\0\0", SrsError::NotUtf8 { offset: 1 }),
        (b"[{\"region\": 1}]", SrsError::NoRegionSection),
        (
            b":Issued: 1996 Jan 06 0030 UTC\nII. Regions Due to Return\n",
            SrsError::NoRegionSection,
        ),
        (
            b"I. Regions with Sunspots\n7938 N12W41 187 0270 DSI 09 026 BETA\n",
            SrsError::NoIssueDate,
        ),
        (
            &big,
            SrsError::TooLarge {
                limit: MAX_SRS_BYTES,
                actual: MAX_SRS_BYTES + 1,
            },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(parse_srs(bytes, None).unwrap_err(), want);
    }
    assert_eq!(
        SrsError::NoRegionSection.to_string(),
        "not a Solar Region Summary: no 'I. Regions with Sunspots' section"
    );
}

#[test]
fn name_date_must_match_the_issue_date() {
    let bytes = sample("19960106SRS.txt");
    assert_eq!(issue_date(bytes), Ok(d(1996, 1, 6)));
    let err = parse_srs(bytes, srs_file_date("19960107SRS.txt")).unwrap_err();
    assert_eq!(
        err,
        SrsError::NameDateMismatch {
            name_date: d(1996, 1, 7),
            issued: d(1996, 1, 6)
        }
    );
    assert_eq!(
        err.to_string(),
        "SRS file named for 1996-01-07 was issued on 1996-01-06"
    );
    // The header line disagreeing with the :Issued: line is an error of its own.
    let text = replace_line(bytes, "ON 06 JANUARY 1996", "ON 07 JANUARY 1996");
    assert!(matches!(
        parse_srs(text.as_bytes(), None),
        Err(SrsError::IssueDatesDisagree { .. })
    ));
}

/// What every accepted record must satisfy, whatever the input.
fn sane(r: &SrsRegion) -> bool {
    r.latitude.abs() <= 90
        && r.longitude.abs() <= 180
        && (0..=360).contains(&r.carrington_longitude)
        && r.area >= 0
        && r.spot_class.as_ref().is_none_or(|z| z.len() == 3)
        && r.mag_class
            .as_ref()
            .is_none_or(|m| (1..=4).contains(&m.len()))
}

fn parse_any(bytes: &[u8], name: &str) {
    for file_date in [None, srs_file_date(name)] {
        if let Ok(parsed) = parse_srs(bytes, file_date) {
            for (i, r) in parsed.records.iter().enumerate() {
                assert!(sane(r), "{name}: {r:?}");
                assert_eq!(r.source_order as usize, i);
                assert!(r.to_observation().latitude.is_some());
            }
        }
    }
}

#[test]
fn truncation_and_byte_flips_never_panic() {
    for (name, bytes) in SAMPLES {
        for len in 0..=bytes.len() {
            parse_any(&bytes[..len], name);
        }
        let mut copy = bytes.to_vec();
        for i in 0..copy.len() {
            for mask in [0x01, 0x20, 0x80, 0xFF] {
                copy[i] ^= mask;
                parse_any(&copy, name);
                copy[i] ^= mask;
            }
        }
    }
}

#[test]
fn random_edits_never_panic() {
    // A small xorshift generator: deterministic, no dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, bytes) in SAMPLES {
        for _ in 0..300 {
            let mut copy = bytes.to_vec();
            for _ in 0..1 + next() % 8 {
                let at = (next() as usize) % (copy.len() + 1);
                match next() % 4 {
                    0 => copy.insert(at, next() as u8),
                    1 if at < copy.len() => {
                        copy[at] = b" \n-0123456789NSEW.I"[(next() % 19) as usize]
                    }
                    2 => {
                        let end = (at + (next() as usize) % 40).min(copy.len());
                        copy.drain(at..end);
                    }
                    _ => {
                        let chunk: Vec<u8> = copy[at..].iter().take(50).copied().collect();
                        copy.splice(at..at, chunk);
                    }
                }
            }
            parse_any(&copy, name);
        }
    }
}
