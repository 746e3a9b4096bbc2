//! Kernel probes: loading, choosing the attach mechanism, target sets, and draining the maps
//! into plain Rust values ([`Snapshot`]). The only module that uses aya.
//!
//! Attach mechanisms, tried cheapest first under `--probe auto` (the order is what
//! `cargo xtask bench` measured; see BENCHMARKS.md): fentry/fexit, `tp_btf`, raw tracepoint,
//! syscall tracepoints. Each one that fails leaves a [`Fallback`] saying why, recorded in the
//! run file. Links are owned by the loaded object: dropping [`Probes`] (or the process dying,
//! even by SIGKILL) detaches everything, because the kernel frees programs with their last fd.
mod kernel_btf;
mod stats;
mod target_flags;
pub(crate) mod tracefs;

pub use stats::CostSampling;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use aya::{
    Btf, Ebpf, EbpfLoader, Endianness,
    maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap},
    programs::{BtfTracePoint, FEntry, FExit, ProgramError, RawTracePoint, TracePoint},
};
use tracer_common::{
    ExitInfo, FdKey, FdStats, FileOffsets, GlobalName, HistKey, ThreadExit, globals, maps, syscalls,
};

use crate::error::{ErrorKind, user};

/// The probes as built by tracer/build.rs.
static PROBES_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

/// How the probes hook into syscalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// fentry/fexit on each syscall's entry function (needs BTF and BPF trampolines).
    Fentry,
    /// BTF-typed raw tracepoints on `sys_enter/sys_exit` (needs BTF).
    TpBtf,
    /// Raw tracepoints on `sys_enter/sys_exit`.
    RawTracepoint,
    /// `syscalls:sys_enter`_*/`sys_exit`_* tracepoints (needs tracefs).
    Tracepoint,
}

impl Mechanism {
    /// Cheapest first; `--probe auto` tries them in this order.
    pub const PREFERENCE: [Self; 4] = [
        Self::Fentry,
        Self::TpBtf,
        Self::RawTracepoint,
        Self::Tracepoint,
    ];

    /// Name used in run files and messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Fentry => "fentry",
            Self::TpBtf => "tp_btf",
            Self::RawTracepoint => "raw_tracepoint",
            Self::Tracepoint => "tracepoint",
        }
    }

    /// Name `record --probe` takes.
    #[must_use]
    pub const fn option_name(self) -> &'static str {
        match self {
            Self::Fentry => "fentry",
            Self::TpBtf => "tp-btf",
            Self::RawTracepoint => "raw",
            Self::Tracepoint => "tracepoint",
        }
    }

    const fn needs_btf(self) -> bool {
        matches!(self, Self::Fentry | Self::TpBtf)
    }
}

/// An attach mechanism (or a lifecycle tracepoint, `category:event`) that could not be used,
/// and why; the collector copies these into the run file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    pub mechanism: String,
    pub reason: String,
}

/// What to load.
#[derive(Clone, Debug, Default)]
pub struct ProbeOptions {
    /// `None`: try every mechanism (cheapest first); `Some`: only this one.
    pub mechanism: Option<Mechanism>,
    /// Kernel BTF; `None` means /sys/kernel/btf/vmlinux.
    pub btf_path: Option<PathBuf>,
    /// Select targets by cgroup id too (pods, containers).
    pub filter_by_cgroup: bool,
    /// How much of the time the kernel times the probes (their self-cost figures).
    pub cost_sampling: CostSampling,
    /// The syscalls to count, as a mask of their indices (`syscalls::in_mask`); `None`: all.
    /// fentry and the syscall tracepoints attach only to these; `sys_enter` programs skip the
    /// others first thing.
    pub syscall_mask: Option<u32>,
    /// Leave out the waiting/on-CPU split and the scheduler probe (which also settles exiting
    /// threads' CPU): the benchmark's measure of what they cost.
    pub no_waiting_split: bool,
}

/// Loaded and attached probes.
pub struct Probes {
    ebpf: Ebpf,
    mechanism: Mechanism,
    fallbacks: Vec<Fallback>,
    /// Turns `BPF_ENABLE_STATS` on for part of every second.
    cost_timer: stats::CostTimer,
    /// Programs attached, by name, for the overhead figures.
    attached: Vec<&'static str>,
    /// Whether the `sched_process_exec` probe is attached, so that a started command can join
    /// the targets at its exec ([`Probes::add_tgid_at_exec`]).
    exec_attached: bool,
    /// Slots of `TARGET_CGROUPS` in use (filled in order).
    cgroup_slots: u32,
    /// The probes' first filter, kept in step with `TARGET_TGIDS`.
    target_flags: target_flags::TargetFlags,
    /// Entries of the per-CPU maps on this machine.
    capacities: Capacities,
    /// `ProbeOptions::syscall_mask`.
    syscall_mask: Option<u32>,
    /// Thread exits read by the last [`Probes::take_thread_exits`] but not yet settled.
    unsettled_exits: std::collections::BTreeSet<u32>,
}

/// Everything the maps hold, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Per (tgid, syscall, fd).
    pub fd_stats: BTreeMap<FdKey, FdStats>,
    /// Per (tgid, syscall), key fd = `FD_OVERFLOW`: calls whose fd key did not fit.
    pub overflow_stats: BTreeMap<FdKey, FdStats>,
    /// Sparse histogram buckets.
    pub histograms: BTreeMap<HistKey, u64>,
    /// Targeted processes that exited, with exit time, name and target.
    pub exits: BTreeMap<u32, ExitInfo>,
    /// Live targeted tgids (and threads of targets) -> target index.
    pub targets: BTreeMap<u32, u32>,
    /// Indexed by `tracer_common::counters`.
    pub losses: Vec<u64>,
    /// Targeted processes that exec'd and whose exit was not recorded (so still running,
    /// where exits are recorded): the name (`comm`) the last exec gave them. Read by
    /// [`Probes::snapshot`] only.
    pub exec_names: BTreeMap<u32, [u8; 16]>,
}

