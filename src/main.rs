//! `flare-plus`: the command line. Each command is one call into [`flare_plus::commands`];
//! see `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flare_plus::commands::{self, exec};
use flare_plus::pipeline::Config;

/// Counts live and peak heap bytes for `flare-plus profile` (src/profiling/alloc.rs). Off
/// until the profile command switches it on; until then an allocation costs one relaxed
/// load more than the system allocator's (feature `heap-profile`, on by default).
#[cfg(feature = "heap-profile")]
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
    Run(commands::run::RunArgs),
    /// Publish recorded upstream files to NATS as if polled (checkpoints, dead letters and
    /// flare detection included), with progress and a summary.
    Replay(commands::replay::ReplayArgs),
    /// Replay a date range of daily recorded files (SOURCE/YYYY-MM-DD/xrays*.json[.gz],
    /// solar_regions*.json[.gz], donki*.json[.gz]) through ingest like `replay`, day by day.
    /// Resumable: a second run with the same arguments continues after the last completed day.
    Backfill(commands::backfill::BackfillArgs),
    /// Create or update the database tables (the writer also does this at start).
    Migrate,
    /// Detect flares in recorded X-ray files and write them as CSV (flare-plus's columns).
    Detect(commands::detect::DetectArgs),
    /// Feature vectors outside the live pipeline.
    #[command(subcommand)]
    Features(FeaturesCommand),
    /// Run flare-plus's profiling scenarios (docs/PROFILING.md): 1 hourly-backfill, 2
    /// large-batch, 3 ingestion. Reports wall and CPU time, peak RSS and heap, database
    /// statements and rows read, and time per stage, beside the guide's budgets.
    Profile(commands::profile::ProfileOptions),
}

#[derive(Subcommand)]
enum FeaturesCommand {
    /// Compute flare-plus's features (or covariates) for the timestamps in a file, from
    /// recorded upstream files (the pipeline's parsing, detection and engine) or from the
    /// stored tables (one bulk query per table); CSV out.
    Batch(commands::features_batch::BatchArgs),
    /// Queue final feature vectors for a past time range as jobs on the JOBS work queue; the
    /// feature workers (`run --role features`, any number) compute them from storage and
    /// publish them like live final vectors. Waits for them by default.
    Backfill(commands::features_backfill::FeaturesBackfillArgs),
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
    flare_plus::sources::archive::use_selection(
        flare_plus::sources::archive::XraySelection::from_config(&config.sources),
    );
    let outcome = match cli.command {
        Command::CheckConfig => commands::check_config(&config),
        Command::Run(args) => commands::run::execute(config, args),
        Command::Replay(args) => commands::replay::execute(config, args),
        Command::Backfill(args) => commands::backfill::execute(config, args),
        Command::Migrate => commands::migrate(&config),
        Command::Detect(args) => commands::detect::execute(&config, &args),
        Command::Features(FeaturesCommand::Batch(args)) => {
            commands::features_batch::execute(&config, &args)
        }
        Command::Features(FeaturesCommand::Backfill(args)) => {
            commands::features_backfill::execute(config, args)
        }
        Command::Features(FeaturesCommand::Columns) => commands::feature_columns(),
        Command::Profile(options) => commands::profile::execute(&config, &options),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flare-plus: {}", exec::report(&e));
            ExitCode::FAILURE
        }
    }
}
