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
//! The workloads are `tracer-demo workload timed` (the HTTP loop is the demo's own two-write
//! service and client, see tracer-demo's `http` module); the modules here: `tools` (the rows and
//! how each tool attaches and counts), `measure` (one run of a workload under a tool),
//! `workloads` (the loops and their result lines), `render` (the Markdown report).
//!
//! Why both times: eBPF probes run inside the traced thread's syscalls, so its on-CPU time shows
//! their cost even on a busy machine, where wall time also counts waiting for a core. strace
//! (ptrace) and perf trace make the traced thread wait for another process, which only wall
//! time shows.
mod measure;
mod render;
mod tools;
mod workloads;

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::cmd;
use measure::{Sample, measure};
use render::{Environment, load_average, render};
use tools::tools;
use workloads::{Workload, WorkloadKind};

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
    let tracer_demo = crate::tracer::build(crate::tracer::TRACER_DEMO)?;
    let tools = tools(args, &tracer_demo)?;
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
        measure(&tools[0], &results.workload, &tracer_demo, &scratch).with_context(|| {
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
                let sample = match measure(tool, &results.workload, &tracer_demo, &scratch) {
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
