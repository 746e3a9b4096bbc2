//! `tracer record`: validate the request, attach the probes, add the targets, then sample once
//! per interval until the duration ends, a signal arrives, the command exits or every target
//! is gone — and in every one of those cases write the run file and print the summary.
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use tokio::signal::unix::{SignalKind, signal};
use tracer_common::syscalls;

use super::{output::TextOrJson, targets::TargetArgs};
use crate::{
    collect::{
        CommandSpec, LiveView, Recorder, Schedule, TargetSpec, TracedCommand, check_label,
        parse_duration,
    },
    console::{self, note},
    error::{ErrorKind, user},
    probe::{CostSampling, Mechanism, ProbeOptions},
    run::{EndReason, Run},
};

#[derive(Debug, clap::Args)]
#[expect(clippy::struct_excessive_bools, reason = "on/off command-line flags")]
pub struct RecordArgs {
    /// Process to trace, with its threads and later children. NAME=PID names it. Repeatable,
    /// or a comma-separated list: -p "$(pgrep -d, nginx)".
    #[arg(
        short = 'p',
        long = "pid",
        value_name = "[NAME=]PID",
        value_delimiter = ','
    )]
    pub pids: Vec<String>,
    #[command(flatten)]
    pub cgroups: TargetArgs,
    /// Stop after this long (e.g. 30s, 500ms, 2m). Default: until Ctrl-C or the targets exit.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Sampling interval for the live view, CPU and the per-interval series.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// Name of this run in comparisons, e.g. "no-mesh" or "ambient".
    #[arg(long)]
    pub label: Option<String>,
    /// Run file to write (replaced atomically); `-` writes it to standard output (the
    /// summary then goes to standard error).
    #[arg(short, long, default_value = "tracer-run.json")]
    pub output: PathBuf,
    /// Permission bits of the run file, in octal. It names files, peers and processes, so
    /// only its owner may read it unless widened here (e.g. 0644).
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = crate::run::parse_mode)]
    pub mode: u32,
    /// Attach mechanism: auto (the cheapest this kernel allows), fentry, tp-btf, raw or
    /// tracepoint.
    // Spelled out: clap reads a plain `Option` field as "the flag may be absent".
    #[arg(long, value_name = "MECHANISM", default_value = "auto", value_parser = probe_parser())]
    pub probe: std::option::Option<Mechanism>,
    /// Kernel BTF file (for the fentry and tp-btf mechanisms).
    #[arg(long, value_name = "FILE")]
    pub btf: Option<PathBuf>,
    /// Percent of the time the kernel times tracer's own programs, for the "probe overhead"
    /// figures: 0 (off, the default) to 100 (always; switched on once). Below 100 the kernel's
    /// BPF statistics are switched on and off every second and the totals scaled up from the
    /// share. Off by default because every switch patches kernel code in place (a static key),
    /// which crashed test kernels; and the timing itself costs two clock reads per program run.
    #[arg(long, value_name = "PERCENT", default_value = "0", value_parser = parse_cost_sampling)]
    pub cost_sampling: CostSampling,
    /// Count only these syscalls (comma-separated), e.g. read,recvfrom: fewer probes attached
    /// (fentry, syscall tracepoints) or fewer calls past the first test (`sys_enter`), so a
    /// lower cost. The run file lists them. Default: every I/O syscall tracer knows.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',', value_parser = SyscallName)]
    pub syscalls: Option<Vec<String>>,
    /// Split each syscall's time into waiting (switched out) and on-CPU, and take exiting
    /// threads' CPU at their last switch-out (exact; without it, as of their exit, short by at
    /// most one scheduler tick each). Attaches a probe to `sched_switch`, the kernel's hottest
    /// tracepoint: off by default because enabling and disabling it patches the scheduler's
    /// code, and a Debian 6.12 guest under qemu's emulation once panicked (int3 in
    /// `__schedule`) as tracer detached it. Costs ~70-260 ns per traced syscall (BENCHMARKS.md).
    #[arg(long)]
    pub waiting_split: bool,
    /// Fortio or oha JSON result of the load that ran during the recording, attached to the run
    /// (enables latency and per-request values).
    #[arg(long = "load", value_name = "FILE")]
    pub load: Option<PathBuf>,
    /// Attach the command's standard output as its load result (Fortio or oha JSON). On by
    /// itself for `oha ... --output-format json`.
    #[arg(long)]
    pub load_from_stdout: bool,
    /// Number of requests the load generator made during the run (enables per-request values).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Exit with code 8 when every --pid target exited before --duration ended (the shorter
    /// run is written either way; without --strict that is a warning and exit code 0).
    #[arg(long)]
    pub strict: bool,
    /// Format of the summary printed at the end: text, or json (the run's report, as
    /// `tracer report --format json` gives it, `"kind": "tracer-report"`).
    #[arg(long, value_enum, default_value_t)]
    pub format: TextOrJson,
    /// No live view; only the summary at the end.
    #[arg(short, long)]
    pub quiet: bool,
    /// Store (and print) the command's full command line in the run file. Off by default:
    /// arguments often hold tokens or passwords, so only the program name is stored or shown.
    #[arg(long)]
    pub with_cmdline: bool,
    /// Command to run and trace with its children, until it exits; tracer then exits with
    /// its status (128+N if signal N killed it), its own failures with 125, 126 or 127.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `--probe`'s values: `auto` (`None`: the cheapest the kernel allows), then each mechanism.
