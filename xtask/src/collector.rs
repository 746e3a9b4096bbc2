//! What `bench` and `soak` read about tracer's collector process while it records: its CPU time
//! and memory from /proc, and the losses it counted from its run file. One place, so both tasks
//! judge the collector by the same numbers.
use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, anyhow};

/// A `<field> <n> kB` line of /proc/PID/status (such as `VmRSS:` or `VmHWM:`), in KiB.
pub fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A memory figure of a running process (`VmRSS:` now, `VmHWM:` its peak), in KiB; None when the
/// process is gone.
pub fn process_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kib(&status, field)
}

/// The first field of a schedstat file: ns the task has spent on a CPU.
fn schedstat_on_cpu_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// On-CPU ns so far of all live threads of a process, from /proc/PID/task/*/schedstat: to the
/// ns, where /proc/PID/stat's utime and stime count 10 ms ticks, far coarser than what a quiet
/// collector uses in a second.
pub fn on_cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let tasks = Path::new("/proc").join(pid.to_string()).join("task");
    let mut total = 0;
    for task in
        fs::read_dir(&tasks).with_context(|| format!("could not list {}", tasks.display()))?
    {
        let path = task?.path().join("schedstat");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            // A thread that ended between the listing and the read took its time with it.
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("could not read {}", path.display()));
            }
        };
        total += schedstat_on_cpu_ns(&text)
            .ok_or_else(|| anyhow!("{} does not start with a number: {text:?}", path.display()))?;
    }
    Ok(total)
}

/// The collector's CPU time and memory while a workload runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// CPU time of all its threads while watched.
    pub cpu_ns: u64,
    /// That CPU time over the wall time watched, as a share of one core (0.01 = 1%).
    pub cpu_share: f64,
    /// Resident memory at the end (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident memory since it started (`VmHWM`), KiB: loading the probes included.
    pub peak_rss_kib: u64,
}

/// Watches a collector from a point on: `finish` must be called while it still runs (before it
/// is stopped), since its threads' CPU times and its status go with it.
pub struct Watch {
    pid: u32,
    cpu_ns: u64,
    started: Instant,
}

impl Watch {
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            cpu_ns: on_cpu_ns(pid).context("could not read the collector's CPU time")?,
            started: Instant::now(),
        })
    }

    pub fn finish(self) -> anyhow::Result<Usage> {
        let cpu_ns = on_cpu_ns(self.pid)
            .context("could not read the collector's CPU time")?
            .saturating_sub(self.cpu_ns);
        let wall_ns = self.started.elapsed().as_nanos();
        let memory = |field: &str| {
            process_kib(self.pid, field).ok_or_else(|| {
                anyhow!(
                    "could not read {field} from /proc/{}/status: the collector is gone",
                    self.pid
                )
            })
        };
        Ok(Usage {
            cpu_ns,
            cpu_share: cpu_ns as f64 / wall_ns.max(1) as f64,
            rss_kib: memory("VmRSS:")?,
            peak_rss_kib: memory("VmHWM:")?,
        })
    }
}

/// A run file tracer wrote, as JSON.
pub fn read_run_file(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("could not read the run file {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("the run file {} is not JSON", path.display()))
}

/// The sum of every loss counter of a run file (its `losses` object): calls, histogram samples,
/// children or exits that were not recorded. Anything but 0 means counts are missing.
pub fn lost_counts(run: &serde_json::Value) -> anyhow::Result<u64> {
    let losses = run["losses"]
        .as_object()
        .ok_or_else(|| anyhow!("the run file has no `losses` object"))?;
    losses.iter().try_fold(0_u64, |total, (name, value)| {
        let count = value
            .as_u64()
            .ok_or_else(|| anyhow!("the run file's losses.{name} is not a count: {value}"))?;
        Ok(total.saturating_add(count))
    })
}

/// The kernel's ns per run of tracer's programs (`probe.overhead.ns_per_run`), when the kernel
/// kept BPF run statistics.
pub fn ns_per_program_run(run: &serde_json::Value) -> Option<f64> {
    run["probe"]["overhead"]["ns_per_run"].as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_figures_are_read_from_proc_status() {
        let status = "Name:\ttracer\nVmHWM:\t   9000 kB\nVmRSS:\t   8123 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(8123));
        assert_eq!(status_kib(status, "VmHWM:"), Some(9000));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert!(process_kib(std::process::id(), "VmRSS:").is_some_and(|kib| kib > 0));
    }

    #[test]
    fn cpu_time_is_the_first_schedstat_field_summed_over_threads() {
        assert_eq!(schedstat_on_cpu_ns("7732011 120993 41\n"), Some(7_732_011));
        assert_eq!(schedstat_on_cpu_ns(""), None);
        assert_eq!(schedstat_on_cpu_ns("x 1 2"), None);
        // This test's own process: its threads have run, and the clock only moves forward.
        let pid = std::process::id();
        let before = on_cpu_ns(pid).expect("own schedstat");
        let spin = Instant::now();
        while spin.elapsed().as_millis() < 20 {}
        let after = on_cpu_ns(pid).expect("own schedstat");
        assert!(after > before, "{before} -> {after}");
    }

    #[test]
    fn the_watch_reports_a_share_of_a_core_and_the_peak() {
        // A single-threaded child that spins: its CPU time only grows (a thread of this test
        // process could end mid-watch and take its time with it), and the watch ends once the
        // child has had 30 ms of CPU, however loaded the machine is.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .expect("sh starts");
        let watch = Watch::start(child.id()).expect("the child runs");
        let before_ns = watch.cpu_ns;
        let waited = Instant::now();
        while on_cpu_ns(child.id()).expect("the child runs") < 30_000_000 {
            assert!(
                waited.elapsed().as_secs() < 60,
                "the child got no CPU in 60 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let usage = watch.finish().expect("the child runs");
        child.kill().expect("kill the child");
        child.wait().expect("reap the child");
        assert!(
            usage.cpu_ns + before_ns >= 30_000_000,
            "{before_ns} ns before: {usage:?}"
        );
        assert!(
            usage.cpu_share > 0.0 && usage.cpu_share <= 1.01,
            "one thread: {usage:?}"
        );
        assert!(
            usage.rss_kib > 0 && usage.peak_rss_kib >= usage.rss_kib,
            "{usage:?}"
        );
        assert!(Watch::start(u32::MAX).is_err(), "no such process");
    }

    #[test]
    fn losses_are_summed_over_every_counter() {
        let run = serde_json::json!({
            "losses": {"calls_lost": 3, "histogram_samples_lost": 0, "in_flight_full": 4},
            "probe": {"overhead": {"run_time_ns": 500, "run_count": 4, "ns_per_run": 125.0}},
        });
        assert_eq!(lost_counts(&run).expect("counts"), 7);
        assert_eq!(ns_per_program_run(&run), Some(125.0));
        let complete = serde_json::json!({"losses": {"calls_lost": 0}, "probe": {}});
        assert_eq!(lost_counts(&complete).expect("counts"), 0);
        assert_eq!(ns_per_program_run(&complete), None);
        assert!(lost_counts(&serde_json::json!({})).is_err(), "no losses");
        assert!(
            lost_counts(&serde_json::json!({"losses": {"calls_lost": "many"}})).is_err(),
            "not a count"
        );
    }
}
