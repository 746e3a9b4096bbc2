//! `cargo xtask bench`: what a syscall tracer costs the traced process, per syscall.
//!
//! Two workloads time their own loop (so tool start-up is not counted), in wall time and in
//! on-CPU time: write+read of 100 B over a Unix socketpair in one thread, and HTTP/1.1 keep-alive
//! over TCP loopback between a client thread and a server thread that answers with two writes
//! (the mesh story's responses). Each runs under each tool in turn, the tools interleaved
//! (rotated every repetition) so that drift of a shared machine spreads over all of them. The
//! cost of a tool in one repetition is its ns per syscall minus the untraced run's of the same
//! repetition and workload; the report gives the median and range over repetitions, and the
//! ratio to the cheapest possible eBPF tracer: bpftrace with empty probes on the same syscalls.
//! For tracer itself it also gives the collector's CPU, peak memory and lost counts, measured
//! while the loop runs.
//!
//! Why both times: eBPF probes run inside the traced thread's syscalls, so its on-CPU time shows
//! their cost even on a busy machine, where wall time also counts waiting for a core. strace
//! (ptrace) and perf trace make the traced thread wait for another process, which only wall
//! time shows.
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use crate::{cmd, collector};

/// Bytes per write and per read of the socketpair loop: a small HTTP response part, as in the
/// mesh story.
const PAYLOAD_BYTES: usize = 100;
/// The HTTP client's request, sent with one write(2).
const HTTP_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
/// The HTTP server's header block, written with one write(2) before the body.
const HTTP_HEAD_BYTES: usize = 180;
/// The HTTP server's body, written with a second write(2).
const HTTP_BODY_BYTES: usize = 178;
/// How long a tool may take to attach (bpftrace compiles its script first).
const ATTACH_TIMEOUT: Duration = Duration::from_mins(1);
/// How long a tool may take to exit after SIGINT (it prints its summary then).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Repetitions of every tool (interleaved).
    #[arg(long, default_value_t = 5)]
    reps: u32,
    /// Workloads to run every tool on, comma separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "socketpair,http"
    )]
    workloads: Vec<WorkloadKind>,
    /// Socketpair loop iterations (one write and one read each) per run: about 1.5 s untraced
    /// here, long enough that one-off work (attaching, describing fds) and tracer's 10% cost
    /// sampling weigh as they do in a real recording.
    #[arg(long, default_value_t = 1_000_000)]
    iterations: u64,
    /// Socketpair iterations for strace and perf trace, which are far slower per syscall.
    #[arg(long, default_value_t = 20_000)]
    strace_iterations: u64,
    /// HTTP requests (one request write, two response writes, 2 or 3 reads) per run.
    #[arg(long, default_value_t = 70_000)]
    requests: u64,
    /// HTTP requests for strace and perf trace.
    #[arg(long, default_value_t = 1_500)]
    strace_requests: u64,
    /// Leave out `tracer record --pid` (measured by default; the release tracer is built first).
    #[arg(long)]
    no_tracer: bool,
    /// tracer's attach mechanisms to measure, one row each, comma separated: by default what
    /// `--probe auto` picks and every mechanism (one the kernel refuses is named below the
    /// table with the reason).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "auto,fentry,tp-btf,raw,tracepoint"
    )]
    tracer_probes: Vec<String>,
    /// Text in tracer's output that says it is attached.
    #[arg(long, default_value = "tracer: recording")]
    tracer_ready: String,
    /// Where to write the Markdown report (it is printed too).
    #[arg(long, default_value = "target/bench/overhead.md")]
    out: PathBuf,
}

impl BenchArgs {
    /// A workload with the loop lengths the command line asked for.
    fn workload(&self, kind: WorkloadKind) -> Workload {
        let (rounds, short_rounds) = match kind {
            WorkloadKind::Socketpair => (self.iterations, self.strace_iterations),
            WorkloadKind::Http => (self.requests, self.strace_requests),
        };
        Workload {
            kind,
            rounds,
            short_rounds,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct WorkloadArgs {
    /// Which loop to run.
    #[arg(long, value_enum)]
    kind: WorkloadKind,
    /// Loop rounds: write+read pairs (socketpair) or requests (http).
    #[arg(long)]
    rounds: u64,
    /// File that receives the loop's result (`LoopResult::to_line`).
    #[arg(long)]
    result: PathBuf,
}

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
    fn name(self) -> &'static str {
        match self {
            Self::Socketpair => "socketpair",
            Self::Http => "http",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Socketpair => "Socketpair loop",
            Self::Http => "HTTP keep-alive",
        }
    }

    /// What one round of its loop is called in the report.
    fn round_name(self) -> &'static str {
        match self {
            Self::Socketpair => "iterations",
            Self::Http => "requests",
        }
    }

    /// The report's one sentence on what the loop does and what is timed.
    fn description(self) -> String {
        match self {
            Self::Socketpair => format!(
                "write + read of {PAYLOAD_BYTES} B over a Unix socketpair in a loop in one \
                 thread, timed by the workload itself in wall time and in that thread's on-CPU \
                 time."
            ),
            Self::Http => format!(
                "HTTP/1.1 keep-alive over TCP loopback (TCP_NODELAY) between two threads of one \
                 process, pinned to one CPU: the client writes a GET and reads until it has the \
                 response (1 or 2 reads), the server reads the request with one read and answers \
                 with two writes ({HTTP_HEAD_BYTES} B of headers, then a {HTTP_BODY_BYTES} B body); the loop's \
                 wall time and the process's on-CPU time (both threads) are timed, and the \
                 syscalls are those the workload counted."
            ),
        }
    }
}

/// A workload of this bench run and the length of its loop.
#[derive(Debug, Clone, Copy)]
struct Workload {
    kind: WorkloadKind,
    rounds: u64,
    /// Rounds for the tools that are far slower per syscall (strace).
    short_rounds: u64,
}

impl Workload {
    fn rounds_for(&self, tool: &Tool) -> u64 {
        if tool.short {
            self.short_rounds
        } else {
            self.rounds
        }
    }
}

