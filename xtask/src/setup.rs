//! `cargo xtask setup`: installs everything that building tracer, its tests, the demo and the
//! benchmarks need on a Debian 12 machine, and nothing when it is all there already. Each step
//! checks first, installs only what is missing, and prints one line: `ok` or `installed`.
//!
//! The one subtle step is bpf-linker: it must be built against the nightly rustc's own
//! libLLVM (the bitcode rustc emits for the probes must be readable by the linker's LLVM), so it
//! links to that library through a small prefix directory whose path becomes its rpath.
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use crate::{cmd, toolchain};

/// The bpf-linker release that aya-build 0.2 drives, and whose features name LLVM majors.
const BPF_LINKER_VERSION: &str = "0.13.0";
/// The newest oha release; it declares rust-version 1.88, so it builds on Rust 1.95.
const OHA_VERSION: &str = "1.16.0";
/// Ships the JSON schemas of Kubernetes 1.29 and 1.33 that `cargo xtask test` validates against.
const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";
/// Drives the agent's API from its OpenAPI document in the tests, looking for 5xx answers.
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Validates the agent's checked-in OpenAPI document in the tests.
const OPENAPI_SPEC_VALIDATOR_VERSION: &str = "0.9.0";
/// Its strict OpenMetrics parser checks the agent's /metrics in the tests.
const PROMETHEUS_CLIENT_VERSION: &str = "0.26.0";
/// Runs the fuzz targets in fuzz/ (`cargo xtask fuzz`, and its short run in `test`).
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// `vng`, which boots the kernels of `cargo xtask vmtest` in qemu with the host's root as theirs.
const VIRTME_NG_VERSION: &str = "1.42";

/// Debian packages run by the tests, the demo and the benchmarks.
const DEBIAN_PACKAGES: &[&str] = &[
    "strace",
    "bpftrace",
    "bpftool",
    "libbpf-tools",
    "linux-perf",
    "haproxy",
    "nginx",
    "ruby-webrick",
    "wrk",
    "iproute2",
    // The demo's sidecar and ambient modes redirect pod traffic with iptables REDIRECT.
    "iptables",
    "hyperfine",
    "chromium",
];

/// Debian packages `cargo xtask vmtest` runs on the host: qemu boots the kernels (emulated, TCG);
/// vng puts busybox into its initramfs, runs depmod (kmod) over the unpacked kernel's modules and
/// reads the kernel's version with file.
const VMTEST_DEBIAN_PACKAGES: &[&str] = &["qemu-system-x86", "busybox-static", "kmod", "file"];

/// Debian packages `cargo xtask dist` and its checks run: the shells and man-db that check the
/// completions and man pages, umoci (builds the image without a daemon) and skopeo (inspects
/// it), the aarch64 linker, and qemu-user to run the aarch64 binary.
const DIST_DEBIAN_PACKAGES: &[&str] = &[
    "zsh",
    "fish",
    "man-db",
    "groff-base",
    "umoci",
    "skopeo",
    "gcc-aarch64-linux-gnu",
    "qemu-user",
];

/// The static (musl) targets `cargo xtask dist` builds tracer for.
pub const MUSL_TARGETS: &[&str] = &["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];

/// Where tracefs must be mounted for the `syscalls:*` tracepoints, the last-resort attach mode.
const TRACEFS: &str = "/sys/kernel/tracing";

/// What a step found or did.
enum Outcome {
    /// Everything was there already.
    Present,
    /// Something was installed; the text says what.
    Installed(String),
}

/// Runs every step in order; the first failure stops setup with a message naming the step.
pub fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let nightly = toolchain::ebpf_nightly()?;
    step(&format!("{nightly}, rust-src"), || pinned_nightly(&nightly))?;
    step("musl targets", musl_targets)?;
    step("debian packages", debian_packages)?;
    step(&format!("bpf-linker {BPF_LINKER_VERSION}"), || {
        bpf_linker(&nightly)
    })?;
    step("kubernetes-validate, PyYAML", kubernetes_validate)?;
    step(
        "schemathesis, openapi-spec-validator, prometheus-client",
        agent_api_checkers,
    )?;
    step("kubectl", kubectl)?;
    step(&format!("oha {OHA_VERSION}"), oha)?;
    step(&format!("cargo-fuzz {CARGO_FUZZ_VERSION}"), cargo_fuzz)?;
    step("vmtest: qemu, busybox, kmod", || {
        install_debian_packages(VMTEST_DEBIAN_PACKAGES)
    })?;
    step("dist: shells, umoci, qemu", || {
        install_debian_packages(DIST_DEBIAN_PACKAGES)
    })?;
    step(&format!("vmtest: virtme-ng {VIRTME_NG_VERSION}"), virtme_ng)?;
    step("tracefs", tracefs)?;
    println!("setup: done in {}", seconds(started.elapsed()));
    Ok(())
}

