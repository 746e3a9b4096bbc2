//! Runs into groups: the label a run is shown under, the group a label belongs to with
//! `--group` (the label without its run number), the check that the groups traced a common
//! program, and a table's rows as each group's mean and spread with its change against the
//! baseline group. Kept apart from the metrics so that what a row means and how runs are
//! pooled into it can be read separately.
use super::{
    analyze::{CompareError, Input},
    metrics::{SYSCALL_SPECS, Spec, Values},
    model::{Change, MIN_CALLS, Row, Stat, Table, Withheld},
};

/// The group a run label belongs to with `--group`: the label without a trailing run number
/// (`ambient run 2`, `ambient-2`, `ambient #2` -> `ambient`).
#[must_use]
pub fn group_name(label: &str) -> String {
    let trimmed = label.trim_end();
    let without_digits = trimmed.trim_end_matches(|c: char| c.is_ascii_digit());
    if without_digits.len() == trimmed.len() || without_digits.is_empty() {
        return trimmed.to_owned();
    }
    let mut rest = without_digits.trim_end_matches([' ', '_', '-', '#']);
    for word in ["run", "Run", "RUN"] {
        if let Some(stripped) = rest.strip_suffix(word) {
            rest = stripped.trim_end_matches([' ', '_', '-']);
            break;
        }
    }
    // Only strip when the number was separated from the name: "http2" stays "http2".
    if rest.len() == without_digits.len() || rest.is_empty() {
        trimmed.to_owned()
    } else {
        rest.to_owned()
    }
}

/// The label shown for a run: its `--label`, else the file name without `.json`.
pub(super) fn run_label(input: &Input) -> String {
    input
        .run
        .label
        .clone()
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(|| {
            let name = std::path::Path::new(&input.file)
                .file_name()
                .map_or_else(|| input.file.clone(), |n| n.to_string_lossy().into_owned());
            name.strip_suffix(".json")
                .map(str::to_owned)
                .unwrap_or(name)
        })
}

type Grouped<'a> = Vec<(String, Vec<&'a Input>)>;

pub(super) fn group(inputs: &[Input], by_label: bool) -> Grouped<'_> {
    let mut groups: Grouped<'_> = Vec::new();
    for input in inputs {
        let label = run_label(input);
        if !by_label {
            // Two runs recorded with the same --label still need telling apart.
            let label = if groups.iter().any(|(existing, _)| *existing == label) {
                format!("{label} ({})", input.file)
            } else {
                label
            };
            groups.push((label, vec![input]));
            continue;
        }
        let name = group_name(&label);
        match groups.iter_mut().find(|(existing, _)| *existing == name) {
            Some((_, runs)) => runs.push(input),
            None => groups.push((name, vec![input])),
        }
    }
    groups
}

