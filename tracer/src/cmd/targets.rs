//! `tracer targets`, and the target flags `record` shares with it (`--pod`, `--container`,
//! `--cgroup`, `--host-root`, `--cgroup-root`).
use std::{path::PathBuf, process::ExitCode};

use super::output::TextOrJson;
use crate::{
    console,
    error::{ErrorKind, user},
    targeting::{
        CgroupTarget, Resolver, Specs,
        names::{parse_container_spec, parse_pod_spec},
        show,
    },
};

/// Target flags shared by `record` and `targets`; flatten into a subcommand's arguments.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct TargetArgs {
    /// A pod on this node, found without the API server: its processes, and processes
    /// started in it later. Repeatable, or a comma-separated list.
    #[arg(long = "pod", value_name = "NAMESPACE/NAME", value_parser = parse_pod_spec, value_delimiter = ',')]
    pub pods: Vec<(String, String)>,
    /// A container by ID: 64 hex digits or a unique prefix of at least 12. Repeatable, or a
    /// comma-separated list.
    #[arg(long = "container", value_name = "ID", value_parser = parse_container_spec, value_delimiter = ',')]
    pub containers: Vec<String>,
    /// A cgroup, as in /proc/PID/cgroup (`/kubepods.slice/...`) or under /sys/fs/cgroup
    /// (repeatable).
    #[arg(long = "cgroup", value_name = "PATH")]
    pub cgroups: Vec<PathBuf>,
    #[command(flatten)]
    pub host: HostArgs,
}

/// Where the host's filesystems are when tracer runs in a container (the agent's pod).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct HostArgs {
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

impl TargetArgs {
    /// The pods, containers and cgroups named.
    #[must_use]
    pub fn specs(&self) -> Specs {
        Specs {
            pods: self.pods.clone(),
            containers: self.containers.clone(),
            cgroups: self.cgroups.clone(),
        }
    }

    /// Resolves every `--pod`, `--container` and `--cgroup`, in that order.
    pub fn resolve_all(&self) -> anyhow::Result<Vec<CgroupTarget>> {
        Resolver::new(&self.host.host_root, self.host.cgroup_root.as_deref())
            .resolve_all(&self.specs())
    }
}

/// Show what --pod, --container and --cgroup resolve to on this node, without recording.
#[derive(Debug, clap::Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Output format: text, or json for scripts (as --format json everywhere in tracer).
    #[arg(long, value_enum, default_value_t)]
    pub format: TextOrJson,
    /// The same as --format json (kept for older scripts).
    #[arg(long, hide = true)]
    pub json: bool,
}

pub fn run(args: &TargetsArgs) -> anyhow::Result<ExitCode> {
    if args.targets.specs().is_empty() {
        return Err(user(
            ErrorKind::Usage,
            "tracer targets needs at least one --pod, --container or --cgroup",
        ));
    }
    let resolved = args.targets.resolve_all()?;
    let shown = show::describe(&resolved)?;
    let text = if args.json || args.format == TextOrJson::Json {
        serde_json::to_string_pretty(&shown)? + "\n"
    } else {
        show::render(&shown)
    };
    // A closed stdout (`tracer targets ... | head -1`) is not an error worth a panic.
    let _ = console::print(&text);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        targets: TargetArgs,
    }

    #[test]
    fn target_flags_parse_and_refuse_a_pod_without_namespace() {
        let cli = Cli::try_parse_from([
            "tracer",
            "--pod",
            "default/fortio-7d9",
            "--container",
            "cri-o://5d1b7c8e9f0a5d1b7c8e9f0a",
            "--host-root",
            "/host",
        ])
        .unwrap();
        let specs = cli.targets.specs();
        assert_eq!(
            specs.pods,
            [("default".to_owned(), "fortio-7d9".to_owned())]
        );
        assert_eq!(specs.containers, ["5d1b7c8e9f0a5d1b7c8e9f0a"]);
        assert_eq!(cli.targets.host.host_root, PathBuf::from("/host"));
        let listed = Cli::try_parse_from([
            "tracer",
            "--pod",
            "default/a,istio-system/ztunnel-x2x",
            "--pod",
            "default/b",
        ])
        .unwrap();
        assert_eq!(
            listed.targets.specs().pods,
            [
                ("default".to_owned(), "a".to_owned()),
                ("istio-system".to_owned(), "ztunnel-x2x".to_owned()),
                ("default".to_owned(), "b".to_owned())
            ]
        );
        let bad = Cli::try_parse_from(["tracer", "--pod", "fortio"])
            .err()
            .unwrap();
        assert!(
            bad.to_string().contains("--pod wants NAMESPACE/NAME"),
            "{bad}"
        );
    }
}
