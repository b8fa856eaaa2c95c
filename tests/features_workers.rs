//! Feature workers as separate processes, fed by a replay of the sample (against a private
//! nats-server and SQLite): two workers together publish exactly the vectors one worker would
//! (the global series by one of them, the regions split); when one of two dies, the other
//! takes its series over and nothing is missing; a single worker killed and restarted
//! resumes from its checkpoint without skipping a tick or changing one.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use flare_plus::bus::vectors::VectorMessage;
use flare_plus::features::series::{
    FeatureSeries, SeriesId, SeriesProgress, SeriesSettings, VectorStatus,
};
use flare_plus::features::Cell;
use flare_plus::profile::Profile;
use futures_util::StreamExt;
use support::procs::{fixture_path, metric_sum, Proc, Stack};
use support::stream::sample_stream;

type Key = (SeriesId, DateTime<Utc>);

/// The final vectors one worker computes for the sample (in process, the same code): the
/// reference every multi-process run must reproduce.
fn reference() -> BTreeMap<Key, Vec<Cell>> {
    let settings = SeriesSettings {
        profile: Profile::FlarePlus,
        cadence: chrono::Duration::minutes(1),
        horizon: chrono::Duration::hours(2),
        region_cadence: Some(chrono::Duration::hours(1)),
    };
    let mut series = FeatureSeries::new(settings, SeriesProgress::default()).unwrap();
    let mut out = BTreeMap::new();
    for (i, obs) in sample_stream(Profile::FlarePlus).iter().enumerate() {
        series.observe(obs, Some(i as u64 + 1));
        for v in series.due().unwrap() {
            if v.status == VectorStatus::Final {
                out.insert((v.series, v.features.timestamp), v.features.cells);
            }
        }
    }
    out
}

struct Cluster {
    stack: Stack,
}

fn cluster(extra: &[(&str, &str)]) -> Cluster {
    Cluster {
        stack: Stack::start(None, extra),
    }
}

impl Cluster {
    fn worker(&self, id: &str) -> Proc {
        let mut cmd_env = self.stack.env.clone();
        cmd_env
            .extra
            .push(("FLARE__FEATURES__WORKER_ID".into(), id.into()));
        let mut p = cmd_env.spawn(&format!("worker-{id}"), &["run", "--role", "features"]);
        p.wait_ready(Duration::from_secs(60));
        p
    }

    fn replay(&self, speed: &str) -> Proc {
        self.stack.env.spawn(
            "replay",
            &["replay", fixture_path().to_str().unwrap(), "--speed", speed],
        )
    }

    /// The worker's checkpointed progress (last final tick), if any.
    fn worker_last_final(&self, id: &str) -> Option<String> {
        self.stack.rt.block_on(async {
            let kv = self
                .stack
                .js
                .get_key_value("flare_checkpoints")
                .await
                .ok()?;
            let bytes = kv.get(format!("features.worker.{id}")).await.ok()??;
            let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            v["progress"]["last_final"].as_str().map(str::to_string)
        })
    }

