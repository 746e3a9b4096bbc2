//! The OCI image: FROM scratch, the static binary at /usr/local/bin/tracer and an empty
//! world-writable /tmp (so a non-root user with `CAP_BPF` and `CAP_PERFMON` can write run
//! files), no CA certificates (tracer makes no TLS connections). umoci builds one image per
//! architecture in an OCI layout without a daemon; an image index over both is the archive's
//! one tag, so `skopeo copy --all` pushes both and a node pulls its own.
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, anyhow};
use serde_json::{Value, json};

use super::{Arch, install, reproducible_tar};
use crate::{cmd, ebpf};

/// Where the binary is in the image (the `DaemonSet` runs `tracer` from `PATH`).
pub const BINARY: &str = "/usr/local/bin/tracer";
/// The image's description label (tracer's own, as in tracer/Cargo.toml).
const DESCRIPTION: &str = "Per-process I/O syscall accounting with eBPF, and comparisons of runs: \
                           what a service mesh does to your app's I/O, CPU and latency.";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Builds `tracer-VERSION-oci.tar`; returns it and the image index's digest.
pub fn build(
    dir: &Path,
    work: &Path,
    version: &str,
    binaries: &[(Arch, PathBuf)],
    epoch: u64,
    revision: &str,
) -> anyhow::Result<(PathBuf, String)> {
    let layout = work.join("oci");
    let created = rfc3339(epoch)?;
    umoci(&["init", "--layout"], &[layout.as_os_str()])?;
    for (arch, binary) in binaries {
        let image = format!("{}:{}", layout.display(), arch.debian);
        umoci(&["new", "--image", &image], &[])?;
        let bundle = work.join(format!("bundle-{}", arch.debian));
        umoci(&["unpack", "--image", &image], &[bundle.as_os_str()])?;
        let rootfs = bundle.join("rootfs");
        install(binary, &rootfs.join(BINARY.trim_start_matches('/')), 0o755)?;
        let tmp = rootfs.join("tmp");
        fs::create_dir_all(&tmp)?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;
        fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o755))?;
        cmd::run(
            Command::new("find")
                .arg(&rootfs)
                .args(["-exec", "touch", "-h", "-d"])
                .arg(format!("@{epoch}"))
                .args(["{}", "+"]),
        )?;
        let comment = format!("tracer {version}, static ({})", arch.target());
        umoci(
            &[
                "repack",
                "--image",
                &image,
                "--history.created",
                &created,
                "--history.created_by",
                "cargo xtask dist",
                "--history.comment",
                &comment,
            ],
            &[bundle.as_os_str()],
        )?;
        let mut config: Vec<String> = [
            "config",
            "--image",
            &image,
            "--no-history",
            "--created",
            &created,
            "--os",
            "linux",
            "--architecture",
            arch.debian,
            "--config.entrypoint",
            BINARY,
            "--config.env",
            "PATH=/usr/local/bin",
            "--config.workingdir",
            "/",
        ]
        .map(str::to_owned)
        .to_vec();
        for word in [
            "agent",
            "--listen",
            "127.0.0.1:9464",
            "--metrics-listen",
            "0.0.0.0:9465",
        ] {
            config.extend(["--config.cmd".to_owned(), word.to_owned()]);
        }
        for (key, value) in labels(version, revision, &created) {
            config.extend(["--config.label".to_owned(), format!("{key}={value}")]);
        }
        let config: Vec<&str> = config.iter().map(String::as_str).collect();
        umoci(&config, &[])?;
    }
    umoci(&["gc", "--layout"], &[layout.as_os_str()])?;
    let digest = write_index(&layout, version, binaries)?;
    let archive = dir.join(format!("tracer-{version}-oci.tar"));
    reproducible_tar(&layout, ".", &archive, epoch)?;
    Ok((archive, digest))
}

/// The image's labels (OCI annotation keys).
pub fn labels(version: &str, revision: &str, created: &str) -> Vec<(&'static str, String)> {
    vec![
        ("org.opencontainers.image.title", "tracer".to_owned()),
        (
            "org.opencontainers.image.description",
            DESCRIPTION.to_owned(),
        ),
        ("org.opencontainers.image.version", version.to_owned()),
        (
            "org.opencontainers.image.source",
            env!("CARGO_PKG_REPOSITORY").to_owned(),
        ),
        (
            "org.opencontainers.image.licenses",
            env!("CARGO_PKG_LICENSE").to_owned(),
        ),
        ("org.opencontainers.image.revision", revision.to_owned()),
        ("org.opencontainers.image.created", created.to_owned()),
    ]
}

fn umoci(args: &[&str], paths: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    cmd::run(Command::new("umoci").args(args).args(paths))
        .context("umoci failed; `cargo xtask setup` installs it (Debian's umoci)")
}

/// `2026-12-02T06:00:00Z` for a Unix time.
fn rfc3339(epoch: u64) -> anyhow::Result<String> {
    let text = cmd::output(
        Command::new("date")
            .args(["-u", "-d"])
            .arg(format!("@{epoch}"))
            .arg("+%Y-%m-%dT%H:%M:%SZ"),
    )?;
    Ok(text.trim().to_owned())
}

/// Replaces the layout's per-architecture tags with one image index (tag VERSION) listing
/// both manifests with their platforms; returns the index's digest.
fn write_index(
    layout: &Path,
    version: &str,
    binaries: &[(Arch, PathBuf)],
) -> anyhow::Result<String> {
    let path = layout.join("index.json");
    let index: Value =
        serde_json::from_str(&fs::read_to_string(&path)?).context("umoci's index.json")?;
    let descriptors = index["manifests"]
        .as_array()
        .ok_or_else(|| anyhow!("index.json lists no manifests"))?;
    let mut manifests = Vec::new();
    for (arch, _) in binaries {
        let descriptor = descriptors
            .iter()
            .find(|descriptor| descriptor["annotations"][REF_NAME] == arch.debian)
            .ok_or_else(|| anyhow!("umoci's layout has no {} image", arch.debian))?;
        manifests.push(json!({
            "mediaType": descriptor["mediaType"],
            "digest": descriptor["digest"],
            "size": descriptor["size"],
            "platform": {"architecture": arch.debian, "os": "linux"},
        }));
    }
    let image_index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": manifests,
    }))?;
    let hex = ebpf::sha256_hex(&image_index);
    fs::write(layout.join("blobs/sha256").join(&hex), &image_index)?;
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": INDEX_MEDIA_TYPE,
            "digest": format!("sha256:{hex}"),
            "size": image_index.len(),
            "annotations": {REF_NAME: version},
        }],
    });
    fs::write(&path, serde_json::to_vec(&top)?)?;
    Ok(format!("sha256:{hex}"))
}
