//! Hermetic test servers.