fn target_names(runs: &[&Input]) -> Vec<String> {
    let mut names: Vec<String> = runs
        .iter()
        .flat_map(|input| input.run.targets.iter().map(|t| t.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

pub(super) fn check_common_target(grouped: &Grouped<'_>) -> Result<(), CompareError> {
    let per_group: Vec<Vec<String>> = grouped.iter().map(|(_, runs)| target_names(runs)).collect();
    let common = per_group[0]
        .iter()
        .any(|name| per_group.iter().all(|names| names.contains(name)));
    if common {
        return Ok(());
    }
    let listing = grouped
        .iter()
        .zip(&per_group)
        .map(|((label, _), names)| {
            let names = if names.is_empty() {
                "nothing".to_owned()
            } else {
                names.join(", ")
            };
            format!("{label} traced {names}")
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(CompareError::NoCommonTarget { listing })
}

/// Builds rows from per-group, per-run values: mean and spread per group, change against
/// group 0 (withheld as "too few calls" when the row's value rests on fewer than
/// [`MIN_CALLS`] calls, summed over a group's runs, on either side).
pub(super) fn build_table(specs: &[Spec], per_group: &[Vec<Values>]) -> Table {
    let rows = specs
        .iter()
        .map(|spec| {
            let values: Vec<Option<Stat>> = per_group
                .iter()
                .map(|runs| {
                    let found: Vec<f64> = runs.iter().filter_map(|v| v.get(spec.metric).copied()).collect();
                    Stat::of(&found)
                })
                .collect();
            let mut changes = changes(&values);
            if let Some(basis) = spec.basis {
                let calls: Vec<f64> = per_group
                    .iter()
                    .map(|runs| runs.iter().filter_map(|v| v.get(basis)).sum())
                    .collect();
                let few = |group: usize| calls.get(group).is_none_or(|c| *c < MIN_CALLS as f64);
                for (group, change) in changes.iter_mut().enumerate() {
                    if change.is_some() && (few(0) || few(group)) {
                        *change = Some(Change::withheld(Withheld::TooFewCalls));
                    }
                }
            }
            Row {
                metric: spec.metric.to_owned(),
                label: spec.label.to_owned(),
                unit: spec.unit,
                better: spec.better,
                changes,
                values,
            }
        })
        .filter(|row| row.values.iter().any(Option::is_some) || row.metric == "coalescing_factor")
        // Error rows of a syscall that never failed say nothing.
        .filter(|row| {
            !matches!(row.metric.as_str(), "eagain" | "errors" if specs.len() == SYSCALL_SPECS.len())
                || row.values.iter().flatten().any(|s| s.max > 0.0)
        })
        .collect();
    Table { rows }
}

fn changes(values: &[Option<Stat>]) -> Vec<Option<Change>> {
    values
        .iter()
        .enumerate()
        .map(
            |(index, value)| match (index, values.first().copied().flatten(), value) {
                (0, ..) | (_, None, _) | (_, _, None) => None,
                (_, Some(base), Some(other)) => Some(Change::between(&base, other)),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{
        Options, compare,
        model::Better,
        sample::{self, input},
    };

    #[test]
    fn groups_show_mean_and_spread_and_call_small_differences_noise() {
        let runs: Vec<Input> = [
            ("no-mesh run 1", 400),
            ("no-mesh run 2", 410),
            ("no-mesh run 3", 390),
        ]
        .iter()
        .map(|&(label, cpu_ms)| input(sample::direct(label, 1000, cpu_ms * 1_000_000)))
        .chain(
            [
                ("ambient run 1", 395),
                ("ambient run 2", 300),
                ("ambient run 3", 405),
            ]
            .iter()
            .map(|&(label, cpu_ms)| input(sample::direct(label, 1000, cpu_ms * 1_000_000))),
        )
        .collect();
        let comparison = compare(
            &runs,
            &Options {
                group_by_label: true,
                requests: Some(1000),
                focus: None,
            },
        )
        .unwrap();
        assert_eq!(
            comparison
                .groups
                .iter()
                .map(|g| (g.label.as_str(), g.runs.len()))
                .collect::<Vec<_>>(),
            [("no-mesh", 3), ("ambient", 3)]
        );
        let row = comparison.sections[0].row("cpu_us_per_request").unwrap();
        let base = row.values[0].unwrap();
        assert_eq!(
            (base.mean, base.min, base.max, base.runs),
            (400.0, 390.0, 410.0, 3)
        );
        // Ambient mean 366.7 is 33 below, inside ambient's 105 µs run-to-run range.
        assert_eq!(row.changes[1].unwrap().within_noise, Some(true));
        assert!(
            comparison.verdict[0].contains("(within run-to-run noise)"),
            "{:?}",
            comparison.verdict
        );
        // Identical I/O: the same, and no noise needed to say so.
        assert_eq!(row.changes[1].unwrap().is_better(Better::Lower), None);
        let io = comparison.sections[0]
            .row("io_calls_per_request")
            .unwrap()
            .changes[1]
            .unwrap();
        assert_eq!(io.percent, Some(0.0));
    }

    #[test]
    fn runs_with_the_same_label_are_told_apart_by_file() {
        let inputs = [
            input(sample::direct("direct", 10, 1)),
            Input {
                file: "second.json".into(),
                run: sample::direct("direct", 10, 1),
            },
        ];
        let comparison = compare(&inputs, &Options::default()).unwrap();
        let labels: Vec<&str> = comparison.groups.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(labels, ["direct", "direct (second.json)"]);
    }

    #[test]
    fn run_numbers_are_stripped_only_when_separated() {
        for (label, group) in [
            ("ambient run 2", "ambient"),
            ("ambient-3", "ambient"),
            ("no mesh #1", "no mesh"),
            ("Run_1", "Run_1"),
            ("http2", "http2"),
            ("no-mesh-run-12", "no-mesh"),
            ("42", "42"),
        ] {
            assert_eq!(group_name(label), group, "{label}");
        }
    }
}
