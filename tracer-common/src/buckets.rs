//! Log-linear histogram buckets, shared by the probes (which only compute bucket indices) and
//! the collector (which turns indices back into value ranges).
//!
//! Values below `2^SUB_BITS` get one bucket each. Above that, every power of two `[2^p, 2^(p+1))`
//! is split into `2^SUB_BITS` equal buckets, so a bucket is never wider than `1/2^SUB_BITS` of
//! its lower bound. Reporting a bucket's midpoint is therefore off by at most half of that.
#![expect(
    clippy::cast_possible_truncation,
    reason = "bucket indices are below bucket_count() <= 65536 by construction"
)]

/// One bucket scheme: how finely each power of two is split and where values are clamped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheme {
    /// Each power of two is split into `2^sub_bits` buckets.
    pub sub_bits: u32,
    /// Values at or above `2^max_bits` land in the last bucket.
    pub max_bits: u32,
}

/// Payload sizes: exact below 256 B (so 178 B and 180 B are told apart), then 2 B wide up to
/// 512 B, 4 B up to 1 KiB, ...: within 0.4% everywhere.
pub const SIZE: Scheme = Scheme {
    sub_bits: 7,
    max_bits: 40,
};

/// Syscall latency in ns: buckets at most 1/32 of their value wide, midpoints within 1.6%.
pub const LATENCY: Scheme = Scheme {
    sub_bits: 5,
    max_bits: 40,
};

/// `floor(log2(v))` for `v > 0`, without loops or a count-leading-zeros instruction (BPF has
/// neither cheap), so the verifier sees straight-line code.
#[inline(always)]
#[must_use]
pub const fn log2_floor(mut v: u64) -> u32 {
    let mut r = 0;
    if v >= 1 << 32 {
        v >>= 32;
        r += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        r += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        r += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        r += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        r += 2;
    }
    if v >= 1 << 1 {
        r += 1;
    }
    r
}

impl Scheme {
    /// Number of buckets, i.e. one past the largest index [`Scheme::bucket`] returns.
    #[must_use]
    pub const fn bucket_count(self) -> u32 {
        (self.max_bits - self.sub_bits + 1) << self.sub_bits
    }

    /// Index of the bucket holding `v`.
    #[inline(always)]
    #[must_use]
    pub const fn bucket(self, v: u64) -> u16 {
        let linear = 1u64 << self.sub_bits;
        if v < linear {
            return v as u16;
        }
        if v >= 1u64 << self.max_bits {
            return (self.bucket_count() - 1) as u16;
        }
        let p = log2_floor(v);
        let shift = p - self.sub_bits;
        let group = (p - self.sub_bits + 1) as u64;
        ((group << self.sub_bits) + ((v >> shift) - linear)) as u16
    }

    /// Smallest value in bucket `index`.
    #[must_use]
    pub const fn lower_bound(self, index: u16) -> u64 {
        let index = index as u64;
        let linear = 1u64 << self.sub_bits;
        if index < linear {
            return index;
        }
        let group = index >> self.sub_bits;
        let offset = index & (linear - 1);
        (linear + offset) << (group - 1)
    }

    /// Number of distinct values bucket `index` holds.
    #[must_use]
    pub const fn width(self, index: u16) -> u64 {
        let group = (index as u64) >> self.sub_bits;
        if group == 0 { 1 } else { 1 << (group - 1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_inside_its_bucket() {
        for scheme in [SIZE, LATENCY] {
            let mut v = 0u64;
            while v < 1 << 39 {
                let b = scheme.bucket(v);
                let lo = scheme.lower_bound(b);
                assert!(
                    lo <= v && v < lo + scheme.width(b),
                    "{scheme:?} v={v} b={b} lo={lo}"
                );
                v = v + 1 + v / 97;
            }
        }
    }

    #[test]
    fn buckets_are_contiguous_and_bounded_in_relative_width() {
        for scheme in [SIZE, LATENCY] {
            for b in 1..scheme.bucket_count() as u16 {
                assert_eq!(
                    scheme.lower_bound(b),
                    scheme.lower_bound(b - 1) + scheme.width(b - 1),
                    "{scheme:?} bucket {b}"
                );
                let lo = scheme.lower_bound(b);
                assert!(scheme.width(b) * (1 << scheme.sub_bits) <= lo.max(1 << scheme.sub_bits));
            }
        }
    }

    #[test]
    fn http_response_sizes_of_the_mesh_story_are_told_apart() {
        assert_ne!(SIZE.bucket(178), SIZE.bucket(180));
        assert_eq!(SIZE.lower_bound(SIZE.bucket(180)), 180);
        assert_eq!(SIZE.lower_bound(SIZE.bucket(358)), 358);
    }

    #[test]
    fn log2_floor_matches_leading_zeros() {
        for v in [1u64, 2, 3, 255, 256, 1 << 33, u64::MAX] {
            assert_eq!(log2_floor(v), v.ilog2());
        }
    }

    #[test]
    fn huge_values_are_clamped_into_the_last_bucket() {
        assert_eq!(
            u32::from(LATENCY.bucket(u64::MAX)),
            LATENCY.bucket_count() - 1
        );
    }
}
