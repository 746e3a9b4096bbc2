//! What a kernel's run found, the mechanism lines of the tests, and the Markdown report.
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::console::{self, Finding};

/// How a guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestEnd {
    /// The script ran to its end.
    Finished,
    /// qemu exited before the script's end (a panic, a crash); vng's exit status.
    Stopped(String),
    /// Still running after this many seconds: qemu was killed.
    Hung(u64),
    /// Never booted: the kernel could not be fetched.
    NotBooted(String),
}

/// How an entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryState {
    Passed,
    /// Exited with this code.
    Failed(i32),
    /// Killed at its time limit (seconds).
    TimedOut(u64),
    /// Started, never ended: the guest stopped or hung during it.
    Interrupted,
    /// The guest never got to it.
    NotRun,
}

#[derive(Debug)]
pub struct EntryResult {
    pub label: String,
    pub output: PathBuf,
    pub state: EntryState,
    pub duration: Option<Duration>,
    /// From the output when it did not pass: its panic message, or its last lines.
    pub excerpt: Vec<String>,
}

/// Whether an attach mechanism loaded, from a test's `vmtest: mechanism` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mechanism {
    pub name: String,
    /// `None` when it loaded, the reason when it was refused.
    pub refused: Option<String>,
}

/// Everything one kernel's run found.
#[derive(Debug)]
pub struct KernelRun {
    pub series: &'static str,
    /// `<release> (Debian <version>)`, when fetched.
    pub kernel: Option<String>,
    /// `uname -r` in the guest.
    pub guest_release: Option<String>,
    pub end: GuestEnd,
    pub boot: Option<Duration>,
    pub suite: Option<Duration>,
    /// The guest script's mount steps, "ok ..." or "FAILED ...".
    pub prepare: Vec<String>,
    pub entries: Vec<EntryResult>,
    pub findings: Vec<Finding>,
    pub mechanisms: Vec<Mechanism>,
    pub console: Option<PathBuf>,
}

impl KernelRun {
    pub fn not_fetched(series: &'static str, error: String) -> Self {
        Self {
            series,
            kernel: None,
            guest_release: None,
            end: GuestEnd::NotBooted(error),
            boot: None,
            suite: None,
            prepare: Vec::new(),
            entries: Vec::new(),
            findings: Vec::new(),
            mechanisms: Vec::new(),
            console: None,
        }
    }

    /// Why this kernel's run failed (`None` when it passed): every reason, one phrase each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match &self.end {
            GuestEnd::Finished => {}
            GuestEnd::Stopped(status) => problems.push(format!(
                "the guest stopped before its script finished (vng: {status})"
            )),
            GuestEnd::Hung(seconds) => {
                problems.push(format!(
                    "hung (not finished after {seconds} s; qemu killed)"
                ));
            }
            GuestEnd::NotBooted(error) => problems.push(format!("not booted: {error}")),
        }
        let reports = console::report_count(&self.findings);
        if reports > 0 {
            let mut kinds: Vec<&str> = Vec::new();
            for finding in &self.findings {
                if !kinds.contains(&finding.kind) {
                    kinds.push(finding.kind);
                }
            }
            problems.push(format!(
                "{reports} kernel report(s) on the console ({})",
                kinds.join(", ")
            ));
        }
        for step in &self.prepare {
            if let Some(failed) = step.strip_prefix("FAILED ") {
                problems.push(format!("guest setup: {failed}"));
            }
        }
        for entry in &self.entries {
            if entry.state != EntryState::Passed {
                problems.push(format!("{} {}", entry.label, state_text(&entry.state)));
            }
        }
        problems
    }

    /// `5.10 (pods_record failed (exit 101))` when the run failed.
    pub fn failure(&self) -> Option<String> {
        let problems = self.problems();
        (!problems.is_empty()).then(|| format!("{} ({})", self.series, problems.join(", ")))
    }

    /// One line for the progress log.
    pub fn summary_line(&self) -> String {
        let passed = self
            .entries
            .iter()
            .filter(|entry| entry.state == EntryState::Passed)
            .count();
        let verdict = match self.failure() {
            None => "passed".to_owned(),
            Some(failure) => format!("FAILED: {failure}"),
        };
        format!(
            "vmtest: kernel {}: {passed} of {} entries passed, boot {}, suite {}; {verdict}",
            self.series,
            self.entries.len(),
            seconds(self.boot),
            seconds(self.suite)
        )
    }
}

/// The mechanism lines in a test's output (see the module docs of `vmtest` for the format).
pub fn mechanisms(output: &str) -> Vec<Mechanism> {
    let mut found = Vec::new();
    for line in output.lines() {
        let Some(start) = line.find("vmtest: mechanism ") else {
            continue;
        };
        let rest = &line[start + "vmtest: mechanism ".len()..];
        let Some((name, verdict)) = rest.trim().split_once(' ') else {
            continue;
        };
        let refused = if verdict.trim() == "loaded" {
            None
        } else if let Some(reason) = verdict.strip_prefix("refused") {
            let reason = reason.trim_start_matches(':').trim();
            Some(
                if reason.is_empty() {
                    "no reason given"
                } else {
                    reason
                }
                .to_owned(),
            )
        } else {
            continue;
        };
        found.push(Mechanism {
            name: name.to_owned(),
            refused,
        });
    }
    found
}

