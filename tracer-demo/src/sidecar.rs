//! The sidecar mode: a real L7 proxy from Debian (`HAProxy`) in each pod's network namespace,
//! with the pod's traffic redirected to it by iptables, the way Istio's init container
//! redirects a pod's traffic to its Envoy sidecar.
//!
//! ```text
//! node A (client pod)                                    node B (details pod)
//! client --OUTPUT REDIRECT--> sidecar-a :15001 --------> PREROUTING REDIRECT --> sidecar-b :15006
//!         (not for the haproxy user, as Istio              --> details 127.0.0.1:9080
//!          skips its proxy's uid 1337)
//! ```
//!
//! Why `HAProxy` rather than nginx as the model of Envoy's per-pod behaviour: like Envoy, `HAProxy`
//! streams HTTP/1.1 through an event loop per worker thread (here 2, as Istio's sidecars run
//! with `concurrency: 2`), parses and re-encodes each message, and keeps a pool of keep-alive
//! connections to the upstream that it reuses across client connections. nginx by default
//! buffers a whole upstream response before sending it (`proxy_buffering`), speaks HTTP/1.0 to
//! upstreams and closes them after each request unless configured otherwise, and runs worker
//! processes rather than threads: each would need configuration to undo what Envoy does not do.
use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;

/// Where the client pod's sidecar takes redirected outbound connections (Envoy's 15001).
pub const OUTBOUND_PORT: u16 = 15001;
/// Where the service pod's sidecar takes redirected inbound connections (Envoy's 15006).
pub const INBOUND_PORT: u16 = 15006;
/// The user the sidecars run as; their own connections are not redirected.
pub const PROXY_USER: &str = "haproxy";

/// `HAProxy`'s configuration for one sidecar: listen on `listen`, send everything to `upstream`.
#[must_use]
pub fn config(listen: &str, upstream: &str) -> String {
    let mut text = String::new();
    let _ = write!(
        text,
        "\
# tracer-demo sidecar (written at run time): an Envoy-like per-pod HTTP proxy.
global
    nbthread 2
    user {PROXY_USER}
    group {PROXY_USER}
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    http-reuse always

frontend pod
    bind {listen}
    default_backend upstream

backend upstream
    server upstream {upstream}
"
    );
    text
}

/// Writes the configuration file for the sidecar `name` into `dir`.
pub fn write_config(
    dir: &Path,
    name: &str,
    listen: &str,
    upstream: &str,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.haproxy.cfg"));
    tracer::run::write_atomically(
        &path,
        config(listen, upstream).as_bytes(),
        tracer::run::PRIVATE_MODE,
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `haproxy` on PATH (Debian puts it in /usr/sbin), or one sentence on how to get it.
pub fn haproxy() -> anyhow::Result<PathBuf> {
    which::which("haproxy")
        .or_else(|_| which::which_in("haproxy", Some("/usr/sbin:/usr/local/sbin"), "/"))
        .map_err(|_| {
            tracer::error::user(
                tracer::error::ErrorKind::Usage,
                "the sidecar mode runs HAProxy, which is not installed: run `cargo xtask setup` \
                 (or apt-get install haproxy)",
            )
        })
}

/// Waits until the process `pid` has a listening TCP socket on `port` in its network
/// namespace (read from `/proc/<pid>/net/tcp`): `HAProxy` prints no ready line.
pub fn wait_listening(pid: u32, port: u16, patience: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    let wanted = format!(":{port:04X}");
    loop {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
        let listening = table.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local = fields.next().unwrap_or_default();
            let state = fields.nth(1).unwrap_or_default();
            local.ends_with(&wanted) && state == "0A"
        });
        if listening {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!("HAProxy (pid {pid}) did not listen on port {port} within {patience:?}");
        }
        if super::procs::stop_requested() {
            return Err(super::procs::Interrupted.into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_listener_upstream_and_the_unredirected_user() {
        let text = config("0.0.0.0:15006", "127.0.0.1:9080");
        assert!(text.contains("bind 0.0.0.0:15006"));
        assert!(text.contains("server upstream 127.0.0.1:9080"));
        assert!(text.contains("user haproxy"));
        assert!(text.contains("http-reuse always"));
    }
}
