//! A feature-vector subscriber: what a model next to the pipeline does, in ~150 lines.
//!
//! Prints one line per vector on `flare.features.>`: series, tick, status and a few key
//! features. Live by default (a core NATS subscription: vectors from now on); with
//! `--from-start`, everything still in the FEATURES stream first (an ordered consumer), then
//! live.
//!
//! ```text
//! cargo run --release --example subscriber -- --url nats://127.0.0.1:4222
//! cargo run --release --example subscriber -- --subject flare.features.global --from-start
//! # against docker-compose (NATS users per role, docs/DEPLOY.md):
//! cargo run --release --example subscriber -- --user reader --password reader-dev
//! ```
//!
//! Output (the 30-day sample replayed):
//!
//! ```text
//! global      2024-05-13T17:18:00Z provisional  flux_long_max=1.38e-4 flux_ratio_short_long=0.085 flare_total_24h_weighted_count=1.0517 mount_wilson_class=a
//! global      2024-05-13T15:18:00Z final        flux_long_max=3.37e-4 flux_ratio_short_long=0.1845 flare_total_24h_weighted_count=1.3852 mount_wilson_class=a
//! region 3711 2024-05-01T00:00:00Z final        region_area=240 region_num_sunspots=14 mount_wilson_class=b
//! ```

use std::process::ExitCode;

use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
use clap::Parser;
use flare_plus::bus::vectors::VectorMessage;
use futures_util::StreamExt;

#[derive(Parser)]
#[command(about = "Print flare-plus feature vectors from NATS, one line per vector")]
struct Args {
    /// NATS server URL(s), comma-separated.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// Subject to subscribe to: `flare.features.>` (all), `flare.features.global`,
    /// `flare.features.region.>` or one region's subject.
    #[arg(long, default_value = "flare.features.>")]
    subject: String,
    /// Read every vector still in the FEATURES stream first (ordered consumer), then live.
    #[arg(long)]
    from_start: bool,
    /// NATS user and password (docker-compose: user `reader`).
    #[arg(long, env = "NATS_USER")]
    user: Option<String>,
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Exit after this many vectors (default: run until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
}

/// A number in a short human form: integers as they are, others in 3 significant digits.
fn short(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(x)) if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e5) => format!("{x:.2e}"),
            (None, Some(x)) => format!("{:.4}", x)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string(),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// The line printed for one vector.
fn line(v: &VectorMessage) -> String {
    // A few key columns by name (all 83 are in `v.features`, in flare-plus's order:
    // docs/VECTORS.md).
    let columns: &[&str] = if v.series == "global" {
        &[
            "flux_long_max",
            "flux_ratio_short_long",
            "flare_total_24h_weighted_count",
            "mount_wilson_class",
        ]
    } else {
        &["region_area", "region_num_sunspots", "mount_wilson_class"]
    };
    let mut series = v.series.clone();
    if let Some(region) = v.region {
        series.push_str(&format!(" {region}"));
    }
    let mut out = format!(
        "{series:<11} {} {:<12}",
        v.tick.format("%Y-%m-%dT%H:%M:%SZ"),
        v.status.as_str()
    );
    for column in columns {
        let value = v.feature(column).unwrap_or(&serde_json::Value::Null);
        out.push_str(&format!(" {column}={}", short(value)));
    }
    out
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut options = async_nats::ConnectOptions::new()
        .name("flare-plus-example-subscriber")
        // Say so when the server refuses something (e.g. a user not allowed to subscribe).
        .event_callback(|event| async move {
            if let async_nats::Event::ServerError(e) = event {
                eprintln!("NATS server error: {e}");
            }
        });
    if let (Some(user), Some(password)) = (&args.user, &args.password) {
        options = options.user_and_password(user.clone(), password.clone());
    }
    let client = options
        .connect(args.url.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to NATS at {}: {e}", args.url))?;
    eprintln!(
        "subscribed to {} on {}{}",
        args.subject,
        args.url,
        if args.from_start {
            " (from the start of stream FEATURES)"
        } else {
            ""
        }
    );
    let limit = args.count.unwrap_or(u64::MAX);
    let mut printed = 0u64;
    let mut show = |payload: &[u8]| -> bool {
        match VectorMessage::decode(payload) {
            Ok(v) => println!("{}", line(&v)),
            Err(e) => eprintln!("not a feature vector ({e}); skipped"),
        }
        printed += 1;
        printed >= limit
    };
    if args.from_start {
        // An ordered consumer: ephemeral, no acks, resumes by itself after a disconnect.
        let js = async_nats::jetstream::new(client.clone());
        let stream = js
            .get_stream("FEATURES")
            .await
            .map_err(|e| anyhow::anyhow!("stream FEATURES: {e}"))?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: args.subject.clone(),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("ordered consumer on FEATURES: {e}"))?;
        let mut messages = consumer.messages().await?;
        loop {
            tokio::select! {
                next = messages.next() => match next {
                    Some(Ok(m)) => if show(&m.payload) { break },
                    Some(Err(e)) => anyhow::bail!("reading FEATURES: {e}"),
                    None => break,
                },
                _ = tokio::signal::ctrl_c() => break,
            }
        }
    } else {
        let mut subscription = client.subscribe(args.subject.clone()).await?;
        loop {
            tokio::select! {
                next = subscription.next() => match next {
                    Some(m) => if show(&m.payload) { break },
                    None => break,
                },
                _ = tokio::signal::ctrl_c() => break,
            }
        }
    }
    client.drain().await.ok();
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("subscriber: {e:#}");
            ExitCode::FAILURE
        }
    }
}