fn probe_parser() -> impl TypedValueParser<Value = Option<Mechanism>> {
    let names = std::iter::once("auto").chain(Mechanism::PREFERENCE.map(Mechanism::option_name));
    PossibleValuesParser::new(names).map(|name| {
        Mechanism::PREFERENCE
            .into_iter()
            .find(|m| m.option_name() == name)
    })
}

/// A `--syscalls` name: one of the table's, refused otherwise in one sentence that lists
/// them (which shell completions and `--help` list too).
#[derive(Clone, Copy, Debug)]
struct SyscallName;

impl TypedValueParser for SyscallName {
    type Value = String;

    fn parse_ref(
        &self,
        _command: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let name = value.to_string_lossy();
        if syscalls::NAMES.contains(&name.as_ref()) {
            return Ok(name.into_owned());
        }
        Err(clap::Error::raw(
            clap::error::ErrorKind::InvalidValue,
            format!(
                "--syscalls: tracer does not count '{name}'; give some of {}\n",
                syscalls::NAMES.join(", ")
            ),
        ))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            syscalls::NAMES
                .iter()
                .map(clap::builder::PossibleValue::new),
        ))
    }
}

/// The mask of `--syscalls` (names already checked against the table by clap).
fn syscall_mask(names: &[String]) -> u32 {
    names
        .iter()
        .filter_map(|name| syscalls::NAMES.iter().position(|n| n == name))
        .fold(0, |mask, index| mask | 1 << index)
}

/// `10` or `10%`: a share of the time for `--cost-sampling`.
fn parse_cost_sampling(text: &str) -> Result<CostSampling, String> {
    let number = text.trim().trim_end_matches('%');
    let percent: u8 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a percentage: give a whole number from 0 to 100"))?;
    CostSampling::percent(percent)
}

/// What `--pid` values name: (name, pid).
fn parse_pid(text: &str) -> anyhow::Result<(Option<String>, u32)> {
    let (name, pid) = match text.split_once('=') {
        Some((name, pid)) => (Some(name.to_owned()), pid),
        None => (None, text),
    };
    let pid: u32 = pid.trim().parse().ok().filter(|&p| p > 0).ok_or_else(|| {
        user(ErrorKind::Usage, format!("--pid {text}: '{pid}' is not a process ID; give a positive number, optionally as NAME=PID"))
    })?;
    if let Some(name) = &name {
        check_label(name)
            .map_err(|reason| user(ErrorKind::Usage, format!("--pid {text}: {reason}")))?;
    }
    Ok((name, pid))
}