/// How a tool is put on the workload.
#[derive(Debug, Clone)]
enum Attach {
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
enum Counts {
    /// One count for the whole process, somewhere on a line naming the syscall.
    PerProcess,
    /// A table per thread whose lines start with the syscall's name and its count (perf trace
    /// -s): the process's count is their sum.
    PerThread,
}

impl Counts {
    /// How many of the `expected` calls of `syscall` the output reports, or None when it is not
    /// a plausible count of the loop (see `plausible`).
    fn loop_count(self, output: &str, syscall: &str, expected: u64) -> Option<u64> {
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
    name: String,
    /// What it does, in words, for the report.
    what: String,
    attach: Attach,
    /// It runs the workloads' shorter loops (strace: far slower per syscall).
    short: bool,
    /// Its output has per-syscall counts: they are checked to cover the whole loop, which
    /// proves the tool was attached while the workload was timed.
    counts: Option<Counts>,
    /// It is tracer: its collector's CPU and peak memory are read from /proc while the loop
    /// runs, and its run file's loss counters afterwards.
    collector: bool,
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

fn tools(args: &BenchArgs) -> anyhow::Result<Vec<Tool>> {
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
        tools.extend(tracer_tools(args, tool)?);
    }
    Ok(tools)
}

/// The row of tracer recording another process while the workload runs.
const UNTARGETED_ROW: &str = "tracer record, workload untargeted";
/// The row of empty programs on the syscall tracepoints.
const FLOOR_ROW: &str = "empty tp_btf programs (kernel floor)";

/// tracer's rows: each attach mechanism asked for, tracer recording someone else while the
/// workload runs, and the kernel's floor under that. `tool` makes a row with defaults.
fn tracer_tools(
    args: &BenchArgs,
    tool: impl Fn(&str, &str, Attach, Option<Counts>) -> Tool,
) -> anyhow::Result<Vec<Tool>> {
    let mut tools = Vec::new();
    let binary = crate::tracer::build()?;
    for probe in &args.tracer_probes {
        tools.push(tracer_record(
            &[binary.clone().into_os_string()],
            &["--probe".into(), probe.into()],
            &args.tracer_ready,
        ));
    }
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
        "`tracer floor`: empty programs on sys_enter/sys_exit, what any syscall-tracepoint \
         tracer costs every process on the machine before its first instruction",
        Attach::ToPid {
            args: vec![binary.into_os_string(), "floor".into()],
            ready_marker: args.tracer_ready.clone(),
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

/// One workload's measurements: `samples[tool][rep]`, and why a tool could not be measured on
/// it (it is left out of that workload's table and named below it).
struct Measured {
    workload: Workload,
    samples: Vec<Vec<Sample>>,
    failures: Vec<Option<String>>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if !cmd::is_root() {
        bail!("the benchmark attaches eBPF tracers and needs root; rerun with sudo");
    }
    let counts = [
        args.reps.into(),
        args.iterations,
        args.strace_iterations,
        args.requests,
        args.strace_requests,
    ];
    if counts.contains(&0) || args.workloads.is_empty() {
        bail!(
            "--reps, --iterations, --strace-iterations, --requests and --strace-requests must be \
             at least 1, and --workloads must name one"
        );
    }
    let tools = tools(args)?;
    let scratch = cmd::target_dir().join("bench");
    fs::create_dir_all(&scratch)
        .with_context(|| format!("could not create {}", scratch.display()))?;
    let mut measured: Vec<Measured> = args
        .workloads
        .iter()
        .map(|&kind| Measured {
            workload: args.workload(kind),
            samples: vec![Vec::new(); tools.len()],
            failures: vec![None; tools.len()],
        })
        .collect();
    let load_before = load_average();
    let started = Instant::now();
    // A first, discarded run of each workload warms caches for the workload binary.
    for results in &measured {
        measure(&tools[0], &results.workload, &scratch).with_context(|| {
            format!(
                "the warm-up run of the {} workload failed",
                results.workload.kind.name()
            )
        })?;
    }
    for rep in 0..args.reps {
        for offset in 0..tools.len() {
            let index = (offset + rep as usize) % tools.len();
            let tool = &tools[index];
            for results in &mut measured {
                let workload = results.workload.kind.name();
                if results.failures[index].is_some() {
                    continue;
                }
                let sample = match measure(tool, &results.workload, &scratch) {
                    Ok(sample) => sample,
                    // The baseline and the empty-probe floor are what every row is read against.
                    Err(error) if index < 2 => {
                        return Err(error.context(format!(
                            "measuring `{}` on the {workload} workload failed",
                            tool.name
                        )));
                    }
                    Err(error) => {
                        eprintln!("bench: {} is left out of {workload}: {error:#}", tool.name);
                        results.failures[index] = Some(format!("{error:#}"));
                        results.samples[index].clear();
                        continue;
                    }
                };
                eprintln!(
                    "bench: rep {}/{} {workload:<10} {:<34} {:>8.0} wall ns/syscall {:>8.0} \
                     on-CPU ns/syscall{}",
                    rep + 1,
                    args.reps,
                    tool.name,
                    sample.per_syscall.wall_ns,
                    sample.per_syscall.cpu_ns,
                    sample.collector.map_or_else(String::new, |cost| format!(
                        ", collector {:.2}% of a core",
                        cost.usage.cpu_share * 100.0
                    ))
                );
                results.samples[index].push(sample);
            }
        }
    }
    let report = render(
        &tools,
        &measured,
        &Environment::read(load_before, started.elapsed()),
    );
    print!("{report}");
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        cmd::workspace_root().join(&args.out)
    };
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&out, &report).with_context(|| format!("could not write {}", out.display()))?;
    eprintln!("bench: report written to {}", out.display());
    Ok(())
}

/// Wall and on-CPU ns of one unit of the loop's work.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Times {
    wall_ns: f64,
    /// On-CPU time of the workload's thread (socketpair) or process (http), user + system.
    cpu_ns: f64,
}

/// What tracer's collector cost in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CollectorCost {
    usage: collector::Usage,
    /// The sum of its run file's loss counters.
    lost: u64,
    /// Kernel ns per run of its programs, from its run file.
    ns_per_program_run: Option<f64>,
}

/// What the workload's loop cost in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    per_syscall: Times,
    /// Per round of the loop: an iteration (socketpair) or a request (http).
    per_round: Times,
    /// Share of the loop's calls the tool reported (1.0 = all), for tools that count.
    counted: Option<f64>,
    /// For tracer: its own cost while the loop ran.
    collector: Option<CollectorCost>,
}

impl Sample {
    fn of(result: &LoopResult) -> Self {
        let per = |units: u64| Times {
            wall_ns: result.wall.as_nanos() as f64 / units as f64,
            cpu_ns: result.cpu.as_nanos() as f64 / units as f64,
        };
        Self {
            per_syscall: per(result.syscalls()),
            per_round: per(result.rounds),
            counted: None,
            collector: None,
        }
    }
}

