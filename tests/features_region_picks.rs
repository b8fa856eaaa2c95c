//! Region tie-break (golden README): among regions tied at the latest timestamp in
//! [T − 48 h, T], flare-plus took the last ingested one. Checked row by row against
//! golden/region_picks_S*.csv; the improved profile (Q14) is shown to differ.

mod support;

use flare_plus::features::{FeatureConfig, FeatureEngine};
use flare_plus::profile::Profile;
use support::{load_regions, read_text};

fn picks(scenario: u32) -> Vec<(chrono::DateTime<chrono::Utc>, i32, usize)> {
    let text = read_text(&format!("golden/region_picks_S{scenario}.csv"));
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let mut out: Vec<_> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            let t = chrono::NaiveDateTime::parse_from_str(&r[0], "%Y-%m-%dT%H:%M:%S")
                .unwrap()
                .and_utc();
            (
                t,
                r[1].parse::<i32>().unwrap(),
                r[2].parse::<usize>().unwrap(),
            )
        })
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

#[test]
fn picks_match_golden_for_every_row() {
    let regions = load_regions();
    let mut checked = 0;
    let mut tied = 0;
    let mut improved_differs = 0;
    for s in 1..=4 {
        let mut fp = FeatureEngine::new(FeatureConfig::default()).unwrap();
        let mut im = FeatureEngine::new(FeatureConfig::with_profile(Profile::Improved)).unwrap();
        for r in &regions {
            fp.push_region(r);
            im.push_region(r);
        }
        for (t, want, n) in picks(s) {
            fp.features_at(t).unwrap();
            im.features_at(t).unwrap();
            assert_eq!(fp.picked_region(t), Some(want), "S{s} {t}");
            if im.picked_region(t) != Some(want) {
                improved_differs += 1;
            }
            checked += 1;
            tied += usize::from(n > 1);
        }
    }
    assert_eq!(checked, 24 + 1000 + 100 + 721);
    assert!(tied > 1500, "ties exercised: {tied}");
    assert!(
        improved_differs > 100,
        "Q14 rule differs: {improved_differs}"
    );
}
