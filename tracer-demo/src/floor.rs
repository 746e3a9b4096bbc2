//! `tracer-demo floor` (hidden): empty programs on the syscall tracepoints until SIGINT or
//! SIGTERM. `cargo xtask bench` runs it beside its workloads: what any syscall-tracepoint tracer
//! costs every process on the machine before its first instruction, the floor under tracer's own
//! cost for processes it does not trace.
use std::process::ExitCode;

/// Printed on stderr once the programs are attached.
pub const READY_LINE: &str =
    "tracer-demo floor: recording nothing, with empty programs on sys_enter/sys_exit";

pub fn run() -> anyhow::Result<ExitCode> {
    let probes = tracer::probe::EmptyProbes::attach(None)?;
    crate::workload::wait_for_signal(&[libc::SIGINT, libc::SIGTERM], || {
        note_line!("{READY_LINE}");
    })?;
    drop(probes);
    Ok(ExitCode::SUCCESS)
}
