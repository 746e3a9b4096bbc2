//! `cargo xtask dist`: everything a user installs, built once per architecture and written
//! under `target/dist/`:
//!
//! - `tracer-VERSION-ARCH-unknown-linux-musl.tar.gz`: the static binary, README, licences,
//!   shell completions, man pages and the systemd unit;
//! - `tracer_VERSION_DEBARCH.deb`: the same, installed where Debian puts them, with a systemd
//!   unit for `tracer agent` on loopback that is not enabled;
//! - `tracer-VERSION-oci.tar`: an OCI image archive (FROM scratch: the static binary and an
//!   empty /tmp) for amd64 and arm64 under one index, built by umoci without a daemon;
//! - `SHA256SUMS`.
//!
//! One musl build per architecture feeds all three. Inputs are pinned (the locked crates, the
//! committed eBPF objects, `--remap-path-prefix` for the machine's paths) and every timestamp is
//! the commit's (`SOURCE_DATE_EPOCH`), so two runs from one commit write the same bytes.
//! `--verify` then checks the artefacts as a user would use them (see `dist/verify.rs`).
mod image;
mod verify;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};

use crate::{cmd, ebpf, setup};

/// Where the repository's licence texts are (the tarballs and the package carry them).
const LICENCES: &[&str] = &["LICENSE-MIT", "LICENSE-APACHE"];
/// The cargo profile of the shipped binaries (Cargo.toml: release without symbols).
const PROFILE: &str = "release-dist";
/// Shells `tracer completions` writes for, with the file each one loads.
const COMPLETIONS: &[(&str, &str)] = &[
    ("bash", "tracer.bash"),
    ("zsh", "_tracer"),
    ("fish", "tracer.fish"),
    ("elvish", "tracer.elv"),
    ("powershell", "_tracer.ps1"),
];

#[derive(Debug, clap::Args)]
pub struct DistArgs {
    /// Skip `cargo xtask setup` (everything is known to be installed).
    #[arg(long)]
    no_setup: bool,
    /// After building, check every artefact as a user would use it: install the .deb into a
    /// fresh root and record with it, run the aarch64 binary under qemu, inspect the image
    /// with skopeo and run its entrypoint (needs root).
    #[arg(long)]
    verify: bool,
}

/// One architecture's names in the three ecosystems.
#[derive(Clone, Copy, Debug)]
pub struct Arch {
    /// Rust's (`x86_64`), also `bpf_target_arch`.
    pub rust: &'static str,
    /// Debian's and OCI's (`amd64`).
    pub debian: &'static str,
}

pub const ARCHES: &[Arch] = &[
    Arch {
        rust: "x86_64",
        debian: "amd64",
    },
    Arch {
        rust: "aarch64",
        debian: "arm64",
    },
];

impl Arch {
    pub fn target(self) -> String {
        format!("{}-unknown-linux-musl", self.rust)
    }
}

/// What one dist run made, for `--verify` and the summary.
#[derive(Debug)]
pub struct Artefacts {
    pub version: String,
    pub dir: PathBuf,
    /// Per architecture: the static binary `cargo build` made.
    pub binaries: Vec<(Arch, PathBuf)>,
    pub tarballs: Vec<(Arch, PathBuf)>,
    pub debs: Vec<(Arch, PathBuf)>,
    pub image: PathBuf,
    pub image_digest: String,
}

