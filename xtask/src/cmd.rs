//! Running other programs. Every failure names the command line that failed, so a red CI log
//! says which step broke without scrolling back through the tool's own output.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// The command line as a person would type it (program and arguments, space separated).
pub fn display(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for argument in command.get_args() {
        line.push(' ');
        line.push_str(&argument.to_string_lossy());
    }
    line
}

/// Runs a command with the terminal's stdin/stdout/stderr; fails unless it exits with 0.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let line = display(command);
    let status = command
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs a command and returns its stdout; fails (quoting its stderr) unless it exits with 0.
pub fn output(command: &mut Command) -> anyhow::Result<String> {
    let line = display(command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !output.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// True when the command starts and exits with 0; its output is discarded. Used for
/// "is it already there?" probes, where any failure just means "not yet".
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The full path of a program found on PATH.
pub fn on_path(program: impl AsRef<OsStr>) -> Option<PathBuf> {
    which::which(program).ok()
}

/// The effective user is root: installing packages, mounting tracefs and loading probes need it.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The workspace root (the directory above xtask/), wherever cargo was started from.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new("."))
}

/// A `cargo` command that uses the same cargo as the one running xtask.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    command
}

/// Where cargo puts build output for this workspace (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_program_and_arguments() {
        let mut command = Command::new("apt-get");
        command.args(["install", "-y", "strace"]);
        assert_eq!(display(&command), "apt-get install -y strace");
    }

    #[test]
    fn run_names_the_failed_command() {
        let error = run(&mut Command::new("false")).expect_err("`false` exits with 1");
        assert!(error.to_string().contains("`false` failed"), "{error}");
    }

    #[test]
    fn output_returns_stdout_and_quotes_stderr_on_failure() {
        let text = output(Command::new("echo").arg("hello")).expect("echo runs");
        assert_eq!(text, "hello\n");
        let error = output(Command::new("sh").args(["-c", "echo broken >&2; exit 3"]))
            .expect_err("exit 3 is a failure");
        assert!(error.to_string().contains("broken"), "{error}");
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("xtask").is_dir());
    }
}
