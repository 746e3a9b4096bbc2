//! tracer-demo: the experiments of the ambient-mesh blog, staged on one machine with no
//! cluster, and the known workloads tracer's tests and benchmarks trace. Its own crate so that
//! the node agent (`tracer`, the `DaemonSet` binary) ships none of it: no HTTP service, proxy,
//! load generator or workload.
//!
//! Two emulated nodes (network namespaces joined by a veth pair); a "details"-like service
//! that writes every response in two writes, headers then body, back to back (`serve`); a
//! Fortio-like load generator (`load`); and two meshes: real `HAProxy` sidecars in the pods'
//! namespaces with iptables redirection (`sidecar`), and a model of ambient's ztunnel built on
//! the crates ztunnel is built on: HTTP/2 CONNECT streams over mutual TLS between per-node
//! proxies (`proxy`, `mesh_tls`). The orchestrator (`tracer-demo` with no subcommand) runs the
//! blog's scenarios in each mode, records them with `tracer record`, and reports them
//! (`report`, `summary`).
//!
//! Nothing in the data path is there to produce the blog's result: the service does not sleep
//! between its writes and the proxies have no batching window. Both remain as what-ifs
//! (`--body-delay`, `--coalesce-window`), named in the report when used. Whatever coalescing
//! the client sees is the pipeline's own, as with the real proxies.
//!
//! Every piece is a real process: the orchestrator runs this same binary (or `haproxy`) under
//! `ip netns exec`, so `strace -p` or `tracer record --pid` see ordinary programs. Recording
//! and comparing run tracer's own `record` and `compare` (the `tracer` library, in a process
//! of this binary), so the demo needs no `tracer` binary next to it.
//! Readiness is signalled by one stdout line ([`READY_PREFIX`]) so the orchestrator never
//! guesses with sleeps (`HAProxy`, which prints none, is watched for its listening socket).
use std::{io::Write as _, net::SocketAddr, process::ExitCode};

/// `eprintln!` that does not panic when stderr is closed (`tracer-demo 2>&1 | head -1`): a
/// message nobody can read must not stop cleanup (namespaces, child processes).
macro_rules! note_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that does not panic when stdout is gone (`tracer-demo | head`, a closed pipe):
/// the demo must still stop its processes and remove its namespaces.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
pub(crate) use say;

pub mod floor;
pub mod gate;
pub mod http;
pub mod load;
pub mod mesh_tls;
pub mod netns;
pub mod orchestrate;
pub mod procs;
pub mod proxy;
pub mod report;
pub mod serve;
pub mod sidecar;
pub mod summary;
pub mod workload;

/// The mesh write-coalescing demo (no subcommand), its parts, and tracer's test workloads.
#[derive(Debug, clap::Parser)]
#[command(
    name = "tracer-demo",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub orchestrate: orchestrate::OrchestrateArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// A "details"-like HTTP/1.1 service that writes headers and body separately.
    Serve(serve::ServeArgs),
    /// A ztunnel-like node proxy: app connections as HTTP/2 CONNECT streams over mutual TLS.
    Proxy(proxy::ProxyArgs),
    /// Make the mesh CA and the node proxies' certificates in a folder.
    #[command(hide = true)]
    Certs {
        /// Folder to write ca.pem, node-a.pem/.key and node-b.pem/.key to.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// A fixed-QPS HTTP/1.1 load generator with an HDR latency histogram.
    Load(load::LoadArgs),
    /// Wait for a line on stdin, then exec the command (used to start oha under a recorder).
    #[command(hide = true)]
    Gate(gate::GateArgs),
    /// Make a known syscall mix (used by tracer's tests and benchmarks).
    #[command(hide = true)]
    Workload(workload::WorkloadArgs),
    /// Attach empty programs to the syscall tracepoints until Ctrl-C (used by benchmarks: the
    /// kernel's own cost under any syscall tracer, which tracer's cost is read against).
    #[command(hide = true)]
    Floor,
    /// `tracer record`, run by the demo on its client and proxies.
    #[command(hide = true)]
    Record(Box<tracer::cmd::record::RecordArgs>),
    /// `tracer compare`, run by the demo on its recordings.
    #[command(hide = true)]
    Compare(tracer::cmd::compare::CompareArgs),
}

/// Runs one command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Name each role's process so `ps`, `top` and the run files' process names say what it is,
    // not "tracer-demo" four times. Threads started later inherit the name.
    match &cli.command {
        Some(Command::Serve(_)) => set_process_name(c"demo-details"),
        Some(Command::Proxy(_)) => set_process_name(c"demo-proxy"),
        Some(Command::Load(_)) => set_process_name(c"demo-client"),
        _ => {}
    }
    match cli.command {
        Some(Command::Serve(args)) => serve::run(&args),
        Some(Command::Proxy(args)) => proxy::run(&args),
        Some(Command::Certs { out }) => {
            mesh_tls::generate(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Load(args)) => load::run(&args),
        Some(Command::Gate(args)) => gate::run(&args),
        Some(Command::Workload(args)) => workload::run(&args),
        Some(Command::Floor) => floor::run(),
        Some(Command::Record(args)) => tracer::cmd::record::record(&args),
        Some(Command::Compare(args)) => tracer::cmd::compare::run(&args),
        None => orchestrate::run(&cli.orchestrate),
    }
}

/// Listens on `address`, or says in one sentence that it cannot.
fn listen(address: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    std::net::TcpListener::bind(address).map_err(|error| {
        tracer::error::user(
            tracer::error::ErrorKind::Usage,
            format!("cannot listen on {address}: {error}; pick another --listen address"),
        )
    })
}

/// Makes short sleeps (a write delay, a coalescing window of tens of µs) last what they say:
/// the default timer slack of 50 µs would stretch them.
fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_u64);
    }
}

/// Sets the calling thread's name (the process name, when called from the main thread).
fn set_process_name(name: &std::ffi::CStr) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes (longer ones are
    // cut); `name` is a valid C string that outlives the call.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr());
    }
}

/// Start of the line a server or proxy prints on stdout once it accepts connections.
pub const READY_PREFIX: &str = "tracer-demo: ready";

/// Tells whoever started us that we accept connections now.
pub fn announce_ready(address: &SocketAddr) {
    println!("{READY_PREFIX} {address}");
    // If stdout is gone nobody is waiting for the line; serving is still right.
    let _ = std::io::stdout().flush();
}