/// One run of `workload` under `tool`; returns the workload's cost per syscall and per round.
fn measure(tool: &Tool, workload: &Workload, scratch: &Path) -> anyhow::Result<Sample> {
    let slug: String = format!("{}-{}", workload.kind.name(), tool.name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let result = scratch.join(format!("{slug}.result"));
    let tool_out = scratch.join(format!("{slug}.out"));
    let log = scratch.join(format!("{slug}.log"));
    let _ = fs::remove_file(&result);
    let _ = fs::remove_file(&tool_out);
    let mut workload_line = vec![
        std::env::current_exe()
            .context("could not find the xtask binary")?
            .into_os_string(),
    ];
    workload_line.extend(
        [
            "bench-workload",
            "--kind",
            workload.kind.name(),
            "--rounds",
            &workload.rounds_for(tool).to_string(),
            "--result",
        ]
        .map(OsString::from),
    );
    workload_line.push(result.clone().into_os_string());

    let mut usage = None;
    match &tool.attach {
        Attach::Untraced => {
            let mut child = spawn(&workload_line, Stdio::from(fs::File::create(&log)?))?;
            go(&mut child)?;
            wait_success(&mut child, &workload_line)?;
        }
        Attach::Wraps(prefix) => {
            let mut line = substitute(prefix, None, &tool_out);
            line.extend(workload_line.iter().cloned());
            let mut child = spawn(&line, Stdio::from(fs::File::create(&log)?))?;
            go(&mut child)?;
            wait_success(&mut child, &line)?;
        }
        Attach::ToPid { args, ready_marker } => {
            let workload_log = scratch.join(format!("{slug}.workload.log"));
            let mut target = spawn(&workload_line, Stdio::from(fs::File::create(workload_log)?))?;
            let line = substitute(args, Some(target.id()), &tool_out);
            let attached = attach(&line, ready_marker, &log);
            let mut tracer = match attached {
                Ok(tracer) => tracer,
                Err(error) => {
                    let _ = target.kill();
                    let _ = target.wait();
                    return Err(error);
                }
            };
            // From its ready line to just before SIGINT: the loop runs in between.
            let watch = tool
                .collector
                .then(|| collector::Watch::start(tracer.child.id()));
            go(&mut target)?;
            let finished = wait_success(&mut target, &workload_line);
            let watched = watch
                .map(|started| started.and_then(collector::Watch::finish))
                .transpose();
            stop(&mut tracer.child)?;
            for reader in tracer.readers {
                let _ = reader.join();
            }
            finished?;
            usage = watched.with_context(|| format!("could not measure {}", tool.name))?;
        }
    }
    let text = fs::read_to_string(&result)
        .with_context(|| format!("the workload wrote no result to {}", result.display()))?;
    let loop_result = LoopResult::parse(&text)?;
    let mut sample = Sample::of(&loop_result);
    if let Some(counts) = tool.counts {
        sample.counted = Some(counted_share(
            tool,
            counts,
            [&log, &tool_out],
            &loop_result,
        )?);
    }
    if let Some(usage) = usage {
        let run = collector::read_run_file(&tool_out)?;
        sample.collector = Some(CollectorCost {
            usage,
            lost: collector::lost_counts(&run)
                .with_context(|| format!("could not read the losses in {}", tool_out.display()))?,
            ns_per_program_run: collector::ns_per_program_run(&run),
        });
    }
    Ok(sample)
}

/// The smallest share of the loop's writes and reads that a tool's output files report (1.0 =
/// all); an error when it reports less than half of them.
fn counted_share(
    tool: &Tool,
    counts: Counts,
    outputs: [&Path; 2],
    loop_result: &LoopResult,
) -> anyhow::Result<f64> {
    let output = outputs
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .collect::<String>();
    let mut counted = 1.0_f64;
    for (syscall, expected) in [("write", loop_result.writes), ("read", loop_result.reads)] {
        let count = counts
            .loop_count(&output, syscall, expected)
            .ok_or_else(|| {
                anyhow!(
                    "{} did not count even half of the loop's {expected} {syscall} calls, so it \
                     was not attached while the workload was timed; its output is in {} and {}",
                    tool.name,
                    outputs[0].display(),
                    outputs[1].display()
                )
            })?;
        counted = counted.min(count as f64 / expected as f64);
    }
    Ok(counted.min(1.0))
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

fn spawn(line: &[OsString], output: Stdio) -> anyhow::Result<Child> {
    let (program, args) = line
        .split_first()
        .ok_or_else(|| anyhow!("empty command line"))?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(output)
        .spawn()
        .with_context(|| format!("could not start {}", program.to_string_lossy()))
}

/// Tells the waiting workload to start its loop.
fn go(child: &mut Child) -> anyhow::Result<()> {
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("the workload has no stdin"))?;
    stdin
        .write_all(b"go\n")
        .context("could not start the workload")?;
    Ok(())
}

fn wait_success(child: &mut Child, line: &[OsString]) -> anyhow::Result<()> {
    let status = child.wait()?;
    if !status.success() {
        let shown: Vec<_> = line.iter().map(|part| part.to_string_lossy()).collect();
        bail!("`{}` failed ({status})", shown.join(" "));
    }
    Ok(())
}

/// A tool attached to the workload, with the threads copying its output to the log.
struct Attached {
    child: Child,
    readers: Vec<thread::JoinHandle<()>>,
}

/// Starts a tool and waits until it says it is attached (a line containing `ready_marker` on
/// stdout or stderr). All its output is copied into `log`.
fn attach(line: &[OsString], ready_marker: &str, log: &Path) -> anyhow::Result<Attached> {
    let (program, args) = line
        .split_first()
        .ok_or_else(|| anyhow!("empty command line"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {}", program.to_string_lossy()))?;
    let log = fs::File::create(log)?;
    let (lines, received) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    let stdout = child
        .stdout
        .take()
        .map(|out| Box::new(out) as Box<dyn std::io::Read + Send>);
    let stderr = child
        .stderr
        .take()
        .map(|err| Box::new(err) as Box<dyn std::io::Read + Send>);
    for stream in [stdout, stderr].into_iter().flatten() {
        let lines = lines.clone();
        let mut log = log.try_clone()?;
        readers.push(thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                // The receiver is gone once the tool is attached; keep draining the pipe.
                let _ = lines.send(line);
            }
        }));
    }
    drop(lines);
    let deadline = Instant::now() + ATTACH_TIMEOUT;
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) if line.contains(ready_marker) => return Ok(Attached { child, readers }),
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait()?;
                bail!(
                    "{} exited ({status}) before attaching: {}",
                    program.to_string_lossy(),
                    seen.trim()
                );
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not print {ready_marker:?} within {} s: {}",
                    program.to_string_lossy(),
                    ATTACH_TIMEOUT.as_secs(),
                    seen.trim()
                );
            }
        }
    }
}

