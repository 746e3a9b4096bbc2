//! `cargo xtask dist --verify`: every artefact checked the way a user meets it.
//!
//! - SHA256SUMS matches the files.
//! - Each tarball holds the binary, README, licences, completions, man pages and the unit; its
//!   binary is static (no program interpreter, no shared libraries) and prints its version:
//!   natively, or under qemu-user for the other architecture.
//! - The amd64 .deb installs with `dpkg --root` into a fresh, empty root; the installed
//!   `tracer --version` runs, and `tracer record -- /bin/true` counts exactly the I/O syscalls
//!   strace sees /bin/true make; the man pages, completions and the (not enabled) unit are where
//!   Debian looks for them, and `systemd-analyze verify` accepts the unit.
//! - `skopeo inspect` reads the image archive (both platforms, the labels); the layer of the
//!   amd64 image, extracted, holds the entrypoint, which is byte for byte the static binary
//!   and runs.
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, anyhow, bail, ensure};
use serde_json::Value;

use super::{Arch, Artefacts, COMPLETIONS, LICENCES, image};
use crate::{cmd, ebpf};

/// The I/O syscalls tracer counts (tracer-common's table), as strace names them.
const IO_SYSCALLS: &str =
    "read,readv,recvfrom,recvmsg,write,writev,sendto,sendmsg,pread64,pwrite64,recvmmsg,sendmmsg";