pub fn run(args: &DistArgs) -> anyhow::Result<()> {
    if !args.no_setup {
        setup::run()?;
    }
    let started = Instant::now();
    let artefacts = build_all()?;
    let took = started.elapsed().as_secs_f64();
    println!("dist: built in {took:.0} s:");
    for path in artefacts.listing() {
        println!("dist:   {:>10} B  {}", file_len(&path), path.display());
    }
    println!("dist: image digest {}", artefacts.image_digest);
    if args.verify {
        let started = Instant::now();
        verify::all(&artefacts)?;
        println!("dist: verified in {:.0} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

impl Artefacts {
    fn listing(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.tarballs.iter().map(|(_, path)| path.clone()).collect();
        paths.extend(self.debs.iter().map(|(_, path)| path.clone()));
        paths.push(self.image.clone());
        paths.push(self.dir.join("SHA256SUMS"));
        paths
    }
}

fn build_all() -> anyhow::Result<Artefacts> {
    let root = cmd::workspace_root();
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let (epoch, revision) = source_commit(root)?;
    let dir = cmd::target_dir().join("dist");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    let work = dir.join("work");
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    let mut binaries = Vec::new();
    for &arch in ARCHES {
        binaries.push((arch, build_binary(root, arch)?));
    }
    let host = binaries
        .iter()
        .find(|(arch, _)| arch.rust == std::env::consts::ARCH)
        .map(|(_, path)| path.clone())
        .ok_or_else(|| anyhow!("dist runs on x86_64 or aarch64 machines only"))?;
    let docs = generate_docs(&host, &work.join("docs"))?;

    let mut tarballs = Vec::new();
    let mut debs = Vec::new();
    for (arch, binary) in &binaries {
        tarballs.push((
            *arch,
            tarball(root, &dir, &work, &version, *arch, binary, &docs, epoch)?,
        ));
        debs.push((
            *arch,
            deb(root, &dir, &work, &version, *arch, binary, &docs, epoch)?,
        ));
    }
    let (image, image_digest) = image::build(&dir, &work, &version, &binaries, epoch, &revision)?;
    pin_deploy_digest(root, &image_digest)?;

    let mut sums = String::new();
    let mut listed: Vec<&PathBuf> = tarballs.iter().chain(&debs).map(|(_, path)| path).collect();
    listed.push(&image);
    for path in listed {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        let _ = writeln!(sums, "{}  {name}", ebpf::sha256_file(path)?);
    }
    fs::write(dir.join("SHA256SUMS"), sums).context("cannot write SHA256SUMS")?;
    fs::remove_dir_all(&work).context("cannot remove the dist work folder")?;
    Ok(Artefacts {
        version,
        dir,
        binaries,
        tarballs,
        debs,
        image,
        image_digest,
    })
}

/// `tracer record -- /bin/true` with the given binary must count exactly the I/O syscalls
/// strace sees /bin/true make (calls and bytes per syscall), and see it exit with 0.
pub fn record_true_exactly(tracer: &Path, work: &Path) -> anyhow::Result<()> {
    let run_file = work.join("true.json");
    cmd::run(
        Command::new(tracer)
            .args(["record", "--label", "install-check", "-o"])
            .arg(&run_file)
            .args(["--", "/bin/true"]),
    )
    .with_context(|| {
        format!(
            "{} could not record /bin/true (needs root)",
            tracer.display()
        )
    })?;
    let run: serde_json::Value = serde_json::from_str(&fs::read_to_string(&run_file)?)?;
    anyhow::ensure!(
        run["end_reason"] == "command_exited",
        "end_reason {}",
        run["end_reason"]
    );
    anyhow::ensure!(
        run["targets"][0]["exit_code"] == 0,
        "/bin/true's exit code: {}",
        run["targets"][0]["exit_code"]
    );
    let counted = verify::counted_calls(&run);
    let expected = verify::strace_calls("/bin/true", &work.join("true.strace"))?;
    anyhow::ensure!(
        !expected.is_empty() && counted == expected,
        "{} counted {counted:?} I/O syscalls of /bin/true, strace saw {expected:?}",
        tracer.display()
    );
    Ok(())
}

pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |metadata| metadata.len())
}

/// The last commit that changed anything but deploy/: its time (every timestamp in the
/// artefacts; `SOURCE_DATE_EPOCH` if set) and its hash (the image's revision label). deploy/ is
/// left out because dist pins the image's digest there: committing that pin must not change
/// the image.
pub fn source_commit(root: &Path) -> anyhow::Result<(u64, String)> {
    let text = cmd::output(Command::new("git").current_dir(root).args([
        "log",
        "-1",
        "--format=%ct %H",
        "--",
        ".",
        ":(exclude)deploy",
    ]))
    .context("dist takes its timestamps from the last commit (or SOURCE_DATE_EPOCH)")?;
    let (time, hash) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| anyhow!("`git log` printed {text:?}"))?;
    let time = match std::env::var_os("SOURCE_DATE_EPOCH") {
        Some(value) => value
            .to_str()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| anyhow!("SOURCE_DATE_EPOCH is not a number of seconds"))?,
        None => time
            .parse()
            .context("`git log --format=%ct` printed no number")?,
    };
    Ok((time, hash.to_owned()))
}

