//! The accounting shared by every attach mechanism: filter, remember the entry, count the exit.
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns, bpf_probe_read_kernel,
    },
};
use tracer_common::{
    FD_OVERFLOW, FdKey, FdStats, HistKey, InFlight, buckets, counters, fd_kind, hist_kind, syscalls,
};

use crate::maps::{
    CGROUP_SLOT_TARGETS, FD_STATS, FILE_OFFSETS, FILTER_BY_CGROUP, HISTOGRAMS, IN_FLIGHT,
    OVERFLOW_STATS, SYSCALL_MASK, TARGET_CGROUPS, TARGET_TGIDS, WAITING_SPLIT, add_target, bump,
    is_target, set_in_syscall,
};

/// Whether `tgid`'s syscalls are counted. In tgid mode this is one array read (`TARGET_FLAGS`),
/// all an untargeted process pays per I/O syscall. In cgroup mode a process not yet known is
/// looked up by its cgroup; when that matches, it joins `TARGET_TGIDS`, so it pays the cgroup
/// lookup once and the collector learns which processes each cgroup target had.
#[inline(always)]
pub fn is_counted(tgid: u32) -> bool {
    if is_target(tgid) {
        return true;
    }
    if FILTER_BY_CGROUP.load() == 0 {
        return false;
    }
    let Some(target) = cgroup_target() else {
        return false;
    };
    if !add_target(tgid, target) {
        bump(counters::CHILDREN_NOT_TRACED);
    }
    true
}

/// The target `tgid` belongs to, if it is counted (see [`is_counted`]).
#[inline(always)]
pub fn target_of(tgid: u32) -> Option<u32> {
    if !is_counted(tgid) {
        return None;
    }
    // SAFETY: pointer from a successful lookup, read at once.
    TARGET_TGIDS.get_ptr(&tgid).map(|target| unsafe { *target })
}

/// The target whose cgroup holds the current task, directly or below it (a container's
/// cgroup under a pod's): the first used slot of `TARGET_CGROUPS` the task is under.
#[inline(always)]
fn cgroup_target() -> Option<u32> {
    for slot in 0..tracer_common::capacity::TARGET_CGROUPS {
        let target = *CGROUP_SLOT_TARGETS.get(slot)?;
        if target == 0 {
            return None;
        }
        if TARGET_CGROUPS.current_task_under_cgroup(slot) == Ok(true) {
            return Some(target - 1);
        }
    }
    None
}

