//! Progress display for long commands: a bar on a terminal, periodic log lines otherwise.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows `done / total` records with rate and ETA.
pub struct Progress {
    bar: ProgressBar,
    interactive: bool,
    last_log: Instant,
}

impl Progress {
    pub fn new(total: u64, what: &str) -> Progress {
        let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:30}}] {{human_pos}}/{{human_len}} {what} {{per_sec}} ETA {{eta}} {{msg}}"
        )) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            interactive,
            last_log: Instant::now(),
        }
    }

    pub fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Updates the position; on a non-terminal writes a log line every 5 s instead.
    pub fn update(&mut self, done: u64, message: String) {
        self.bar.set_position(done);
        if self.interactive {
            self.bar.set_message(message);
        } else if self.last_log.elapsed() >= Duration::from_secs(5) {
            self.last_log = Instant::now();
            let total = self.bar.length().unwrap_or(0);
            tracing::info!(done, total, "{message}");
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
