//! `tracer-demo` with no subcommand: stage "no mesh" and "mesh" on two emulated nodes, record
//! them, and compare.
//!
//! ```text
//! no mesh:  [node A: load] ----------------------------------veth----> [node B: details]
//! mesh:     [node A: load -> proxy-a] ==== one tunnel ======veth====> [node B: proxy-b -> details]
//! ```
//!
//! Per mode: start the service (and proxies) in their namespaces and wait for their ready
//! lines; start the load generator, which opens its connections and waits; attach
//! `tracer record` to the client (and the proxies) and wait for its `tracer: recording` line;
//! release the load; when it is done, SIGINT the recorder, attach the load result to the run
//! file. Finally `tracer compare` writes the Markdown and HTML reports.
//!
//! Cleanup on every exit path: children are killed by the `Children` guard, the namespaces by
//! the `Nodes` guard, and Ctrl-C/SIGTERM/SIGHUP become an `Interrupted` error so both guards
//! run before the process exits (130).
use std::{
    ffi::OsString,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::Duration,
};

use anyhow::Context as _;

use super::{
    load,
    netns::{self, Nodes},
    procs::{self, Children, Interrupted, Line},
    summary::{self, ModeRun},
};
use tracer::error::{ErrorKind, user};

/// Ports: the service on node B, the inbound proxy's tunnel port, the outbound proxy's port.
const SERVICE_PORT: u16 = 9080;
const TUNNEL_PORT: u16 = 15008;
const OUTBOUND_PORT: u16 = 15001;
/// The recorder loads and attaches eBPF programs before it says it is recording.
const RECORD_READY_TIMEOUT: Duration = Duration::from_mins(1);
/// Start of the recorder's stderr line once its probes are attached.
pub const RECORDING_LINE: &str = "tracer: recording";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Client {
    /// The demo's own load generator (`tracer-demo load`).
    #[default]
    Tracer,
    /// oha (must be on PATH: `cargo install oha --locked`).
    Oha,
}

#[derive(Debug, Clone, clap::Args)]
pub struct OrchestrateArgs {
    /// Requests per second.
    #[arg(long, default_value_t = 100.0)]
    pub qps: f64,
    /// Client connections.
    #[arg(long, default_value_t = 10)]
    pub connections: u32,
    /// Load duration per run, e.g. 20s or 3s.
    #[arg(long, default_value = "20s", value_parser = tracer::collect::parse_duration)]
    pub duration: Duration,
    /// Repeat each mode this many times (no mesh and mesh alternate).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub runs: u32,
    /// Send `Connection: close` (a new connection per request), the blog's second experiment.
    #[arg(long)]
    pub connection_close: bool,
    /// Output folder for run files, load results and reports.
    #[arg(short = 'o', long = "output", default_value = "tracer-demo-out")]
    pub output: PathBuf,
    /// Load generator.
    #[arg(long, value_enum, default_value_t)]
    pub client: Client,
    /// Do not attach `tracer record`; report only the client's own read counts.
    #[arg(long)]
    pub no_record: bool,
    /// Time the service spends between writing headers and body (see `demo serve`): long
    /// enough that the client, without a mesh, reads the headers before the body is sent.
    #[arg(long, value_name = "DURATION", default_value = "50us", value_parser = tracer::collect::parse_delay)]
    pub body_delay: Duration,
    /// The service-side proxy's tunnel coalescing window (see `demo proxy`): stands in for a
    /// real node proxy's per-hop latency; 0 forwards each read as soon as the writer is free.
    #[arg(long, value_name = "DURATION", default_value = "300us", value_parser = tracer::collect::parse_delay)]
    pub coalesce_window: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    NoMesh,
    Mesh,
}

impl Mode {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::NoMesh => "no-mesh",
            Self::Mesh => "mesh",
        }
    }
}

pub fn run(args: &OrchestrateArgs) -> anyhow::Result<ExitCode> {
    validate(args)?;
    procs::install_stop_handlers();
    let result = (|| {
        let nodes = Nodes::create(std::process::id())?;
        super::say!(
            "tracer-demo: nodes {} ({}) and {} ({}) joined by veth {}<->{}",
            nodes.a,
            netns::NODE_A_ADDRESS,
            nodes.b,
            netns::NODE_B_ADDRESS,
            nodes.veth_a,
            nodes.veth_b
        );
        let outcome = run_all(args, &nodes);
        drop(nodes);
        outcome
    })();
    match result {
        Err(error) if error.is::<Interrupted>() => {
            note_line!("tracer-demo: {error}");
            Ok(ExitCode::from(130))
        }
        other => other,
    }
}