/// Parses every `--pid`, refusing a process given twice (it would be two targets).
fn parse_pids(texts: &[String]) -> anyhow::Result<Vec<(Option<String>, u32)>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut pids = Vec::with_capacity(texts.len());
    for text in texts {
        let (name, pid) = parse_pid(text)?;
        if !seen.insert(pid) {
            return Err(user(
                ErrorKind::Usage,
                format!("--pid {pid} is given twice; name each process once"),
            ));
        }
        pids.push((name, pid));
    }
    Ok(pids)
}

/// Fails early (before any recording) if the run file could not be written.
fn check_writable(path: &Path) -> anyhow::Result<()> {
    let dir = crate::run::parent_folder(path);
    if path.is_dir() {
        return Err(user(
            ErrorKind::Output,
            format!(
                "-o {}: is a folder; give a file name such as {}/run.json",
                path.display(),
                path.display()
            ),
        ));
    }
    // An unnamed file (O_TMPFILE, or a random name with O_EXCL where that is missing): no
    // name anyone could have planted a link at.
    tempfile::tempfile_in(dir).map(drop).map_err(|e| {
        user(
            ErrorKind::Output,
            format!(
                "cannot write the run file in {} ({e}): choose another -o path",
                dir.display()
            ),
        )
    })
}

/// `tracer record`.
pub fn record(args: &RecordArgs) -> anyhow::Result<ExitCode> {
    let pids = parse_pids(&args.pids)?;
    if let Some(label) = &args.label {
        check_label(label)
            .map_err(|reason| user(ErrorKind::Usage, format!("--label: {reason}")))?;
    }
    let cgroups = args.cgroups.resolve_all()?;
    if pids.is_empty() && args.command.is_empty() && cgroups.is_empty() {
        return Err(user(
            ErrorKind::Usage,
            "nothing to record: give --pid PID, --pod NAMESPACE/NAME, --container ID, --cgroup PATH, or a command after -- (tracer record -- curl http://example)",
        ));
    }
    for (_, pid) in &pids {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(user(
                ErrorKind::TargetNotFound,
                format!("no process with PID {pid} is running: check the number with ps or pgrep"),
            ));
        }
    }
    let to_stdout = args.output.as_os_str() == "-";
    if !to_stdout {
        check_writable(&args.output)?;
    }

    let mut targets: Vec<TargetSpec> = pids
        .iter()
        .map(|(name, pid)| pid_target(name.clone(), *pid))
        .collect();
    for cgroup in cgroups {
        targets.push(TargetSpec {
            spec: cgroup.spec.clone(),
            name: cgroup.name.clone(),
            pids: cgroup.pids().unwrap_or_default(),
            cgroup: Some(cgroup),
            follows_exec: false,
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let Recorded {
        run,
        ended_early,
        command_status,
    } = runtime.block_on(record_async(args, targets))?;
    if to_stdout {
        let mut json = serde_json::to_string_pretty(&run)?;
        json.push('\n');
        console::print(&json).map_err(|e| {
            user(
                ErrorKind::Output,
                format!("cannot write the run file to standard output ({e})"),
            )
        })?;
        console::print_to_stderr(&summary(args, &run, false));
    } else {
        run.write(&args.output, args.mode).map_err(|e| {
            user(
                ErrorKind::Output,
                format!(
                    "cannot write the run file {} ({e}); nothing was written",
                    args.output.display()
                ),
            )
        })?;
        // A closed stdout (`| head`) is not an error.
        let _ = console::print(&summary(args, &run, console::stdout_wants_colour()));
    }
    if ended_early {
        note(&format!(
            "tracer: warning: every target exited before --duration ended; the run covers {:.1} s",
            run.duration_ns as f64 / 1e9
        ));
        if args.strict {
            return Ok(ExitCode::from(ErrorKind::EndedEarly.exit_code()));
        }
    }
    // As strace and time do: the command's own status (128 + N when signal N killed it).
    if let Some(code) = command_status {
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or_else(|_| {
            note("tracer: the command's exit status could not be read");
            crate::error::COMMAND_MODE_FAILURE
        })));
    }
    Ok(ExitCode::SUCCESS)
}

