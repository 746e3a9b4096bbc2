//! Every map and load-time setting of the probes, in one place. Names and capacities come from
//! `tracer_common` so the collector opens exactly these.
use aya_ebpf::{
    Global,
    bindings::BPF_F_MMAPABLE,
    macros::map,
    maps::{Array, CgroupArray, HashMap, PerCpuArray, PerCpuHashMap},
};
use tracer_common::{ExitInfo, FdKey, FdStats, HistKey, InFlight, capacity, counters};

#[map]
pub static TARGET_TGIDS: HashMap<u32, u32> = HashMap::with_max_entries(capacity::TARGET_TGIDS, 0);

#[map]
pub static TARGET_FLAGS: Array<u64> =
    Array::with_max_entries(capacity::TARGET_FLAG_WORDS, BPF_F_MMAPABLE);

#[map]
pub static TARGET_CGROUPS: CgroupArray = CgroupArray::with_max_entries(capacity::TARGET_CGROUPS, 0);

#[map]
pub static CGROUP_SLOT_TARGETS: Array<u32> =
    Array::with_max_entries(capacity::TARGET_CGROUPS, 0);

#[map]
pub static PENDING_EXEC: HashMap<u32, u32> = HashMap::with_max_entries(capacity::PENDING_EXEC, 0);

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
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counters::COUNT, 0);

/// 1 when targets are also selected by cgroup (`TARGET_CGROUPS`), 0 for tgids only.
#[unsafe(no_mangle)]
pub static FILTER_BY_CGROUP: Global<u32> = Global::new(0);

/// Offset of `child_pid` in the `sched:sched_process_fork` record (read from its format file).
#[unsafe(no_mangle)]
pub static FORK_CHILD_PID_OFFSET: Global<u32> = Global::new(20);

/// Offset of `group_dead` in the `sched:sched_process_exit` record; 0 if the kernel lacks it.
#[unsafe(no_mangle)]
pub static EXIT_GROUP_DEAD_OFFSET: Global<u32> = Global::new(0);

/// Whether `pid` is in the target set: one array read, no hash lookup (`TARGET_FLAGS`).
#[inline(always)]
pub fn is_target(pid: u32) -> bool {
    let (word, byte) = tracer_common::target_flag(pid);
    let Some(flags) = TARGET_FLAGS.get_ptr(word) else {
        return false;
    };
    // SAFETY: byte < 8 of an 8-byte map value that lives as long as the program.
    unsafe { flags.cast::<u8>().add(byte).read_volatile() != 0 }
}

/// Sets or clears `pid`'s byte in `TARGET_FLAGS`: a store of that byte alone.
#[inline(always)]
fn set_flag(pid: u32, value: u8) {
    let (word, byte) = tracer_common::target_flag(pid);
    if let Some(flags) = TARGET_FLAGS.get_ptr_mut(word) {
        // SAFETY: as in `is_target`; no other writer stores to this byte concurrently except
        // for the same pid, and those stores are whole, so either one wins.
        unsafe { flags.cast::<u8>().add(byte).write_volatile(value) };
    }
}

/// Puts `pid` in the target set: `TARGET_TGIDS` first (so whoever sees the flag finds the
/// target index), then its flag. False if the hash map is full (nothing is changed then).
#[inline(always)]
pub fn add_target(pid: u32, target: u32) -> bool {
    if TARGET_TGIDS.insert(&pid, &target, 0).is_err() {
        return false;
    }
    set_flag(pid, 1);
    true
}

/// Takes `pid` out of the target set: its flag first, then its `TARGET_TGIDS` entry.
#[inline(always)]
pub fn remove_target(pid: u32) {
    set_flag(pid, 0);
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
