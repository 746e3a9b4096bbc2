//! `cargo xtask bench`: what a syscall tracer costs the traced process, per syscall.
//!
//! A workload does write+read of 100 B over a Unix socketpair in a loop and times its own loop
//! (so tool start-up is not counted), both in wall time and in its thread's on-CPU time. It runs
//! under each tool in turn, the tools interleaved (rotated every repetition) so that drift of a
//! shared machine spreads over all of them. The cost of a tool in one repetition is its ns per
//! syscall minus the untraced run's of the same repetition; the report gives the median and
//! range over repetitions, and the ratio to the cheapest possible eBPF tracer: bpftrace with
//! empty probes on the same syscalls.
//!
//! Why both times: eBPF probes run inside the traced thread's syscalls, so its on-CPU time shows
//! their cost even on a busy machine, where wall time also counts waiting for a core. strace
//! (ptrace) and perf trace make the traced thread wait for another process, which only wall
//! time shows.
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use crate::cmd;

/// Bytes per write and per read: a small HTTP response part, as in the mesh story.
const PAYLOAD_BYTES: usize = 100;
/// How long a tool may take to attach (bpftrace compiles its script first).
const ATTACH_TIMEOUT: Duration = Duration::from_mins(1);
/// How long a tool may take to exit after SIGINT (it prints its summary then).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Repetitions of every tool (interleaved).
    #[arg(long, default_value_t = 5)]
    reps: u32,
    /// Loop iterations (one write and one read each) per run.
    #[arg(long, default_value_t = 200_000)]
    iterations: u64,
    /// Iterations for strace, which is far slower per syscall.
    #[arg(long, default_value_t = 20_000)]
    strace_iterations: u64,
    /// Leave out `tracer record --pid` (measured by default; the release tracer is built first).
    #[arg(long)]
    no_tracer: bool,
    /// tracer's attach mechanisms to measure, one row each (auto, fentry, tp-btf, raw,
    /// tracepoint), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    tracer_probes: Vec<String>,
    /// Text in tracer's output that says it is attached.
    #[arg(long, default_value = "tracer: recording")]
    tracer_ready: String,
    /// Where to write the Markdown report (it is printed too).
    #[arg(long, default_value = "target/bench/overhead.md")]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct WorkloadArgs {
    /// Loop iterations (one write and one read of 100 B each).
    #[arg(long)]
    iterations: u64,
    /// File that receives "<syscalls> <wall ns> <on-CPU ns>".
    #[arg(long)]
    result: PathBuf,
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

/// One row of the report.
#[derive(Debug, Clone)]
pub struct Tool {
    name: String,
    /// What it does, in words, for the report.
    what: String,
    attach: Attach,
    /// Iterations per run (strace runs shorter).
    iterations: u64,
    /// Its output has per-syscall counts: they are checked to cover the whole loop, which
    /// proves the tool was attached while the workload was timed.
    reports_counts: bool,
}

/// `tracer record --pid N -o FILE [record_options]`, given the tracer's command line (for
/// example `["target/release/tracer"]`): it prints a line containing `ready_marker` (normally
/// "tracer: recording") to stderr once attached, and stops and writes the run file on SIGINT.
pub fn tracer_record(
    tracer_command_line: &[OsString],
    record_options: &[OsString],
    ready_marker: &str,
    iterations: u64,
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
        iterations,
        // Its summary on stdout has a line per syscall with the count ("read  50,000 ...").
        reports_counts: true,
    }
}

