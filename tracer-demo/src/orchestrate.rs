//! `tracer-demo` with no subcommand: the blog's three experiments on two emulated nodes, each
//! with no mesh, sidecars and an ambient-like node-proxy pair, recorded by `tracer record` and
//! compared.
//!
//! ```text
//! no mesh:  [node A: client] -------------------------------------veth--> [node B: details]
//! sidecar:  [node A: client -> sidecar-a (HAProxy)] ---------------veth--> [node B: sidecar-b (HAProxy) -> details]
//! ambient:  [node A: client -> ztunnel-a] == HTTP/2 CONNECT, mTLS ==veth==> [node B: ztunnel-b -> details]
//! ```
//!
//! The client always connects to the service's address (10.250.0.2:9080); in the mesh modes
//! iptables in the pod's namespace redirects it, as the mesh does (see `sidecar` and `proxy`).
//!
//! Scenarios (`--scenario`): `keepalive` (the blog's first and third experiments: 10 keep-alive
//! connections, the service with `TCP_NODELAY`), `connection-close` (the second: a new connection
//! per request), `nagle` (the service without `TCP_NODELAY`, as Bookinfo's details was before
//! Istio 1.23: the body waits for the client's delayed ACK) and `all`.
//!
//! Per run: start the service (and the proxies) and wait until they listen; start the load
//! generator, which opens its connections and waits; attach `tracer record` to the client, the
//! proxies and the service and wait for its `tracer: recording` line; release the load; when it
//! is done, SIGINT the recorder and attach the load result to the run file. The first ambient
//! run of each scenario first records the proxies alone while one request opens the tunnel
//! (its mTLS handshake). In the keep-alive scenario, no mesh and ambient are run once more with
//! strace attached to the client as the blog did (the observer effect). Finally the report.
//!
//! Cleanup on every exit path: children are killed by the `Children` guard, iptables rules by
//! the `Redirects` guard, the namespaces by the `Nodes` guard, and Ctrl-C/SIGTERM/SIGHUP become
//! an `Interrupted` error so the guards run before the process exits (130).
use std::{
    ffi::OsString,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use super::{
    load, mesh_tls,
    netns::{self, Nodes, Redirects},
    procs::{self, Children, Interrupted, Line},
    report, sidecar,
    summary::{ModeRun, Strace},
};
use tracer::error::{ErrorKind, user};

/// The service's port on node B.
pub const SERVICE_PORT: u16 = 9080;
/// The ambient proxies: where the client node's proxy takes redirected connections, and the
/// service node's tunnel port (HBONE's 15008).
const ZTUNNEL_OUTBOUND_PORT: u16 = 15001;
pub const TUNNEL_PORT: u16 = 15008;
/// The recorder loads and attaches eBPF programs before it says it is recording.
const RECORD_READY_TIMEOUT: Duration = Duration::from_mins(1);
/// Start of the recorder's stderr line once its probes are attached.
pub const RECORDING_LINE: &str = "tracer: recording";
/// The syscalls strace is asked to show, as in the blog.
const STRACE_SYSCALLS: &str = "trace=write,writev,read,recvfrom,sendto,readv";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Client {
    /// The demo's own load generator (`tracer-demo load`).
    #[default]
    Tracer,
    /// oha (must be on PATH: `cargo install oha --locked`).
    Oha,
}

/// The blog's experiments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Scenario {
    /// Keep-alive connections, the service with `TCP_NODELAY` (the blog's first and third).
    Keepalive,
    /// `Connection: close`, a new connection per request (the blog's second).
    ConnectionClose,
    /// Keep-alive, the service WITHOUT `TCP_NODELAY` (Bookinfo's details before Istio 1.23).
    Nagle,
    /// All three.
    #[default]
    All,
}

