//! `cargo xtask ebpf`: builds the probes (tracer-ebpf) once per architecture with the pinned
//! nightly and bpf-linker, and commits-ready copies them to `tracer/ebpf/tracer-<arch>.o`, where
//! tracer/build.rs embeds them: building tracer then needs only stable Rust.
//!
//! Next to the objects, `tracer/ebpf/inputs.txt` lists what they were built from (a hash of
//! every file of tracer-ebpf/ and tracer-common/, the locked versions of the crates tracer-ebpf
//! depends on, the toolchain and flags) and the objects' own hashes. The test below recomputes
//! the list from the working tree: it fails, naming this command, when a source changed after
//! the objects were built.
//!
//! The build is path-independent (`--remap-path-prefix` for the workspace, cargo's home and the
//! toolchain's library sources), so any checkout of a commit rebuilds the same bytes.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, anyhow, bail};
use sha2::{Digest as _, Sha256};

use crate::{cmd, toolchain};

/// Where the committed objects and their inputs list live, relative to the workspace root.
pub const OBJECT_DIR: &str = "tracer/ebpf";
/// The inputs list, in [`OBJECT_DIR`].
const INPUTS: &str = "inputs.txt";
/// The architectures tracer ships probes for (values of `bpf_target_arch`).
pub const ARCHES: &[&str] = &["x86_64", "aarch64"];
/// The folders whose every file is an input of the probes.
const SOURCE_DIRS: &[&str] = &["tracer-ebpf", "tracer-common"];
/// What every probe build passes to rustc besides the architecture and the path remapping
/// (what aya-build passes: BTF for the maps and programs, from full debug info).
const RUSTFLAGS: &[&str] = &["-Cdebuginfo=2", "-Clink-arg=--btf"];
/// The one command that regenerates the objects, named by every failure.
pub const COMMAND: &str = "cargo xtask ebpf";

#[derive(Debug, clap::Args)]
pub struct EbpfArgs {
    /// Build only these architectures (default: all tracer ships: `x86_64`, `aarch64`).
    #[arg(long = "arch", value_name = "ARCH")]
    arches: Vec<String>,
}

pub fn run(args: &EbpfArgs) -> anyhow::Result<()> {
    let arches: Vec<&str> = if args.arches.is_empty() {
        ARCHES.to_vec()
    } else {
        args.arches.iter().map(String::as_str).collect()
    };
    let root = cmd::workspace_root();
    let nightly = toolchain::ebpf_nightly()?;
    let out_dir = root.join(OBJECT_DIR);
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    for arch in &arches {
        let built = build(root, &nightly, arch)?;
        let object = out_dir.join(object_name(arch));
        fs::copy(&built, &object)
            .with_context(|| format!("cannot copy {} to {}", built.display(), object.display()))?;
        println!("ebpf: {} ({} bytes)", object.display(), file_len(&object));
    }
    let inputs = Inputs::of(root)?;
    let path = out_dir.join(INPUTS);
    fs::write(&path, inputs.render())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "ebpf: {} lists the inputs; commit tracer/ebpf/",
        path.display()
    );
    Ok(())
}

/// `tracer-x86_64.o`: the name tracer/build.rs looks for.
pub fn object_name(arch: &str) -> String {
    format!("tracer-{arch}.o")
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |metadata| metadata.len())
}

/// Builds tracer-ebpf for one `bpf_target_arch` in its own target folder; returns the object.
fn build(root: &Path, nightly: &str, arch: &str) -> anyhow::Result<PathBuf> {
    let target_dir = cmd::target_dir().join("ebpf").join(arch);
    let mut flags = vec![format!("--cfg=bpf_target_arch=\"{arch}\"")];
    flags.extend(RUSTFLAGS.iter().map(|flag| (*flag).to_owned()));
    flags.extend(remap_flags(root, nightly)?);
    let mut command = Command::new("rustup");
    command
        .current_dir(root)
        .args([
            "run",
            nightly,
            "cargo",
            "build",
            "--package",
            "tracer-ebpf",
            "--bins",
        ])
        .args(["--release", "--locked", "--target", "bpfel-unknown-none"])
        .args(["-Z", "build-std=core", "--target-dir"])
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));
    for inherited in [
        "RUSTC",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "RUSTUP_TOOLCHAIN",
        "CARGO",
    ] {
        command.env_remove(inherited);
    }
    cmd::run(&mut command).with_context(|| {
        format!(
            "building the probes for {arch} failed; `cargo xtask setup` installs {nightly} and \
             bpf-linker"
        )
    })?;
    Ok(target_dir.join("bpfel-unknown-none/release/tracer"))
}

