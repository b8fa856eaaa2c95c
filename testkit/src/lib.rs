//! Hermetic test servers for integration tests.
//!
//! Every test gets its own [`NatsServer`] (`nats-server -js` with a private store directory)
//! and/or [`Postgres`] cluster (`initdb` into a temp dir), each on a free loopback port. They are
//! killed and their directories removed when the value is dropped, also when the test panics.
//! Tests can stop, kill and restart them (same port, same data) to inject faults.
//!
//! [`upstream::UpstreamServer`] stands in for NOAA SWPC and NASA DONKI: a loopback HTTP server
//! serving recorded payloads with scripted faults (errors, delays, truncation, HTML, 304), so
//! the real reqwest client code runs in tests.
//!
//! A missing binary is a test failure with a message that says what to install; tests are never
//! skipped silently.

mod nats;
mod port;
mod postgres;
mod process;
pub mod upstream;

pub use nats::{NatsServer, NatsServerBuilder};
pub use port::free_port;
pub use postgres::Postgres;
pub use process::ChildGuard;