/// The `sched:sched_switch` program: the waiting/on-CPU split and the final CPU time of
/// exiting threads.
const SWITCH_PROGRAM: &str = "tracer_switch";

/// Kernel time spent in tracer's programs while the kernel timed them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProgramCost {
    pub run_time_ns: u64,
    pub run_count: u64,
    /// The share of the recording the kernel timed them in (see [`CostSampling`]).
    pub measured_share: f64,
}

/// The `sched:sched_process_exec` program: a held command joins the targets at its exec.
const EXEC_PROGRAM: &str = "tracer_exec";

/// `tp_btf` programs and the raw tracepoints they attach to.
const BTF_PROGRAMS: [(&str, &str); 2] = [
    ("tracer_btf_in", "sys_enter"),
    ("tracer_btf_out", "sys_exit"),
];
/// Raw tracepoint programs and their tracepoints.
const RAW_PROGRAMS: [(&str, &str); 2] = [
    ("tracer_raw_in", "sys_enter"),
    ("tracer_raw_out", "sys_exit"),
];
/// Syscall tracepoint programs and the prefix of their events (`sys_enter_read`, ...).
const TRACEPOINT_PROGRAMS: [(&str, &str); 2] = [
    ("tracer_tp_in", "sys_enter_"),
    ("tracer_tp_out", "sys_exit_"),
];
/// Programs on the `sched` tracepoints: following targets through fork, exec and exit.
const LIFECYCLE_PROGRAMS: [(&str, &str, &str); 3] = [
    ("tracer_fork", "sched", "sched_process_fork"),
    ("tracer_exit", "sched", "sched_process_exit"),
    (EXEC_PROGRAM, "sched", "sched_process_exec"),
];
/// The empty programs of [`EmptyProbes`].
const FLOOR_PROGRAMS: [(&str, &str); 2] = [
    ("tracer_floor_in", "sys_enter"),
    ("tracer_floor_out", "sys_exit"),
];

#[cfg(target_arch = "x86_64")]
const SYSCALL_FN_PREFIX: &str = "__x64_sys_";
#[cfg(target_arch = "aarch64")]
const SYSCALL_FN_PREFIX: &str = "__arm64_sys_";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("tracer attaches to the syscall functions of x86_64 and aarch64 only");

impl Probes {
    /// Loads the probes and attaches them with the first mechanism that works.
    pub fn attach(options: &ProbeOptions) -> anyhow::Result<Self> {
        check_privileges()?;
        raise_memlock_limit();
        let tracefs = tracefs::ensure_mounted();
        let btf_path = options
            .btf_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("/sys/kernel/btf/vmlinux"));

        let mut fallbacks = Vec::new();
        let syscall_mask = options.syscall_mask.unwrap_or(syscalls::ALL_MASK);
        let candidates: Vec<Mechanism> = match options.mechanism {
            Some(mechanism) => vec![mechanism],
            None => Mechanism::PREFERENCE.to_vec(),
        };

        let Loaded {
            mut ebpf,
            target_flags,
            btf,
            capacities,
            exits_recorded,
            kernel_offsets,
        } = load(options, &btf_path, tracefs.as_ref().ok())?;
        fallbacks.extend(kernel_offsets.fallbacks(exits_recorded));

        let mut chosen = None;
        let mut attached = Vec::new();
        for mechanism in candidates {
            if mechanism.needs_btf()
                && let Err(reason) = &btf
            {
                fallbacks.push(Fallback {
                    mechanism: mechanism.name().into(),
                    reason: reason.clone(),
                });
                continue;
            }
            if mechanism == Mechanism::Tracepoint
                && let Err(reason) = &tracefs
            {
                fallbacks.push(Fallback {
                    mechanism: mechanism.name().into(),
                    reason: reason.clone(),
                });
                continue;
            }
            match attach_syscall_probes(&mut ebpf, mechanism, btf.as_ref().ok(), syscall_mask) {
                Ok(names) => {
                    attached = names;
                    chosen = Some(mechanism);
                    break;
                }
                Err(reason) => fallbacks.push(Fallback {
                    mechanism: mechanism.name().into(),
                    reason,
                }),
            }
        }
        let Some(mechanism) = chosen else {
            return Err(no_mechanism(&fallbacks));
        };

