//! Measurement for `flare-plus profile` and for the timing logs of normal runs.
//!
//! - [`alloc`]: a counting global allocator (live and peak heap bytes), installed by the
//!   binary; always on, so it costs two relaxed atomic operations per allocation.
//! - [`process`]: peak resident memory (`VmHWM`, resettable through `/proc/self/clear_refs`)
//!   and CPU time (`getrusage`), read from the kernel rather than estimated.
//! - [`spans`]: a tracing layer that times spans: per-name totals for the profile's stage
//!   table, and the `logging.slow_operation` warning in normal runs.

pub mod alloc;
pub mod process;
pub mod spans;