/// `cargo build --profile release-dist` for one musl target, with the machine's paths mapped away.
fn build_binary(root: &Path, arch: Arch) -> anyhow::Result<PathBuf> {
    let target = arch.target();
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
        PathBuf::from,
    );
    let flags = format!(
        "--remap-path-prefix={}=/tracer --remap-path-prefix={}=/cargo",
        root.display(),
        cargo_home.display()
    );
    let variable = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        target.to_uppercase().replace('-', "_")
    );
    let mut build = cmd::cargo();
    build
        .args([
            "build",
            "--locked",
            "--package",
            "tracer",
            "--profile",
            PROFILE,
            "--target",
            &target,
        ])
        .env(variable, flags);
    let started = Instant::now();
    cmd::run(&mut build)?;
    println!(
        "dist: {target} built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(cmd::target_dir().join(&target).join(PROFILE).join("tracer"))
}

/// The completion scripts and man pages, from the binary itself (so they match its flags).
struct Docs {
    completions: PathBuf,
    man: PathBuf,
}

fn generate_docs(tracer: &Path, dir: &Path) -> anyhow::Result<Docs> {
    let completions = dir.join("completions");
    let man = dir.join("man");
    fs::create_dir_all(&completions)?;
    fs::create_dir_all(&man)?;
    for (shell, file) in COMPLETIONS {
        let script = cmd::output(Command::new(tracer).args(["completions", shell]))?;
        fs::write(completions.join(file), script)?;
    }
    cmd::run(Command::new(tracer).arg("man").arg("--dir").arg(&man))?;
    Ok(Docs { completions, man })
}

/// A folder as the tarball unpacks it: `tracer-VERSION-TARGET/`.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per architecture, all named"
)]
fn tarball(
    root: &Path,
    dir: &Path,
    work: &Path,
    version: &str,
    arch: Arch,
    binary: &Path,
    docs: &Docs,
    epoch: u64,
) -> anyhow::Result<PathBuf> {
    let name = format!("tracer-{version}-{}", arch.target());
    let stage = work.join(&name);
    fs::create_dir_all(stage.join("man"))?;
    install(binary, &stage.join("tracer"), 0o755)?;
    install(&root.join("README.md"), &stage.join("README.md"), 0o644)?;
    for licence in LICENCES {
        install(&root.join(licence), &stage.join(licence), 0o644)?;
    }
    copy_dir(&docs.completions, &stage.join("completions"))?;
    copy_dir(&docs.man, &stage.join("man"))?;
    fs::write(
        stage.join("tracer.service"),
        systemd_unit("/usr/local/bin/tracer"),
    )?;
    let tar = dir.join(format!("{name}.tar"));
    reproducible_tar(work, &name, &tar, epoch)?;
    cmd::run(Command::new("gzip").args(["-9", "-n", "-f"]).arg(&tar))?;
    Ok(dir.join(format!("{name}.tar.gz")))
}

/// `tar` with sorted names, fixed times and owners: the same bytes for the same files.
pub fn reproducible_tar(base: &Path, member: &str, out: &Path, epoch: u64) -> anyhow::Result<()> {
    cmd::run(
        Command::new("tar")
            .args([
                "--sort=name",
                "--format=gnu",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
            ])
            .arg(format!("--mtime=@{epoch}"))
            .arg("-C")
            .arg(base)
            .arg("-cf")
            .arg(out)
            .arg(member),
    )
}