fn tools(args: &BenchArgs) -> anyhow::Result<Vec<Tool>> {
    let os = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
    let bpftrace = |script: &str| {
        let mut words = os(&["bpftrace", "-e"]);
        words.push(format!("BEGIN {{ printf(\"bench: ready\\n\"); }} {script}").into());
        words
    };
    let mut tools = vec![
        Tool {
            name: "no tracer".into(),
            what: "baseline".into(),
            attach: Attach::Untraced,
            iterations: args.iterations,
            reports_counts: false,
        },
        Tool {
            name: "bpftrace, empty probes".into(),
            what: "sys_enter/sys_exit tracepoints of write and read, empty body, all processes"
                .into(),
            attach: Attach::ToPid {
                args: bpftrace(
                    "tracepoint:syscalls:sys_enter_write, tracepoint:syscalls:sys_exit_write, \
                     tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_exit_read { }",
                ),
                ready_marker: "bench: ready".into(),
            },
            iterations: args.iterations,
            reports_counts: false,
        },
        Tool {
            name: "bpftrace, count + size histogram".into(),
            what: "sys_exit of write and read, filtered by PID, count and hist(ret) per PID".into(),
            attach: Attach::ToPid {
                args: bpftrace(
                    "tracepoint:syscalls:sys_exit_write, tracepoint:syscalls:sys_exit_read \
                     /pid == {pid}/ { @calls[pid, probe] = count(); \
                     @bytes[pid, probe] = hist(args->ret); }",
                ),
                ready_marker: "bench: ready".into(),
            },
            iterations: args.iterations,
            reports_counts: true,
        },
        Tool {
            name: "syscount -L".into(),
            what: "libbpf-tools, -p PID: counts and latency of every syscall of the process".into(),
            attach: Attach::ToPid {
                // stdbuf: syscount announces it is attached with printf, which a pipe would buffer.
                args: os(&["stdbuf", "-oL", syscount()?, "-L", "-p", "{pid}"]),
                ready_marker: "Tracing syscalls".into(),
            },
            iterations: args.iterations,
            reports_counts: true,
        },
        Tool {
            name: "perf trace -s".into(),
            what: "runs the command; every syscall is an event read by perf from a ring buffer, summarised per syscall".into(),
            attach: Attach::Wraps(os(&["perf", "trace", "-s", "-o", "{out}", "--"])),
            iterations: args.iterations,
            reports_counts: true,
        },
        Tool {
            name: "strace -c -f".into(),
            what: "runs the command; a ptrace stop at every syscall, summarised per syscall".into(),
            attach: Attach::Wraps(os(&["strace", "-c", "-f", "-o", "{out}", "--"])),
            iterations: args.strace_iterations,
            reports_counts: true,
        },
    ];
    if !args.no_tracer {
        let binary = crate::tracer::build()?;
        for probe in &args.tracer_probes {
            tools.push(tracer_record(
                &[binary.clone().into_os_string()],
                &["--probe".into(), probe.into()],
                &args.tracer_ready,
                args.iterations,
            ));
        }
        // What everything else on the machine pays while tracer records someone else: the
        // workload is not a target (tracer traces PID 1), but every syscall still passes the
        // probes' first checks.
        tools.push(Tool {
            name: "tracer record, workload untargeted".into(),
            what: "tracer --probe auto recording PID 1 while the workload runs untraced".into(),
            attach: Attach::ToPid {
                args: vec![
                    binary.into_os_string(),
                    "record".into(),
                    "--pid".into(),
                    "1".into(),
                    "-o".into(),
                    "{out}".into(),
                ],
                ready_marker: args.tracer_ready.clone(),
            },
            iterations: args.iterations,
            reports_counts: false,
        });
    }
    Ok(tools)
}

/// libbpf-tools installs `syscount`; BCC's tools are named `syscount-bpfcc`.
fn syscount() -> anyhow::Result<&'static str> {
    ["syscount", "syscount-bpfcc"]
        .into_iter()
        .find(|name| cmd::on_path(name).is_some())
        .ok_or_else(|| anyhow!("syscount is missing; run `cargo xtask setup` (libbpf-tools)"))
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if !cmd::is_root() {
        bail!("the benchmark attaches eBPF tracers and needs root; rerun with sudo");
    }
    if args.reps == 0 || args.iterations == 0 || args.strace_iterations == 0 {
        bail!("--reps, --iterations and --strace-iterations must be at least 1");
    }
    let tools = tools(args)?;
    let scratch = cmd::target_dir().join("bench");
    fs::create_dir_all(&scratch)
        .with_context(|| format!("could not create {}", scratch.display()))?;
    let load_before = load_average();
    let started = Instant::now();
    // Cost per syscall, [tool][rep].
    let mut samples = vec![Vec::new(); tools.len()];
    // Why a tool could not be measured; it is left out of the table and named below it.
    let mut failures: Vec<Option<String>> = vec![None; tools.len()];
    // A first, discarded run warms caches for the workload binary.
    measure(&tools[0], &scratch).context("the warm-up run failed")?;
    for rep in 0..args.reps {
        for offset in 0..tools.len() {
            let index = (offset + rep as usize) % tools.len();
            let tool = &tools[index];
            if failures[index].is_some() {
                continue;
            }
            let sample = match measure(tool, &scratch) {
                Ok(sample) => sample,
                // The baseline and the empty-probe floor are what every row is read against.
                Err(error) if index < 2 => {
                    return Err(error.context(format!("measuring `{}` failed", tool.name)));
                }
                Err(error) => {
                    eprintln!("bench: {} is left out: {error:#}", tool.name);
                    failures[index] = Some(format!("{error:#}"));
                    samples[index].clear();
                    continue;
                }
            };
            eprintln!(
                "bench: rep {}/{} {:<34} {:>8.0} wall ns/syscall {:>8.0} on-CPU ns/syscall",
                rep + 1,
                args.reps,
                tool.name,
                sample.wall_ns,
                sample.cpu_ns
            );
            samples[index].push(sample);
        }
    }
    let report = render(
        &tools,
        &samples,
        &failures,
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

/// What one syscall cost in one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    wall_ns: f64,
    /// On-CPU time of the workload's thread (user + system).
    cpu_ns: f64,
    /// Share of the loop's calls the tool reported (1.0 = all), for tools that count.
    counted: Option<f64>,
}

