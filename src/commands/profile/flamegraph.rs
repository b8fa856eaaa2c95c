//! `--flamegraph`: pprof's in-process sampler (SIGPROF on CPU time), running only while a
//! profile with `--flamegraph` runs. Built with the `flamegraph` feature (on by default); a
//! build without it answers `--flamegraph` with a clear error instead.

use std::path::Path;

use super::ProfileError;

/// A running sampler.
pub(super) struct Sampler {
    #[cfg(feature = "flamegraph")]
    guard: pprof::ProfilerGuard<'static>,
}

impl Sampler {
    /// Starts sampling `hz` times per second of CPU time (clamped to 1..=10000).
    #[cfg(feature = "flamegraph")]
    pub(super) fn start(hz: i32) -> Result<Sampler, ProfileError> {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(hz.clamp(1, 10_000))
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|e| ProfileError::Flamegraph(e.to_string()))?;
        Ok(Sampler { guard })
    }

    #[cfg(not(feature = "flamegraph"))]
    pub(super) fn start(_hz: i32) -> Result<Sampler, ProfileError> {
        Err(ProfileError::Flamegraph(
            "this build has no sampler: build with `--features flamegraph` (the default)".into(),
        ))
    }

    /// Stops sampling and writes the SVG.
    #[cfg(feature = "flamegraph")]
    pub(super) fn write(self, path: &Path) -> Result<(), ProfileError> {
        use std::io::Write;
        let report = self
            .guard
            .report()
            .build()
            .map_err(|e| ProfileError::Flamegraph(e.to_string()))?;
        let file = std::fs::File::create(path).map_err(|e| {
            ProfileError::Flamegraph(format!("cannot create {}: {e}", path.display()))
        })?;
        let mut writer = std::io::BufWriter::new(file);
        report
            .flamegraph(&mut writer)
            .map_err(|e| ProfileError::Flamegraph(e.to_string()))?;
        writer
            .flush()
            .map_err(|e| ProfileError::Flamegraph(format!("writing {}: {e}", path.display())))
    }

    #[cfg(not(feature = "flamegraph"))]
    pub(super) fn write(self, _path: &Path) -> Result<(), ProfileError> {
        Ok(())
    }
}