fn install(from: &Path, to: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        install(&entry.path(), &to.join(entry.file_name()), 0o644)?;
    }
    Ok(())
}

/// The systemd unit for the node agent: loopback only, with a bearer token the admin creates;
/// shipped disabled (nothing enables or starts it on install).
fn systemd_unit(binary: &str) -> String {
    format!(
        "[Unit]\n\
         Description=tracer agent: records processes' I/O syscalls on request (HTTP on loopback)\n\
         Documentation=man:tracer-agent(1)\n\
         # Create the token first: install -m 0600 /dev/null /etc/tracer/agent-token, then\n\
         # write a long random string into it; `systemctl enable --now tracer` starts it.\n\
         ConditionPathExists=/etc/tracer/agent-token\n\
         After=network.target\n\
         \n\
         [Service]\n\
         ExecStart={binary} agent --listen 127.0.0.1:9464 --token-file /etc/tracer/agent-token --metrics-listen 127.0.0.1:9465\n\
         Restart=on-failure\n\
         NoNewPrivileges=yes\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// The Debian package, staged and built by dpkg-deb (Debian's own tool).
#[expect(
    clippy::too_many_arguments,
    reason = "one call per architecture, all named"
)]
fn deb(
    root: &Path,
    dir: &Path,
    work: &Path,
    version: &str,
    arch: Arch,
    binary: &Path,
    docs: &Docs,
    epoch: u64,
) -> anyhow::Result<PathBuf> {
    let stage = work.join(format!("deb-{}", arch.debian));
    install(binary, &stage.join("usr/bin/tracer"), 0o755)?;
    let man1 = stage.join("usr/share/man/man1");
    fs::create_dir_all(&man1)?;
    for entry in fs::read_dir(&docs.man)? {
        let entry = entry?;
        let page = man1.join(entry.file_name());
        install(&entry.path(), &page, 0o644)?;
        cmd::run(Command::new("gzip").args(["-9", "-n", "-f"]).arg(&page))?;
    }
    for (file, to) in [
        (
            "tracer.bash",
            "usr/share/bash-completion/completions/tracer",
        ),
        ("_tracer", "usr/share/zsh/vendor-completions/_tracer"),
        (
            "tracer.fish",
            "usr/share/fish/vendor_completions.d/tracer.fish",
        ),
    ] {
        install(&docs.completions.join(file), &stage.join(to), 0o644)?;
    }
    let unit = stage.join("usr/lib/systemd/system/tracer.service");
    fs::create_dir_all(unit.parent().unwrap_or(&stage))?;
    fs::write(&unit, systemd_unit("/usr/bin/tracer"))?;
    let doc = stage.join("usr/share/doc/tracer");
    install(&root.join("README.md"), &doc.join("README.md"), 0o644)?;
    fs::write(doc.join("copyright"), debian_copyright(root)?)?;
    let control = stage.join("DEBIAN/control");
    fs::create_dir_all(control.parent().unwrap_or(&stage))?;
    fs::write(
        &control,
        debian_control(version, arch.debian, installed_kib(&stage)?),
    )?;
    cmd::run(
        Command::new("find")
            .arg(&stage)
            .args(["-exec", "touch", "-h", "-d"])
            .arg(format!("@{epoch}"))
            .args(["{}", "+"]),
    )?;
    let out = dir.join(format!("tracer_{version}_{}.deb", arch.debian));
    cmd::run(
        Command::new("dpkg-deb")
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&stage)
            .arg(&out),
    )?;
    Ok(out)
}