/// Adds `more` to `all`, one per name, in first-seen order; loaded anywhere wins over refused.
pub fn merge_mechanisms(all: &mut Vec<Mechanism>, more: Vec<Mechanism>) {
    for mechanism in more {
        match all.iter_mut().find(|known| known.name == mechanism.name) {
            Some(known) => {
                if mechanism.refused.is_none() {
                    known.refused = None;
                }
            }
            None => all.push(mechanism),
        }
    }
}

/// The whole report: a summary table with a row per kernel, then a table of entries per kernel.
pub fn markdown(runs: &[KernelRun], settings: &str) -> String {
    let mut text = String::from("# tracer VM kernel matrix\n\n");
    let _ = writeln!(text, "Ran {settings}.\n");
    text.push_str(
        "| series | kernel | boot | suite | entries passed | oopses | mechanisms | result |\n\
         |---|---|---:|---:|---:|---:|---|---|\n",
    );
    for run in runs {
        let passed = run
            .entries
            .iter()
            .filter(|entry| entry.state == EntryState::Passed)
            .count();
        let result = if run.failure().is_none() {
            "passed"
        } else {
            "**FAILED**"
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {passed}/{} | {} | {} | {result} |",
            run.series,
            cell(run.kernel.as_deref().unwrap_or("—")),
            seconds(run.boot),
            seconds(run.suite),
            run.entries.len(),
            console::report_count(&run.findings),
            cell(&mechanism_summary(&run.mechanisms)),
        );
    }
    for run in runs {
        let _ = write!(
            text,
            "\n## {} — {}\n\n",
            run.series,
            run.kernel.as_deref().unwrap_or("not fetched")
        );
        if let Some(release) = &run.guest_release {
            let _ = writeln!(text, "Guest `uname -r`: {release}.");
        }
        if let Some(console) = &run.console {
            let _ = writeln!(text, "Console: `{}`.", console.display());
        }
        if !run.prepare.is_empty() {
            let _ = writeln!(text, "Guest setup: {}.", run.prepare.join("; "));
        }
        for mechanism in &run.mechanisms {
            let _ = match &mechanism.refused {
                None => writeln!(text, "- mechanism {}: loaded", mechanism.name),
                Some(reason) => writeln!(text, "- mechanism {}: refused: {reason}", mechanism.name),
            };
        }
        match run.failure() {
            None => text.push_str("\nResult: passed.\n"),
            Some(_) => {
                let _ = writeln!(text, "\nResult: **FAILED**: {}.", run.problems().join("; "));
            }
        }
        if !run.entries.is_empty() {
            text.push_str("\n| entry | result | time |\n|---|---|---:|\n");
            for entry in &run.entries {
                let _ = writeln!(
                    text,
                    "| `{}` | {} | {} |",
                    entry.label.replace('|', "\\|"),
                    state_text(&entry.state),
                    seconds(entry.duration)
                );
            }
        }
        for entry in run.entries.iter().filter(|entry| !entry.excerpt.is_empty()) {
            let _ = write!(
                text,
                "\n`{}`, from `{}`:\n\n```text\n{}\n```\n",
                entry.label,
                entry.output.display(),
                entry.excerpt.join("\n")
            );
        }
        if !run.findings.is_empty() {
            text.push_str("\nKernel reports on the console:\n\n```text\n");
            for finding in run.findings.iter().take(20) {
                let _ = writeln!(text, "{:>6}: {}", finding.line, finding.text);
            }
            text.push_str("```\n");
        }
    }
    text
}

