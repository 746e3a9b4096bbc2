//! `cargo xtask soak [--minutes 10]`: the most syscalls both cores can make — two
//! `tracer-demo workload ping-pong` processes, each a write+read loop over a socketpair — recorded
//! by the release `tracer record` for the given time, while the collector's memory (RSS from
//! /proc) and its maps' entry counts (bpftool) are sampled every second. It passes when the
//! RSS stays flat, the run file reports no loss at all, and each process's write and read
//! counts equal exactly what the workload did. Not part of `cargo xtask test` (it is long);
//! needs root.
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{cmd, collector, setup, tracer};

/// Bytes per write and read.
const MESSAGE_BYTES: u64 = 100;
/// RSS may grow by this much plus 10% between the first sample after warm-up and the end.
const RSS_SLACK_KIB: u64 = 2048;
/// First seconds of a recording, when the collector's caches fill (not held to "flat").
const WARM_UP: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// About how long the workload runs (its round count is calibrated to this).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Skip `cargo xtask setup` (everything is known to be installed).
    #[arg(long)]
    no_setup: bool,
    /// Where to keep the run file.
    #[arg(long, default_value = "target/soak/soak-run.json")]
    output: PathBuf,
}

/// One sample of the collector.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    map_entries: Option<u64>,
}

pub fn run(args: &SoakArgs) -> anyhow::Result<()> {
    if !cmd::is_root() {
        bail!("the soak loads eBPF probes: run it as root");
    }
    if args.minutes.is_nan() || args.minutes <= 0.0 {
        bail!("--minutes must be more than 0");
    }
    if !args.no_setup {
        setup::run()?;
    }
    let binary = tracer::build(tracer::TRACER)?;
    let workload = tracer::build(tracer::TRACER_DEMO)?;
    let output = cmd::workspace_root().join(&args.output);
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir)?;
    }

    // Rounds per process so that the traced run lasts about --minutes: the untraced rate of
    // two processes side by side, minus a margin for tracing.
    let rate = calibrate(&workload)?;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a positive round count far below 2^52"
    )]
    let rounds = (rate * args.minutes * 60.0 * 0.8) as u64;
    println!("soak: {rate:.0} write+read rounds/s per process untraced; {rounds} rounds each");

    let mut workloads = vec![
        start_workload(&workload, rounds)?,
        start_workload(&workload, rounds)?,
    ];
    let pids: Vec<u32> = workloads.iter().map(|(_, pid)| *pid).collect();
    let mut recorder = Command::new(&binary);
    recorder
        .args(["record", "--quiet", "--interval", "1s", "--label", "soak"])
        .args(
            pids.iter()
                .flat_map(|pid| ["--pid".to_owned(), pid.to_string()]),
        )
        .arg("-o")
        .arg(&output)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut recorder = recorder.spawn().context("could not start tracer record")?;
    let tracer_pid = recorder.id();
    let mut stderr = BufReader::new(recorder.stderr.take().context("no stderr")?);
    let mut line = String::new();
    stderr.read_line(&mut line)?;
    if !line.starts_with("tracer: recording") {
        bail!("tracer record did not start: {line}");
    }
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            eprintln!("{line}");
        }
    });
    let started = Instant::now();
    for pid in &pids {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid.cast_signed(), libc::SIGUSR1) };
    }

    let mut samples = Vec::new();
    let mut next_report = Duration::from_secs(30);
    let status = loop {
        if let Some(status) = recorder.try_wait()? {
            break status;
        }
        if let Some(rss_kib) = collector::process_kib(tracer_pid, "VmRSS:") {
            let at = started.elapsed();
            let map_entries = (samples.len() % 10 == 0)
                .then(|| map_entries(tracer_pid))
                .flatten();
            samples.push(Sample {
                at,
                rss_kib,
                map_entries,
            });
            if at >= next_report {
                println!(
                    "soak: {:>5.0} s  tracer RSS {rss_kib} KiB{}",
                    at.as_secs_f64(),
                    map_entries.map_or(String::new(), |n| format!(", {n} map entries"))
                );
                next_report += Duration::from_secs(30);
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    for (child, _) in &mut workloads {
        let status = child.wait()?;
        if !status.success() {
            bail!("a ping-pong workload failed ({status})");
        }
    }
    if !status.success() {
        bail!("tracer record failed ({status})");
    }
    let elapsed = started.elapsed();
    report(&output, &pids, rounds, &samples, elapsed)
}

/// Write+read rounds per second of one of two ping-pong processes running side by side.
fn calibrate(binary: &Path) -> anyhow::Result<f64> {
    const ROUNDS: u64 = 300_000;
    let started = Instant::now();
    let children: Vec<Child> = (0..2)
        .map(|_| {
            Command::new(binary)
                .args(["workload", "ping-pong", "--count", &ROUNDS.to_string()])
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut child in children {
        child.wait()?;
    }
    Ok(ROUNDS as f64 / started.elapsed().as_secs_f64())
}

fn start_workload(binary: &Path, rounds: u64) -> anyhow::Result<(Child, u32)> {
    let mut child = Command::new(binary)
        .args(["workload", "--wait-signal", "ping-pong", "--count"])
        .arg(rounds.to_string())
        .args(["--size", &MESSAGE_BYTES.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().context("no stdout")?).read_line(&mut line)?;
    let pid = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the workload said {line:?}"))?;
    Ok((child, pid))
}

/// Entries in the hash maps the process holds (ids from /proc/PID/fdinfo, counts from
/// bpftool): the maps that can grow. Arrays are left out; their size is fixed at creation (the
/// target flags alone have 524,288 entries, too many to dump every few seconds).
fn map_entries(pid: u32) -> Option<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .ok()?
        .flatten()
    {
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let Some(id) = info.lines().find_map(|l| l.strip_prefix("map_id:")) else {
            continue;
        };
        if is_array(&info) {
            continue;
        }
        let dump =
            cmd::output(Command::new("bpftool").args(["map", "dump", "id", id.trim(), "-j"]))
                .ok()?;
        total += count_json_entries(&dump);
    }
    Some(total)
}

/// Whether a map's fdinfo says it is an array (`BPF_MAP_TYPE_ARRAY` 2, `PERCPU_ARRAY` 6).
fn is_array(fdinfo: &str) -> bool {
    fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("map_type:"))
        .is_some_and(|kind| matches!(kind.trim(), "2" | "6"))
}

/// Number of top-level entries in bpftool's JSON array dump.
fn count_json_entries(dump: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(dump)
        .ok()
        .and_then(|v| v.as_array().map(|a| a.len() as u64))
        .unwrap_or(0)
}

fn report(
    output: &Path,
    pids: &[u32],
    rounds: u64,
    samples: &[Sample],
    elapsed: Duration,
) -> anyhow::Result<()> {
    let run = collector::read_run_file(output)?;
    let mut failures = Vec::new();
    let losses = &run["losses"];
    match collector::lost_counts(&run) {
        Ok(0) => {}
        Ok(_) => failures.push(format!("losses are not all zero: {losses}")),
        Err(error) => failures.push(format!("{error:#}")),
    }
    let mut total_calls = 0;
    for pid in pids {
        let Some(process) = run["processes"].as_array().and_then(|a| {
            a.iter()
                .find(|p| p["pid"].as_u64() == Some(u64::from(*pid)))
        }) else {
            failures.push(format!("process {pid} is missing from the run"));
            continue;
        };
        for syscall in ["write", "read"] {
            let stats = process["syscalls"]
                .as_array()
                .and_then(|a| a.iter().find(|s| s["syscall"] == syscall));
            let calls = stats.and_then(|s| s["calls"].as_u64()).unwrap_or(0);
            let bytes = stats.and_then(|s| s["bytes"].as_u64()).unwrap_or(0);
            total_calls += calls;
            if calls != rounds || bytes != rounds * MESSAGE_BYTES {
                failures.push(format!(
                    "pid {pid}: {calls} {syscall} calls of {bytes} B, the workload made {rounds} of {} B",
                    rounds * MESSAGE_BYTES
                ));
            }
        }
    }
    let after_warm_up: Vec<&Sample> = samples.iter().filter(|s| s.at >= WARM_UP).collect();
    let (first, last) = match (after_warm_up.first(), after_warm_up.last()) {
        (Some(first), Some(last)) => (**first, **last),
        _ => match (samples.first(), samples.last()) {
            (Some(first), Some(last)) => (*first, *last),
            _ => bail!("no RSS sample of the tracer was taken"),
        },
    };
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let entries: Vec<u64> = samples.iter().filter_map(|s| s.map_entries).collect();
    let seconds = elapsed.as_secs_f64();
    println!(
        "soak: {:.0} s recorded, {total_calls} syscalls ({:.0}/s)",
        seconds,
        total_calls as f64 / seconds
    );
    println!(
        "soak: tracer RSS {} KiB at {:.0} s, {} KiB at {:.0} s, peak {peak} KiB",
        first.rss_kib,
        first.at.as_secs_f64(),
        last.rss_kib,
        last.at.as_secs_f64()
    );
    if let (Some(min), Some(max)) = (entries.iter().min(), entries.iter().max()) {
        println!(
            "soak: map entries {min}..{max} over {} samples",
            entries.len()
        );
    }
    println!(
        "soak: probe cost {:.0} ns per run, losses {losses}",
        collector::ns_per_program_run(&run).unwrap_or(f64::NAN)
    );
    if last.rss_kib > first.rss_kib + first.rss_kib / 10 + RSS_SLACK_KIB {
        failures.push(format!(
            "tracer RSS grew from {} KiB to {} KiB",
            first.rss_kib, last.rss_kib
        ));
    }
    if !failures.is_empty() {
        bail!("soak failed: {}", failures.join("; "));
    }
    println!("soak: passed (run file {})", output.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_told_from_hash_maps_by_their_fdinfo() {
        assert!(is_array(
            "pos:\t0\nflags:\t02000002\nmap_type:\t2\nkey_size:\t4\n"
        ));
        assert!(is_array("map_type:\t6\n"));
        assert!(!is_array("map_type:\t1\nkey_size:\t4\n"));
        assert!(!is_array("map_type:\t5\n"));
        assert!(!is_array("pos:\t0\n"));
    }

    #[test]
    fn counts_bpftool_dump_entries() {
        assert_eq!(count_json_entries("[{\"key\":1},{\"key\":2}]"), 2);
        assert_eq!(count_json_entries("[]"), 0);
        assert_eq!(count_json_entries("not json"), 0);
    }
}
