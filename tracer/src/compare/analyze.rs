//! Runs -> [`Comparison`], the entry points: [`compare`] (two or more runs, the first the
//! baseline) and [`summarize`] (one run), their [`Input`] and [`Options`], and why runs cannot
//! be compared ([`CompareError`]). The work is in the sibling modules: `grouping` (runs into
//! groups, mean and spread), `aggregate` (a section's processes summed), `metrics` (the rows
//! and their values) and `build` (the `Comparison` assembled). Pure: no I/O.
use super::{
    build::build,
    grouping::{check_common_target, group, run_label},
    model::Comparison,
};
pub use super::{
    grouping::group_name,
    metrics::{bytes_per_call, has_latency},
};
use crate::run::Run;

/// A run and the file it came from.
#[derive(Clone, Debug)]
pub struct Input {
    pub file: String,
    pub run: Run,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Put runs whose labels differ only by a run number ("ambient run 2") in one group.
    pub group_by_label: bool,
    /// Requests per run, overriding the load generator's count.
    pub requests: Option<u64>,
    /// The process the headline speaks about (process, target or pod name, or target spec),
    /// instead of the traced command or load generator.
    pub focus: Option<String>,
}

/// Why runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// Fewer than two runs.
    #[error(
        "compare needs at least two run files (a baseline and another); for one run use `tracer report RUN.json`"
    )]
    NotEnoughRuns,
    /// `--group` put every run in the same group.
    #[error(
        "all runs have the label \"{label}\", so --group makes a single group: give the other setup's runs another `--label` when recording, or drop --group"
    )]
    OneGroup { label: String },
    /// `--focus` named no traced process.
    #[error("--focus {focus}: no traced process, target or pod has that name (traced: {listing})")]
    FocusNotFound { focus: String, listing: String },
    /// The groups traced different programs.
    #[error(
        "the runs have no common target ({listing}): record the same program in every run so its numbers can be compared"
    )]
    NoCommonTarget { listing: String },
}

/// Compares two or more runs; the first run's group is the baseline.
pub fn compare(inputs: &[Input], options: &Options) -> Result<Comparison, CompareError> {
    if inputs.len() < 2 {
        return Err(CompareError::NotEnoughRuns);
    }
    let grouped = group(inputs, options.group_by_label);
    if grouped.len() < 2 {
        return Err(CompareError::OneGroup {
            label: grouped[0].0.clone(),
        });
    }
    check_common_target(&grouped)?;
    let comparison = build(&grouped, options);
    if let Some(focus) = &options.focus
        && !super::build::focus_found(&comparison, &grouped, focus)
    {
        let mut listing: Vec<String> = comparison
            .sections
            .iter()
            .filter(|s| s.target.is_some())
            .map(|s| s.name.clone())
            .collect();
        listing.dedup();
        return Err(CompareError::FocusNotFound {
            focus: focus.clone(),
            listing: listing.join(", "),
        });
    }
    Ok(comparison)
}

/// One run shown on its own (`tracer report`): the same tables with a single column.
#[must_use]
pub fn summarize(input: &Input, options: &Options) -> Comparison {
    let mut report = build(&[(run_label(input), vec![input])], options);
    report.kind = super::model::REPORT_KIND;
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::sample::{self, input};

    #[test]
    fn runs_that_cannot_be_compared_are_refused_with_a_reason() {
        let one = [input(sample::direct("a", 10, 1))];
        assert!(matches!(
            compare(&one, &Options::default()),
            Err(CompareError::NotEnoughRuns)
        ));

        let same = [
            input(sample::direct("a run 1", 10, 1)),
            input(sample::direct("a run 2", 10, 1)),
        ];
        let error = compare(
            &same,
            &Options {
                group_by_label: true,
                requests: None,
                focus: None,
            },
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("all runs have the label \"a\""),
            "{error}"
        );

        let mut other = sample::direct("b", 10, 1);
        other.targets[0].name = "curl".into();
        let error = compare(
            &[input(sample::direct("a", 10, 1)), input(other)],
            &Options::default(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the runs have no common target (a traced client; b traced curl): record the same program in every run so its numbers can be compared"
        );
    }

    #[test]
    fn a_single_run_is_summarized_without_change_columns() {
        let summary = summarize(
            &input(sample::proxied("proxy", 100, 1_000_000)),
            &Options::default(),
        );
        assert_eq!(summary.groups.len(), 1);
        assert!(summary.verdict.is_empty());
        let client = &summary.sections[0];
        assert!(
            client
                .table
                .rows
                .iter()
                .all(|r| r.values.len() == 1 && r.changes == [None])
        );
        assert!(client.row("coalescing_factor").is_none());
    }
}
