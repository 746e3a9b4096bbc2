//! Every map and load-time setting of the probes, in one place. Names and capacities come from
//! `tracer_common` so the collector opens exactly these.
use core::intrinsics::{AtomicOrdering, atomic_and, atomic_or};

use aya_ebpf::{
    Global,
    bindings::BPF_F_MMAPABLE,
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
};
use tracer_common::{ExitInfo, FdKey, FdStats, HistKey, InFlight, capacity, counters};

#[map]
pub static TARGET_TGIDS: HashMap<u32, u32> = HashMap::with_max_entries(capacity::TARGET_TGIDS, 0);

#[map]
pub static TARGET_BITS: Array<u64> =
    Array::with_max_entries(capacity::TARGET_BIT_WORDS, BPF_F_MMAPABLE);

#[map]
pub static TARGET_CGROUPS: HashMap<u64, u32> =
    HashMap::with_max_entries(capacity::TARGET_CGROUPS, 0);

#[map]
pub static IN_FLIGHT: HashMap<u64, InFlight> = HashMap::with_max_entries(capacity::IN_FLIGHT, 0);

#[map]
pub static FD_STATS: PerCpuHashMap<FdKey, FdStats> =
    PerCpuHashMap::with_max_entries(capacity::FD_STATS, 0);

#[map]
pub static OVERFLOW_STATS: PerCpuHashMap<FdKey, FdStats> =
    PerCpuHashMap::with_max_entries(capacity::OVERFLOW_STATS, 0);

#[map]
pub static HISTOGRAMS: PerCpuHashMap<HistKey, u64> =
    PerCpuHashMap::with_max_entries(capacity::HISTOGRAMS, 0);

#[map]
pub static EXITS: HashMap<u32, ExitInfo> = HashMap::with_max_entries(capacity::EXITS, 0);

#[map]
pub static CGROUP_LEVELS: Array<u32> = Array::with_max_entries(capacity::CGROUP_LEVELS, 0);

#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counters::COUNT, 0);

/// 1 when targets are also selected by cgroup id (`TARGET_CGROUPS`), 0 for tgids only.
#[unsafe(no_mangle)]
pub static FILTER_BY_CGROUP: Global<u32> = Global::new(0);

/// Offset of `child_pid` in the `sched:sched_process_fork` record (read from its format file).
#[unsafe(no_mangle)]
pub static FORK_CHILD_PID_OFFSET: Global<u32> = Global::new(20);

/// Offset of `group_dead` in the `sched:sched_process_exit` record; 0 if the kernel lacks it.
#[unsafe(no_mangle)]
pub static EXIT_GROUP_DEAD_OFFSET: Global<u32> = Global::new(0);

/// Whether `pid` is in the target set: one array read, no hash lookup (`TARGET_BITS`).
#[inline(always)]
pub fn is_target(pid: u32) -> bool {
    let (word, mask) = tracer_common::target_bit(pid);
    TARGET_BITS.get(word).is_some_and(|bits| bits & mask != 0)
}

/// Puts `pid` in the target set: `TARGET_TGIDS` first (so whoever sees the bit finds the
/// target index), then its bit. False if the hash map is full (nothing is changed then).
#[inline(always)]
pub fn add_target(pid: u32, target: u32) -> bool {
    if TARGET_TGIDS.insert(&pid, &target, 0).is_err() {
        return false;
    }
    let (word, mask) = tracer_common::target_bit(pid);
    if let Some(bits) = TARGET_BITS.get_ptr_mut(word) {
        // SAFETY: a valid, aligned map value that lives as long as the program; every writer
        // (other CPUs, the collector through mmap) uses atomic operations on it. (The BPF
        // target has atomic read-modify-write instructions but no compare-and-swap, so core's
        // `AtomicU64::fetch_or` is not offered there; the intrinsic is what it would call.)
        unsafe { atomic_or::<u64, u64, { AtomicOrdering::Relaxed }>(bits, mask) };
    }
    true
}

/// Takes `pid` out of the target set: its bit first, then its `TARGET_TGIDS` entry.
#[inline(always)]
pub fn remove_target(pid: u32) {
    let (word, mask) = tracer_common::target_bit(pid);
    if let Some(bits) = TARGET_BITS.get_ptr_mut(word) {
        // SAFETY: as in `add_target`.
        unsafe { atomic_and::<u64, u64, { AtomicOrdering::Relaxed }>(bits, !mask) };
    }
    let _ = TARGET_TGIDS.remove(&pid);
}

/// Adds one to a loss counter.
#[inline(always)]
pub fn bump(counter: u32) {
    if let Some(value) = COUNTERS.get_ptr_mut(counter) {
        // SAFETY: per-CPU slot, and BPF programs are not preempted by each other on one CPU
        // for the same map slot in these program types.
        unsafe { *value += 1 };
    }
}