/// One run of the workload under `tool`; returns the workload's cost per syscall.
fn measure(tool: &Tool, scratch: &Path) -> anyhow::Result<Sample> {
    let slug: String = tool
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let result = scratch.join(format!("{slug}.result"));
    let tool_out = scratch.join(format!("{slug}.out"));
    let log = scratch.join(format!("{slug}.log"));
    let _ = fs::remove_file(&result);
    let mut workload = vec![
        std::env::current_exe()
            .context("could not find the xtask binary")?
            .into_os_string(),
    ];
    workload.extend(
        [
            "bench-workload",
            "--iterations",
            &tool.iterations.to_string(),
            "--result",
        ]
        .map(OsString::from),
    );
    workload.push(result.clone().into_os_string());

    match &tool.attach {
        Attach::Untraced => {
            let mut child = spawn(&workload, Stdio::from(fs::File::create(&log)?))?;
            go(&mut child)?;
            wait_success(&mut child, &workload)?;
        }
        Attach::Wraps(prefix) => {
            let mut line = substitute(prefix, None, &tool_out);
            line.extend(workload.iter().cloned());
            let mut child = spawn(&line, Stdio::from(fs::File::create(&log)?))?;
            go(&mut child)?;
            wait_success(&mut child, &line)?;
        }
        Attach::ToPid { args, ready_marker } => {
            let workload_log = scratch.join(format!("{slug}.workload.log"));
            let mut target = spawn(&workload, Stdio::from(fs::File::create(workload_log)?))?;
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
            go(&mut target)?;
            let finished = wait_success(&mut target, &workload);
            stop(&mut tracer.child)?;
            for reader in tracer.readers {
                let _ = reader.join();
            }
            finished?;
        }
    }
    let text = fs::read_to_string(&result)
        .with_context(|| format!("the workload wrote no result to {}", result.display()))?;
    let mut sample = parse_result(&text)?;
    if tool.reports_counts {
        let output = [&log, &tool_out]
            .iter()
            .filter_map(|path| fs::read_to_string(path).ok())
            .collect::<String>();
        let mut counted = 1.0_f64;
        for syscall in ["write", "read"] {
            let count = loop_count(&output, syscall, tool.iterations).ok_or_else(|| {
                anyhow!(
                    "{} did not count even half of the loop's {} {syscall} calls, so it was not \
                     attached while the workload was timed; its output is in {} and {}",
                    tool.name,
                    tool.iterations,
                    log.display(),
                    tool_out.display()
                )
            })?;
            counted = counted.min(count as f64 / tool.iterations as f64);
        }
        sample.counted = Some(counted.min(1.0));
    }
    Ok(sample)
}

/// How many of the loop's `iterations` calls of `syscall` a tool's `output` reports: the
/// largest whole number, on a line naming the syscall (as a word, or as the end of a probe
/// name such as `sys_exit_write`), between half the loop (fewer means the tool was not attached
/// while it ran; a few lost events are a finding, not a failure) and the loop plus the calls a
/// process makes while starting up.
fn loop_count(output: &str, syscall: &str, iterations: u64) -> Option<u64> {
    let plausible = iterations / 2..=iterations + 100;
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
                .filter(|count| plausible.contains(count))
                .max()
        })
        .max()
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

/// "<syscalls> <wall ns> <on-CPU ns>" -> cost per syscall.
fn parse_result(text: &str) -> anyhow::Result<Sample> {
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(syscalls)), Some(Ok(wall_ns)), Some(Ok(cpu_ns))) if syscalls > 0 => Ok(Sample {
            wall_ns: wall_ns as f64 / syscalls as f64,
            cpu_ns: cpu_ns as f64 / syscalls as f64,
            counted: None,
        }),
        _ => bail!("the workload result {text:?} is not \"<syscalls> <wall ns> <on-CPU ns>\""),
    }
}