fn step(name: &str, action: impl FnOnce() -> anyhow::Result<Outcome>) -> anyhow::Result<()> {
    let started = Instant::now();
    let outcome = action().with_context(|| format!("setup step `{name}` failed"))?;
    match outcome {
        Outcome::Present => println!("setup: {name:<28} {outcome}"),
        Outcome::Installed(_) => println!(
            "setup: {name:<28} {outcome} in {}",
            seconds(started.elapsed())
        ),
    }
    Ok(())
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// The dated nightly of tracer-ebpf/rust-toolchain.toml, with rust-src (the probes are built
/// with `-Z build-std=core`).
fn pinned_nightly(nightly: &str) -> anyhow::Result<Outcome> {
    let plus = format!("+{nightly}");
    if cmd::succeeds(Command::new("rustc").args([plus.as_str(), "-vV"])) {
        let installed = cmd::output(Command::new("rustup").args([
            "component",
            "list",
            "--toolchain",
            nightly,
            "--installed",
        ]))?;
        if installed.lines().any(|line| line.starts_with("rust-src")) {
            return Ok(Outcome::Present);
        }
    }
    cmd::run(Command::new("rustup").args([
        "toolchain",
        "install",
        nightly,
        "--profile",
        "minimal",
        "--component",
        "rust-src",
    ]))?;
    Ok(Outcome::Installed(format!("{nightly} with rust-src")))
}

/// The standard libraries of the musl targets for the toolchain that runs xtask.
fn musl_targets() -> anyhow::Result<Outcome> {
    let sysroot = cmd::output(Command::new("rustc").args(["--print", "sysroot"]))?;
    let rustlib = Path::new(sysroot.trim()).join("lib/rustlib");
    let missing: Vec<&str> = MUSL_TARGETS
        .iter()
        .copied()
        .filter(|target| !rustlib.join(target).join("lib").is_dir())
        .collect();
    if missing.is_empty() {
        return Ok(Outcome::Present);
    }
    cmd::run(
        Command::new("rustup")
            .args(["target", "add"])
            .args(&missing),
    )?;
    Ok(Outcome::Installed(missing.join(", ")))
}

fn debian_packages() -> anyhow::Result<Outcome> {
    let mut wanted: Vec<&str> = DEBIAN_PACKAGES.to_vec();
    if !cmd::succeeds(Command::new("python3").args(["-m", "pip", "--version"])) {
        wanted.push("python3-pip");
    }
    install_debian_packages(&wanted)
}

/// Installs the packages of `wanted` that are missing (needs root when any is).
fn install_debian_packages(wanted: &[&str]) -> anyhow::Result<Outcome> {
    let missing = missing_debian_packages(wanted)?;
    if missing.is_empty() {
        return Ok(Outcome::Present);
    }
    if !cmd::is_root() {
        bail!(
            "these Debian packages are missing: {}; run `sudo cargo xtask setup` or install them \
             with apt-get",
            missing.join(" ")
        );
    }
    cmd::run(apt_get().args(["update", "-q"]))?;
    cmd::run(
        apt_get()
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )?;
    Ok(Outcome::Installed(missing.join(", ")))
}

fn apt_get() -> Command {
    let mut command = Command::new("apt-get");
    command.env("DEBIAN_FRONTEND", "noninteractive");
    command
}

/// The packages of `wanted` that dpkg does not list as installed.
fn missing_debian_packages<'a>(wanted: &[&'a str]) -> anyhow::Result<Vec<&'a str>> {
    // dpkg-query exits with 1 when some package is unknown to it, but still lists the known ones
    // on stdout, which is all this needs.
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Abbrev}\n"])
        .args(wanted)
        .output()
        .context("could not run dpkg-query; setup expects a Debian-based system")?;
    let listing = String::from_utf8_lossy(&output.stdout);
    Ok(wanted
        .iter()
        .copied()
        .filter(|package| !is_installed(&listing, package))
        .collect())
}

