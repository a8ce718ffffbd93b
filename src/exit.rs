//! Exit codes, and the one question every error type answers to get one: is this the user's to
//! fix by changing the command (exit 2), or a failure (exit 3)? Each module's error type
//! implements [`Classify`] itself, so no caller matches another module's variants.
//! [`Classified`] carries any such error across a seam (a source, a sink) whose implementations
//! each bring their own error type.

use std::error::Error;
use std::fmt;

/// The exit code for data differences found by `verify`.
pub const EXIT_DIFFERENCES: u8 = 1;
/// The exit code for bad usage: wrong flags, names or missing files.
pub const EXIT_USAGE: u8 = 2;
/// The exit code for every other failure.
pub const EXIT_FAILURE: u8 = 3;

/// An error and its causes as one line, `outer: cause: cause`, each cause once: many messages
/// already quote their source (`cannot read FILE: SOURCE`), and a cause whose text is already in
/// the line adds nothing but noise.
pub fn message(err: &(dyn Error + 'static)) -> String {
    let mut out = String::new();
    let mut cause = Some(err);
    while let Some(e) = cause {
        let text = e.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cause = e.source();
    }
    out
}

/// What an error says about who must act.
pub trait Classify {
    /// Whether the user fixes this by changing the command (flags, names, files): exit 2.
    /// Everything else (damaged input, an unreachable cluster, a failed write) is a failure.
    fn is_usage(&self) -> bool;
}

/// Any classified error, boxed: what the source and sink seams return. Its message is the
/// inner error's, unchanged.
pub struct Classified {
    inner: Box<dyn Error + Send + Sync>,
    usage: bool,
}

impl Classified {
    /// Whether the inner error is the user's to fix.
    pub fn is_usage(&self) -> bool {
        self.usage
    }

    /// The inner error, to inspect a variant (tests, messages).
    pub fn inner(&self) -> &(dyn Error + Send + Sync + 'static) {
        self.inner.as_ref()
    }
}

// `Classified` is not itself `Classify`, so this does not overlap `From<T> for T`.
impl<E: Error + Classify + Send + Sync + 'static> From<E> for Classified {
    fn from(e: E) -> Classified {
        Classified {
            usage: e.is_usage(),
            inner: Box::new(e),
        }
    }
}

impl fmt::Debug for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl Error for Classified {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.inner.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read f.parquet: {source}")]
    struct Quoting {
        source: std::io::Error,
    }

    #[test]
    fn a_message_names_each_cause_once() {
        let quoting = Quoting {
            source: std::io::Error::other("bad page header"),
        };
        assert_eq!(message(&quoting), "cannot read f.parquet: bad page header");
        let wrapped = anyhow::Error::new(quoting).context("loading ks.t");
        assert_eq!(
            message(wrapped.as_ref()),
            "loading ks.t: cannot read f.parquet: bad page header"
        );
    }

    #[derive(Debug, thiserror::Error)]
    enum Demo {
        #[error("--flag is wrong")]
        Flag,
        #[error("the disk is full")]
        Disk,
    }

    impl Classify for Demo {
        fn is_usage(&self) -> bool {
            matches!(self, Demo::Flag)
        }
    }

    #[test]
    fn a_classified_error_keeps_its_message_and_its_class() {
        let usage = Classified::from(Demo::Flag);
        assert!(usage.is_usage());
        assert_eq!(usage.to_string(), "--flag is wrong");
        let failure = Classified::from(Demo::Disk);
        assert!(!failure.is_usage());
        assert_eq!(failure.to_string(), "the disk is full");
        assert!(matches!(failure.inner().downcast_ref(), Some(Demo::Disk)));
    }
}