impl Scenario {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Keepalive => "keepalive",
            Self::ConnectionClose => "connection-close",
            Self::Nagle => "nagle",
            Self::All => "all",
        }
    }

    /// The scenarios this one stands for.
    #[must_use]
    pub fn expand(self) -> Vec<Self> {
        match self {
            Self::All => vec![Self::Keepalive, Self::ConnectionClose, Self::Nagle],
            one => vec![one],
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct OrchestrateArgs {
    /// Which of the blog's experiments to run.
    #[arg(long, value_enum, default_value_t)]
    pub scenario: Scenario,
    /// Requests per second.
    #[arg(long, default_value_t = 200.0)]
    pub qps: f64,
    /// Client connections.
    #[arg(long, default_value_t = 10)]
    pub connections: u32,
    /// Load duration per run, e.g. 10s or 3s.
    #[arg(long, default_value = "10s", value_parser = tracer::collect::parse_duration)]
    pub duration: Duration,
    /// Repeat each mode this many times (the modes alternate within a repetition).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub runs: u32,
    /// Output folder for run files, load results, certificates and reports.
    #[arg(short = 'o', long = "output", default_value = "tracer-demo-out")]
    pub output: PathBuf,
    /// Load generator.
    #[arg(long, value_enum, default_value_t)]
    pub client: Client,
    /// Do not attach `tracer record`; report only the client's own read counts.
    #[arg(long)]
    pub no_record: bool,
    /// Skip the observer-effect runs (strace attached to the client).
    #[arg(long)]
    pub no_strace: bool,
    /// A what-if: time the service spends between writing headers and body (0: back to back,
    /// as the real service).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = tracer::collect::parse_delay)]
    pub body_delay: Duration,
    /// A what-if, not ztunnel: the service-side node proxy keeps reading this long before it
    /// sends a frame (0: none, as ztunnel).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = tracer::collect::parse_delay)]
    pub coalesce_window: Duration,
}

/// How the client reaches the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    NoMesh,
    Sidecar,
    Ambient,
}

impl Mode {
    pub const ALL: [Self; 3] = [Self::NoMesh, Self::Sidecar, Self::Ambient];

    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::NoMesh => "no-mesh",
            Self::Sidecar => "sidecar",
            Self::Ambient => "ambient",
        }
    }

    /// The recorder's names for this mode's proxies, client side first.
    #[must_use]
    pub fn proxies(self) -> &'static [&'static str] {
        match self {
            Self::NoMesh => &[],
            Self::Sidecar => &["sidecar-a", "sidecar-b"],
            Self::Ambient => &["ztunnel-a", "ztunnel-b"],
        }
    }
}

/// File stem (and run label) of one run, e.g. `keepalive-ambient-2` or
/// `keepalive-no-mesh-strace-1`.
#[must_use]
pub fn stem(scenario: Scenario, mode: Mode, strace: bool, index: u32) -> String {
    let observed = if strace { "-strace" } else { "" };
    format!("{}-{}{observed}-{index}", scenario.name(), mode.label())
}

/// The file the tunnel-setup recording of a scenario is written to.
#[must_use]
pub fn tunnel_file(output: &Path, scenario: Scenario) -> PathBuf {
    output.join(format!("{}-ambient.tunnel.run.json", scenario.name()))
}

/// The folder the mesh's certificates are made in.
#[must_use]
pub fn certs_dir(output: &Path) -> PathBuf {
    output.join("mesh-certs")
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
    sidecar::haproxy()?;
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

/// What every run of one demo shares.
struct Stage<'a> {
    args: &'a OrchestrateArgs,
    nodes: &'a Nodes,
    exe: PathBuf,
    certs: PathBuf,
    /// Cleared when the recorder turns out not to work in this build.
    record: bool,
}