/// Maps the machine's paths (workspace, cargo home, the toolchain's library sources) to fixed
/// ones, so the objects' debug info and BTF line info do not depend on where things are.
fn remap_flags(root: &Path, nightly: &str) -> anyhow::Result<Vec<String>> {
    let sysroot =
        cmd::output(Command::new("rustup").args(["run", nightly, "rustc", "--print", "sysroot"]))?;
    let version = cmd::output(Command::new("rustup").args(["run", nightly, "rustc", "-vV"]))?;
    let commit = version
        .lines()
        .find_map(|line| line.strip_prefix("commit-hash: "))
        .ok_or_else(|| anyhow!("`rustc -vV` of {nightly} names no commit"))?;
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
        PathBuf::from,
    );
    Ok(vec![
        format!("--remap-path-prefix={}=/tracer", root.display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
        format!(
            "--remap-path-prefix={}/lib/rustlib/src/rust=/rustc/{commit}",
            sysroot.trim()
        ),
    ])
}

/// What the committed objects were built from, and the objects' hashes.
#[derive(Debug, PartialEq, Eq)]
struct Inputs {
    /// `file <sha256> <path>`, `crate <name> <version>`, `toolchain ...`, `flags ...` lines.
    sources: BTreeSet<String>,
    /// Object file name → its sha256.
    objects: BTreeMap<String, String>,
}

impl Inputs {
    /// Computes the list from the working tree and the objects now in tracer/ebpf/.
    fn of(root: &Path) -> anyhow::Result<Self> {
        let mut sources = BTreeSet::new();
        for dir in SOURCE_DIRS {
            for path in files_under(&root.join(dir))? {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                sources.insert(format!(
                    "file {} {}",
                    sha256_file(&path)?,
                    relative.display()
                ));
            }
        }
        for (name, version) in ebpf_crates(root)? {
            sources.insert(format!("crate {name} {version}"));
        }
        sources.insert(format!("toolchain {}", toolchain::ebpf_nightly()?));
        sources.insert(format!("flags {}", RUSTFLAGS.join(" ")));
        sources.insert(format!("profile {}", ebpf_profile(root)?));
        let mut objects = BTreeMap::new();
        for arch in ARCHES {
            let path = root.join(OBJECT_DIR).join(object_name(arch));
            if path.is_file() {
                objects.insert(object_name(arch), sha256_file(&path)?);
            }
        }
        Ok(Self { sources, objects })
    }

    fn render(&self) -> String {
        let mut text = format!(
            "# What tracer/ebpf/*.o were built from, written by `{COMMAND}`; a test compares it\n\
             # with the working tree. Do not edit: rerun `{COMMAND}`.\n"
        );
        for line in &self.sources {
            let _ = writeln!(text, "{line}");
        }
        for (name, hash) in &self.objects {
            let _ = writeln!(text, "object {hash} {name}");
        }
        text
    }

    #[cfg(test)]
    fn parse(text: &str) -> Self {
        let mut sources = BTreeSet::new();
        let mut objects = BTreeMap::new();
        for line in text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
        {
            if let Some(rest) = line.strip_prefix("object ") {
                let (hash, name) = rest.split_once(' ').unwrap_or((rest, ""));
                objects.insert(name.to_owned(), hash.to_owned());
            } else {
                sources.insert(line.to_owned());
            }
        }
        Self { sources, objects }
    }

    #[cfg(test)]
    /// Why `committed` no longer describes `self` (the working tree), if it does not.
    fn staleness(&self, committed: &Self) -> Option<String> {
        let changed: Vec<String> = self
            .sources
            .symmetric_difference(&committed.sources)
            .map(|line| {
                let side = if self.sources.contains(line) {
                    "now"
                } else {
                    "built from"
                };
                format!("  {side}: {line}")
            })
            .collect();
        let objects_differ = self.objects != committed.objects;
        if changed.is_empty() && !objects_differ {
            return None;
        }
        let mut reason = String::new();
        if !changed.is_empty() {
            let _ = write!(
                reason,
                "the eBPF objects in {OBJECT_DIR}/ are stale: their sources changed since they \
                 were built:\n{}\n",
                changed.join("\n")
            );
        }
        if objects_differ {
            let _ = writeln!(
                reason,
                "the objects in {OBJECT_DIR}/ are not the ones {INPUTS} lists (now {:?}, listed \
                 {:?})",
                self.objects, committed.objects
            );
        }
        let _ = write!(reason, "run `{COMMAND}` and commit {OBJECT_DIR}/");
        Some(reason)
    }
}