        attach_lifecycle(
            &mut ebpf,
            tracefs.as_ref().map(|_| ()),
            &mut attached,
            &mut fallbacks,
        );
        if let Ok(tracefs) = &tracefs
            && !options.no_waiting_split
        {
            attach_switch(&mut ebpf, tracefs, &mut attached, &mut fallbacks);
        }
        drop(btf);
        give_back_freed_memory();
        let cost_timer = stats::CostTimer::start(options.cost_sampling);
        let exec_attached = attached.contains(&EXEC_PROGRAM);
        Ok(Self {
            ebpf,
            mechanism,
            fallbacks,
            cost_timer,
            attached,
            exec_attached,
            cgroup_slots: 0,
            target_flags,
            capacities,
            syscall_mask: options.syscall_mask,
            unsettled_exits: std::collections::BTreeSet::new(),
        })
    }

    /// The syscalls counted when not all are (`ProbeOptions::syscall_mask`), by name.
    #[must_use]
    pub fn counted_syscalls(&self) -> Option<Vec<&'static str>> {
        let mask = self.syscall_mask?;
        Some(
            (0..syscalls::COUNT)
                .filter(|&i| u32::try_from(i).is_ok_and(|i| syscalls::in_mask(mask, i)))
                .map(|i| syscalls::NAMES[i])
                .collect(),
        )
    }

    /// Threads of targets that exited since the last call, by thread id, with their whole
    /// life's on-CPU time. Entries the scheduler probe settled (read at the thread's last
    /// switch-out) are removed from the map; an unsettled one is returned as it is and removed
    /// the next time (its last switch-out is microseconds after its exit, so it rarely stays).
    pub fn take_thread_exits(&mut self) -> anyhow::Result<BTreeMap<u32, ThreadExit>> {
        let mut map: HashMap<&mut MapData, u32, ThreadExit> =
            map_mut(&mut self.ebpf, maps::THREAD_EXITS)?;
        let exits: BTreeMap<u32, ThreadExit> = map.iter().collect::<Result<_, _>>()?;
        let mut unsettled = std::collections::BTreeSet::new();
        for (&tid, exit) in &exits {
            if exit.settled != 0 || self.unsettled_exits.contains(&tid) {
                let _ = map.remove(&tid);
            } else {
                unsettled.insert(tid);
            }
        }
        self.unsettled_exits = unsettled;
        Ok(exits)
    }

    /// The mechanism the syscall probes run on.
    #[must_use]
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Entries of the per-CPU maps as loaded on this machine, by map name.
    #[must_use]
    pub fn capacities(&self) -> &Capacities {
        &self.capacities
    }

    /// Mechanisms tried before and why they were not used.
    #[must_use]
    pub fn fallbacks(&self) -> &[Fallback] {
        &self.fallbacks
    }

    /// Starts counting a process (and, through fork, its later children) as part of `target`.
    pub fn add_tgid(&mut self, tgid: u32, target: u32) -> anyhow::Result<()> {
        let mut targets: HashMap<&mut MapData, u32, u32> =
            map_mut(&mut self.ebpf, maps::TARGET_TGIDS)?;
        targets
            .insert(tgid, target, 0)
            .map_err(|e| anyhow::anyhow!("cannot add PID {tgid} to the targets: {e}"))?;
        // After the hash entry: a probe that sees the flag finds the target index.
        self.target_flags.insert(tgid)
    }

    /// Whether the probes' first filter lets `pid` through (it must exactly when `pid` is in
    /// [`Snapshot::targets`]).
    #[must_use]
    pub fn passes_filter(&self, pid: u32) -> bool {
        self.target_flags.contains(pid)
    }

    /// Starts counting the process `pid`, held just before its exec by whoever started it, from
    /// its exec on (`PENDING_EXEC`): nothing it does before (such as reading the go-ahead from
    /// its starter) is counted, however the two race. Where the exec probe could not be
    /// attached, it is counted from now on instead ([`Probes::add_tgid`]).
    pub fn add_tgid_at_exec(&mut self, pid: u32, target: u32) -> anyhow::Result<()> {
        if !self.exec_attached {
            return self.add_tgid(pid, target);
        }
        let mut pending: HashMap<&mut MapData, u32, u32> =
            map_mut(&mut self.ebpf, maps::PENDING_EXEC)?;
        pending
            .insert(pid, target, 0)
            .map_err(|e| anyhow::anyhow!("cannot hold PID {pid} for its exec: {e}"))
    }

    /// Starts counting every process in the cgroup v2 folder `dir` and below it, including
    /// processes and child cgroups started later. Needs `ProbeOptions::filter_by_cgroup`.
    pub fn add_cgroup(&mut self, dir: &Path, target: u32) -> anyhow::Result<()> {
        let slot = self.cgroup_slots;
        if slot >= tracer_common::capacity::TARGET_CGROUPS {
            return Err(user(
                ErrorKind::Usage,
                format!(
                    "more than {} pods, containers or cgroups in one recording: record fewer at once",
                    tracer_common::capacity::TARGET_CGROUPS
                ),
            ));
        }
        let folder = std::fs::File::open(dir)
            .map_err(|e| anyhow::anyhow!("cannot open cgroup {}: {e}", dir.display()))?;
        let mut folders: aya::maps::CgroupArray<&mut MapData> =
            map_mut(&mut self.ebpf, maps::TARGET_CGROUPS)?;
        folders
            .set(slot, std::os::fd::AsRawFd::as_raw_fd(&folder), 0)
            .map_err(|e| {
                anyhow::anyhow!("cannot add cgroup {} to the targets: {e}", dir.display())
            })?;
        // After the folder: a probe that sees the slot's target finds its folder.
        let mut targets: aya::maps::Array<&mut MapData, u32> =
            map_mut(&mut self.ebpf, maps::CGROUP_SLOT_TARGETS)?;
        targets.set(slot, target + 1, 0)?;
        self.cgroup_slots += 1;
        Ok(())
    }

    /// Reads every map. Costs two syscalls per map entry: called once, at the end.
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut snapshot = self.counts()?;
        let map: PerCpuHashMap<&MapData, HistKey, u64> = map_ref(&self.ebpf, maps::HISTOGRAMS)?;
        for entry in &map {
            let (key, values) = entry?;
            snapshot.histograms.insert(key, values.iter().sum());
        }
        let map: HashMap<&MapData, u32, [u8; 16]> = map_ref(&self.ebpf, maps::EXEC_NAMES)?;
        snapshot.exec_names = map.iter().collect::<Result<_, _>>()?;
        Ok(snapshot)
    }

    /// Reads every map but the histograms (usually the largest) and the exec names (needed
    /// only for processes gone at the end): what the per-interval view, CPU bookkeeping and
    /// exit detection need.
    pub fn counts(&self) -> anyhow::Result<Snapshot> {
        Ok(Snapshot {
            fd_stats: read_fd_stats(&self.ebpf, maps::FD_STATS)?,
            overflow_stats: read_fd_stats(&self.ebpf, maps::OVERFLOW_STATS)?,
            histograms: BTreeMap::new(),
            exec_names: BTreeMap::new(),
            exits: {
                let map: HashMap<&MapData, u32, ExitInfo> = map_ref(&self.ebpf, maps::EXITS)?;
                map.iter().collect::<Result<_, _>>()?
            },
            targets: {
                let map: HashMap<&MapData, u32, u32> = map_ref(&self.ebpf, maps::TARGET_TGIDS)?;
                map.iter().collect::<Result<_, _>>()?
            },
            losses: {
                let map: PerCpuArray<&MapData, u64> = map_ref(&self.ebpf, maps::COUNTERS)?;
                (0..tracer_common::counters::COUNT)
                    .map(|i| map.get(&i, 0).map(|values| values.iter().sum()))
                    .collect::<Result<_, _>>()?
            },
        })
    }

    /// Kernel run time and run count of tracer's programs while they were timed; stops the
    /// timing, so call it once, at the end (zero if they never were: off, or refused).
    pub fn cost(&mut self) -> ProgramCost {
        let Some(measured_share) = self.cost_timer.stop() else {
            return ProgramCost::default();
        };
        ProgramCost {
            measured_share,
            ..self.cost_so_far()
        }
    }

    /// Kernel run time and run count of tracer's programs so far, timing left as it is
    /// (`measured_share` is 0: known only at the end).
    #[must_use]
    pub fn cost_so_far(&self) -> ProgramCost {
        let mut cost = ProgramCost::default();
        for name in &self.attached {
            if let Some(Ok(info)) = self.ebpf.program(name).map(aya::programs::Program::info) {
                cost.run_time_ns += u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX);
                cost.run_count += info.run_count();
            }
        }
        cost
    }
}

