//! The report's rows: what each tool is, how it is put on the workload (it starts it, or
//! attaches to its PID), and how its output gives the loop's counts, which prove it was
//! attached while the loop ran.
use std::ffi::OsString;
use std::ops::RangeInclusive;
use std::path::Path;

use anyhow::anyhow;

use super::BenchArgs;
use crate::cmd;

/// How a tool is put on the workload.
#[derive(Debug, Clone)]
pub(super) enum Attach {
    /// No tool: the baseline.
    Untraced,
    /// The tool starts the workload: its arguments, then the workload's command line.
    Wraps(Vec<OsString>),
    /// The tool attaches to the running workload: its arguments with `{pid}` and `{out}`
    /// replaced; it is ready when a line of its output contains `ready_marker`, and is stopped
    /// with SIGINT.
    ToPid {
        args: Vec<OsString>,
        ready_marker: String,
    },
}

/// How a tool's output gives the number of calls of a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counts {
    /// One count for the whole process, somewhere on a line naming the syscall.
    PerProcess,
    /// A table per thread whose lines start with the syscall's name and its count (perf trace
    /// -s): the process's count is their sum.
    PerThread,
}

impl Counts {
    /// How many of the `expected` calls of `syscall` the output reports, or None when it is not
    /// a plausible count of the loop (see `plausible`).
    pub(super) fn loop_count(self, output: &str, syscall: &str, expected: u64) -> Option<u64> {
        match self {
            Self::PerProcess => loop_count(output, syscall, expected),
            Self::PerThread => Some(summed_thread_count(output, syscall))
                .filter(|count| plausible(expected).contains(count)),
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct Tool {
    pub(super) name: String,
    /// What it does, in words, for the report.
    pub(super) what: String,
    pub(super) attach: Attach,
    /// It runs the workloads' shorter loops (strace: far slower per syscall).
    pub(super) short: bool,
    /// Its output has per-syscall counts: they are checked to cover the whole loop, which
    /// proves the tool was attached while the workload was timed.
    pub(super) counts: Option<Counts>,
    /// It is tracer: its collector's CPU and peak memory are read from /proc while the loop
    /// runs, and its run file's loss counters afterwards.
    pub(super) collector: bool,
}

/// `tracer record --pid N -o FILE [record_options]`, given the tracer's command line (for
/// example `["target/release/tracer"]`): it prints a line containing `ready_marker` (normally
/// "tracer: recording") to stderr once attached, and stops and writes the run file on SIGINT.
pub fn tracer_record(
    tracer_command_line: &[OsString],
    record_options: &[OsString],
    ready_marker: &str,
) -> Tool {
    let mut args = tracer_command_line.to_vec();
    args.extend(["record", "--pid", "{pid}", "-o", "{out}"].map(OsString::from));
    args.extend(record_options.iter().cloned());
    let options: Vec<_> = record_options
        .iter()
        .map(|option| option.to_string_lossy())
        .collect();
    Tool {
        name: if options.is_empty() {
            "tracer record".into()
        } else {
            format!("tracer record {}", options.join(" "))
        },
        what: "tracer's probes, per-PID/syscall/fd counts and histograms".into(),
        attach: Attach::ToPid {
            args,
            ready_marker: ready_marker.to_owned(),
        },
        short: false,
        // Its summary on stdout has a line per syscall with the count ("read  50,000 ...").
        counts: Some(Counts::PerProcess),
        collector: true,
    }
}

/// Every row the command line asks for; `tracer_demo` runs the kernel-floor row.
pub(super) fn tools(args: &BenchArgs, tracer_demo: &Path) -> anyhow::Result<Vec<Tool>> {
    let os = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
    let bpftrace = |script: &str| {
        let mut words = os(&["bpftrace", "-e"]);
        words.push(format!("BEGIN {{ printf(\"bench: ready\\n\"); }} {script}").into());
        words
    };
    let tool = |name: &str, what: &str, attach: Attach, counts: Option<Counts>| Tool {
        name: name.into(),
        what: what.into(),
        attach,
        short: false,
        counts,
        collector: false,
    };
    let mut tools = vec![
        tool("no tracer", "baseline", Attach::Untraced, None),
        tool(
            "bpftrace, empty probes",
            "sys_enter/sys_exit tracepoints of write and read, empty body, all processes",
            Attach::ToPid {
                args: bpftrace(
                    "tracepoint:syscalls:sys_enter_write, tracepoint:syscalls:sys_exit_write, \
                     tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_exit_read { }",
                ),
                ready_marker: "bench: ready".into(),
            },
            None,
        ),
        tool(
            "bpftrace, count + size histogram",
            "sys_exit of write and read, filtered by PID, count and hist(ret) per PID",
            Attach::ToPid {
                args: bpftrace(
                    "tracepoint:syscalls:sys_exit_write, tracepoint:syscalls:sys_exit_read \
                     /pid == {pid}/ { @calls[pid, probe] = count(); \
                     @bytes[pid, probe] = hist(args->ret); }",
                ),
                ready_marker: "bench: ready".into(),
            },
            Some(Counts::PerProcess),
        ),
        tool(
            "syscount -L",
            "libbpf-tools, -p PID: counts and latency of every syscall of the process",
            Attach::ToPid {
                // stdbuf: syscount announces it is attached with printf, which a pipe would buffer.
                args: os(&["stdbuf", "-oL", syscount()?, "-L", "-p", "{pid}"]),
                ready_marker: "Tracing syscalls".into(),
            },
            Some(Counts::PerProcess),
        ),
        Tool {
            short: true,
            ..tool(
                "perf trace -s",
                "runs the command; every syscall is an event read by perf from a ring buffer, \
                 summarised per thread",
                Attach::Wraps(os(&["perf", "trace", "-s", "-o", "{out}", "--"])),
                Some(Counts::PerThread),
            )
        },
        Tool {
            short: true,
            ..tool(
                "strace -c -f",
                "runs the command; a ptrace stop at every syscall, summarised per syscall",
                Attach::Wraps(os(&["strace", "-c", "-f", "-o", "{out}", "--"])),
                Some(Counts::PerProcess),
            )
        },
    ];
    if !args.no_tracer {
        tools.extend(tracer_tools(args, tracer_demo, tool)?);
    }
    Ok(tools)
}

/// The row of tracer recording another process while the workload runs.
pub(super) const UNTARGETED_ROW: &str = "tracer record, workload untargeted";
/// What `tracer-demo floor` prints on stderr once its empty programs are attached (the start
/// of tracer-demo's `floor::READY_LINE`).
const FLOOR_READY: &str = "tracer-demo floor: recording nothing";
/// The row of empty programs on the syscall tracepoints.
pub(super) const FLOOR_ROW: &str = "empty tp_btf programs (kernel floor)";

/// tracer's rows: each attach mechanism asked for, tracer recording someone else while the
/// workload runs, and the kernel's floor under that. `tool` makes a row with defaults.
fn tracer_tools(
    args: &BenchArgs,
    tracer_demo: &Path,
    tool: impl Fn(&str, &str, Attach, Option<Counts>) -> Tool,
) -> anyhow::Result<Vec<Tool>> {
    let mut tools = Vec::new();
    let binary = crate::tracer::build(crate::tracer::TRACER)?;
    for probe in &args.tracer_probes {
        tools.push(tracer_record(
            &[binary.clone().into_os_string()],
            &["--probe".into(), probe.into()],
            &args.tracer_ready,
        ));
    }
    // The same as `--probe auto` with the waiting/on-CPU split (`--waiting-split`: the
    // scheduler probe, waiting and on-CPU histograms): the split's cost is this row minus
    // the auto one.
    tools.push(tracer_record(
        &[binary.clone().into_os_string()],
        &["--probe".into(), "auto".into(), "--waiting-split".into()],
        &args.tracer_ready,
    ));
    // What everything else on the machine pays while tracer records someone else: the
    // workload is not a target (tracer traces PID 1), but every syscall still passes the
    // probes' first checks.
    tools.push(Tool {
        collector: true,
        ..tool(
            UNTARGETED_ROW,
            "tracer --probe auto recording PID 1 while the workload runs untraced",
            Attach::ToPid {
                args: vec![
                    binary.clone().into_os_string(),
                    "record".into(),
                    "--pid".into(),
                    "1".into(),
                    "-o".into(),
                    "{out}".into(),
                ],
                ready_marker: args.tracer_ready.clone(),
            },
            None,
        )
    });
    // The kernel's part of that: empty programs on the same tracepoints. What tracer adds
    // for untargeted processes is the row above minus this one.
    tools.push(tool(
        FLOOR_ROW,
        "`tracer-demo floor`: empty programs on sys_enter/sys_exit, what any syscall-tracepoint \
         tracer costs every process on the machine before its first instruction",
        Attach::ToPid {
            args: vec![tracer_demo.as_os_str().to_owned(), "floor".into()],
            ready_marker: FLOOR_READY.into(),
        },
        None,
    ));
    Ok(tools)
}

/// libbpf-tools installs `syscount`; BCC's tools are named `syscount-bpfcc`.
fn syscount() -> anyhow::Result<&'static str> {
    ["syscount", "syscount-bpfcc"]
        .into_iter()
        .find(|name| cmd::on_path(name).is_some())
        .ok_or_else(|| anyhow!("syscount is missing; run `cargo xtask setup` (libbpf-tools)"))
}

/// The counts that can be the loop's `expected` calls of a syscall: at least half of them
/// (fewer means the tool was not attached while the loop ran; a few lost events are a finding,
/// not a failure) and at most the loop plus the calls a process makes while starting up.
fn plausible(expected: u64) -> RangeInclusive<u64> {
    expected / 2..=expected + 100
}

/// How many of the loop's `expected` calls of `syscall` a tool's `output` reports: the largest
/// plausible whole number on a line naming the syscall (as a word, or as the end of a probe name
/// such as `sys_exit_write`).
fn loop_count(output: &str, syscall: &str, expected: u64) -> Option<u64> {
    output
        .lines()
        .filter_map(|line| {
            let line = without_thousands_separators(line);
            let words: Vec<&str> = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .filter(|word| !word.is_empty())
                .collect();
            let names_it = words
                .iter()
                .any(|word| *word == syscall || word.ends_with(&format!("_{syscall}")));
            if !names_it {
                return None;
            }
            words
                .iter()
                .filter_map(|word| word.parse::<u64>().ok())
                .filter(|count| plausible(expected).contains(count))
                .max()
        })
        .max()
}

/// The calls of `syscall` over all threads' tables of `perf trace -s`, whose rows read
/// "syscall calls errors total min avg max stddev".
fn summed_thread_count(output: &str, syscall: &str) -> u64 {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != syscall {
                return None;
            }
            words.next()?.parse::<u64>().ok()
        })
        .sum()
}

