//! Project tasks, run as `cargo xtask <task>`: `setup` installs what the build and tests need,
//! `test` is the whole CI, `tracer`/`demo` build and run the tool, `bench` measures overhead,
//! `vmtest` runs the root-only tests on the kernel matrix in VMs.
//! Plain Rust instead of shell scripts so the steps are testable and fail with one sentence.
mod bench;
mod checks;
mod cmd;
mod collector;
mod dist;
mod ebpf;
mod fuzz;
mod setup;
mod soak;
mod stable_install;
mod toolchain;
mod tracer;
mod vmtest;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tracer's project tasks.
#[derive(Debug, Parser)]
#[command(name = "xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install what building and testing tracer needs (fast when it is all there).
    Setup,
    /// Set up, then run every check: cargo test, and the deploy/ manifests if any.
    Test(checks::TestArgs),
    /// Set up, build the release tracer and run it: `cargo xtask tracer -- record ...`.
    Tracer(tracer::TracerArgs),
    /// Set up, build the release tracer-demo and run it: the ambient-mesh blog's experiments
    /// (`--scenario keepalive|connection-close|nagle|all`, `--runs N`) in three modes.
    Demo(tracer::DemoArgs),
    /// Measure what syscall tracers cost per syscall (needs root); writes a Markdown table.
    Bench(bench::BenchArgs),
    /// Fuzz the parsers (cargo-fuzz, nightly): `--seconds 30` in `test`, `--minutes 30` long.
    Fuzz(fuzz::FuzzArgs),
    /// Record the busiest workload both cores can make for minutes: flat RSS, nothing lost.
    Soak(soak::SoakArgs),
    /// Build what users install into target/dist/: static tarballs, .deb, OCI image, SHA256SUMS.
    Dist(dist::DistArgs),
    /// `cargo install --path tracer` with stable Rust alone (no nightly, no bpf-linker on PATH).
    StableInstall,
    /// Build the eBPF probes (pinned nightly, bpf-linker) into tracer/ebpf/, where tracer embeds them.
    Ebpf(ebpf::EbpfArgs),
    /// Boot Debian's 5.10, 6.1 and 6.12 kernels in qemu (virtme-ng) and run the root-only tests.
    Vmtest(vmtest::VmtestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Setup => setup::run(),
        Task::Test(args) => checks::run(&args),
        Task::Tracer(args) => tracer::tracer(&args),
        Task::Demo(args) => tracer::demo(&args),
        Task::Bench(args) => bench::run(&args),
        Task::Fuzz(args) => fuzz::run(&args),
        Task::Soak(args) => soak::run(&args),
        Task::Vmtest(args) => vmtest::run(&args),
        Task::Ebpf(args) => ebpf::run(&args),
        Task::Dist(args) => dist::run(&args),
        Task::StableInstall => stable_install::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}
