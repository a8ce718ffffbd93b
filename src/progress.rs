//! Progress and the run summary: shared counters every stage bumps; on a terminal a bar for
//! each phase (reading: bytes or rows of the inputs read, rows/s, time left; writing: rows
//! written of those to write, rows/s, retries, time left), otherwise a plain log line every ten
//! seconds; and the final summary printed to stderr and optionally written as JSON.

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
    /// Non-frozen lists not written because the table already held them (same elements,
    /// same write time): writing them again would have appended a second copy.
    pub lists_present: AtomicU64,
    /// Non-frozen lists not written because the table held newer elements (a live write).
    pub lists_newer: AtomicU64,
    /// Non-frozen lists written one microsecond later than their write time, because an
    /// attempt that failed without saying whether it applied might still land.
    pub lists_fenced: AtomicU64,
    /// SSTable folders the cluster's tools are to take in (`--via sstable`), and how many
    /// they took in so far: the loading phase.
    pub folders_to_load: AtomicU64,
    pub folders_loaded: AtomicU64,
    /// Microseconds those tools ran.
    pub loading_micros: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
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
    /// Non-frozen list writes skipped: the table held the same list at the same write time.
    pub lists_already_present: u64,
    /// Non-frozen list writes skipped: the table held newer elements (a live write).
    pub lists_newer_in_table: u64,
    /// Non-frozen lists written one microsecond after their write time, so that an earlier
    /// attempt whose outcome was unknown cannot add a second copy if it lands late.
    pub lists_written_later: u64,
    pub bytes_read: u64,
    pub elapsed_seconds: f64,
    /// Of `elapsed_seconds`: reading every input into the partition builder (0 when the
    /// input goes straight to the sink, read as it is written), writing the sink, and the
    /// cluster's tools taking the SSTables in (`--via sstable`).
    pub reading_seconds: f64,
    pub writing_seconds: f64,
    pub loading_seconds: f64,
    pub rows_per_second: f64,
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
    /// Table columns no source column filled (they keep what the table holds).
    pub columns_not_filled: Vec<String>,
    /// What the run stated about its inputs before writing: files and partition folders read,
    /// calendars rebased, exports read though unfinished.
    pub inputs: Vec<String>,
}

impl Summary {
    pub fn print(&self, what: &str) {
        eprintln!("{what}: {}", self.line());
        for line in &self.inputs {
            eprintln!("{what}: {line}");
        }
        if !self.columns_not_filled.is_empty() {
            eprintln!(
                "{what}: table columns not filled, left as the table holds them: {}",
                self.columns_not_filled.join(", ")
            );
        }
        if self.lists_already_present + self.lists_newer_in_table > 0 {
            eprintln!(
                "{what}: list writes skipped: {} already in the table (same elements, same write time), {} newer in the table (left alone)",
                self.lists_already_present, self.lists_newer_in_table
            );
        }
        if self.lists_written_later > 0 {
            eprintln!(
                "{what}: {} list(s) written 1 microsecond after their write time, after an attempt that failed without saying whether it applied: should it land late, it cannot add a second copy",
                self.lists_written_later
            );
        }
    }

    /// The summary's first line: counts, time (by phase when there were phases), rate, CPU
    /// and memory.
    fn line(&self) -> String {
        // Statements, batches and retries are the CQL writes'; other sinks make none.
        let writes = if self.statements + self.batches + self.retries > 0 {
            format!(
                "{} statements, {} batches, {} retries; ",
                self.statements, self.batches, self.retries
            )
        } else {
            String::new()
        };
        let mut phases = Vec::new();
        if self.reading_seconds > 0.0 {
            phases.push(format!("reading {:.1}s", self.reading_seconds));
            phases.push(format!("writing {:.1}s", self.writing_seconds));
        }
        if self.loading_seconds > 0.0 {
            phases.push(format!("loading {:.1}s", self.loading_seconds));
        }
        let phases = if phases.is_empty() {
            String::new()
        } else {
            phases.join(", ") + "; "
        };
        format!(
            "{} rows read, {} written, {} rejected in {:.1}s ({phases}{:.0} rows/s; {writes}CPU {:.1}s, peak memory {} MiB)",
            self.rows_read,
            self.rows_written,
            self.rows_rejected,
            self.elapsed_seconds,
            self.rows_per_second,
            self.cpu_seconds,
            self.peak_rss_bytes / (1 << 20),
        )
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json + "\n")
    }
}

/// What the reading phase measures its progress against.
pub enum InputMeter {
    /// Bytes of the inputs' data: read so far (summed over the inputs), and in all.
    Bytes {
        read: Box<dyn Fn() -> u64 + Send>,
        total: u64,
    },
    /// Rows ([`Counters::rows_read`]) of a total known in advance (Parquet footers).
    Rows { total: u64 },
    /// Token ranges of a live table scanned so far, and in all.
    Ranges {
        done: Box<dyn Fn() -> u64 + Send>,
        total: u64,
    },
    /// No total: a spinner and counts.
    Unknown,
}

