//! The streaming contract: concat(push outputs) ++ flush() == detect_flares(whole series),
//! exactly and in order; settled_until() never lies; snapshot/restore changes nothing.

mod support;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use flare_plus::detect::stream::MIN_TAIL;
use flare_plus::detect::{detect_flares, FluxSample, MergeRule, StreamConfig, StreamDetector};
use flare_plus::domain::{FlareCategory, FlareEvent, XrayFeed};
use flare_plus::sources::swpc_xray::parse_xrays;

fn t0() -> DateTime<Utc> {
    "2024-05-01T00:00:00Z".parse().unwrap()
}

/// Pieces a series is built from: each stresses one settlement rule.
#[derive(Debug, Clone)]
enum Segment {
    /// Constant background (plateaus, equal heights).
    Flat { len: usize, level: u8 },
    /// Rise and decay around a peak (prominence, width, start, end).
    Flare {
        rise: usize,
        decay: usize,
        peak: u8,
        top: usize,
    },
    /// Quantised noise (ties, many small local maxima).
    Noise { values: Vec<u8> },
    /// Ever higher (or lower) peaks `gap` samples apart (distance chains).
    Staircase {
        steps: usize,
        gap: usize,
        start: u8,
        up: bool,
    },
    /// Missing samples.
    Nulls { len: usize },
}

/// Level index -> flux on a coarse log grid from 1e-7 to ~3.2e-4 (36 values), so equal
/// values (plateaus, ties in height) are common.
fn level(l: u8) -> f64 {
    let steps = f64::from(l % 36);
    (10f64.powf(steps / 10.0) * 10.0).round() * 1e-8
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        (1usize..40, 0u8..12).prop_map(|(len, level)| Segment::Flat { len, level }),
        (1usize..20, 1usize..40, 8u8..36, 1usize..4).prop_map(|(rise, decay, peak, top)| {
            Segment::Flare {
                rise,
                decay,
                peak,
                top,
            }
        }),
        prop::collection::vec(0u8..30, 1..40).prop_map(|values| Segment::Noise { values }),
        (2usize..12, 2usize..11, 6u8..20, any::<bool>()).prop_map(|(steps, gap, start, up)| {
            Segment::Staircase {
                steps,
                gap,
                start,
                up,
            }
        }),
        (1usize..5).prop_map(|len| Segment::Nulls { len }),
    ]
}

fn build(segments: &[Segment], gaps: &[u8]) -> Vec<FluxSample> {
    let mut values: Vec<Option<f64>> = Vec::new();
    for seg in segments {
        match seg {
            Segment::Flat { len, level: l } => {
                values.extend(std::iter::repeat_n(Some(level(*l)), *len))
            }
            Segment::Flare {
                rise,
                decay,
                peak,
                top,
            } => {
                let p = level(*peak);
                let base = level(3);
                for i in 0..*rise {
                    values.push(Some(base + (p - base) * (i as f64 / *rise as f64)));
                }
                values.extend(std::iter::repeat_n(Some(p), *top));
                for i in 1..=*decay {
                    values.push(Some(base + (p - base) * (-(i as f64) / 4.0).exp()));
                }
            }
            Segment::Noise { values: v } => values.extend(v.iter().map(|&l| Some(level(l)))),
            Segment::Staircase {
                steps,
                gap,
                start,
                up,
            } => {
                for s in 0..*steps {
                    let l = if *up {
                        start + s as u8
                    } else {
                        start.saturating_sub(s as u8)
                    };
                    values.push(Some(level(l)));
                    values.extend(std::iter::repeat_n(Some(level(2)), gap - 1));
                }
            }
            Segment::Nulls { len } => values.extend(std::iter::repeat_n(None, *len)),
        }
    }
    let mut time = t0();
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            // Mostly 1-minute cadence, sometimes a skipped minute (positions ignore gaps, Q5).
            let skip = gaps.get(i % gaps.len().max(1)).is_some_and(|g| g % 5 == 0);
            time += Duration::minutes(if skip { 2 } else { 1 });
            (time, v)
        })
        .collect()
}

