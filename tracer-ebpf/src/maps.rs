//! Every map and load-time setting of the probes, in one place. Their names are those of
//! `tracer_common::maps` and `tracer_common::globals` (checked when this compiles), their
//! capacities `tracer_common::capacity`, so the collector opens and sets exactly these.
use aya_ebpf::{
    Global,
    bindings::BPF_F_MMAPABLE,
    macros::map,
    maps::{Array, CgroupArray, HashMap, PerCpuArray, PerCpuHashMap},
};
use tracer_common::{
    ExitInfo, FdKey, FdStats, FileOffsets, GlobalName, HistKey, InFlight, ThreadExit, capacity,
    counters,
};

/// Declares the maps, each under its `tracer_common::maps` name: naming that constant here is
/// what makes a map the collector does not know (or a misspelt one) fail to compile, and the
/// count assertion what makes one it knows but this side lacks fail.
macro_rules! maps {
    ($( $name:ident: $map:ty = $init:expr; )*) => {
        $(
            #[map]
            pub static $name: $map = $init;
        )*

        const _: () = {
            let declared = [$(tracer_common::maps::$name),*];
            assert!(
                declared.len() == tracer_common::maps::ALL.len(),
                "declare every map of tracer_common::maps"
            );
        };
    };
}

/// Declares the load-time settings, each under its `tracer_common::globals` name and with its
/// value type there (checked as for the maps).
macro_rules! globals {
    ($( $name:ident: $value:ty = $default:expr; )*) => {
        $(
            #[unsafe(no_mangle)]
            pub static $name: Global<$value> = Global::new($default);
        )*

        const _: () = {
            $( let _: GlobalName<$value> = tracer_common::globals::$name; )*
            assert!(
                [$(stringify!($name)),*].len() == tracer_common::globals::ALL.len(),
                "declare every global of tracer_common::globals"
            );
        };
    };
}

maps! {
    TARGET_TGIDS: HashMap<u32, u32> = HashMap::with_max_entries(capacity::TARGET_TGIDS, 0);
    TARGET_FLAGS: Array<u64> = Array::with_max_entries(capacity::TARGET_FLAG_WORDS, BPF_F_MMAPABLE);
    TARGET_CGROUPS: CgroupArray = CgroupArray::with_max_entries(capacity::TARGET_CGROUPS, 0);
    CGROUP_SLOT_TARGETS: Array<u32> = Array::with_max_entries(capacity::TARGET_CGROUPS, 0);
    PENDING_EXEC: HashMap<u32, u32> = HashMap::with_max_entries(capacity::PENDING_EXEC, 0);
    IN_FLIGHT: HashMap<u32, InFlight> = HashMap::with_max_entries(capacity::IN_FLIGHT, 0);
    FD_STATS: PerCpuHashMap<FdKey, FdStats> =
        PerCpuHashMap::with_max_entries(capacity::FD_STATS, 0);
    OVERFLOW_STATS: PerCpuHashMap<FdKey, FdStats> =
        PerCpuHashMap::with_max_entries(capacity::OVERFLOW_STATS, 0);
    HISTOGRAMS: PerCpuHashMap<HistKey, u64> =
        PerCpuHashMap::with_max_entries(capacity::HISTOGRAMS, 0);
    EXITS: HashMap<u32, ExitInfo> = HashMap::with_max_entries(capacity::EXITS, 0);
    COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counters::COUNT, 0);
    EXEC_NAMES: HashMap<u32, [u8; 16]> = HashMap::with_max_entries(capacity::EXEC_NAMES, 0);
    IN_SYSCALL: Array<u64> = Array::with_max_entries(capacity::IN_SYSCALL_WORDS, 0);
    THREAD_EXITS: HashMap<u32, ThreadExit> =
        HashMap::with_max_entries(capacity::THREAD_EXITS, 0);
}

// What each setting means: `tracer_common::globals`. The defaults are what a kernel without
// the format files would have.
globals! {
    FILTER_BY_CGROUP: u32 = 0;
    FORK_CHILD_PID_OFFSET: u32 = 20;
    EXIT_GROUP_DEAD_OFFSET: u32 = 0;
    TASK_SIGNAL_OFFSET: u32 = 0;
    SIGNAL_LIVE_OFFSET: u32 = 0;
    SYSCALL_MASK: u32 = tracer_common::syscalls::ALL_MASK;
    TASK_RUNTIME_OFFSET: u32 = 0;
    WAITING_SPLIT: u32 = 1;
    FILE_OFFSETS: FileOffsets = FileOffsets {
        task_files: 0,
        files_fdt: 0,
        fdt_max_fds: 0,
        fdt_fd: 0,
        file_inode: 0,
        inode_mode: 0,
        inode_ino: 0,
        _pad: 0,
    };
}

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

/// Whether thread `tid` of a target is inside a traced syscall: one array read (`IN_SYSCALL`).
#[inline(always)]
pub fn in_syscall(tid: u32) -> bool {
    let (word, byte) = tracer_common::target_flag(tid);
    let Some(flags) = IN_SYSCALL.get_ptr(word) else {
        return false;
    };
    // SAFETY: as in `is_target`.
    unsafe { flags.cast::<u8>().add(byte).read_volatile() != 0 }
}

/// Marks the current thread `tid` as inside a traced syscall, or not: only the thread itself
/// (or its exit, which it runs) writes its byte.
#[inline(always)]
pub fn set_in_syscall(tid: u32, value: u8) {
    set_byte(&IN_SYSCALL, tid, value);
}

/// Sets or clears `pid`'s byte in `TARGET_FLAGS`: a store of that byte alone.
#[inline(always)]
fn set_flag(pid: u32, value: u8) {
    set_byte(&TARGET_FLAGS, pid, value);
}

#[inline(always)]
fn set_byte(map: &Array<u64>, pid: u32, value: u8) {
    let (word, byte) = tracer_common::target_flag(pid);
    if let Some(flags) = map.get_ptr_mut(word) {
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
