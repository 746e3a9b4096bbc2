use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = tracer::cli::Cli::parse();
    match tracer::run(cli) {
        Ok(code) => code,
        Err(error) => {
            let (code, message) = tracer::error::describe(&error);
            eprintln!("tracer: {message}");
            ExitCode::from(code)
        }
    }
}
