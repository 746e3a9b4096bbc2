//! Assembling the [`Comparison`]: per group its runs' facts ([`RunInfo`]), per scope a
//! [`Section`] (the metric table, one table per syscall, size and latency histograms), the load
//! table, the notes and the verdict. It joins grouping, aggregation and metrics; none of the
//! arithmetic is its own.
use super::{
    aggregate::{Aggregate, Scope, aggregate, scopes},
    analyze::{Input, Options},
    grouping::{build_table, run_label},
    metrics::{
        Denominators, LOAD_SPECS, SECTION_SPECS, SYSCALL_SPECS, Values, fill_coalescing,
        load_values, section_values, syscall_values,
    },
    model::{
        Change, Comparison, Group, IntervalPoint, KIND, MIN_CALLS, Role, RunContext, RunInfo,
        SCHEMA, Section, SyscallTable, Table, Withheld,
    },
};
use crate::{hist::Histogram, run::Direction};

pub(super) fn build(grouped: &[(String, Vec<&Input>)], options: &Options) -> Comparison {
    let mut notes = Vec::new();
    let groups: Vec<Group> = grouped
        .iter()
        .map(|(label, runs)| Group {
            label: label.clone(),
            runs: runs.iter().map(|i| run_info(i, options)).collect(),
        })
        .collect();
    let denominators: Vec<Vec<Denominators>> = groups
        .iter()
        .map(|g| {
            g.runs
                .iter()
                .map(|r| Denominators {
                    seconds: r.duration_ns as f64 / 1e9,
                    requests: r.requests,
                })
                .collect()
        })
        .collect();

    let scopes = scopes(grouped);
    let mut sections: Vec<Section> = scopes
        .iter()
        .map(|scope| section(scope, grouped, &denominators))
        .collect();
    assign_roles(&mut sections, grouped, options);
    if sections.len() > 1 {
        sections.push(section(&Scope::All, grouped, &denominators));
    }

    let load_per_group: Vec<Vec<Values>> = grouped
        .iter()
        .map(|(_, runs)| runs.iter().map(|i| load_values(&i.run)).collect())
        .collect();
    let load = load_per_group
        .iter()
        .flatten()
        .any(|v| !v.is_empty())
        .then(|| build_table(LOAD_SPECS, &load_per_group));

    for (group, runs) in groups.iter().zip(grouped.iter().map(|(_, runs)| runs)) {
        for (info, input) in group.runs.iter().zip(runs) {
            if !input.run.losses.is_complete() {
                notes.push(format!(
                    "{} ({}) is incomplete: the kernel could not record everything ({:?}); its counts are lower bounds",
                    info.label, info.file, input.run.losses
                ));
            }
            if let Some(counted) = &input.run.probe.syscalls {
                notes.push(format!(
                    "{} counted only {} (record --syscalls): other syscalls are missing from it, not zero",
                    info.label,
                    counted.join(", ")
                ));
            }
            if info.requests.is_none() {
                notes.push(format!(
                    "{} has no request count (no load-generator result and no --requests): per-request values are left out",
                    info.label
                ));
            }
        }
    }
    if let Some(first) = sections.first() {
        for (index, group) in groups.iter().enumerate() {
            if !first.present(index) {
                notes.push(format!("{} was not traced in {}", first.name, group.label));
            }
        }
    }
    notes.push(
        "socket reads and writes are told apart from file, pipe and eventfd ones by the kernel, from each fd's inode at the time of the call \
         (in runs recorded before schema 2, which know an fd's kind only as it was last seen, read() calls on an fd number that also saw recv*() are left out of socket reads as most likely a file's); waiting is the time a call spent switched out \
         (for data, a lock or a CPU), on-CPU the rest"
            .to_owned(),
    );
    notes.push(
        "syscall latency percentiles are histogram bucket midpoints, within the stated relative error; payload sizes below 256 B are exact"
            .to_owned(),
    );
    if groups.len() > 1 {
        notes.push(format!(
        "a change resting on fewer than {MIN_CALLS} calls on either side reads \"too few calls\", and a process that made fewer than {MIN_CALLS} I/O syscalls in a run is \"idle\" there: neither is coloured or used in the verdict"
        ));
    }

    let mut comparison = Comparison {
        kind: KIND,
        schema: SCHEMA,
        tool: format!("tracer {}", env!("CARGO_PKG_VERSION")),
        groups,
        load,
        sections,
        verdict: Vec::new(),
        focus: options.focus.clone(),
        min_calls: MIN_CALLS,
        notes,
    };
    comparison.verdict = super::verdict::sentences(&comparison);
    comparison
}