/// "50,000" -> "50000": a comma between two digits groups thousands.
fn without_thousands_separators(line: &str) -> String {
    let characters: Vec<char> = line.chars().collect();
    characters
        .iter()
        .enumerate()
        .filter(|&(index, &character)| {
            let between_digits = index > 0
                && characters[index - 1].is_ascii_digit()
                && characters.get(index + 1).is_some_and(char::is_ascii_digit);
            !(character == ',' && between_digits)
        })
        .map(|(_, &character)| character)
        .collect()
}

#[cfg(test)]
impl Tool {
    /// A row with nothing attached, for tests.
    pub(super) fn for_test(name: &str) -> Self {
        Self {
            name: name.into(),
            what: format!("{name} does things"),
            attach: Attach::Untraced,
            short: false,
            counts: None,
            collector: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracer_hook_records_the_workload_pid() {
        let tool = tracer_record(
            &[OsString::from("/bin/tracer")],
            &["--probe".into(), "fentry".into()],
            "tracer: recording",
        );
        assert_eq!(tool.name, "tracer record --probe fentry");
        assert!(tool.collector, "tracer's own cost is measured");
        assert_eq!(tool.counts, Some(Counts::PerProcess));
        let Attach::ToPid { args, ready_marker } = tool.attach else {
            panic!("tracer attaches to a PID");
        };
        assert_eq!(
            args,
            [
                "/bin/tracer",
                "record",
                "--pid",
                "{pid}",
                "-o",
                "{out}",
                "--probe",
                "fentry"
            ]
        );
        assert_eq!(ready_marker, "tracer: recording");
    }

    #[test]
    fn loop_counts_are_found_in_each_tool_output() {
        // Lines as bpftrace, syscount, perf trace -s, strace -c and tracer print them.
        let bpftrace = "@calls[12231, tracepoint:syscalls:sys_exit_write]: 200000\n\
                        @calls[12231, tracepoint:syscalls:sys_exit_read]: 200003\n";
        assert_eq!(loop_count(bpftrace, "write", 200_000), Some(200_000));
        assert_eq!(loop_count(bpftrace, "read", 200_000), Some(200_003));
        let syscount = "write                   200001       218991.097\n";
        assert_eq!(loop_count(syscount, "write", 200_000), Some(200_001));
        let perf = "LOST 16912 events!\n   read            190943      0  2773.161     0.012\n";
        assert_eq!(loop_count(perf, "read", 200_000), Some(190_943));
        let strace = " 49.79    0.059615           2     20000           write\n";
        assert_eq!(loop_count(strace, "write", 20_000), Some(20_000));
        let tracer = "  read      50,000   5,000,000      100        0   1.26 µs   1.29 µs\n";
        assert_eq!(loop_count(tracer, "read", 50_000), Some(50_000));
        // A list separator is not a thousands separator: "12231, 7" is two numbers.
        assert_eq!(
            loop_count("@calls[12231, 200000]: 7 write\n", "write", 12_231_200),
            None
        );
    }

    #[test]
    fn per_thread_counts_are_summed() {
        // perf trace -s on the HTTP workload: the server thread writes twice per request, the
        // client once; a thread's table alone is not the process's count.
        let perf = " xtask (4100), 60012 events, 50.0%\n\n\
                    \x20  syscall            calls  errors  total       min\n\
                    \x20  --------------- --------  ------ -------- ---------\n\
                    \x20  read               25003      0   123.456     0.001\n\
                    \x20  write              10000      0    98.765     0.001\n\n\
                    \x20xtask (4101), 40002 events, 33.3%\n\n\
                    \x20  write              20000      0   111.111     0.001\n\
                    \x20  read               10001      0    99.999     0.001\n\
                    \x20  readlink               1      0     0.010     0.010\n";
        assert_eq!(summed_thread_count(perf, "write"), 30_000);
        assert_eq!(summed_thread_count(perf, "read"), 35_004);
        assert_eq!(
            Counts::PerThread.loop_count(perf, "write", 30_000),
            Some(30_000)
        );
        assert_eq!(
            Counts::PerThread.loop_count(perf, "read", 35_000),
            Some(35_004)
        );
        // The largest thread's count alone would pass for two thirds of the writes.
        assert_eq!(
            Counts::PerProcess.loop_count(perf, "write", 30_000),
            Some(20_000)
        );
        assert_eq!(Counts::PerThread.loop_count(perf, "write", 90_000), None);
    }

    #[test]
    fn a_tool_that_missed_the_loop_is_caught() {
        // bpftrace attached after the loop: it saw only the result file's write.
        let late = "@calls[12231, tracepoint:syscalls:sys_exit_write]: 1\n";
        assert_eq!(loop_count(late, "write", 200_000), None);
        // The PID or a time must not pass for a count, nor another syscall's count.
        assert_eq!(
            loop_count("write 1 12231 200000.5\n", "write", 200_000),
            None
        );
        assert_eq!(
            loop_count("pwrite64 200000\nsendto 200000\n", "write", 200_000),
            None
        );
        assert_eq!(Counts::PerThread.loop_count(late, "write", 200_000), None);
    }
}
