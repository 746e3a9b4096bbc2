//! Sampling the probes' own cost. The kernel times every BPF program run while some process
//! holds a `BPF_ENABLE_STATS` fd — with two clock reads per run, which on the development VM
//! cost ~75 ns per run, ~150 ns per traced syscall: more than a third of the probes' whole
//! cost (BENCHMARKS.md). So by default the statistics are on for 100 ms of every second, and the
//! run file gives the measured ns per run with the share of the run it was measured in.
use std::{
    os::fd::OwnedFd,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// The sampling period: statistics are on for `percent` of each.
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

    /// The share of time, 0.0 to 1.0.
    #[must_use]
    pub fn share(self) -> f64 {
        f64::from(self.percent) / 100.0
    }
}

impl Default for CostSampling {
    /// 10%: statistics to within a few percent for a run of seconds, at a tenth of their cost.
    fn default() -> Self {
        Self { percent: 10 }
    }
}

/// A thread holding a `BPF_ENABLE_STATS` fd during the sampled part of every period; stops
/// (and closes the fd) when dropped.
pub struct StatsSampler {
    stop: Arc<AtomicBool>,
    /// ns the statistics were on, so far (including the current window when it ends).
    on_ns: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    started: Instant,
    sampling: CostSampling,
}

impl StatsSampler {
    /// Starts sampling; `None` when sampling is off or the kernel refuses statistics.
    pub fn start(sampling: CostSampling) -> Option<Self> {
        if sampling.percent == 0 {
            return None;
        }
        // Refused here means refused later: do not start a thread that cannot measure.
        let first = enable()?;
        let stop = Arc::new(AtomicBool::new(false));
        let on_ns = Arc::new(AtomicU64::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let on_ns = Arc::clone(&on_ns);
            thread::Builder::new()
                .name("tracer-stats".into())
                .spawn(move || sample(sampling, first, &stop, &on_ns))
                .ok()?
        };
        Some(Self {
            stop,
            on_ns,
            thread: Some(thread),
            started: Instant::now(),
            sampling,
        })
    }

    /// Stops sampling (the current window ends now) and returns the share of the time since
    /// the start that statistics were on, 0.0 to 1.0.
    pub fn stop(mut self) -> f64 {
        self.join();
        if self.sampling == CostSampling::ALWAYS {
            return 1.0;
        }
        let elapsed = self.started.elapsed().as_nanos() as f64;
        if elapsed == 0.0 {
            return 0.0;
        }
        (self.on_ns.load(Ordering::Relaxed) as f64 / elapsed).min(1.0)
    }

    fn join(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for StatsSampler {
    fn drop(&mut self) {
        self.join();
    }
}

fn enable() -> Option<OwnedFd> {
    aya::sys::enable_stats(aya::sys::Stats::RunTime).ok()
}

/// The sampler thread: on for `share` of each period, starting with `first` already open.
fn sample(sampling: CostSampling, first: OwnedFd, stop: &AtomicBool, on_ns: &AtomicU64) {
    let on = PERIOD.mul_f64(sampling.share());
    let mut fd = Some(first);
    loop {
        let window = Instant::now();
        if sampling.percent < 100 {
            sleep_unless_stopped(on, stop);
            // The window ends before counting it, so the share never exceeds what was timed.
            drop(fd.take());
            add_ns(on_ns, window.elapsed());
            if stop.load(Ordering::Relaxed) {
                return;
            }
            sleep_unless_stopped(PERIOD.saturating_sub(window.elapsed()), stop);
            if stop.load(Ordering::Relaxed) {
                return;
            }
            fd = enable();
        } else {
            sleep_unless_stopped(PERIOD, stop);
            add_ns(on_ns, window.elapsed());
            if stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

fn add_ns(total: &AtomicU64, elapsed: Duration) {
    total.fetch_add(
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) {
    let until = Instant::now() + duration;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        thread::park_timeout(until - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_a_share_of_the_time() {
        assert_eq!(CostSampling::default(), CostSampling::percent(10).unwrap());
        assert!((CostSampling::default().share() - 0.1).abs() < 1e-12);
        assert!((CostSampling::ALWAYS.share() - 1.0).abs() < 1e-12);
        assert_eq!(CostSampling::percent(0).map(CostSampling::share), Ok(0.0));
        assert!(CostSampling::percent(101).is_err());
    }

    #[test]
    fn sleeping_ends_early_when_stopped() {
        let stop = AtomicBool::new(true);
        let started = Instant::now();
        sleep_unless_stopped(Duration::from_mins(1), &stop);
        assert!(started.elapsed() < Duration::from_mins(1));
    }
}
