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
        /// `Array<u64>`: one byte per thread id, 1 while that thread of a target is inside a
        /// traced syscall (set at entry, cleared at exit and at thread exit; laid out as
        /// `TARGET_FLAGS`). The scheduler probe's first test for both tasks of every context
        /// switch: an array read, so only threads in a traced syscall pay for the
        /// waiting/on-CPU split. Written only by the thread itself: no atomics needed.
        IN_SYSCALL,
        /// `HashMap<u32 tid, ThreadExit>`: CPU time of threads of targets that exited, read
        /// from the kernel's own accounting as the thread dies; drained by the collector.
        THREAD_EXITS,
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
        /// Offset of the accumulated on-CPU time (`se.sum_exec_runtime`, ns) in
        /// `struct task_struct` (from the kernel's BTF; 0 if unknown: exits carry no CPU).
        TASK_RUNTIME_OFFSET: u32,
        /// Where the probes find what file an fd is: offsets of `task_struct.files`,
        /// `files_struct.fdt`, `fdtable.max_fds`, `fdtable.fd`, `file.f_inode`,
        /// `inode.i_mode` and `inode.i_ino`, from the kernel's BTF, packed as
        /// [`FileOffsets`](crate::FileOffsets); all 0 if unknown (every fd is then of kind
        /// [`fd_kind::UNKNOWN`](crate::fd_kind::UNKNOWN)).
        FILE_OFFSETS: crate::FileOffsets,
        /// 1 (the default) to split each call's time into waiting and on-CPU; 0 leaves the
        /// split out (the default: `record --waiting-split` sets 1).
        WAITING_SPLIT: u32,
    }
}

/// Where the `sched:sched_switch` record keeps the fields the scheduler probe reads: the same
/// on every kernel tracer supports (`prev_comm[16]` at 8, `prev_pid`, `prev_prio`, `long
/// prev_state` at 32, `next_comm[16]` at 40, `next_pid` at 56), so the probe loads them
/// directly; the collector checks them against the kernel's format file and leaves the probe
/// off where they differ.
pub mod sched_switch {
    /// Offset of `long prev_state`.
    pub const PREV_STATE: usize = 32;
    /// Offset of `pid_t next_pid`.
    pub const NEXT_PID: usize = 56;
    /// Size of the record up to `next_pid`'s end.
    pub const LEN: usize = 60;
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
    /// Words of `IN_SYSCALL`: a byte for every possible thread id, as `TARGET_FLAG_WORDS`.
    pub const IN_SYSCALL_WORDS: u32 = TARGET_FLAG_WORDS;
    /// Thread exits between two drains by the collector (one interval, normally a second).
    pub const THREAD_EXITS: u32 = 65_536;
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
    /// A thread's CPU time at exit could not be recorded in `THREAD_EXITS` (full): that
    /// thread's CPU is only as the collector last sampled it.
    pub const THREAD_EXITS_NOT_RECORDED: u32 = 6;
    pub const COUNT: u32 = 7;
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
    /// What the fd was at entry: one of [`fd_kind`], and its inode number.
    pub kind: u32,
    pub _pad: u32,
    pub inode: u64,
    /// When the scheduler last switched the thread out inside this call (0: on a CPU).
    pub off_cpu_since_ns: u64,
    /// Time spent switched out inside this call so far.
    pub waiting_ns: u64,
}
const _: () = assert!(size_of::<InFlight>() == 48);

/// What kind of file an fd is, as the probes tell it at the time of the call from the file's
/// inode mode (`S_IFMT` bits).
pub mod fd_kind {
    /// Not known: no such fd, or this kernel's BTF lacks the offsets.
    pub const UNKNOWN: u32 = 0;
    /// `S_IFREG`.
    pub const REGULAR: u32 = 1;
    /// `S_IFSOCK`.
    pub const SOCKET: u32 = 2;
    /// `S_IFIFO`: pipes and FIFOs.
    pub const PIPE: u32 = 3;
    /// `S_IFCHR`: terminals, `/dev/null`, `/dev/zero`, ...
    pub const CHAR_DEVICE: u32 = 4;
    /// No file type bits: anonymous inodes (eventfd, timerfd, signalfd, epoll).
    pub const ANON: u32 = 5;
    /// Directories, block devices, symlinks.
    pub const OTHER: u32 = 6;

    /// The kind of an inode with mode `mode` (`i_mode`).
    #[inline(always)]
    #[must_use]
    pub const fn of_mode(mode: u16) -> u32 {
        match mode & 0o170_000 {
            0o100_000 => REGULAR,
            0o140_000 => SOCKET,
            0o010_000 => PIPE,
            0o020_000 => CHAR_DEVICE,
            0 => ANON,
            _ => OTHER,
        }
    }
}

/// Byte offsets of the kernel struct members the probes follow from a task to an fd's inode
/// (see [`globals::FILE_OFFSETS`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileOffsets {
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_max_fds: u32,
    pub fdt_fd: u32,
    pub file_inode: u32,
    pub inode_mode: u32,
    pub inode_ino: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<FileOffsets>() == 32);

/// A thread of a target that exited: its process and its on-CPU time over its whole life.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadExit {
    /// The thread's process.
    pub tgid: u32,
    /// 1 once the value was read at the thread's last switch-out (final to the ns); 0 while it
    /// is as read at `sched_process_exit` (short by the time since the scheduler's last
    /// update, at most a tick).
    pub settled: u32,
    /// `se.sum_exec_runtime`: ns on a CPU since the thread started.
    pub runtime_ns: u64,
}
const _: () = assert!(size_of::<ThreadExit>() == 16);

/// Key of the per-fd counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FdKey {
    pub tgid: u32,
    pub fd: i32,
    pub syscall: u32,
    /// What the fd was at the time of the call ([`fd_kind`]) ...
    pub kind: u32,
    /// ... and its inode number: an fd number closed and reused for another file is another
    /// key, so per-fd counters never merge two files.
    pub inode: u64,
}
const _: () = assert!(size_of::<FdKey>() == 24);

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
    /// Sum of the time the calls spent switched out (waiting for data, a lock, or a CPU);
    /// `latency_total_ns - waiting_total_ns` is their on-CPU time.
    pub waiting_total_ns: u64,
}
const _: () = assert!(size_of::<FdStats>() == 64);

impl FdStats {
    /// Adds one completed call that returned `ret` after `latency_ns`, `waiting_ns` of which
    /// switched out.
    #[inline(always)]
    pub fn record(&mut self, ret: i64, latency_ns: u64, waiting_ns: u64) {
        self.calls += 1;
        self.latency_total_ns += latency_ns;
        self.waiting_total_ns += waiting_ns;
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
        self.waiting_total_ns += other.waiting_total_ns;
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
    /// Time switched out inside the call, ns, bucketed by [`crate::buckets::LATENCY`].
    pub const WAITING: u8 = 3;
    /// Time on a CPU inside the call (latency minus waiting), ns, as `LATENCY`.
    pub const ON_CPU: u8 = 4;
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
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ThreadExit {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FileOffsets {}
}