pub fn all(artefacts: &Artefacts) -> anyhow::Result<()> {
    let work = cmd::target_dir().join("dist-verify");
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    fs::create_dir_all(&work)?;
    sums(artefacts)?;
    println!("verify: SHA256SUMS matches");
    for (arch, tarball) in &artefacts.tarballs {
        check_tarball(artefacts, *arch, tarball, &work)?;
        println!("verify: {} ok", file_name(tarball));
    }
    let (_, deb) = artefacts
        .debs
        .iter()
        .find(|(arch, _)| arch.rust == std::env::consts::ARCH)
        .ok_or_else(|| anyhow!("no package for this machine's architecture"))?;
    check_deb(artefacts, deb, &work)?;
    println!(
        "verify: {} installs into a fresh root and records",
        file_name(deb)
    );
    check_image(artefacts, &work)?;
    println!("verify: {} inspects and runs", file_name(&artefacts.image));
    fs::remove_dir_all(&work)?;
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sums(artefacts: &Artefacts) -> anyhow::Result<()> {
    let text = fs::read_to_string(artefacts.dir.join("SHA256SUMS"))?;
    let mut listed = 0;
    for line in text.lines() {
        let (hash, name) = line
            .split_once("  ")
            .ok_or_else(|| anyhow!("bad SHA256SUMS line {line:?}"))?;
        let actual = ebpf::sha256_file(&artefacts.dir.join(name))?;
        ensure!(
            actual == hash,
            "SHA256SUMS says {hash} for {name}, the file is {actual}"
        );
        listed += 1;
    }
    let expected = artefacts.tarballs.len() + artefacts.debs.len() + 1;
    ensure!(
        listed == expected,
        "SHA256SUMS lists {listed} files, dist made {expected}"
    );
    Ok(())
}

fn check_tarball(
    artefacts: &Artefacts,
    arch: Arch,
    tarball: &Path,
    work: &Path,
) -> anyhow::Result<()> {
    let into = work.join(format!("tarball-{}", arch.rust));
    fs::create_dir_all(&into)?;
    cmd::run(
        Command::new("tar")
            .arg("-xzf")
            .arg(tarball)
            .arg("-C")
            .arg(&into),
    )?;
    let top = into.join(format!("tracer-{}-{}", artefacts.version, arch.target()));
    let mut expected: Vec<String> = [
        "tracer",
        "README.md",
        "tracer.service",
        "man/tracer.1",
        "man/tracer-record.1",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.extend(LICENCES.iter().map(|licence| (*licence).to_owned()));
    expected.extend(
        COMPLETIONS
            .iter()
            .map(|(_, file)| format!("completions/{file}")),
    );
    for file in &expected {
        ensure!(
            top.join(file).is_file(),
            "{} lacks {file}",
            file_name(tarball)
        );
    }
    let binary = top.join("tracer");
    let built = built_binary(artefacts, arch)?;
    ensure!(
        ebpf::sha256_file(&binary)? == ebpf::sha256_file(built)?,
        "the tarball's binary is not the one cargo built"
    );
    check_static(&binary, arch)?;
    let version = run_binary(&binary, arch, &["--version"])?;
    ensure!(
        version == format!("tracer {}\n", artefacts.version),
        "{} --version printed {version:?}",
        binary.display()
    );
    Ok(())
}

fn built_binary(artefacts: &Artefacts, arch: Arch) -> anyhow::Result<&PathBuf> {
    artefacts
        .binaries
        .iter()
        .find(|(built, _)| built.rust == arch.rust)
        .map(|(_, path)| path)
        .ok_or_else(|| anyhow!("no {} binary", arch.rust))
}

/// A static executable: the machine it is for, no interpreter, no shared libraries.
fn check_static(binary: &Path, arch: Arch) -> anyhow::Result<()> {
    let header = cmd::output(
        Command::new("readelf")
            .args(["--file-header", "--program-headers", "--dynamic", "--wide"])
            .arg(binary),
    )?;
    let machine = if arch.rust == "x86_64" {
        "Advanced Micro Devices X86-64"
    } else {
        "AArch64"
    };
    ensure!(
        header.contains(machine),
        "{} is not an {} executable",
        binary.display(),
        arch.rust
    );
    ensure!(
        !header.contains("INTERP"),
        "{} asks for a program interpreter: not static",
        binary.display()
    );
    ensure!(
        !header.contains("(NEEDED)"),
        "{} needs shared libraries: not static",
        binary.display()
    );
    Ok(())
}

/// Runs a binary natively, or under qemu-user when it is for the other architecture.
fn run_binary(binary: &Path, arch: Arch, args: &[&str]) -> anyhow::Result<String> {
    if arch.rust == std::env::consts::ARCH {
        cmd::output(Command::new(binary).args(args))
    } else {
        cmd::output(
            Command::new(format!("qemu-{}", arch.rust))
                .arg(binary)
                .args(args),
        )
        .context("qemu-user runs the other architecture's binary; `cargo xtask setup` installs it")
    }
}

fn check_deb(artefacts: &Artefacts, deb: &Path, work: &Path) -> anyhow::Result<()> {
    let root = work.join("deb-root");
    let admin = root.join("var/lib/dpkg");
    for dir in ["info", "updates", "triggers"] {
        fs::create_dir_all(admin.join(dir))?;
    }
    fs::write(admin.join("status"), "")?;
    fs::write(admin.join("available"), "")?;
    cmd::run(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--force-script-chrootless", "--install"])
            .arg(deb),
    )?;
    let status = cmd::output(
        Command::new("dpkg-query")
            .arg(format!("--admindir={}", admin.display()))
            .args([
                "-W",
                "-f=${Package} ${Version} ${db:Status-Abbrev}",
                "tracer",
            ]),
    )?;
    ensure!(
        status.trim() == format!("tracer {} ii", artefacts.version),
        "dpkg lists {status:?}"
    );
    for file in [
        "usr/bin/tracer",
        "usr/share/man/man1/tracer.1.gz",
        "usr/share/man/man1/tracer-agent.1.gz",
        "usr/share/bash-completion/completions/tracer",
        "usr/share/zsh/vendor-completions/_tracer",
        "usr/share/fish/vendor_completions.d/tracer.fish",
        "usr/lib/systemd/system/tracer.service",
        "usr/share/doc/tracer/copyright",
    ] {
        ensure!(
            root.join(file).is_file(),
            "the package did not install /{file}"
        );
    }
    ensure!(
        !root
            .join("etc/systemd/system/multi-user.target.wants/tracer.service")
            .exists(),
        "the unit was enabled on install"
    );
    let tracer = root.join("usr/bin/tracer");
    let version = cmd::output(Command::new(&tracer).arg("--version"))?;
    ensure!(
        version == format!("tracer {}\n", artefacts.version),
        "installed tracer --version printed {version:?}"
    );

    verify_unit(&root, work)?;
    super::record_true_exactly(&tracer, work)
}

/// `systemd-analyze verify` accepts the installed unit (its `ExecStart` pointed at the fresh
/// root's binary, which is where it is here) without a single complaint.
fn verify_unit(root: &Path, work: &Path) -> anyhow::Result<()> {
    let unit = fs::read_to_string(root.join("usr/lib/systemd/system/tracer.service"))?;
    let installed = root.join("usr/bin/tracer");
    let copy = work.join("tracer.service");
    fs::write(
        &copy,
        unit.replace("/usr/bin/tracer", &installed.to_string_lossy()),
    )?;
    let output = Command::new("systemd-analyze")
        // The man pages are in the fresh root, not where man looks on this machine.
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .context("systemd-analyze (systemd) checks the unit")?;
    let complaints = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify tracer.service: {}\n{complaints}",
        output.status
    );
    Ok(())
}

/// (syscall → (calls, bytes)) over every process of a run file.
pub fn counted_calls(run: &Value) -> BTreeMap<String, (u64, u64)> {
    let mut calls = BTreeMap::new();
    for process in run["processes"].as_array().into_iter().flatten() {
        for syscall in process["syscalls"].as_array().into_iter().flatten() {
            let entry = calls
                .entry(syscall["syscall"].as_str().unwrap_or_default().to_owned())
                .or_insert((0, 0));
            entry.0 += syscall["calls"].as_u64().unwrap_or_default();
            entry.1 += syscall["bytes"].as_u64().unwrap_or_default();
        }
    }
    calls
}

/// What strace sees `program` make of the I/O syscalls tracer counts: (calls, bytes) each.
pub fn strace_calls(program: &str, log: &Path) -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
    cmd::run(
        Command::new("strace")
            .args(["-f", "-qq", "-e", &format!("trace={IO_SYSCALLS}"), "-o"])
            .arg(log)
            .arg(program),
    )?;
    Ok(parse_strace(&fs::read_to_string(log)?))
}