/// A traced syscall was entered with `fd` as its first argument. Syscalls left out by
/// `--syscalls` stop here (on `sys_enter`, which fires for every syscall; the per-syscall
/// mechanisms do not attach to them at all); their exit finds no slot and is not counted.
#[inline(always)]
pub fn on_enter(syscall: u32, fd: u64) {
    if !syscalls::in_mask(SYSCALL_MASK.load(), syscall) {
        return;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_counted((pid_tgid >> 32) as u32) {
        return;
    }
    let tid = pid_tgid as u32;
    let fd = fd as i32;
    let (kind, inode) = file_of(fd);
    // SAFETY: the helper has no preconditions.
    let start_ns = unsafe { bpf_ktime_get_ns() };
    // A thread's slot is made once and rewritten in place on every later syscall: a hash
    // insert and delete per call would cost more than everything else here together.
    if let Some(slot) = IN_FLIGHT.get_ptr_mut(&tid) {
        // SAFETY: pointer from a successful lookup; only this thread (and the scheduler probe,
        // on the CPU this thread is leaving or entering, so never at the same time) uses it.
        unsafe {
            (*slot).start_ns = start_ns;
            (*slot).fd = fd;
            (*slot).syscall = syscall;
            (*slot).kind = kind;
            (*slot).inode = inode;
            (*slot).off_cpu_since_ns = 0;
            (*slot).waiting_ns = 0;
        }
        mark_in_syscall(tid);
        return;
    }
    let entry = InFlight {
        start_ns,
        fd,
        syscall,
        kind,
        _pad: 0,
        inode,
        off_cpu_since_ns: 0,
        waiting_ns: 0,
    };
    if IN_FLIGHT.insert(&tid, &entry, 0).is_err() {
        bump(counters::IN_FLIGHT_FULL);
        return;
    }
    mark_in_syscall(tid);
}

/// Lets the scheduler probe time this thread's switches until the call returns (unless the
/// split is off: then no switch of it costs more than the array read).
#[inline(always)]
fn mark_in_syscall(tid: u32) {
    if WAITING_SPLIT.load() != 0 {
        set_in_syscall(tid, 1);
    }
}

/// What file `fd` of the current task is now: its kind ([`fd_kind`]) from the inode's mode,
/// and its inode number; `(UNKNOWN, 0)` when it is not open or this kernel's offsets are not
/// known. Follows `current->files->fdt->fd[fd]->f_inode` with `bpf_probe_read_kernel`, which
/// checks every address (a stale or bad one is an error, never a fault); the fd table is
/// RCU-protected and probes run under the RCU read lock.
#[inline(always)]
fn file_of(fd: i32) -> (u32, u64) {
    let offsets = FILE_OFFSETS.load();
    if offsets.task_files == 0 || fd < 0 {
        return (fd_kind::UNKNOWN, 0);
    }
    // SAFETY: the offsets come from this kernel's BTF; every read goes through
    // bpf_probe_read_kernel.
    unsafe {
        let task = bpf_get_current_task() as *const u8;
        let Ok(files) = read_ptr(task, offsets.task_files) else {
            return (fd_kind::UNKNOWN, 0);
        };
        let Ok(fdt) = read_ptr(files, offsets.files_fdt) else {
            return (fd_kind::UNKNOWN, 0);
        };
        let Ok(max_fds) =
            bpf_probe_read_kernel(fdt.add(offsets.fdt_max_fds as usize).cast::<u32>())
        else {
            return (fd_kind::UNKNOWN, 0);
        };
        if fd as u32 >= max_fds {
            return (fd_kind::UNKNOWN, 0);
        }
        let Ok(table) = read_ptr(fdt, offsets.fdt_fd) else {
            return (fd_kind::UNKNOWN, 0);
        };
        let Ok(file) = read_ptr(table, (fd as u32) * 8) else {
            return (fd_kind::UNKNOWN, 0);
        };
        let Ok(inode) = read_ptr(file, offsets.file_inode) else {
            return (fd_kind::UNKNOWN, 0);
        };
        let Ok(mode) = bpf_probe_read_kernel(inode.add(offsets.inode_mode as usize).cast::<u16>())
        else {
            return (fd_kind::UNKNOWN, 0);
        };
        let number =
            bpf_probe_read_kernel(inode.add(offsets.inode_ino as usize).cast::<u64>()).unwrap_or(0);
        (fd_kind::of_mode(mode), number)
    }
}

/// The pointer stored at `base + offset` (a null one is an error too).
#[inline(always)]
unsafe fn read_ptr(base: *const u8, offset: u32) -> Result<*const u8, i64> {
    if base.is_null() {
        return Err(-1);
    }
    // SAFETY: bpf_probe_read_kernel checks the address.
    let pointer = unsafe { bpf_probe_read_kernel(base.add(offset as usize).cast::<*const u8>()) }?;
    if pointer.is_null() {
        Err(-1)
    } else {
        Ok(pointer)
    }
}

/// A syscall returned `ret`. Counted only if its entry was seen (so calls already blocked
/// when tracing started are not counted half).
#[inline(always)]
pub fn on_exit(ret: i64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let tid = pid_tgid as u32;
    // Untargeted processes stop here, without the hash lookup of their thread's slot. In
    // cgroup mode a process the entry found by its cgroup but could not add to the full target
    // set has a slot all the same: its calls are counted, so look.
    if !is_target(tgid) && FILTER_BY_CGROUP.load() == 0 {
        return;
    }
    let Some(slot) = IN_FLIGHT.get_ptr_mut(&tid) else {
        return;
    };
    set_in_syscall(tid, 0);
    // SAFETY: pointer from a successful lookup; only this thread uses its own slot now (its
    // `IN_SYSCALL` byte is clear). A zero start marks the slot as consumed (the exit of a
    // call whose entry we did not see).
    let entry = unsafe {
        let entry = *slot;
        (*slot).start_ns = 0;
        entry
    };
    if entry.start_ns == 0 {
        return;
    }
    // SAFETY: the helper has no preconditions.
    let latency_ns = unsafe { bpf_ktime_get_ns() }.wrapping_sub(entry.start_ns);
    let waiting_ns = if entry.waiting_ns > latency_ns {
        latency_ns
    } else {
        entry.waiting_ns
    };

    count_call(
        &FdKey {
            tgid,
            fd: entry.fd,
            syscall: entry.syscall,
            kind: entry.kind,
            inode: entry.inode,
        },
        ret,
        latency_ns,
        waiting_ns,
    );
    let syscall = entry.syscall as u8;
    add_sample(
        tgid,
        syscall,
        hist_kind::LATENCY,
        buckets::LATENCY.bucket(latency_ns),
    );
    if WAITING_SPLIT.load() != 0 {
        add_sample(
            tgid,
            syscall,
            hist_kind::WAITING,
            buckets::LATENCY.bucket(waiting_ns),
        );
        add_sample(
            tgid,
            syscall,
            hist_kind::ON_CPU,
            buckets::LATENCY.bucket(latency_ns - waiting_ns),
        );
    }
    if ret > 0 {
        add_sample(
            tgid,
            syscall,
            hist_kind::SIZE,
            buckets::SIZE.bucket(ret.cast_unsigned()),
        );
    } else if ret < 0 {
        let errno = if ret < -65_535 { 65_535 } else { (-ret) as u16 };
        add_sample(tgid, syscall, hist_kind::ERRNO, errno);
    }
}

/// Adds a call to its per-fd counters; when the fd key does not fit, to the per-syscall
/// overflow counters, so totals stay exact; only when both are full is the call lost (counted).
#[inline(always)]
fn count_call(key: &FdKey, ret: i64, latency_ns: u64, waiting_ns: u64) {
    if add_to(&FD_STATS, key, ret, latency_ns, waiting_ns) {
        return;
    }
    bump(counters::FD_KEYS_OVERFLOWED);
    let overflow_key = FdKey {
        fd: FD_OVERFLOW,
        kind: fd_kind::UNKNOWN,
        inode: 0,
        ..*key
    };
    if !add_to(&OVERFLOW_STATS, &overflow_key, ret, latency_ns, waiting_ns) {
        bump(counters::CALLS_LOST);
    }
}

#[inline(always)]
fn add_to(
    map: &aya_ebpf::maps::PerCpuHashMap<FdKey, FdStats>,
    key: &FdKey,
    ret: i64,
    latency_ns: u64,
    waiting_ns: u64,
) -> bool {
    if let Some(stats) = map.get_ptr_mut(key) {
        // SAFETY: this CPU's slot of a per-CPU value; no other program writes it concurrently.
        unsafe { (*stats).record(ret, latency_ns, waiting_ns) };
        return true;
    }
    let mut fresh = FdStats::default();
    fresh.record(ret, latency_ns, waiting_ns);
    if map.insert(key, &fresh, u64::from(BPF_NOEXIST)).is_ok() {
        return true;
    }
    // Another CPU may have inserted the key between our lookup and insert: look again.
    if let Some(stats) = map.get_ptr_mut(key) {
        // SAFETY: as above.
        unsafe { (*stats).record(ret, latency_ns, waiting_ns) };
        return true;
    }
    false
}

#[inline(always)]
fn add_sample(tgid: u32, syscall: u8, kind: u8, bucket: u16) {
    let key = HistKey {
        tgid,
        syscall,
        kind,
        bucket,
    };
    if let Some(count) = HISTOGRAMS.get_ptr_mut(&key) {
        // SAFETY: this CPU's slot of a per-CPU value.
        unsafe { *count += 1 };
        return;
    }
    if HISTOGRAMS.insert(&key, &1, u64::from(BPF_NOEXIST)).is_ok() {
        return;
    }
    if let Some(count) = HISTOGRAMS.get_ptr_mut(&key) {
        // SAFETY: as above.
        unsafe { *count += 1 };
        return;
    }
    bump(counters::HISTOGRAM_SAMPLES_LOST);
}
