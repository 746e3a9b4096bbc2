//! Histograms as stored in run files: the kernel's sparse log-linear buckets turned into value
//! ranges, with percentiles estimated from them and their error bound stated.
use serde::{Deserialize, Serialize};
use tracer_common::buckets::Scheme;

/// A sparse histogram: only buckets with samples are listed, in ascending order.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Histogram {
    /// Number of samples.
    pub count: u64,
    pub buckets: Vec<Bucket>,
    /// Percentiles are bucket midpoints: within this fraction of the true value (0 = exact).
    pub max_relative_error: f64,
    pub percentiles: Percentiles,
}

/// `count` samples with values in `[low, low + width)`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bucket {
    pub low: u64,
    pub width: u64,
    pub count: u64,
}

/// The percentiles every report shows.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    /// Largest sample (upper end of the highest bucket unless known exactly).
    pub max: u64,
}

impl Histogram {
    /// Builds a histogram from `(bucket index, count)` pairs of a kernel scheme.
    #[must_use]
    pub fn from_buckets(scheme: Scheme, counts: impl IntoIterator<Item = (u16, u64)>) -> Self {
        let mut buckets: Vec<Bucket> = counts
            .into_iter()
            .filter(|&(_, count)| count > 0)
            .map(|(index, count)| Bucket {
                low: scheme.lower_bound(index),
                width: scheme.width(index),
                count,
            })
            .collect();
        buckets.sort_by_key(|b| b.low);
        buckets.dedup_by(|later, earlier| {
            let same = later.low == earlier.low;
            if same {
                earlier.count += later.count;
            }
            same
        });
        Self::from_sorted(buckets)
    }

    fn from_sorted(buckets: Vec<Bucket>) -> Self {
        let count = buckets.iter().map(|b| b.count).sum();
        let max_relative_error = buckets
            .iter()
            .map(|b| {
                if b.width <= 1 {
                    0.0
                } else {
                    (b.width - 1) as f64 / 2.0 / b.low as f64
                }
            })
            .fold(0.0, f64::max);
        let mut histogram = Self {
            count,
            buckets,
            max_relative_error,
            percentiles: Percentiles::default(),
        };
        histogram.percentiles = Percentiles {
            p50: histogram.quantile(0.50),
            p75: histogram.quantile(0.75),
            p90: histogram.quantile(0.90),
            p99: histogram.quantile(0.99),
            p999: histogram.quantile(0.999),
            max: histogram.buckets.last().map_or(0, |b| b.low + b.width - 1),
        };
        histogram
    }

    /// The value at quantile `q` (0..=1): the midpoint of the bucket holding the sample of
    /// rank `ceil(q * count)`; 0 for an empty histogram.
    #[must_use]
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "q in 0..=1"
        )]
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        // Saturating: a run file edited by hand may hold any numbers (a width of 0, counts
        // that overflow), and reading one must not panic.
        let mut seen = 0u64;
        for bucket in &self.buckets {
            seen = seen.saturating_add(bucket.count);
            if seen >= rank {
                return bucket
                    .low
                    .saturating_add(bucket.width.saturating_sub(1) / 2);
            }
        }
        self.percentiles.max
    }

    /// Mean estimated from bucket midpoints.
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let sum: f64 = self
            .buckets
            .iter()
            .map(|b| (b.low as f64 + b.width.saturating_sub(1) as f64 / 2.0) * b.count as f64)
            .sum();
        sum / self.count as f64
    }

    /// The samples per bucket, indexed for lookups by a bucket's `low`: reports look up every
    /// shown size in every histogram, and a run file may hold any number of buckets, in any
    /// order, so each lookup must not be a scan.
    #[must_use]
    pub fn shares(&self) -> Shares {
        let mut by_low: Vec<(u64, u64)> = self.buckets.iter().map(|b| (b.low, b.count)).collect();
        // Already in order unless the file was edited: then a linear check.
        if !by_low.is_sorted_by_key(|&(low, _)| low) {
            by_low.sort_unstable_by_key(|&(low, _)| low);
        }
        by_low.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = earlier.1.saturating_add(later.1);
            }
            same
        });
        Shares {
            total: self.count,
            by_low,
        }
    }

    /// Adds another histogram of the same scheme (e.g. another process's).
    #[must_use]
    pub fn merged(&self, other: &Self) -> Self {
        let mut buckets: Vec<Bucket> = self.buckets.iter().chain(&other.buckets).copied().collect();
        buckets.sort_by_key(|b| b.low);
        buckets.dedup_by(|later, earlier| {
            let same = later.low == earlier.low;
            if same {
                earlier.count += later.count;
            }
            same
        });
        Self::from_sorted(buckets)
    }
}

