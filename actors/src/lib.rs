//! Instrumented actor runtime (see the crate description).
