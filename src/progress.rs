//! How far a long command is (`import`, `seed-demo`, `rebuild-reports`, `backup`, `restore`), on
//! stderr so it never mixes with the summary a command prints on stdout. On a terminal: a bar (or,
//! for a phase that counts nothing, a spinner) redrawn in place and cleared when done. Otherwise (a
//! log file, CI, a test): plain lines — when a phase starts, every few seconds while it runs, and
//! when it ends — so a log shows where the time went and a silent minute never looks like a hang.
//! Foundation: it knows no domain; library code takes a [`Report`] so in-process callers (tests)
//! can ask for silence.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

/// How often a plain line says how far a phase is: often enough to show life, rare enough for a log.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Where progress goes: stderr (the CLI), or nowhere (library callers that print their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    Stderr,
    Silent,
}

/// What a bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Shown as KiB, MiB, GiB.
    Bytes,
    /// Shown as a number and this noun ("customers").
    Count(&'static str),
}

impl Unit {
    fn amount(self, n: u64) -> String {
        match self {
            Unit::Bytes => HumanBytes(n).to_string(),
            Unit::Count(noun) => format!("{n} {noun}"),
        }
    }
}

/// How a bar or a step is shown, decided once when it starts.
enum Display {
    Terminal(ProgressBar),
    /// When the last plain line was written.
    Lines(Mutex<Instant>),
    Hidden,
}

impl Report {
    fn display(self, terminal: impl FnOnce() -> ProgressBar) -> Display {
        match self {
            Report::Silent => Display::Hidden,
            Report::Stderr if std::io::stderr().is_terminal() => Display::Terminal(terminal()),
            Report::Stderr => Display::Lines(Mutex::new(Instant::now())),
        }
    }

    /// A phase with a known amount of work (`total` may be set later, e.g. once a tool estimated it).
    pub fn bar(self, label: impl Into<String>, unit: Unit, total: u64) -> Bar {
        let label = label.into();
        let display = self.display(|| {
            let bar = ProgressBar::new(total.max(1));
            let style = ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(label.clone());
            bar
        });
        if let Display::Lines(_) = display {
            eprintln!("{label} ...");
        }
        Bar {
            label,
            unit,
            total: AtomicU64::new(total),
            position: AtomicU64::new(0),
            start: 0,
            started: Instant::now(),
            display,
        }
    }

    /// A phase that counts nothing (one long statement, a server recovering): a spinner, or a line
    /// when it starts, one every few seconds while it runs and one when it is done.
    pub fn step(self, label: impl Into<String>) -> Step {
        let label = label.into();
        let display = self.display(|| {
            let spinner = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} {prefix} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            spinner.set_style(style);
            spinner.set_prefix(label.clone());
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        });
        let ticker = match display {
            Display::Lines(_) => {
                eprintln!("{label} ...");
                Some(Ticker::start(label.clone()))
            }
            _ => None,
        };
        Step { label, started: Instant::now(), display, ticker }
    }
}

/// Work with a known amount; `&self` throughout so several threads can advance one bar.
pub struct Bar {
    label: String,
    unit: Unit,
    total: AtomicU64,
    position: AtomicU64,
    /// Where this run started (a resumed import counts its own speed).
    start: u64,
    started: Instant,
    display: Display,
}