fn validate(args: &OrchestrateArgs) -> anyhow::Result<()> {
    if !(args.qps.is_finite() && args.qps > 0.0) || args.connections == 0 || args.duration.is_zero()
    {
        return Err(user(
            ErrorKind::Usage,
            "--qps, --connections and --duration must be positive",
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(user(
            ErrorKind::Permission,
            "the demo creates network namespaces and attaches eBPF probes: run it as root (sudo)",
        ));
    }
    if args.client == Client::Oha && which::which("oha").is_err() {
        return Err(user(
            ErrorKind::Usage,
            "--client oha needs oha on PATH: install it with `cargo install oha --locked`",
        ));
    }
    fs::create_dir_all(&args.output).map_err(|error| {
        user(
            ErrorKind::Output,
            format!(
                "cannot create the output folder {}: {error}; pick another with -o",
                args.output.display()
            ),
        )
    })
}

/// Runs every mode `--runs` times, then reports.
fn run_all(args: &OrchestrateArgs, nodes: &Nodes) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program's own path")?;
    let mut record = !args.no_record;
    let mut results = Vec::new();
    for index in 1..=args.runs {
        for mode in [Mode::NoMesh, Mode::Mesh] {
            super::say!(
                "\n== {} run {index}/{}: {} qps, {} connections, {:?}{} ==",
                mode.label(),
                args.runs,
                args.qps,
                args.connections,
                args.duration,
                if args.connection_close {
                    ", Connection: close"
                } else {
                    ""
                }
            );
            let result = run_mode(args, nodes, &exe, mode, index, &mut record)?;
            results.push(result);
        }
    }
    report(args, &exe, &results)?;
    super::say!(
        "tracer-demo: run files, load results and reports are in {}",
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// File stem of one run's outputs, e.g. `no-mesh-1`.
fn stem(mode: Mode, index: u32) -> String {
    format!("{}-{index}", mode.label())
}

/// One mode, once.
fn run_mode(
    args: &OrchestrateArgs,
    nodes: &Nodes,
    exe: &Path,
    mode: Mode,
    index: u32,
    record: &mut bool,
) -> anyhow::Result<ModeRun> {
    let mut children = Children::default();
    let in_ns = |namespace: &str, demo_args: &[String]| {
        Nodes::command_in(namespace, exe.as_os_str(), demo_args)
    };
    let service = children.spawn(
        "details",
        in_ns(
            &nodes.b,
            &[
                "serve".into(),
                "--listen".into(),
                format!("0.0.0.0:{SERVICE_PORT}"),
                "--body-delay".into(),
                format!("{}us", args.body_delay.as_micros()),
            ],
        ),
        false,
        false,
    )?;
    wait_ready(&mut children, service)?;
    let mut proxies = Vec::new();
    let target = match mode {
        Mode::NoMesh => format!("{}:{SERVICE_PORT}", netns::NODE_B_ADDRESS),
        Mode::Mesh => start_proxies(args, nodes, &in_ns, &mut children, &mut proxies)?,
    };

    let stem = stem(mode, index);
    let load_path = args.output.join(format!("{stem}.load.json"));
    let run_path = args.output.join(format!("{stem}.run.json"));
    let client = start_client(args, exe, nodes, &mut children, &target, &load_path)?;
    let client_pid = children.pid(client);

    let mut targets = vec![("client", client_pid)];
    targets.extend(proxies.iter().copied());
    let pids: Vec<String> = targets
        .iter()
        .chain(&[("details", children.pid(service))])
        .map(|(name, pid)| format!("{name}={pid}"))
        .collect();
    super::say!("    pids: {}", pids.join(" "));
    let recorder = if *record {
        let recorder = start_recorder(exe, &mut children, &targets, &stem, &run_path)?;
        if recorder.is_none() {
            *record = false;
        }
        recorder
    } else {
        None
    };

    // Go: the load generator (or the gate in front of oha) starts on this line.
    if let Some(stdin) = children.get_mut(client).stdin.as_mut() {
        writeln!(stdin, "go").context("the load generator went away before the start")?;
    }
    let patience = args.duration + Duration::from_secs(30);
    let status = children.wait_exit(client, patience)?;
    if !status.success() {
        anyhow::bail!("the load generator failed ({status})");
    }
    let load_result = match args.client {
        Client::Tracer => load::read_result(&load_path)?,
        Client::Oha => tracer::load::import(&load_path)?,
    };
    let client_reads = children
        .get(client)
        .stdout_lines()
        .find_map(load::parse_client_reads);

    let run_file = if let Some(recorder) = recorder {
        children.signal(recorder, libc::SIGINT);
        let status = children.wait_exit(recorder, Duration::from_mins(1))?;
        if !status.success() {
            anyhow::bail!("`tracer record` failed ({status}); its output is above");
        }
        let mut run = tracer::run::Run::read(&run_path)?;
        run.load = Some(load_result.clone());
        run.write(&run_path, tracer::run::PRIVATE_MODE)
            .with_context(|| format!("cannot rewrite {}", run_path.display()))?;
        Some(run_path)
    } else {
        None
    };
    drop(children);
    Ok(ModeRun {
        label: mode.label().to_owned(),
        index,
        run_file,
        load: load_result,
        client_reads,
    })
}

/// Starts proxy-b (service node) then proxy-a (client node); returns where the client connects
/// and pushes (name, PID) of both for the recorder.
fn start_proxies(
    args: &OrchestrateArgs,
    nodes: &Nodes,
    in_ns: &dyn Fn(&str, &[String]) -> Command,
    children: &mut Children,
    proxies: &mut Vec<(&'static str, u32)>,
) -> anyhow::Result<String> {
    let tunnel_address = format!("{}:{TUNNEL_PORT}", netns::NODE_B_ADDRESS);
    let inbound = children.spawn(
        "proxy-b",
        in_ns(
            &nodes.b,
            &[
                "proxy".into(),
                "--role".into(),
                "inbound".into(),
                "--listen".into(),
                tunnel_address.clone(),
                "--target".into(),
                format!("127.0.0.1:{SERVICE_PORT}"),
                "--coalesce-window".into(),
                format!("{}us", args.coalesce_window.as_micros()),
            ],
        ),
        false,
        false,
    )?;
    wait_ready(children, inbound)?;
    let outbound_address = format!("127.0.0.1:{OUTBOUND_PORT}");
    let outbound = children.spawn(
        "proxy-a",
        in_ns(
            &nodes.a,
            &[
                "proxy".into(),
                "--role".into(),
                "outbound".into(),
                "--listen".into(),
                outbound_address.clone(),
                "--peer".into(),
                tunnel_address,
            ],
        ),
        false,
        false,
    )?;
    wait_ready(children, outbound)?;
    proxies.push(("proxy-a", children.pid(outbound)));
    proxies.push(("proxy-b", children.pid(inbound)));
    Ok(outbound_address)
}

fn wait_ready(children: &mut Children, index: usize) -> anyhow::Result<()> {
    children.wait_for_line(
        index,
        procs::READY_TIMEOUT,
        |line| matches!(line, Line::Stdout(text) if text.starts_with(super::READY_PREFIX)),
    )?;
    Ok(())
}

/// Starts the load generator in node A, connected and waiting for "go" on stdin.
fn start_client(
    args: &OrchestrateArgs,
    exe: &Path,
    nodes: &Nodes,
    children: &mut Children,
    target: &str,
    load_path: &Path,
) -> anyhow::Result<usize> {
    let duration = format!("{}ms", args.duration.as_millis());
    // The client's arguments, and the line it prints when it is ready for "go".
    let (client_args, ready_line): (Vec<OsString>, &str) = match args.client {
        Client::Tracer => {
            let mut load_args: Vec<OsString> = [
                "load",
                "--wait-for-go",
                "--target",
                target,
                "--qps",
                &args.qps.to_string(),
                "--connections",
                &args.connections.to_string(),
                "--duration",
                &duration,
            ]
            .iter()
            .map(OsString::from)
            .collect();
            load_args.push("--json".into());
            load_args.push(load_path.as_os_str().to_owned());
            if args.connection_close {
                load_args.push("--connection-close".into());
            }
            (load_args, load::CONNECTED_LINE)
        }
        Client::Oha => {
            // oha cannot wait for a go signal itself: the gate holds its PID until "go" and
            // then execs it, so the recorder is attached before oha's first syscall.
            let oha = which::which("oha").context("oha is not on PATH")?;
            let mut gate_args: Vec<OsString> = vec!["gate".into(), "--".into(), oha.into()];
            gate_args.extend(
                [
                    "--no-tui",
                    // Finish requests in flight at the end, as Fortio does, instead of
                    // reporting them as "aborted due to deadline" errors.
                    "--wait-ongoing-requests-after-deadline",
                    "--output-format",
                    "json",
                    "-z",
                    &duration,
                    "-q",
                    &args.qps.to_string(),
                    "-c",
                    &args.connections.to_string(),
                ]
                .iter()
                .map(OsString::from),
            );
            gate_args.push("-o".into());
            gate_args.push(load_path.as_os_str().to_owned());
            if args.connection_close {
                gate_args
                    .extend(["--disable-keepalive", "-H", "Connection: close"].map(OsString::from));
            }
            gate_args.push(format!("http://{target}/details/0").into());
            (gate_args, super::gate::WAITING_LINE)
        }
    };
    let client = children.spawn(
        "client",
        Nodes::command_in(&nodes.a, exe.as_os_str(), client_args),
        true,
        true,
    )?;
    children.wait_for_line(
        client,
        procs::READY_TIMEOUT,
        |line| matches!(line, Line::Stdout(text) if text == ready_line),
    )?;
    Ok(client)
}

/// Attaches `tracer record` to `targets`; `None` (with a notice) when recording is not
/// available in this build, so the demo still runs and reports the client's own counts.
fn start_recorder(
    exe: &Path,
    children: &mut Children,
    targets: &[(&str, u32)],
    label: &str,
    run_path: &Path,
) -> anyhow::Result<Option<usize>> {
    let mut command = Command::new(exe);
    command.arg("record");
    for (name, pid) in targets {
        command.arg("--pid").arg(format!("{name}={pid}"));
    }
    command
        .args(["--quiet", "--label", label])
        .arg("-o")
        .arg(run_path);
    let recorder = children.spawn("tracer record", command, false, false)?;
    match children.wait_for_line(
        recorder,
        RECORD_READY_TIMEOUT,
        |line| matches!(line, Line::Stderr(text) if text.starts_with(RECORDING_LINE)),
    ) {
        Ok(_) => Ok(Some(recorder)),
        Err(error) if error.is::<Interrupted>() => Err(error),
        Err(error) => {
            note_line!(
                "tracer-demo: recording is not available ({error:#}); continuing without eBPF \
                 numbers (the client's own read counts are still reported)"
            );
            Ok(None)
        }
    }
}

/// Prints the summary and writes the reports.
fn report(args: &OrchestrateArgs, exe: &Path, results: &[ModeRun]) -> anyhow::Result<()> {
    super::say!();
    super::say!("{}", summary::render(results).trim_end());
    let run_files: Vec<&Path> = results
        .iter()
        .filter_map(|r| r.run_file.as_deref())
        .collect();
    if run_files.len() != results.len() {
        super::say!(
            "\nNo eBPF recording: reports need run files; the table above is the client's own count."
        );
        return Ok(());
    }
    let mut ordered: Vec<&Path> = results
        .iter()
        .filter(|r| r.label == Mode::NoMesh.label())
        .filter_map(|r| r.run_file.as_deref())
        .collect();
    ordered.extend(
        results
            .iter()
            .filter(|r| r.label == Mode::Mesh.label())
            .filter_map(|r| r.run_file.as_deref()),
    );
    let compare = |format: &str, output: Option<&Path>| -> anyhow::Result<std::process::Output> {
        let mut command = Command::new(exe);
        command.arg("compare").args(&ordered);
        if args.runs > 1 {
            command.arg("--group");
        }
        command.args(["--format", format]);
        if let Some(output) = output {
            command.arg("-o").arg(output);
        }
        command.output().context("cannot run `tracer compare`")
    };
    let text = compare("text", None)?;
    if !text.status.success() {
        super::say!(
            "\n`tracer compare` is not available in this build ({}); the table above is the demo's own.",
            String::from_utf8_lossy(&text.stderr)
                .lines()
                .next()
                .unwrap_or("no message")
        );
        return Ok(());
    }
    super::say!("\n{}", String::from_utf8_lossy(&text.stdout));
    for (format, file) in [("markdown", "report.md"), ("html", "report.html")] {
        let path = args.output.join(file);
        let output = compare(format, Some(&path))?;
        if output.status.success() {
            super::say!("tracer-demo: wrote {}", path.display());
        } else {
            note_line!(
                "tracer-demo: could not write {}: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
    }
    Ok(())
}