fn installed_kib(stage: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    let mut pending = vec![stage.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            } else {
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok(bytes.div_ceil(1024))
}

fn debian_control(version: &str, arch: &str, installed_kib: u64) -> String {
    format!(
        "Package: tracer\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: tracer developers <tracer@tracer-rs.invalid>\n\
         Installed-Size: {installed_kib}\n\
         Section: utils\n\
         Priority: optional\n\
         Homepage: {}\n\
         Description: per-process I/O syscall accounting with eBPF, and comparisons of runs\n \
         tracer counts a process's I/O syscalls in the kernel (per process, syscall and file\n \
         descriptor, with payload-size and latency histograms), records a run into a JSON\n \
         file and compares runs: no service mesh against a sidecar or Istio ambient.\n \
         .\n \
         Static binary (musl) with its eBPF probes embedded; needs root or CAP_BPF and\n \
         CAP_PERFMON. The agent's systemd unit (tracer.service) is installed disabled.\n",
        env!("CARGO_PKG_REPOSITORY")
    )
}

fn debian_copyright(root: &Path) -> anyhow::Result<String> {
    let mit = fs::read_to_string(root.join("LICENSE-MIT")).context("LICENSE-MIT")?;
    let mit: String = mit
        .lines()
        .map(|line| {
            if line.is_empty() {
                " .\n".to_owned()
            } else {
                format!(" {line}\n")
            }
        })
        .collect();
    Ok(format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: tracer\n\
         Source: {}\n\
         \n\
         Files: *\n\
         Copyright: The tracer authors\n\
         License: MIT or Apache-2.0\n\
         \n\
         License: Apache-2.0\n \
         On Debian systems, the full text of the Apache License, Version 2.0 is in\n \
         /usr/share/common-licenses/Apache-2.0.\n\
         \n\
         License: MIT\n{mit}",
        env!("CARGO_PKG_REPOSITORY")
    ))
}

/// Points deploy/base at the image just built, by digest (the manifests then name exactly the
/// bytes in the archive; a push with `skopeo copy --all` keeps the digest).
fn pin_deploy_digest(root: &Path, digest: &str) -> anyhow::Result<()> {
    let path = root.join("deploy/base/kustomization.yaml");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(updated) = replace_digest(&text, digest) else {
        bail!(
            "{} has no `digest: sha256:...` line under images:",
            path.display()
        );
    };
    if updated != text {
        fs::write(&path, updated)?;
        println!(
            "dist: deploy/base/kustomization.yaml now pins {digest}; commit it with the release"
        );
    }
    Ok(())
}

fn replace_digest(kustomization: &str, digest: &str) -> Option<String> {
    let mut found = false;
    let lines: Vec<String> = kustomization
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("digest: sha256:") {
                found = true;
                format!("{}digest: {digest}", &line[..line.len() - trimmed.len()])
            } else {
                line.to_owned()
            }
        })
        .collect();
    found.then(|| lines.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_digest_line_is_replaced_in_place() {
        let text = "images:\n  - name: ghcr.io/tracer-rs/tracer\n    digest: sha256:aaaa\n";
        assert_eq!(
            replace_digest(text, "sha256:bbbb").as_deref(),
            Some("images:\n  - name: ghcr.io/tracer-rs/tracer\n    digest: sha256:bbbb\n")
        );
        assert_eq!(replace_digest("resources: []\n", "sha256:bbbb"), None);
    }

    #[test]
    fn the_agent_unit_listens_on_loopback_with_a_token() {
        let unit = systemd_unit("/usr/bin/tracer");
        assert!(unit.contains("--listen 127.0.0.1:9464"), "{unit}");
        assert!(unit.contains("--metrics-listen 127.0.0.1:9465"), "{unit}");
        assert!(
            unit.contains("--token-file /etc/tracer/agent-token"),
            "{unit}"
        );
        assert!(!unit.contains("0.0.0.0"), "{unit}");
    }

    #[test]
    fn the_control_file_names_the_package_and_architecture() {
        let control = debian_control("0.1.0", "arm64", 7000);
        assert!(control.starts_with("Package: tracer\nVersion: 0.1.0\nArchitecture: arm64\n"));
        assert!(
            control.ends_with('\n') && !control.contains("\n\n"),
            "{control}"
        );
    }
}
