//! `tracer agent`: the node agent (one pod per node). An HTTP API to start, list, watch, fetch
//! and cancel recordings of pods, containers, cgroups and PIDs on this node, plus `/metrics`
//! (Prometheus) and `/healthz`. Routes are listed in [`http`].
//!
//! Two listeners (see deploy/README.md, "Why two listeners"): the API on `--listen`
//! (loopback by default; anything else requires `--token-file`), and optionally `/metrics` +
//! `/healthz` alone on `--metrics-listen`, for probes and Prometheus.
//!
//! On a host's own network namespace (not a pod's), loopback is shared with every local user
//! and node daemon, so the API needs `--token-file` there too, unless `--insecure-local`.
//! An agent that could not record refuses to start rather than accept requests that all fail.
//!
//! Recordings live in `--state-dir` ([`state`]) and outlive the agent. On SIGTERM or SIGINT
//! the listeners close, every recording in progress ends (`agent_stopped`) and is written,
//! then the agent exits, within [`SHUTDOWN_LIMIT`] (the `DaemonSet` gives it 30 s).
pub mod api;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod recordings;
pub mod state;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tokio::{
    net::TcpListener,
    signal::unix::{SignalKind, signal},
};

use crate::{
    console::note,
    error::{ErrorKind, user},
};
use http::AppState;
pub use recordings::Limits;
use recordings::Recordings;

/// What `tracer agent` was asked to do (`cmd::agent` turns the flags into this).
#[derive(Debug, Clone)]
pub struct Config {
    /// The recording API's address.
    pub listen: SocketAddr,
    /// Where `/metrics` and `/healthz` alone are also served.
    pub metrics_listen: Option<SocketAddr>,
    /// The token file's text, if one was given, and the file's name for messages.
    pub token_file: Option<(PathBuf, String)>,
    /// Serve the API without a token on a host's own loopback.
    pub insecure_local: bool,
    pub limits: Limits,
    pub host_root: PathBuf,
    pub cgroup_root: Option<PathBuf>,
    /// Connections open at once on each listener.
    pub max_connections: u16,
    /// Time a connection has to send its request headers.
    pub header_timeout: Duration,
    /// Where recordings and their run files are kept.
    pub state_dir: PathBuf,
    /// Pods (`NAMESPACE/NAME`) watched from the start, for `/metrics`.
    pub watch_pods: Vec<String>,
}

/// Time the agent gives recordings in progress to end and be written when it is stopped;
/// the `DaemonSet`'s `terminationGracePeriodSeconds` (30) leaves room for it.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);

/// Time a connection has from accept to close (body, handler, response).
const REQUEST_TIMEOUT: Duration = Duration::from_mins(1);

/// File descriptors kept for probes, /proc reads and run files, out of the agent's limit.
const RESERVED_FDS: u64 = 256;

/// `tracer agent`: serves until SIGINT or SIGTERM.
pub fn run(config: &Config) -> anyhow::Result<()> {
    check_privileges()?;
    let token = check_token(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config, token))
}

/// The API's token, if any, after checking that the API may be served as asked.
fn check_token(args: &Config) -> anyhow::Result<Option<Arc<str>>> {
    let Some((file, text)) = &args.token_file else {
        if !args.listen.ip().is_loopback() {
            return Err(user(
                ErrorKind::Usage,
                format!(
                    "--listen {} would let anyone who reaches it trace this node; add --token-file, or keep the API on 127.0.0.1 and use --metrics-listen for /metrics",
                    args.listen
                ),
            ));
        }
        if !args.insecure_local && !in_own_network_namespace() {
            return Err(user(
                ErrorKind::Usage,
                "on a host, 127.0.0.1 is reachable by every local user, who could then trace any process: add --token-file, or --insecure-local if every local user may",
            ));
        }
        return Ok(None);
    };
    let token = text.trim();
    if token.len() < 16 {
        return Err(user(
            ErrorKind::BadInput,
            format!(
                "--token-file {} holds {} characters; use a random token of at least 16 (e.g. openssl rand -hex 32)",
                file.display(),
                token.len()
            ),
        ));
    }
    Ok(Some(Arc::from(token)))
}

/// Whether the agent has a network namespace of its own (a pod's) rather than the host's,
/// judged against PID 1's. Unknown counts as the host's: the safe answer.
fn in_own_network_namespace() -> bool {
    match (
        std::fs::read_link("/proc/self/ns/net"),
        std::fs::read_link("/proc/1/ns/net"),
    ) {
        (Ok(own), Ok(init)) => own != init,
        _ => false,
    }
}

/// Refuses to start an agent whose every recording would fail for want of privileges.
fn check_privileges() -> anyhow::Result<()> {
    if crate::probe::may_load_probes() {
        return Ok(());
    }
    Err(user(
        ErrorKind::Permission,
        "tracer agent cannot record without root or the CAP_BPF and CAP_PERFMON capabilities: run it as root (the DaemonSet does)",
    ))
}