fn run_info(input: &Input, options: &Options) -> RunInfo {
    let run = &input.run;
    let (requests, requests_from) = match (options.requests, &run.load) {
        (Some(n), _) => (Some(n), Some("--requests".to_owned())),
        (None, Some(load)) if load.requests > 0 => (Some(load.requests), Some(load.tool.clone())),
        _ => (None, None),
    };
    let mut previous_end_ns = 0;
    let intervals = run
        .intervals
        .iter()
        .map(|interval| {
            let start_ns = previous_end_ns;
            // Each interval's true length, the last (partial) one's too: recorded since
            // schema 2, the difference of consecutive ends before.
            let length_ns = if interval.duration_ns > 0 {
                interval.duration_ns
            } else {
                interval.end_ns.saturating_sub(start_ns)
            };
            let seconds = length_ns as f64 / 1e9;
            previous_end_ns = interval.end_ns;
            let calls = interval.read_calls.saturating_add(interval.write_calls) as f64;
            IntervalPoint {
                start_s: start_ns as f64 / 1e9,
                end_s: interval.end_ns as f64 / 1e9,
                syscalls_per_s: if seconds > 0.0 { calls / seconds } else { 0.0 },
                cores: interval.cores,
                // Schema 2 takes each exiting thread's CPU from the kernel as it exits;
                // before, CPU after a process's last sample was missing.
                exits: run.schema < 2
                    && run.processes.iter().any(|p| {
                        p.exited_after_ns
                            .is_some_and(|at| at > start_ns && at <= interval.end_ns)
                    }),
            }
        })
        .collect();
    let context = RunContext {
        started_at: run.started_at.clone(),
        hostname: run.host.hostname.clone(),
        kernel: run.host.kernel.clone(),
        arch: run.host.arch.clone(),
        cpus: run.host.cpus,
        recorded_by: format!("{} {}", run.tool.name, run.tool.version),
        probe_ns_per_run: run.probe.overhead.as_ref().map(|o| o.ns_per_run),
        targets: run
            .targets
            .iter()
            .map(|t| {
                if t.spec.ends_with(&t.name) {
                    t.spec.clone()
                } else {
                    format!("{} = {}", t.name, t.spec)
                }
            })
            .collect(),
        label: run.label.clone(),
        end_reason: serde_json::to_value(run.end_reason)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
    };
    RunInfo {
        label: run_label(input),
        file: input.file.clone(),
        duration_ns: run.duration_ns,
        requests,
        requests_from,
        mechanism: run.probe.mechanism.clone(),
        load: run.load.clone(),
        intervals,
        context,
    }
}

/// Names of load generators and clients, for finding the headline's process without
/// `--focus` when no target is a traced command.
const CLIENT_NAMES: &[&str] = &[
    "client", "oha", "fortio", "wrk", "wrk2", "hey", "k6", "vegeta", "ab", "curl", "ghz", "h2load",
    "siege", "locust",
];

/// Words that make a process a proxy (the mesh's cost) even when the baseline traced it too.
const PROXY_WORDS: &[&str] = &[
    "proxy", "envoy", "ztunnel", "haproxy", "sidecar", "waypoint",
];

/// Whether `focus` names this section: its process or target name, or a target spec
/// (`pod:ns/name`, `pid:1234`) or the part after the spec's kind.
pub(super) fn focus_matches(section: &Section, specs: &[String], focus: &str) -> bool {
    let focus = focus.trim();
    section.process.as_deref() == Some(focus)
        || section.target.as_deref() == Some(focus)
        || section.name == focus
        || specs.iter().any(|spec| {
            spec == focus || spec.split_once(':').is_some_and(|(_, rest)| rest == focus)
        })
}

/// Target specs by target name, over every run.
fn specs_of(grouped: &[(String, Vec<&Input>)], target: Option<&str>) -> Vec<String> {
    let mut specs: Vec<String> = grouped
        .iter()
        .flat_map(|(_, runs)| runs)
        .flat_map(|input| &input.run.targets)
        .filter(|t| Some(t.name.as_str()) == target)
        .map(|t| t.spec.clone())
        .collect();
    specs.sort();
    specs.dedup();
    specs
}