/// Every file under `dir` (no target/ folders), sorted.
fn files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in
            fs::read_dir(&folder).with_context(|| format!("cannot list {}", folder.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "target") {
                    pending.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(sha256_hex(&bytes))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// The registry crates tracer-ebpf builds with (its normal and build dependencies,
/// transitively, with the features a build of tracer-ebpf alone resolves, from the lock file),
/// as (name, version); the workspace's own crates are hashed file by file instead.
fn ebpf_crates(root: &Path) -> anyhow::Result<BTreeSet<(String, String)>> {
    let mut tree = cmd::cargo();
    tree.current_dir(root).args([
        "tree",
        "--package",
        "tracer-ebpf",
        "--edges",
        "normal,build",
        "--prefix",
        "none",
        "--format",
        "{p}",
        "--target",
        "all",
        "--locked",
    ]);
    Ok(crate_list(&cmd::output(&mut tree)?))
}

/// Reads `cargo tree --prefix none --format {p}` lines: `syn v2.0.119 (*)`; a path package
/// (`tracer-common v0.1.0 (/src/tracer-common)`) is left out.
fn crate_list(tree: &str) -> BTreeSet<(String, String)> {
    tree.lines()
        .filter(|line| !line.contains(" (/"))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            Some((name.to_owned(), version.to_owned()))
        })
        .collect()
}

/// The workspace manifest's `[profile.release.package.tracer-ebpf]` table, on one line.
fn ebpf_profile(root: &Path) -> anyhow::Result<String> {
    let path = root.join("Cargo.toml");
    let manifest =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: Vec<&str> = manifest
        .lines()
        .skip_while(|line| line.trim() != "[profile.release.package.tracer-ebpf]")
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    if table.is_empty() {
        bail!(
            "{} has no [profile.release.package.tracer-ebpf] table",
            path.display()
        );
    }
    Ok(table.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard that keeps stable-only builds honest: the objects tracer embeds must be the
    /// ones the current sources build to.
    #[test]
    fn the_committed_ebpf_objects_are_built_from_the_current_sources() {
        let root = cmd::workspace_root();
        let path = root.join(OBJECT_DIR).join(INPUTS);
        let committed = fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}; run `{COMMAND}`", path.display()));
        let now = Inputs::of(root).expect("the inputs can be listed");
        if let Some(reason) = now.staleness(&Inputs::parse(&committed)) {
            panic!("{reason}");
        }
        for arch in ARCHES {
            assert!(
                now.objects.contains_key(&object_name(arch)),
                "{OBJECT_DIR}/{} is missing; run `{COMMAND}`",
                object_name(arch)
            );
        }
    }

    #[test]
    fn a_changed_source_line_makes_the_objects_stale_and_names_the_command() {
        let committed = Inputs::parse(
            "# header\nfile aaaa tracer-ebpf/src/main.rs\ncrate aya-ebpf 0.2.1\nobject 11 tracer-x86_64.o\n",
        );
        let mut now = Inputs::parse(&committed.render());
        assert_eq!(now, committed, "render and parse round-trip");
        assert_eq!(now.staleness(&committed), None);
        now.sources.remove("file aaaa tracer-ebpf/src/main.rs");
        now.sources
            .insert("file bbbb tracer-ebpf/src/main.rs".into());
        let reason = now.staleness(&committed).expect("stale");
        assert!(
            reason.contains("built from: file aaaa tracer-ebpf/src/main.rs"),
            "{reason}"
        );
        assert!(reason.contains("now: file bbbb"), "{reason}");
        assert!(
            reason.ends_with("run `cargo xtask ebpf` and commit tracer/ebpf/"),
            "{reason}"
        );
        let mut replaced = Inputs::parse(&committed.render());
        replaced
            .objects
            .insert("tracer-x86_64.o".into(), "22".into());
        assert!(
            replaced.staleness(&committed).is_some(),
            "a swapped object is caught"
        );
    }

    #[test]
    fn cargo_tree_lines_give_registry_crates_only() {
        let tree = "tracer-ebpf v0.1.0 (/w/tracer-ebpf)\naya-ebpf v0.2.1\nsyn v2.0.119 (*)\n\
                    pastey v0.2.3 (proc-macro)\ntracer-common v0.1.0 (/w/tracer-common)\n";
        let crates: Vec<_> = crate_list(tree).into_iter().collect();
        assert_eq!(
            crates,
            [
                ("aya-ebpf", "0.2.1"),
                ("pastey", "0.2.3"),
                ("syn", "2.0.119")
            ]
            .map(|(name, version)| (name.to_owned(), version.to_owned()))
        );
    }

    #[test]
    fn sha256_is_the_standard_one() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
