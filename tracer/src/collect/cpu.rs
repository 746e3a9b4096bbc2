//! On-CPU time of traced processes: the sum over their threads of the first field of
//! `/proc/PID/task/TID/schedstat` (ns, exact) for live threads, and for threads that exited
//! the kernel's own total as the thread died (`se.sum_exec_runtime`, which the probes read at
//! its last switch-out: see [`ProcessCpu::thread_exited`]), so a process that lived less than
//! an interval has all of its CPU. User/system time is from `/proc/PID/stat` (clock ticks),
//! while the process lives.
use std::collections::HashMap;

/// CPU bookkeeping of one process.
#[derive(Debug, Default)]
pub struct ProcessCpu {
    /// tid -> (on-CPU ns when first seen by us or 0 if born during the run, latest value).
    threads: HashMap<u32, (u64, u64)>,
    /// (user, system) ticks at first sight (0 if born during the run), then latest.
    ticks_baseline: Option<(u64, u64)>,
    ticks_latest: (u64, u64),
    /// Whether the process existed when the recording started (its earlier CPU is excluded).
    existed_at_start: bool,
    /// Start time (clock ticks after boot) of the process first sampled: a PID that shows a
    /// different one later was reused by another process after ours exited.
    started_ticks: Option<u64>,
}

impl ProcessCpu {
    /// `existed_at_start`: the process was already running when recording began, so only CPU
    /// from now on counts; otherwise all of its CPU does.
    #[must_use]
    pub fn new(existed_at_start: bool) -> Self {
        Self {
            existed_at_start,
            ..Self::default()
        }
    }

    /// Reads the process's threads; returns false when the process is gone (including when
    /// its PID now belongs to another process).
    pub fn sample(&mut self, pid: u32) -> bool {
        let Some(started) = read_start_ticks(pid) else {
            return false;
        };
        if *self.started_ticks.get_or_insert(started) != started {
            return false;
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        let first_sample = self.ticks_baseline.is_none();
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(on_cpu) = read_schedstat(&task.path().join("schedstat")) else {
                continue;
            };
            let entry = self.threads.entry(tid).or_insert_with(|| {
                let baseline = if first_sample && self.existed_at_start {
                    on_cpu
                } else {
                    0
                };
                (baseline, on_cpu)
            });
            entry.1 = on_cpu.max(entry.1);
        }
        if let Some(ticks) = read_stat_ticks(pid) {
            if self.ticks_baseline.is_none() {
                self.ticks_baseline = Some(if self.existed_at_start { ticks } else { (0, 0) });
            }
            self.ticks_latest = ticks;
        }
        true
    }

    /// Thread `tid` exited having run `runtime_ns` over its whole life (the kernel's figure):
    /// that is its final value, whether or not a sample saw it alive.
    pub fn thread_exited(&mut self, tid: u32, runtime_ns: u64) {
        let entry = self.threads.entry(tid).or_insert((0, runtime_ns));
        entry.1 = entry.1.max(runtime_ns);
    }

    /// On-CPU ns since the start of the recording (or of the process).
    #[must_use]
    pub fn on_cpu_ns(&self) -> u64 {
        self.threads
            .values()
            .map(|(baseline, latest)| latest.saturating_sub(*baseline))
            .sum()
    }

    /// (user, system) ns since the start, at clock-tick resolution.
    #[must_use]
    pub fn user_system_ns(&self) -> Option<(u64, u64)> {
        let (user0, system0) = self.ticks_baseline?;
        let tick_ns = tick_ns();
        Some((
            self.ticks_latest.0.saturating_sub(user0) * tick_ns,
            self.ticks_latest.1.saturating_sub(system0) * tick_ns,
        ))
    }
}

fn read_schedstat(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// utime and stime (fields 14 and 15) of /proc/PID/stat, in clock ticks; they include
/// threads that already exited.
fn read_stat_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) may hold spaces and parentheses: fields restart after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// Start time (field 22 of /proc/PID/stat), in clock ticks after boot.
fn read_start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

fn tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    1_000_000_000 / u64::try_from(hz).ok().filter(|&hz| hz > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_this_process_cpu_since_first_sample_only() {
        let mut cpu = ProcessCpu::new(true);
        assert!(cpu.sample(std::process::id()));
        let before = cpu.on_cpu_ns();
        // Burn 50 ms of this thread's own CPU time (an independent clock), however busy the
        // machine is.
        let thread_cpu_ns = || {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: valid timespec pointer.
            unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
            ts.tv_sec.cast_unsigned() * 1_000_000_000 + ts.tv_nsec.cast_unsigned()
        };
        let start = thread_cpu_ns();
        let mut x = 0u64;
        while thread_cpu_ns() - start < 50_000_000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(cpu.sample(std::process::id()));
        let spent = cpu.on_cpu_ns() - before;
        assert!(
            spent >= 50_000_000,
            "burned 50 ms of CPU, counted {spent} ns"
        );
        assert!(
            before < 50_000_000,
            "time before the first sample must not count ({before} ns)"
        );
        assert!(!cpu.sample(u32::MAX - 1), "a missing process reports gone");
    }

    #[test]
    fn a_reused_pid_reports_gone_and_adds_nothing() {
        let mut cpu = ProcessCpu::new(true);
        assert!(cpu.sample(std::process::id()));
        let before = cpu.on_cpu_ns();
        // As if our process had started at another time: the PID now names someone else.
        cpu.started_ticks = cpu.started_ticks.map(|t| t + 1);
        assert!(!cpu.sample(std::process::id()));
        assert_eq!(cpu.on_cpu_ns(), before);
    }
}
