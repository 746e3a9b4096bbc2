//! `cargo xtask vmtest [--kernel 5.10|6.1|6.12|all]... [--full] [--cpus N] [--memory SIZE]
//! [--timeout SECS]`: boots the Debian kernels tracer's users run (5.10, 6.1, 6.12) in qemu with
//! virtme-ng (TCG emulation, no KVM) and runs tracer's root-only tests inside each guest.
//!
//! - Kernels: each series is resolved through its Debian suite's `linux-image-amd64`
//!   metapackage, downloaded once and kept in the cache (`/var/cache/tracer-vmtest/<suite>/`, or
//!   `$TRACER_VMTEST_CACHE`); a run with a cached kernel makes no network call,
//!   `--refresh-kernels` resolves and fetches again.
//! - Guest: the host's root is the guest's (read-only, 9p), so the test binaries that
//!   `cargo test -p tracer --no-run` built on the host run as they are. The guest runs a script
//!   written into the kernel's results folder `target/vmtest/<series>/` (the one read-write
//!   folder): it mounts what the tests need (pure cgroup v2 at /sys/fs/cgroup, tracefs, bpffs, a
//!   writable /tmp), then runs each [`GUEST_SUITE`] entry with its own time limit, writing its
//!   output, exit code and duration next to the script.
//! - Checks: the guest's whole console (kernel log) is kept as `console.log`; a kernel's run fails
//!   when it shows an oops, BUG, panic, warning, lockup or stall ([`console`]), when the guest
//!   does not finish within `--timeout` (qemu is killed: "hung"), or when an entry fails.
//! - Report: a Markdown table per run on stdout and in `target/vmtest/report.md`.
//!
//! What runs: by default the CI subset of [`GUEST_SUITE`] (`cargo xtask test` boots 5.10 and
//! 6.1 with it); `--all-entries` the whole suite; `--entry BINARY` that binary's entries (or the
//! binary whole if the suite has none); `--full` every test binary of tracer whole.
//!
//! Results folder of a kernel, `target/vmtest/<series>/`: `guest.sh` (the script), `console.log`
//! (vng's output: the kernel's console, the script's `vmtest:` progress lines), `started` (guest
//! `uname -r` and uptime), `prepare.txt` (the mount steps), `mounts.txt`, `cgroup.txt`,
//! `entry-<n>.out` and `entry-<n>.status` (`exit=<code> ms=<duration>`), `done`.
//!
//! ## Mechanism lines
//!
//! Tests tell the harness which attach mechanisms loaded by printing, on a line of their own
//! (stdout or stderr; anything before `vmtest:` on the line is ignored):
//!
//! ```text
//! vmtest: mechanism <name> loaded
//! vmtest: mechanism <name> refused: <reason, one line>
//! ```
//!
//! `<name>` is one word (the mechanism's `name()`, e.g. `fentry`, `tp-btf`). Every entry runs
//! with `--nocapture` so these lines reach the output of passing tests too. The report lists
//! each mechanism once per kernel; a mechanism that loaded in any entry counts as loaded.
mod console;
mod guest;
mod kernel;
mod report;

use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::cmd;

/// One entry of the guest suite: a test binary (its cargo target name, the file name of
/// `tracer/tests/<binary>.rs`) run with `args` (a test-name filter, `--exact`, ...).
/// [`COMMON_TEST_ARGS`] are always added.
#[derive(Debug, Clone, Copy)]
pub struct GuestTest {
    /// The test target's name, e.g. `probe_exact`.
    pub binary: &'static str,
    /// Arguments for the libtest harness: a filter, `--exact`, `--skip NAME`, ...
    pub args: &'static [&'static str],
    /// Part of the CI subset (the default run); the others run with `--all-entries` or
    /// `--entry <binary>`.
    pub ci: bool,
    /// Time limit in the guest; the entry is killed and reported "timed out" after it.
    pub limit_secs: u64,
}