/// Reads `dpkg-query -f '${Package} ${db:Status-Abbrev}'` output: "ii" means installed.
fn is_installed(listing: &str, package: &str) -> bool {
    listing.lines().any(|line| {
        let mut fields = line.split_whitespace();
        fields.next() == Some(package) && fields.next() == Some("ii")
    })
}

fn bpf_linker(nightly: &str) -> anyhow::Result<Outcome> {
    let plus = format!("+{nightly}");
    let sysroot = PathBuf::from(
        cmd::output(Command::new("rustc").args([plus.as_str(), "--print", "sysroot"]))?.trim(),
    );
    let version = cmd::output(Command::new("rustc").args([plus.as_str(), "-vV"]))?;
    let llvm_major = llvm_major(&version)
        .ok_or_else(|| anyhow!("`rustc {plus} -vV` does not name its LLVM version"))?;
    let sysroot_lib = sysroot.join("lib");
    let names = fs::read_dir(&sysroot_lib)
        .with_context(|| format!("could not list {}", sysroot_lib.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect::<Vec<_>>();
    let libllvm_name = pick_libllvm(&names).ok_or_else(|| {
        anyhow!(
            "the nightly toolchain has no libLLVM in {}; reinstall nightly with rustup",
            sysroot_lib.display()
        )
    })?;
    let libllvm = sysroot_lib.join(libllvm_name);

    if bpf_linker_uses(&libllvm) {
        return Ok(Outcome::Present);
    }

    let prefix = llvm_prefix(llvm_major)?;
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)
        .with_context(|| format!("could not create {}", prefix_lib.display()))?;
    // The linker looks for `libLLVM.so`; the loader later looks for the library's own name
    // (its SONAME) in the rpath, so both names must point at the nightly's file.
    for link_name in ["libLLVM.so", libllvm_name] {
        let link = prefix_lib.join(link_name);
        if fs::symlink_metadata(&link).is_ok() {
            fs::remove_file(&link)
                .with_context(|| format!("could not replace {}", link.display()))?;
        }
        std::os::unix::fs::symlink(&libllvm, &link)
            .with_context(|| format!("could not create the symlink {}", link.display()))?;
    }
    cmd::run(
        Command::new("cargo")
            .env("LLVM_PREFIX", &prefix)
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--locked",
            ])
            .args(["--force", "--no-default-features", "--features"])
            .arg(format!("llvm-{llvm_major}")),
    )?;
    if !bpf_linker_uses(&libllvm) {
        bail!(
            "bpf-linker was installed but does not run against {}; check that ~/.cargo/bin \
             is on PATH and comes first",
            libllvm.display()
        );
    }
    Ok(Outcome::Installed(format!(
        "LLVM {llvm_major} from {}",
        prefix.display()
    )))
}

/// The LLVM major version from `rustc -vV` ("LLVM version: 22.1.4" gives 22).
fn llvm_major(rustc_version: &str) -> Option<u32> {
    rustc_version
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version:"))
        .and_then(|version| version.trim().split('.').next()?.parse().ok())
}

/// The nightly's libLLVM among the file names of its sysroot's lib/: the versioned
/// `libLLVM.so.<llvm>-rust-<rust>` (its SONAME) first, `libLLVM-<major>-rust-<rust>.so` if not.
#[expect(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "rustup names the library exactly; these are file names, not user input"
)]
fn pick_libllvm(names: &[String]) -> Option<&str> {
    let versioned = names.iter().find(|name| name.starts_with("libLLVM.so."));
    let dashed = || {
        names
            .iter()
            .find(|name| name.starts_with("libLLVM-") && name.ends_with(".so"))
    };
    versioned.or_else(dashed).map(String::as_str)
}

/// A persistent directory per LLVM major: it is compiled into bpf-linker as its rpath.
fn llvm_prefix(llvm_major: u32) -> anyhow::Result<PathBuf> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")))
        .ok_or_else(|| anyhow!("neither XDG_DATA_HOME nor HOME is set; set HOME"))?;
    Ok(data_home.join("tracer").join(format!("llvm-{llvm_major}")))
}

