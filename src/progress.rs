//! Progress and the run summary: shared counters every stage bumps, a progress bar on a terminal
//! (bytes read, rows written, rows/s, ETA) or a plain log line every ten seconds otherwise, and
//! the final summary printed to stderr and optionally written as JSON.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Counters shared by every stage of a run.
#[derive(Debug, Default)]
pub struct Counters {
    pub bytes_read: AtomicU64,
    pub rows_read: AtomicU64,
    pub rows_rejected: AtomicU64,
    pub rows_written: AtomicU64,
    pub statements: AtomicU64,
    pub batches: AtomicU64,
    pub retries: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What a run did, as printed at the end and written by `--summary-json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub statements: u64,
    pub batches: u64,
    pub retries: u64,
    pub bytes_read: u64,
    pub elapsed_seconds: f64,
    pub rows_per_second: f64,
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

impl Summary {
    pub fn print(&self, what: &str) {
        eprintln!(
            "{what}: {} rows read, {} written, {} rejected in {:.1}s ({:.0} rows/s; {} statements, {} batches, {} retries; CPU {:.1}s, peak memory {} MiB)",
            self.rows_read,
            self.rows_written,
            self.rows_rejected,
            self.elapsed_seconds,
            self.rows_per_second,
            self.statements,
            self.batches,
            self.retries,
            self.cpu_seconds,
            self.peak_rss_bytes / (1 << 20),
        );
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json + "\n")
    }
}

/// The live display of a run's counters.
pub struct Progress {
    counters: Arc<Counters>,
    started: Instant,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts showing progress; `total_bytes` (the input size, if known) gives the ETA.
    pub fn start(counters: Arc<Counters>, total_bytes: Option<u64>, quiet: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = (!quiet).then(|| {
            let counters = counters.clone();
            let stop = stop.clone();
            std::thread::spawn(move || tick(&counters, total_bytes, &stop))
        });
        Progress {
            counters,
            started: Instant::now(),
            stop,
            ticker,
        }
    }

    /// Stops the display and returns the summary.
    pub fn finish(mut self) -> Summary {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        let c = &self.counters;
        let elapsed = self.started.elapsed().as_secs_f64();
        let written = Counters::get(&c.rows_written);
        let (cpu_seconds, peak_rss_bytes) = resource_usage();
        Summary {
            rows_read: Counters::get(&c.rows_read),
            rows_written: written,
            rows_rejected: Counters::get(&c.rows_rejected),
            statements: Counters::get(&c.statements),
            batches: Counters::get(&c.batches),
            retries: Counters::get(&c.retries),
            bytes_read: Counters::get(&c.bytes_read),
            elapsed_seconds: elapsed,
            rows_per_second: if elapsed > 0.0 {
                written as f64 / elapsed
            } else {
                0.0
            },
            cpu_seconds,
            peak_rss_bytes,
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn tick(counters: &Counters, total_bytes: Option<u64>, stop: &AtomicBool) {
    let started = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = match total_bytes {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{bar:30} {bytes}/{total_bytes} read, {msg} ({eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        bar
    });
    let mut last_log = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let written = Counters::get(&counters.rows_written);
        let rate = written as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let msg = format!(
            "{written} rows written, {} rejected, {rate:.0} rows/s",
            Counters::get(&counters.rows_rejected)
        );
        match &bar {
            Some(bar) => {
                bar.set_position(Counters::get(&counters.bytes_read));
                bar.set_message(msg);
            }
            None if last_log.elapsed() >= Duration::from_secs(10) => {
                last_log = Instant::now();
                eprintln!(
                    "cassbulk: {} bytes read, {msg}",
                    Counters::get(&counters.bytes_read)
                );
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// CPU seconds (user + system) used so far and the peak resident set size of this process.
pub fn resource_usage() -> (f64, u64) {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return (0.0, 0);
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        secs(usage.ru_utime) + secs(usage.ru_stime),
        // ru_maxrss is in KiB on Linux.
        (usage.ru_maxrss as u64).saturating_mul(1024),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reports_the_counters_and_the_rate() {
        let counters = Arc::new(Counters::default());
        let progress = Progress::start(counters.clone(), None, true);
        Counters::add(&counters.rows_read, 10);
        Counters::add(&counters.rows_written, 8);
        Counters::add(&counters.rows_rejected, 2);
        let summary = progress.finish();
        assert_eq!(
            (
                summary.rows_read,
                summary.rows_written,
                summary.rows_rejected
            ),
            (10, 8, 2)
        );
        assert!(summary.rows_per_second > 0.0);
        assert!(summary.peak_rss_bytes > 0);
    }
}
