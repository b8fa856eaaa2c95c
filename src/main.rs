//! `flare-plus`: the command line. Each command is one library call; see `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flare_plus::config::Config;

/// Counts live and peak heap bytes for `flare-plus profile` (src/profiling/alloc.rs): the
/// system allocator plus relaxed atomic counters, always on.
#[global_allocator]
static ALLOC: flare_plus::profiling::alloc::CountingAlloc =
    flare_plus::profiling::alloc::CountingAlloc;

#[derive(Parser)]
#[command(
    name = "flare-plus",
    version,
    about = "Streaming solar-flare features: SWPC/DONKI -> NATS JetStream -> storage + flare-plus feature vectors"
)]
struct Cli {
    /// A TOML file overriding config/default.toml (environment variables FLARE__SECTION__KEY
    /// override both).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the effective configuration (secrets redacted) and exit; non-zero if invalid.
    CheckConfig,
    /// Run the pipeline (all roles by default). With --replay DIR: stream recorded files through
    /// ingest -> NATS -> writer + features and exit once everything is stored and every final
    /// feature vector is published. Without: poll the live feeds until SIGINT/SIGTERM.
    Run {
        /// Which part to run in this process; any number of writer and features processes can
        /// join the same NATS.
        #[arg(long, value_enum, default_value = "all")]
        role: flare_plus::commands::run::Role,
        /// Replay recorded upstream files instead of (or, with --follow, before) live polling.
        #[arg(long, value_name = "DIR")]
        replay: Option<PathBuf>,
        /// Replay speed: `max` or a factor of real time such as `60x`.
        #[arg(long, default_value = "max")]
        speed: flare_plus::pipeline::ingest::replay::Speed,
        /// After the replay, keep running and poll the live feeds.
        #[arg(long)]
        follow: bool,
    },
    /// Publish recorded upstream files to NATS as if polled (checkpoints, dead letters and
    /// flare detection included), with progress and a summary.
    Replay {
        /// Directory of recorded upstream files (xrays*.json, solar_regions*.json, donki*.json,
        /// optionally .gz).
        dir: PathBuf,
        /// `max` (as fast as the pipeline accepts) or a factor of real time such as `60x`.
        #[arg(long, default_value = "max")]
        speed: flare_plus::pipeline::ingest::replay::Speed,
    },
    /// Replay a date range of daily recorded files (SOURCE/YYYY-MM-DD/xrays*.json[.gz],
    /// solar_regions*.json[.gz], donki*.json[.gz]) through ingest like `replay`, day by day.
    /// Resumable: a second run with the same arguments continues after the last completed day.
    Backfill {
        /// First day (UTC), YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        from: chrono::NaiveDate,
        /// Last day (UTC, included), YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        to: chrono::NaiveDate,
        /// A directory of daily directories, or an http(s) URL serving the same layout (a
        /// missing file answers 404).
        #[arg(long, value_name = "DIR|URL")]
        source: flare_plus::pipeline::ingest::backfill::BackfillSource,
        /// `max` (as fast as the pipeline accepts) or a factor of real time such as `60x`.
        #[arg(long, default_value = "max")]
        speed: flare_plus::pipeline::ingest::replay::Speed,
    },
    /// Create or update the database tables (the writer also does this at start).
    Migrate,
    /// Detect flares in recorded X-ray files and write them as CSV (flare-plus's columns).
    Detect {
        /// Directory of recorded upstream files (xrays*.json[.gz], ...).
        #[arg(long, value_name = "DIR")]
        input: PathBuf,
        /// Output file (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Feature vectors outside the live pipeline.
    #[command(subcommand)]
    Features(FeaturesCommand),
    /// Run flare-plus's profiling scenarios (docs/PROFILING.md): 1 hourly-backfill, 2
    /// large-batch, 3 ingestion. Reports wall and CPU time, peak RSS and heap, database
    /// statements and rows read, and time per stage, beside the guide's budgets.
    Profile {
        /// Recorded upstream files: scenarios 1-2 parse them instead of reading the database,
        /// scenario 3 ingests them into the configured database instead of fetching live.
        #[arg(long, value_name = "DIR")]
        input: Option<PathBuf>,
        /// Run only this scenario (repeatable): hourly-backfill (1), large-batch (2),
        /// ingestion (3). Default: all three.
        #[arg(long, value_enum, value_name = "NAME")]
        scenario: Vec<flare_plus::commands::profile::Scenario>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Write an SVG flamegraph of the scenarios (in-process sampling) to FILE.
        #[arg(long, value_name = "FILE")]
        flamegraph: Option<PathBuf>,
        /// Samples per second of CPU time for --flamegraph.
        #[arg(long, value_name = "HZ", default_value_t = 499)]
        flamegraph_hz: i32,
        /// After the report, wait until standard input closes before exiting, so another
        /// tool can read /proc/PID/status of the finished run.
        #[arg(long)]
        hold: bool,
    },
}

#[derive(Subcommand)]
enum FeaturesCommand {
    /// Compute flare-plus's features (or covariates) for the timestamps in a file, from
    /// recorded upstream files (the pipeline's parsing, detection and engine) or from the
    /// stored tables (one bulk query per table); CSV out.
    Batch {
        /// Directory of recorded upstream files (xrays*.json, solar_regions*.json, donki*.json).
        #[arg(
            long,
            value_name = "DIR",
            required_unless_present = "db",
            conflicts_with = "db"
        )]
        input: Option<PathBuf>,
        /// Read the stored tables of this database instead (sqlite:PATH or postgres://...).
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        /// One ISO timestamp per line (UTC); rows come out in this order.
        #[arg(long, value_name = "FILE")]
        times: PathBuf,
        /// Write the 65 time-varying covariates instead of the 83 features.
        #[arg(long)]
        covariates: bool,
        /// Output file (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Queue final feature vectors for a past time range as jobs on the JOBS work queue; the
    /// feature workers (`run --role features`, any number) compute them from storage and
    /// publish them like live final vectors. Waits for them by default.
    Backfill {
        /// First tick (ISO time, UTC).
        #[arg(long, value_name = "TIME")]
        from: String,
        /// Last tick (ISO time, UTC).
        #[arg(long, value_name = "TIME")]
        to: String,
        /// Data time per job.
        #[arg(long, default_value_t = 24)]
        job_hours: u32,
        /// Queue the jobs and return without waiting.
        #[arg(long)]
        no_wait: bool,
    },
    /// Print, as JSON, the column names of the `features` and `covariates` arrays of the
    /// vectors on `flare.features.>` (their `columns` layout; docs/VECTORS.md).
    Columns,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flare-plus: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::CheckConfig => {
            print!("{}", config.redacted_toml());
            ExitCode::SUCCESS
        }
        Command::Replay { dir, speed } => {
            init_logging(&config.logging, false);
            run_async(flare_plus::commands::replay::run(config, &dir, speed))
        }
        Command::Backfill {
            from,
            to,
            source,
            speed,
        } => {
            init_logging(&config.logging, false);
            let args = flare_plus::commands::backfill::BackfillArgs {
                from,
                to,
                source,
                speed,
            };
            run_async(flare_plus::commands::backfill::run(config, args))
        }
        Command::Detect { input, out } => {
            let result = with_output(out.as_deref(), |w| {
                flare_plus::commands::detect::run(
                    &input,
                    config.min_class(),
                    config.merge_rule(),
                    w,
                )
                .map_err(anyhow::Error::from)
            });
            match result {
                Ok(n) => {
                    eprintln!("{n} flares detected");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Migrate => run_async(async move {
            flare_plus::pipeline::writer::open_store(&config).await?;
            eprintln!(
                "database {} is migrated",
                flare_plus::config::redact_url(&config.database.url)
            );
            Ok(())
        }),
        Command::Features(FeaturesCommand::Columns) => {
            println!("{}", flare_plus::bus::vectors::columns_json());
            ExitCode::SUCCESS
        }
        Command::Features(FeaturesCommand::Backfill {
            from,
            to,
            job_hours,
            no_wait,
        }) => {
            init_logging(&config.logging, false);
            let parse = |s: &str| {
                flare_plus::sources::timestamp::parse_timestamp(s)
                    .map_err(|e| anyhow::anyhow!("{s:?}: {e}"))
            };
            let options = match (parse(&from), parse(&to)) {
                (Ok(from), Ok(to)) => flare_plus::commands::features_backfill::BackfillOptions {
                    from,
                    to,
                    job_hours,
                    wait: !no_wait,
                },
                (Err(e), _) | (_, Err(e)) => return fail(e),
            };
            run_async(flare_plus::commands::features_backfill::run(
                config, options,
            ))
        }
        Command::Features(FeaturesCommand::Batch {
            input,
            db,
            times,
            covariates,
            out,
        }) => {
            use flare_plus::commands::features_batch::{
                run_from_db, run_from_dir, BatchOptions, Table,
            };
            let options = BatchOptions {
                table: if covariates {
                    Table::Covariates
                } else {
                    Table::Features
                },
                profile: config.features.profile,
                merge: config.merge_rule(),
                min_class: config.min_class(),
            };
            let result = with_output(out.as_deref(), |w| match (&input, &db) {
                (Some(dir), _) => run_from_dir(dir, &times, &options, w).map_err(Into::into),
                (None, Some(url)) => {
                    current_thread(run_from_db(url, &times, &options, w)).map_err(Into::into)
                }
                (None, None) => Err(anyhow::anyhow!("give --input DIR or --db URL")),
            });
            match result {
                Ok(s) => {
                    eprintln!(
                        "{} rows ({} profile) from {} flux observations, {} region rows, {} flare events{}; \
                         load {:.3} s, compute {:.3} s",
                        s.rows,
                        options.profile.as_str(),
                        s.flux_observations,
                        s.regions,
                        s.flare_events,
                        if s.rejected_records > 0 { format!(", {} malformed records skipped", s.rejected_records) } else { String::new() },
                        s.load_seconds,
                        s.compute_seconds
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Profile {
            input,
            scenario,
            json,
            flamegraph,
            flamegraph_hz,
            hold,
        } => {
            init_logging(&config.logging, true);
            let options = flare_plus::commands::profile::ProfileOptions {
                input,
                scenarios: scenario,
                json,
                flamegraph,
                flamegraph_hz,
                hold,
            };
            let mut out = std::io::stdout().lock();
            match flare_plus::commands::profile::run(&config, &options, &mut out) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(e.into()),
            }
        }
        Command::Run {
            role,
            replay,
            speed,
            follow,
        } => {
            init_logging(&config.logging, false);
            let options = flare_plus::commands::run::RunOptions {
                role,
                replay,
                speed,
                follow,
            };
            run_async(flare_plus::commands::run::run(config, options))
        }
    }
}

/// Runs `write` against the output file (created) or standard output.
fn with_output<T>(
    out: Option<&std::path::Path>,
    write: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    match out {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            write(&mut file)
        }
        None => write(&mut std::io::stdout().lock()),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("flare-plus: {e:#}");
    ExitCode::FAILURE
}

/// Runs a future to completion on a small single-threaded runtime (commands that only need
/// one database connection, no actors).
fn current_thread<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts")
        .block_on(future)
}

/// Logs to stderr; `RUST_LOG` overrides the configured level. With
/// `logging.slow_operation_ms` > 0, or `record_stages` (the profile command), the span timer
/// (src/profiling/spans.rs) is installed beside the log output with its own filter, so it
/// times the project's DEBUG spans whatever the log level; otherwise it is not installed.
fn init_logging(logging: &flare_plus::config::LoggingConfig, record_stages: bool) {
    use flare_plus::profiling::spans::{span_filter, SpanTimer, StageTable};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&logging.level));
    // Colours only on a terminal: log files and collectors get plain text.
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let timer = SpanTimer::new(
        logging.slow_operation_ms,
        record_stages.then(StageTable::global),
    )
    .map(|t| t.with_filter(span_filter()));
    let _ = tracing_subscriber::registry()
        .with(output)
        .with(timer)
        .try_init();
}

/// Runs `main` inside an actix System on a multi-thread tokio runtime (actors get their own
/// arbiters; NATS and database clients live on the shared runtime).
fn run_async<F>(main: F) -> ExitCode
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let system = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the tokio runtime starts (threads and timers are available)")
    });
    match system.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flare-plus: {e:#}");
            ExitCode::FAILURE
        }
    }
}
