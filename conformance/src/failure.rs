//! How a check ends when it does not pass: [`Failure`], with the clause it cites.

use std::fmt;

/// Why a check did not pass: it failed against a SPEC.md clause, or it could not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The implementation broke the clause `clause`; `message` says what was observed.
    Failed {
        /// The SPEC.md clause id, e.g. `DEP-1`.
        clause: &'static str,
        /// What was expected and what was observed.
        message: String,
    },
    /// The check does not apply (a capability is absent, or the setup it needs is impossible).
    Skipped {
        /// Why it does not apply.
        reason: String,
    },
}

impl Failure {
    /// A failure of `clause`.
    pub fn failed(clause: &'static str, message: impl Into<String>) -> Self {
        Failure::Failed {
            clause,
            message: message.into(),
        }
    }

    /// A skip with `reason`.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Failure::Skipped {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Failed { clause, message } => write!(f, "{clause}: {message}"),
            Failure::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

/// The result of one check.
pub type CheckResult = Result<(), Failure>;

/// Fails the check with `clause` unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $clause:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::failure::Failure::failed($clause, format!($($fmt)+)));
        }
    };
}

/// Fails the check with `clause` now.
macro_rules! fail {
    ($clause:expr, $($fmt:tt)+) => {
        return Err($crate::failure::Failure::failed($clause, format!($($fmt)+)))
    };
}

pub(crate) use {ensure, fail};

/// Turns an unexpected provider error into a failure of `clause`.
pub(crate) trait OrFail<T> {
    /// `Ok` passes through; an error fails `clause`, naming `what` was being done.
    fn or_fail(self, clause: &'static str, what: &str) -> Result<T, Failure>;
}

impl<T, E: fmt::Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, clause: &'static str, what: &str) -> Result<T, Failure> {
        self.map_err(|e| Failure::failed(clause, format!("{what} failed: {e}")))
    }
}