/// The workload: waits for a line on stdin (the tool under test is attached by then; EOF also
/// means go), runs the timed loop and writes "<syscalls> <wall ns> <on-CPU ns>" to the result
/// file.
pub fn workload(args: &WorkloadArgs) -> anyhow::Result<()> {
    let mut go = [0_u8; 1];
    let _ = std::io::stdin().read(&mut go);
    let (syscalls, wall, cpu) = timed_loop(args.iterations)?;
    fs::write(
        &args.result,
        format!("{syscalls} {} {}\n", wall.as_nanos(), cpu.as_nanos()),
    )
    .with_context(|| format!("could not write {}", args.result.display()))?;
    Ok(())
}

/// `iterations` × (write 100 B, read 100 B) over a Unix socketpair: the syscall count, the
/// wall time and the thread's on-CPU time the loop took.
fn timed_loop(iterations: u64) -> anyhow::Result<(u64, Duration, Duration)> {
    let (writer, reader) = UnixStream::pair().context("socketpair failed")?;
    // As files: std sends on a UnixStream with sendto(2) and receives with recvfrom(2); a File
    // uses plain write(2) and read(2), the calls the probes under test are attached to.
    let mut writer = fs::File::from(OwnedFd::from(writer));
    let mut reader = fs::File::from(OwnedFd::from(reader));
    let payload = [b'x'; PAYLOAD_BYTES];
    let mut received = [0_u8; PAYLOAD_BYTES];
    let cpu_started = thread_cpu_time()?;
    let started = Instant::now();
    for _ in 0..iterations {
        // One write(2) and one read(2) per iteration; a short count would change the syscall
        // count, so it is an error rather than a retry.
        let written = writer.write(&payload)?;
        let read = reader.read(&mut received)?;
        if written != PAYLOAD_BYTES || read != PAYLOAD_BYTES {
            bail!("short transfer: wrote {written} B, read {read} B of {PAYLOAD_BYTES} B");
        }
    }
    let wall = started.elapsed();
    let cpu = thread_cpu_time()?.saturating_sub(cpu_started);
    Ok((iterations * 2, wall, cpu))
}

