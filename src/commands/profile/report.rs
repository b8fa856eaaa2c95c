//! What `flare-plus profile` reports: the figures of each scenario, beside the guide's
//! budgets, as a table or as JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use super::window::DbFigures;
use super::window::Measured;
use super::{ProfileError, Scenario, READS_BUDGET};
use crate::profiling::spans::StageTime;

/// The whole report (`--json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub struct ProfileReport {
    /// `files` or `database`.
    pub source: &'static str,
    pub input: Option<String>,
    /// Redacted URL of the database used (scenarios 1-2 without --input, scenario 3).
    pub database: Option<String>,
    /// `scenario` when VmHWM was reset per scenario, `process` when the kernel refused.
    pub peak_rss_scope: &'static str,
    /// Whether the counting allocator is installed (false only when linked elsewhere).
    pub heap_measured: bool,
    pub flamegraph: Option<String>,
    /// With --flamegraph: heap the sampler allocated for its buffers before the scenarios
    /// (it is inside every scenario's heap and RSS figures).
    pub sampler_heap_bytes: Option<u64>,
    pub scenarios: Vec<ScenarioReport>,
}

impl ProfileReport {
    /// `name: error` of every scenario that failed.
    pub fn failures(&self) -> Vec<String> {
        self.scenarios
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.name)))
            .collect()
    }
}

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub name: &'static str,
    pub number: u8,
    pub guide: &'static str,
    /// Feature scenarios: the timestamps computed, first and last.
    pub timestamps: usize,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub wall_seconds: f64,
    pub cpu_seconds: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    pub peak_heap_bytes: Option<u64>,
    /// Heap bytes live when the scenario started (its baseline).
    pub heap_start_bytes: Option<u64>,
    /// Store counters for the scenario (None: no database touched).
    pub db: Option<DbFigures>,
    pub work: Work,
    /// Time per span name, longest first.
    pub stages: Vec<StageTime>,
    /// The printed table: one row per figure, with budget and margin where the guide has one.
    pub figures: Vec<Figure>,
    /// Why the scenario stopped early (its figures then cover the work done until then and
    /// are not compared with the budgets).
    pub error: Option<String>,
}

impl ScenarioReport {
    pub(super) fn fail(&mut self, error: &ProfileError) {
        self.error = Some(error.to_string());
        for f in &mut self.figures {
            f.budget = None;
            f.margin = None;
            f.within_budget = None;
        }
    }
}

/// What the scenario processed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Work {
    pub flux_rows: u64,
    pub region_rows: u64,
    pub flare_events: u64,
    pub feature_rows: u64,
    /// Bytes of CSV the feature table encodes to (written to a counting sink).
    pub feature_csv_bytes: u64,
    pub files: u64,
    pub records_parsed: u64,
    pub records_rejected: u64,
    pub flares_detected: u64,
    pub records_written: u64,
    pub write_batches: u64,
    pub rows_inserted: u64,
    pub rows_updated: u64,
    pub records_refused_by_store: u64,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub figure: String,
    pub measured: String,
    pub budget: Option<String>,
    pub margin: Option<String>,
    /// None without a budget.
    pub within_budget: Option<bool>,
}

impl Figure {
    pub(super) fn plain(figure: impl Into<String>, measured: impl Into<String>) -> Figure {
        Figure {
            figure: figure.into(),
            measured: measured.into(),
            budget: None,
            margin: None,
            within_budget: None,
        }
    }

    /// A figure with an upper budget; `show` formats both numbers the same way.
    pub(super) fn capped(
        figure: &str,
        measured: f64,
        budget: Option<f64>,
        show: fn(f64) -> String,
    ) -> Self {
        let mut row = Figure::plain(figure, show(measured));
        if let Some(budget) = budget {
            row.budget = Some(show(budget));
            row.margin = Some(ratio_margin(measured, budget));
            row.within_budget = Some(measured <= budget);
        }
        row
    }
}

/// "375x under" / "1.2x over": how many times the measured figure fits in the budget.
pub fn ratio_margin(measured: f64, budget: f64) -> String {
    if measured <= 0.0 {
        return "under (measured 0)".to_string();
    }
    let ratio = budget / measured;
    if ratio >= 10.0 {
        format!("{ratio:.0}x under")
    } else if ratio >= 1.0 {
        format!("{ratio:.1}x under")
    } else {
        format!("{:.1}x over", measured / budget)
    }
}

/// "at budget" / "2 under" / "1 over" for counts.
pub fn count_margin(measured: u64, budget: u64) -> String {
    match measured.cmp(&budget) {
        std::cmp::Ordering::Equal => "at budget".to_string(),
        std::cmp::Ordering::Less => format!("{} under", budget - measured),
        std::cmp::Ordering::Greater => format!("{} over", measured - budget),
    }
}

/// Seconds for the table; whole budgets (30 s, 300 s) print without decimals.
pub(super) fn seconds(s: f64) -> String {
    if s >= 10.0 && s.fract() == 0.0 {
        format!("{s:.0} s")
    } else if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 0.1 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

pub(super) fn mib(bytes: f64) -> String {
    let m = bytes / (1024.0 * 1024.0);
    if m >= 10.0 && m.fract() == 0.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.1} MiB")
    }
}

