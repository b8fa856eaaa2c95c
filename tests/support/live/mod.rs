//! Helpers for the tests that run `flare-plus` against live-like inputs (a fake upstream over
//! HTTP, daily files): reading NATS, Prometheus text, and recorded payloads split and rebuilt.

pub mod bus;
pub mod prom;
pub mod recorded;