/// Names each process's role: the client (the traced command, else the load generator by
/// name, else the busiest common process), proxies (what only the other side has, or named
/// like one) and servers; then moves the headline's process first (the `--focus` one, else
/// the client).
fn assign_roles(sections: &mut [Section], grouped: &[(String, Vec<&Input>)], options: &Options) {
    let groups = grouped.len();
    let everywhere = |s: &Section| (0..groups).all(|g| s.present(g));
    let load_tools: Vec<String> = grouped
        .iter()
        .flat_map(|(_, runs)| runs)
        .filter_map(|input| input.run.load.as_ref().map(|l| l.tool.to_lowercase()))
        .collect();
    let named_client = |s: &Section| {
        [s.process.as_deref(), s.target.as_deref()]
            .into_iter()
            .flatten()
            .map(str::to_lowercase)
            .any(|name| {
                CLIENT_NAMES.contains(&name.as_str())
                    || name.contains("client")
                    || load_tools.contains(&name)
            })
    };
    let command = |s: &Section| {
        specs_of(grouped, s.target.as_deref())
            .iter()
            .any(|spec| spec.starts_with("command:"))
    };
    let client = sections
        .iter()
        .position(|s| everywhere(s) && command(s) && named_client(s))
        .or_else(|| sections.iter().position(|s| everywhere(s) && command(s)))
        .or_else(|| {
            sections
                .iter()
                .position(|s| everywhere(s) && named_client(s))
        })
        .or_else(|| sections.iter().position(everywhere));
    for (index, section) in sections.iter_mut().enumerate() {
        let name = section.name.to_lowercase();
        section.role = Some(if Some(index) == client {
            Role::Client
        } else if !section.present(0) || PROXY_WORDS.iter().any(|w| name.contains(w)) {
            Role::Proxy
        } else {
            Role::Server
        });
    }
    // The headline's process first: the one `--focus` names, else the client.
    let headline = match options.focus.as_deref() {
        Some(focus) => sections
            .iter()
            .position(|s| focus_matches(s, &specs_of(grouped, s.target.as_deref()), focus)),
        None => client,
    };
    if let Some(index) = headline {
        sections[..=index].rotate_right(1);
    }
}

/// Whether `--focus` names one of the processes of `comparison` (compared from `grouped`).
pub(super) fn focus_found(
    comparison: &Comparison,
    grouped: &[(String, Vec<&Input>)],
    focus: &str,
) -> bool {
    comparison
        .sections
        .iter()
        .filter(|s| s.role.is_some())
        .any(|s| focus_matches(s, &specs_of(grouped, s.target.as_deref()), focus))
}

/// Withholds every change of a group in which the process was idle (or against an idle
/// baseline): a ratio of a handful of calls says nothing.
fn withhold_idle(table: &mut Table, idle: &[bool]) {
    let base_idle = idle.first().copied().unwrap_or(false);
    for row in &mut table.rows {
        for (group, change) in row.changes.iter_mut().enumerate() {
            if change.is_some() && (base_idle || idle.get(group).copied().unwrap_or(false)) {
                *change = Some(Change::withheld(Withheld::Idle));
            }
        }
    }
}

/// Each group's runs' aggregates (`None` where the scope has no process in the run).
type Aggregates = [Vec<Option<Aggregate>>];

/// One table per syscall made in any run, read-like first.
fn syscall_tables(
    aggregates: &Aggregates,
    denominators: &[Vec<Denominators>],
) -> Vec<SyscallTable> {
    let mut names: Vec<(Direction, String)> = aggregates
        .iter()
        .flatten()
        .flatten()
        .flat_map(|a| {
            a.syscalls
                .values()
                .map(|s| (s.direction, s.syscall.clone()))
        })
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|(direction, name)| {
            let mut max_relative_error: f64 = 0.0;
            let values = per_run_values(aggregates, denominators, |a, d| {
                let stats = a.syscalls.get(&name)?;
                max_relative_error = max_relative_error.max(stats.latency.max_relative_error);
                Some(syscall_values(stats, d))
            });
            SyscallTable {
                syscall: name,
                direction,
                latency_max_relative_error: max_relative_error,
                table: build_table(SYSCALL_SPECS, &values),
            }
        })
        .collect()
}

/// Per group, the values `of` makes of each run's aggregate and denominators; runs without an
/// aggregate, or of which `of` makes nothing, are left out.
fn per_run_values(
    aggregates: &Aggregates,
    denominators: &[Vec<Denominators>],
    mut of: impl FnMut(&Aggregate, &Denominators) -> Option<Values>,
) -> Vec<Vec<Values>> {
    aggregates
        .iter()
        .zip(denominators)
        .map(|(runs, ds)| {
            runs.iter()
                .zip(ds)
                .filter_map(|(a, d)| of(a.as_ref()?, d))
                .collect()
        })
        .collect()
}