/// SIGINT (tools print their summary and exit), then SIGKILL if it hangs.
fn stop(child: &mut Child) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
    // SAFETY: kill has no memory-safety preconditions; `pid` is our own child, not yet reaped.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// Replaces `{pid}` and `{out}` in every argument.
fn substitute(args: &[OsString], pid: Option<u32>, out: &Path) -> Vec<OsString> {
    args.iter()
        .map(|arg| {
            let mut text = arg
                .to_string_lossy()
                .replace("{out}", &out.to_string_lossy());
            if let Some(pid) = pid {
                text = text.replace("{pid}", &pid.to_string());
            }
            OsString::from(text)
        })
        .collect()
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

/// What a workload's timed loop did, as it tells the bench in its result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LoopResult {
    /// write(2) calls the loop made (all its threads).
    writes: u64,
    /// read(2) calls the loop made (all its threads).
    reads: u64,
    /// Iterations (socketpair) or requests (http).
    rounds: u64,
    wall: Duration,
    /// On-CPU time of the thread (socketpair) or the process (http).
    cpu: Duration,
}

impl LoopResult {
    fn syscalls(&self) -> u64 {
        self.writes + self.reads
    }

    /// `writes=N reads=N rounds=N wall_ns=N cpu_ns=N`: named, so a field cannot be misread.
    fn to_line(self) -> String {
        format!(
            "writes={} reads={} rounds={} wall_ns={} cpu_ns={}\n",
            self.writes,
            self.reads,
            self.rounds,
            self.wall.as_nanos(),
            self.cpu.as_nanos()
        )
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
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

/// The workload: waits for a line on stdin (the tool under test is attached by then; EOF also
/// means go), runs its timed loop and writes the `LoopResult` to the result file.
pub fn workload(args: &WorkloadArgs) -> anyhow::Result<()> {
    let mut go = [0_u8; 1];
    let _ = std::io::stdin().read(&mut go);
    let result = match args.kind {
        WorkloadKind::Socketpair => timed_loop(args.rounds)?,
        WorkloadKind::Http => http_loop(args.rounds)?,
    };
    fs::write(&args.result, result.to_line())
        .with_context(|| format!("could not write {}", args.result.display()))?;
    Ok(())
}

/// One write(2) that must take all of `bytes`: a short write would change the syscall count,
/// so it is an error rather than a retry.
fn write_once(file: &mut fs::File, bytes: &[u8]) -> anyhow::Result<()> {
    let written = file.write(bytes).context("write failed")?;
    if written != bytes.len() {
        bail!("short write: {written} of {} B", bytes.len());
    }
    Ok(())
}

/// `iterations` × (write 100 B, read 100 B) over a Unix socketpair, timed in wall time and in
/// the thread's on-CPU time.
fn timed_loop(iterations: u64) -> anyhow::Result<LoopResult> {
    let (writer, reader) = UnixStream::pair().context("socketpair failed")?;
    // As files: std sends on a UnixStream with sendto(2) and receives with recvfrom(2); a File
    // uses plain write(2) and read(2), the calls the probes under test are attached to.
    let mut writer = fs::File::from(OwnedFd::from(writer));
    let mut reader = fs::File::from(OwnedFd::from(reader));
    let payload = [b'x'; PAYLOAD_BYTES];
    let mut received = [0_u8; PAYLOAD_BYTES];
    let cpu_started = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)?;
    let started = Instant::now();
    for _ in 0..iterations {
        // One write(2) and one read(2) per iteration.
        write_once(&mut writer, &payload)?;
        let read = reader.read(&mut received)?;
        if read != PAYLOAD_BYTES {
            bail!("short read: {read} of {PAYLOAD_BYTES} B");
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)?.saturating_sub(cpu_started);
    Ok(LoopResult {
        writes: iterations,
        reads: iterations,
        rounds: iterations,
        wall,
        cpu,
    })
}

/// `requests` HTTP/1.1 keep-alive exchanges over TCP loopback between a client (this thread)
/// and a server thread, timed in wall time and in the process's on-CPU time (both threads).
/// The writes are 3 per request exactly; the reads are counted (the client's response may take
/// one read or two).
fn http_loop(requests: u64) -> anyhow::Result<LoopResult> {
    // Client and server share one CPU: a wake-up on the other core of this VM costs more, and
    // varies more, than the probes (idle exits), and a tool that keeps that core busy made
    // the untraced loop look slowest of all.
    pin_to_current_cpu()?;
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("could not listen on 127.0.0.1")?;
    let address = listener.local_addr()?;
    let server_thread = thread::Builder::new()
        .name("http-server".into())
        .spawn(move || http_serve(&listener))
        .context("could not start the HTTP server thread")?;
    let client =
        TcpStream::connect(address).with_context(|| format!("could not connect to {address}"))?;
    client
        .set_nodelay(true)
        .context("could not set TCP_NODELAY on the client")?;
    // As a file, for plain write(2) and read(2) instead of std's sendto(2) and recvfrom(2).
    let mut client = fs::File::from(OwnedFd::from(client));
    let mut response = [0_u8; 4096];
    let mut client_reads = 0;
    let cpu_started = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID)?;
    let started = Instant::now();
    let exchanged = (0..requests).try_for_each(|_| {
        client_reads += http_exchange(&mut client, &mut response)?;
        anyhow::Ok(())
    });
    let wall = started.elapsed();
    let cpu = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID)?.saturating_sub(cpu_started);
    // Closing the connection ends the server's loop.
    drop(client);
    let served = server_thread
        .join()
        .map_err(|_| anyhow!("the HTTP server thread panicked"))?;
    // When the server failed, the client's failure is only that it closed the connection.
    let answered = served.context("the HTTP server failed")?;
    exchanged.context("the HTTP client failed")?;
    if answered != requests {
        bail!("the HTTP server answered {answered} requests, the client sent {requests}");
    }
    Ok(LoopResult {
        writes: requests + 2 * answered,
        reads: client_reads + answered,
        rounds: requests,
        wall,
        cpu,
    })
}

