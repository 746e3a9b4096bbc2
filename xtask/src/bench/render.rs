//! The Markdown report: a table per workload of what each tool adds per syscall, paired with
//! the untraced run of the same repetition, then tracer's own cost. Pure: no I/O but reading
//! where the numbers were taken.
use std::fmt::Write as _;
use std::fs;
use std::process::Command;
use std::thread;
use std::time::Duration;

use super::Measured;
use super::measure::{CollectorCost, Sample};
use super::tools::{FLOOR_ROW, Tool, UNTARGETED_ROW};
use super::workloads::WorkloadKind;
use crate::cmd;

/// Where the numbers were taken.
pub(super) struct Environment {
    cpu: String,
    cores: usize,
    kernel: String,
    load_before: String,
    load_after: String,
    took: Duration,
    versions: Vec<(String, String)>,
}

impl Environment {
    pub(super) fn read(load_before: String, took: Duration) -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown CPU".to_owned(),
                |(_, name)| name.trim().to_owned(),
            );
        let cores = thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned());
        let version = |program: &str, flag: &str| {
            cmd::output(Command::new(program).arg(flag))
                .ok()
                .and_then(|text| text.lines().next().map(str::to_owned))
                .unwrap_or_else(|| "not found".to_owned())
        };
        let versions = vec![
            ("bpftrace".into(), version("bpftrace", "--version")),
            ("perf".into(), version("perf", "version")),
            ("strace".into(), version("strace", "-V")),
        ];
        Self {
            cpu,
            cores,
            kernel,
            load_before,
            load_after: load_average(),
            took,
            versions,
        }
    }
}

pub(super) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

fn sorted(values: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    values
}

/// "100%" only when nothing was lost; otherwise one decimal, never rounded up to 100%.
fn percent(share: f64) -> String {
    if share >= 1.0 {
        "100%".to_owned()
    } else {
        format!("{:.1}%", (share * 1000.0).floor() / 10.0)
    }
}

/// Median and range over repetitions of (tool minus baseline of the same repetition).
struct Added {
    median: f64,
    min: f64,
    max: f64,
}

impl Added {
    fn of(runs: &[f64], baseline: &[f64]) -> Self {
        let added = sorted(runs.iter().zip(baseline).map(|(run, base)| run - base));
        Self {
            median: median(&added),
            min: added.first().copied().unwrap_or(f64::NAN),
            max: added.last().copied().unwrap_or(f64::NAN),
        }
    }
}

impl std::fmt::Display for Added {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{:.0} ({:.0} to {:.0})",
            self.median, self.min, self.max
        )
    }
}