/// Empty programs on `sys_enter`/`sys_exit`, attached while this lives: the kernel's own cost
/// for every syscall when any program uses the syscall tracepoints (`tracer-demo floor`, bench).
pub struct EmptyProbes {
    _ebpf: Ebpf,
}

impl EmptyProbes {
    /// Loads and attaches the empty programs (`tp_btf`, so with the same kernel path as
    /// tracer's own `tp_btf` probes).
    pub fn attach(btf_path: Option<&Path>) -> anyhow::Result<Self> {
        check_privileges()?;
        raise_memlock_limit();
        let mut loader = loader_without_kernel_btf(&per_cpu_map_sizes(possible_cpus()));
        let btf = load_btf(btf_path.unwrap_or_else(|| Path::new("/sys/kernel/btf/vmlinux")))
            .map_err(|reason| user(ErrorKind::KernelUnsupported, reason))?;
        let mut ebpf = loader
            .btf(Some(&btf))
            .load(PROBES_OBJECT)
            .map_err(|e| load_error(&e.to_string()))?;
        for (name, tracepoint) in FLOOR_PROGRAMS {
            let program: &mut BtfTracePoint = program_of(&mut ebpf, name)
                .map_err(|reason| user(ErrorKind::KernelUnsupported, reason))?;
            program
                .load(tracepoint, &btf)
                .and_then(|()| program.attach().map(drop))
                .map_err(|e| user(ErrorKind::KernelUnsupported, describe(&e, tracepoint)))?;
        }
        Ok(Self { _ebpf: ebpf })
    }
}

/// Why no mechanism attached: a permission error when every one was refused for lack of
/// privilege, else the kernel's lack, naming each mechanism tried and its reason.
fn no_mechanism(fallbacks: &[Fallback]) -> anyhow::Error {
    let tried = fallbacks
        .iter()
        .map(|f| format!("{} ({})", f.mechanism, f.reason))
        .collect::<Vec<_>>()
        .join("; ");
    let kind = if fallbacks
        .iter()
        .all(|f| f.reason.contains("Operation not permitted"))
    {
        ErrorKind::Permission
    } else {
        ErrorKind::KernelUnsupported
    };
    user(
        kind,
        format!("no way to attach the syscall probes on this kernel: {tried}"),
    )
}

