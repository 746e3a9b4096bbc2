//! One run of a workload under a tool: start the workload (waiting for "go" on stdin), put the
//! tool on it, time the loop, stop the tool, and read what the loop did and what the tool
//! counted (and, for tracer, what its collector cost).
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use super::tools::{Attach, Counts, Tool};
use super::workloads::{LoopResult, Workload, command_line};
use crate::collector;

const ATTACH_TIMEOUT: Duration = Duration::from_mins(1);
/// How long a tool may take to exit after SIGINT (it prints its summary then).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Wall and on-CPU ns of one unit of the loop's work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Times {
    pub(super) wall_ns: f64,
    /// On-CPU time of the workload's thread (socketpair) or process (http), user + system.
    pub(super) cpu_ns: f64,
}

/// What tracer's collector cost in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CollectorCost {
    pub(super) usage: collector::Usage,
    /// The sum of its run file's loss counters.
    pub(super) lost: u64,
    /// Kernel ns per run of its programs, from its run file.
    pub(super) ns_per_program_run: Option<f64>,
}

/// What the workload's loop cost in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sample {
    pub(super) per_syscall: Times,
    /// Per round of the loop: an iteration (socketpair) or a request (http).
    pub(super) per_round: Times,
    /// Share of the loop's calls the tool reported (1.0 = all), for tools that count.
    pub(super) counted: Option<f64>,
    /// For tracer: its own cost while the loop ran.
    pub(super) collector: Option<CollectorCost>,
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
/// `tracer_demo` is the binary that runs the workload.
pub(super) fn measure(
    tool: &Tool,
    workload: &Workload,
    tracer_demo: &Path,
    scratch: &Path,
) -> anyhow::Result<Sample> {
    let slug: String = format!("{}-{}", workload.kind.name(), tool.name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let result = scratch.join(format!("{slug}.result"));
    let tool_out = scratch.join(format!("{slug}.out"));
    let log = scratch.join(format!("{slug}.log"));
    let _ = fs::remove_file(&result);
    let _ = fs::remove_file(&tool_out);
    let workload_line = command_line(
        tracer_demo,
        workload.kind,
        workload.rounds_for(tool),
        &result,
    );

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

#[cfg(test)]
mod tests {
    use super::*;

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
        // As tracer-demo's `workload timed` writes it.
        let line = "writes=300 reads=100 rounds=100 wall_ns=1000 cpu_ns=600\n";
        let parsed = LoopResult::parse(line).expect("valid");
        assert_eq!(parsed, loop_result(300, 100, 100, 1000, 600));
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
        let zero = "writes=0 reads=0 rounds=100 wall_ns=1000 cpu_ns=600";
        assert!(LoopResult::parse(zero).is_err(), "no syscalls");
        let no_cpu = "writes=1 reads=1 rounds=1 wall_ns=1000";
        assert!(LoopResult::parse(no_cpu).is_err(), "no on-CPU time");
        let negative = "writes=-1 reads=1 rounds=1 wall_ns=1 cpu_ns=1";
        assert!(LoopResult::parse(negative).is_err());
        assert!(LoopResult::parse("400 1000 600").is_err(), "unnamed fields");
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
}
