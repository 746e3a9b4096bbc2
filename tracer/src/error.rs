//! Expected failures: one sentence for the user (what is wrong, what to do) and a distinct exit
//! code per kind, so scripts can tell them apart. Anything else is exit code 1.
use std::{fmt, io::Write as _};

/// Kinds of expected failure, each with its own exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed command line or option value (clap also uses 2).
    Usage,
    /// A PID, cgroup, container or pod that does not exist.
    TargetNotFound,
    /// Not root and missing `CAP_BPF/CAP_PERFMON`, or a file we may not read.
    Permission,
    /// The kernel lacks what was asked for (BTF, an attach mechanism, tracefs).
    KernelUnsupported,
    /// The output file or folder cannot be written.
    Output,
    /// An input file (run file, load-generator JSON) is missing, damaged or of the wrong kind.
    BadInput,
    /// `--pid` targets all exited before `--duration` elapsed; the shorter run was written.
    EndedEarly,
    /// A limit was reached (e.g. too many recordings at once).
    Busy,
}

impl ErrorKind {
    /// The process exit code for this kind.
    #[must_use]
    pub const fn exit_code(self) -> u8 {
        match self {
            Self::Usage => 2,
            Self::TargetNotFound => 3,
            Self::Permission => 4,
            Self::KernelUnsupported => 5,
            Self::Output => 6,
            Self::BadInput => 7,
            Self::EndedEarly => 8,
            Self::Busy => 9,
        }
    }
}

/// An expected failure with the sentence to show the user.
#[derive(Debug)]
pub struct UserError {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Builds an `anyhow::Error` carrying a [`UserError`].
pub fn user(kind: ErrorKind, message: impl Into<String>) -> anyhow::Error {
    UserError {
        kind,
        message: message.into(),
    }
    .into()
}

/// How a program of this workspace (`tracer`, `tracer-demo`) ends: the exit code of a command
/// that ran, or the error's one sentence on stderr after `program: ` and its exit code.
#[must_use]
pub fn exit(
    program: &str,
    result: anyhow::Result<std::process::ExitCode>,
) -> std::process::ExitCode {
    let error = match result {
        Ok(code) => return code,
        Err(error) => error,
    };
    let (code, message) = describe(&error);
    // Not eprintln!: it panics when stderr is a closed pipe, hiding the exit code.
    // Messages quote names and paths from the traced system: never raw to a terminal.
    let message = crate::report::escape::terminal(&message);
    let _ = writeln!(std::io::stderr(), "{program}: {message}");
    std::process::ExitCode::from(code)
}

/// Exit code and message for any error that reached `main`.
#[must_use]
pub fn describe(error: &anyhow::Error) -> (u8, String) {
    if let Some(user) = error.downcast_ref::<UserError>() {
        return (user.kind.exit_code(), user.message.clone());
    }
    if let Some(read) = error.downcast_ref::<crate::run::ReadError>() {
        return (ErrorKind::BadInput.exit_code(), read.to_string());
    }
    (1, format!("{error:#}"))
}