/// Returns the heap glibc keeps after the kernel BTF is parsed and dropped (~15 MB), so that a
/// collector running for days does not hold it.
fn give_back_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: no preconditions; only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Per-CPU map sizes for this machine, by map name.
pub type Capacities = [(&'static str, u32); 3];

/// An `EbpfLoader` with the per-CPU maps sized for this machine (`capacities`), that has
/// dropped the kernel BTF `EbpfLoader::new` parses by itself (~15 MB
/// of types here). Made before tracer parses its own copy, so that two copies are never alive
/// at once: that had put the collector's peak RSS at 40 MB.
fn loader_without_kernel_btf<'a>(capacities: &Capacities) -> EbpfLoader<'a> {
    let mut loader = EbpfLoader::new();
    loader.btf(None);
    for &(name, entries) in capacities {
        loader.map_max_entries(name, entries);
    }
    loader
}

/// CPUs the kernel may ever bring online (`/sys/devices/system/cpu/possible`): per-CPU maps
/// hold a value for each. 1 if unreadable, which keeps the compiled capacities.
fn possible_cpus() -> u32 {
    aya::util::nr_cpus()
        .ok()
        .and_then(|cpus| u32::try_from(cpus).ok())
        .unwrap_or(1)
}

/// Kernel memory the per-CPU hash maps may take together. The kernel preallocates every entry
/// with a value for each possible CPU, so at the compiled capacities a 64-CPU node would give
/// them ~350 MiB (charged to the agent's memory cgroup, per recording); on a 240-"possible"-CPU
/// cloud VM over 1 GiB.
const PER_CPU_MAPS_BUDGET: u64 = 64 << 20;

/// Entries of each per-CPU hash map for `cpus` possible CPUs: the compiled capacity, or fewer
/// so that together they fit in [`PER_CPU_MAPS_BUDGET`] (shares: per-fd counters 1/2,
/// histogram buckets 3/8, per-syscall overflow 1/8), and at least 1,024. What does not fit is
/// counted, as always: per-fd detail overflows into exact per-syscall totals.
#[must_use]
pub fn per_cpu_map_sizes(cpus: u32) -> Capacities {
    // Per entry: the key, the kernel's element header (~48 B) and a value per CPU.
    let entries = |capacity: u32, share_eighths: u64, key: usize, value: usize| {
        let per_entry = 48 + key as u64 + u64::from(cpus.max(1)) * value.next_multiple_of(8) as u64;
        let fits = PER_CPU_MAPS_BUDGET * share_eighths / 8 / per_entry;
        u32::try_from(fits)
            .unwrap_or(u32::MAX)
            .clamp(1_024, capacity)
    };
    let (fd_key, fd_value) = (size_of::<FdKey>(), size_of::<FdStats>());
    [
        (
            maps::FD_STATS,
            entries(tracer_common::capacity::FD_STATS, 4, fd_key, fd_value),
        ),
        (
            maps::HISTOGRAMS,
            entries(
                tracer_common::capacity::HISTOGRAMS,
                3,
                size_of::<HistKey>(),
                size_of::<u64>(),
            ),
        ),
        (
            maps::OVERFLOW_STATS,
            entries(tracer_common::capacity::OVERFLOW_STATS, 1, fd_key, fd_value),
        ),
    ]
}

/// The probes' object loaded, not attached yet.
struct Loaded {
    ebpf: Ebpf,
    target_flags: target_flags::TargetFlags,
    /// The kernel BTF (or why there is none), which the BTF mechanisms attach with.
    btf: Result<Btf, String>,
    capacities: Capacities,
    /// Whether the exit probe can tell a process's last thread (`group_dead`, or the BTF
    /// offsets of `signal->live`).
    exits_recorded: bool,
    /// What the probes read of kernel structs, as found in the BTF (0 where not found).
    kernel_offsets: KernelOffsets,
}

/// Offsets of the kernel struct members the probes read beyond their tracepoints' records.
#[derive(Clone, Copy, Debug, Default)]
struct KernelOffsets {
    /// `task_struct.se` + `sched_entity.sum_exec_runtime`.
    runtime: u32,
    /// From a task to an fd's inode.
    files: FileOffsets,
}

impl KernelOffsets {
    /// What the run file says when an offset is missing (or, without `exits_recorded`, the
    /// means to tell a process's last thread).
    fn fallbacks(&self, exits_recorded: bool) -> Vec<Fallback> {
        let mut fallbacks = Vec::new();
        if !exits_recorded {
            fallbacks.push(Fallback {
                mechanism: "sched:sched_process_exit".into(),
                reason: "the exit tracepoint has no group_dead and the kernel BTF no signal_struct.live: exits of targets are not recorded, so a PID reused during the run is counted as its target".into(),
            });
        }
        if self.runtime == 0 {
            fallbacks.push(Fallback {
                mechanism: "task_struct.se.sum_exec_runtime".into(),
                reason: "the kernel BTF has no offset for a task's runtime: a thread that exits between two samples keeps the CPU time of its last sample".into(),
            });
        }
        if self.files.task_files == 0 {
            fallbacks.push(Fallback {
                mechanism: "task_struct.files".into(),
                reason: "the kernel BTF has no offsets from a task to its files' inodes: every fd's kind is unknown".into(),
            });
        }
        fallbacks
    }

    fn read(btf_path: &Path) -> Self {
        let Ok(bytes) = std::fs::read(btf_path) else {
            return Self::default();
        };
        let Some(btf) = kernel_btf::KernelBtf::parse(&bytes) else {
            return Self::default();
        };
        let runtime = btf
            .member_offset("task_struct", "se")
            .zip(btf.member_offset("sched_entity", "sum_exec_runtime"))
            .map_or(0, |(se, runtime)| se + runtime);
        let files = (|| {
            Some(FileOffsets {
                task_files: btf.member_offset("task_struct", "files")?,
                files_fdt: btf.member_offset("files_struct", "fdt")?,
                fdt_max_fds: btf.member_offset("fdtable", "max_fds")?,
                fdt_fd: btf.member_offset("fdtable", "fd")?,
                file_inode: btf.member_offset("file", "f_inode")?,
                inode_mode: btf.member_offset("inode", "i_mode")?,
                inode_ino: btf.member_offset("inode", "i_ino")?,
                _pad: 0,
            })
        })()
        .unwrap_or_default();
        Self { runtime, files }
    }
}

/// Loads the probes' object with this kernel's settings and maps the target flags.
fn load(
    options: &ProbeOptions,
    btf_path: &Path,
    tracefs: Option<&tracefs::Tracefs>,
) -> anyhow::Result<Loaded> {
    let capacities = per_cpu_map_sizes(possible_cpus());
    let mut loader = loader_without_kernel_btf(&capacities);
    let btf = load_btf(btf_path);
    let fork_offset = tracefs
        .and_then(|t| t.field_offset("sched/sched_process_fork", "child_pid"))
        .unwrap_or(0);
    let exit_offset = tracefs
        .and_then(|t| t.field_offset("sched/sched_process_exit", "group_dead"))
        .unwrap_or(0);
    // Without `group_dead` (5.10), the exit probe reads `current->signal->live` instead.
    let (signal_offset, live_offset) = if exit_offset == 0 {
        exit_fallback_offsets(btf_path)
    } else {
        (0, 0)
    };
    let filter_by_cgroup = u32::from(options.filter_by_cgroup);
    let syscall_mask = options.syscall_mask.unwrap_or(syscalls::ALL_MASK);
    let kernel_offsets = KernelOffsets::read(btf_path);
    loader.btf(btf.as_ref().ok());
    set_global(
        &mut loader,
        globals::TASK_RUNTIME_OFFSET,
        &kernel_offsets.runtime,
    );
    set_global(&mut loader, globals::FILE_OFFSETS, &kernel_offsets.files);
    let waiting_split = u32::from(!options.no_waiting_split);
    set_global(&mut loader, globals::WAITING_SPLIT, &waiting_split);
    set_global(&mut loader, globals::FILTER_BY_CGROUP, &filter_by_cgroup);
    set_global(&mut loader, globals::FORK_CHILD_PID_OFFSET, &fork_offset);
    set_global(&mut loader, globals::EXIT_GROUP_DEAD_OFFSET, &exit_offset);
    set_global(&mut loader, globals::TASK_SIGNAL_OFFSET, &signal_offset);
    set_global(&mut loader, globals::SIGNAL_LIVE_OFFSET, &live_offset);
    set_global(&mut loader, globals::SYSCALL_MASK, &syscall_mask);
    let ebpf = loader
        .load(PROBES_OBJECT)
        .map_err(|e| load_error(&e.to_string()))?;
    let target_flags = target_flags::TargetFlags::map(
        ebpf.map(maps::TARGET_FLAGS)
            .ok_or_else(|| anyhow::anyhow!("the probes have no map {}", maps::TARGET_FLAGS))?,
    )?;
    Ok(Loaded {
        ebpf,
        target_flags,
        btf,
        capacities,
        exits_recorded: exit_offset != 0 || signal_offset != 0,
        kernel_offsets,
    })
}

/// Offsets of `task_struct.signal` and `signal_struct.live` in this kernel (its BTF), for the
/// exit probe on kernels whose exit tracepoint lacks `group_dead`; (0, 0) if unknown, and then
/// exits are not recorded (`Probes::attach` says so in the run file's fallbacks).
fn exit_fallback_offsets(btf_path: &Path) -> (u32, u32) {
    let Ok(bytes) = std::fs::read(btf_path) else {
        return (0, 0);
    };
    kernel_btf::KernelBtf::parse(&bytes)
        .and_then(|btf| {
            Some((
                btf.member_offset("task_struct", "signal")?,
                btf.member_offset("signal_struct", "live")?,
            ))
        })
        .unwrap_or((0, 0))
}

/// Sets one of the probes' globals, with a value of its declared type; a global the object
/// lacks fails the load (and the contract test below, without loading).
fn set_global<'a, T: aya::Pod>(loader: &mut EbpfLoader<'a>, global: GlobalName<T>, value: &'a T) {
    loader.override_global(global.name, value, true);
}

fn map_ref<'a, T>(ebpf: &'a Ebpf, name: &str) -> anyhow::Result<T>
where
    T: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf
        .map(name)
        .ok_or_else(|| anyhow::anyhow!("the probes have no map {name}"))?;
    Ok(T::try_from(map)?)
}

