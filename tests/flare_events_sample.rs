//! The flare_events model: golden table on the sample, and arrival-order independence of the
//! incremental form.

mod support;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use flare_plus::detect::{detect_flares_in_observations, MergeRule};
use flare_plus::domain::{FlareCategory, FlareEvent, FlareSource, XrayFeed};
use flare_plus::flare_events::{materialize, FlareEventSet};
use flare_plus::profile::Profile;
use flare_plus::sources::donki::parse_donki_flares;
use flare_plus::sources::swpc_xray::parse_xrays;

use support::*;

fn sample_candidates() -> Vec<FlareEvent> {
    let xrays = parse_xrays(&xray_json(), XrayFeed::Primary).unwrap();
    let mut all =
        detect_flares_in_observations(&xrays.records, FlareCategory::C, MergeRule::FlarePlus);
    all.extend(
        parse_donki_flares(&read_fixture("donki_flares.json"))
            .unwrap()
            .records,
    );
    all
}

/// golden/flare_events_db.csv: 83 detected rows then 2 DONKI rows, exactly, `location`
/// empty as flare-plus's main pipeline left it (the candidates keep DONKI's sourceLocation).
#[test]
fn flare_plus_profile_reproduces_the_golden_table() {
    let mut candidates = sample_candidates();
    candidates.reverse(); // arrival order must not matter
    let table = materialize(&candidates, Profile::FlarePlus);
    let golden = golden_rows("flare_events_db.csv");
    assert_eq!(golden.len(), 85);
    assert_eq!(table.len(), golden.len());
    for (i, (row, g)) in table.iter().zip(&golden).enumerate() {
        assert_eq!(row.start_time, golden_time(&g["start_time"]), "row {i}");
        assert_eq!(row.peak_time, golden_time(&g["peak_time"]), "row {i}");
        assert_eq!(row.end_time, golden_opt_time(&g["end_time"]), "row {i}");
        assert_eq!(row.flare_class, g["flare_class"], "row {i}");
        assert_eq!(row.class_category.as_str(), g["class_category"], "row {i}");
        assert_eq!(
            row.class_magnitude,
            g["class_magnitude"].parse::<f64>().unwrap(),
            "row {i}"
        );
        assert_eq!(
            row.active_region.map(f64::from),
            golden_opt_f64(&g["active_region"]),
            "row {i}"
        );
        assert_eq!(row.source.as_db_str(), g["source"], "row {i}");
        assert_eq!(row.verified.to_string(), g["verified"], "row {i}");
        assert_eq!(g["location"], "", "row {i}");
        assert_eq!(row.location, None, "row {i}");
    }
    assert_eq!(
        table
            .iter()
            .filter(|r| r.source == FlareSource::Donki)
            .count(),
        2
    );
}

/// The improved profile on the sample: verified flares go first, so the table's DONKI rows
/// are the DONKI catalogue deduplicated on its own (69 of 70: two DONKI flares duplicate
/// each other), and detected rows fill only the gaps.
#[test]
fn improved_profile_on_the_sample() {
    let candidates = sample_candidates();
    let table = materialize(&candidates, Profile::Improved);
    let donki_rows: Vec<_> = table
        .iter()
        .filter(|r| r.source == FlareSource::Donki)
        .cloned()
        .collect();
    let donki_only: Vec<_> = candidates
        .iter()
        .filter(|c| c.source == FlareSource::Donki)
        .cloned()
        .collect();
    assert_eq!(donki_rows, materialize(&donki_only, Profile::Improved));
    assert_eq!(donki_rows.len(), 69);
    for row in table.iter().filter(|r| r.source == FlareSource::Detected) {
        assert!(!table.iter().any(|d| d.source == FlareSource::Donki
            && d.class_category == row.class_category
            && (d.peak_time - row.peak_time).abs() <= Duration::minutes(30)));
    }
    let mut set = FlareEventSet::new(Profile::Improved);
    for c in candidates {
        set.upsert(c);
    }
    assert_eq!(set.table(), table);
}

fn t0() -> DateTime<Utc> {
    "2024-05-01T00:00:00Z".parse().unwrap()
}