struct StreamRun {
    emitted: Vec<FlareEvent>,
    forced_or_truncated: bool,
}

/// Runs the stream, checking settled_until at every push; optionally snapshots and restores
/// through JSON at `restart_at`.
fn run_stream(
    samples: &[FluxSample],
    config: StreamConfig,
    restart_at: Option<usize>,
) -> StreamRun {
    let mut d = StreamDetector::new(config);
    let mut emitted: Vec<FlareEvent> = Vec::new();
    let mut settled: Vec<(usize, DateTime<Utc>)> = Vec::new();
    for (i, &(time, flux)) in samples.iter().enumerate() {
        if restart_at == Some(i) {
            let snapshot = serde_json::to_string(&d).unwrap();
            d = serde_json::from_str(&snapshot).unwrap();
        }
        let before = emitted.len();
        emitted.extend(d.push(time, flux));
        // Flares emitted now must be after every earlier settled_until.
        if let Some(&(_, s)) = settled.last() {
            for f in &emitted[before..] {
                assert!(
                    f.peak_time > s,
                    "flare at {} emitted after settled_until {s}",
                    f.peak_time
                );
            }
        }
        if let Some(s) = d.settled_until() {
            if let Some(&(_, prev)) = settled.last() {
                assert!(s >= prev, "settled_until went back from {prev} to {s}");
            }
            assert!(s <= time);
            settled.push((emitted.len(), s));
        }
    }
    let stats = d.stats();
    let rest = d.flush();
    if let Some(&(_, s)) = settled.last() {
        assert!(rest.iter().all(|f| f.peak_time > s));
    }
    emitted.extend(rest);
    StreamRun {
        emitted,
        forced_or_truncated: stats.forced_decisions
            + stats.truncated_starts
            + stats.truncated_left_walks
            > 0,
    }
}

fn config(min_class: FlareCategory, merge: MergeRule) -> StreamConfig {
    StreamConfig {
        min_class,
        merge,
        ..StreamConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn stream_equals_batch(
        segments in prop::collection::vec(segment(), 0..40),
        gaps in prop::collection::vec(any::<u8>(), 1..20),
        peak_flux_rule in any::<bool>(),
        class_b in any::<bool>(),
    ) {
        let samples = build(&segments, &gaps);
        let merge = if peak_flux_rule { MergeRule::PeakFlux } else { MergeRule::FlarePlus };
        let min_class = if class_b { FlareCategory::B } else { FlareCategory::C };
        let batch = detect_flares(&samples, min_class, merge);
        let stream = run_stream(&samples, config(min_class, merge), None);
        prop_assert!(!stream.forced_or_truncated);
        prop_assert_eq!(stream.emitted, batch);
    }

    #[test]
    fn snapshot_restore_changes_nothing(
        segments in prop::collection::vec(segment(), 1..30),
        cut in any::<prop::sample::Index>(),
    ) {
        let samples = build(&segments, &[0]);
        let restart = cut.index(samples.len().max(1));
        let cfg = config(FlareCategory::C, MergeRule::FlarePlus);
        let straight = run_stream(&samples, cfg, None);
        let restarted = run_stream(&samples, cfg, Some(restart));
        prop_assert_eq!(restarted.emitted, straight.emitted);
    }

    /// With the smallest tail the output is still exact unless a bounded-retention decision
    /// was counted.
    #[test]
    fn smallest_tail_is_exact_unless_counted(
        segments in prop::collection::vec(segment(), 0..60),
    ) {
        let samples = build(&segments, &[0]);
        let cfg = StreamConfig { max_tail: MIN_TAIL, max_left_records: 16, ..config(FlareCategory::B, MergeRule::FlarePlus) };
        let batch = detect_flares(&samples, cfg.min_class, cfg.merge);
        let stream = run_stream(&samples, cfg, None);
        if !stream.forced_or_truncated {
            prop_assert_eq!(stream.emitted, batch);
        }
    }
}

/// The generator is not vacuous: most series have flares, and many have several.
#[test]
fn generated_series_have_flares() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(segment(), 0..40);
    let (mut with_flares, mut with_several) = (0, 0);
    for _ in 0..200 {
        let segments = strategy.new_tree(&mut runner).unwrap().current();
        let n = detect_flares(
            &build(&segments, &[1]),
            FlareCategory::C,
            MergeRule::FlarePlus,
        )
        .len();
        with_flares += usize::from(n > 0);
        with_several += usize::from(n > 2);
    }
    assert!(with_flares > 120, "{with_flares}/200 series with flares");
    assert!(
        with_several > 40,
        "{with_several}/200 series with 3+ flares"
    );
    assert_eq!(level(0), 1e-7);
    assert_eq!(level(10), 1e-6);
}

