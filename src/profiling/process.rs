//! What the kernel says about this process: peak resident memory and CPU time.
//!
//! Peak RSS is `VmHWM` from `/proc/self/status` (the figure `memory_profiler` and `/usr/bin/time
//! -v` report). Writing `5` to `/proc/self/clear_refs` resets it to the current RSS (Linux
//! 4.0+), which gives each profile scenario its own peak; where that write is refused (a
//! hardened kernel, a read-only /proc), [`reset_peak_rss`] says so and the figure is the
//! process's peak since start. CPU time is user + system time of every thread of the process,
//! from `getrusage(RUSAGE_SELF)` (microsecond resolution, unlike `/proc/self/stat`'s ticks).

use std::time::Duration;

/// Why a figure could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: &'static str,
        source: std::io::Error,
    },
    #[error("{path} has no {field} line (not Linux, or a kernel without it)")]
    Missing {
        path: &'static str,
        field: &'static str,
    },
    #[error("getrusage failed: {0}")]
    Rusage(std::io::Error),
}

const STATUS: &str = "/proc/self/status";
const CLEAR_REFS: &str = "/proc/self/clear_refs";

/// A `kB` field of a `/proc/<pid>/status` text, in bytes (`VmHWM`, `VmRSS`, ...).
pub fn status_field_bytes(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        kb.checked_mul(1024)
    })
}

fn read_status_field(field: &'static str) -> Result<u64, ProcessError> {
    let text = std::fs::read_to_string(STATUS).map_err(|source| ProcessError::Read {
        path: STATUS,
        source,
    })?;
    status_field_bytes(&text, field).ok_or(ProcessError::Missing {
        path: STATUS,
        field,
    })
}

/// Peak resident set size (`VmHWM`) in bytes, since start or the last successful
/// [`reset_peak_rss`].
pub fn peak_rss() -> Result<u64, ProcessError> {
    read_status_field("VmHWM")
}

/// Current resident set size (`VmRSS`) in bytes.
pub fn current_rss() -> Result<u64, ProcessError> {
    read_status_field("VmRSS")
}

/// Resets `VmHWM` to the current RSS. Fails where the kernel refuses the write; the caller
/// then reports the process's peak and says why.
pub fn reset_peak_rss() -> Result<(), ProcessError> {
    std::fs::write(CLEAR_REFS, b"5").map_err(|source| ProcessError::Read {
        path: CLEAR_REFS,
        source,
    })
}

/// User and system CPU time consumed so far by every thread of this process.
pub fn cpu_time() -> Result<Duration, ProcessError> {
    // SAFETY: `rusage` is plain old data, valid when zeroed; getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid, exclusively borrowed out-pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return Err(ProcessError::Rusage(std::io::Error::last_os_error()));
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok(tv(usage.ru_utime) + tv(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_parse_to_bytes() {
        let text = "Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(status_field_bytes(text, "VmHWM"), Some(2048 * 1024));
        assert_eq!(status_field_bytes(text, "VmRSS"), Some(1024 * 1024));
        assert_eq!(status_field_bytes(text, "VmSwap"), None);
        // A field name that is a prefix of another does not match it.
        assert_eq!(status_field_bytes("VmHWMx:\t1 kB\n", "VmHWM"), None);
    }

    #[test]
    fn the_kernel_figures_are_read_and_move() {
        let rss = current_rss().expect("VmRSS");
        let hwm = peak_rss().expect("VmHWM");
        assert!(rss > 0 && hwm >= rss, "rss {rss} hwm {hwm}");
        let before = cpu_time().expect("getrusage");
        // Burn measurable CPU (about 20 ms) without being optimised away.
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let used = cpu_time().expect("getrusage") - before;
        assert!(used >= Duration::from_millis(5), "cpu {used:?}");
    }

    #[test]
    fn a_peak_reset_brings_vmhwm_back_down_where_permitted() {
        // Touch 64 MiB so the peak is well above what remains after freeing it.
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        drop(big);
        let high = peak_rss().expect("VmHWM");
        if reset_peak_rss().is_err() {
            eprintln!("clear_refs refused here: only the process peak is available");
            return;
        }
        let after = peak_rss().expect("VmHWM");
        assert!(after + (32 << 20) < high, "{after} vs {high}");
    }
}
