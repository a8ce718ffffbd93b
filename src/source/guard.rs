//! Decoders never panic at the user. A panic inside a reader (ours, or a dependency's such as
//! arrow-rs meeting a damaged file) is caught where the input is decoded and becomes the error a
//! damaged file gets ([`Damaged`]): the input, where reading stopped, what the decoder said, and
//! the hint that the file is probably damaged. While a guarded call runs on a thread, a panic's
//! message is kept for that error instead of being printed with a backtrace; panics anywhere
//! else are printed as before.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use thiserror::Error;

use crate::exit::Classify;

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Wraps the process's panic hook once: panics on guarded threads are recorded, not printed.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let text = format!("{}{at}", payload_text(info.payload()));
                MESSAGE.with(|m| *m.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a decoder panicked".to_owned())
}

/// Runs `f` on this thread; a panic inside it comes back as `Err` with the panic's message
/// and where it was raised, and is not printed.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    result.map_err(|payload| {
        MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| payload_text(payload.as_ref()))
    })
}

/// An input a decoder could not get through: what a panic while reading it becomes.
#[derive(Debug, Error)]
#[error(
    "{input} is damaged: reading stopped {at} on data the decoder cannot handle ({message}); the file is probably corrupt or truncated: check it, or export it again"
)]
pub struct Damaged {
    pub input: String,
    /// Where reading stopped: "while opening it", "near byte 1234", "in row group 3".
    pub at: String,
    pub message: String,
}

impl Classify for Damaged {
    fn is_usage(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_guarded_call_is_an_error_with_its_message_and_place() {
        let caught = catch(|| -> u32 { panic!("Not all children array length are the same!") });
        let message = caught.unwrap_err();
        assert!(
            message
                .starts_with("Not all children array length are the same! at src/source/guard.rs:"),
            "{message}"
        );
        assert_eq!(catch(|| 7), Ok(7));
        // Unwrapping an error in a dependency is the usual shape.
        let message = catch(|| "x".parse::<i32>().unwrap()).unwrap_err();
        assert!(message.contains("ParseIntError"), "{message}");
    }

    #[test]
    fn a_damaged_input_says_where_and_that_the_file_is_at_fault() {
        let e = Damaged {
            input: "export/part-0.parquet".into(),
            at: "in row group 2".into(),
            message: "index out of bounds".into(),
        };
        assert_eq!(
            e.to_string(),
            "export/part-0.parquet is damaged: reading stopped in row group 2 on data the decoder \
             cannot handle (index out of bounds); the file is probably corrupt or truncated: \
             check it, or export it again"
        );
        assert!(!e.is_usage());
    }
}
