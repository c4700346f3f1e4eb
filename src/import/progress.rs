//! Progress on stderr: a bar with rows/s and the time left on a terminal, a plain line every few
//! seconds otherwise (a log file, CI).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    label: &'static str,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    total_bytes: u64,
    /// Where this invocation started (a resumed run counts its own speed).
    start_bytes: u64,
    start_rows: u64,
}

fn per_second(count: u64, elapsed: Duration) -> u64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        (count as f64 / secs) as u64
    } else {
        0
    }
}

impl Progress {
    pub fn new(label: &'static str, total_bytes: u64, start_bytes: u64, start_rows: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_bytes);
            let style =
                ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}, ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(label);
            bar.set_position(start_bytes);
            bar.reset_eta();
            bar
        });
        let now = Instant::now();
        Progress { label, bar, started: now, last_line: now, total_bytes, start_bytes, start_rows }
    }

    /// Bytes of the file consumed and rows read so far (this run and any earlier part of it).
    pub fn update(&mut self, bytes: u64, rows: u64) {
        let elapsed = self.started.elapsed();
        let rate = per_second(rows.saturating_sub(self.start_rows), elapsed);
        match &self.bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{rows} rows, {rate} rows/s"));
            }
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                let done = bytes.saturating_sub(self.start_bytes) as f64;
                let left = self.total_bytes.saturating_sub(bytes) as f64;
                let eta = if done > 0.0 { (elapsed.as_secs_f64() * left / done).round() as u64 } else { 0 };
                let percent = (bytes * 100).checked_div(self.total_bytes).unwrap_or(100);
                eprintln!("{}: {rows} rows ({percent}%), {rate} rows/s, ETA {eta} s", self.label);
            }
            None => {}
        }
    }

    /// Clears the bar; returns the seconds this invocation took.
    pub fn finish(self) -> f64 {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.started.elapsed().as_secs_f64()
    }
}