    fn wait_final(&self, ids: &[&str], procs: &mut [&mut Proc]) {
        let deadline = Instant::now() + Duration::from_secs(600);
        while !ids
            .iter()
            .all(|id| self.worker_last_final(id).as_deref() == Some("2024-05-30T23:59:00Z"))
        {
            if Instant::now() > deadline {
                let logs: Vec<String> = procs.iter().map(|p| p.log_text()).collect();
                panic!("workers did not finish:\n{}", logs.join("\n----\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every final vector on FEATURES by (series, tick); a repeated key must repeat the same
    /// content (a re-publish), never a different one.
    fn published_finals(&self) -> HashMap<Key, Vec<Cell>> {
        self.stack.rt.block_on(async {
            let mut stream = self.stack.js.get_stream("FEATURES").await.unwrap();
            let total = stream.info().await.unwrap().state.messages;
            let reader = stream
                .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
                .await
                .unwrap();
            let mut messages = reader.messages().await.unwrap();
            let mut out: HashMap<Key, Vec<Cell>> = HashMap::new();
            for _ in 0..total {
                let m = messages.next().await.unwrap().unwrap();
                let v = VectorMessage::decode(&m.payload).unwrap();
                if v.status != VectorStatus::Final {
                    continue;
                }
                let series = match v.region {
                    Some(n) => SeriesId::Region(n),
                    None => SeriesId::Global,
                };
                let c = v.feature_cells();
                if let Some(previous) = out.insert((series, v.tick), c.clone()) {
                    assert_eq!(
                        previous, c,
                        "{series:?} at {} published twice with different content",
                        v.tick
                    );
                }
            }
            out
        })
    }
}

fn assert_complete(published: &HashMap<Key, Vec<Cell>>, reference: &BTreeMap<Key, Vec<Cell>>) {
    let missing: Vec<&Key> = reference
        .keys()
        .filter(|k| !published.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} reference vectors missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    for (k, cells) in reference {
        assert_eq!(
            &published[k], cells,
            "{k:?} differs from the single-worker computation"
        );
    }
    assert_eq!(
        published.len(),
        reference.len(),
        "nothing beyond the reference"
    );
}

#[test]
fn two_workers_publish_exactly_what_one_worker_computes() {
    let reference = reference();
    // At full replay speed an hour of data passes in milliseconds, so the default 60-minute
    // handover window covers little when the workers' views change mid-run. A worker not
    // counting itself before its first heartbeat came back left 18 region vectors unpublished
    // once (fixed in membership::live_view); the window stays as margin on a loaded machine.
    let c = cluster(&[("FLARE__FEATURES__HANDOVER_WINDOW", "3000m")]);
    let mut a = c.worker("a");
    let mut b = c.worker("b");
    let mut replay = c.replay("max");
    assert!(
        replay.wait_exit(Duration::from_secs(300)).success(),
        "{}",
        replay.log_text()
    );
    c.wait_final(&["a", "b"], &mut [&mut a, &mut b]);
    assert_complete(&c.published_finals(), &reference);
    let (pa, pb) = (
        metric_sum(
            &a.metrics(),
            "pipeline_vectors_published_total",
            "status=\"final\"",
        ),
        metric_sum(
            &b.metrics(),
            "pipeline_vectors_published_total",
            "status=\"final\"",
        ),
    );
    assert!(
        pa > 0.0 && pb > 0.0,
        "both workers published their share: {pa} + {pb}"
    );
    assert!(
        pa + pb < reference.len() as f64 * 1.1,
        "each vector published about once: {pa} + {pb}"
    );
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));
}

#[test]
fn when_one_of_two_workers_dies_the_other_takes_over() {
    let reference = reference();
    // The replay goes at 20000x (30 days in ~2 min): failover (5 s) is ~28 h of data, inside
    // the 50 h handover window set here.
    let c = cluster(&[("FLARE__FEATURES__HANDOVER_WINDOW", "3000m")]);
    let mut a = c.worker("a");
    let mut b = c.worker("b");
    let mut replay = c.replay("20000x");
    let deadline = Instant::now() + Duration::from_secs(300);
    while c
        .worker_last_final("b")
        .is_none_or(|t| t.as_str() < "2024-05-08")
    {
        assert!(Instant::now() < deadline, "no progress:\n{}", b.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    b.child.kill();
    assert!(replay.child.is_running(), "killed mid-stream");
    assert!(replay.wait_exit(Duration::from_secs(600)).success());
    c.wait_final(&["a"], &mut [&mut a]);
    assert_complete(&c.published_finals(), &reference);
    assert_eq!(a.terminate(), Some(0));
}

#[test]
fn a_killed_worker_resumes_from_its_checkpoint() {
    let reference = reference();
    let c = cluster(&[]);
    let mut first = c.worker("solo");
    let mut replay = c.replay("20000x");
    let deadline = Instant::now() + Duration::from_secs(300);
    while c
        .worker_last_final("solo")
        .is_none_or(|t| t.as_str() < "2024-05-10")
    {
        assert!(
            Instant::now() < deadline,
            "no progress:\n{}",
            first.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    first.child.kill();
    let mut second = c.worker("solo");
    assert!(replay.wait_exit(Duration::from_secs(600)).success());
    c.wait_final(&["solo"], &mut [&mut second]);
    assert!(
        second
            .log_text()
            .contains("feature state rebuilt from the stream"),
        "{}",
        second.log_text()
    );
    assert_complete(&c.published_finals(), &reference);
    assert_eq!(second.terminate(), Some(0));
}
