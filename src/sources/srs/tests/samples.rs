//! Every sample parses, with as many records as its sections list, dated by the rule.

use super::{d, SAMPLES};
use crate::sources::srs::{observed_date, parse_srs, srs_file_date, SrsSection};

/// Section I and IA data lines counted by eye in each file.
const COUNTS_BY_EYE: [(&str, usize, usize); 8] = [
    ("19960106SRS.txt", 2, 2),
    ("19960513SRS.txt", 2, 2),
    ("20000922SRS.txt", 5, 2),
    ("20001001SRS.txt", 8, 2),
    ("20020624SRS.txt", 8, 3),
    ("20100621SRS.txt", 1, 1),
    ("20150101SRS.txt", 6, 2),
    ("20150306SRS.txt", 2, 1),
];

/// An independent count: lines starting with a digit between a header starting `prefix`
/// and the next line starting with a roman numeral and a dot.
fn count_rows(text: &str, prefix: &str) -> usize {
    let mut inside = false;
    let mut n = 0;
    for line in text.lines() {
        let upper = line.to_ascii_uppercase();
        if upper.starts_with(prefix) {
            inside = true;
        } else if upper.starts_with("I")
            && upper.split(' ').next().is_some_and(|w| w.ends_with('.'))
        {
            inside = false;
        } else if inside && line.starts_with(|c: char| c.is_ascii_digit()) {
            n += 1;
        }
    }
    n
}

#[test]
fn every_sample_parses_without_rejects() {
    for (name, bytes) in SAMPLES {
        let date = srs_file_date(name);
        assert!(date.is_some(), "{name}");
        let parsed = parse_srs(bytes, date).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(parsed.rejected.is_empty(), "{name}: {:?}", parsed.rejected);
        assert!(!parsed.records.is_empty(), "{name}");
    }
}

#[test]
fn record_counts_match_the_sections() {
    for (name, spots, plages) in COUNTS_BY_EYE {
        let bytes = super::sample(name);
        let text = std::str::from_utf8(bytes).unwrap();
        assert_eq!(
            count_rows(text, "I. "),
            spots,
            "{name} Section I by line count"
        );
        assert_eq!(
            count_rows(text, "IA. "),
            plages,
            "{name} Section IA by line count"
        );
        let parsed = parse_srs(bytes, srs_file_date(name)).unwrap();
        let got = |s| parsed.records.iter().filter(|r| r.section == s).count();
        assert_eq!(got(SrsSection::Spots), spots, "{name}");
        assert_eq!(got(SrsSection::Plage), plages, "{name}");
    }
}

/// observed_date = issue date - 1 day, which is also the day of "Locations Valid at DD/2400Z".
#[test]
fn observed_date_is_the_day_before_issue() {
    assert_eq!(observed_date(d(2015, 1, 1)), Some(d(2014, 12, 31)));
    assert_eq!(observed_date(d(2000, 3, 1)), Some(d(2000, 2, 29)));
    for (name, bytes) in SAMPLES {
        let issued = srs_file_date(name).unwrap();
        let want = issued.pred_opt().unwrap();
        let text = std::str::from_utf8(bytes).unwrap();
        let valid_day: u32 = text
            .lines()
            .find_map(|l| {
                let upper = l.to_ascii_uppercase();
                let at = upper.find("VALID AT ")? + "VALID AT ".len();
                upper.get(at..at + 2)?.parse().ok()
            })
            .unwrap();
        assert_eq!(chrono::Datelike::day(&want), valid_day, "{name}");
        for r in parse_srs(bytes, None).unwrap().records {
            assert_eq!(r.observed_date, want, "{name} region {}", r.region);
        }
    }
}

#[test]
fn source_order_is_ascending_region_number() {
    for (name, bytes) in SAMPLES {
        let records = parse_srs(bytes, None).unwrap().records;
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.source_order as usize, i, "{name}");
        }
        assert!(
            records.windows(2).all(|w| w[0].region < w[1].region),
            "{name}"
        );
    }
}

#[test]
fn mag_types_of_every_era_convert() {
    let mut seen = std::collections::BTreeSet::new();
    for (_, bytes) in SAMPLES {
        for r in parse_srs(bytes, None).unwrap().records {
            seen.insert(r.mag_class);
        }
    }
    let want: std::collections::BTreeSet<Option<String>> =
        [None, Some("A"), Some("B"), Some("BG"), Some("BGD")]
            .into_iter()
            .map(|m| m.map(String::from))
            .collect();
    assert_eq!(seen, want);
}

/// CRLF line ends (a file saved on Windows) give the same records.
#[test]
fn crlf_line_ends_parse_the_same() {
    for (name, bytes) in SAMPLES {
        let text = std::str::from_utf8(bytes).unwrap().replace('\n', "\r\n");
        let crlf = parse_srs(text.as_bytes(), srs_file_date(name)).unwrap();
        assert!(crlf.rejected.is_empty(), "{name}");
        assert_eq!(
            crlf.records,
            parse_srs(bytes, None).unwrap().records,
            "{name}"
        );
    }
}

/// A spotless day (Section I says `None`, as in 2008-2009) is a valid file with no spots.
#[test]
fn spotless_day_has_only_plages() {
    let text = std::str::from_utf8(super::sample("20100621SRS.txt"))
        .unwrap()
        .replace("1082 N27W05   305  0030 Dso  07   03 Beta", "None");
    let parsed = parse_srs(text.as_bytes(), None).unwrap();
    assert!(parsed.rejected.is_empty());
    let got: Vec<_> = parsed
        .records
        .iter()
        .map(|r| (r.region, r.section))
        .collect();
    assert_eq!(got, vec![(1083, SrsSection::Plage)]);
}
