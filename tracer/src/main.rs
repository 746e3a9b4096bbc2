use std::{io::Write as _, process::ExitCode};

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = tracer::cli::Cli::parse();
    match tracer::run(cli) {
        Ok(code) => code,
        Err(error) => {
            let (code, message) = tracer::error::describe(&error);
            // Not eprintln!: it panics when stderr is a closed pipe, hiding the exit code.
            // Messages quote names and paths from the traced system: never raw to a terminal.
            let message = tracer::report::escape::terminal(&message);
            let _ = writeln!(std::io::stderr(), "tracer: {message}");
            ExitCode::from(code)
        }
    }
}
