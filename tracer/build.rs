//! Embeds the eBPF probes: the object `cargo xtask ebpf` built from tracer-ebpf for this
//! target's architecture and committed in tracer/ebpf/ (the probes have `bpf_target_arch`
//! code, so there is one object per architecture). Building tracer therefore needs only stable
//! Rust; `cargo xtask ebpf` (nightly, bpf-linker) is needed only when the probes change, and a
//! test (xtask `ebpf::tests`) fails when the committed objects are older than their sources.
use std::{env, fs, path::PathBuf};

fn main() {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let object = manifest_dir.join("ebpf").join(format!("tracer-{arch}.o"));
    println!("cargo:rerun-if-changed={}", object.display());
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("tracer");
    if let Err(error) = fs::copy(&object, &out) {
        panic!(
            "tracer's eBPF probes for {arch} are missing ({}: {error}); tracer ships them for \
             x86_64 and aarch64 (see `cargo xtask ebpf --help` to build others)",
            object.display()
        );
    }
}
