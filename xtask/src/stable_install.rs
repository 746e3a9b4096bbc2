//! `cargo xtask stable-install`: a user with stable Rust alone can `cargo install --path tracer`.
//! Runs cargo from the stable toolchain's own folder with a PATH that has no rustup (so no
//! `+nightly`), no bpf-linker and none of ~/.cargo/bin, and an environment emptied of
//! everything else; the installed tracer must print its version and record `/bin/true`
//! exactly as strace sees it (so the committed probes it embeds load and count).
//!
//! `--debug` and the workspace's target folder keep it cheap: the dependencies `cargo test`
//! already compiled are reused where their features match.
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, anyhow, ensure};

use crate::cmd;

/// A PATH without ~/.cargo/bin: Debian's folders only.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn run() -> anyhow::Result<()> {
    let bin = stable_bin()?;
    let path = format!("{}:{SYSTEM_PATH}", bin.display());
    for hidden in ["bpf-linker", "rustup"] {
        ensure!(
            which::which_in(hidden, Some(&path), "/").is_err(),
            "{hidden} is still on the stable-only PATH {path}"
        );
    }
    let version = cmd::output(Command::new(bin.join("rustc")).arg("-vV"))?;
    ensure!(
        !version.contains("nightly") && !version.contains("beta"),
        "{} is not a stable rustc:\n{version}",
        bin.display()
    );
    let root = cmd::target_dir().join("stable-install");
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    let mut install = Command::new(bin.join("cargo"));
    install
        .current_dir(cmd::workspace_root())
        .env_clear()
        .env("PATH", &path)
        .args([
            "install", "--locked", "--debug", "--path", "tracer", "--root",
        ])
        .arg(&root)
        .arg("--target-dir")
        .arg(cmd::target_dir());
    for kept in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "TERM"] {
        if let Some(value) = std::env::var_os(kept) {
            install.env(kept, value);
        }
    }
    let started = std::time::Instant::now();
    cmd::run(&mut install).context("cargo install --path tracer failed with stable Rust alone")?;
    println!(
        "stable-install: installed with {} in {:.0} s",
        version.lines().next().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    let tracer = root.join("bin/tracer");
    let printed = cmd::output(Command::new(&tracer).arg("--version"))?;
    ensure!(
        printed == format!("tracer {}\n", env!("CARGO_PKG_VERSION")),
        "the installed tracer printed {printed:?}"
    );
    crate::dist::record_true_exactly(&tracer, &root)?;
    println!("stable-install: the installed tracer records /bin/true exactly");
    fs::remove_dir_all(&root)?;
    Ok(())
}

/// The folder of the stable toolchain's own cargo and rustc: the one running xtask (cargo
/// tells its path in `CARGO`), else rustup's `stable`.
fn stable_bin() -> anyhow::Result<PathBuf> {
    let cargo = if let Some(cargo) = std::env::var_os("CARGO") {
        PathBuf::from(cargo)
    } else {
        let sysroot = cmd::output(Command::new("rustc").args(["+stable", "--print", "sysroot"]))?;
        Path::new(sysroot.trim()).join("bin/cargo")
    };
    cargo
        .parent()
        .filter(|bin| bin.join("rustc").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("{} is not in a toolchain's bin folder", cargo.display()))
}