/// `read(3, "\177ELF"..., 832) = 832` lines → per-syscall calls and positive returns.
fn parse_strace(log: &str) -> BTreeMap<String, (u64, u64)> {
    let mut calls = BTreeMap::new();
    for line in log.lines() {
        let line = line
            .split_once(' ')
            .filter(|(pid, _)| pid.chars().all(|c| c.is_ascii_digit()))
            .map_or(line, |(_, rest)| rest.trim_start());
        let Some((name, _)) = line.split_once('(') else {
            continue;
        };
        if name.starts_with('+') || name.starts_with('-') {
            continue;
        }
        let returned = line
            .rsplit_once(") = ")
            .and_then(|(_, value)| value.split_whitespace().next()?.parse::<i64>().ok());
        let entry = calls.entry(name.to_owned()).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += returned
            .and_then(|value| u64::try_from(value).ok())
            .unwrap_or(0);
    }
    calls
}

fn check_image(artefacts: &Artefacts, work: &Path) -> anyhow::Result<()> {
    let reference = format!(
        "oci-archive:{}:{}",
        artefacts.image.display(),
        artefacts.version
    );
    let raw: Value = serde_json::from_str(&cmd::output(
        Command::new("skopeo").args(["inspect", "--raw", &reference]),
    )?)?;
    let platforms: Vec<&str> = raw["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|manifest| manifest["platform"]["architecture"].as_str())
        .collect();
    ensure!(
        platforms == ["amd64", "arm64"],
        "the image index lists {platforms:?}"
    );
    for arch in super::ARCHES {
        let inspect: Value = serde_json::from_str(&cmd::output(Command::new("skopeo").args([
            "inspect",
            "--override-arch",
            arch.debian,
            &reference,
        ]))?)?;
        ensure!(
            inspect["Architecture"] == arch.debian,
            "skopeo inspect for {}: {}",
            arch.debian,
            inspect["Architecture"]
        );
        for (key, value) in image::labels(&artefacts.version, "", "") {
            if !value.is_empty() {
                ensure!(
                    inspect["Labels"][key] == value.as_str(),
                    "label {key} is {}",
                    inspect["Labels"][key]
                );
            }
        }
    }
    let rootfs = extract_amd64_layer(artefacts, work)?;
    let entrypoint = rootfs.join(image::BINARY.trim_start_matches('/'));
    let amd64 = super::ARCHES[0];
    ensure!(
        ebpf::sha256_file(&entrypoint)? == ebpf::sha256_file(built_binary(artefacts, amd64)?)?,
        "the image's entrypoint is not the static binary cargo built"
    );
    check_static(&entrypoint, amd64)?;
    let version = run_binary(&entrypoint, amd64, &["--version"])?;
    ensure!(
        version == format!("tracer {}\n", artefacts.version),
        "the image's tracer printed {version:?}"
    );
    let tmp_mode = fs::metadata(rootfs.join("tmp"))?.permissions().mode() & 0o7777;
    if tmp_mode != 0o1777 {
        bail!("the image's /tmp has mode {tmp_mode:o}, not 1777");
    }
    Ok(())
}

/// Unpacks the archive and follows index -> amd64 manifest -> config and layer by hand;
/// returns the unpacked layer.
fn extract_amd64_layer(artefacts: &Artefacts, work: &Path) -> anyhow::Result<PathBuf> {
    // Unpack the archive and follow index -> amd64 manifest -> config and layer by hand.
    let layout = work.join("oci");
    fs::create_dir_all(&layout)?;
    cmd::run(
        Command::new("tar")
            .arg("-xf")
            .arg(&artefacts.image)
            .arg("-C")
            .arg(&layout),
    )?;
    let blob = |digest: &Value| -> anyhow::Result<PathBuf> {
        let hex = digest
            .as_str()
            .and_then(|text| text.strip_prefix("sha256:"))
            .ok_or_else(|| anyhow!("bad digest {digest}"))?;
        Ok(layout.join("blobs/sha256").join(hex))
    };
    let read_json =
        |path: PathBuf| -> anyhow::Result<Value> { Ok(serde_json::from_slice(&fs::read(path)?)?) };
    let top = read_json(layout.join("index.json"))?;
    ensure!(
        top["manifests"][0]["digest"] == artefacts.image_digest.as_str(),
        "the archive's index is not {}",
        artefacts.image_digest
    );
    let index = read_json(blob(&top["manifests"][0]["digest"])?)?;
    let host = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|manifest| manifest["platform"]["architecture"] == "amd64")
        .ok_or_else(|| anyhow!("no amd64 manifest"))?;
    let manifest = read_json(blob(&host["digest"])?)?;
    let config = read_json(blob(&manifest["config"]["digest"])?)?;
    ensure!(
        config["config"]["Entrypoint"][0] == image::BINARY,
        "entrypoint {}",
        config["config"]["Entrypoint"]
    );
    let layers = manifest["layers"]
        .as_array()
        .ok_or_else(|| anyhow!("no layers"))?;
    ensure!(
        layers.len() == 1,
        "FROM scratch + one layer, found {}",
        layers.len()
    );
    let rootfs = work.join("rootfs");
    fs::create_dir_all(&rootfs)?;
    cmd::run(
        Command::new("tar")
            .arg("-xzf")
            .arg(blob(&layers[0]["digest"])?)
            .arg("-C")
            .arg(&rootfs),
    )?;
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_lines_give_calls_and_bytes() {
        let log = "read(3, \"\\177ELF\"..., 832) = 832\n\
                   1234  write(1, \"hi\\n\", 3) = 3\n\
                   read(0, 0x7ffd, 10) = -1 EAGAIN (Resource temporarily unavailable)\n\
                   +++ exited with 0 +++\n";
        let calls = parse_strace(log);
        assert_eq!(calls.get("read"), Some(&(2, 832)));
        assert_eq!(calls.get("write"), Some(&(1, 3)));
        assert_eq!(calls.len(), 2);
    }
}