/// What a recording gave: the run, whether its targets ended before `--duration`, and the
/// exit status of the command it ran, if that command ended.
struct Recorded {
    run: Run,
    ended_early: bool,
    command_status: Option<i32>,
}

fn pid_target(name: Option<String>, pid: u32) -> TargetSpec {
    let follows_exec = name.is_none();
    let name = name
        .or_else(|| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| pid.to_string());
    TargetSpec {
        spec: format!("pid:{pid}"),
        name,
        pids: vec![pid],
        cgroup: None,
        follows_exec,
    }
}

/// Whether the command's stdout is its load result: asked for, or oha writing JSON.
fn captures_load(args: &RecordArgs) -> bool {
    let is_oha = Path::new(&args.command[0])
        .file_name()
        .is_some_and(|n| n == "oha");
    let json = args
        .command
        .windows(2)
        .any(|w| w[0] == "--output-format" && w[1] == "json")
        || args.command.iter().any(|a| a == "--output-format=json");
    args.load_from_stdout || (is_oha && json && args.load.is_none())
}

/// The command after `--` as the recorder starts it: the run file names only the program
/// unless `--with-cmdline` (arguments often hold secrets).
fn command_spec(args: &RecordArgs) -> CommandSpec {
    let program = &args.command[0];
    let spec = if args.with_cmdline {
        format!("command:{}", args.command.join(" "))
    } else {
        let name = Path::new(program)
            .file_name()
            .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned());
        format!("command:{name}")
    };
    CommandSpec {
        argv: args.command.clone(),
        capture_stdout: captures_load(args),
        spec,
    }
}

