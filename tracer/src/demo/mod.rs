//! `tracer demo`: the mesh write-coalescing experiment of the ambient-mesh blog, staged on one
//! machine in under a minute, no cluster.
//!
//! Two emulated nodes (network namespaces joined by a veth pair), a "details"-like service that
//! writes every response in two writes (`serve`), a Fortio-like load generator (`load`), and a
//! ztunnel-like node proxy pair that carries all client connections over one multiplexed tunnel
//! (`proxy`). The orchestrator (`tracer demo` with no subcommand) runs "no mesh" and "mesh"
//! side by side, records them with `tracer record`, and reports the difference.
//!
//! Every piece is a real process: the orchestrator runs this same binary under
//! `ip netns exec`, so `strace -p` or `tracer record --pid` see ordinary programs.
//! Readiness is signalled by one stdout line ([`READY_PREFIX`]) so the orchestrator never
//! guesses with sleeps.
use std::{io::Write as _, net::SocketAddr, process::ExitCode, time::Duration};

pub mod gate;
pub mod http;
pub mod load;
pub mod netns;
pub mod oha;
pub mod orchestrate;
pub mod procs;
pub mod proxy;
pub mod serve;
pub mod summary;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
    #[command(flatten)]
    pub orchestrate: orchestrate::OrchestrateArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum DemoCommand {
    /// A "details"-like HTTP/1.1 service that writes headers and body separately.
    Serve(serve::ServeArgs),
    /// A ztunnel-like node proxy: many connections over one multiplexed tunnel.
    Proxy(proxy::ProxyArgs),
    /// A fixed-QPS HTTP/1.1 load generator with an HDR latency histogram.
    Load(load::LoadArgs),
    /// Wait for a line on stdin, then exec the command (used to start oha under a recorder).
    #[command(hide = true)]
    Gate(gate::GateArgs),
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(DemoCommand::Serve(args)) => serve::run(&args),
        Some(DemoCommand::Proxy(args)) => proxy::run(&args),
        Some(DemoCommand::Load(args)) => load::run(&args),
        Some(DemoCommand::Gate(args)) => gate::run(&args),
        None => orchestrate::run(&args.orchestrate),
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

/// Parses `20s`, `500ms`, `1m30s`, `50us`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|error| format!("{error}: write a duration such as 20s, 500ms or 50us"))
}
