//! The Debian kernels of the matrix: each series' current package is resolved through its suite's
//! `linux-image-amd64` metapackage, downloaded with `apt-get download` and unpacked with
//! `dpkg -x` under the cache. apt runs with a configuration of its own (sources list, package
//! lists, archive cache and an empty dpkg status, all in the cache folder), so the system's apt
//! sources and state are never touched: adding another suite there would let apt upgrade the
//! whole system to it.
//!
//! Cache layout, per suite: `apt/` (apt's sources.list, lists and cache), `<package>_<version>/`
//! (the unpacked package: `boot/vmlinuz-<release>`, `[usr/]lib/modules/<release>/`) and
//! `current` (the folder name of the package in use).
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, anyhow, bail};

use super::KernelChoice;
use crate::cmd;

/// A kernel series and the Debian suite whose `linux-image-amd64` provides it.
#[derive(Debug, PartialEq, Eq)]
pub struct Series {
    /// As on the command line and in the report: "5.10".
    pub name: &'static str,
    /// The Debian suite; its `-security` suite is a source too (kernel updates land there).
    pub suite: &'static str,
    /// The attach mechanisms that must load and count exactly on it, in tracer's order of
    /// preference (the guest's `probe_exact` checks them: `TRACER_EXPECT_MECHANISMS`). 5.10 has
    /// no fentry: its BTF declares `struct pt_regs`, the syscall wrappers' argument, by name
    /// only, so the verifier refuses to let a program read it.
    pub mechanisms: &'static str,
}

/// The kernels tracer's users run, oldest first.
pub const SERIES: &[Series] = &[
    Series {
        name: "5.10",
        suite: "bullseye",
        mechanisms: "tp_btf,raw_tracepoint,tracepoint",
    },
    Series {
        name: "6.1",
        suite: "bookworm",
        mechanisms: "fentry,tp_btf,raw_tracepoint,tracepoint",
    },
    Series {
        name: "6.12",
        suite: "trixie",
        mechanisms: "fentry,tp_btf,raw_tracepoint,tracepoint",
    },
];

/// A kernel ready to boot.
#[derive(Debug)]
pub struct Kernel {
    pub series: &'static Series,
    /// The Debian package, e.g. `linux-image-5.10.0-46-amd64`.
    pub package: String,
    /// Its Debian version, e.g. `5.10.262-1`.
    pub version: String,
    /// The kernel release (`uname -r`), e.g. `5.10.0-46-amd64`.
    pub release: String,
    /// `boot/vmlinuz-<release>` in the unpacked package; vng finds the modules from there.
    pub vmlinuz: PathBuf,
}

/// The series the `--kernel` options name, oldest first, each once; all when none is named.
pub fn select(choices: &[KernelChoice]) -> Vec<&'static Series> {
    let wanted = |series: &Series| {
        choices.is_empty()
            || choices.iter().any(|choice| match choice {
                KernelChoice::All => true,
                KernelChoice::V5_10 => series.name == "5.10",
                KernelChoice::V6_1 => series.name == "6.1",
                KernelChoice::V6_12 => series.name == "6.12",
            })
    };
    SERIES.iter().filter(|series| wanted(series)).collect()
}

/// Where kernels are kept: `$TRACER_VMTEST_CACHE`, else `/var/cache/tracer-vmtest` for root,
/// else `~/.cache/tracer-vmtest`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRACER_VMTEST_CACHE") {
        return PathBuf::from(dir);
    }
    if cmd::is_root() {
        return PathBuf::from("/var/cache/tracer-vmtest");
    }
    std::env::var_os("HOME").map_or_else(
        || PathBuf::from("/tmp/tracer-vmtest-cache"),
        |home| Path::new(&home).join(".cache/tracer-vmtest"),
    )
}

/// The series' kernel: the cached one (no network), or the suite's current one, fetched.
/// Also says which of the two it was.
pub fn fetch(series: &'static Series, refresh: bool) -> anyhow::Result<(Kernel, &'static str)> {
    let dir = cache_root().join(series.suite);
    if !refresh && let Some(kernel) = cached(series, &dir)? {
        return Ok((kernel, "cached"));
    }
    download(series, &dir)?;
    let kernel = cached(series, &dir)?.ok_or_else(|| {
        anyhow!(
            "the {} kernel was unpacked but is not found in {}",
            series.name,
            dir.display()
        )
    })?;
    Ok((kernel, "downloaded"))
}

/// The kernel that `current` names, if it is unpacked.
fn cached(series: &'static Series, dir: &Path) -> anyhow::Result<Option<Kernel>> {
    let Ok(current) = fs::read_to_string(dir.join("current")) else {
        return Ok(None);
    };
    let Some((package, version)) = current.trim().split_once('_') else {
        return Ok(None);
    };
    let tree = dir.join(current.trim());
    let boot = tree.join("boot");
    let Ok(names) = fs::read_dir(&boot) else {
        return Ok(None);
    };
    let names: Vec<String> = names
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    let Some(release) = names.iter().find_map(|name| name.strip_prefix("vmlinuz-")) else {
        bail!(
            "{} has no vmlinuz-*; remove {} and run again",
            boot.display(),
            tree.display()
        );
    };
    Ok(Some(Kernel {
        series,
        package: package.to_owned(),
        version: version.to_owned(),
        release: release.to_owned(),
        vmlinuz: boot.join(format!("vmlinuz-{release}")),
    }))
}

