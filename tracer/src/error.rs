//! Expected failures: one sentence for the user (what is wrong, what to do) and a distinct exit
//! code per kind, so scripts can tell them apart. Anything else is exit code 1.
//!
//! `record -- CMD` ends with CMD's own exit status, as `strace` and `time` do, so the codes
//! above could be CMD's too. There tracer keeps the convention of `env`, `timeout` and
//! `nice` (POSIX's for `env`): 125 for a failure of tracer itself, 126 when CMD was found but
//! cannot be run, 127 when it was not found; a CMD killed by signal N gives 128 + N, as in a
//! shell. Each still prints its one sentence on stderr, and a run file exists only if the
//! recording ended well.
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
    /// An error only with `record --strict` (else a warning).
    EndedEarly,
    /// A limit was reached (e.g. too many recordings at once).
    Busy,
    /// A `compare --fail-if` gate failed; the reports were written.
    GateFailed,
    /// `record -- CMD`: CMD was found but cannot be executed (permissions, not a program).
    CannotExecute,
    /// `record -- CMD`: CMD was not found.
    CommandNotFound,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [Self; 11] = [
        Self::Usage,
        Self::TargetNotFound,
        Self::Permission,
        Self::KernelUnsupported,
        Self::Output,
        Self::BadInput,
        Self::EndedEarly,
        Self::Busy,
        Self::GateFailed,
        Self::CannotExecute,
        Self::CommandNotFound,
    ];

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
            Self::GateFailed => 10,
            Self::CannotExecute => 126,
            Self::CommandNotFound => 127,
        }
    }
}

/// Exit code of a failure of tracer itself while it runs a command (`record -- CMD`), as
/// `env` and `timeout` use: it cannot be mistaken for CMD's own status (see the module docs).
pub const COMMAND_MODE_FAILURE: u8 = 125;

/// Every exit code, for `--help` and the man page (generated from the same text).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (also when every --pid target exited before --duration: a warning, the
       shorter run is written; `record --strict` makes that 8)
  1    unexpected internal error
  2    bad usage: a malformed command line or option value
  3    target not found (PID, pod, container, cgroup)
  4    permission: not root and no CAP_BPF/CAP_PERFMON, or a file that may not be read
  5    the kernel lacks what was asked (BTF, an attach mechanism, tracefs)
  6    the output cannot be written
  7    bad input file (run file, load-generator JSON)
  8    `record --strict`: every --pid target exited before --duration (run written)
  9    busy: a limit was reached (e.g. recordings at once)
  10   `compare --fail-if`: a gate failed (reports written)
`record -- CMD` ends with CMD's exit status (128+N if signal N killed it), and then tracer's
own failures are 125 (whatever their kind; the message says which), 126 (CMD cannot be
executed) and 127 (CMD not found), as with env and timeout. When --duration or a signal ends
the recording before CMD ends, CMD is left to run and tracer exits as without one.";

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

/// How `record -- CMD` ends on an error: as [`exit`], but with a code that cannot be CMD's
/// own status ([`COMMAND_MODE_FAILURE`], 126 or 127).
#[must_use]
pub fn exit_running_command(
    program: &str,
    result: anyhow::Result<std::process::ExitCode>,
) -> std::process::ExitCode {
    let error = match result {
        Ok(code) => return code,
        Err(error) => error,
    };
    let (code, message) = describe(&error);
    let message = crate::report::escape::terminal(&message);
    let _ = writeln!(std::io::stderr(), "{program}: {message}");
    std::process::ExitCode::from(command_mode_code(code))
}

/// The exit code of a failure while running a command: 126 and 127 as they are, any other
/// [`COMMAND_MODE_FAILURE`].
#[must_use]
pub const fn command_mode_code(code: u8) -> u8 {
    match code {
        126 | 127 => code,
        _ => COMMAND_MODE_FAILURE,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `--help` and the man page list every code a kind can end with, each once.
    #[test]
    fn every_exit_code_is_documented() {
        let documented = |code: u8| {
            EXIT_CODES_HELP
                .lines()
                .filter(|line| line.starts_with(&format!("  {code} ")))
                .count()
        };
        for kind in ErrorKind::ALL {
            let code = kind.exit_code();
            if code < 100 {
                assert_eq!(documented(code), 1, "{kind:?} ({code})");
            } else {
                assert!(EXIT_CODES_HELP.contains(&format!("{code} (")), "{kind:?}");
            }
        }
        assert!(EXIT_CODES_HELP.contains("125 ("));
        let codes: std::collections::BTreeSet<u8> =
            ErrorKind::ALL.iter().map(|k| k.exit_code()).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len(), "distinct codes");
    }

    #[test]
    fn tracers_own_failures_running_a_command_are_125_126_or_127() {
        for kind in ErrorKind::ALL {
            let code = command_mode_code(kind.exit_code());
            assert!((125..=127).contains(&code), "{kind:?}");
        }
        assert_eq!(
            command_mode_code(ErrorKind::CommandNotFound.exit_code()),
            127
        );
        assert_eq!(command_mode_code(ErrorKind::CannotExecute.exit_code()), 126);
        assert_eq!(command_mode_code(1), 125);
    }
}
