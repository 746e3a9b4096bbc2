//! Two emulated nodes: network namespaces joined by a veth pair, created with iproute2 and
//! removed when the guard is dropped - on success, on error, and after Ctrl-C/SIGTERM (the
//! orchestrator turns those signals into an orderly return, see `orchestrate`).
//!
//! Names carry the orchestrator's PID (`tracer-demo-<pid>-a`, veth `tdemo<pid>a`), so two
//! demos never clash, and the guard deletes only what it created itself. A demo killed by SIGKILL
//! cannot clean up; its leftovers are named after its PID and can be removed with
//! `ip netns del tracer-demo-<pid>-a` (and `-b`).
use std::{
    ffi::OsStr,
    net::Ipv4Addr,
    process::{Command, Stdio},
};

use tracer::error::{ErrorKind, user};

/// Node A (client side) and node B (service side) addresses on the veth link.
pub const NODE_A_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 1);
pub const NODE_B_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 2);
const PREFIX_LENGTH: u8 = 24;

/// Prefix of every namespace the demo creates.
pub const NAMESPACE_PREFIX: &str = "tracer-demo-";

/// Two namespaces and the veth pair between them; dropped = removed.
#[derive(Debug)]
pub struct Nodes {
    pub a: String,
    pub b: String,
    pub veth_a: String,
    pub veth_b: String,
    /// Namespaces this guard created (and so may delete), in creation order.
    created: Vec<String>,
}

impl Nodes {
    /// Names for the demo run by `pid`.
    #[must_use]
    pub fn names(pid: u32) -> (String, String, String, String) {
        (
            format!("{NAMESPACE_PREFIX}{pid}-a"),
            format!("{NAMESPACE_PREFIX}{pid}-b"),
            // Interface names are limited to 15 bytes: "tdemo" + up to 7 PID digits + 1.
            format!("tdemo{pid}a"),
            format!("tdemo{pid}b"),
        )
    }

    /// Creates both namespaces, the veth pair, addresses and routes; removes whatever it made
    /// if a later step fails.
    pub fn create(pid: u32) -> anyhow::Result<Self> {
        let (a, b, veth_a, veth_b) = Self::names(pid);
        let mut nodes = Self {
            a,
            b,
            veth_a,
            veth_b,
            created: Vec::new(),
        };
        for namespace in [nodes.a.clone(), nodes.b.clone()] {
            if list_namespaces(&namespace).contains(&namespace) {
                // Not ours to reuse or delete: a killed demo with our PID left it behind.
                return Err(user(
                    ErrorKind::Busy,
                    format!(
                        "network namespace {namespace} already exists (left by a demo that was \
                         killed?): remove it with `ip netns del {namespace}` and run again"
                    ),
                ));
            }
            ip(["netns", "add", namespace.as_str()])?;
            nodes.created.push(namespace);
        }
        ip([
            "link",
            "add",
            &nodes.veth_a,
            "netns",
            &nodes.a,
            "type",
            "veth",
            "peer",
            "name",
            &nodes.veth_b,
            "netns",
            &nodes.b,
        ])?;
        for (namespace, veth, address) in [
            (&nodes.a, &nodes.veth_a, NODE_A_ADDRESS),
            (&nodes.b, &nodes.veth_b, NODE_B_ADDRESS),
        ] {
            let cidr = format!("{address}/{PREFIX_LENGTH}");
            ip(["-n", namespace, "addr", "add", &cidr, "dev", veth])?;
            ip(["-n", namespace, "link", "set", veth, "up"])?;
            ip(["-n", namespace, "link", "set", "lo", "up"])?;
        }
        Ok(nodes)
    }