/// Which phase a run is in, shared with the display thread.
struct Phase {
    /// Zero while reading; the number of rows to write once writing.
    write_total: AtomicU64,
    writing: AtomicBool,
}

/// The live display of a run's counters: a bar for reading the inputs (bytes or rows read of
/// the total, rows/s, time left), then one for writing (rows written of those to write).
pub struct Progress {
    counters: Arc<Counters>,
    started: Instant,
    /// When the writing phase started, in microseconds after `started` (0: not yet).
    writing_at: AtomicU64,
    stop: Arc<AtomicBool>,
    phase: Arc<Phase>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts showing the reading phase.
    pub fn start(counters: Arc<Counters>, meter: InputMeter, quiet: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(Phase {
            write_total: AtomicU64::new(0),
            writing: AtomicBool::new(false),
        });
        let ticker = (!quiet).then(|| {
            let counters = counters.clone();
            let stop = stop.clone();
            let phase = phase.clone();
            std::thread::spawn(move || tick(&counters, meter, &phase, &stop))
        });
        Progress {
            counters,
            started: Instant::now(),
            writing_at: AtomicU64::new(0),
            stop,
            phase,
            ticker,
        }
    }

    /// Switches the display to writing `rows` rows (an upper bound: duplicates still merge).
    pub fn writing(&self, rows: u64) {
        let at = self.started.elapsed().as_micros().max(1) as u64;
        self.writing_at.store(at, Ordering::Relaxed);
        self.phase.write_total.store(rows, Ordering::Relaxed);
        self.phase.writing.store(true, Ordering::Relaxed);
    }