/// bpf-linker on PATH is the pinned version, starts, and loads exactly `libllvm`.
fn bpf_linker_uses(libllvm: &Path) -> bool {
    let Some(path) = cmd::on_path("bpf-linker") else {
        return false;
    };
    let Ok(version) = cmd::output(Command::new(&path).arg("--version")) else {
        return false;
    };
    if !version.contains(BPF_LINKER_VERSION) {
        return false;
    }
    let Ok(libraries) = cmd::output(Command::new("ldd").arg(&path)) else {
        return false;
    };
    match loaded_libllvm(&libraries) {
        // A statically linked bpf-linker carries its own LLVM; it runs, so accept it.
        LoadedLlvm::Static => true,
        LoadedLlvm::NotFound => false,
        // The pinned nightly's library, or a byte-identical one (the undated `nightly` of the
        // same day, which a bpf-linker built before the pin loads).
        LoadedLlvm::At(loaded) => same_file(&loaded, libllvm) || same_contents(&loaded, libllvm),
    }
}

fn same_contents(a: &Path, b: &Path) -> bool {
    let size = |path: &Path| fs::metadata(path).map(|metadata| metadata.len()).ok();
    size(a).is_some()
        && size(a) == size(b)
        && matches!((fs::read(a), fs::read(b)), (Ok(a), Ok(b)) if a == b)
}

/// Which libLLVM `ldd` says a binary loads.
#[derive(Debug, PartialEq, Eq)]
enum LoadedLlvm {
    /// No libLLVM among its shared libraries.
    Static,
    /// It needs one that the loader cannot find (its rpath dangles).
    NotFound,
    /// The file the loader resolved it to.
    At(PathBuf),
}