/// What runs in every guest, in this order. Each entry runs in a fresh process; a test binary
/// that several entries share runs once per entry.
pub const GUEST_SUITE: &[GuestTest] = &[
    // Exact counts of a known call mix with every mechanism the kernel must allow
    // (`TRACER_EXPECT_MECHANISMS`, from the series).
    GuestTest {
        binary: "probe_exact",
        args: &[],
        ci: true,
        limit_secs: 180,
    },
    // `--syscalls` with every mechanism (unselected syscalls not counted, selected ones
    // exactly; raw tracepoints filter in the kernel) and names that follow exec.
    GuestTest {
        binary: "probe_select",
        args: &[],
        ci: true,
        limit_secs: 180,
    },
    // Pods matched by cgroup on pure cgroup v2, kubelet's systemd and cgroupfs layouts built
    // for real, a process joining the pod mid-run.
    GuestTest {
        binary: "pods_record",
        args: &[],
        ci: true,
        limit_secs: 180,
    },
    // The agent's start and fetch over HTTP, of a pod by name.
    GuestTest {
        binary: "pods_cgroup",
        args: &["agent_records_a_pod_by_name_and_nothing_else", "--exact"],
        ci: true,
        limit_secs: 180,
    },
    // Fork and exit: a command's known mix and its forked child, exactly.
    GuestTest {
        binary: "record_e2e",
        args: &[
            "a_known_syscall_mix_is_counted_exactly_per_process_and_syscall",
            "--exact",
        ],
        ci: true,
        limit_secs: 180,
    },
    // Every process's exact CPU from the kernel at its exit (50 children of 20 ms each), the
    // totals as sums of their parts, against wait4's rusage.
    GuestTest {
        binary: "record_e2e",
        args: &[
            "every_short_lived_child_has_its_exact_cpu_and_the_totals_add_up",
            "--exact",
        ],
        ci: true,
        limit_secs: 180,
    },
    // A reused pid is not counted as the exited target.
    GuestTest {
        binary: "hardening_targets",
        args: &[
            "a_pid_reused_by_an_unrelated_process_is_not_counted_as_the_exited_target",
            "--exact",
        ],
        ci: true,
        limit_secs: 180,
    },
    // SIGINT, SIGTERM and SIGHUP mid-run: a complete file, probes detached.
    GuestTest {
        binary: "hardening_faults",
        args: &[
            "sigint_sigterm_and_sighup_write_a_complete_file_and_detach_the_probes",
            "--exact",
        ],
        ci: true,
        limit_secs: 240,
    },
    // No program outlives tracer, even after SIGKILL.
    GuestTest {
        binary: "no_leftover_probes",
        args: &[],
        ci: true,
        limit_secs: 180,
    },
    // Ten minutes of recording a busy process with the default options: the kernel stays
    // healthy (`--entry vm_soak`; not in CI).
    GuestTest {
        binary: "vm_soak",
        args: &["--ignored"],
        ci: false,
        limit_secs: 900,
    },
];

/// Added to every entry's arguments: one test at a time (the tests load probes and share fd
/// numbers), and the output of passing tests too (mechanism lines, diagnostics).
pub const COMMON_TEST_ARGS: &[&str] = &["--test-threads=1", "--nocapture"];

/// Time limit of a whole test binary with `--full`.
const FULL_BINARY_LIMIT_SECS: u64 = 900;

/// Time a guest may take from qemu's start to the end of its script beyond the entries' own
/// limits (boot under emulation took 15–25 s here, with 2 or 16 CPUs).
const BOOT_ALLOWANCE_SECS: u64 = 120;

/// A kernel series on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelChoice {
    #[value(name = "5.10")]
    V5_10,
    #[value(name = "6.1")]
    V6_1,
    #[value(name = "6.12")]
    V6_12,
    All,
}

#[derive(Debug, clap::Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent command-line flags"
)]
pub struct VmtestArgs {
    /// Kernel series to boot (repeatable); all three when not given.
    #[arg(long = "kernel", value_enum, value_name = "SERIES")]
    kernels: Vec<KernelChoice>,
    /// Run every tracer test binary whole instead of the suite's entries.
    #[arg(long, conflicts_with_all = ["all_entries", "entries"])]
    full: bool,
    /// Run every entry of the suite, not only the CI subset.
    #[arg(long, conflicts_with = "entries")]
    all_entries: bool,
    /// Run only the suite's entries of this test binary, CI or not, or the binary whole when
    /// the suite has none (repeatable): `--entry probe_exact`.
    #[arg(long = "entry", value_name = "BINARY")]
    entries: Vec<String>,
    /// Guest CPUs.
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    /// Guest memory (qemu's -m syntax: 2G, 1536M).
    #[arg(long, default_value = "2G")]
    memory: String,
    /// Seconds a guest may run in all before it counts as hung and qemu is killed (default:
    /// 120 plus the entries' own limits).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Resolve and download each suite's current kernel again even when one is cached.
    #[arg(long)]
    refresh_kernels: bool,
    /// Crash each guest on purpose (`echo c > /proc/sysrq-trigger`) after its setup, before the
    /// entries: shows that the console check and the "stopped" verdict fail the run.
    #[arg(long, hide = true)]
    crash_guest: bool,
    /// Set NAME=VALUE for every entry in the guests (repeatable), e.g.
    /// `--entry vm_soak --env TRACER_SOAK_SECS=120 --env 'TRACER_SOAK_ARGS=--cost-sampling 10'`.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
}

/// `NAME=VALUE` with a shell-safe NAME.
fn parse_env(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "'{name}' is not a variable name: use A-Z, 0-9 and _"
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}

