//! The live feature series against the batch command: fed the sample in stream order (as
//! ingest publishes it), every final vector equals the batch output for the same tick, bit
//! for bit, features and covariates; every tick is final exactly once; provisional vectors
//! come first; a restart from a checkpoint continues without skipping or repeating a tick.

mod support;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use flare_plus::domain::Observation;
use flare_plus::features::series::{
    FeatureSeries, SeriesId, SeriesProgress, SeriesSettings, VectorStatus,
};
use flare_plus::features::{compute_covariates_batch, compute_features_batch, Cell};
use flare_plus::profile::Profile;
use support::stream::sample_stream;
use support::{load_fixture, load_times};

fn settings(profile: Profile) -> SeriesSettings {
    SeriesSettings {
        profile,
        cadence: Duration::minutes(1),
        horizon: Duration::hours(2),
        region_cadence: None,
    }
}

/// Bit-level equality of two rows (NaN == NaN when the bits match).
fn same_bits(a: &[Cell], b: &[Cell]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Cell::Num(p), Cell::Num(q)) => p.to_bits() == q.to_bits(),
            _ => x == y,
        })
}

struct Run {
    finals: BTreeMap<DateTime<Utc>, (Vec<Cell>, Vec<Cell>)>,
    provisional: usize,
    finals_published: usize,
}

fn run(series: &mut FeatureSeries, stream: &[Observation], from: usize, to: usize, out: &mut Run) {
    for (i, obs) in stream.iter().enumerate().take(to).skip(from) {
        series.observe(obs, Some(i as u64 + 1));
        let due = series.due().expect("engine");
        for v in due {
            assert_eq!(v.series, SeriesId::Global);
            match v.status {
                VectorStatus::Provisional => out.provisional += 1,
                VectorStatus::Final => {
                    out.finals_published += 1;
                    let cov = v.covariates.expect("global vectors carry covariates").cells;
                    let previous = out
                        .finals
                        .insert(v.features.timestamp, (v.features.cells, cov));
                    assert!(
                        previous.is_none(),
                        "tick {} final twice",
                        v.features.timestamp
                    );
                }
            }
        }
    }
}

fn check_against_batch(profile: Profile, finals: &BTreeMap<DateTime<Utc>, (Vec<Cell>, Vec<Cell>)>) {
    let f = load_fixture();
    let flares = support::load_flares_for(&f.flux, profile);
    // Live ticks exist up to the last flux sample (S4's last tick, 2024-05-31T00:00, is a
    // minute past the data).
    let last = *finals.keys().last().unwrap();
    let mut ticks = load_times(2);
    ticks.extend(load_times(4));
    ticks.retain(|t| *t <= last);
    assert_eq!(ticks.len(), 1000 + 720);
    let features = compute_features_batch(&f.flux, &f.regions, &flares, &ticks, profile).unwrap();
    let covariates =
        compute_covariates_batch(&f.flux, &f.regions, &flares, &ticks, profile).unwrap();
    for ((t, batch_f), batch_c) in ticks.iter().zip(&features).zip(&covariates) {
        let (live_f, live_c) = finals
            .get(t)
            .unwrap_or_else(|| panic!("tick {t} was never final"));
        assert!(
            same_bits(live_f, &batch_f.cells),
            "features at {t} differ from batch"
        );
        assert!(
            same_bits(live_c, &batch_c.cells),
            "covariates at {t} differ from batch"
        );
    }
}