impl Bar {
    /// Work resumed after `position` units an earlier run did.
    pub fn starting_at(mut self, position: u64) -> Bar {
        self.start = position;
        self.position.store(position, Ordering::Relaxed);
        if let Display::Terminal(bar) = &self.display {
            bar.set_position(position);
        }
        self
    }

    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        if let Display::Terminal(bar) = &self.display {
            bar.set_length(total.max(1));
        }
    }

    pub fn inc(&self, n: u64) {
        let position = self.position.fetch_add(n, Ordering::Relaxed) + n;
        self.show(position, || None);
    }

    pub fn set(&self, position: u64) {
        self.position.store(position, Ordering::Relaxed);
        self.show(position, || None);
    }

    /// `position`, with what else the caller counts (`detail` gets the seconds so far; it is only
    /// called when something is shown).
    pub fn set_with(&self, position: u64, detail: impl FnOnce(f64) -> String) {
        self.position.store(position, Ordering::Relaxed);
        self.show(position, || Some(detail(self.started.elapsed().as_secs_f64())));
    }

    fn show(&self, position: u64, detail: impl FnOnce() -> Option<String>) {
        match &self.display {
            Display::Hidden => {}
            Display::Terminal(bar) => {
                bar.set_position(position);
                bar.set_message(self.describe(position, detail()));
            }
            Display::Lines(last) => {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    eprintln!("{}: {}", self.label, self.describe(position, detail()));
                }
            }
        }
    }

    /// `1.2 MiB/40 MiB (3%), 310 KiB/s, ETA 12 s`, after the caller's detail.
    fn describe(&self, position: u64, detail: Option<String>) -> String {
        let total = self.total.load(Ordering::Relaxed);
        let elapsed = self.started.elapsed().as_secs_f64();
        let done = position.saturating_sub(self.start);
        let rate = if elapsed > 0.0 { (done as f64 / elapsed) as u64 } else { 0 };
        let mut text = detail.map(|d| format!("{d}, ")).unwrap_or_default();
        text.push_str(&match self.unit {
            Unit::Bytes => format!("{}/{}", self.unit.amount(position), self.unit.amount(total)),
            Unit::Count(noun) => format!("{position}/{total} {noun}"),
        });
        let percent = (position.min(total) * 100).checked_div(total).unwrap_or(100);
        let rate = match self.unit {
            Unit::Bytes => format!("{}/s", self.unit.amount(rate)),
            Unit::Count(_) => format!("{rate}/s"),
        };
        text.push_str(&format!(" ({percent}%), {rate}"));
        if done > 0 && total > position {
            let eta = (elapsed * (total - position) as f64 / done as f64).round() as u64;
            text.push_str(&format!(", ETA {eta} s"));
        }
        text
    }

    /// Clears the bar (a plain log gets a last line); the seconds the work took.
    pub fn finish(self) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64();
        match &self.display {
            Display::Terminal(bar) => bar.finish_and_clear(),
            Display::Lines(_) => {
                let position = self.position.load(Ordering::Relaxed);
                eprintln!("{}: done in {seconds:.1} s, {}", self.label, self.describe(position, None));
            }
            Display::Hidden => {}
        }
        seconds
    }
}

/// A phase without a count; ends with [`Step::done`] (dropped unfinished — an error — it just stops).
pub struct Step {
    label: String,
    started: Instant,
    display: Display,
    ticker: Option<Ticker>,
}

impl Step {
    /// The seconds the phase took.
    pub fn done(mut self) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64();
        self.stop();
        if let Display::Lines(_) = self.display {
            eprintln!("{}: done in {seconds:.1} s", self.label);
        }
        seconds
    }

    fn stop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
        if let Display::Terminal(spinner) = &self.display {
            spinner.finish_and_clear();
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread that writes "still running" lines for a step in a plain log.
struct Ticker {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(label: String) -> Ticker {
        let (stop, stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(PLAIN_EVERY) {
                    eprintln!("{label}: still running, {} s", started.elapsed().as_secs());
                }
            })
            .ok();
        Ticker { stop, thread }
    }

    fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_describes_amount_share_speed_and_time_left() {
        let bar = Report::Silent.bar("import", Unit::Count("customers"), 200);
        let text = bar.describe(50, Some("7 rows".into()));
        assert!(text.starts_with("7 rows, 50/200 customers (25%), "), "{text}");
        let bytes = Report::Silent.bar("backup", Unit::Bytes, 4 * 1024 * 1024);
        let text = bytes.describe(1024 * 1024, None);
        assert!(text.starts_with("1.00 MiB/4.00 MiB (25%), "), "{text}");
        // Nothing to do yet counts as done, never as a division by zero.
        let empty = Report::Silent.bar("rebuild", Unit::Count("steps"), 0);
        assert!(empty.describe(0, None).starts_with("0/0 steps (100%)"));
    }

    #[test]
    fn a_resumed_bar_counts_its_speed_from_where_it_resumed() {
        let bar = Report::Silent.bar("import", Unit::Count("rows"), 100).starting_at(90);
        bar.inc(5);
        assert_eq!(bar.position.load(Ordering::Relaxed), 95);
        assert_eq!(bar.start, 90);
        let step = Report::Silent.step("nothing");
        assert!(step.done() >= 0.0);
    }
}
