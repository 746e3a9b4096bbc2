//! Reading the run files (and load-generator results) named on a command line.
use std::path::PathBuf;

use crate::{
    compare::Input,
    error::{ErrorKind, user},
    run::Run,
};

/// Reads the runs, each with the `--load` result at its position if any.
pub fn read_inputs(runs: &[PathBuf], loads: &[PathBuf]) -> anyhow::Result<Vec<Input>> {
    if !loads.is_empty() && loads.len() != runs.len() {
        return Err(user(
            ErrorKind::Usage,
            format!(
                "{} --load files for {} run files: give one load-generator result per run file, in the same order",
                loads.len(),
                runs.len()
            ),
        ));
    }
    let mut inputs = Vec::with_capacity(runs.len());
    for (index, path) in runs.iter().enumerate() {
        let mut run = Run::read(path)?;
        if let Some(load) = loads.get(index) {
            run.load = Some(crate::load::import(load)?);
        }
        inputs.push(Input {
            file: path.display().to_string(),
            run,
        });
    }
    Ok(inputs)
}
