//! One guest: the test binaries it runs, the script that runs them, booting it with vng under a
//! time limit, and reading back what the script wrote into the results folder.
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use super::kernel::{Kernel, Series};
use super::report::{EntryResult, EntryState, GuestEnd, KernelRun};
use super::{
    COMMON_TEST_ARGS, FULL_BINARY_LIMIT_SECS, GuestTest, console, path_str, report, shell_quote,
};
use crate::cmd;

/// Files the guest script writes into the results folder.
const STARTED: &str = "started";
const DONE: &str = "done";
const PREPARE: &str = "prepare.txt";
const CONSOLE: &str = "console.log";
/// Lines of a failed entry's output quoted in the report: from its first panic, or its end.
const EXCERPT_LINES: usize = 12;
/// Longer lines (verifier logs) are cut to this many characters in the report.
const EXCERPT_WIDTH: usize = 300;

/// A test executable cargo built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBinary {
    /// The target's name; other kinds than integration tests get theirs added: `tracer (lib)`.
    pub name: String,
    pub executable: PathBuf,
}

/// One command the guest runs.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The binary's name and arguments, as the report shows it.
    pub label: String,
    pub executable: PathBuf,
    pub args: Vec<String>,
    pub limit_secs: u64,
}

/// How to boot.
pub struct BootOptions {
    pub vng: PathBuf,
    pub cpus: u32,
    pub memory: String,
    pub timeout: Duration,
    /// Crash the guest with sysrq before the entries (a check of the checks).
    pub crash_guest: bool,
    /// `NAME=VALUE` settings exported to every entry (e.g. `TRACER_SOAK_SECS=120`).
    pub env: Vec<(String, String)>,
}

/// Builds tracer's tests (and with them the debug `tracer` they run, and the `tracer-demo`
/// whose workloads they start, which cargo builds only for its own package) and lists the
/// test executables.
pub fn build_test_binaries() -> anyhow::Result<Vec<TestBinary>> {
    cmd::run(cmd::cargo().args(["build", "-p", "tracer-demo"]))?;
    let json = cmd::output(cmd::cargo().args([
        "test",
        "-p",
        "tracer",
        "--no-run",
        "--message-format=json",
    ]))?;
    let binaries = test_executables(&json);
    if binaries.is_empty() {
        bail!("`cargo test -p tracer --no-run --message-format=json` reported no test executable");
    }
    Ok(binaries)
}

/// The test executables in cargo's JSON messages (`compiler-artifact` with an `executable`
/// and a test profile).
fn test_executables(cargo_json: &str) -> Vec<TestBinary> {
    let mut binaries = Vec::new();
    for line in cargo_json.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let (Some(executable), Some(name)) = (
            message["executable"].as_str(),
            message["target"]["name"].as_str(),
        ) else {
            continue;
        };
        let kind = message["target"]["kind"][0].as_str().unwrap_or("test");
        let name = if kind == "test" {
            name.to_owned()
        } else {
            format!("{name} ({kind})")
        };
        binaries.push(TestBinary {
            name,
            executable: PathBuf::from(executable),
        });
    }
    binaries
}

/// Which entries a run takes.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// The suite's CI subset (the default).
    Ci,
    /// Every entry of the suite.
    AllEntries,
    /// Every test binary whole.
    Full,
    /// The suite's entries of these binaries; a binary the suite does not name runs whole.
    Only(&'a [String]),
}

