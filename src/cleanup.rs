//! What to remove when the user presses Ctrl-C: the partition builder's spill folders and the
//! SSTable folders being written. Each registers its path for as long as it is temporary
//! ([`Registered`]); the handler ([`install_interrupt_cleanup`]) removes every path still
//! registered and exits with 130.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Installs the Ctrl-C handler that removes every registered path, then exits with 130.
pub fn install_interrupt_cleanup() {
    let _ = ctrlc::set_handler(|| {
        for path in PATHS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = std::fs::remove_dir_all(path);
        }
        eprintln!("cassbulk: interrupted; temporary files removed");
        std::process::exit(130);
    });
}

/// A path removed on Ctrl-C while this lives (dropping it only unregisters the path).
#[derive(Debug)]
pub struct Registered {
    path: PathBuf,
}

impl Registered {
    pub fn new(path: &Path) -> Registered {
        PATHS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(path.to_owned());
        Registered {
            path: path.to_owned(),
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut paths = PATHS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = paths.iter().position(|p| *p == self.path) {
            paths.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_registered_while_its_guard_lives() {
        let path = Path::new("/tmp/cassbulk-cleanup-test");
        let count = || {
            PATHS
                .lock()
                .unwrap()
                .iter()
                .filter(|p| p.as_path() == path)
                .count()
        };
        let guard = Registered::new(path);
        assert_eq!(count(), 1);
        drop(guard);
        assert_eq!(count(), 0);
    }
}