pub(super) fn scenario_report(
    scenario: Scenario,
    times: &[DateTime<Utc>],
    work: Work,
    m: Measured,
) -> ScenarioReport {
    let mut figures = vec![
        Figure::capped(
            "wall time",
            m.wall.as_secs_f64(),
            scenario.wall_budget(),
            seconds,
        ),
        match m.cpu {
            Some(cpu) => Figure::plain("cpu time", seconds(cpu.as_secs_f64())),
            None => Figure::plain("cpu time", "n/a"),
        },
        match m.peak_rss {
            Some(rss) => Figure::capped(
                "peak rss",
                rss as f64,
                scenario.rss_budget().map(|b| b as f64),
                mib,
            ),
            None => Figure::plain("peak rss", "n/a"),
        },
        match (m.peak_heap, m.heap_start) {
            (Some(peak), Some(start)) => Figure::plain(
                "peak heap",
                format!("{} (start {})", mib(peak as f64), mib(start as f64)),
            ),
            _ => Figure::plain("peak heap", "n/a (counting allocator not installed)"),
        },
    ];
    match (m.db, scenario) {
        (Some(db), Scenario::Ingestion) => {
            figures.push(Figure::plain("db statements", db.statements.to_string()));
            figures.push(Figure::plain("db commits", db.commits.to_string()));
            figures.push(Figure::plain("db rows read", db.rows_read.to_string()));
        }
        (Some(db), _) => {
            let mut row = Figure::plain("db statements", db.statements.to_string());
            row.budget = Some(format!("{READS_BUDGET} (1 per table)"));
            row.margin = Some(count_margin(db.statements, READS_BUDGET));
            row.within_budget = Some(db.statements <= READS_BUDGET);
            figures.push(row);
            figures.push(Figure::plain("db rows read", db.rows_read.to_string()));
        }
        (None, _) => figures.push(Figure::plain("db statements", "0 (recorded files)")),
    }
    let w = &work;
    let counts: Vec<(&str, u64)> = match scenario {
        Scenario::Ingestion => vec![
            ("files", w.files),
            ("records parsed", w.records_parsed),
            ("records rejected", w.records_rejected),
            ("flares detected", w.flares_detected),
            ("records written", w.records_written),
            ("write batches", w.write_batches),
            ("rows inserted", w.rows_inserted),
            ("rows updated", w.rows_updated),
        ],
        _ => vec![
            ("feature rows", w.feature_rows),
            ("flux rows", w.flux_rows),
            ("region rows", w.region_rows),
            ("flare events", w.flare_events),
        ],
    };
    for (name, n) in counts {
        figures.push(Figure::plain(name, n.to_string()));
    }
    let total: f64 = m.wall.as_secs_f64().max(f64::MIN_POSITIVE);
    for stage in &m.stages {
        figures.push(Figure::plain(
            format!("stage {}", stage.name),
            format!(
                "{} ({:.0}%, {}x)",
                seconds(stage.seconds),
                100.0 * stage.seconds / total,
                stage.count
            ),
        ));
    }
    ScenarioReport {
        name: scenario.name(),
        number: scenario.number(),
        guide: scenario.guide(),
        timestamps: times.len(),
        first: times.first().copied(),
        last: times.last().copied(),
        wall_seconds: m.wall.as_secs_f64(),
        cpu_seconds: m.cpu.map(|c| c.as_secs_f64()),
        peak_rss_bytes: m.peak_rss,
        peak_heap_bytes: m.peak_heap.map(|b| b as u64),
        heap_start_bytes: m.heap_start.map(|b| b as u64),
        db: m.db,
        work,
        stages: m.stages,
        figures,
        error: None,
    }
}

/// The human-readable report.
pub fn render_table(report: &ProfileReport) -> String {
    let mut out = String::new();
    let source = match (&report.input, &report.database) {
        (Some(dir), _) => format!("recorded files in {dir}"),
        (None, Some(db)) => format!("database {db}"),
        (None, None) => "nothing".to_string(),
    };
    out.push_str(&format!("flare-plus profile: {source}\n"));
    if let Some(bytes) = report.sampler_heap_bytes {
        out.push_str(&format!(
            "note: --flamegraph is on: its sampler holds {} of heap (inside every memory \
             figure) and costs CPU; take budgets from a run without it\n",
            mib(bytes as f64)
        ));
    }
    if report.peak_rss_scope != "scenario" {
        out.push_str("note: peak RSS is the process's (the kernel refused a per-scenario reset)\n");
    }
    for s in &report.scenarios {
        out.push('\n');
        let span = match (s.first, s.last) {
            (Some(a), Some(b)) => format!(
                ", {} timestamps {} .. {}",
                s.timestamps,
                a.format("%Y-%m-%dT%H:%MZ"),
                b.format("%Y-%m-%dT%H:%MZ")
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "scenario {} {} (guide: {}){span}\n",
            s.number, s.name, s.guide
        ));
        if let Some(e) = &s.error {
            out.push_str(&format!("  FAILED: {e}\n  (figures up to the failure)\n"));
        }
        let header = ["figure", "measured", "budget", "margin"];
        let rows: Vec<[String; 4]> = s
            .figures
            .iter()
            .map(|f| {
                [
                    f.figure.clone(),
                    f.measured.clone(),
                    f.budget.clone().unwrap_or_else(|| "-".to_string()),
                    f.margin.clone().unwrap_or_else(|| "-".to_string()),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 4]| {
            let mut l = String::from("  ");
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i > 0 {
                    l.push_str(" | ");
                }
                l.push_str(cell);
                if i < 3 {
                    l.push_str(&" ".repeat(w.saturating_sub(cell.chars().count())));
                }
            }
            l.push('\n');
            l
        };
        out.push_str(&line(header));
        out.push_str(&line(
            widths.map(|w| "-".repeat(w)).each_ref().map(String::as_str),
        ));
        for row in &rows {
            out.push_str(&line(row.each_ref().map(String::as_str)));
        }
    }
    if let Some(path) = &report.flamegraph {
        out.push_str(&format!("\nflamegraph written to {path}\n"));
    }
    out
}