/// A long chain of ever higher peaks 5 samples apart keeps every distance decision open
/// until the chain tops out; the stream must still agree, across a JSON snapshot taken
/// mid-chain (17-digit fluxes: this needs serde_json's `float_roundtrip`).
#[test]
fn long_distance_chain_agrees() {
    let mut samples = Vec::new();
    let mut time = t0();
    for k in 0..400 {
        for j in 0..5 {
            time += Duration::minutes(1);
            let v = if j == 0 {
                2e-6 + f64::from(k) * 1e-8
            } else {
                1e-6
            };
            samples.push((time, Some(v)));
        }
    }
    for _ in 0..100 {
        time += Duration::minutes(1);
        samples.push((time, Some(1e-7)));
    }
    let batch = detect_flares(&samples, FlareCategory::C, MergeRule::FlarePlus);
    assert!(!batch.is_empty());
    for restart in [None, Some(1000)] {
        let stream = run_stream(
            &samples,
            config(FlareCategory::C, MergeRule::FlarePlus),
            restart,
        );
        assert!(!stream.forced_or_truncated);
        assert_eq!(stream.emitted, batch);
    }
}

/// The same chain with a tail too small for it: decisions are forced, and counted.
#[test]
fn chain_longer_than_tail_is_forced_and_counted() {
    let mut d = StreamDetector::new(StreamConfig {
        max_tail: MIN_TAIL,
        ..StreamConfig::default()
    });
    let mut time = t0();
    for k in 0..400 {
        for j in 0..5 {
            time += Duration::minutes(1);
            let v = if j == 0 {
                2e-6 + f64::from(k) * 1e-8
            } else {
                1e-6
            };
            d.push(time, Some(v));
        }
    }
    assert!(d.stats().forced_decisions > 0);
    let json = serde_json::to_string(&d).unwrap();
    assert!(
        json.len() < 200_000,
        "state stays bounded: {} bytes",
        json.len()
    );
}

#[test]
fn stream_on_the_sample_equals_batch_and_golden() {
    let parsed = parse_xrays(&support::xray_json(), XrayFeed::Primary).unwrap();
    let samples: Vec<FluxSample> = parsed
        .records
        .iter()
        .map(|o| (o.time, o.flux_long))
        .collect();
    for merge in [MergeRule::FlarePlus, MergeRule::PeakFlux] {
        let batch = detect_flares(&samples, FlareCategory::C, merge);
        let stream = run_stream(&samples, config(FlareCategory::C, merge), Some(20_000));
        assert!(!stream.forced_or_truncated);
        assert_eq!(stream.emitted, batch);
    }
    let golden = support::golden_rows("detected_flares.csv");
    let stream = run_stream(
        &samples,
        config(FlareCategory::C, MergeRule::FlarePlus),
        None,
    );
    let classes: Vec<_> = stream
        .emitted
        .iter()
        .map(|f| f.flare_class.as_str())
        .collect();
    let golden_classes: Vec<_> = golden.iter().map(|r| r["flare_class"].as_str()).collect();
    assert_eq!(classes, golden_classes);
}
