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
    /// Run the pipeline: connect (or start) NATS, create the streams, serve /metrics, and run
    /// until SIGINT/SIGTERM.
    Run,
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
        Command::Run => {
            init_logging(&config.logging.level);
            run_async(async move {
                let runtime = flare_plus::pipeline::Runtime::start(config, "all", true).await?;
                runtime.shutdown.listen_for_signals()?;
                tracing::info!("running; Ctrl-C to stop");
                runtime.shutdown.cancelled().await;
                let drained = runtime.finish().await;
                anyhow::ensure!(
                    drained,
                    "stopped before every in-flight message was finished"
                );
                Ok(())
            })
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the configured level.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