fn loaded_libllvm(ldd_output: &str) -> LoadedLlvm {
    let Some(line) = ldd_output
        .lines()
        .find(|line| line.trim_start().starts_with("libLLVM"))
    else {
        return LoadedLlvm::Static;
    };
    match line
        .split("=>")
        .nth(1)
        .map(str::trim)
        .filter(|resolved| !resolved.starts_with("not found"))
        .and_then(|resolved| resolved.split_whitespace().next())
    {
        Some(path) => LoadedLlvm::At(PathBuf::from(path)),
        None => LoadedLlvm::NotFound,
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// kubernetes-validate, and `PyYAML` for `deploy/validate.sh`'s own checks.
fn kubernetes_validate() -> anyhow::Result<Outcome> {
    let validator_runs = || cmd::succeeds(kubernetes_validate_command().arg("--version"));
    let yaml_imports = || cmd::succeeds(Command::new("python3").args(["-c", "import yaml"]));
    let mut missing = Vec::new();
    if !validator_runs() {
        missing.push(format!(
            "kubernetes-validate=={KUBERNETES_VALIDATE_VERSION}"
        ));
    }
    if !yaml_imports() {
        missing.push("PyYAML".to_owned());
    }
    if missing.is_empty() {
        return Ok(Outcome::Present);
    }
    pip_install(&missing)?;
    if cmd::on_path("pyenv").is_some() {
        // pyenv finds new scripts only after a rehash; failing here only loses the shim.
        cmd::succeeds(Command::new("pyenv").arg("rehash"));
    }
    if !validator_runs() || !yaml_imports() {
        bail!(
            "{} were installed with pip but do not run",
            missing.join(" and ")
        );
    }
    Ok(Outcome::Installed(missing.join(", ")))
}

/// The Python tools the agent's API tests run: schemathesis and openapi-spec-validator (their
/// commands) and prometheus-client (its OpenMetrics parser, imported by `python3 -c`).
fn agent_api_checkers() -> anyhow::Result<Outcome> {
    let runs = |program: &str| cmd::succeeds(Command::new(program).arg("--version"));
    let imports = || {
        cmd::succeeds(
            Command::new("python3").args(["-c", "import prometheus_client.openmetrics.parser"]),
        )
    };
    let mut missing = Vec::new();
    if !runs("schemathesis") {
        missing.push(format!("schemathesis=={SCHEMATHESIS_VERSION}"));
    }
    if !runs("openapi-spec-validator") {
        missing.push(format!(
            "openapi-spec-validator=={OPENAPI_SPEC_VALIDATOR_VERSION}"
        ));
    }
    if !imports() {
        missing.push(format!("prometheus-client=={PROMETHEUS_CLIENT_VERSION}"));
    }
    if missing.is_empty() {
        return Ok(Outcome::Present);
    }
    pip_install(&missing)?;
    if cmd::on_path("pyenv").is_some() {
        // pyenv finds new scripts only after a rehash.
        cmd::succeeds(Command::new("pyenv").arg("rehash"));
    }
    if !runs("schemathesis") || !runs("openapi-spec-validator") || !imports() {
        bail!(
            "{} were installed with pip but do not run",
            missing.join(" and ")
        );
    }
    Ok(Outcome::Installed(missing.join(", ")))
}

fn pip_install(requirements: &[String]) -> anyhow::Result<()> {
    let mut pip = Command::new("python3");
    pip.env("PIP_ROOT_USER_ACTION", "ignore")
        .args(["-m", "pip", "install", "--quiet"])
        .args(requirements);
    // Debian's own python3 refuses system-wide installs (PEP 668) unless told it is intended;
    // a pyenv or venv python has no such marker.
    let externally_managed = cmd::succeeds(Command::new("python3").args([
        "-c",
        "import os, sys, sysconfig; \
         sys.exit(not os.path.exists(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))",
    ]));
    if externally_managed {
        pip.arg("--break-system-packages");
    }
    cmd::run(&mut pip)
}

/// virtme-ng from `PyPI` (Debian 12 has none): its `vng` on PATH, reporting the pinned version.
fn virtme_ng() -> anyhow::Result<Outcome> {
    let pinned = || {
        cmd::output(Command::new("vng").arg("--version")).is_ok_and(|version| {
            version
                .split_whitespace()
                .any(|word| word == VIRTME_NG_VERSION)
        })
    };
    if pinned() {
        return Ok(Outcome::Present);
    }
    pip_install(&[format!("virtme-ng=={VIRTME_NG_VERSION}")])?;
    if cmd::on_path("pyenv").is_some() {
        // pyenv finds new scripts only after a rehash; failing here only loses the shim.
        cmd::succeeds(Command::new("pyenv").arg("rehash"));
    }
    if !pinned() {
        bail!(
            "virtme-ng {VIRTME_NG_VERSION} was installed with pip but `vng --version` does not \
             report it; check that pip's script folder is on PATH"
        );
    }
    Ok(Outcome::Installed(format!(
        "virtme-ng {VIRTME_NG_VERSION} from PyPI"
    )))
}

/// deploy/validate.sh renders the kustomize overlays with `kubectl kustomize`. The machine
/// image ships kubectl; Debian's own kubernetes-client is the fallback where it does not.
fn kubectl() -> anyhow::Result<Outcome> {
    if cmd::succeeds(Command::new("kubectl").args(["version", "--client"])) {
        return Ok(Outcome::Present);
    }
    if !cmd::is_root() {
        bail!("kubectl is missing; install it (Debian: `sudo apt-get install kubernetes-client`)");
    }
    cmd::run(apt_get().args([
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "kubernetes-client",
    ]))?;
    Ok(Outcome::Installed("Debian's kubernetes-client".into()))
}

/// kubernetes-validate: its script when on PATH, else its module run by python3.
pub fn kubernetes_validate_command() -> Command {
    if let Some(path) = cmd::on_path("kubernetes-validate") {
        Command::new(path)
    } else {
        let mut command = Command::new("python3");
        command.args(["-m", "kubernetes_validate"]);
        command
    }
}

fn oha() -> anyhow::Result<Outcome> {
    if cmd::succeeds(Command::new("oha").arg("--version")) {
        return Ok(Outcome::Present);
    }
    cmd::run(Command::new("cargo").args(["install", "oha", "--locked", "--version", OHA_VERSION]))?;
    Ok(Outcome::Installed(format!(
        "oha {OHA_VERSION} from crates.io"
    )))
}

fn cargo_fuzz() -> anyhow::Result<Outcome> {
    if cmd::succeeds(Command::new("cargo").args(["fuzz", "--version"])) {
        return Ok(Outcome::Present);
    }
    cmd::run(Command::new("cargo").args([
        "install",
        "cargo-fuzz",
        "--locked",
        "--version",
        CARGO_FUZZ_VERSION,
    ]))?;
    Ok(Outcome::Installed(format!(
        "cargo-fuzz {CARGO_FUZZ_VERSION} from crates.io"
    )))
}

fn tracefs() -> anyhow::Result<Outcome> {
    let mounts = fs::read_to_string("/proc/mounts").context("could not read /proc/mounts")?;
    if is_mounted(&mounts, TRACEFS, "tracefs") {
        return Ok(Outcome::Present);
    }
    if !cmd::is_root() {
        bail!("tracefs is not mounted at {TRACEFS}; run `sudo mount -t tracefs tracefs {TRACEFS}`");
    }
    cmd::run(Command::new("mount").args(["-t", "tracefs", "tracefs", TRACEFS]))?;
    Ok(Outcome::Installed(format!("mounted at {TRACEFS}")))
}

/// `/proc/mounts` has a `filesystem_type` mount at `mount_point`.
fn is_mounted(mounts: &str, mount_point: &str, filesystem_type: &str) -> bool {
    mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&mount_point) && fields.get(2) == Some(&filesystem_type)
    })
}