/// The Markdown report: a table per workload of what every tool adds per syscall (tool 0 is the
/// baseline and tool 1 the empty-probe floor), then tracer's own cost.
pub(super) fn render(tools: &[Tool], measured: &[Measured], environment: &Environment) -> String {
    let reps = measured
        .first()
        .and_then(|results| results.samples.first())
        .map_or(0, Vec::len);
    let mut out = String::new();
    let _ = writeln!(out, "## Overhead per syscall\n");
    let _ = writeln!(
        out,
        "{reps} repetition{}, tools interleaved (order rotated every repetition), each tool run on \
         every workload in turn. \"Added\" = ns per syscall under the tool minus ns per syscall \
         without a tracer in the same repetition: median (min to max). \"× empty\" = added / \
         added by bpftrace with empty probes. eBPF probes run inside the traced syscalls, so \
         on-CPU time shows their cost even on a busy machine; strace and perf trace make the \
         traced threads wait for another process, which only wall time shows. \"Counted\" = the \
         smallest share of the loop's writes and reads the tool reported, in its worst \
         repetition (below 100%: it lost events).\n",
        if reps == 1 { "" } else { "s" }
    );
    for results in measured {
        out.push_str(&overhead_table(tools, results));
    }
    out.push_str(&collector_table(tools, measured));
    let _ = writeln!(out, "\nWhat each tool does:\n");
    for tool in tools {
        let _ = writeln!(out, "- {}: {}", tool.name, tool.what);
    }
    let left_out: Vec<String> = measured
        .iter()
        .flat_map(|results| {
            tools
                .iter()
                .zip(&results.failures)
                .filter_map(|(tool, failure)| {
                    let workload = results.workload.kind.name();
                    Some(format!(
                        "- {} ({workload}): {}",
                        tool.name,
                        failure.as_ref()?
                    ))
                })
        })
        .collect();
    if !left_out.is_empty() {
        let _ = writeln!(out, "\nNot measured:\n\n{}", left_out.join("\n"));
    }
    let _ = writeln!(
        out,
        "\nMachine: {} ({} cores), Linux {}. Load average before {}, after {}; the run took \
         {:.0} s. {}.",
        environment.cpu,
        environment.cores,
        environment.kernel,
        environment.load_before,
        environment.load_after,
        environment.took.as_secs_f64(),
        environment
            .versions
            .iter()
            .map(|(tool, version)| format!("{tool}: {version}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    out
}

/// One workload's table: per syscall, and for HTTP also per request.
fn overhead_table(tools: &[Tool], results: &Measured) -> String {
    let kind = results.workload.kind;
    let per_request = kind == WorkloadKind::Http;
    let values = |index: usize, of: fn(&Sample) -> f64| -> Vec<f64> {
        results.samples[index].iter().map(of).collect()
    };
    let added =
        |index: usize, of: fn(&Sample) -> f64| Added::of(&values(index, of), &values(0, of));
    let wall: fn(&Sample) -> f64 = |sample| sample.per_syscall.wall_ns;
    let cpu: fn(&Sample) -> f64 = |sample| sample.per_syscall.cpu_ns;
    let request_wall_us: fn(&Sample) -> f64 = |sample| sample.per_round.wall_ns / 1000.0;
    let request_cpu_us: fn(&Sample) -> f64 = |sample| sample.per_round.cpu_ns / 1000.0;
    let floor_wall = added(1, wall).median;
    let floor_cpu = added(1, cpu).median;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {}\n\nWorkload: {}\n",
        kind.title(),
        kind.description()
    );
    let (request_header, request_align) = if per_request {
        (
            " added wall µs/request | added on-CPU µs/request |",
            " ---: | ---: |",
        )
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| tool | {} | wall ns/syscall | added wall | × empty (wall) | on-CPU ns/syscall \
         | added on-CPU | × empty (on-CPU) |{request_header} counted |",
        kind.round_name()
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |{request_align} ---: |"
    );
    for (index, tool) in tools.iter().enumerate() {
        if results.failures.get(index).is_some_and(Option::is_some) {
            continue;
        }
        let mut cells = vec![
            tool.name.clone(),
            results.workload.rounds_for(tool).to_string(),
        ];
        let dash = || "-".to_owned();
        // ns per syscall, added, and × empty: in wall time, then in on-CPU time.
        for (of, floor) in [(wall, floor_wall), (cpu, floor_cpu)] {
            cells.push(format!("{:.0}", median(&sorted(values(index, of)))));
            if index == 0 {
                cells.extend([dash(), dash()]);
            } else {
                let cost = added(index, of);
                cells.extend([cost.to_string(), format!("{:.1}", cost.median / floor)]);
            }
        }
        if per_request {
            for of in [request_wall_us, request_cpu_us] {
                cells.push(if index == 0 {
                    dash()
                } else {
                    format!("{:.1}", added(index, of).median)
                });
            }
        }
        cells.push(
            results.samples[index]
                .iter()
                .filter_map(|sample| sample.counted)
                .min_by(f64::total_cmp)
                .map_or_else(dash, percent),
        );
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    let row = |name: &str| tools.iter().position(|tool| tool.name == name);
    if let (Some(untargeted), Some(floor)) = (row(UNTARGETED_ROW), row(FLOOR_ROW))
        && results.samples[untargeted].len() == results.samples[floor].len()
    {
        let part = |of: fn(&Sample) -> f64| Added::of(&values(untargeted, of), &values(floor, of));
        let _ = writeln!(
            out,
            "\ntracer's own part of what an untargeted process pays (\"{UNTARGETED_ROW}\" minus \
             \"{FLOOR_ROW}\", paired by repetition): {} ns per syscall in wall time, {} on-CPU.",
            part(wall),
            part(cpu)
        );
    }
    out.push('\n');
    out
}

/// tracer's own cost on every workload, from the rows that measured a collector; empty when
/// none did.
fn collector_table(tools: &[Tool], measured: &[Measured]) -> String {
    let rows: Vec<String> = measured
        .iter()
        .flat_map(|results| {
            tools.iter().enumerate().filter_map(move |(index, tool)| {
                if results.failures.get(index).is_some_and(Option::is_some) {
                    return None;
                }
                let samples = &results.samples[index];
                let costs: Vec<CollectorCost> = samples
                    .iter()
                    .filter_map(|sample| sample.collector)
                    .collect();
                let max_lost = costs.iter().map(|cost| cost.lost).max()?;
                let rate = sorted(
                    samples
                        .iter()
                        .map(|sample| 1e9 / sample.per_syscall.wall_ns),
                );
                let cpu = sorted(costs.iter().map(|cost| cost.usage.cpu_share * 100.0));
                let cpu_ms = sorted(costs.iter().map(|cost| cost.usage.cpu_ns as f64 / 1e6));
                let rss_kib = costs.iter().map(|cost| cost.usage.rss_kib).max()?;
                let peak_rss_kib = costs.iter().map(|cost| cost.usage.peak_rss_kib).max()?;
                let ns_per_run = sorted(costs.iter().filter_map(|cost| cost.ns_per_program_run));
                Some(format!(
                    "| {} | {} | {:.0} | {:.2} ({:.2}) | {:.1} | {:.1} | {:.1} | {max_lost} | {} |",
                    tool.name,
                    results.workload.kind.name(),
                    median(&rate),
                    median(&cpu),
                    cpu.last().copied().unwrap_or(f64::NAN),
                    median(&cpu_ms),
                    rss_kib as f64 / 1024.0,
                    peak_rss_kib as f64 / 1024.0,
                    if ns_per_run.is_empty() {
                        "-".to_owned()
                    } else {
                        format!("{:.0}", median(&ns_per_run))
                    },
                ))
            })
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "## tracer's own cost\n\n\
         Measured in the same runs, while the loop ran. \"Collector CPU\" = CPU time of all the \
         collector's threads (/proc/PID/task/*/schedstat) from its ready line to just before \
         SIGINT, as a share of one core over that interval: median (max over repetitions), and \
         in ms per run (median); it includes one-off work such as describing each fd the first \
         time it shows up (from /proc/PID/net), which weighs more the shorter the loop. Its BPF \
         programs run inside the traced syscalls and are counted in the tables above instead. \
         \"RSS\" = VmRSS and \"peak RSS\" = VmHWM (loading the probes included) just before \
         SIGINT, the largest over repetitions. \"Lost\" = the sum of the loss counters in its \
         run file, the largest over repetitions (must be 0). \"ns per program run\" = the \
         kernel's run time of its BPF programs per run (probe.overhead in the run file), \
         median. \"Syscalls/s\" = the workload's rate in its loop, median.\n\n\
         | tool | workload | syscalls/s | collector CPU, % of a core | collector CPU ms | RSS MiB \
         | peak RSS MiB | lost | ns per program run |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n\
         {}\n",
        rows.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::super::measure::Times;
    use super::super::workloads::Workload;
    use super::*;
    use crate::collector;

    #[test]
    fn lost_events_show_as_a_share_below_100_percent() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(190_939.0 / 200_000.0), "95.4%");
        assert_eq!(percent(0.99999), "99.9%", "never rounded up to 100%");
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert!((median(&[1.0, 2.0, 9.0]) - 2.0).abs() < 1e-9);
        assert!((median(&[1.0, 2.0, 4.0, 9.0]) - 3.0).abs() < 1e-9);
        assert!(median(&[]).is_nan());
    }

    /// The report's tools: the baseline, the empty-probe floor and a tracer.
    fn report_tools() -> [Tool; 3] {
        [
            Tool::for_test("no tracer"),
            Tool::for_test("empty"),
            Tool {
                collector: true,
                ..Tool::for_test("heavy")
            },
        ]
    }

    /// Three repetitions at these wall ns per syscall (on-CPU: half), a round being 5
    /// syscalls, with a collector's cost when `collector`.
    fn report_samples(values: [f64; 3], counted: Option<f64>, collector: bool) -> Vec<Sample> {
        // (share of a core, CPU ns, RSS KiB, ns per program run), as over a 4 s loop.
        let costs = [
            (0.0005, 2_000_000, 20_480, 90.0),
            (0.001, 4_000_000, 22_528, 100.0),
            (0.0002, 800_000, 21_504, 110.0),
        ];
        values
            .iter()
            .zip(costs)
            .map(
                |(&ns, (cpu_share, cpu_ns, peak_rss_kib, ns_per_run))| Sample {
                    per_syscall: Times {
                        wall_ns: ns,
                        cpu_ns: ns / 2.0,
                    },
                    per_round: Times {
                        wall_ns: ns * 5.0,
                        cpu_ns: ns * 2.5,
                    },
                    counted,
                    collector: collector.then_some(CollectorCost {
                        usage: collector::Usage {
                            cpu_ns,
                            cpu_share,
                            rss_kib: peak_rss_kib / 2,
                            peak_rss_kib,
                        },
                        lost: 0,
                        ns_per_program_run: Some(ns_per_run),
                    }),
                },
            )
            .collect()
    }

    /// A workload whose baseline drifts 100 -> 200 ns while the tools add exactly 40 and 160
    /// ns per syscall in each repetition.
    fn report_measured(kind: WorkloadKind) -> Measured {
        Measured {
            workload: Workload {
                kind,
                rounds: 10,
                short_rounds: 5,
            },
            samples: vec![
                report_samples([100.0, 200.0, 150.0], None, false),
                report_samples([140.0, 240.0, 190.0], Some(1.0), false),
                report_samples([260.0, 360.0, 310.0], Some(0.95), true),
            ],
            failures: vec![None; 3],
        }
    }

    fn report_of(measured: &[Measured]) -> String {
        let environment = Environment {
            cpu: "Test CPU".into(),
            cores: 2,
            kernel: "6.1.0".into(),
            load_before: "0.1".into(),
            load_after: "0.2".into(),
            took: Duration::from_secs(3),
            versions: vec![],
        };
        render(&report_tools(), measured, &environment)
    }

    fn report_of_both_workloads() -> String {
        report_of(&[
            report_measured(WorkloadKind::Socketpair),
            report_measured(WorkloadKind::Http),
        ])
    }

    fn rows<'report>(report: &'report str, name: &str) -> Vec<&'report str> {
        report
            .lines()
            .filter(|line| line.starts_with(&format!("| {name} |")))
            .collect()
    }

    #[test]
    fn each_workload_has_a_table_of_costs_paired_with_the_same_repetition() {
        let report = report_of_both_workloads();
        assert!(
            report.contains("| tool | iterations | wall ns/syscall"),
            "{report}"
        );
        assert!(
            report.contains("| tool | requests | wall ns/syscall"),
            "{report}"
        );
        assert_eq!(
            rows(&report, "no tracer"),
            [
                "| no tracer | 10 | 150 | - | - | 75 | - | - | - |",
                "| no tracer | 10 | 150 | - | - | 75 | - | - | - | - | - |",
            ]
        );
        assert_eq!(
            rows(&report, "empty"),
            [
                "| empty | 10 | 190 | 40 (40 to 40) | 1.0 | 95 | 20 (20 to 20) | 1.0 | 100% |",
                "| empty | 10 | 190 | 40 (40 to 40) | 1.0 | 95 | 20 (20 to 20) | 1.0 | 0.2 | 0.1 | 100% |",
            ]
        );
        assert_eq!(
            rows(&report, "heavy")[..2],
            [
                "| heavy | 10 | 310 | 160 (160 to 160) | 4.0 | 155 | 80 (80 to 80) | 4.0 | 95.0% |",
                "| heavy | 10 | 310 | 160 (160 to 160) | 4.0 | 155 | 80 (80 to 80) | 4.0 | 0.8 | 0.4 | 95.0% |",
            ]
        );
        assert!(
            report.contains("Test CPU (2 cores), Linux 6.1.0"),
            "{report}"
        );
    }

    #[test]
    fn tracers_own_cost_is_tabled_for_the_tools_that_measured_it() {
        let report = report_of_both_workloads();
        // Rate from the median 310 ns per syscall; CPU 0.02%, 0.05%, 0.10% of a core.
        assert_eq!(
            rows(&report, "heavy")[2..],
            [
                "| heavy | socketpair | 3225806 | 0.05 (0.10) | 2.0 | 11.0 | 22.0 | 0 | 100 |",
                "| heavy | http | 3225806 | 0.05 (0.10) | 2.0 | 11.0 | 22.0 | 0 | 100 |",
            ]
        );
        let untraced_only = [Measured {
            samples: vec![report_samples([1.0; 3], None, false); 3],
            ..report_measured(WorkloadKind::Socketpair)
        }];
        let report = report_of(&untraced_only);
        assert!(!report.contains("tracer's own cost"), "{report}");
    }

    #[test]
    fn tracers_part_for_untargeted_processes_is_the_untargeted_row_minus_the_floor() {
        let tools = [
            Tool::for_test("no tracer"),
            Tool::for_test("empty"),
            Tool::for_test(UNTARGETED_ROW),
            Tool::for_test(FLOOR_ROW),
        ];
        let measured = Measured {
            samples: vec![
                report_samples([100.0, 200.0, 150.0], None, false),
                report_samples([140.0, 240.0, 190.0], None, false),
                // Untargeted: 30, 10 and 20 ns above the floor in the three repetitions.
                report_samples([250.0, 330.0, 290.0], None, false),
                report_samples([220.0, 320.0, 270.0], None, false),
            ],
            failures: vec![None; 4],
            ..report_measured(WorkloadKind::Socketpair)
        };
        let report = overhead_table(&tools, &measured);
        assert!(
            report.contains("paired by repetition): 20 (10 to 30) ns per syscall in wall time, 10 (5 to 15) on-CPU."),
            "{report}"
        );
        // Without a floor row there is nothing to subtract.
        let report = overhead_table(
            &tools[..3],
            &Measured {
                samples: measured.samples[..3].to_vec(),
                failures: vec![None; 3],
                ..report_measured(WorkloadKind::Socketpair)
            },
        );
        assert!(!report.contains("paired by repetition"), "{report}");
    }

    #[test]
    fn a_tool_that_failed_on_a_workload_is_named_instead_of_tabled() {
        let mut http = report_measured(WorkloadKind::Http);
        http.failures[2] = Some("fentry is not allowed on this kernel".into());
        let report = report_of(&[report_measured(WorkloadKind::Socketpair), http]);
        let heavy = rows(&report, "heavy");
        assert_eq!(heavy.len(), 2, "{report}");
        assert!(
            heavy
                .iter()
                .all(|row| !row.contains(" http ") && !row.contains("0.8 |"))
        );
        assert!(
            report
                .contains("Not measured:\n\n- heavy (http): fentry is not allowed on this kernel"),
            "{report}"
        );
    }
}
