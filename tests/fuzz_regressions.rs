//! Every input the fuzz harness (`examples/fuzz`) kept, checked in under `fixtures/fuzz/READER/`,
//! read through the whole source path: each ends, within a minute, with a clean outcome (read,
//! refused, or reported as damaged), never a panic.

#[path = "../examples/fuzz/target.rs"]
mod target;

use std::path::Path;
use std::time::Duration;

use target::{Outcome, READERS};

#[test]
fn every_input_the_fuzzer_kept_ends_cleanly_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz");
    let mut checked = 0;
    for reader in READERS {
        let Ok(entries) = std::fs::read_dir(root.join(reader.name())) else {
            continue;
        };
        for entry in entries {
            let case = entry.unwrap().path();
            if !case.is_dir() {
                continue;
            }
            let input = case.join(reader.file_name());
            let (tx, rx) = std::sync::mpsc::channel();
            let path = input.clone();
            std::thread::spawn(move || {
                let _ = tx.send(std::panic::catch_unwind(|| target::read(reader, &path)));
            });
            let outcome = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("{}: still reading after 60 s", input.display()))
                .unwrap_or_else(|_| panic!("{}: a panic escaped", input.display()));
            if let Outcome::Damaged(message) = &outcome {
                assert!(message.contains(input.to_str().unwrap()), "{message}");
            }
            checked += 1;
        }
    }
    eprintln!("{checked} fuzz inputs checked");
}
