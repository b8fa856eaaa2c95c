//! The measuring window of one scenario: wall and CPU time, peak RSS and heap, the store's
//! counters and the stage times, all taken at its close.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::profiling::spans::{StageTable, StageTime};
use crate::profiling::{alloc, process};
use crate::store::Store;

/// The store's counters over one scenario.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct DbFigures {
    /// Round trips (statements), transaction control excluded.
    pub statements: u64,
    pub rows_read: u64,
    pub commits: u64,
}

/// The measuring window of one scenario.
pub(super) struct Window {
    started: Instant,
    cpu: Option<Duration>,
    heap_start: usize,
    pub(super) rss_reset: Result<(), process::ProcessError>,
}

/// What a window measured.
pub(super) struct Measured {
    pub(super) wall: Duration,
    pub(super) cpu: Option<Duration>,
    pub(super) peak_rss: Option<u64>,
    pub(super) peak_heap: Option<usize>,
    pub(super) heap_start: Option<usize>,
    pub(super) db: Option<DbFigures>,
    pub(super) stages: Vec<StageTime>,
}

impl Window {
    pub(super) fn open(stages: &StageTable, store: Option<&Store>) -> Window {
        let rss_reset = process::reset_peak_rss();
        if let Err(e) = &rss_reset {
            tracing::warn!(
                "peak RSS cannot be reset per scenario ({e}): the process peak is reported"
            );
        }
        if let Some(store) = store {
            store.reset_stats();
        }
        stages.start();
        let heap_start = alloc::reset_peak();
        Window {
            rss_reset,
            heap_start,
            cpu: process::cpu_time().ok(),
            started: Instant::now(),
        }
    }

    /// Takes every figure at once, then waits (at most 2 s, outside the measured figures)
    /// for the scenario's spans that are still held elsewhere to close, so each counts.
    pub(super) async fn close(self, stages: &StageTable, store: Option<&Store>) -> Measured {
        let wall = self.started.elapsed();
        let cpu = match (process::cpu_time(), self.cpu) {
            (Ok(end), Some(start)) => end.checked_sub(start),
            _ => None,
        };
        let peak_rss = process::peak_rss().ok();
        let heap = alloc::is_active();
        let (peak_heap, heap_start) = (heap.then(alloc::peak), heap.then_some(self.heap_start));
        let db = store.map(|s| {
            let stats = s.stats();
            DbFigures {
                statements: stats.statements,
                rows_read: stats.rows_read,
                commits: stats.commits,
            }
        });
        let deadline = Instant::now() + Duration::from_secs(2);
        while stages.open_spans() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Measured {
            wall,
            cpu,
            peak_rss,
            peak_heap,
            heap_start,
            db,
            stages: stages.take(),
        }
    }
}