/// Runs every scenario's modes `--runs` times, then reports.
fn run_all(args: &OrchestrateArgs, nodes: &Nodes) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let load_at_start = report::load_average();
    let certs = certs_dir(&args.output);
    mesh_tls::generate(&certs)?;
    let mut stage = Stage {
        args,
        nodes,
        exe: std::env::current_exe().context("cannot find this program's own path")?,
        certs,
        record: !args.no_record,
    };
    let strace = !args.no_strace && which::which("strace").is_ok();
    if !args.no_strace && !strace {
        note_line!(
            "tracer-demo: strace is not installed (cargo xtask setup installs it): no observer-effect runs"
        );
    }
    let mut results = Vec::new();
    for scenario in args.scenario.expand() {
        for index in 1..=args.runs {
            for mode in Mode::ALL {
                results.push(run_mode(&mut stage, scenario, mode, index, false)?);
            }
        }
        if scenario == Scenario::Keepalive && strace && stage.record {
            for mode in [Mode::NoMesh, Mode::Ambient] {
                results.push(run_mode(&mut stage, scenario, mode, 1, true)?);
            }
        }
    }
    report::write(&report::Inputs {
        args,
        exe: &stage.exe,
        results: &results,
        wall: started.elapsed(),
        load_average: (load_at_start, report::load_average()),
    })?;
    super::say!(
        "tracer-demo: run files, load results and reports are in {} ({:.0} s)",
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// One mode of one scenario, once.
fn run_mode(
    stage: &mut Stage,
    scenario: Scenario,
    mode: Mode,
    index: u32,
    strace: bool,
) -> anyhow::Result<ModeRun> {
    let args = stage.args;
    let stem = stem(scenario, mode, strace, index);
    super::say!(
        "\n== {stem}: {} qps, {} connections, {:?}{} ==",
        args.qps,
        args.connections,
        args.duration,
        if strace {
            ", strace attached to the client"
        } else {
            ""
        }
    );
    let mut children = Children::default();
    let mut redirects = Redirects::default();
    let nodes = stage.nodes;
    let service_address = format!("{}:{SERVICE_PORT}", netns::NODE_B_ADDRESS);
    let mut serve_args = vec![
        "serve".to_owned(),
        "--listen".into(),
        format!("0.0.0.0:{SERVICE_PORT}"),
        "--body-delay".into(),
        format!("{}us", args.body_delay.as_micros()),
    ];
    if scenario == Scenario::Nagle {
        serve_args.push("--nagle".into());
    }
    let service = children.spawn(
        "details",
        Nodes::command_in(&nodes.b, stage.exe.as_os_str(), &serve_args),
        false,
        false,
    )?;
    wait_ready(&mut children, service)?;
    let proxies = match mode {
        Mode::NoMesh => vec![],
        Mode::Sidecar => start_sidecars(stage, &mut children, &mut redirects)?,
        Mode::Ambient => start_ztunnels(stage, &mut children, &mut redirects)?,
    };
    let tunnel = if mode == Mode::Ambient && index == 1 && !strace && stage.record {
        let path = tunnel_file(&args.output, scenario);
        record_tunnel_setup(stage, &mut children, &proxies, &service_address, &path)?;
        Some(path)
    } else {
        None
    };

    let client = start_client(stage, &mut children, scenario, &service_address, &stem)?;
    let mut targets = vec![("client", children.pid(client))];
    targets.extend(proxies.iter().copied());
    targets.push(("details", children.pid(service)));
    let measured = measure(stage, &mut children, client, &targets, &stem, strace)?;
    drop(children);
    drop(redirects);
    Ok(ModeRun {
        scenario: scenario.name().to_owned(),
        mode,
        label: stem,
        index,
        run_file: measured.run_file,
        tunnel_file: tunnel,
        load: measured.load,
        client_reads: measured.client_reads,
        strace: measured.strace,
    })
}

/// What one run measured.
struct Measured {
    run_file: Option<PathBuf>,
    load: tracer::run::LoadResult,
    client_reads: Option<(u64, u64, u64)>,
    strace: Option<Strace>,
}

/// Attaches the recorder (and strace) to a started, waiting client and the other `targets`,
/// releases the load and collects what was measured.
fn measure(
    stage: &mut Stage,
    children: &mut Children,
    client: usize,
    targets: &[(&str, u32)],
    stem: &str,
    strace: bool,
) -> anyhow::Result<Measured> {
    let args = stage.args;
    let load_path = args.output.join(format!("{stem}.load.json"));
    let run_path = args.output.join(format!("{stem}.run.json"));
    let pids: Vec<String> = targets
        .iter()
        .map(|(name, pid)| format!("{name}={pid}"))
        .collect();
    super::say!("    pids: {}", pids.join(" "));
    let recorder = if stage.record {
        let recorder = start_recorder(stage, children, targets, stem, &run_path)?;
        stage.record = recorder.is_some();
        recorder
    } else {
        None
    };
    let strace_out = args.output.join(format!("{stem}.strace.txt"));
    let tracer_of_client = if strace {
        Some(attach_strace(children, children.pid(client), &strace_out)?)
    } else {
        None
    };

    // Go: the load generator (or the gate in front of oha) starts on this line.
    if let Some(stdin) = children.get_mut(client).stdin.as_mut() {
        writeln!(stdin, "go").context("the load generator went away before the start")?;
    }
    let patience = args.duration * if strace { 10 } else { 1 } + Duration::from_secs(30);
    let status = children.wait_exit(client, patience)?;
    if !status.success() {
        anyhow::bail!("the load generator failed ({status})");
    }
    let load = match args.client {
        Client::Tracer => load::read_result(&load_path)?,
        Client::Oha => tracer::load::import(&load_path)?,
    };
    let client_reads = children
        .get(client)
        .stdout_lines()
        .find_map(load::parse_client_reads);
    let strace = match tracer_of_client {
        Some(index) => {
            children.wait_exit(index, Duration::from_secs(30))?;
            Some(Strace::count(&strace_out, load.requests)?)
        }
        None => None,
    };
    let run_file = match recorder {
        Some(recorder) => Some(stop_recorder(children, recorder, &run_path, &load)?),
        None => None,
    };
    Ok(Measured {
        run_file,
        load,
        client_reads,
        strace,
    })
}

/// SIGINTs the recorder, waits for its run file and attaches the load result to it.
fn stop_recorder(
    children: &mut Children,
    recorder: usize,
    run_path: &Path,
    load_result: &tracer::run::LoadResult,
) -> anyhow::Result<PathBuf> {
    children.signal(recorder, libc::SIGINT);
    let status = children.wait_exit(recorder, Duration::from_mins(1))?;
    if !status.success() {
        anyhow::bail!("`tracer record` failed ({status}); its output is above");
    }
    let mut run = tracer::run::Run::read(run_path)?;
    run.load = Some(load_result.clone());
    run.write(run_path, tracer::run::PRIVATE_MODE)
        .with_context(|| format!("cannot rewrite {}", run_path.display()))?;
    Ok(run_path.to_owned())
}

/// Starts `HAProxy` in the service's pod (inbound) and the client's pod (outbound), and
/// redirects each pod's traffic to its sidecar; returns (name, PID) of both, client side first.
fn start_sidecars(
    stage: &Stage,
    children: &mut Children,
    redirects: &mut Redirects,
) -> anyhow::Result<Vec<(&'static str, u32)>> {
    let haproxy = sidecar::haproxy()?;
    let output = &stage.args.output;
    let port = SERVICE_PORT.to_string();
    let service_ip = netns::NODE_B_ADDRESS.to_string();
    let inbound_config = sidecar::write_config(
        output,
        "sidecar-b",
        &format!("0.0.0.0:{}", sidecar::INBOUND_PORT),
        &format!("127.0.0.1:{SERVICE_PORT}"),
    )?;
    let outbound_config = sidecar::write_config(
        output,
        "sidecar-a",
        &format!("127.0.0.1:{}", sidecar::OUTBOUND_PORT),
        &format!("{service_ip}:{SERVICE_PORT}"),
    )?;
    let mut started = Vec::new();
    for (name, namespace, config, listen_port) in [
        (
            "sidecar-b",
            &stage.nodes.b,
            &inbound_config,
            sidecar::INBOUND_PORT,
        ),
        (
            "sidecar-a",
            &stage.nodes.a,
            &outbound_config,
            sidecar::OUTBOUND_PORT,
        ),
    ] {
        let args: [&std::ffi::OsStr; 3] = ["-db".as_ref(), "-f".as_ref(), config.as_os_str()];
        let index = children.spawn(
            name,
            Nodes::command_in(namespace, haproxy.as_os_str(), args),
            false,
            false,
        )?;
        sidecar::wait_listening(children.pid(index), listen_port, procs::READY_TIMEOUT)?;
        started.push((name, children.pid(index)));
    }
    redirects.add(
        &stage.nodes.b,
        &[
            "PREROUTING",
            "-p",
            "tcp",
            "-d",
            &service_ip,
            "--dport",
            &port,
            "-j",
            "REDIRECT",
            "--to-ports",
            &sidecar::INBOUND_PORT.to_string(),
        ],
    )?;
    redirects.add(
        &stage.nodes.a,
        &[
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            &service_ip,
            "--dport",
            &port,
            "-m",
            "owner",
            "!",
            "--uid-owner",
            sidecar::PROXY_USER,
            "-j",
            "REDIRECT",
            "--to-ports",
            &sidecar::OUTBOUND_PORT.to_string(),
        ],
    )?;
    started.reverse();
    Ok(started)
}

/// Starts the ambient node proxies (service node first) and redirects the client pod's
/// traffic to its node's proxy; returns (name, PID) of both, client side first.
fn start_ztunnels(
    stage: &Stage,
    children: &mut Children,
    redirects: &mut Redirects,
) -> anyhow::Result<Vec<(&'static str, u32)>> {
    let tunnel_address = format!("{}:{TUNNEL_PORT}", netns::NODE_B_ADDRESS);
    let certs = stage.certs.to_string_lossy().into_owned();
    let window = format!("{}us", stage.args.coalesce_window.as_micros());
    let inbound_args = [
        "proxy",
        "--role",
        "inbound",
        "--listen",
        &tunnel_address,
        "--certs",
        &certs,
        "--coalesce-window",
        &window,
    ];
    let inbound = children.spawn(
        "ztunnel-b",
        Nodes::command_in(&stage.nodes.b, stage.exe.as_os_str(), inbound_args),
        false,
        false,
    )?;
    wait_ready(children, inbound)?;
    let outbound_listen = format!("127.0.0.1:{ZTUNNEL_OUTBOUND_PORT}");
    let outbound_args = [
        "proxy",
        "--role",
        "outbound",
        "--listen",
        &outbound_listen,
        "--peer",
        &tunnel_address,
        "--certs",
        &certs,
    ];
    let outbound = children.spawn(
        "ztunnel-a",
        Nodes::command_in(&stage.nodes.a, stage.exe.as_os_str(), outbound_args),
        false,
        false,
    )?;
    wait_ready(children, outbound)?;
    let service_ip = netns::NODE_B_ADDRESS.to_string();
    redirects.add(
        &stage.nodes.a,
        &[
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            &service_ip,
            "--dport",
            &SERVICE_PORT.to_string(),
            "-j",
            "REDIRECT",
            "--to-ports",
            &ZTUNNEL_OUTBOUND_PORT.to_string(),
        ],
    )?;
    Ok(vec![
        ("ztunnel-a", children.pid(outbound)),
        ("ztunnel-b", children.pid(inbound)),
    ])
}

/// Records the ambient proxies while one request opens the tunnel: the mTLS handshake and the
/// HTTP/2 connection setup, apart from the steady state the main run measures.
fn record_tunnel_setup(
    stage: &Stage,
    children: &mut Children,
    proxies: &[(&str, u32)],
    service_address: &str,
    path: &Path,
) -> anyhow::Result<()> {
    let Some(recorder) = start_recorder(stage, children, proxies, "tunnel-setup", path)? else {
        return Ok(());
    };
    let probe_args = [
        "load",
        "--target",
        service_address,
        "--qps",
        "1",
        "--connections",
        "1",
        "--duration",
        "1ms",
    ];
    let probe = children.spawn(
        "tunnel probe",
        Nodes::command_in(&stage.nodes.a, stage.exe.as_os_str(), probe_args),
        false,
        false,
    )?;
    let status = children.wait_exit(probe, Duration::from_secs(30))?;
    if !status.success() {
        anyhow::bail!("the request that opens the tunnel failed ({status})");
    }
    let load_result = children
        .get(probe)
        .stdout_lines()
        .find_map(load::parse_client_reads)
        .map(|(_, _, responses)| responses);
    children.signal(recorder, libc::SIGINT);
    let status = children.wait_exit(recorder, Duration::from_mins(1))?;
    if !status.success() || load_result != Some(1) {
        anyhow::bail!("recording the tunnel setup failed ({status}, {load_result:?} responses)");
    }
    Ok(())
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
    stage: &Stage,
    children: &mut Children,
    scenario: Scenario,
    target: &str,
    stem: &str,
) -> anyhow::Result<usize> {
    let args = stage.args;
    let load_path = &args.output.join(format!("{stem}.load.json"));
    let close = scenario == Scenario::ConnectionClose;
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
            if close {
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
            if close {
                gate_args
                    .extend(["--disable-keepalive", "-H", "Connection: close"].map(OsString::from));
            }
            gate_args.push(format!("http://{target}/details/0").into());
            (gate_args, super::gate::WAITING_LINE)
        }
    };
    let client = children.spawn(
        "client",
        Nodes::command_in(&stage.nodes.a, stage.exe.as_os_str(), client_args),
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

/// Attaches strace to the client (all its threads, and the ones it starts), as the blog did;
/// returns once strace says it is attached.
fn attach_strace(children: &mut Children, pid: u32, output: &Path) -> anyhow::Result<usize> {
    let mut command = Command::new("strace");
    command
        .args(["-f", "-e", STRACE_SYSCALLS, "-p", &pid.to_string(), "-o"])
        .arg(output);
    let strace = children.spawn("strace", command, false, false)?;
    children.wait_for_line(
        strace,
        procs::READY_TIMEOUT,
        |line| matches!(line, Line::Stderr(text) if text.contains("attached")),
    )?;
    Ok(strace)
}

/// Attaches `tracer record` to `targets`; `None` (with a notice) when recording is not
/// available in this build, so the demo still runs and reports the client's own counts.
fn start_recorder(
    stage: &Stage,
    children: &mut Children,
    targets: &[(&str, u32)],
    label: &str,
    run_path: &Path,
) -> anyhow::Result<Option<usize>> {
    let mut command = Command::new(&stage.exe);
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
