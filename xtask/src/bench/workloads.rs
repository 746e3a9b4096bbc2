//! The bench's workloads: the loops of `tracer-demo workload timed`, how long each runs for a
//! tool, and the result line each writes (`writes=W reads=R rounds=N wall_ns=T cpu_ns=C`, made
//! in tracer-demo's `workload/timed.rs` and read here by name).
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};

use super::tools::Tool;

/// Bytes per write and per read of the socketpair loop.
const PAYLOAD_BYTES: usize = 100;
/// The HTTP service's header block, written with one write(2) before the body.
const HTTP_HEAD_BYTES: usize = 180;
/// The HTTP service's body, written with a second write(2).
const HTTP_BODY_BYTES: usize = 178;

/// The loops the bench times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadKind {
    /// write+read of 100 B over a Unix socketpair, one thread.
    Socketpair,
    /// HTTP/1.1 keep-alive over TCP loopback, a client and a server thread.
    Http,
}

impl WorkloadKind {
    /// Its name on the command line and in file names.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Socketpair => "socketpair",
            Self::Http => "http",
        }
    }

    pub(super) fn title(self) -> &'static str {
        match self {
            Self::Socketpair => "Socketpair loop",
            Self::Http => "HTTP keep-alive",
        }
    }

    /// What one round of its loop is called in the report.
    pub(super) fn round_name(self) -> &'static str {
        match self {
            Self::Socketpair => "iterations",
            Self::Http => "requests",
        }
    }

    /// The report's one sentence on what the loop does and what is timed.
    pub(super) fn description(self) -> String {
        match self {
            Self::Socketpair => format!(
                "write + read of {PAYLOAD_BYTES} B over a Unix socketpair in a loop in one \
                 thread, timed by the workload itself in wall time and in that thread's on-CPU \
                 time."
            ),
            Self::Http => format!(
                "HTTP/1.1 keep-alive over TCP loopback (TCP_NODELAY) between two threads of one \
                 process, pinned to one CPU, with the demo's service and client code: the client \
                 writes a GET and reads until it has the response (1 or 2 reads), the server \
                 reads the request with one read and answers with two writes ({HTTP_HEAD_BYTES} B \
                 of headers, then a {HTTP_BODY_BYTES} B body); the loop's wall time and the \
                 process's on-CPU time (both threads) are timed, and the syscalls are those the \
                 workload counted."
            ),
        }
    }
}

/// A workload of this bench run and the length of its loop.
#[derive(Debug, Clone, Copy)]
pub(super) struct Workload {
    pub(super) kind: WorkloadKind,
    pub(super) rounds: u64,
    /// Rounds for the tools that are far slower per syscall (strace).
    pub(super) short_rounds: u64,
}

impl Workload {
    pub(super) fn rounds_for(&self, tool: &Tool) -> u64 {
        if tool.short {
            self.short_rounds
        } else {
            self.rounds
        }
    }
}

/// `tracer-demo workload timed` running `rounds` of `kind`'s loop, writing its result line to
/// `result`; `tracer_demo` is the binary.
pub(super) fn command_line(
    tracer_demo: &Path,
    kind: WorkloadKind,
    rounds: u64,
    result: &Path,
) -> Vec<OsString> {
    let mut line = vec![tracer_demo.as_os_str().to_owned()];
    line.extend(
        [
            "workload",
            "timed",
            "--kind",
            kind.name(),
            "--rounds",
            &rounds.to_string(),
            "--result",
        ]
        .map(OsString::from),
    );
    line.push(result.as_os_str().to_owned());
    line
}

/// What a workload's timed loop did, as it tells the bench in its result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LoopResult {
    /// write(2) calls the loop made (all its threads).
    pub(super) writes: u64,
    /// read(2) calls the loop made (all its threads).
    pub(super) reads: u64,
    /// Iterations (socketpair) or requests (http).
    pub(super) rounds: u64,
    pub(super) wall: Duration,
    /// On-CPU time of the thread (socketpair) or the process (http).
    pub(super) cpu: Duration,
}

impl LoopResult {
    pub(super) fn syscalls(&self) -> u64 {
        self.writes + self.reads
    }

    /// Reads `writes=N reads=N rounds=N wall_ns=N cpu_ns=N` by name, so a field cannot be
    /// misread.
    pub(super) fn parse(text: &str) -> anyhow::Result<Self> {
        let field = |name: &str| -> anyhow::Result<u64> {
            let value = text
                .split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .ok_or_else(|| anyhow!("the workload result {text:?} has no {name}="))?;
            value
                .parse()
                .with_context(|| format!("the workload result's {name} is not a count: {text:?}"))
        };
        let result = Self {
            writes: field("writes")?,
            reads: field("reads")?,
            rounds: field("rounds")?,
            wall: Duration::from_nanos(field("wall_ns")?),
            cpu: Duration::from_nanos(field("cpu_ns")?),
        };
        if result.syscalls() == 0 || result.rounds == 0 {
            bail!("the workload result {text:?} counts no syscalls or no rounds");
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_names_are_the_command_line_values() {
        use clap::ValueEnum as _;
        for kind in WorkloadKind::value_variants() {
            assert_eq!(
                WorkloadKind::from_str(kind.name(), false),
                Ok(*kind),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn slow_tools_run_the_short_loop() {
        let workload = Workload {
            kind: WorkloadKind::Http,
            rounds: 20_000,
            short_rounds: 2_000,
        };
        let fast = Tool::for_test("fast");
        let slow = Tool {
            short: true,
            ..Tool::for_test("slow")
        };
        assert_eq!(workload.rounds_for(&fast), 20_000);
        assert_eq!(workload.rounds_for(&slow), 2_000);
    }
}