/// Raises the open-file limit to its maximum and returns how many connections each of the
/// `listeners` may hold so that they never use up the file descriptors.
fn connection_cap(wanted: u16, listeners: u64) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by reference.
    let available = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) == 0 {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                ..limit
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
            limit.rlim_cur
        } else {
            1024
        }
    };
    let per_listener = available.saturating_sub(RESERVED_FDS) / listeners.max(1);
    usize::try_from(per_listener.clamp(4, u64::from(wanted))).unwrap_or(4)
}

async fn bind(address: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| {
        user(
            ErrorKind::Usage,
            format!("cannot listen on {address} ({e}); choose another {flag}"),
        )
    })
}

/// The recordings kept in `--state-dir`, and the watches asked for with `--watch-pod`.
fn open_recordings(
    args: &Config,
    node: &str,
    metrics: &Arc<metrics::Metrics>,
) -> anyhow::Result<Arc<Recordings>> {
    let state_dir = state::StateDir::open(&args.state_dir)
        .map_err(|e| user(ErrorKind::Output, e.to_string()))?;
    let recordings = Arc::new(
        Recordings::open(
            args.limits.clone(),
            node,
            state_dir,
            &args.host_root,
            args.cgroup_root.as_deref(),
            Arc::clone(metrics),
        )
        .map_err(|e| {
            user(
                ErrorKind::Output,
                format!("cannot read --state-dir {} ({e})", args.state_dir.display()),
            )
        })?,
    );
    for pod in &args.watch_pods {
        let request = api::WatchRequest {
            pod: pod.clone(),
            interval: None,
            probe: None,
        };
        // On the nodes of a DaemonSet where the pod does not run, the watch waits for it.
        recordings.watch(request, true).map_err(|e| {
            user(
                ErrorKind::Usage,
                format!("--watch-pod {pod}: {}", e.message),
            )
        })?;
    }
    Ok(recordings)
}

/// Ends every recording in progress (`agent_stopped`) and waits, at most [`SHUTDOWN_LIMIT`],
/// until each has written its run and status.
async fn finish_recordings(recordings: &Arc<Recordings>) {
    let stopping = std::time::Instant::now();
    let running = recordings.stop_all();
    note(&format!(
        "tracer agent: stopping; ending and writing {running} recording(s) in progress"
    ));
    let waiting = Arc::clone(recordings);
    let all_written = tokio::task::spawn_blocking(move || waiting.wait_idle(SHUTDOWN_LIMIT))
        .await
        .unwrap_or(false);
    note(&format!(
        "tracer agent: stopped in {} ms{}",
        stopping.elapsed().as_millis(),
        if all_written {
            ""
        } else {
            "; some recordings did not end in time and are marked failed at the next start"
        }
    ));
}

async fn serve(args: &Config, token: Option<Arc<str>>) -> anyhow::Result<()> {
    // NODE_NAME comes from the downward API in the DaemonSet; elsewhere the host name will do.
    let node = std::env::var("NODE_NAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_default();
    let metrics = Arc::new(metrics::Metrics::new(&node));
    let recordings = open_recordings(args, &node, &metrics)?;
    let state = AppState {
        recordings: Arc::clone(&recordings),
        metrics,
        token: token.clone(),
    };

    let api = bind(args.listen, "--listen").await?;
    let metrics_listener = match args.metrics_listen {
        Some(address) => Some(bind(address, "--metrics-listen").await?),
        None => None,
    };
    // Printed with the real ports (port 0 picks one), so scripts and tests can connect.
    note(&format!(
        "tracer agent: API on http://{}{}",
        api.local_addr()?,
        if token.is_some() {
            " (bearer token required)"
        } else {
            ""
        }
    ));
    if let Some(listener) = &metrics_listener {
        note(&format!(
            "tracer agent: /metrics and /healthz on http://{}",
            listener.local_addr()?
        ));
    }

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|&s| s).await;
        }
    };
    let connections = listener::ConnectionLimits {
        header_timeout: args.header_timeout,
        request_timeout: REQUEST_TIMEOUT,
        max_connections: connection_cap(
            args.max_connections,
            1 + u64::from(metrics_listener.is_some()),
        ),
    };
    let api_server = listener::serve(api, http::api_router(state.clone()), connections, wait());
    let metrics_server = async {
        if let Some(listener) = metrics_listener {
            let router = http::metrics_router(state.clone());
            listener::serve(listener, router, connections, wait()).await;
        }
    };
    let signals = async {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        let _ = stop.send(true);
    };
    tokio::join!(api_server, metrics_server, signals);
    finish_recordings(&recordings).await;
    Ok(())
}