impl fmt::Display for Outcome {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Present => formatter.write_str("ok"),
            Self::Installed(what) => write!(formatter, "installed ({what})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn llvm_major_is_read_from_rustc_verbose_version() {
        let nightly = "rustc 1.97.0-nightly (e50aa6fba 2026-05-19)\nbinary: rustc\n\
                       host: x86_64-unknown-linux-gnu\nrelease: 1.97.0-nightly\n\
                       LLVM version: 22.1.4\n";
        assert_eq!(llvm_major(nightly), Some(22));
        assert_eq!(llvm_major("rustc 1.95.0\nrelease: 1.95.0\n"), None);
    }

    #[test]
    fn the_versioned_libllvm_is_preferred() {
        let sysroot_lib = names(&[
            "libLLVM-22-rust-1.97.0-nightly.so",
            "libLLVM.so.22.1-rust-1.97.0-nightly",
            "librustc_driver-b5a965480ee51f9a.so",
            "rustlib",
        ]);
        assert_eq!(
            pick_libllvm(&sysroot_lib),
            Some("libLLVM.so.22.1-rust-1.97.0-nightly")
        );
        let dashed_only = names(&["libLLVM-21-rust-1.90.0-nightly.so", "rustlib"]);
        assert_eq!(
            pick_libllvm(&dashed_only),
            Some("libLLVM-21-rust-1.90.0-nightly.so")
        );
        assert_eq!(pick_libllvm(&names(&["rustlib"])), None);
    }

    #[test]
    fn ldd_output_gives_the_resolved_libllvm() {
        let resolved = "\tlinux-vdso.so.1 (0x00007ffd)\n\
            \tlibLLVM.so.22.1-rust-1.97.0-nightly => /root/.local/share/tracer/llvm/lib/libLLVM.so.22.1-rust-1.97.0-nightly (0x00007ff3)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007ff2)\n";
        assert_eq!(
            loaded_libllvm(resolved),
            LoadedLlvm::At(PathBuf::from(
                "/root/.local/share/tracer/llvm/lib/libLLVM.so.22.1-rust-1.97.0-nightly"
            ))
        );
        let missing = "\tlibLLVM.so.22.1-rust-1.97.0-nightly => not found\n";
        assert_eq!(loaded_libllvm(missing), LoadedLlvm::NotFound);
        assert_eq!(
            loaded_libllvm("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n"),
            LoadedLlvm::Static
        );
    }

    #[test]
    fn dpkg_listing_tells_installed_from_removed() {
        let listing = "strace ii \nnginx rc \nwrk ii \n";
        assert!(is_installed(listing, "strace"));
        assert!(
            !is_installed(listing, "nginx"),
            "rc = removed, config files left"
        );
        assert!(!is_installed(listing, "chromium"), "not listed at all");
    }

    #[test]
    fn tracefs_mount_is_found_by_mount_point_and_type() {
        let mounts =
            "sysfs /sys sysfs rw 0 0\ntracefs /sys/kernel/tracing tracefs rw,relatime 0 0\n";
        assert!(is_mounted(mounts, TRACEFS, "tracefs"));
        assert!(!is_mounted("sysfs /sys sysfs rw 0 0\n", TRACEFS, "tracefs"));
        assert!(!is_mounted(
            "none /sys/kernel/tracing debugfs rw 0 0\n",
            TRACEFS,
            "tracefs"
        ));
    }

    #[test]
    fn setup_lines_say_ok_or_installed() {
        assert_eq!(Outcome::Present.to_string(), "ok");
        assert_eq!(
            Outcome::Installed("strace".into()).to_string(),
            "installed (strace)"
        );
    }

    #[test]
    fn the_prefix_is_per_llvm_major() {
        let prefix = llvm_prefix(22).expect("HOME is set in tests");
        assert!(prefix.ends_with("tracer/llvm-22"), "{}", prefix.display());
    }
}
