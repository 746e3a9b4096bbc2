//! `tracer agent`: the node agent (one pod per node). An HTTP API to start, list, watch, fetch
//! and cancel recordings of pods, containers, cgroups and PIDs on this node, plus `/metrics`
//! (Prometheus) and `/healthz`. Routes are listed in [`http`].
//!
//! Two listeners (see deploy/README.md, "Why two listeners"): the API on `--listen`
//! (loopback by default; anything else requires `--token-file`), and optionally `/metrics` +
//! `/healthz` alone on `--metrics-listen`, for probes and Prometheus.
pub mod http;
pub mod metrics;
pub mod recordings;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use tokio::{
    net::TcpListener,
    signal::unix::{SignalKind, signal},
};

use crate::{
    collect::parse_duration,
    error::{ErrorKind, user},
};
use http::AppState;
use recordings::{Limits, Recordings};

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
    /// Finished recordings (with their run files) kept in memory.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub keep: usize,
    /// Where the host's filesystem is mounted when tracer runs in a container (e.g. /host).
    #[arg(
        long,
        value_name = "DIR",
        env = "TRACER_HOST_ROOT",
        default_value = "/"
    )]
    pub host_root: PathBuf,
    /// Where the host's /sys/fs/cgroup is mounted [default: <host-root>/sys/fs/cgroup].
    #[arg(long, value_name = "DIR", env = "TRACER_CGROUP_ROOT")]
    pub cgroup_root: Option<PathBuf>,
}

/// `tracer agent`: serves until SIGINT or SIGTERM.
pub fn run(args: &AgentArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, token))?;
    Ok(ExitCode::SUCCESS)
}

fn read_token(args: &AgentArgs) -> anyhow::Result<Option<Arc<str>>> {
    let Some(file) = &args.token_file else {
        if !args.listen.ip().is_loopback() {
            return Err(user(
                ErrorKind::Usage,
                format!(
                    "--listen {} would let anyone who reaches it trace this node; add --token-file, or keep the API on 127.0.0.1 and use --metrics-listen for /metrics",
                    args.listen
                ),
            ));
        }
        return Ok(None);
    };
    let text = std::fs::read_to_string(file).map_err(|e| {
        user(
            ErrorKind::BadInput,
            format!("cannot read --token-file {} ({e})", file.display()),
        )
    })?;
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

async fn bind(address: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| {
        user(
            ErrorKind::Usage,
            format!("cannot listen on {address} ({e}); choose another {flag}"),
        )
    })
}

async fn serve(args: &AgentArgs, token: Option<Arc<str>>) -> anyhow::Result<()> {
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
    let limits = Limits {
        max_active: usize::from(args.max_recordings),
        max_duration: args.max_duration,
        keep_finished: args.keep,
    };
    let recordings = Arc::new(Recordings::new(
        limits,
        &args.host_root,
        args.cgroup_root.as_deref(),
        Arc::clone(&metrics),
    ));
    let state = AppState {
        recordings,
        metrics,
        token: token.clone(),
    };

    let api = bind(args.listen, "--listen").await?;
    let metrics_listener = match args.metrics_listen {
        Some(address) => Some(bind(address, "--metrics-listen").await?),
        None => None,
    };
    // Printed with the real ports (port 0 picks one), so scripts and tests can connect.
    note_line!(
        "tracer agent: API on http://{}{}",
        api.local_addr()?,
        if token.is_some() {
            " (bearer token required)"
        } else {
            ""
        }
    );
    if let Some(listener) = &metrics_listener {
        note_line!(
            "tracer agent: /metrics and /healthz on http://{}",
            listener.local_addr()?
        );
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
    let api_server =
        axum::serve(api, http::api_router(state.clone())).with_graceful_shutdown(wait());
    let metrics_server = async {
        match metrics_listener {
            Some(listener) => {
                axum::serve(listener, http::metrics_router(state.clone()))
                    .with_graceful_shutdown(wait())
                    .await
            }
            None => Ok(()),
        }
    };
    let signals = async {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        note_line!("tracer agent: stopping; recordings in progress are dropped");
        let _ = stop.send(true);
    };
    let (api_result, metrics_result, ()) = tokio::join!(api_server, metrics_server, signals);
    api_result?;
    metrics_result?;
    Ok(())
}
