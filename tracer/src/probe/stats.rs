//! Sampling the probes' own cost, when asked (`record --cost-sampling`; off by default). The
//! kernel times every BPF program run while some process holds a `BPF_ENABLE_STATS` fd — with
//! two clock reads per run, which on the development VM cost ~50 ns per run, ~100 ns per
//! traced syscall and as much again on every other process: as much as tracer's own filtering
//! (BENCHMARKS.md). So a share below 100% switches the statistics on for the first part of
//! every second, and the run file gives the measured ns per run with the share it was
//! measured in.
//!
//! Why off by default: the statistics are a static key (`bpf_stats_enabled_key`), and every
//! switch rewrites kernel code in place (`static_key_slow_inc/dec` → jump-label patching with
//! `text_poke_bp`, an `int3` breakpoint on the site while the other CPUs sync), inside the very
//! function that runs every tracepoint program (`bpf_trace_run*`). In the kernel-matrix guests
//! two switches a second made a 6.12 kernel oops (`int3` in `bpf_trace_run2`) and panic and a
//! 6.1 kernel hang (under emulation, but a node agent must not take that risk): with sampling
//! off the kernel code is never patched. 100% switches once at the start and once at the end,
//! as `sysctl kernel.bpf_stats_enabled` would.
//!
//! A small thread does the switching (two wake-ups a second), so the windows do not depend on
//! the collector's interval: a 300 ms benchmark loop and a 10-minute recording are both timed
//! in the same share of their time.
use std::{
    os::fd::OwnedFd,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// The sampling period: statistics are on for `percent` of each, at its start.
const PERIOD: Duration = Duration::from_secs(1);

/// How much of a recording the kernel times tracer's programs in, in percent of the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostSampling {
    percent: u8,
}

impl CostSampling {
    /// Always on: exact totals, at the price of the kernel's timing on every program run.
    pub const ALWAYS: Self = Self { percent: 100 };

    /// `percent` of the time, 0 (off) to 100 (always).
    ///
    /// # Errors
    /// Above 100.
    pub fn percent(percent: u8) -> Result<Self, String> {
        if percent > 100 {
            return Err(format!(
                "{percent}% is more than all of the time: give 0 to 100"
            ));
        }
        Ok(Self { percent })
    }

    /// The share, in percent.
    #[must_use]
    pub const fn as_percent(self) -> u8 {
        self.percent
    }

    /// How long statistics are on in each period.
    fn window(self) -> Duration {
        PERIOD * u32::from(self.percent) / 100
    }
}

impl CostSampling {
    /// Never: the kernel's code is never patched to switch its statistics (see the module
    /// docs); the run file then has no probe overhead figures.
    pub const OFF: Self = Self { percent: 0 };
}

impl Default for CostSampling {
    /// Off: the node-safe choice (see the module docs).
    fn default() -> Self {
        Self::OFF
    }
}

/// Holds a `BPF_ENABLE_STATS` fd during the first `window` of every period, from a thread;
/// stops (closing the fd) when stopped or dropped.
pub struct CostTimer {
    sampling: CostSampling,
    started: Instant,
    stop: Arc<AtomicBool>,
    /// ns the statistics were on, counted when each window closes.
    on_ns: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl CostTimer {
    /// Starts timing now (the first window opens at once, so even a short run has figures).
    /// Off, or refused by the kernel: a timer that never measures.
    pub fn start(sampling: CostSampling) -> Self {
        let mut timer = Self {
            sampling,
            started: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
            on_ns: Arc::new(AtomicU64::new(0)),
            thread: None,
        };
        if sampling.percent == 0 {
            return timer;
        }
        // Refused now means refused later: no thread that cannot measure.
        let Some(first) = enable() else {
            return timer;
        };
        let stop = Arc::clone(&timer.stop);
        let on_ns = Arc::clone(&timer.on_ns);
        timer.thread = thread::Builder::new()
            .name("tracer-cost".into())
            .spawn(move || switch(sampling, first, &stop, &on_ns))
            .ok();
        timer
    }

    /// Ends timing; the share of the time since the start that the programs were timed, 0.0
    /// to 1.0, or `None` if they never were (off, or refused by the kernel).
    pub fn stop(&mut self) -> Option<f64> {
        let thread = self.thread.take()?;
        self.stop.store(true, Ordering::Relaxed);
        thread.thread().unpark();
        let _ = thread.join();
        if self.sampling == CostSampling::ALWAYS {
            return Some(1.0);
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let on = Duration::from_nanos(self.on_ns.load(Ordering::Relaxed)).as_secs_f64();
        Some((on / elapsed).min(1.0))
    }
}

impl Drop for CostTimer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn enable() -> Option<OwnedFd> {
    aya::sys::enable_stats(aya::sys::Stats::RunTime).ok()
}

/// The thread: statistics on for the first `window` of each period (`first` is already
/// open), off for the rest, until `stop`.
fn switch(sampling: CostSampling, first: OwnedFd, stop: &AtomicBool, on_ns: &AtomicU64) {
    let window = sampling.window();
    let mut fd = Some(first);
    let mut period_start = Instant::now();
    loop {
        sleep_until(period_start + window, stop);
        if window < PERIOD {
            // The time is counted before the fd closes, so the share never exceeds what was
            // timed.
            add(on_ns, period_start.elapsed());
            drop(fd.take());
        }
        if stop.load(Ordering::Relaxed) {
            if fd.is_some() {
                add(on_ns, period_start.elapsed());
            }
            return;
        }
        sleep_until(period_start + PERIOD, stop);
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if window == PERIOD {
            add(on_ns, period_start.elapsed());
        }
        period_start += PERIOD;
        if fd.is_none() {
            fd = enable();
        }
    }
}

fn add(total: &AtomicU64, elapsed: Duration) {
    total.fetch_add(
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// Sleeps until `deadline`, or less if `stop` is set (the stopper unparks this thread).
fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        thread::park_timeout(deadline - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_share_of_each_second_asked_for() {
        assert_eq!(CostSampling::default(), CostSampling::OFF);
        assert_eq!(CostSampling::default().window(), Duration::ZERO);
        assert_eq!(
            CostSampling::percent(10).unwrap().window(),
            Duration::from_millis(100)
        );
        assert_eq!(CostSampling::ALWAYS.window(), PERIOD);
        assert_eq!(CostSampling::percent(0).unwrap().window(), Duration::ZERO);
        assert_eq!(
            CostSampling::percent(25).unwrap().window(),
            Duration::from_millis(250)
        );
        assert!(CostSampling::percent(101).is_err());
    }

    #[test]
    fn sleeping_ends_early_when_stopped() {
        let stop = AtomicBool::new(true);
        let started = Instant::now();
        sleep_until(started + Duration::from_mins(1), &stop);
        assert!(started.elapsed() < Duration::from_mins(1));
    }

    #[test]
    fn a_timer_that_is_off_never_measures() {
        let mut timer = CostTimer::start(CostSampling::percent(0).unwrap());
        assert_eq!(timer.stop(), None);
    }
}