/// What the guest runs, in the suite's order (`Full`: by binary name).
pub fn plan(
    suite: &[GuestTest],
    binaries: &[TestBinary],
    selection: Selection,
) -> anyhow::Result<Vec<Entry>> {
    let whole = |binary: &TestBinary| Entry {
        label: binary.name.clone(),
        executable: binary.executable.clone(),
        args: COMMON_TEST_ARGS
            .iter()
            .map(|arg| (*arg).to_owned())
            .collect(),
        limit_secs: FULL_BINARY_LIMIT_SECS,
    };
    let find = |name: &str| {
        binaries
            .iter()
            .find(|binary| binary.name == name)
            .ok_or_else(|| {
                anyhow!(
                    "no test binary is named `{name}`: `cargo test -p tracer --no-run` built {}",
                    binaries
                        .iter()
                        .map(|binary| binary.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    };
    let entry = |test: &GuestTest| -> anyhow::Result<Entry> {
        let binary = find(test.binary)?;
        let mut label = test.binary.to_owned();
        for arg in test.args {
            label.push(' ');
            label.push_str(arg);
        }
        Ok(Entry {
            label,
            executable: binary.executable.clone(),
            args: test
                .args
                .iter()
                .chain(COMMON_TEST_ARGS)
                .map(|arg| (*arg).to_owned())
                .collect(),
            limit_secs: test.limit_secs,
        })
    };
    match selection {
        Selection::Full => {
            let mut entries: Vec<Entry> = binaries.iter().map(whole).collect();
            entries.sort_by(|a, b| a.label.cmp(&b.label));
            Ok(entries)
        }
        Selection::Ci => suite.iter().filter(|test| test.ci).map(entry).collect(),
        Selection::AllEntries => suite.iter().map(entry).collect(),
        Selection::Only(names) => {
            let mut entries = Vec::new();
            for name in names {
                let mut of_binary = suite.iter().filter(|test| test.binary == name).peekable();
                if of_binary.peek().is_none() {
                    entries.push(whole(find(name)?));
                }
                for test in of_binary {
                    entries.push(entry(test)?);
                }
            }
            Ok(entries)
        }
    }
}

/// The guest's script: mounts, then each entry under `timeout`, its output in `entry-<n>.out`
/// and `exit=<code> ms=<duration>` in `entry-<n>.status`. `results` is the guest's read-write
/// folder (the same path as on the host); `workdir` is where tests start (tracer's package
/// folder, as under cargo).
fn script(
    results: &str,
    workdir: &str,
    series: &Series,
    entries: &[Entry],
    options: (&[(String, String)], bool),
) -> String {
    let (env, crash) = options;
    let mechanisms = shell_quote(series.mechanisms);
    let mut text = format!(
        r#"#!/bin/sh
# Written by `cargo xtask vmtest`; runs as root in the guest. Results go to R, the only
# read-write folder shared with the host.
R={results}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export RUST_BACKTRACE=1
export TRACER_EXPECT_MECHANISMS={mechanisms}
echo "vmtest: guest script started"
{{ uname -r; cut -d' ' -f1 /proc/uptime; }} > "$R/{STARTED}.tmp" && mv "$R/{STARTED}.tmp" "$R/{STARTED}"

note() {{ echo "$*" >> "$R/{PREPARE}"; }}
fstype() {{ awk -v m="$1" '$2 == m {{ t = $3 }} END {{ print t }}' /proc/mounts; }}

# cgroup v2 alone at /sys/fs/cgroup: unmount a hybrid or v1 layout first.
was=$(fstype /sys/fs/cgroup)
if [ "$was" = cgroup2 ] && ! awk '$3 == "cgroup" {{ found = 1 }} END {{ exit !found }}' /proc/mounts; then
    note "ok cgroup2 already at /sys/fs/cgroup"
else
    umount -R /sys/fs/cgroup 2>/dev/null
    if mount -t cgroup2 cgroup2 /sys/fs/cgroup; then
        note "ok cgroup2 mounted at /sys/fs/cgroup (was ${{was:-nothing}})"
    else
        note "FAILED cgroup2 could not be mounted at /sys/fs/cgroup (was ${{was:-nothing}})"
    fi
fi
if awk '$3 == "cgroup" {{ found = 1 }} END {{ exit !found }}' /proc/mounts; then
    note "FAILED cgroup v1 hierarchies are still mounted"
fi
[ -f /sys/fs/cgroup/cgroup.controllers ] || note "FAILED /sys/fs/cgroup has no cgroup.controllers"
if [ "$(fstype /sys/kernel/tracing)" = tracefs ]; then
    note "ok tracefs already at /sys/kernel/tracing"
elif mount -t tracefs tracefs /sys/kernel/tracing; then
    note "ok tracefs mounted at /sys/kernel/tracing"
else
    note "FAILED tracefs could not be mounted at /sys/kernel/tracing"
fi
if [ "$(fstype /sys/fs/bpf)" = bpf ]; then
    note "ok bpffs already at /sys/fs/bpf"
elif mount -t bpf bpf /sys/fs/bpf; then
    note "ok bpffs mounted at /sys/fs/bpf"
else
    note "FAILED bpffs could not be mounted at /sys/fs/bpf"
fi
if touch /tmp/.vmtest-writable 2>/dev/null && rm -f /tmp/.vmtest-writable; then
    note "ok /tmp is writable ($(fstype /tmp))"
elif mount -t tmpfs tmpfs /tmp; then
    note "ok tmpfs mounted at /tmp"
else
    note "FAILED /tmp is not writable"
fi
cp /proc/mounts "$R/mounts.txt"
cat /proc/self/cgroup > "$R/cgroup.txt"

cd {workdir} || note "FAILED cannot cd to {workdir}"
"#
    );
    for (name, value) in env {
        let _ = writeln!(text, "export {name}={}", shell_quote(value));
    }
    if crash {
        text.push_str(
            "\necho \"vmtest: crashing the guest on purpose\"\necho c > /proc/sysrq-trigger\n",
        );
    }
    let total = entries.len();
    for (index, entry) in entries.iter().enumerate() {
        let number = index + 1;
        let mut command = shell_quote(path_str_lossy(&entry.executable));
        for arg in &entry.args {
            command.push(' ');
            command.push_str(&shell_quote(arg));
        }
        let label = shell_quote(&format!(
            "vmtest: entry {number} of {total}: {}",
            entry.label
        ));
        let limit = entry.limit_secs;
        let _ = write!(
            text,
            r#"
echo {label}
start=$(date +%s%N)
timeout -k 10 {limit} {command} > "$R/entry-{number}.out" 2>&1 < /dev/null
code=$?
end=$(date +%s%N)
echo "exit=$code ms=$(( (end - start) / 1000000 ))" > "$R/entry-{number}.status"
"#
        );
    }
    let _ = write!(
        text,
        "\necho \"vmtest: guest script finished\"\ncut -d' ' -f1 /proc/uptime > \"$R/{DONE}\"\n"
    );
    text
}

fn path_str_lossy(path: &Path) -> &str {
    path.to_str().unwrap_or("/nonexistent-non-utf8-path")
}

/// Boots `kernel`, runs `entries` in it and reads back the results.
pub fn run_kernel(
    kernel: &Kernel,
    entries: &[Entry],
    results: &Path,
    options: &BootOptions,
) -> anyhow::Result<KernelRun> {
    if results.exists() {
        fs::remove_dir_all(results)
            .with_context(|| format!("could not empty {}", results.display()))?;
    }
    fs::create_dir_all(results)
        .with_context(|| format!("could not create {}", results.display()))?;
    for entry in entries {
        path_str(&entry.executable)?;
    }
    let workdir = cmd::workspace_root().join("tracer");
    let script_path = results.join("guest.sh");
    fs::write(
        &script_path,
        script(
            path_str(results)?,
            &shell_quote(path_str(&workdir)?),
            kernel.series,
            entries,
            (&options.env, options.crash_guest),
        ),
    )
    .with_context(|| format!("could not write {}", script_path.display()))?;

    let watched = boot(kernel, results, &script_path, options)?;
    Ok(collect(kernel, entries, results, &watched))
}

/// What the host saw of a guest.
struct Watched {
    end: GuestEnd,
    /// From qemu's start to the script's first line.
    boot: Option<Duration>,
    /// From the script's first line to its last.
    suite: Option<Duration>,
}

fn boot(
    kernel: &Kernel,
    results: &Path,
    script: &Path,
    options: &BootOptions,
) -> anyhow::Result<Watched> {
    let mut vng = Command::new(&options.vng);
    vng.arg("--run")
        .arg(&kernel.vmlinuz)
        .args(["--force-9p", "--disable-kvm", "--verbose"])
        .arg(format!("--cpus={}", options.cpus))
        .arg(format!("--memory={}", options.memory))
        .arg(format!("--rwdir={}", path_str(results)?))
        .arg("--exec")
        .arg(format!("sh {}", shell_quote(path_str(script)?)))
        .current_dir(results)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: on a timeout, vng and the qemu it forked are killed together.
        .process_group(0);
    let line = cmd::display(&vng);
    let console_path = results.join(CONSOLE);
    let console = Arc::new(Mutex::new(
        fs::File::create(&console_path)
            .with_context(|| format!("could not create {}", console_path.display()))?,
    ));
    let started = Instant::now();
    let mut child = vng
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let readers = [
        child
            .stdout
            .take()
            .map(|out| copy_lines(out, Arc::clone(&console))),
        child
            .stderr
            .take()
            .map(|err| copy_lines(err, Arc::clone(&console))),
    ];

    let mut boot = None;
    let mut suite = None;
    let end = loop {
        if boot.is_none() && results.join(STARTED).exists() {
            boot = Some(started.elapsed());
        }
        if suite.is_none()
            && let Some(boot) = boot
            && results.join(DONE).exists()
        {
            suite = Some(started.elapsed().saturating_sub(boot));
        }
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("could not wait for `{line}`"))?
        {
            break exited(status, results);
        }
        if started.elapsed() >= options.timeout {
            // SAFETY: signals the process group this function made (vng is not reaped yet, so
            // its id still names that group).
            unsafe { libc::kill(-child.id().cast_signed(), libc::SIGKILL) };
            child
                .wait()
                .with_context(|| format!("could not wait for the killed `{line}`"))?;
            break GuestEnd::Hung(options.timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for reader in readers.into_iter().flatten() {
        let _ = reader.join();
    }
    if boot.is_none() && results.join(STARTED).exists() {
        boot = Some(started.elapsed());
    }
    Ok(Watched { end, boot, suite })
}

fn exited(status: ExitStatus, results: &Path) -> GuestEnd {
    if results.join(DONE).exists() {
        GuestEnd::Finished
    } else {
        GuestEnd::Stopped(status.to_string())
    }
}

/// Copies a pipe into the console log line by line (stdout and stderr share the file).
fn copy_lines(
    pipe: impl Read + Send + 'static,
    console: Arc<Mutex<fs::File>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .is_ok_and(|read| read > 0)
        {
            if let Ok(mut file) = console.lock() {
                let _ = file.write_all(&line);
            }
            line.clear();
        }
    })
}

/// Reads what the guest wrote: its release, mounts, each entry's end, the console.
fn collect(kernel: &Kernel, entries: &[Entry], results: &Path, boot: &Watched) -> KernelRun {
    let read = |name: &str| fs::read_to_string(results.join(name)).ok();
    let guest_release = read(STARTED).and_then(|text| text.lines().next().map(str::to_owned));
    let prepare = read(PREPARE)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    let console_text = read(CONSOLE).unwrap_or_default();
    let findings = console::findings(&console_text);

    let mut mechanisms = Vec::new();
    let mut results_of_entries = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let number = index + 1;
        let output = read(&format!("entry-{number}.out"));
        let status = read(&format!("entry-{number}.status"));
        if let Some(output) = &output {
            report::merge_mechanisms(&mut mechanisms, report::mechanisms(output));
        }
        let (state, duration) = match status.as_deref().and_then(parse_status) {
            Some((0, ms)) => (EntryState::Passed, Some(ms)),
            Some((124 | 137, ms)) => (EntryState::TimedOut(entry.limit_secs), Some(ms)),
            Some((code, ms)) => (EntryState::Failed(code), Some(ms)),
            None if output.is_some() => (EntryState::Interrupted, None),
            None => (EntryState::NotRun, None),
        };
        let excerpt = match (&state, &output) {
            (EntryState::Passed | EntryState::NotRun, _) | (_, None) => Vec::new(),
            (_, Some(output)) => excerpt(output),
        };
        results_of_entries.push(EntryResult {
            label: entry.label.clone(),
            output: results.join(format!("entry-{number}.out")),
            state,
            duration: duration.map(Duration::from_millis),
            excerpt,
        });
    }
    KernelRun {
        series: kernel.series.name,
        kernel: Some(format!("{} (Debian {})", kernel.release, kernel.version)),
        guest_release,
        end: boot.end.clone(),
        boot: boot.boot,
        suite: boot.suite,
        prepare,
        entries: results_of_entries,
        findings,
        mechanisms,
        console: Some(results.join(CONSOLE)),
    }
}

/// `exit=<code> ms=<milliseconds>` as the script writes it.
fn parse_status(text: &str) -> Option<(i32, u64)> {
    let mut code = None;
    let mut ms = None;
    for field in text.split_whitespace() {
        if let Some(value) = field.strip_prefix("exit=") {
            code = value.parse().ok();
        } else if let Some(value) = field.strip_prefix("ms=") {
            ms = value.parse().ok();
        }
    }
    Some((code?, ms?))
}

/// What the report quotes of a failed entry: the first panic's message (where a Rust test says
/// what went wrong), else the output's last lines; long lines cut. Then each distinct verdict of
/// the verifier logs in the output, which a cut line hides.
fn excerpt(output: &str) -> Vec<String> {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.contains(" panicked at "))
        .unwrap_or_else(|| lines.len().saturating_sub(EXCERPT_LINES));
    let mut quoted: Vec<String> = lines[start..]
        .iter()
        .take(EXCERPT_LINES)
        .map(|line| match line.char_indices().nth(EXCERPT_WIDTH) {
            Some((cut, _)) => format!("{} …", &line[..cut]),
            None => (*line).to_owned(),
        })
        .collect();
    for verdict in verifier_verdicts(&lines) {
        quoted.push(format!("verifier: {verdict}"));
    }
    quoted
}

/// The verifier's reason for each rejection in a log: the line before its closing statistics
/// (`processed N insns (limit M) ...`, after `verification time` and `stack depth` if printed),
/// each distinct one once.
fn verifier_verdicts<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut verdicts = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if !(line.starts_with("processed ") && line.contains(" insns (limit ")) {
            continue;
        }
        let verdict = lines[..index].iter().rev().find(|earlier| {
            !earlier.starts_with("verification time ") && !earlier.starts_with("stack depth ")
        });
        if let Some(verdict) = verdict
            && !verdicts.contains(verdict)
        {
            verdicts.push(*verdict);
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARGO_JSON: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/tracer#0.1.0","target":{"kind":["lib"],"crate_types":["lib"],"name":"tracer","src_path":"/w/tracer/src/lib.rs","test":true},"profile":{"test":true},"executable":"/w/target/debug/deps/tracer-aaaa","fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///w/tracer#0.1.0","target":{"kind":["bin"],"crate_types":["bin"],"name":"tracer","src_path":"/w/tracer/src/main.rs","test":false},"profile":{"test":false},"executable":"/w/target/debug/tracer","fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///w/tracer#0.1.0","target":{"kind":["test"],"crate_types":["bin"],"name":"probe_exact","src_path":"/w/tracer/tests/probe_exact.rs","test":true},"profile":{"test":true},"executable":"/w/target/debug/deps/probe_exact-bbbb","fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///w/tracer-common#0.1.0","target":{"kind":["lib"],"name":"tracer_common","test":true},"profile":{"test":false},"executable":null,"fresh":true}
{"reason":"build-finished","success":true}
"#;

    fn binaries() -> Vec<TestBinary> {
        test_executables(CARGO_JSON)
    }

    #[test]
    fn cargo_json_gives_the_test_executables_only() {
        assert_eq!(
            binaries(),
            [
                TestBinary {
                    name: "tracer (lib)".into(),
                    executable: "/w/target/debug/deps/tracer-aaaa".into()
                },
                TestBinary {
                    name: "probe_exact".into(),
                    executable: "/w/target/debug/deps/probe_exact-bbbb".into()
                },
            ]
        );
    }

    #[test]
    fn the_plan_takes_the_ci_subset_unless_asked_for_more() {
        let suite = [
            GuestTest {
                binary: "probe_exact",
                args: &["every_available_mechanism", "--exact"],
                ci: true,
                limit_secs: 60,
            },
            GuestTest {
                binary: "probe_exact",
                args: &[],
                ci: false,
                limit_secs: 90,
            },
        ];
        let ci = plan(&suite, &binaries(), Selection::Ci).expect("binaries exist");
        assert_eq!(ci.len(), 1);
        assert_eq!(ci[0].label, "probe_exact every_available_mechanism --exact");
        assert_eq!(
            ci[0].args,
            [
                "every_available_mechanism",
                "--exact",
                "--test-threads=1",
                "--nocapture"
            ]
        );
        assert_eq!(ci[0].limit_secs, 60);
        assert_eq!(
            plan(&suite, &binaries(), Selection::AllEntries)
                .expect("ok")
                .len(),
            2
        );
        let full = plan(&suite, &binaries(), Selection::Full).expect("ok");
        let labels: Vec<_> = full.iter().map(|entry| entry.label.as_str()).collect();
        assert_eq!(labels, ["probe_exact", "tracer (lib)"], "by name");
        assert_eq!(full[0].args, ["--test-threads=1", "--nocapture"]);
    }

    #[test]
    fn only_takes_the_named_binaries_entries_or_the_binary_whole() {
        let suite = [
            GuestTest {
                binary: "probe_exact",
                args: &["one"],
                ci: false,
                limit_secs: 60,
            },
            GuestTest {
                binary: "probe_exact",
                args: &["two"],
                ci: true,
                limit_secs: 60,
            },
        ];
        let names = ["probe_exact".to_owned(), "tracer (lib)".to_owned()];
        let entries = plan(&suite, &binaries(), Selection::Only(&names)).expect("ok");
        let labels: Vec<_> = entries.iter().map(|entry| entry.label.as_str()).collect();
        assert_eq!(
            labels,
            ["probe_exact one", "probe_exact two", "tracer (lib)"]
        );
        assert_eq!(entries[2].limit_secs, FULL_BINARY_LIMIT_SECS);
        let unknown = ["nope".to_owned()];
        assert!(plan(&suite, &binaries(), Selection::Only(&unknown)).is_err());
    }

    #[test]
    fn a_suite_entry_without_its_binary_is_an_error_naming_it() {
        let suite = [GuestTest {
            binary: "pods_record",
            args: &[],
            ci: true,
            limit_secs: 60,
        }];
        let error = plan(&suite, &binaries(), Selection::Ci).expect_err("not built");
        assert!(error.to_string().contains("`pods_record`"), "{error}");
        assert!(
            error
                .to_string()
                .contains("built tracer (lib), probe_exact"),
            "{error}"
        );
    }

    #[test]
    fn the_script_mounts_first_then_runs_each_entry_under_its_limit() {
        let entries = plan(
            &[GuestTest {
                binary: "probe_exact",
                args: &["a test"],
                ci: true,
                limit_secs: 77,
            }],
            &binaries(),
            Selection::Ci,
        )
        .expect("ok");
        let series = &super::super::kernel::SERIES[1];
        let env = [("TRACER_SOAK_SECS".to_owned(), "60".to_owned())];
        let text = script(
            "/w/target/vmtest/6.1",
            "/w/tracer",
            series,
            &entries,
            (&env, false),
        );
        assert!(text.contains("export TRACER_SOAK_SECS=60"), "{text}");
        assert!(text.contains("export TRACER_EXPECT_MECHANISMS=fentry,tp_btf"));
        assert!(!text.contains("sysrq"));
        assert!(
            script("/w", "/w", series, &entries, (&[], true))
                .contains("echo c > /proc/sysrq-trigger")
        );
        let mount = text.find("mount -t cgroup2").expect("cgroup2 mount");
        let run = text
            .find(
                "timeout -k 10 77 /w/target/debug/deps/probe_exact-bbbb 'a test' --test-threads=1",
            )
            .expect("entry command");
        assert!(mount < run);
        assert!(text.contains("R=/w/target/vmtest/6.1\n"));
        assert!(text.contains(r#"> "$R/entry-1.out" 2>&1"#));
        assert!(text.contains(r#"> "$R/entry-1.status""#));
        assert!(text.contains("mount -t bpf bpf /sys/fs/bpf"));
        assert!(text.contains("mount -t tracefs tracefs /sys/kernel/tracing"));
        assert!(text.contains("echo 'vmtest: entry 1 of 1: probe_exact a test'"));
        assert!(text.trim_end().ends_with(r#"> "$R/done""#));
    }

    #[test]
    fn status_files_give_exit_code_and_duration() {
        assert_eq!(parse_status("exit=0 ms=8123\n"), Some((0, 8123)));
        assert_eq!(parse_status("exit=101 ms=40\n"), Some((101, 40)));
        assert_eq!(parse_status("exit=0\n"), None, "cut short");
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn verifier_verdicts_are_the_lines_before_its_statistics() {
        let log = "43: (85) call bpf_get_current_ancestor_cgroup_id#123\n\
                   unknown func bpf_get_current_ancestor_cgroup_id#123\n\
                   verification time 9387 usec\n\
                   stack depth 40\n\
                   processed 35 insns (limit 1000000) max_states_per_insn 0 total_states 3\n\
                   : Invalid argument (os error 22) (verifier: processed 35 insns (limit 1000000))\n\
                   unknown func bpf_get_current_ancestor_cgroup_id#123\n\
                   processed 47 insns (limit 1000000) max_states_per_insn 0\n\
                   R1 type=ctx expected=fp\n\
                   processed 3 insns (limit 1000000)\n";
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(
            verifier_verdicts(&lines),
            [
                "unknown func bpf_get_current_ancestor_cgroup_id#123",
                "R1 type=ctx expected=fp"
            ]
        );
        let quoted = excerpt(log);
        assert_eq!(
            quoted.last().map(String::as_str),
            Some("verifier: R1 type=ctx expected=fp")
        );
    }

    #[test]
    fn the_excerpt_starts_at_the_panic_or_shows_the_end() {
        let panicked = "running 1 test\ntest t ... \nthread 't' (141) panicked at tests/x.rs:1:2:\n\
                        no way to attach\nstack backtrace:\n";
        assert_eq!(
            excerpt(panicked),
            [
                "thread 't' (141) panicked at tests/x.rs:1:2:",
                "no way to attach",
                "stack backtrace:"
            ]
        );
        let many = (1..=20)
            .map(|n| format!("line {n}"))
            .collect::<Vec<_>>()
            .join("\n");
        let quoted = excerpt(&many);
        assert_eq!(quoted.len(), EXCERPT_LINES);
        assert_eq!(quoted.last().map(String::as_str), Some("line 20"));
        let long = excerpt(&"é".repeat(400));
        assert_eq!(long[0].chars().count(), EXCERPT_WIDTH + 2);
    }
}