    /// A command that runs `program args` inside `namespace`.
    #[must_use]
    pub fn command_in<I, S>(namespace: &str, program: &OsStr, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(program)
            .args(args);
        command
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        // The veth pair goes when its namespace goes, but a process that outlived us would keep
        // the namespace (and the pair) alive: delete the link explicitly first.
        if self.created.contains(&self.a) {
            let _ = ip(["-n", self.a.as_str(), "link", "del", self.veth_a.as_str()]);
        }
        for namespace in self.created.drain(..).rev() {
            if let Err(error) = ip(["netns", "del", namespace.as_str()]) {
                note_line!(
                    "tracer-demo: could not remove network namespace {namespace}: {error:#}"
                );
            }
        }
    }
}

/// iptables NAT rules in the demo's namespaces, the way a mesh captures a pod's traffic;
/// dropped = deleted (only the rules this guard added).
#[derive(Debug, Default)]
pub struct Redirects {
    /// (namespace, rule as given to `iptables -t nat -A`), in the order added.
    rules: Vec<(String, Vec<String>)>,
}

impl Redirects {
    /// Adds `rule` (e.g. `OUTPUT -p tcp --dport 9080 -j REDIRECT --to-ports 15001`) to the nat
    /// table of `namespace`.
    pub fn add(&mut self, namespace: &str, rule: &[&str]) -> anyhow::Result<()> {
        let rule: Vec<String> = rule.iter().map(|&part| part.to_owned()).collect();
        iptables(namespace, "-A", &rule)?;
        self.rules.push((namespace.to_owned(), rule));
        Ok(())
    }
}

impl Drop for Redirects {
    fn drop(&mut self) {
        for (namespace, rule) in self.rules.drain(..).rev() {
            if let Err(error) = iptables(namespace.as_str(), "-D", &rule) {
                note_line!(
                    "tracer-demo: could not remove an iptables rule in {namespace}: {error:#}"
                );
            }
        }
    }
}

/// Runs `ip netns exec NAMESPACE iptables -t nat ACTION RULE...`.
fn iptables(namespace: &str, action: &str, rule: &[String]) -> anyhow::Result<()> {
    let Ok(iptables) = which::which("iptables")
        .or_else(|_| which::which_in("iptables", Some("/usr/sbin:/sbin"), "/"))
    else {
        return Err(user(
            ErrorKind::KernelUnsupported,
            "the sidecar and ambient modes redirect traffic with iptables, which is not \
             installed: run `cargo xtask setup` (or apt-get install iptables)",
        ));
    };
    let output = Command::new("ip")
        .args(["netns", "exec", namespace])
        .arg(iptables)
        .args(["-w", "-t", "nat", action])
        .args(rule)
        .stdin(Stdio::null())
        .output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(user(
        ErrorKind::KernelUnsupported,
        format!(
            "`iptables -t nat {action} {}` in {namespace} failed: {}; the mesh modes need \
             netfilter NAT (REDIRECT) in the kernel",
            rule.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    ))
}

/// Runs `ip ARGS`, turning a failure into one sentence with iproute2's own message.
fn ip<I, S>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new("ip");
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|error| {
        user(
            ErrorKind::KernelUnsupported,
            format!("cannot run `ip` ({error}): install iproute2 (apt-get install iproute2)"),
        )
    })?;
    if output.status.success() {
        return Ok(());
    }
    let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let kind = if message.contains("Operation not permitted") {
        ErrorKind::Permission
    } else {
        ErrorKind::KernelUnsupported
    };
    Err(user(
        kind,
        format!("`{shown}` failed: {message}; the demo needs root (network namespaces)"),
    ))
}

/// Namespaces whose name starts with `prefix` (from `ip netns list`).
pub fn list_namespaces(prefix: &str) -> Vec<String> {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return vec![];
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_limits_and_carry_the_pid() {
        let (a, b, veth_a, veth_b) = Nodes::names(4_194_304);
        assert_eq!(a, "tracer-demo-4194304-a");
        assert_eq!(b, "tracer-demo-4194304-b");
        assert!(
            veth_a.len() <= 15 && veth_b.len() <= 15,
            "{veth_a} {veth_b}"
        );
        assert_ne!(veth_a, veth_b);
    }
}
