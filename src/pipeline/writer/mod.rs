//! The writer role: a durable pull consumer on OBS shared by every writer process, feeding
//! the [`actor::WriterActor`], which stores batches through [`crate::store`].

pub mod actor;

use std::time::Duration;

use actix::Actor;
use actors::nats::{DeadLetterSink, PullSource, PullSourceConfig};
use actors::{ActorMetrics, Mailbox};

use crate::bus::{streams, subjects};
use crate::config::Config;
use crate::pipeline::actor_thread::ActorThread;
use crate::pipeline::{Runtime, StartError};
use crate::store::{Store, StoreOptions};

use self::actor::{WriterActor, WriterSettings};

/// The actor name (metric label).
pub const ACTOR: &str = "writer";

/// Connects to the configured database (creating the SQLite file's directory) and runs the
/// migrations.
pub async fn open_store(config: &Config) -> Result<Store, crate::store::StoreError> {
    let store = Store::connect(&config.database.url, &StoreOptions::from(&config.database)).await?;
    store.migrate().await?;
    Ok(store)
}

/// The running writer: its thread (actor, source and connection).
pub struct WriterRole {
    thread: ActorThread,
    pub store: Store,
}

impl WriterRole {
    /// Opens the store, binds the `writer` consumer and starts pulling. The source runs as a
    /// task tracked by the runtime's shutdown: on stop it stops pulling and waits for the
    /// actor to commit and ack what it holds.
    pub async fn start(runtime: &Runtime) -> Result<WriterRole, StartError> {
        let config = &runtime.config;
        let store = open_store(config)
            .await
            .map_err(|e| StartError::Config(format!("database: {e}")))?;
        let probe = store.clone();
        runtime.readiness.add_check("database", move || {
            let store = probe.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        });
        let w = &config.writer;
        streams::durable_obs_consumer(&runtime.topology, streams::WRITER_CONSUMER, w.max_in_flight)
            .await?;
        // Deliveries in and their acks stay on the actor's thread.
        let thread = ActorThread::start(runtime, ACTOR).await?;
        let consumer =
            streams::obs_consumer_on(&thread.jetstream(), streams::WRITER_CONSUMER).await?;
        let stop = runtime.shutdown.clone();
        tokio::spawn(streams::watch_consumer_backlog(
            consumer.clone(),
            streams::WRITER_CONSUMER,
            Duration::from_secs(5),
            async move { stop.cancelled().await },
        ));
        let settings = WriterSettings {
            batch_max_records: w.batch_max_records,
            max_messages: w.max_in_flight,
            batch_max_bytes: w.batch_max_bytes,
            batch_max_wait: Duration::from_millis(w.batch_max_wait_ms),
            retry_base: Duration::from_millis(w.retry_base_ms),
            retry_max: Duration::from_millis(w.retry_max_ms),
            progress_every: Duration::from_secs(10),
            profile: config.features.profile,
        };
        let metrics = ActorMetrics::register(ACTOR);
        let (actor_store, actor_metrics, shutdown) =
            (store.clone(), metrics.clone(), runtime.shutdown.clone());
        let addr = WriterActor::start_in_arbiter(&thread.arbiter.handle(), move |_| {
            WriterActor::new(actor_store, settings, actor_metrics, shutdown)
        });
        let dead_letters = DeadLetterSink::new(thread.jetstream(), subjects::dlq_for);
        let source = PullSource::new(
            consumer,
            PullSourceConfig {
                max_in_flight: w.max_in_flight,
                batch: w.max_in_flight.min(512),
                ..Default::default()
            },
            metrics.clone(),
            dead_letters,
        )
        .with_ready_flag(runtime.readiness.add_flag("writer consumer bound"));
        let mailbox = Mailbox::new(addr, metrics);
        thread.run_source(runtime, source, mailbox);
        Ok(WriterRole { thread, store })
    }

    /// Stops the actor's thread (after its source stopped and it acked what it held).
    pub async fn stop(self) {
        self.thread.stop().await;
    }
}