async fn record_async(args: &RecordArgs, targets: Vec<TargetSpec>) -> anyhow::Result<Recorded> {
    // Signals first, so a Ctrl-C during set-up still ends in a written file.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;

    let options = ProbeOptions {
        mechanism: args.probe,
        btf_path: args.btf.clone(),
        cost_sampling: args.cost_sampling,
        filter_by_cgroup: false,
        syscall_mask: args.syscalls.as_deref().map(syscall_mask),
        no_waiting_split: !args.waiting_split,
    };
    let described = targets
        .iter()
        .map(|t| t.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let mut recorder = Recorder::start(options, args.label.clone(), targets)?;
    let what = if args.command.is_empty() {
        described
    } else {
        recorder.start_command(command_spec(args))?;
        // Arguments often hold secrets: the whole line only when --with-cmdline stores it too.
        let shown = if args.with_cmdline {
            args.command.join(" ")
        } else {
            args.command[0].clone()
        };
        format!("'{shown}' and its children")
    };
    note(&format!(
        "tracer: recording {what} with {} probes{}",
        recorder.mechanism(),
        args.duration
            .map(|d| format!(" for {:.1} s", d.as_secs_f64()))
            .unwrap_or_default()
    ));

    let mut live = LiveView::new(args.quiet, args.duration);
    let stop = async {
        tokio::select! {
            _ = interrupt.recv() => EndReason::Interrupted,
            _ = terminate.recv() => EndReason::Terminated,
            _ = hangup.recv() => EndReason::Terminated,
        }
    };
    let schedule = Schedule {
        duration: args.duration,
        interval: args.interval,
    };
    let end_reason = recorder
        .record(schedule, stop, |tick| live.show(tick))
        .await?;
    live.finish();
    let ended_early = end_reason == EndReason::TargetsExited && args.duration.is_some();
    let (mut run, mut command) = recorder.finish(end_reason)?;
    attach_load(args, &mut run, end_reason, command.as_mut())?;
    let command_status = command
        .as_ref()
        .and_then(TracedCommand::status)
        .map(|exit| exit.code);
    Ok(Recorded {
        run,
        ended_early,
        command_status,
    })
}

/// Attaches the load result: the command's own JSON output, `--load FILE`, or `--requests N`.
fn attach_load(
    args: &RecordArgs,
    run: &mut Run,
    end_reason: EndReason,
    command: Option<&mut TracedCommand>,
) -> anyhow::Result<()> {
    // Only a command that ended has closed its output; one still running is not waited for.
    let captured = match (end_reason, command) {
        (EndReason::CommandExited, Some(command)) => command.captured_stdout(),
        _ => None,
    };
    if let Some(stdout) = captured {
        let name = format!("the standard output of '{}'", args.command[0]);
        match crate::load::parse(&String::from_utf8_lossy(&stdout), Path::new(&name)) {
            Ok(load) => run.load = Some(load),
            // The recording is worth keeping without its load result.
            Err(error) => note(&format!(
                "tracer: no load result attached: {}",
                crate::error::describe(&error).1
            )),
        }
    } else if let Some(path) = &args.load {
        run.load = Some(crate::load::import(path)?);
    } else if let Some(requests) = args.requests {
        run.load = Some(crate::run::LoadResult::manual(requests, run.duration_ns));
    }
    Ok(())
}

/// The end-of-run summary, as text or as the run's JSON report.
fn summary(args: &RecordArgs, run: &Run, color: bool) -> String {
    match args.format {
        TextOrJson::Text => crate::report::summary_text(run, color),
        TextOrJson::Json => {
            let input = crate::compare::Input {
                file: args.output.display().to_string(),
                run: run.clone(),
            };
            let report = crate::compare::analyze::summarize(
                &input,
                &crate::compare::Options {
                    group_by_label: false,
                    requests: None,
                    focus: None,
                },
            );
            crate::report::render(&report, crate::report::Format::Json, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_takes_auto_or_a_mechanism() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            record: RecordArgs,
        }
        let probe = |extra: &[&str]| {
            Cli::try_parse_from(["tracer", "--pid", "1"].iter().chain(extra))
                .map(|cli| cli.record.probe)
        };
        assert_eq!(probe(&[]).unwrap(), None);
        assert_eq!(probe(&["--probe", "auto"]).unwrap(), None);
        for mechanism in Mechanism::PREFERENCE {
            assert_eq!(
                probe(&["--probe", mechanism.option_name()]).unwrap(),
                Some(mechanism)
            );
        }
        assert!(probe(&["--probe", "kprobe"]).is_err());
        assert_eq!(
            Cli::try_parse_from(["tracer"])
                .unwrap()
                .record
                .cost_sampling,
            CostSampling::OFF
        );
    }

    #[test]
    fn pids_come_as_p_and_as_comma_lists() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            record: RecordArgs,
        }
        let cli = Cli::try_parse_from(["tracer", "-p", "10,client=11", "--pid", "12"]).unwrap();
        assert_eq!(cli.record.pids, ["10", "client=11", "12"]);
        assert_eq!(
            parse_pids(&cli.record.pids).unwrap(),
            [(None, 10), (Some("client".into()), 11), (None, 12)]
        );
    }

    #[test]
    fn a_pid_given_twice_is_refused() {
        let twice = ["5".to_owned(), "web=5".to_owned()];
        let error = parse_pids(&twice).unwrap_err();
        assert_eq!(
            crate::error::describe(&error),
            (
                ErrorKind::Usage.exit_code(),
                "--pid 5 is given twice; name each process once".to_owned()
            )
        );
    }

    #[test]
    fn parses_pids_with_and_without_names() {
        assert_eq!(parse_pid("123").unwrap(), (None, 123));
        assert_eq!(parse_pid("client=42").unwrap(), (Some("client".into()), 42));
        for bad in ["abc", "0", "-5", "x=", "", "=5", " =5", "a\x1bb=5"] {
            let error = parse_pid(bad).unwrap_err();
            assert_eq!(
                crate::error::describe(&error).0,
                ErrorKind::Usage.exit_code(),
                "{bad:?}"
            );
        }
    }
}