pub fn run(args: &VmtestArgs) -> anyhow::Result<()> {
    let vng = cmd::on_path("vng").ok_or_else(|| {
        anyhow::anyhow!("vng (virtme-ng) is not on PATH; run `cargo xtask setup`")
    })?;
    if cmd::on_path("qemu-system-x86_64").is_none() {
        bail!("qemu-system-x86_64 is not on PATH; run `cargo xtask setup`");
    }
    if args.cpus == 0 {
        bail!("--cpus must be at least 1");
    }
    let series = kernel::select(&args.kernels);

    let mut kernels = Vec::new();
    for one in &series {
        let started = Instant::now();
        match kernel::fetch(one, args.refresh_kernels) {
            Ok((found, how)) => {
                println!(
                    "vmtest: kernel {}: {} (Debian {} {} from {}, {how} in {:.1} s)",
                    one.name,
                    found.release,
                    found.package,
                    found.version,
                    one.suite,
                    started.elapsed().as_secs_f64()
                );
                kernels.push(Ok(found));
            }
            Err(error) => {
                println!(
                    "vmtest: kernel {}: could not be fetched: {error:#}",
                    one.name
                );
                kernels.push(Err((one, format!("{error:#}"))));
            }
        }
    }

    println!("vmtest: building the tracer test binaries (cargo test -p tracer --no-run)");
    let binaries = guest::build_test_binaries()?;
    let selection = if args.full {
        guest::Selection::Full
    } else if args.all_entries {
        guest::Selection::AllEntries
    } else if !args.entries.is_empty() {
        guest::Selection::Only(&args.entries)
    } else {
        guest::Selection::Ci
    };
    let entries = guest::plan(GUEST_SUITE, &binaries, selection)?;
    let timeout = args.timeout.unwrap_or_else(|| {
        BOOT_ALLOWANCE_SECS + entries.iter().map(|entry| entry.limit_secs).sum::<u64>()
    });
    let options = guest::BootOptions {
        vng,
        cpus: args.cpus,
        memory: args.memory.clone(),
        timeout: std::time::Duration::from_secs(timeout),
        crash_guest: args.crash_guest,
        env: args.env.clone(),
    };

    let out = cmd::target_dir().join("vmtest");
    fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
    let mut runs = Vec::new();
    for kernel in kernels {
        let run = match kernel {
            Ok(kernel) => {
                let results = out.join(kernel.series.name);
                println!(
                    "vmtest: booting {} ({} entries, {} CPUs, {}, timeout {timeout} s); \
                     console in {}",
                    kernel.release,
                    entries.len(),
                    args.cpus,
                    args.memory,
                    results.join("console.log").display()
                );
                guest::run_kernel(&kernel, &entries, &results, &options)?
            }
            Err((series, error)) => report::KernelRun::not_fetched(series.name, error),
        };
        println!("{}", run.summary_line());
        runs.push(run);
    }

    let markdown = report::markdown(&runs, &settings_line(args, timeout));
    let report_path = out.join("report.md");
    fs::write(&report_path, &markdown)
        .with_context(|| format!("could not write {}", report_path.display()))?;
    println!("\n{markdown}");
    println!("vmtest: report written to {}", report_path.display());
    let failures: Vec<String> = runs.iter().filter_map(report::KernelRun::failure).collect();
    if !failures.is_empty() {
        bail!("vmtest failed on {}", failures.join("; "));
    }
    Ok(())
}

fn settings_line(args: &VmtestArgs, timeout: u64) -> String {
    let what = if args.full {
        "every test binary whole".to_owned()
    } else if args.all_entries {
        "every suite entry".to_owned()
    } else if !args.entries.is_empty() {
        format!("the entries of {}", args.entries.join(", "))
    } else {
        "the CI subset of the suite".to_owned()
    };
    format!(
        "{what}; {} CPUs, {} memory, TCG (no KVM), guest timeout {timeout} s",
        args.cpus, args.memory
    )
}

/// Shell-quotes one word for the guest script (POSIX sh single quotes).
fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_./=:+,@%".contains(&byte))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str().ok_or_else(|| {
        anyhow::anyhow!("{} is not UTF-8; the guest script needs it", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_quote("/work/target/debug/deps/probe_exact-1a2b"),
            "/work/target/debug/deps/probe_exact-1a2b"
        );
        assert_eq!(shell_quote("--test-threads=1"), "--test-threads=1");
        assert_eq!(shell_quote("two words"), "'two words'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn the_suite_names_each_entry_once_and_fits_its_limits() {
        for (index, entry) in GUEST_SUITE.iter().enumerate() {
            assert!(entry.limit_secs > 0, "{}", entry.binary);
            assert!(
                !GUEST_SUITE[..index]
                    .iter()
                    .any(|other| other.binary == entry.binary && other.args == entry.args),
                "{} {:?} twice",
                entry.binary,
                entry.args
            );
        }
        assert!(
            GUEST_SUITE.iter().any(|entry| entry.ci),
            "CI runs something"
        );
    }
}
