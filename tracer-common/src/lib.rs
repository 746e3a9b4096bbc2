//! Everything the kernel probes and the userspace collector must agree on: map names, map
//! key/value layouts, syscall indices and the log-linear histogram bucket scheme.
//!
//! Layout rules (shared with the BPF verifier, so they are strict): `#[repr(C)]`, explicit
//! padding fields, no `bool` or enums across the boundary, and a size assertion per struct.
#![no_std]
#![expect(
    clippy::inline_always,
    reason = "called by the probes on every syscall: BPF wants straight-line code"
)]
#![expect(
    clippy::pub_underscore_fields,
    reason = "explicit padding fields of structs shared with the kernel"
)]

pub mod buckets;
pub mod syscalls;

#[doc(hidden)]
pub use pastey as __pastey;

/// Map names, shared so that `tracer/src/probe` finds exactly the maps `tracer-ebpf` declares.
pub mod maps {
    /// A `&str` constant per row, whose value is the row's identifier, and `ALL`. tracer-ebpf
    /// declares its maps with the same identifiers and names these constants as it does, so a
    /// map only one side knows fails to compile; the contract test in `tracer/src/probe` checks
    /// that the built object has each.
    macro_rules! map_names {
        ($( $(#[$doc:meta])* $name:ident, )*) => {
            $( $(#[$doc])* pub const $name: &str = stringify!($name); )*

            /// Every map above: the probes' object must declare each.
            pub const ALL: [&str; [$($name),*].len()] = [$($name),*];
        };
    }

    map_names! {
        /// `HashMap<u32 tgid, u32 target index>`: processes whose syscalls are counted, and the
        /// target (as given on the command line) each belongs to; children inherit it.
        TARGET_TGIDS,
        /// `Array<u64>` (mmapable): one byte per pid, 1 exactly for the pids in `TARGET_TGIDS`
        /// (see [`crate::target_flag`]). The probes' first test on every syscall: an array read
        /// the verifier inlines costs a few ns where a hash lookup costs tens, so processes tracer
        /// does not target pay almost nothing beyond the kernel's own tracepoint cost. A byte, not
        /// a bit, so that every writer (a probe, or the collector through an mmap of the map)
        /// stores its own byte: no read-modify-write of a word other pids share, hence no atomic
        /// instructions, which BPF has only since Linux 5.12.
        TARGET_FLAGS,
        /// `CgroupArray`: the cgroup v2 folders whose processes are counted (pods, containers), one
        /// per slot from slot 0 on. A task is matched with `bpf_current_task_under_cgroup`, which
        /// is true in the cgroup and every cgroup below it (containers started later in a pod), and
        /// which tracing programs have on every kernel since 4.9 — unlike
        /// `bpf_get_current_ancestor_cgroup_id`, which 5.10's verifier refuses in them.
        TARGET_CGROUPS,
        /// `Array<u32>`: for each slot of `TARGET_CGROUPS`, its target index + 1; 0 = unused slot
        /// (and every later slot unused too). Written after the slot's folder.
        CGROUP_SLOT_TARGETS,
        /// `HashMap<u32 pid, u32 target index>`: a command tracer started, held just before its
        /// exec; the `sched_process_exec` probe moves it into the target set at exec, so counting
        /// starts exactly at the command's first instruction and never includes tracer's own
        /// start-up handshake in the child (which raced with adding the target).
        PENDING_EXEC,
        /// `HashMap<u64 pid_tgid, InFlight>`: one slot per traced thread, rewritten at each syscall
        /// entry, consumed (start 0) at exit, removed when the thread exits.
        IN_FLIGHT,
        /// `PerCpuHashMap<FdKey, FdStats>`: the counters, per (tgid, syscall, fd).
        FD_STATS,
        /// `PerCpuHashMap<FdKey, FdStats>` keyed with `fd = FD_OVERFLOW`: calls whose fd key did not
        /// fit in `FD_STATS`, so per-syscall totals stay exact when the per-fd breakdown overflows.
        OVERFLOW_STATS,
        /// `PerCpuHashMap<HistKey, u64>`: sparse histograms (payload size, latency, errno).
        HISTOGRAMS,
        /// `HashMap<u32 tgid, ExitInfo>`: targeted processes that exited during the run.
        EXITS,
        /// `PerCpuArray<u64>`: loss counters, indexed by [`crate::counters`].
        COUNTERS,
        /// `HashMap<u32 tgid, [u8; 16] comm>`: the name a targeted process took at its last
        /// exec (`sched_process_exec`), removed at its exit (whose `ExitInfo` has the name then),
        /// so names follow exec (`bash` that execs `sleep` is `sleep`) even when the process is
        /// gone before the collector reads `/proc`. A full map loses only such a name, never a
        /// count: the collector falls back to `/proc/PID/comm` then.
        EXEC_NAMES,
    }
}

/// The name of one of the probes' globals (a setting written into the object before it is
/// loaded), with the type of its value, so that the collector writes a value of its size.
#[derive(Clone, Copy, Debug)]
pub struct GlobalName<T> {
    pub name: &'static str,
    value: core::marker::PhantomData<fn() -> T>,
}

impl<T> GlobalName<T> {
    #[must_use]
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            value: core::marker::PhantomData,
        }
    }
}

/// The probes' load-time settings (`aya_ebpf::Global`s), declared by tracer-ebpf with the same
/// identifiers and value types (checked when it compiles), set by the collector at load.
pub mod globals {
    use crate::GlobalName;

    macro_rules! global_names {
        ($( $(#[$doc:meta])* $name:ident: $value:ty, )*) => {
            $( $(#[$doc])* pub const $name: GlobalName<$value> = GlobalName::new(stringify!($name)); )*

            /// Every global above with the size of its value: the object must have each.
            pub const ALL: [(&str, usize); [$(stringify!($name)),*].len()] =
                [$((stringify!($name), size_of::<$value>())),*];
        };
    }

    global_names! {
        /// 1 when targets are also selected by cgroup (`TARGET_CGROUPS`), 0 for tgids only.
        FILTER_BY_CGROUP: u32,
        /// Offset of `child_pid` in the `sched:sched_process_fork` record (read from its
        /// format file).
        FORK_CHILD_PID_OFFSET: u32,
        /// Offset of `group_dead` in the `sched:sched_process_exit` record; 0 if the kernel
        /// lacks it.
        EXIT_GROUP_DEAD_OFFSET: u32,
        /// Where kernels without `group_dead` (before 6.?; 5.10 has none) tell a thread
        /// group's last exit: offset of `signal` in `struct task_struct` (from the kernel's
        /// BTF; 0 if unknown) ...
        TASK_SIGNAL_OFFSET: u32,
        /// ... and of `live` (threads not yet exiting) in `struct signal_struct`.
        SIGNAL_LIVE_OFFSET: u32,
        /// The syscalls counted (`record --syscalls`): bit `i` set for the syscall of index
        /// `i` ([`crate::syscalls::NAMES`]); the entry probes ignore the others.
        SYSCALL_MASK: u32,
    }
}

/// Where `pid`'s byte lives in `TARGET_FLAGS`: the word (map element) and the byte within it;
/// byte `pid` of the map's memory. Pids beyond the map (impossible on Linux, see
/// [`capacity::TARGET_FLAG_WORDS`]) give a word past the end, which the array lookup refuses.
#[inline(always)]
#[must_use]
pub const fn target_flag(pid: u32) -> (u32, usize) {
    (pid / 8, (pid % 8) as usize)
}

/// Map capacities. Bounded on purpose: what does not fit is counted, never silently dropped.
pub mod capacity {
    pub const TARGET_TGIDS: u32 = 65_536;
    /// Words of `TARGET_FLAGS`: a byte for every possible pid (the kernel's `PID_MAX_LIMIT`
    /// on 64-bit is 4,194,304 = 524,288 × 8), 4 MiB.
    pub const TARGET_FLAG_WORDS: u32 = 524_288;
    /// Cgroup targets of one recording (pods, containers, cgroups). Every syscall of a process
    /// not yet known is tested against each used slot in turn, so this stays small.
    pub const TARGET_CGROUPS: u32 = 64;
    pub const PENDING_EXEC: u32 = 64;
    pub const IN_FLIGHT: u32 = 65_536;
    pub const FD_STATS: u32 = 65_536;
    pub const OVERFLOW_STATS: u32 = 16_384;
    pub const HISTOGRAMS: u32 = 131_072;
    pub const EXITS: u32 = 65_536;
    /// Live targeted processes that exec'd (entries leave at exit).
    pub const EXEC_NAMES: u32 = 16_384;
}

/// Indices into the `COUNTERS` per-CPU array: events the probes could not record in full.
pub mod counters {
    /// A call's (tgid, syscall, fd) key did not fit in `FD_STATS`; it went to `OVERFLOW_STATS`.
    pub const FD_KEYS_OVERFLOWED: u32 = 0;
    /// A call fitted in neither `FD_STATS` nor `OVERFLOW_STATS`: it is lost from the counts.
    pub const CALLS_LOST: u32 = 1;
    /// A histogram bucket could not be inserted: the histogram misses this sample.
    pub const HISTOGRAM_SAMPLES_LOST: u32 = 2;
    /// A thread's syscall slot could not be made (`IN_FLIGHT` full): its calls are not counted.
    pub const IN_FLIGHT_FULL: u32 = 3;
    /// A forked child of a target could not be added to `TARGET_TGIDS`: it is not traced.
    pub const CHILDREN_NOT_TRACED: u32 = 4;
    /// A target's exit could not be recorded in `EXITS`.
    pub const EXITS_NOT_RECORDED: u32 = 5;
    pub const COUNT: u32 = 6;
}

/// The fd value used in `OVERFLOW_STATS` keys (no real fd is negative).
pub const FD_OVERFLOW: i32 = -1;

/// `errno` value of EAGAIN (== EWOULDBLOCK on Linux), counted apart from other errors.
pub const EAGAIN: i64 = 11;

/// What a thread is doing between syscall entry and exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    /// `bpf_ktime_get_ns()` at entry.
    pub start_ns: u64,
    /// First syscall argument (the fd) truncated to 32 bits, as the kernel does.
    pub fd: i32,
    /// Index into [`syscalls::NAMES`].
    pub syscall: u32,
}
const _: () = assert!(size_of::<InFlight>() == 16);

/// Key of the per-fd counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FdKey {
    pub tgid: u32,
    pub fd: i32,
    pub syscall: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<FdKey>() == 16);

/// Counters of one (tgid, syscall, fd), per CPU. Sums of `ret`, never payload contents.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdStats {
    /// Completed calls (entry and exit both seen).
    pub calls: u64,
    /// Sum of positive return values: payload bytes moved.
    pub bytes: u64,
    /// Calls that returned a negative errno, EAGAIN included.
    pub errors: u64,
    /// Calls that returned -EAGAIN / -EWOULDBLOCK.
    pub eagain: u64,
    /// Calls that returned 0 (end of file, or an empty read/write).
    pub zero_returns: u64,
    /// Sum of exit-minus-entry times.
    pub latency_total_ns: u64,
    /// Largest exit-minus-entry time.
    pub latency_max_ns: u64,
}
const _: () = assert!(size_of::<FdStats>() == 56);

impl FdStats {
    /// Adds one completed call that returned `ret` after `latency_ns`.
    #[inline(always)]
    pub fn record(&mut self, ret: i64, latency_ns: u64) {
        self.calls += 1;
        self.latency_total_ns += latency_ns;
        if latency_ns > self.latency_max_ns {
            self.latency_max_ns = latency_ns;
        }
        match ret {
            1.. => self.bytes += ret.cast_unsigned(),
            0 => self.zero_returns += 1,
            _ => {
                self.errors += 1;
                if ret == -EAGAIN {
                    self.eagain += 1;
                }
            }
        }
    }

    /// Adds another CPU's (or interval's) counters to these.
    pub fn merge(&mut self, other: &Self) {
        self.calls += other.calls;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.eagain += other.eagain;
        self.zero_returns += other.zero_returns;
        self.latency_total_ns += other.latency_total_ns;
        self.latency_max_ns = self.latency_max_ns.max(other.latency_max_ns);
    }
}

/// Histogram kinds stored in `HISTOGRAMS`.
pub mod hist_kind {
    /// Payload size of calls with `ret > 0`, bucketed by [`crate::buckets::SIZE`].
    pub const SIZE: u8 = 0;
    /// Exit-minus-entry time in ns, bucketed by [`crate::buckets::LATENCY`].
    pub const LATENCY: u8 = 1;
    /// Error returns; the bucket is the errno itself.
    pub const ERRNO: u8 = 2;
}

/// Key of one histogram bucket of one (tgid, syscall).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistKey {
    pub tgid: u32,
    pub syscall: u8,
    /// One of [`hist_kind`].
    pub kind: u8,
    pub bucket: u16,
}
const _: () = assert!(size_of::<HistKey>() == 8);

/// A targeted process that exited (its last thread did).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitInfo {
    /// `bpf_ktime_get_ns()` (`CLOCK_MONOTONIC`) at exit.
    pub exit_ns: u64,
    /// The process name (`comm`) at exit, NUL-padded.
    pub comm: [u8; 16],
    /// Index of the target it belonged to.
    pub target: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<ExitInfo>() == 32);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are #[repr(C)], made only of integers, with explicit padding, so every
    // bit pattern is valid and there are no uninitialised bytes.
    unsafe impl aya::Pod for super::InFlight {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FdKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FdStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::HistKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ExitInfo {}
}
