//! A fuzz harness on stable Rust for every reader of input: mutates real inputs (the fixtures)
//! with bit flips, byte overwrites, cuts, deletions, repeats and splices, and reads each mutant
//! through the whole source path in-process (`target.rs`). Inputs whose outcome is new (a new
//! error, with numbers stripped) join the corpus, a cheap stand-in for coverage feedback.
//!
//! A panic that escapes cassbulk, or a read that takes over 30 s, is a failure: the input is
//! saved and the run exits 1. A panic cassbulk caught and reported as a damaged file is saved
//! too (it is a clean error, but a dependency's bug worth a regression test).
//!
//! ```sh
//! cargo run --release --example fuzz -- READER [--minutes N] [--seed N] [--out DIR]
//! ```
//! READER: pg-custom, pg-directory, pg-plain, parquet, sstable-3x (Cassandra 3.x's `ma` to `me`)
//! or sstable-5 (`nb`, `oa`, BTI `da`). `--replay PATH` reads one saved input
//! once and prints the outcome and the time it took. Saved inputs go to
//! `DIR/READER/` (default `fuzz-out/`); check the interesting ones into `fixtures/fuzz/READER/`,
//! where `tests/fuzz_regressions.rs` reads every one.

mod target;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use target::{Outcome, Reader};

/// One input: its files, by name (one for a file, several for a directory archive).
type Input = Vec<(String, Vec<u8>)>;

const HANG: Duration = Duration::from_secs(30);
const MAX_CORPUS: usize = 1000;

/// The last panic's message, kept by the harness's hook instead of printed.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

fn load_seed(path: &Path) -> Input {
    if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                (
                    f.file_name().unwrap().to_str().unwrap().to_owned(),
                    std::fs::read(f).unwrap(),
                )
            })
            .collect()
    } else {
        vec![(String::new(), std::fs::read(path).unwrap())]
    }
}

/// Writes `input` where the reader expects it; returns the path to read.
fn write_input(reader: Reader, input: &Input, dir: &Path) -> PathBuf {
    let path = dir.join(reader.file_name());
    let _ = std::fs::remove_dir_all(&path);
    let _ = std::fs::remove_file(&path);
    if reader.is_folder() {
        std::fs::create_dir_all(&path).unwrap();
        for (name, bytes) in input {
            std::fs::write(path.join(name), bytes).unwrap();
        }
    } else {
        std::fs::write(&path, &input[0].1).unwrap();
    }
    path
}

/// One to three mutations of one of the input's files; `other` feeds splices.
fn mutate(rng: &mut StdRng, input: &mut Input, other: &[u8]) {
    let at = rng.random_range(0..input.len());
    let bytes = &mut input[at].1;
    for _ in 0..rng.random_range(1..=3) {
        let len = bytes.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=8).min(len - i);
                let value = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe][rng.random_range(0..6)];
                bytes[i..i + n].fill(value);
            }
            2 if len > 0 => bytes.truncate(rng.random_range(0..len)),
            3 if len > 1 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=64).min(len - i);
                bytes.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.random_range(0..len);
                let n = rng.random_range(1..=256).min(len - i);
                let copy = bytes[i..i + n].to_vec();
                let to = rng.random_range(0..=len);
                bytes.splice(to..to, copy);
            }
            5 if !other.is_empty() => {
                let i = rng.random_range(0..other.len());
                let n = rng.random_range(1..=512).min(other.len() - i);
                let to = rng.random_range(0..=len);
                bytes.splice(to..to, other[i..i + n].iter().copied());
            }
            _ if len > 0 => {
                let i = rng.random_range(0..len);
                bytes[i] = rng.random();
            }
            _ => bytes.push(rng.random()),
        }
    }
}