/// The calling thread's on-CPU time (user + system), from `CLOCK_THREAD_CPUTIME_ID`.
fn thread_cpu_time() -> anyhow::Result<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut now) };
    if status != 0 {
        bail!(
            "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed: {}",
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

/// The Markdown report. `samples[tool][rep]` is the cost per syscall; tool 0 is the baseline
/// and tool 1 the empty-probe floor.
fn render(
    tools: &[Tool],
    samples: &[Vec<Sample>],
    failures: &[Option<String>],
    environment: &Environment,
) -> String {
    let wall = |index: usize| samples[index].iter().map(|s| s.wall_ns).collect::<Vec<_>>();
    let cpu = |index: usize| samples[index].iter().map(|s| s.cpu_ns).collect::<Vec<_>>();
    let floor_wall = Added::of(&wall(1), &wall(0)).median;
    let floor_cpu = Added::of(&cpu(1), &cpu(0)).median;
    let mut out = String::new();
    let _ = writeln!(out, "## Overhead per syscall\n");
    let _ = writeln!(
        out,
        "Workload: write + read of {PAYLOAD_BYTES} B over a Unix socketpair in a loop, timed by \
         the workload itself in wall time and in its thread's on-CPU time. {} repetitions, \
         tools interleaved (order rotated every repetition). \"Added\" = ns per syscall under \
         the tool minus ns per syscall without a tracer in the same repetition: median (min to \
         max). \"× empty\" = added / added by bpftrace with empty probes. eBPF probes run \
         inside the traced thread's syscalls, so on-CPU time shows their cost even on a busy \
         machine; strace and perf trace make the thread wait for another process, which only \
         wall time shows. \"Counted\" = the smallest share of the loop's writes and reads the \
         tool reported, in its worst repetition (below 100%: it lost events).\n",
        samples[0].len()
    );
    let _ = writeln!(
        out,
        "| tool | iterations | wall ns/syscall | added wall | × empty (wall) \
         | on-CPU ns/syscall | added on-CPU | × empty (on-CPU) | counted |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (index, tool) in tools.iter().enumerate() {
        if failures.get(index).is_some_and(Option::is_some) {
            continue;
        }
        let (wall_added, wall_ratio, cpu_added, cpu_ratio) = if index == 0 {
            let dash = || "-".to_owned();
            (dash(), dash(), dash(), dash())
        } else {
            let wall_added = Added::of(&wall(index), &wall(0));
            let cpu_added = Added::of(&cpu(index), &cpu(0));
            (
                wall_added.to_string(),
                format!("{:.1}", wall_added.median / floor_wall),
                cpu_added.to_string(),
                format!("{:.1}", cpu_added.median / floor_cpu),
            )
        };
        let counted = samples[index]
            .iter()
            .filter_map(|sample| sample.counted)
            .min_by(f64::total_cmp)
            .map_or_else(|| "-".to_owned(), percent);
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {wall_added} | {wall_ratio} | {:.0} | {cpu_added} | {cpu_ratio} \
             | {counted} |",
            tool.name,
            tool.iterations,
            median(&sorted(wall(index))),
            median(&sorted(cpu(index))),
        );
    }
    let _ = writeln!(out, "\nWhat each tool does:\n");
    for tool in tools {
        let _ = writeln!(out, "- {}: {}", tool.name, tool.what);
    }
    let left_out: Vec<_> = tools
        .iter()
        .zip(failures)
        .filter_map(|(tool, failure)| Some((tool, failure.as_ref()?)))
        .collect();
    if !left_out.is_empty() {
        let _ = writeln!(out, "\nNot measured:\n");
        for (tool, failure) in left_out {
            let _ = writeln!(out, "- {}: {failure}", tool.name);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Tool {
        Tool {
            name: name.into(),
            what: format!("{name} does things"),
            attach: Attach::Untraced,
            iterations: 10,
            reports_counts: false,
        }
    }

    #[test]
    fn results_are_parsed_into_ns_per_syscall() {
        let sample = parse_result("400 1000 600\n").expect("valid");
        assert!((sample.wall_ns - 2.5).abs() < 1e-9);
        assert!((sample.cpu_ns - 1.5).abs() < 1e-9);
        assert!(parse_result("0 1000 600").is_err(), "no syscalls");
        assert!(parse_result("400 1000").is_err(), "no on-CPU time");
        assert!(parse_result("garbage").is_err());
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
            7,
        );
        assert_eq!(tool.name, "tracer record --probe fentry");
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

    #[test]
    fn added_cost_is_paired_with_the_same_repetition() {
        let tools = [tool("no tracer"), tool("empty"), tool("heavy")];
        // Baseline drifts 100 -> 200; the tools add exactly 10 and 40 in each repetition.
        let both = |values: [f64; 3], counted: Option<f64>| {
            values
                .map(|ns| Sample {
                    wall_ns: ns,
                    cpu_ns: ns / 2.0,
                    counted,
                })
                .to_vec()
        };
        let samples = vec![
            both([100.0, 200.0, 150.0], None),
            both([110.0, 210.0, 160.0], Some(1.0)),
            both([140.0, 240.0, 190.0], Some(0.95)),
        ];
        let environment = Environment {
            cpu: "Test CPU".into(),
            cores: 2,
            kernel: "6.1.0".into(),
            load_before: "0.1".into(),
            load_after: "0.2".into(),
            took: Duration::from_secs(3),
            versions: vec![],
        };
        let mut failures = vec![None; 3];
        let report = render(&tools, &samples, &failures, &environment);
        let rows: Vec<&str> = report
            .lines()
            .filter(|line| line.starts_with("| "))
            .collect();
        assert_eq!(rows[2], "| no tracer | 10 | 150 | - | - | 75 | - | - | - |");
        assert_eq!(
            rows[3],
            "| empty | 10 | 160 | 10 (10 to 10) | 1.0 | 80 | 5 (5 to 5) | 1.0 | 100% |"
        );
        assert_eq!(
            rows[4],
            "| heavy | 10 | 190 | 40 (40 to 40) | 4.0 | 95 | 20 (20 to 20) | 4.0 | 95.0% |"
        );
        assert!(
            report.contains("Test CPU (2 cores), Linux 6.1.0"),
            "{report}"
        );
        failures[2] = Some("fentry is not allowed on this kernel".into());
        let report = render(&tools, &samples, &failures, &environment);
        assert!(!report.contains("| heavy |"), "{report}");
        assert!(
            report.contains("Not measured:\n\n- heavy: fentry is not allowed on this kernel"),
            "{report}"
        );
    }

    #[test]
    fn the_loop_makes_two_syscalls_per_iteration() {
        let (syscalls, wall, cpu) = timed_loop(1000).expect("the loop runs");
        assert_eq!(syscalls, 2000);
        assert!(wall > Duration::ZERO && cpu > Duration::ZERO);
    }
}
