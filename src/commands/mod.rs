//! The work behind each command-line command, one module per command, so `main.rs` only
//! parses arguments and calls one function. Each module holds its command's arguments (clap
//! parses and checks them) and an `execute` that sets up logging and a runtime as the
//! command needs and runs it.

pub mod backfill;
pub mod detect;
pub mod exec;
pub mod features_backfill;
pub mod features_batch;
pub mod profile;
pub mod progress;
pub mod replay;
pub mod run;
pub mod times;

use crate::pipeline::Config;
use crate::store::Store;

/// `flare-plus check-config`: the effective configuration, secrets redacted.
pub fn check_config(config: &Config) -> anyhow::Result<()> {
    print!("{}", config.redacted_toml());
    Ok(())
}

/// `flare-plus migrate`: creates or updates the tables (the writer also does this at start).
pub fn migrate(config: &Config) -> anyhow::Result<()> {
    exec::on_current_thread(async {
        let store = Store::open(&config.database).await?;
        store.close().await;
        eprintln!("database {} is migrated", config.database.url);
        Ok(())
    })?
}

/// `flare-plus features columns`: the column names of the vectors' arrays, as JSON.
pub fn feature_columns() -> anyhow::Result<()> {
    println!("{}", crate::bus::vectors::columns_json());
    Ok(())
}