fn mechanism_summary(mechanisms: &[Mechanism]) -> String {
    if mechanisms.is_empty() {
        return "—".to_owned();
    }
    mechanisms
        .iter()
        .map(|mechanism| match mechanism.refused {
            None => mechanism.name.clone(),
            Some(_) => format!("~~{}~~", mechanism.name),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn state_text(state: &EntryState) -> String {
    match state {
        EntryState::Passed => "passed".to_owned(),
        EntryState::Failed(code) => format!("failed (exit {code})"),
        EntryState::TimedOut(limit) => format!("timed out ({limit} s limit)"),
        EntryState::Interrupted => "interrupted (the guest stopped or hung during it)".to_owned(),
        EntryState::NotRun => "not run".to_owned(),
    }
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "—".to_owned(),
        |duration| format!("{:.1} s", duration.as_secs_f64()),
    )
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(entries: Vec<EntryResult>, end: GuestEnd, findings: Vec<Finding>) -> KernelRun {
        KernelRun {
            series: "5.10",
            kernel: Some("5.10.0-46-amd64 (Debian 5.10.262-1)".into()),
            guest_release: Some("5.10.0-46-amd64".into()),
            end,
            boot: Some(Duration::from_millis(14_200)),
            suite: Some(Duration::from_secs(31)),
            prepare: vec!["ok cgroup2 already at /sys/fs/cgroup".into()],
            entries,
            findings,
            mechanisms: mechanisms(
                "vmtest: mechanism fentry refused: no BTF for fentry\n\
                 vmtest: mechanism tp-btf loaded\n",
            ),
            console: Some("/w/target/vmtest/5.10/console.log".into()),
        }
    }

    fn entry(label: &str, state: EntryState) -> EntryResult {
        EntryResult {
            label: label.into(),
            output: format!("/w/target/vmtest/5.10/{label}.out").into(),
            excerpt: if state == EntryState::Passed {
                Vec::new()
            } else {
                vec!["unknown func bpf_get_current_ancestor_cgroup_id#123".into()]
            },
            state,
            duration: Some(Duration::from_millis(5300)),
        }
    }

    #[test]
    fn mechanism_lines_are_parsed_wherever_they_start() {
        let output = "running 1 test\n\
            vmtest: mechanism fentry loaded\n\
            stderr: vmtest: mechanism raw refused: Invalid argument (os error 22)\n\
            vmtest: mechanism tracepoint refused\n\
            vmtest: mechanism broken\n\
            vmtest: mechanismless line\n";
        assert_eq!(
            mechanisms(output),
            [
                Mechanism {
                    name: "fentry".into(),
                    refused: None
                },
                Mechanism {
                    name: "raw".into(),
                    refused: Some("Invalid argument (os error 22)".into())
                },
                Mechanism {
                    name: "tracepoint".into(),
                    refused: Some("no reason given".into())
                },
            ]
        );
    }

    #[test]
    fn a_mechanism_loaded_anywhere_counts_as_loaded() {
        let mut all = mechanisms("vmtest: mechanism fentry refused: EINVAL\n");
        merge_mechanisms(
            &mut all,
            mechanisms("vmtest: mechanism fentry loaded\nvmtest: mechanism raw loaded\n"),
        );
        merge_mechanisms(
            &mut all,
            mechanisms("vmtest: mechanism raw refused: busy\n"),
        );
        assert_eq!(all.len(), 2);
        assert!(
            all.iter().all(|mechanism| mechanism.refused.is_none()),
            "{all:?}"
        );
    }

    #[test]
    fn a_clean_run_passes() {
        let passed = run(
            vec![entry("probe_exact", EntryState::Passed)],
            GuestEnd::Finished,
            Vec::new(),
        );
        assert_eq!(passed.failure(), None);
        assert!(
            passed.summary_line().ends_with("passed"),
            "{}",
            passed.summary_line()
        );
    }

    #[test]
    fn failures_name_the_kernel_and_each_reason() {
        let failed = run(
            vec![
                entry("probe_exact", EntryState::Passed),
                entry("pods_record", EntryState::Failed(101)),
                entry("no_leftover_probes", EntryState::Interrupted),
            ],
            GuestEnd::Hung(600),
            console::findings("[ 9.0] int3: 0000 [#1] SMP\n[ 9.1] Kernel panic - not syncing\n"),
        );
        let failure = failed.failure().expect("failed");
        assert!(
            failure.starts_with("5.10 (hung (not finished after 600 s"),
            "{failure}"
        );
        assert!(
            failure.contains("1 kernel report(s) on the console (oops, panic)"),
            "{failure}"
        );
        assert!(
            failure.contains("pods_record failed (exit 101)"),
            "{failure}"
        );
        assert!(
            failure.contains("no_leftover_probes interrupted"),
            "{failure}"
        );
        assert!(!failure.contains("probe_exact"), "{failure}");
        let not_fetched = KernelRun::not_fetched("6.12", "`apt-get update -q` failed".into());
        assert!(
            not_fetched
                .failure()
                .expect("failed")
                .contains("not booted")
        );
    }

    #[test]
    fn the_markdown_has_a_row_per_kernel_and_a_table_per_kernel() {
        let runs = [run(
            vec![
                entry("probe_exact", EntryState::Passed),
                entry("pods_record", EntryState::Failed(101)),
            ],
            GuestEnd::Finished,
            Vec::new(),
        )];
        let text = markdown(&runs, "the CI subset");
        assert!(
            text.contains("| 5.10 | 5.10.0-46-amd64 (Debian 5.10.262-1) | 14.2 s | 31.0 s | 1/2 | 0 | ~~fentry~~ tp-btf | **FAILED** |"),
            "{text}"
        );
        assert!(
            text.contains("| `pods_record` | failed (exit 101) | 5.3 s |"),
            "{text}"
        );
        assert!(
            text.contains("- mechanism fentry: refused: no BTF for fentry"),
            "{text}"
        );
        assert!(
            text.contains("bpf_get_current_ancestor_cgroup_id#123"),
            "{text}"
        );
    }
}