    /// Stops the display and returns the summary.
    pub fn finish(mut self) -> Summary {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        let c = &self.counters;
        let elapsed = self.started.elapsed().as_secs_f64();
        let reading = self.writing_at.load(Ordering::Relaxed) as f64 / 1e6;
        let loading = Counters::get(&c.loading_micros) as f64 / 1e6;
        let written = Counters::get(&c.rows_written);
        let (cpu_seconds, peak_rss_bytes) = resource_usage();
        Summary {
            rows_read: Counters::get(&c.rows_read),
            rows_written: written,
            rows_rejected: Counters::get(&c.rows_rejected),
            statements: Counters::get(&c.statements),
            batches: Counters::get(&c.batches),
            retries: Counters::get(&c.retries),
            lists_already_present: Counters::get(&c.lists_present),
            lists_newer_in_table: Counters::get(&c.lists_newer),
            lists_written_later: Counters::get(&c.lists_fenced),
            bytes_read: Counters::get(&c.bytes_read),
            elapsed_seconds: elapsed,
            reading_seconds: reading,
            writing_seconds: (elapsed - reading - loading).max(0.0),
            loading_seconds: loading,
            rows_per_second: if elapsed > 0.0 {
                written as f64 / elapsed
            } else {
                0.0
            },
            cpu_seconds,
            peak_rss_bytes,
            columns_not_filled: Vec::new(),
            inputs: Vec::new(),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A bar style from its template.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn tick(counters: &Counters, meter: InputMeter, phase: &Phase, stop: &AtomicBool) {
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = match &meter {
            InputMeter::Bytes { total, .. } => ProgressBar::new(*total).with_style(style(
                "reading [{bar:30}] {bytes}/{total_bytes}, {msg} ({eta} left)",
            )),
            InputMeter::Rows { total } => ProgressBar::new(*total).with_style(style(
                "reading [{bar:30}] {human_pos}/{human_len} rows, {msg} ({eta} left)",
            )),
            InputMeter::Ranges { total, .. } => ProgressBar::new(*total).with_style(style(
                "scanning [{bar:30}] {human_pos}/{human_len} token ranges, {msg} ({eta} left)",
            )),
            InputMeter::Unknown => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("reading {spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        bar
    });
    let mut phase_started = Instant::now();
    let mut writing = false;
    let mut loading = false;
    let mut last_log = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        if !writing && phase.writing.load(Ordering::Relaxed) {
            writing = true;
            phase_started = Instant::now();
            if let InputMeter::Bytes { read, .. } = &meter {
                counters.bytes_read.store(read(), Ordering::Relaxed);
            }
            if let Some(bar) = &bar {
                bar.set_style(style(
                    "writing [{bar:30}] {human_pos}/{human_len} rows, {msg} ({eta} left)",
                ));
                bar.set_length(phase.write_total.load(Ordering::Relaxed));
                bar.reset();
            }
        }
        let to_load = Counters::get(&counters.folders_to_load);
        if !loading && to_load > 0 {
            // The SSTables are written; the cluster's tools are taking them in. (After the
            // writing phase's switch: a short load may start both within one tick.)
            loading = true;
            if let Some(bar) = &bar {
                bar.set_style(
                    ProgressStyle::with_template("loading {spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.reset();
            }
        }
        let rate =
            |n: u64| thousands((n as f64 / phase_started.elapsed().as_secs_f64().max(1e-3)) as u64);
        let read_rows = Counters::get(&counters.rows_read);
        let written = Counters::get(&counters.rows_written);
        // The bar's message, also the end of the log line.
        let (position, counts) = if loading {
            let loaded = Counters::get(&counters.folders_loaded);
            (
                loaded,
                format!(
                    "{loaded} of {to_load} SSTable folder{} taken in by the cluster",
                    if to_load == 1 { "" } else { "s" }
                ),
            )
        } else if writing {
            let retries = thousands(Counters::get(&counters.retries));
            (
                written,
                format!("{} rows/s, {retries} retries", rate(written)),
            )
        } else {
            let position = match &meter {
                InputMeter::Bytes { read, .. } => {
                    let done = read();
                    counters.bytes_read.store(done, Ordering::Relaxed);
                    done
                }
                InputMeter::Ranges { done, .. } => done(),
                InputMeter::Rows { .. } | InputMeter::Unknown => read_rows,
            };
            let rejected = thousands(Counters::get(&counters.rows_rejected));
            (
                position,
                format!(
                    "{} rows read, {rejected} rejected, {} rows/s",
                    thousands(read_rows),
                    rate(read_rows)
                ),
            )
        };
        match &bar {
            Some(bar) => {
                bar.set_position(position);
                bar.set_message(counts);
                bar.tick();
            }
            None if last_log.elapsed() >= Duration::from_secs(10) => {
                last_log = Instant::now();
                let done = if loading {
                    "loading".to_owned()
                } else if writing {
                    format!(
                        "writing: {} rows written (of at most {})",
                        thousands(written),
                        thousands(phase.write_total.load(Ordering::Relaxed))
                    )
                } else {
                    match &meter {
                        InputMeter::Bytes { total, .. } => format!(
                            "reading: {:.1} of {:.1} MB",
                            position as f64 / 1e6,
                            *total as f64 / 1e6
                        ),
                        InputMeter::Rows { total } => format!(
                            "reading: {} of {} rows",
                            thousands(read_rows),
                            thousands(*total)
                        ),
                        InputMeter::Ranges { total, .. } => format!(
                            "scanning: {} of {} token ranges",
                            thousands(position),
                            thousands(*total)
                        ),
                        InputMeter::Unknown => "reading".to_owned(),
                    }
                };
                eprintln!("cassbulk: {done}, {counts}");
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
    // ru_maxrss (KiB on Linux) keeps the high-water mark of the memory an exec replaced: a
    // cassbulk started by a large parent reports the parent's size. VmHWM is this program's own.
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| high_water_mark(&status))
        .unwrap_or((usage.ru_maxrss as u64).saturating_mul(1024));
    (secs(usage.ru_utime) + secs(usage.ru_stime), peak)
}

/// The `VmHWM` line of `/proc/self/status`, in bytes.
fn high_water_mark(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_splits_the_time_by_phase_when_there_were_phases() {
        let mut summary = Summary {
            rows_read: 1000,
            rows_written: 990,
            rows_rejected: 10,
            statements: 0,
            batches: 0,
            retries: 0,
            lists_already_present: 0,
            lists_newer_in_table: 0,
            lists_written_later: 0,
            bytes_read: 0,
            elapsed_seconds: 6.04,
            reading_seconds: 3.0,
            writing_seconds: 2.0,
            loading_seconds: 1.04,
            rows_per_second: 163.9,
            cpu_seconds: 9.5,
            peak_rss_bytes: 450 << 20,
            columns_not_filled: Vec::new(),
            inputs: Vec::new(),
        };
        assert_eq!(
            summary.line(),
            "1000 rows read, 990 written, 10 rejected in 6.0s (reading 3.0s, writing 2.0s, \
             loading 1.0s; 164 rows/s; CPU 9.5s, peak memory 450 MiB)"
        );
        // Read as written (a dump of a live table): one phase, not shown.
        summary.reading_seconds = 0.0;
        summary.writing_seconds = 6.04;
        summary.loading_seconds = 0.0;
        assert_eq!(
            summary.line(),
            "1000 rows read, 990 written, 10 rejected in 6.0s (164 rows/s; CPU 9.5s, peak \
             memory 450 MiB)"
        );
    }

    #[test]
    fn the_peak_is_this_programs_own_high_water_mark() {
        let status =
            "Name:\tcassbulk\nVmPeak:\t 2000000 kB\nVmHWM:\t   78124 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(high_water_mark(status), Some(78_124 * 1024));
        assert_eq!(high_water_mark("Name: x\n"), None);
        let (_, peak) = resource_usage();
        assert!(peak > 0);
    }

    #[test]
    fn counts_are_shown_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_summary_reports_the_counters_and_the_rate() {
        let counters = Arc::new(Counters::default());
        let progress = Progress::start(counters.clone(), InputMeter::Unknown, true);
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
