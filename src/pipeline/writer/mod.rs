//! The writer role: a durable pull consumer on OBS shared by every writer process, feeding
//! the [`actor::WriterActor`], which stores batches through [`crate::store`].

pub mod actor;
pub mod config;

use std::time::Duration;

use crate::bus::streams;
use crate::store::Store;

use self::actor::{WriterActor, WriterSettings};
use super::actor_thread::{ActorThread, Feed};
use super::{Runtime, StartError};

/// The actor name (metric label).
pub const ACTOR: &str = "writer";

/// The running writer: its thread (actor, source and connection).
pub struct WriterRole {
    thread: ActorThread,
    pub store: Store,
}

impl WriterRole {
    /// Opens and migrates the store, binds the `writer` consumer and starts pulling. On stop
    /// the source stops pulling and waits for the actor to commit and ack what it holds. A
    /// write error that retrying cannot fix stops this role alone, and `/readyz` says why.
    pub async fn start(runtime: &Runtime) -> Result<WriterRole, StartError> {
        let config = &runtime.config;
        let store = Store::open(&config.database).await?;
        let probe = store.clone();
        runtime.readiness.add_check("database", move || {
            let store = probe.clone();
            async move { store.ping().await.map_err(|e| e.to_string()) }
        });
        let w = &config.writer;
        streams::durable_obs_consumer(&runtime.topology, streams::WRITER_CONSUMER, w.max_in_flight)
            .await?;
        let settings = WriterSettings {
            batch_max_records: w.batch_max_records,
            max_messages: w.max_in_flight,
            batch_max_bytes: w.batch_max_bytes,
            batch_max_wait: w.batch_max_wait,
            retry_base: w.retry_base,
            retry_max: w.retry_max,
            progress_every: Duration::from_secs(10),
            profile: config.features.profile,
        };
        let thread = ActorThread::start(runtime, ACTOR).await?;
        let feed = Feed {
            stream: streams::OBS,
            consumer: streams::WRITER_CONSUMER,
            max_in_flight: w.max_in_flight,
            batch: w.max_in_flight.min(512),
            ready_flag: Some("writer consumer bound"),
            backlog: Some(streams::WRITER_CONSUMER),
        };
        // Its own stop signal: a permanent write error stops this role, not the process.
        let stop = runtime.shutdown.child();
        let fault = runtime.readiness.add_fault("writer");
        let actor_store = store.clone();
        let actor_stop = stop.clone();
        thread
            .run_fed(runtime, feed, &stop, move |metrics| {
                WriterActor::new(actor_store, settings, metrics, actor_stop, fault)
            })
            .await?;
        Ok(WriterRole { thread, store })
    }

    /// Stops the actor's thread (after its source stopped and it acked what it held).
    pub async fn stop(self) {
        self.thread.stop().await;
    }
}