/// A histogram's counts by bucket `low`, from [`Histogram::shares`].
#[derive(Clone, Debug, Default)]
pub struct Shares {
    total: u64,
    /// `(low, count)` by ascending `low`, each `low` once.
    by_low: Vec<(u64, u64)>,
}

impl Shares {
    /// Samples in the bucket starting at `low` (0 if none).
    #[must_use]
    pub fn count(&self, low: u64) -> u64 {
        self.by_low
            .binary_search_by_key(&low, |&(low, _)| low)
            .map_or(0, |at| self.by_low[at].1)
    }

    /// [`Self::fraction`] for each of `lows`, which must be in ascending order: one walk.
    #[must_use]
    pub fn fractions(&self, lows: &[u64]) -> Vec<f64> {
        let mut at = 0;
        lows.iter()
            .map(|&low| {
                while self.by_low.get(at).is_some_and(|&(seen, _)| seen < low) {
                    at += 1;
                }
                match self.by_low.get(at) {
                    Some(&(seen, count)) if seen == low && self.total > 0 => {
                        count as f64 / self.total as f64
                    }
                    _ => 0.0,
                }
            })
            .collect()
    }

    /// Fraction (0..=1) of all samples in the bucket starting at `low`; 0 when empty.
    #[must_use]
    pub fn fraction(&self, low: u64) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.count(low) as f64 / self.total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use tracer_common::buckets::{LATENCY, SIZE};

    use super::*;

    #[test]
    fn sizes_below_256_bytes_are_exact() {
        let h = Histogram::from_buckets(SIZE, [(SIZE.bucket(180), 10), (SIZE.bucket(178), 10)]);
        assert_eq!(
            h.buckets
                .iter()
                .map(|b| (b.low, b.count))
                .collect::<Vec<_>>(),
            [(178, 10), (180, 10)]
        );
        assert_eq!(h.percentiles.p50, 178);
        assert_eq!(h.percentiles.p75, 180);
        assert!(h.max_relative_error == 0.0);
    }

    #[test]
    fn latency_percentiles_are_within_the_stated_error() {
        let value = 20_000_000u64;
        let h = Histogram::from_buckets(LATENCY, [(LATENCY.bucket(value), 5)]);
        let p50 = h.percentiles.p50 as f64;
        assert!((p50 - value as f64).abs() / value as f64 <= h.max_relative_error);
        assert!(h.max_relative_error < 0.02);
    }

    #[test]
    fn quantiles_follow_ranks_and_merging_adds_counts() {
        let a = Histogram::from_buckets(SIZE, [(1, 90), (2, 9)]);
        let b = Histogram::from_buckets(SIZE, [(3, 1)]);
        let m = a.merged(&b);
        assert_eq!(m.count, 100);
        assert_eq!(
            (m.quantile(0.9), m.quantile(0.99), m.quantile(1.0)),
            (1, 2, 3)
        );
        assert_eq!(m.percentiles.max, 3);
        assert!((m.mean() - 1.11).abs() < 1e-9);
        assert_eq!(Histogram::default().quantile(0.5), 0);
        let shares = m.shares();
        assert_eq!(
            shares.fractions(&[0, 1, 2, 2, 3, 9]),
            [0.0, 0.9, 0.09, 0.09, 0.01, 0.0]
        );
        assert_eq!(shares.count(2), 9);
    }
}
