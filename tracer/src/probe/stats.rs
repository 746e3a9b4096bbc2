//! Sampling the probes' own cost. The kernel times every BPF program run while some process
//! holds a `BPF_ENABLE_STATS` fd — with two clock reads per run, which on the development VM
//! cost ~75 ns per run, ~150 ns per traced syscall: more than a third of the probes' whole
//! cost (BENCHMARKS.md). So by default the kernel times them during one interval in ten, and
//! the run file gives the measured ns per run with the share of the run it was measured in.
//! The collector switches timing on and off at the interval ticks it wakes for anyway.
use std::{
    os::fd::OwnedFd,
    time::{Duration, Instant},
};

/// In how much of a recording the kernel times tracer's programs, in percent of the intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostSampling {
    percent: u8,
}

impl CostSampling {
    /// Always on: exact totals, at the price of the kernel's timing on every program run.
    pub const ALWAYS: Self = Self { percent: 100 };

    /// `percent` of the intervals, 0 (off) to 100 (always).
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

    /// Whether interval `index` (0 = the first) is timed: spread evenly, the first always
    /// (unless off), so even a one-interval run has figures.
    #[must_use]
    pub fn times_interval(self, index: usize) -> bool {
        (index as u64 * u64::from(self.percent)) % 100 < u64::from(self.percent)
    }
}

impl Default for CostSampling {
    /// 10%: figures from every tenth interval, at a tenth of the timing's cost.
    fn default() -> Self {
        Self { percent: 10 }
    }
}

/// Holds a `BPF_ENABLE_STATS` fd during the timed intervals and keeps the time it was held.
pub struct CostTimer {
    sampling: CostSampling,
    /// Open while the current interval is timed.
    fd: Option<OwnedFd>,
    on_since: Option<Instant>,
    on_total: Duration,
    started: Instant,
    /// The kernel refused statistics once: do not ask again.
    refused: bool,
}

impl CostTimer {
    /// Starts the first interval.
    pub fn start(sampling: CostSampling) -> Self {
        let mut timer = Self {
            sampling,
            fd: None,
            on_since: None,
            on_total: Duration::ZERO,
            started: Instant::now(),
            refused: false,
        };
        timer.start_interval(0);
        timer
    }

    /// Interval `index` begins now: timing on or off for it.
    pub fn start_interval(&mut self, index: usize) {
        let on = self.sampling.times_interval(index) && !self.refused;
        match (on, self.fd.is_some()) {
            (true, false) => match aya::sys::enable_stats(aya::sys::Stats::RunTime) {
                Ok(fd) => {
                    self.fd = Some(fd);
                    self.on_since = Some(Instant::now());
                }
                Err(_) => self.refused = true,
            },
            (false, true) => self.switch_off(),
            _ => {}
        }
    }

    /// Ends timing; the share of the time since the start that the programs were timed, 0.0
    /// to 1.0, or `None` if they never were (off, or refused by the kernel).
    pub fn stop(&mut self) -> Option<f64> {
        self.switch_off();
        if self.on_total.is_zero() {
            return None;
        }
        if self.sampling == CostSampling::ALWAYS {
            return Some(1.0);
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        Some((self.on_total.as_secs_f64() / elapsed).min(1.0))
    }

    fn switch_off(&mut self) {
        // The time is counted before the fd closes, so the share never exceeds what was timed.
        if let Some(since) = self.on_since.take() {
            self.on_total += since.elapsed();
        }
        self.fd = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timed(sampling: CostSampling, intervals: usize) -> Vec<usize> {
        (0..intervals)
            .filter(|&index| sampling.times_interval(index))
            .collect()
    }

    #[test]
    fn the_timed_intervals_are_the_share_asked_for_spread_out() {
        assert_eq!(CostSampling::default(), CostSampling::percent(10).unwrap());
        assert_eq!(timed(CostSampling::default(), 30), [0, 10, 20]);
        assert_eq!(timed(CostSampling::ALWAYS, 4), [0, 1, 2, 3]);
        assert_eq!(
            timed(CostSampling::percent(0).unwrap(), 100),
            [] as [usize; 0]
        );
        assert_eq!(timed(CostSampling::percent(50).unwrap(), 6), [0, 2, 4]);
        assert_eq!(timed(CostSampling::percent(30).unwrap(), 100).len(), 30);
        assert!(CostSampling::percent(101).is_err());
    }
}
