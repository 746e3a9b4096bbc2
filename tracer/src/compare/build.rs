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
    model::{Comparison, Group, IntervalPoint, KIND, RunInfo, SCHEMA, Section, SyscallTable},
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

    let mut comparison = Comparison {
        kind: KIND,
        schema: SCHEMA,
        tool: format!("tracer {}", env!("CARGO_PKG_VERSION")),
        groups,
        load,
        sections,
        verdict: Vec::new(),
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
            let seconds = interval.end_ns.saturating_sub(previous_end_ns) as f64 / 1e9;
            previous_end_ns = interval.end_ns;
            let calls = (interval.read_calls + interval.write_calls) as f64;
            IntervalPoint {
                end_s: interval.end_ns as f64 / 1e9,
                syscalls_per_s: if seconds > 0.0 { calls / seconds } else { 0.0 },
                cores: interval.cores,
            }
        })
        .collect();
    RunInfo {
        label: run_label(input),
        file: input.file.clone(),
        duration_ns: run.duration_ns,
        requests,
        requests_from,
        mechanism: run.probe.mechanism.clone(),
        load: run.load.clone(),
        intervals,
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
    let mut table = build_table(SECTION_SPECS, &values);
    fill_coalescing(&mut table);

    let syscalls = syscall_tables(&aggregates, denominators);

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
            "ambient vs no-mesh: client: 33% fewer I/O syscalls per request (3.0 → 2.0); reads carry 2.0× more bytes \
             (179 → 358 B); CPU per request −25%; request latency 11% faster on average and 5% faster on P90."
        );
        assert_eq!(
            comparison.verdict[1],
            "ambient vs no-mesh, all traced processes: 133% more I/O syscalls per request (3.0 → 7.0); reads carry \
             1.6× more bytes (179 → 278 B); CPU per request +12%."
        );
    }
}
