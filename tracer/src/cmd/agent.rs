//! `tracer agent`: the flags of the node agent, turned into its [`Config`].
use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use super::targets::HostArgs;
use crate::{
    agent::{self, Config, Limits},
    collect::parse_duration,
    error::{ErrorKind, user},
};

/// Serve recordings over HTTP on this node (the `DaemonSet` agent), with `/metrics`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Address of the recording API. Non-loopback addresses need --token-file.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// Also serve /metrics and /healthz (read-only, no token) on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// File holding a bearer token the recording API then requires.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Recordings at once (each loads its own probes).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub max_recordings: u16,
    /// Longest recording a request may ask for.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub max_duration: Duration,
    /// Finished recordings (with their run files) kept in --state-dir; the oldest are deleted
    /// past it.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub keep: usize,
    /// Folder for recordings and their run files, kept across restarts (created 0700; must
    /// not be a link nor writable by other users).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/tracer")]
    pub state_dir: PathBuf,
    /// Record this pod (NAMESPACE/NAME) without end, for /metrics only (repeatable).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub watch_pod: Vec<String>,
    /// A watch restarts its session this often, which bounds its memory. Reloading the probes
    /// leaves a gap of about a second uncounted (`tracer_watch_gap_seconds_total`).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub watch_segment: Duration,
    #[command(flatten)]
    pub host: HostArgs,
    /// Largest run file one recording may produce, in MiB; a larger one fails the recording.
    #[arg(long, value_name = "MIB", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_run_mib: u32,
    /// Most MiB of finished recordings kept in --state-dir; the oldest are deleted past it.
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_kept_mib: u32,
    /// Connections open at once on each listener; past it, the oldest one still sending its
    /// request headers is closed.
    #[arg(long, value_name = "N", default_value_t = 128, value_parser = clap::value_parser!(u16).range(4..))]
    pub max_connections: u16,
    /// Time a connection has to send its request headers.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Serve the API without a token on the loopback of a host's own network namespace, where
    /// every local user can reach it (in a pod, loopback is the pod's alone).
    #[arg(long)]
    pub insecure_local: bool,
}

pub fn run(args: &AgentArgs) -> anyhow::Result<ExitCode> {
    let token_file = match &args.token_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                user(
                    ErrorKind::BadInput,
                    format!("cannot read --token-file {} ({e})", file.display()),
                )
            })?;
            Some((file.clone(), text))
        }
        None => None,
    };
    let mib = |n: u32| usize::try_from(n).unwrap_or(usize::MAX) << 20;
    agent::run(&Config {
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        token_file,
        insecure_local: args.insecure_local,
        limits: Limits {
            max_active: usize::from(args.max_recordings),
            max_duration: args.max_duration,
            keep_finished: args.keep,
            max_run_bytes: mib(args.max_run_mib),
            max_kept_bytes: mib(args.max_kept_mib),
            watch_segment: args.watch_segment.max(Duration::from_secs(1)),
        },
        host_root: args.host.host_root.clone(),
        cgroup_root: args.host.cgroup_root.clone(),
        max_connections: args.max_connections,
        header_timeout: args.header_timeout,
        state_dir: args.state_dir.clone(),
        watch_pods: args.watch_pod.clone(),
    })?;
    Ok(ExitCode::SUCCESS)
}
