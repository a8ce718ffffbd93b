//! The `cassbulk` binary: parse the command line, run it, map errors to exit codes.
//! Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cassbulk::app::{self, UsageError};
use cassbulk::cli::Cli;
use cassbulk::exit::{self, EXIT_FAILURE, EXIT_USAGE};

/// mimalloc: rows are millions of small allocations made on decoding threads and freed on the
/// builder's and the writers' threads, the case glibc's malloc handles worst (a third of the
/// Parquet decode stage's time was malloc and free; see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // What still uses glibc's malloc (the C compression libraries) gets two arenas: per-thread
    // arenas rarely return their memory, which would inflate RSS past --memory-limit.
    // SAFETY: mallopt only adjusts allocator parameters, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();

    match app::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("cassbulk: {}", exit::message(err.as_ref()));
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
    }
}
