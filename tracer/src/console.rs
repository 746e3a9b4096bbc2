//! The terminal, in one place: notes on stderr and whether to colour output. Every string that
//! reaches it may come from the traced system (process names, paths, labels), so notes are
//! escaped for the terminal; and a closed stream (`tracer ... 2>&1 | head -1`) is never a panic
//! that would stop cleanup (probes, namespaces, the run file).
use std::io::{IsTerminal as _, Write as _};

/// One line on stderr, control characters shown escaped; a closed stderr is ignored.
pub fn note(line: &str) {
    let line = crate::report::escape::terminal(line);
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Whether text written to standard output may be coloured: it is a terminal and `NO_COLOR`
/// (<https://no-color.org>) is unset or empty.
#[must_use]
pub fn stdout_wants_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes `text` to standard output; a closed pipe (`| head`) is the reader's choice, so only
/// other failures are returned.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error),
        _ => Ok(()),
    }
}

/// Text already made safe for a terminal (a rendered report) on stderr; a closed stderr is
/// ignored.
pub fn print_to_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