fn map_mut<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<T>
where
    T: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf
        .map_mut(name)
        .ok_or_else(|| anyhow::anyhow!("the probes have no map {name}"))?;
    Ok(T::try_from(map)?)
}

fn read_fd_stats(ebpf: &Ebpf, name: &str) -> anyhow::Result<BTreeMap<FdKey, FdStats>> {
    let map: PerCpuHashMap<&MapData, FdKey, FdStats> = map_ref(ebpf, name)?;
    let mut out = BTreeMap::new();
    for entry in &map {
        let (key, per_cpu) = entry?;
        let mut total = FdStats::default();
        for stats in per_cpu.iter() {
            total.merge(stats);
        }
        out.insert(key, total);
    }
    Ok(out)
}

/// Loads and attaches the entry/exit programs of one mechanism, for the syscalls in `mask`
/// where the mechanism attaches per syscall; on failure unloads what it loaded and returns the
/// reason.
fn attach_syscall_probes(
    ebpf: &mut Ebpf,
    mechanism: Mechanism,
    btf: Option<&Btf>,
    mask: u32,
) -> Result<Vec<&'static str>, String> {
    let selected = |index: usize| u32::try_from(index).is_ok_and(|i| syscalls::in_mask(mask, i));
    let mut done: Vec<&'static str> = Vec::new();
    let result = (|| -> Result<(), String> {
        match mechanism {
            Mechanism::Fentry => {
                let btf = btf.ok_or("no BTF")?;
                for (index, (entry, exit)) in syscalls::FENTRY_PROGRAMS.iter().enumerate() {
                    if !selected(index) {
                        continue;
                    }
                    let function = format!("{SYSCALL_FN_PREFIX}{}", syscalls::NAMES[index]);
                    let program: &mut FEntry = program(ebpf, entry)?;
                    program
                        .load(&function, btf)
                        .map_err(|e| explain_fentry(describe(&e, &function)))?;
                    done.push(entry);
                    program.attach().map_err(|e| describe(&e, &function))?;
                    let program: &mut FExit = program_of(ebpf, exit)?;
                    program
                        .load(&function, btf)
                        .map_err(|e| describe(&e, &function))?;
                    done.push(exit);
                    program.attach().map_err(|e| describe(&e, &function))?;
                }
            }
            Mechanism::TpBtf => {
                let btf = btf.ok_or("no BTF")?;
                for (name, tracepoint) in BTF_PROGRAMS {
                    let program: &mut BtfTracePoint = program_of(ebpf, name)?;
                    program
                        .load(tracepoint, btf)
                        .map_err(|e| describe(&e, tracepoint))?;
                    done.push(name);
                    program.attach().map_err(|e| describe(&e, tracepoint))?;
                }
            }
            Mechanism::RawTracepoint => {
                for (name, tracepoint) in RAW_PROGRAMS {
                    let program: &mut RawTracePoint = program_of(ebpf, name)?;
                    program.load().map_err(|e| describe(&e, tracepoint))?;
                    done.push(name);
                    program
                        .attach(tracepoint)
                        .map_err(|e| describe(&e, tracepoint))?;
                }
            }
            Mechanism::Tracepoint => {
                for (name, prefix) in TRACEPOINT_PROGRAMS {
                    let program: &mut TracePoint = program_of(ebpf, name)?;
                    program.load().map_err(|e| describe(&e, name))?;
                    done.push(name);
                    let names = syscalls::NAMES.iter().enumerate();
                    for (_, syscall) in names.filter(|&(index, _)| selected(index)) {
                        let event = format!("{prefix}{syscall}");
                        program
                            .attach("syscalls", &event)
                            .map_err(|e| describe(&e, &event))?;
                    }
                }
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(done),
        Err(reason) => {
            for name in done {
                if let Some(program) = ebpf.program_mut(name) {
                    let _ = unload(program);
                }
            }
            Err(reason)
        }
    }
}

fn unload(program: &mut aya::programs::Program) -> Result<(), ProgramError> {
    use aya::programs::Program;
    match program {
        Program::FEntry(p) => p.unload(),
        Program::FExit(p) => p.unload(),
        Program::BtfTracePoint(p) => p.unload(),
        Program::RawTracePoint(p) => p.unload(),
        Program::TracePoint(p) => p.unload(),
        _ => Ok(()),
    }
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut FEntry, String> {
    program_of(ebpf, name)
}

fn program_of<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, String>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let program = ebpf
        .program_mut(name)
        .ok_or_else(|| format!("the probes have no program {name}"))?;
    program
        .try_into()
        .map_err(|e: ProgramError| format!("{name}: {e}"))
}

/// Children and exits: needs the sched tracepoints (tracefs). Without them, children of
/// targets are not followed; the run file says so rather than the recording failing.
fn attach_lifecycle(
    ebpf: &mut Ebpf,
    tracefs: Result<(), &String>,
    attached: &mut Vec<&'static str>,
    fallbacks: &mut Vec<Fallback>,
) {
    if let Err(reason) = tracefs {
        fallbacks.push(Fallback {
            mechanism: "sched:sched_process_fork".into(),
            reason: format!("children of targets are not followed: {reason}"),
        });
        return;
    }
    for (program, category, name) in LIFECYCLE_PROGRAMS {
        match attach_tracepoint(ebpf, program, category, name) {
            Ok(()) => attached.push(program),
            Err(reason) => fallbacks.push(Fallback {
                mechanism: format!("{category}:{name}"),
                reason,
            }),
        }
    }
}

/// The scheduler probe (the waiting/on-CPU split, exiting threads' final CPU), or a fallback
/// saying what is missing without it.
fn attach_switch(
    ebpf: &mut Ebpf,
    tracefs: &tracefs::Tracefs,
    attached: &mut Vec<&'static str>,
    fallbacks: &mut Vec<Fallback>,
) {
    match try_attach_switch(ebpf, tracefs) {
        Ok(()) => attached.push(SWITCH_PROGRAM),
        Err(reason) => fallbacks.push(Fallback {
            mechanism: "sched:sched_switch".into(),
            reason: format!(
                "syscall time is not split into waiting and on-CPU (all of it counts as on-CPU), and exiting threads' CPU is as of their exit: {reason}"
            ),
        }),
    }
}

/// The scheduler probe, where the `sched:sched_switch` record has the layout it reads.
fn try_attach_switch(ebpf: &mut Ebpf, tracefs: &tracefs::Tracefs) -> Result<(), String> {
    use tracer_common::sched_switch;
    let event = "sched/sched_switch";
    let found = (
        tracefs.field_offset(event, "prev_state"),
        tracefs.field_offset(event, "next_pid"),
    );
    let expected = (
        u32::try_from(sched_switch::PREV_STATE).ok(),
        u32::try_from(sched_switch::NEXT_PID).ok(),
    );
    if found != expected {
        return Err(format!(
            "its record has prev_state and next_pid at {found:?}, not at {expected:?} as the probe reads them"
        ));
    }
    attach_tracepoint(ebpf, SWITCH_PROGRAM, "sched", "sched_switch")
}

fn attach_tracepoint(
    ebpf: &mut Ebpf,
    name: &str,
    category: &str,
    event: &str,
) -> Result<(), String> {
    let program: &mut TracePoint = program_of(ebpf, name)?;
    program.load().map_err(|e| describe(&e, event))?;
    program
        .attach(category, event)
        .map_err(|e| describe(&e, event))?;
    Ok(())
}

/// Why fentry cannot work where the verifier says so in terms only a kernel developer reads.
fn explain_fentry(reason: String) -> String {
    if reason.contains("FWD is not a struct") {
        return format!(
            "{reason}: this kernel's BTF declares struct pt_regs, the syscall wrappers' only argument, just by name (as Linux 5.10 does), so fentry programs cannot read a syscall's arguments; tp_btf counts the same calls"
        );
    }
    reason
}

/// One line for a program error, with the OS error (e.g. "Operation not permitted") kept.
fn describe(error: &ProgramError, what: &str) -> String {
    let mut text = format!("{what}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    if let ProgramError::LoadError { verifier_log, .. } = error {
        // The verifier log is long; its last line says why.
        if let Some(last) = verifier_log
            .to_string()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
        {
            text.push_str(" (verifier: ");
            text.push_str(last.trim());
            text.push(')');
        }
    }
    text
}

fn load_btf(path: &Path) -> Result<Btf, String> {
    if !path.exists() {
        return Err(format!(
            "no kernel BTF at {} (kernel built without CONFIG_DEBUG_INFO_BTF?)",
            path.display()
        ));
    }
    Btf::parse_file(path, Endianness::default())
        .map_err(|e| format!("cannot parse BTF {}: {e}", path.display()))
}

fn check_privileges() -> anyhow::Result<()> {
    if may_load_probes() {
        return Ok(());
    }
    Err(user(
        ErrorKind::Permission,
        "tracer needs root or the CAP_BPF and CAP_PERFMON capabilities to load eBPF probes: run it with sudo",
    ))
}

/// Whether this process may load and attach the probes: `CAP_BPF` (39) with `CAP_PERFMON`
/// (38), or `CAP_SYS_ADMIN` (21), in its effective set, as root has.
#[must_use]
pub fn may_load_probes() -> bool {
    let effective = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .unwrap_or(0);
    let bpf_and_perfmon = (1u64 << 39) | (1 << 38);
    let sys_admin = 1u64 << 21;
    effective & bpf_and_perfmon == bpf_and_perfmon || effective & sys_admin == sys_admin
}

fn raise_memlock_limit() {
    // Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones ignore it.
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit struct is passed by reference.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raw const unlimited) };
}

