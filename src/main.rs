//! `flare-plus`: the command line. Each command is one library call; see `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flare_plus::config::Config;

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
            init_logging(&config.logging.level);
            run_async(flare_plus::commands::replay::run(config, &dir, speed))
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
        Command::Run {
            role,
            replay,
            speed,
            follow,
        } => {
            init_logging(&config.logging.level);
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

/// Logs to stderr; `RUST_LOG` overrides the configured level.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal: log files and collectors get plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
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
