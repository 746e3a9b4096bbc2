//! `tracer-demo gate -- CMD...` (hidden): hold a PID until "go", then become CMD.
//!
//! The recorder must be attached before the load generator's first request, but a real load
//! generator such as oha starts sending as soon as it starts. The gate prints
//! [`WAITING_LINE`], waits for a line on stdin, then `exec`s the command in place - same PID,
//! so the recorder, attached to the gate's PID, sees every syscall the command makes.
use std::{ffi::OsString, io::BufRead as _, os::unix::process::CommandExt as _, process::ExitCode};

/// Printed on stdout once the gate waits for "go".
pub const WAITING_LINE: &str = "tracer-demo: gate waiting";

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// The command to run after "go".
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

pub fn run(args: &GateArgs) -> anyhow::Result<ExitCode> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(tracer::error::user(
            tracer::error::ErrorKind::Usage,
            "give the command to run after --",
        ));
    };
    println!("{WAITING_LINE}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    // exec only returns on failure.
    let error = std::process::Command::new(program).args(rest).exec();
    Err(tracer::error::user(
        tracer::error::ErrorKind::TargetNotFound,
        format!("cannot run {}: {error}", program.to_string_lossy()),
    ))
}