fn section(
    scope: &Scope,
    grouped: &[(String, Vec<&Input>)],
    denominators: &[Vec<Denominators>],
) -> Section {
    let aggregates: Vec<Vec<Option<Aggregate>>> = grouped
        .iter()
        .map(|(_, runs)| {
            runs.iter()
                .map(|input| aggregate(&input.run, scope))
                .collect()
        })
        .collect();

    let values = per_run_values(&aggregates, denominators, |a, d| Some(section_values(a, d)));
    // Traced, but fewer than MIN_CALLS I/O syscalls in every run of the group.
    let idle: Vec<bool> = aggregates
        .iter()
        .map(|runs| {
            let calls: Vec<u64> = runs
                .iter()
                .flatten()
                .map(|a| {
                    a.syscalls
                        .values()
                        .fold(0u64, |sum, s| sum.saturating_add(s.calls))
                })
                .collect();
            *scope != Scope::All && !calls.is_empty() && calls.iter().all(|c| *c < MIN_CALLS)
        })
        .collect();
    let mut table = build_table(SECTION_SPECS, &values);
    withhold_idle(&mut table, &idle);
    fill_coalescing(&mut table);

    let mut syscalls = syscall_tables(&aggregates, denominators);
    for syscall in &mut syscalls {
        withhold_idle(&mut syscall.table, &idle);
    }

    let histogram = |direction: Direction, latency: bool| -> Vec<Histogram> {
        aggregates
            .iter()
            .map(|runs| {
                runs.iter()
                    .flatten()
                    .flat_map(|a| a.syscalls.values())
                    .filter(|s| s.direction == direction)
                    .fold(Histogram::default(), |sum, s| {
                        sum.merged(if latency { &s.latency } else { &s.size })
                    })
            })
            .collect()
    };

    let (name, target, process) = match scope {
        Scope::Process {
            target, process, ..
        } => {
            let name = if target == process {
                process.clone()
            } else {
                format!("{process} (target {target})")
            };
            (name, Some(target.clone()), Some(process.clone()))
        }
        Scope::All => ("all traced processes".to_owned(), None, None),
    };
    Section {
        name,
        target,
        process,
        role: None,
        idle,
        pids: aggregates
            .iter()
            .map(|runs| {
                let mut pids: Vec<u32> = runs
                    .iter()
                    .flatten()
                    .flat_map(|a| a.pids.iter().copied())
                    .collect();
                pids.sort_unstable();
                pids.dedup();
                pids
            })
            .collect(),
        table,
        syscalls,
        read_sizes: histogram(Direction::Read, false),
        write_sizes: histogram(Direction::Write, false),
        read_latency: histogram(Direction::Read, true),
        write_latency: histogram(Direction::Write, true),
    }
}

#[cfg(test)]
mod tests {
    use crate::compare::{
        Options, compare,
        sample::{self, input},
    };

    #[test]
    fn verdict_states_syscalls_bytes_cpu_and_latency_in_words() {
        let mut direct = sample::direct("no-mesh", 1000, 400_000_000);
        direct.load = Some(sample::load(1000, 0.89, 0.85));
        let mut proxy = sample::proxied("ambient", 1000, 300_000_000);
        proxy.load = Some(sample::load(1000, 0.80, 0.81));
        let comparison = compare(&[input(direct), input(proxy)], &Options::default()).unwrap();
        assert_eq!(
            comparison.verdict[0],
            "ambient vs no-mesh, client: 33% fewer I/O syscalls per request (3.0 → 2.0); reads carry 2.0× more bytes \
             (179 → 358 B); CPU per request −25%; request latency 11% faster on average and 5% faster on P90."
        );
        assert_eq!(
            comparison.verdict[1],
            "ambient vs no-mesh, proxies (the mesh's cost): haproxy 5.0 I/O syscalls and 150 µs CPU per request."
        );
        assert_eq!(
            comparison.verdict[2],
            "ambient vs no-mesh, all traced processes: 133% more I/O syscalls per request (3.0 → 7.0); reads carry \
             1.6× more bytes (179 → 278 B); CPU per request +12%."
        );
    }

    /// A run narrowed with `record --syscalls` says so: its missing syscalls are not zeros.
    #[test]
    fn a_narrowed_run_is_noted() {
        let direct = sample::direct("no-mesh", 1000, 400_000_000);
        let mut proxy = sample::proxied("ambient", 1000, 300_000_000);
        proxy.probe.syscalls = Some(vec!["read".into(), "write".into()]);
        let comparison = compare(&[input(direct), input(proxy)], &Options::default()).unwrap();
        let narrowed: Vec<&String> = comparison
            .notes
            .iter()
            .filter(|n| n.contains("record --syscalls"))
            .collect();
        assert_eq!(
            narrowed,
            [
                "ambient counted only read, write (record --syscalls): other syscalls are missing from it, not zero"
            ]
        );
    }
}