fn save(out: &Path, kind: &str, n: usize, reader: Reader, input: &Input) -> PathBuf {
    let dir = out.join(reader.name());
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{kind}-{n:04}"));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    write_input(reader, input, &path)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fuzz READER [--minutes N] [--seed N] [--out DIR]   (READER: pg-custom, pg-directory, pg-plain, parquet, sstable-3x, sstable-5)";
    let reader = args
        .first()
        .and_then(|r| Reader::parse(r))
        .unwrap_or_else(|| {
            eprintln!("{usage}");
            std::process::exit(2)
        });
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let minutes: f64 = flag("--minutes").map_or(1.0, |m| m.parse().expect("--minutes N"));
    let seed: u64 = flag("--seed").map_or_else(
        || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        },
        |s| s.parse().expect("--seed N"),
    );
    let out = PathBuf::from(flag("--out").unwrap_or_else(|| "fuzz-out".into()));
    if let Some(path) = flag("--replay") {
        // One saved input, read once: what it gives and how long it takes.
        let started = Instant::now();
        let outcome = target::read(reader, Path::new(&path));
        println!("{outcome:?} in {:.3} s", started.elapsed().as_secs_f64());
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        *PANIC.lock().unwrap() = Some(format!("{text}{at}"));
    }));

    let mut corpus: Vec<Input> = reader.seeds().iter().map(|p| load_seed(p)).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let work = tempfile::tempdir().unwrap();
    let mut signatures = HashSet::new();
    let (mut execs, mut escaped, mut caught) = (0u64, 0usize, 0usize);
    let mut outcomes = std::collections::BTreeMap::<&str, u64>::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(minutes * 60.0);
    let mut last_report = Instant::now();
    eprintln!(
        "fuzz {}: {} seed input(s), seed {seed}, {minutes} min",
        reader.name(),
        corpus.len()
    );
    while Instant::now() < deadline {
        let mut input = corpus[rng.random_range(0..corpus.len())].clone();
        let donor = &corpus[rng.random_range(0..corpus.len())];
        let other = donor[rng.random_range(0..donor.len())].1.clone();
        mutate(&mut rng, &mut input, &other);
        let path = write_input(reader, &input, work.path());
        let (tx, rx) = mpsc::channel();
        let worker = std::thread::spawn(move || {
            let result = std::panic::catch_unwind(|| target::read(reader, &path));
            let _ = tx.send(result);
        });
        let result = match rx.recv_timeout(HANG) {
            Ok(result) => result,
            Err(_) => {
                let saved = save(&out, "hang", execs as usize, reader, &input);
                eprintln!(
                    "HANG: reading took over {HANG:?}; input saved as {}",
                    saved.display()
                );
                std::process::exit(1);
            }
        };
        let _ = worker.join();
        execs += 1;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(_) => {
                escaped += 1;
                let message = PANIC.lock().unwrap().take().unwrap_or_default();
                let saved = save(&out, "panic", escaped, reader, &input);
                eprintln!(
                    "PANIC escaped: {message}\n  input saved as {}",
                    saved.display()
                );
                continue;
            }
        };
        *outcomes
            .entry(match &outcome {
                Outcome::Read(_) => "read",
                Outcome::Refused(_) => "refused",
                Outcome::Damaged(_) => "damaged",
            })
            .or_default() += 1;
        if let Outcome::Damaged(message) = &outcome
            && signatures.insert(outcome.signature())
        {
            caught += 1;
            let saved = save(&out, "caught", caught, reader, &input);
            eprintln!(
                "caught a decoder panic: {message}\n  input saved as {}",
                saved.display()
            );
        }
        if signatures.insert(outcome.signature()) && corpus.len() < MAX_CORPUS {
            corpus.push(input);
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "{:>6.0}s  {execs} execs ({:.0}/s), corpus {}, outcomes {outcomes:?}, escaped panics {escaped}",
                started.elapsed().as_secs_f64(),
                execs as f64 / started.elapsed().as_secs_f64(),
                corpus.len()
            );
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "fuzz {}: {execs} executions in {seconds:.0} s ({:.0}/s), corpus {} inputs ({} distinct outcomes), outcomes {outcomes:?}, escaped panics {escaped}, caught decoder panics {caught}, hangs 0",
        reader.name(),
        execs as f64 / seconds,
        corpus.len(),
        signatures.len()
    );
    if escaped > 0 {
        std::process::exit(1);
    }
}