/// Restricts this thread, and threads it starts from now on, to the CPU it runs on.
fn pin_to_current_cpu() -> anyhow::Result<()> {
    // SAFETY: no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    let cpu = usize::try_from(cpu)
        .map_err(|_| anyhow!("sched_getcpu failed: {}", std::io::Error::last_os_error()))?;
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it (cpu < 1024).
    let status = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set)
    };
    if status != 0 {
        bail!(
            "could not pin the HTTP workload to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// The HTTP server thread: accepts one connection and answers every request, read with one
/// read(2), with two write(2)s (header block, then body), until the client closes the
/// connection. Returns the number of requests answered.
fn http_serve(listener: &TcpListener) -> anyhow::Result<u64> {
    let (stream, _) = listener.accept().context("accept failed")?;
    stream
        .set_nodelay(true)
        .context("could not set TCP_NODELAY on the server")?;
    let mut stream = fs::File::from(OwnedFd::from(stream));
    let (head, body) = http_response();
    let mut request = [0_u8; 1024];
    let mut answered = 0;
    loop {
        let read = stream
            .read(&mut request)
            .context("reading a request failed")?;
        if read == 0 {
            return Ok(answered);
        }
        if !request[..read].ends_with(b"\r\n\r\n") {
            bail!("a request did not arrive whole in one read ({read} B)");
        }
        write_once(&mut stream, &head).context("writing the header block failed")?;
        write_once(&mut stream, &body).context("writing the body failed")?;
        answered += 1;
    }
}

/// One request (one write) and its response (reads until the header block and the
/// Content-Length body are in); returns the number of reads it took.
fn http_exchange(client: &mut fs::File, buffer: &mut [u8]) -> anyhow::Result<u64> {
    write_once(client, HTTP_REQUEST).context("sending the request failed")?;
    let mut filled = 0;
    let mut reads = 0;
    loop {
        let space = buffer
            .get_mut(filled..)
            .filter(|space| !space.is_empty())
            .ok_or_else(|| anyhow!("the response does not fit in {filled} B"))?;
        let read = client.read(space).context("reading the response failed")?;
        reads += 1;
        if read == 0 {
            bail!("the server closed the connection after {filled} B of a response");
        }
        filled += read;
        match http_response_length(&buffer[..filled])? {
            Some(length) if filled == length => return Ok(reads),
            Some(length) if filled > length => {
                bail!("{filled} B arrived for a {length} B response")
            }
            _ => {}
        }
    }
}

/// The server's answer: a header block of exactly `HTTP_HEAD_BYTES` (padded with an
/// `X-Padding` header) and a body of `HTTP_BODY_BYTES`.
fn http_response() -> (Vec<u8>, Vec<u8>) {
    let start = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {HTTP_BODY_BYTES}\r\n\
         Connection: keep-alive\r\nX-Padding: "
    );
    let end = "\r\n\r\n";
    let padding = "x".repeat(HTTP_HEAD_BYTES.saturating_sub(start.len() + end.len()));
    let head = format!("{start}{padding}{end}").into_bytes();
    (head, vec![b'b'; HTTP_BODY_BYTES])
}

/// The whole response's length (header block + Content-Length) once its header block has
/// arrived; None while it has not.
fn http_response_length(received: &[u8]) -> anyhow::Result<Option<usize>> {
    let Some(blank_line) = received.windows(4).position(|four| four == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&received[..blank_line])
        .context("the response's header block is not UTF-8")?;
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .ok_or_else(|| anyhow!("the response has no Content-Length: {head:?}"))?
        .1
        .trim();
    let length: usize = length
        .parse()
        .with_context(|| format!("the response's Content-Length {length:?} is not a number"))?;
    Ok(Some(blank_line + 4 + length))
}

/// On-CPU time (user + system) so far of the calling thread (`CLOCK_THREAD_CPUTIME_ID`) or of
/// the whole process (`CLOCK_PROCESS_CPUTIME_ID`).
fn cpu_time(clock: libc::clockid_t) -> anyhow::Result<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(clock, &raw mut now) };
    if status != 0 {
        bail!(
            "clock_gettime({clock}) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    let seconds = u64::try_from(now.tv_sec).context("negative CPU time")?;
    let nanos = u32::try_from(now.tv_nsec).context("CPU time nanoseconds out of range")?;
    Ok(Duration::new(seconds, nanos))
}

/// Where the numbers were taken.
struct Environment {
    cpu: String,
    cores: usize,
    kernel: String,
    load_before: String,
    load_after: String,
    took: Duration,
    versions: Vec<(String, String)>,
}

impl Environment {
    fn read(load_before: String, took: Duration) -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown CPU".to_owned(),
                |(_, name)| name.trim().to_owned(),
            );
        let cores = thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned());
        let version = |program: &str, flag: &str| {
            cmd::output(Command::new(program).arg(flag))
                .ok()
                .and_then(|text| text.lines().next().map(str::to_owned))
                .unwrap_or_else(|| "not found".to_owned())
        };
        let versions = vec![
            ("bpftrace".into(), version("bpftrace", "--version")),
            ("perf".into(), version("perf", "version")),
            ("strace".into(), version("strace", "-V")),
        ];
        Self {
            cpu,
            cores,
            kernel,
            load_before,
            load_after: load_average(),
            took,
            versions,
        }
    }
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

fn sorted(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    values
}

/// "100%" only when nothing was lost; otherwise one decimal, never rounded up to 100%.
fn percent(share: f64) -> String {
    if share >= 1.0 {
        "100%".to_owned()
    } else {
        format!("{:.1}%", (share * 1000.0).floor() / 10.0)
    }
}

/// Median and range over repetitions of (tool minus baseline of the same repetition).
struct Added {
    median: f64,
    min: f64,
    max: f64,
}

impl Added {
    fn of(runs: &[f64], baseline: &[f64]) -> Self {
        let added = sorted(runs.iter().zip(baseline).map(|(run, base)| run - base));
        Self {
            median: median(&added),
            min: added.first().copied().unwrap_or(f64::NAN),
            max: added.last().copied().unwrap_or(f64::NAN),
        }
    }
}

impl std::fmt::Display for Added {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{:.0} ({:.0} to {:.0})",
            self.median, self.min, self.max
        )
    }
}