fn download(series: &Series, dir: &Path) -> anyhow::Result<()> {
    let apt_dir = dir.join("apt");
    for sub in ["lists/partial", "cache/archives/partial"] {
        let path = apt_dir.join(sub);
        fs::create_dir_all(&path)
            .with_context(|| format!("could not create {}", path.display()))?;
    }
    let list = apt_dir.join("sources.list");
    fs::write(&list, sources_list(series.suite))
        .with_context(|| format!("could not write {}", list.display()))?;

    cmd::output(apt(&apt_dir, "apt-get").args(["update", "-q"]))?;
    let depends = cmd::output(apt(&apt_dir, "apt-cache").args(["depends", "linux-image-amd64"]))?;
    let package = abi_package(&depends).ok_or_else(|| {
        anyhow!(
            "`apt-cache depends linux-image-amd64` in {} names no linux-image package: {}",
            series.suite,
            depends.trim()
        )
    })?;

    // Download into an empty folder, so the one .deb there is the one just fetched.
    let debs = dir.join("download");
    if debs.exists() {
        fs::remove_dir_all(&debs).with_context(|| format!("could not empty {}", debs.display()))?;
    }
    fs::create_dir_all(&debs).with_context(|| format!("could not create {}", debs.display()))?;
    cmd::output(
        apt(&apt_dir, "apt-get")
            .current_dir(&debs)
            .args(["download", "-q", &package]),
    )?;
    let deb = fs::read_dir(&debs)
        .with_context(|| format!("could not list {}", debs.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .find(|name| {
            Path::new(name)
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("deb"))
        })
        .ok_or_else(|| {
            anyhow!(
                "`apt-get download {package}` left no .deb in {}",
                debs.display()
            )
        })?;
    let (deb_package, version) = deb_name(&deb)
        .ok_or_else(|| anyhow!("{deb} is not named <package>_<version>_<arch>.deb"))?;
    let name = format!("{deb_package}_{version}");

    let unpacking = dir.join(format!("{name}.partial"));
    if unpacking.exists() {
        fs::remove_dir_all(&unpacking)
            .with_context(|| format!("could not remove {}", unpacking.display()))?;
    }
    cmd::output(
        Command::new("dpkg")
            .arg("-x")
            .arg(debs.join(&deb))
            .arg(&unpacking),
    )?;
    let tree = dir.join(&name);
    if tree.exists() {
        fs::remove_dir_all(&tree)
            .with_context(|| format!("could not replace {}", tree.display()))?;
    }
    fs::rename(&unpacking, &tree).with_context(|| {
        format!(
            "could not rename {} to {}",
            unpacking.display(),
            tree.display()
        )
    })?;
    fs::write(dir.join("current"), format!("{name}\n"))
        .with_context(|| format!("could not write {}", dir.join("current").display()))?;
    fs::remove_dir_all(&debs).with_context(|| format!("could not remove {}", debs.display()))?;
    // Kernels an earlier run unpacked are not used again.
    for entry in fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))? {
        let path = entry?.path();
        let stale = path
            .file_name()
            .and_then(|file| file.to_str())
            .is_some_and(|file| file.starts_with("linux-image-") && file != name);
        if stale && path.is_dir() {
            fs::remove_dir_all(&path)
                .with_context(|| format!("could not remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// The suite and its security suite, signed by the keys Debian's keyring package ships.
fn sources_list(suite: &str) -> String {
    let keyring = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]";
    format!(
        "deb {keyring} http://deb.debian.org/debian {suite} main\n\
         deb {keyring} http://deb.debian.org/debian-security {suite}-security main\n"
    )
}

/// apt-get or apt-cache on the suite's own configuration: its sources list only (no
/// sources.list.d, no pins from preferences.d), its own lists and cache, an empty dpkg status.
fn apt(apt_dir: &Path, program: &str) -> Command {
    let mut command = Command::new(program);
    command.env("DEBIAN_FRONTEND", "noninteractive");
    let options = [
        format!(
            "Dir::Etc::SourceList={}",
            apt_dir.join("sources.list").display()
        ),
        "Dir::Etc::SourceParts=/dev/null".to_owned(),
        "Dir::Etc::Preferences=/dev/null".to_owned(),
        "Dir::Etc::PreferencesParts=/dev/null".to_owned(),
        format!("Dir::State::Lists={}", apt_dir.join("lists").display()),
        format!("Dir::Cache={}", apt_dir.join("cache").display()),
        "Dir::State::status=/dev/null".to_owned(),
    ];
    for option in options {
        command.arg("-o").arg(option);
    }
    if cmd::is_root() {
        // apt's _apt user cannot write into the root-owned cache; download as root.
        command.args(["-o", "APT::Sandbox::User=root"]);
    }
    command
}

/// The versioned kernel package that `apt-cache depends linux-image-amd64` names.
fn abi_package(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let target = line
            .trim()
            .trim_start_matches('|')
            .strip_prefix("Depends:")?
            .trim();
        let target = target.trim_start_matches('<').trim_end_matches('>');
        (target.starts_with("linux-image-") && target != "linux-image-amd64")
            .then(|| target.to_owned())
    })
}

/// Package and version from a .deb's name as apt-get download makes it
/// (`<package>_<version>_<arch>.deb`, an epoch's colon written `%3a`).
fn deb_name(file: &str) -> Option<(&str, &str)> {
    let stem = file.strip_suffix(".deb")?;
    let mut parts = stem.split('_');
    let package = parts.next().filter(|part| !part.is_empty())?;
    let version = parts.next().filter(|part| !part.is_empty())?;
    parts.next()?;
    parts.next().is_none().then_some((package, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metapackage_names_the_current_abi_package() {
        let bullseye = "linux-image-amd64\n  Depends: linux-image-5.10.0-46-amd64\n";
        assert_eq!(
            abi_package(bullseye).as_deref(),
            Some("linux-image-5.10.0-46-amd64")
        );
        let trixie = "linux-image-amd64\n  Depends: linux-image-6.12.118+deb13-amd64\n\
                      \x20 Recommends: apparmor\n";
        assert_eq!(
            abi_package(trixie).as_deref(),
            Some("linux-image-6.12.118+deb13-amd64")
        );
        let alternatives = "linux-image-amd64\n |Depends: <linux-image-6.1.0-57-amd64>\n";
        assert_eq!(
            abi_package(alternatives).as_deref(),
            Some("linux-image-6.1.0-57-amd64")
        );
        assert_eq!(
            abi_package("linux-image-amd64\n  Depends: initramfs-tools\n"),
            None
        );
    }

    #[test]
    fn deb_file_names_give_package_and_version() {
        assert_eq!(
            deb_name("linux-image-6.12.118+deb13-amd64_6.12.118-1_amd64.deb"),
            Some(("linux-image-6.12.118+deb13-amd64", "6.12.118-1"))
        );
        assert_eq!(
            deb_name("linux-image-5.10.0-46-amd64_5.10.262-1_amd64.deb"),
            Some(("linux-image-5.10.0-46-amd64", "5.10.262-1"))
        );
        assert_eq!(deb_name("linux-image-amd64.deb"), None);
        assert_eq!(deb_name("a_b_c_d.deb"), None);
    }

    #[test]
    fn kernel_options_select_series_in_order_once() {
        let names = |choices: &[KernelChoice]| -> Vec<&str> {
            select(choices).iter().map(|series| series.name).collect()
        };
        assert_eq!(names(&[]), ["5.10", "6.1", "6.12"]);
        assert_eq!(names(&[KernelChoice::All]), ["5.10", "6.1", "6.12"]);
        assert_eq!(
            names(&[KernelChoice::V6_1, KernelChoice::V5_10]),
            ["5.10", "6.1"]
        );
        assert_eq!(names(&[KernelChoice::V6_12, KernelChoice::V6_12]), ["6.12"]);
    }

    #[test]
    fn each_suite_is_listed_with_its_security_suite() {
        let list = sources_list("bullseye");
        assert!(list.contains("debian bullseye main"), "{list}");
        assert!(
            list.contains("debian-security bullseye-security main"),
            "{list}"
        );
        assert!(list.contains("signed-by="), "{list}");
    }

    #[test]
    fn a_cached_kernel_is_found_without_the_network() {
        let dir = std::env::temp_dir().join(format!("xtask-vmtest-cache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let boot = dir.join("linux-image-6.1.0-57-amd64_6.1.192-3/boot");
        fs::create_dir_all(&boot).expect("temp dir is writable");
        fs::write(boot.join("vmlinuz-6.1.0-57-amd64"), "").expect("write");
        assert!(
            cached(&SERIES[1], &dir).expect("readable").is_none(),
            "no `current` yet"
        );
        fs::write(
            dir.join("current"),
            "linux-image-6.1.0-57-amd64_6.1.192-3\n",
        )
        .expect("write");
        let kernel = cached(&SERIES[1], &dir).expect("readable").expect("cached");
        assert_eq!(kernel.release, "6.1.0-57-amd64");
        assert_eq!(kernel.version, "6.1.192-3");
        assert_eq!(kernel.package, "linux-image-6.1.0-57-amd64");
        assert!(kernel.vmlinuz.ends_with("boot/vmlinuz-6.1.0-57-amd64"));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