fn load_error(message: &str) -> anyhow::Error {
    if message.contains("Operation not permitted") || message.contains("EPERM") {
        user(
            ErrorKind::Permission,
            format!(
                "the kernel refused to load tracer's probes ({message}): run as root or with CAP_BPF and CAP_PERFMON"
            ),
        )
    } else {
        user(
            ErrorKind::KernelUnsupported,
            format!("the kernel refused to load tracer's probes: {message}"),
        )
    }
}

/// The probes' object as built has every program, map and global the loader asks for by name:
/// a misspelt name must fail here, without loading anything (so without root), not become a
/// quiet fallback to another mechanism at run time.
#[cfg(test)]
mod contract {
    use super::*;

    fn object() -> aya_obj::Object {
        aya_obj::Object::parse(PROBES_OBJECT).expect("the probes' object parses")
    }

    #[test]
    fn the_object_has_every_program_the_loader_names() {
        let object = object();
        let programs = syscalls::FENTRY_PROGRAMS
            .iter()
            .flat_map(|&(entry, exit)| [entry, exit])
            .chain(BTF_PROGRAMS.map(|(name, _)| name))
            .chain(RAW_PROGRAMS.map(|(name, _)| name))
            .chain(TRACEPOINT_PROGRAMS.map(|(name, _)| name))
            .chain(LIFECYCLE_PROGRAMS.map(|(name, _, _)| name))
            .chain([SWITCH_PROGRAM])
            .chain(FLOOR_PROGRAMS.map(|(name, _)| name));
        let missing: Vec<&str> = programs
            .filter(|name| !object.programs.contains_key(*name))
            .collect();
        assert!(
            missing.is_empty(),
            "programs the loader names but the object lacks: {missing:?}; it has {:?}",
            object.programs.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_object_has_every_map_the_loader_names() {
        let object = object();
        let missing: Vec<&str> = maps::ALL
            .into_iter()
            .filter(|name| !object.maps.contains_key(*name))
            .collect();
        assert!(
            missing.is_empty(),
            "maps the loader names but the object lacks: {missing:?}; it has {:?}",
            object.maps.keys().collect::<Vec<_>>()
        );
    }

    /// Each global is set as the loader sets it (aya's own patching, `must_exist`), with a
    /// value of its declared size: a missing or resized global is an error here.
    #[test]
    fn the_object_has_every_global_the_loader_sets() {
        let mut object = object();
        let failures: Vec<String> = globals::ALL
            .into_iter()
            .filter_map(|(name, size)| {
                let value = vec![0u8; size];
                let globals = std::collections::HashMap::from([(name, (&value[..], true))]);
                object
                    .patch_map_data(globals)
                    .err()
                    .map(|e| format!("{name}: {e}"))
            })
            .collect();
        assert!(
            failures.is_empty(),
            "globals the loader sets that the object lacks or sizes otherwise: {failures:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the sized maps take, in the same terms as the budget.
    fn bytes(cpus: u32) -> u64 {
        per_cpu_map_sizes(cpus)
            .iter()
            .map(|&(name, entries)| {
                let (key, value) = if name == maps::HISTOGRAMS {
                    (8, 8)
                } else {
                    (24, 64)
                };
                u64::from(entries) * (48 + key + u64::from(cpus) * value)
            })
            .sum()
    }

    #[test]
    fn per_cpu_maps_keep_their_capacity_on_small_machines_and_fit_the_budget_on_big_ones() {
        assert_eq!(
            per_cpu_map_sizes(2),
            [
                (maps::FD_STATS, tracer_common::capacity::FD_STATS),
                (maps::HISTOGRAMS, tracer_common::capacity::HISTOGRAMS),
                (
                    maps::OVERFLOW_STATS,
                    tracer_common::capacity::OVERFLOW_STATS
                ),
            ]
        );
        // (From about 120 CPUs on, the 1,024-entry floor of the overflow map binds first: 24-byte keys and 64-byte values since the fd kind and the waiting time joined them.)
        for cpus in [64, 112] {
            assert!(
                bytes(cpus) <= PER_CPU_MAPS_BUDGET,
                "{cpus} CPUs: {}",
                bytes(cpus)
            );
            assert!(
                per_cpu_map_sizes(cpus)[0].1 < tracer_common::capacity::FD_STATS,
                "{cpus} CPUs"
            );
        }
        assert!(per_cpu_map_sizes(240)[0].1 < 3_000);
        // 64 CPUs: 32 MiB / (48 + 24 + 64 × 64 B) per-fd keys.
        assert_eq!(per_cpu_map_sizes(64)[0].1, 8_050);
        // Never fewer than 1,024 entries, however many CPUs.
        assert!(per_cpu_map_sizes(100_000).iter().all(|&(_, n)| n == 1_024));
    }
}