/// The Markdown report: a table per workload of what every tool adds per syscall (tool 0 is the
/// baseline and tool 1 the empty-probe floor), then tracer's own cost.
fn render(tools: &[Tool], measured: &[Measured], environment: &Environment) -> String {
    let reps = measured
        .first()
        .and_then(|results| results.samples.first())
        .map_or(0, Vec::len);
    let mut out = String::new();
    let _ = writeln!(out, "## Overhead per syscall\n");
    let _ = writeln!(
        out,
        "{reps} repetition{}, tools interleaved (order rotated every repetition), each tool run on \
         every workload in turn. \"Added\" = ns per syscall under the tool minus ns per syscall \
         without a tracer in the same repetition: median (min to max). \"× empty\" = added / \
         added by bpftrace with empty probes. eBPF probes run inside the traced syscalls, so \
         on-CPU time shows their cost even on a busy machine; strace and perf trace make the \
         traced threads wait for another process, which only wall time shows. \"Counted\" = the \
         smallest share of the loop's writes and reads the tool reported, in its worst \
         repetition (below 100%: it lost events).\n",
        if reps == 1 { "" } else { "s" }
    );
    for results in measured {
        out.push_str(&overhead_table(tools, results));
    }
    out.push_str(&collector_table(tools, measured));
    let _ = writeln!(out, "\nWhat each tool does:\n");
    for tool in tools {
        let _ = writeln!(out, "- {}: {}", tool.name, tool.what);
    }
    let left_out: Vec<String> = measured
        .iter()
        .flat_map(|results| {
            tools
                .iter()
                .zip(&results.failures)
                .filter_map(|(tool, failure)| {
                    let workload = results.workload.kind.name();
                    Some(format!(
                        "- {} ({workload}): {}",
                        tool.name,
                        failure.as_ref()?
                    ))
                })
        })
        .collect();
    if !left_out.is_empty() {
        let _ = writeln!(out, "\nNot measured:\n\n{}", left_out.join("\n"));
    }
    let _ = writeln!(
        out,
        "\nMachine: {} ({} cores), Linux {}. Load average before {}, after {}; the run took \
         {:.0} s. {}.",
        environment.cpu,
        environment.cores,
        environment.kernel,
        environment.load_before,
        environment.load_after,
        environment.took.as_secs_f64(),
        environment
            .versions
            .iter()
            .map(|(tool, version)| format!("{tool}: {version}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    out
}

/// One workload's table: per syscall, and for HTTP also per request.
fn overhead_table(tools: &[Tool], results: &Measured) -> String {
    let kind = results.workload.kind;
    let per_request = kind == WorkloadKind::Http;
    let values = |index: usize, of: fn(&Sample) -> f64| -> Vec<f64> {
        results.samples[index].iter().map(of).collect()
    };
    let added =
        |index: usize, of: fn(&Sample) -> f64| Added::of(&values(index, of), &values(0, of));
    let wall: fn(&Sample) -> f64 = |sample| sample.per_syscall.wall_ns;
    let cpu: fn(&Sample) -> f64 = |sample| sample.per_syscall.cpu_ns;
    let request_wall_us: fn(&Sample) -> f64 = |sample| sample.per_round.wall_ns / 1000.0;
    let request_cpu_us: fn(&Sample) -> f64 = |sample| sample.per_round.cpu_ns / 1000.0;
    let floor_wall = added(1, wall).median;
    let floor_cpu = added(1, cpu).median;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {}\n\nWorkload: {}\n",
        kind.title(),
        kind.description()
    );
    let (request_header, request_align) = if per_request {
        (
            " added wall µs/request | added on-CPU µs/request |",
            " ---: | ---: |",
        )
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| tool | {} | wall ns/syscall | added wall | × empty (wall) | on-CPU ns/syscall \
         | added on-CPU | × empty (on-CPU) |{request_header} counted |",
        kind.round_name()
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |{request_align} ---: |"
    );
    for (index, tool) in tools.iter().enumerate() {
        if results.failures.get(index).is_some_and(Option::is_some) {
            continue;
        }
        let mut cells = vec![
            tool.name.clone(),
            results.workload.rounds_for(tool).to_string(),
        ];
        let dash = || "-".to_owned();
        // ns per syscall, added, and × empty: in wall time, then in on-CPU time.
        for (of, floor) in [(wall, floor_wall), (cpu, floor_cpu)] {
            cells.push(format!("{:.0}", median(&sorted(values(index, of)))));
            if index == 0 {
                cells.extend([dash(), dash()]);
            } else {
                let cost = added(index, of);
                cells.extend([cost.to_string(), format!("{:.1}", cost.median / floor)]);
            }
        }
        if per_request {
            for of in [request_wall_us, request_cpu_us] {
                cells.push(if index == 0 {
                    dash()
                } else {
                    format!("{:.1}", added(index, of).median)
                });
            }
        }
        cells.push(
            results.samples[index]
                .iter()
                .filter_map(|sample| sample.counted)
                .min_by(f64::total_cmp)
                .map_or_else(dash, percent),
        );
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let row = |name: &str| tools.iter().position(|tool| tool.name == name);
    if let (Some(untargeted), Some(floor)) = (row(UNTARGETED_ROW), row(FLOOR_ROW))
        && results.samples[untargeted].len() == results.samples[floor].len()
    {
        let part = |of: fn(&Sample) -> f64| Added::of(&values(untargeted, of), &values(floor, of));
        let _ = writeln!(
            out,
            "\ntracer's own part of what an untargeted process pays (\"{UNTARGETED_ROW}\" minus \
             \"{FLOOR_ROW}\", paired by repetition): {} ns per syscall in wall time, {} on-CPU.",
            part(wall),
            part(cpu)
        );
    }
    out.push('\n');
    out
}

/// tracer's own cost on every workload, from the rows that measured a collector; empty when
/// none did.
fn collector_table(tools: &[Tool], measured: &[Measured]) -> String {
    let rows: Vec<String> = measured
        .iter()
        .flat_map(|results| {
            tools.iter().enumerate().filter_map(move |(index, tool)| {
                if results.failures.get(index).is_some_and(Option::is_some) {
                    return None;
                }
                let samples = &results.samples[index];
                let costs: Vec<CollectorCost> = samples
                    .iter()
                    .filter_map(|sample| sample.collector)
                    .collect();
                let max_lost = costs.iter().map(|cost| cost.lost).max()?;
                let rate = sorted(
                    samples
                        .iter()
                        .map(|sample| 1e9 / sample.per_syscall.wall_ns),
                );
                let cpu = sorted(costs.iter().map(|cost| cost.usage.cpu_share * 100.0));
                let cpu_ms = sorted(costs.iter().map(|cost| cost.usage.cpu_ns as f64 / 1e6));
                let rss_kib = costs.iter().map(|cost| cost.usage.rss_kib).max()?;
                let peak_rss_kib = costs.iter().map(|cost| cost.usage.peak_rss_kib).max()?;
                let ns_per_run = sorted(costs.iter().filter_map(|cost| cost.ns_per_program_run));
                Some(format!(
                    "| {} | {} | {:.0} | {:.2} ({:.2}) | {:.1} | {:.1} | {:.1} | {max_lost} | {} |",
                    tool.name,
                    results.workload.kind.name(),
                    median(&rate),
                    median(&cpu),
                    cpu.last().copied().unwrap_or(f64::NAN),
                    median(&cpu_ms),
                    rss_kib as f64 / 1024.0,
                    peak_rss_kib as f64 / 1024.0,
                    if ns_per_run.is_empty() {
                        "-".to_owned()
                    } else {
                        format!("{:.0}", median(&ns_per_run))
                    },
                ))
            })
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "## tracer's own cost\n\n\
         Measured in the same runs, while the loop ran. \"Collector CPU\" = CPU time of all the \
         collector's threads (/proc/PID/task/*/schedstat) from its ready line to just before \
         SIGINT, as a share of one core over that interval: median (max over repetitions), and \
         in ms per run (median); it includes one-off work such as describing each fd the first \
         time it shows up (from /proc/PID/net), which weighs more the shorter the loop. Its BPF \
         programs run inside the traced syscalls and are counted in the tables above instead. \
         \"RSS\" = VmRSS and \"peak RSS\" = VmHWM (loading the probes included) just before \
         SIGINT, the largest over repetitions. \"Lost\" = the sum of the loss counters in its \
         run file, the largest over repetitions (must be 0). \"ns per program run\" = the \
         kernel's run time of its BPF programs per run (probe.overhead in the run file), \
         median. \"Syscalls/s\" = the workload's rate in its loop, median.\n\n\
         | tool | workload | syscalls/s | collector CPU, % of a core | collector CPU ms | RSS MiB \
         | peak RSS MiB | lost | ns per program run |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n\
         {}\n",
        rows.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            what: format!("{name} does things"),
            attach: Attach::Untraced,
            short: false,
            counts: None,
            collector: false,
        }
    }

    fn loop_result(writes: u64, reads: u64, rounds: u64, wall_ns: u64, cpu_ns: u64) -> LoopResult {
        LoopResult {
            writes,
            reads,
            rounds,
            wall: Duration::from_nanos(wall_ns),
            cpu: Duration::from_nanos(cpu_ns),
        }
    }

    #[test]
    fn results_are_parsed_into_ns_per_syscall_and_per_round() {
        let result = loop_result(300, 100, 100, 1000, 600);
        let parsed = LoopResult::parse(&result.to_line()).expect("valid");
        assert_eq!(parsed, result);
        let sample = Sample::of(&parsed);
        assert!((sample.per_syscall.wall_ns - 2.5).abs() < 1e-9);
        assert!((sample.per_syscall.cpu_ns - 1.5).abs() < 1e-9);
        assert!((sample.per_round.wall_ns - 10.0).abs() < 1e-9);
        assert!((sample.per_round.cpu_ns - 6.0).abs() < 1e-9);
        // Field order does not matter; names do.
        let reordered = "rounds=1 cpu_ns=5 wall_ns=9 reads=2 writes=3";
        assert_eq!(
            LoopResult::parse(reordered).expect("valid"),
            loop_result(3, 2, 1, 9, 5)
        );
        let zero = loop_result(0, 0, 100, 1000, 600).to_line();
        assert!(LoopResult::parse(&zero).is_err(), "no syscalls");
        let no_cpu = "writes=1 reads=1 rounds=1 wall_ns=1000";
        assert!(LoopResult::parse(no_cpu).is_err(), "no on-CPU time");
        let negative = "writes=-1 reads=1 rounds=1 wall_ns=1 cpu_ns=1";
        assert!(LoopResult::parse(negative).is_err());
        assert!(LoopResult::parse("400 1000 600").is_err(), "unnamed fields");
    }

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
        let fast = tool("fast");
        let slow = Tool {
            short: true,
            ..tool("slow")
        };
        assert_eq!(workload.rounds_for(&fast), 20_000);
        assert_eq!(workload.rounds_for(&slow), 2_000);
    }

    #[test]
    fn placeholders_take_the_pid_and_output_file() {
        let args = [
            OsString::from("tracer"),
            "--pid".into(),
            "{pid}".into(),
            "{out}".into(),
        ];
        let line = substitute(&args, Some(42), Path::new("/tmp/run.json"));
        assert_eq!(line, ["tracer", "--pid", "42", "/tmp/run.json"]);
    }

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

    #[test]
    fn lost_events_show_as_a_share_below_100_percent() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(190_939.0 / 200_000.0), "95.4%");
        assert_eq!(percent(0.99999), "99.9%", "never rounded up to 100%");
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert!((median(&[1.0, 2.0, 9.0]) - 2.0).abs() < 1e-9);
        assert!((median(&[1.0, 2.0, 4.0, 9.0]) - 3.0).abs() < 1e-9);
        assert!(median(&[]).is_nan());
    }

    /// The report's tools: the baseline, the empty-probe floor and a tracer.
    fn report_tools() -> [Tool; 3] {
        [
            tool("no tracer"),
            tool("empty"),
            Tool {
                collector: true,
                ..tool("heavy")
            },
        ]
    }

    /// Three repetitions at these wall ns per syscall (on-CPU: half), a round being 5
    /// syscalls, with a collector's cost when `collector`.
    fn report_samples(values: [f64; 3], counted: Option<f64>, collector: bool) -> Vec<Sample> {
        // (share of a core, CPU ns, RSS KiB, ns per program run), as over a 4 s loop.
        let costs = [
            (0.0005, 2_000_000, 20_480, 90.0),
            (0.001, 4_000_000, 22_528, 100.0),
            (0.0002, 800_000, 21_504, 110.0),
        ];
        values
            .iter()
            .zip(costs)
            .map(
                |(&ns, (cpu_share, cpu_ns, peak_rss_kib, ns_per_run))| Sample {
                    per_syscall: Times {
                        wall_ns: ns,
                        cpu_ns: ns / 2.0,
                    },
                    per_round: Times {
                        wall_ns: ns * 5.0,
                        cpu_ns: ns * 2.5,
                    },
                    counted,
                    collector: collector.then_some(CollectorCost {
                        usage: collector::Usage {
                            cpu_ns,
                            cpu_share,
                            rss_kib: peak_rss_kib / 2,
                            peak_rss_kib,
                        },
                        lost: 0,
                        ns_per_program_run: Some(ns_per_run),
                    }),
                },
            )
            .collect()
    }

    /// A workload whose baseline drifts 100 -> 200 ns while the tools add exactly 40 and 160
    /// ns per syscall in each repetition.
    fn report_measured(kind: WorkloadKind) -> Measured {
        Measured {
            workload: Workload {
                kind,
                rounds: 10,
                short_rounds: 5,
            },
            samples: vec![
                report_samples([100.0, 200.0, 150.0], None, false),
                report_samples([140.0, 240.0, 190.0], Some(1.0), false),
                report_samples([260.0, 360.0, 310.0], Some(0.95), true),
            ],
            failures: vec![None; 3],
        }
    }

    fn report_of(measured: &[Measured]) -> String {
        let environment = Environment {
            cpu: "Test CPU".into(),
            cores: 2,
            kernel: "6.1.0".into(),
            load_before: "0.1".into(),
            load_after: "0.2".into(),
            took: Duration::from_secs(3),
            versions: vec![],
        };
        render(&report_tools(), measured, &environment)
    }

    fn report_of_both_workloads() -> String {
        report_of(&[
            report_measured(WorkloadKind::Socketpair),
            report_measured(WorkloadKind::Http),
        ])
    }

    fn rows<'report>(report: &'report str, name: &str) -> Vec<&'report str> {
        report
            .lines()
            .filter(|line| line.starts_with(&format!("| {name} |")))
            .collect()
    }

    #[test]
    fn each_workload_has_a_table_of_costs_paired_with_the_same_repetition() {
        let report = report_of_both_workloads();
        assert!(
            report.contains("| tool | iterations | wall ns/syscall"),
            "{report}"
        );
        assert!(
            report.contains("| tool | requests | wall ns/syscall"),
            "{report}"
        );
        assert_eq!(
            rows(&report, "no tracer"),
            [
                "| no tracer | 10 | 150 | - | - | 75 | - | - | - |",
                "| no tracer | 10 | 150 | - | - | 75 | - | - | - | - | - |",
            ]
        );
        assert_eq!(
            rows(&report, "empty"),
            [
                "| empty | 10 | 190 | 40 (40 to 40) | 1.0 | 95 | 20 (20 to 20) | 1.0 | 100% |",
                "| empty | 10 | 190 | 40 (40 to 40) | 1.0 | 95 | 20 (20 to 20) | 1.0 | 0.2 | 0.1 | 100% |",
            ]
        );
        assert_eq!(
            rows(&report, "heavy")[..2],
            [
                "| heavy | 10 | 310 | 160 (160 to 160) | 4.0 | 155 | 80 (80 to 80) | 4.0 | 95.0% |",
                "| heavy | 10 | 310 | 160 (160 to 160) | 4.0 | 155 | 80 (80 to 80) | 4.0 | 0.8 | 0.4 | 95.0% |",
            ]
        );
        assert!(
            report.contains("Test CPU (2 cores), Linux 6.1.0"),
            "{report}"
        );
    }

    #[test]
    fn tracers_own_cost_is_tabled_for_the_tools_that_measured_it() {
        let report = report_of_both_workloads();
        // Rate from the median 310 ns per syscall; CPU 0.02%, 0.05%, 0.10% of a core.
        assert_eq!(
            rows(&report, "heavy")[2..],
            [
                "| heavy | socketpair | 3225806 | 0.05 (0.10) | 2.0 | 11.0 | 22.0 | 0 | 100 |",
                "| heavy | http | 3225806 | 0.05 (0.10) | 2.0 | 11.0 | 22.0 | 0 | 100 |",
            ]
        );
        let untraced_only = [Measured {
            samples: vec![report_samples([1.0; 3], None, false); 3],
            ..report_measured(WorkloadKind::Socketpair)
        }];
        let report = report_of(&untraced_only);
        assert!(!report.contains("tracer's own cost"), "{report}");
    }

    #[test]
    fn tracers_part_for_untargeted_processes_is_the_untargeted_row_minus_the_floor() {
        let tools = [
            tool("no tracer"),
            tool("empty"),
            tool(UNTARGETED_ROW),
            tool(FLOOR_ROW),
        ];
        let measured = Measured {
            samples: vec![
                report_samples([100.0, 200.0, 150.0], None, false),
                report_samples([140.0, 240.0, 190.0], None, false),
                // Untargeted: 30, 10 and 20 ns above the floor in the three repetitions.
                report_samples([250.0, 330.0, 290.0], None, false),
                report_samples([220.0, 320.0, 270.0], None, false),
            ],
            failures: vec![None; 4],
            ..report_measured(WorkloadKind::Socketpair)
        };
        let report = overhead_table(&tools, &measured);
        assert!(
            report.contains("paired by repetition): 20 (10 to 30) ns per syscall in wall time, 10 (5 to 15) on-CPU."),
            "{report}"
        );
        // Without a floor row there is nothing to subtract.
        let report = overhead_table(
            &tools[..3],
            &Measured {
                samples: measured.samples[..3].to_vec(),
                failures: vec![None; 3],
                ..report_measured(WorkloadKind::Socketpair)
            },
        );
        assert!(!report.contains("paired by repetition"), "{report}");
    }

    #[test]
    fn a_tool_that_failed_on_a_workload_is_named_instead_of_tabled() {
        let mut http = report_measured(WorkloadKind::Http);
        http.failures[2] = Some("fentry is not allowed on this kernel".into());
        let report = report_of(&[report_measured(WorkloadKind::Socketpair), http]);
        let heavy = rows(&report, "heavy");
        assert_eq!(heavy.len(), 2, "{report}");
        assert!(
            heavy
                .iter()
                .all(|row| !row.contains(" http ") && !row.contains("0.8 |"))
        );
        assert!(
            report
                .contains("Not measured:\n\n- heavy (http): fentry is not allowed on this kernel"),
            "{report}"
        );
    }

    #[test]
    fn the_socketpair_loop_makes_two_syscalls_per_iteration() {
        let result = timed_loop(1000).expect("the loop runs");
        assert_eq!(
            (result.writes, result.reads, result.rounds),
            (1000, 1000, 1000)
        );
        assert!(result.wall > Duration::ZERO && result.cpu > Duration::ZERO);
    }

    #[test]
    fn the_http_loop_writes_three_times_per_request() {
        let result = http_loop(300).expect("the loop runs");
        assert_eq!((result.writes, result.rounds), (900, 300));
        // The server reads each request once; the client reads each response once or twice.
        assert!(
            (600..=900).contains(&result.reads),
            "{} reads for 300 requests",
            result.reads
        );
        assert!(result.wall > Duration::ZERO && result.cpu > Duration::ZERO);
    }

    #[test]
    fn the_http_response_is_a_180_b_header_block_and_a_178_b_body() {
        let (head, body) = http_response();
        assert_eq!((head.len(), body.len()), (180, 178));
        assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(http_response_length(&head).expect("valid"), Some(358));
        // Until the blank line has arrived, the length is not known.
        assert_eq!(http_response_length(&head[..100]).expect("valid"), None);
    }

    #[test]
    fn a_response_without_a_usable_length_is_an_error() {
        let response = |head: &str| http_response_length(head.as_bytes());
        assert_eq!(
            response("HTTP/1.1 200 OK\r\ncontent-length:  7 \r\n\r\n").expect("valid"),
            Some(47)
        );
        assert!(response("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n").is_err());
        assert!(response("HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n").is_err());
    }
}