/// Small random candidates: few categories and peaks on a coarse grid, so duplicates,
/// chains and exact ties are frequent.
fn candidate() -> impl Strategy<Value = FlareEvent> {
    (0u8..3, 0i64..40, 0i64..3, any::<bool>(), 0u8..4, 0u8..3).prop_map(
        |(cat, slot, start_back, is_donki, mag, id)| {
            let category = [FlareCategory::B, FlareCategory::C, FlareCategory::M][cat as usize];
            let peak = t0() + Duration::minutes(slot * 10);
            FlareEvent {
                source: if is_donki {
                    FlareSource::Donki
                } else {
                    FlareSource::Detected
                },
                external_id: is_donki.then(|| format!("id-{id}")),
                start_time: peak - Duration::minutes(start_back * 5),
                peak_time: peak,
                end_time: Some(peak + Duration::minutes(20)),
                flare_class: format!("{}{}.0", category.letter(), mag + 1),
                class_category: category,
                class_magnitude: f64::from(mag + 1),
                active_region: None,
                location: None,
                verified: is_donki,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any arrival order of any candidate set gives materialize(set), and applying every
    /// upsert's changes to a plain list gives the same table.
    #[test]
    fn upsert_in_any_order_equals_materialize(
        candidates in prop::collection::vec(candidate(), 0..40),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        improved in any::<bool>(),
    ) {
        let profile = if improved { Profile::Improved } else { Profile::FlarePlus };
        // One version per natural key: a second version of a key is a correction, which
        // replaces the first (covered by `a_corrected_record_replaces_its_previous_version`).
        let mut seen = std::collections::HashSet::new();
        let candidates: Vec<FlareEvent> =
            candidates.into_iter().filter(|c| seen.insert(c.natural_key())).collect();
        let expected = materialize(&candidates, profile);
        let mut shuffled = candidates.clone();
        // Deterministic shuffle from the generated seed.
        let mut state = order | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(materialize(&shuffled, profile), expected.clone());

        let mut set = FlareEventSet::new(profile);
        let mut applied: Vec<FlareEvent> = Vec::new();
        for c in shuffled {
            let range = set.affected_range(&c);
            let changes = set.upsert(c);
            for r in &changes.removed {
                prop_assert!(r.class_category == range.category && r.peak_time >= range.from && r.peak_time <= range.to);
                let pos = applied.iter().position(|a| a == r);
                prop_assert!(pos.is_some(), "removed row was not in the table");
                applied.remove(pos.unwrap());
            }
            for a in &changes.added {
                prop_assert!(a.class_category == range.category && a.peak_time >= range.from && a.peak_time <= range.to);
            }
            applied.extend(changes.added);
        }
        prop_assert_eq!(set.table(), expected.clone());
        let mut applied_sorted = applied;
        applied_sorted.sort_by(|a, b| flare_plus::flare_events::insertion_order(profile, a, b));
        prop_assert_eq!(applied_sorted, expected);
    }
}

/// A DONKI record re-sent with corrected values (same flrID) replaces its previous version in
/// the incremental table, as the store's upsert by natural key does.
#[test]
fn a_corrected_record_replaces_its_previous_version() {
    let mut donki = load_donki_sample()
        .into_iter()
        .next()
        .expect("a DONKI flare");
    let mut set = FlareEventSet::new(Profile::Improved);
    let first = set.upsert(donki.clone());
    assert_eq!(first.added.len(), 1);
    donki.peak_time += Duration::minutes(7);
    donki.class_magnitude += 0.5;
    let changes = set.upsert(donki.clone());
    assert_eq!(
        changes.removed, first.added,
        "the old version leaves the table"
    );
    assert_eq!(changes.added.len(), 1);
    assert_eq!(changes.added[0].peak_time, donki.peak_time);
    assert_eq!(set.table().len(), 1);
    assert_eq!(set.len_candidates(), 1);
}

fn load_donki_sample() -> Vec<FlareEvent> {
    parse_donki_flares(&read_fixture("donki_flares.json"))
        .unwrap()
        .records
}