#[test]
fn final_vectors_equal_the_batch_output_bit_for_bit() {
    for profile in [Profile::FlarePlus, Profile::Improved] {
        let stream = sample_stream(profile);
        let mut series = FeatureSeries::new(settings(profile), SeriesProgress::default()).unwrap();
        let mut out = Run {
            finals: BTreeMap::new(),
            provisional: 0,
            finals_published: 0,
        };
        run(&mut series, &stream, 0, stream.len(), &mut out);
        assert!(series.finished(), "end of input makes every tick final");
        // Every minute from the first to the last flux sample, once.
        let first = *out.finals.keys().next().unwrap();
        let last = *out.finals.keys().last().unwrap();
        assert_eq!(first.to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert_eq!(last.to_rfc3339(), "2024-05-30T23:59:00+00:00");
        assert_eq!(out.finals.len() as i64, (last - first).num_minutes() + 1);
        assert_eq!(out.finals_published, out.finals.len());
        // Fed one observation at a time, every tick with data was provisional first; the
        // others (minutes missing from the data, the last two hours that turned final at the
        // end of input) count as conflated. Each tick is one or the other.
        let conflated = series.stats().conflated as usize;
        assert_eq!(out.provisional + conflated, out.finals.len());
        assert!(
            conflated < 121 + 300,
            "{conflated} ticks without a provisional vector"
        );
        check_against_batch(profile, &out.finals);
    }
}

#[test]
fn a_restart_from_the_checkpoint_continues_without_gaps_or_repeats() {
    let profile = Profile::FlarePlus;
    let stream = sample_stream(profile);
    let cut = stream.len() * 2 / 5;
    let mut first = FeatureSeries::new(settings(profile), SeriesProgress::default()).unwrap();
    let mut out = Run {
        finals: BTreeMap::new(),
        provisional: 0,
        finals_published: 0,
    };
    run(&mut first, &stream, 0, cut, &mut out);
    let progress = first.progress();
    let rebuild = first.rebuild_from().expect("something retained") as usize;
    drop(first);
    assert!(
        rebuild > 1,
        "the rebuild starts inside the stream, not at its beginning"
    );

    // The restarted series re-reads the stream from the rebuild point (already-published ticks
    // are not published again) and continues live from the cut.
    let mut second = FeatureSeries::new(settings(profile), progress).unwrap();
    let mut replayed = Run {
        finals: BTreeMap::new(),
        provisional: 0,
        finals_published: 0,
    };
    run(&mut second, &stream, rebuild - 1, cut, &mut replayed);
    assert_eq!(
        replayed.finals_published, 0,
        "nothing final is published twice during the rebuild"
    );
    run(&mut second, &stream, cut, stream.len(), &mut out);
    let ticks: Vec<_> = out.finals.keys().copied().collect();
    assert!(
        ticks
            .windows(2)
            .all(|w| w[1] - w[0] == Duration::minutes(1)),
        "no tick skipped"
    );
    check_against_batch(profile, &out.finals);
}

#[test]
fn flux_stored_out_of_order_before_its_detector_mark_gives_the_batch_vectors() {
    // What ingest guarantees after a fault: a payload's records (500 here) are all stored
    // before the detector mark that follows them, but a retried publish (e.g. across a
    // nats-server restart) can land behind later records of its payload.
    let profile = Profile::FlarePlus;
    let mut reordered = Vec::new();
    let mut chunk: Vec<Observation> = Vec::new();
    let mut flux_in_chunk = 0;
    let mut mark = None;
    let mut moved = 0;
    let mut close_chunk = |chunk: &mut Vec<Observation>, mark: Option<Observation>| {
        let flux_at: Vec<usize> = chunk
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, Observation::Xray(_)))
            .map(|(i, _)| i)
            .collect();
        if flux_at.len() > 103 {
            // Three samples from the chunk's early part land at its end.
            let late: Vec<Observation> = flux_at[100..103]
                .iter()
                .rev()
                .map(|&i| chunk.remove(i))
                .collect();
            chunk.extend(late);
            moved += 3;
        }
        reordered.append(chunk);
        reordered.extend(mark);
    };
    for obs in sample_stream(profile) {
        match &obs {
            Observation::Progress(_) => mark = Some(obs),
            _ => {
                flux_in_chunk += usize::from(matches!(obs, Observation::Xray(_)));
                chunk.push(obs);
            }
        }
        if flux_in_chunk == 500 {
            close_chunk(&mut chunk, mark.take());
            flux_in_chunk = 0;
        }
    }
    close_chunk(&mut chunk, mark.take());
    assert!(moved > 200, "{moved} samples reordered");
    let mut series = FeatureSeries::new(settings(profile), SeriesProgress::default()).unwrap();
    let mut out = Run {
        finals: BTreeMap::new(),
        provisional: 0,
        finals_published: 0,
    };
    run(&mut series, &reordered, 0, reordered.len(), &mut out);
    assert!(series.finished());
    assert_eq!(series.stats().late_flux, 0, "no sample came too late");
    assert_eq!(out.finals.len(), 43_200);
    check_against_batch(profile, &out.finals);
}

#[test]
fn catching_up_publishes_the_provisional_vector_of_the_newest_tick_only() {
    // A worker behind its input asks for provisional vectors once per batch: the batch's
    // older ticks get none (their final vectors follow), the newest tick does.
    let profile = Profile::FlarePlus;
    let stream = sample_stream(profile);
    for batch in [64, 256, 2000] {
        let mut series = FeatureSeries::new(settings(profile), SeriesProgress::default()).unwrap();
        let mut finals = 0;
        let mut provisional = Vec::new();
        let mut newest_flux = None;
        for chunk in stream.chunks(batch) {
            for obs in chunk {
                series.observe(obs, None);
                if let Observation::Xray(x) = obs {
                    newest_flux = newest_flux.max(Some(x.time));
                }
                finals += series.due_finals().expect("engine").len();
            }
            if let Some(v) = series.due_provisional().expect("engine") {
                assert_eq!(v.status, VectorStatus::Provisional);
                assert_eq!(
                    Some(v.features.timestamp),
                    newest_flux,
                    "the newest tick's provisional vector"
                );
                assert!(
                    series.progress().last_final < newest_flux,
                    "never after its final vector"
                );
                provisional.push(v.features.timestamp);
            }
        }
        assert!(series.finished());
        assert_eq!(finals, 43_200, "every tick is final once");
        assert!(
            provisional.windows(2).all(|w| w[0] < w[1]),
            "one provisional vector per tick at most, in tick order"
        );
        let batches = stream.len().div_ceil(batch);
        assert!(
            provisional.len() > batches * 9 / 10 && provisional.len() <= batches,
            "batch {batch}: {} provisional vectors for {batches} batches",
            provisional.len()
        );
        assert_eq!(
            provisional.len() as u64 + series.stats().conflated,
            43_200,
            "batch {batch}: each tick has a provisional vector or counts as conflated"
        );
    }
}
