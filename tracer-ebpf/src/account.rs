//! The accounting shared by every attach mechanism: filter, remember the entry, count the exit.
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
};
use tracer_common::{
    FD_OVERFLOW, FdKey, FdStats, HistKey, InFlight, buckets, counters, hist_kind, syscalls,
};

use crate::maps::{
    CGROUP_SLOT_TARGETS, FD_STATS, FILTER_BY_CGROUP, HISTOGRAMS, IN_FLIGHT, OVERFLOW_STATS,
    SYSCALL_MASK, TARGET_CGROUPS, TARGET_TGIDS, add_target, bump, is_target,
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
    // SAFETY: the helper has no preconditions.
    let start_ns = unsafe { bpf_ktime_get_ns() };
    // A thread's slot is made once and rewritten in place on every later syscall: a hash
    // insert and delete per call would cost more than everything else here together.
    if let Some(slot) = IN_FLIGHT.get_ptr_mut(&pid_tgid) {
        // SAFETY: pointer from a successful lookup; only this thread uses its own slot.
        unsafe {
            (*slot).start_ns = start_ns;
            (*slot).fd = fd as i32;
            (*slot).syscall = syscall;
        }
        return;
    }
    let entry = InFlight {
        start_ns,
        fd: fd as i32,
        syscall,
    };
    if IN_FLIGHT.insert(&pid_tgid, &entry, 0).is_err() {
        bump(counters::IN_FLIGHT_FULL);
    }
}

/// A syscall returned `ret`. Counted only if its entry was seen (so calls already blocked
/// when tracing started are not counted half).
#[inline(always)]
pub fn on_exit(ret: i64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    // Untargeted processes stop here, without the hash lookup of their thread's slot. In
    // cgroup mode a process the entry found by its cgroup but could not add to the full target
    // set has a slot all the same: its calls are counted, so look.
    if !is_target(tgid) && FILTER_BY_CGROUP.load() == 0 {
        return;
    }
    let Some(slot) = IN_FLIGHT.get_ptr_mut(&pid_tgid) else {
        return;
    };
    // SAFETY: pointer from a successful lookup; only this thread uses its own slot. A zero
    // start marks the slot as consumed (the exit of a call whose entry we did not see).
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

    count_call(
        &FdKey {
            tgid,
            fd: entry.fd,
            syscall: entry.syscall,
            _pad: 0,
        },
        ret,
        latency_ns,
    );
    let syscall = entry.syscall as u8;
    add_sample(
        tgid,
        syscall,
        hist_kind::LATENCY,
        buckets::LATENCY.bucket(latency_ns),
    );
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
fn count_call(key: &FdKey, ret: i64, latency_ns: u64) {
    if add_to(&FD_STATS, key, ret, latency_ns) {
        return;
    }
    bump(counters::FD_KEYS_OVERFLOWED);
    let overflow_key = FdKey {
        fd: FD_OVERFLOW,
        ..*key
    };
    if !add_to(&OVERFLOW_STATS, &overflow_key, ret, latency_ns) {
        bump(counters::CALLS_LOST);
    }
}

#[inline(always)]
fn add_to(
    map: &aya_ebpf::maps::PerCpuHashMap<FdKey, FdStats>,
    key: &FdKey,
    ret: i64,
    latency_ns: u64,
) -> bool {
    if let Some(stats) = map.get_ptr_mut(key) {
        // SAFETY: this CPU's slot of a per-CPU value; no other program writes it concurrently.
        unsafe { (*stats).record(ret, latency_ns) };
        return true;
    }
    let mut fresh = FdStats::default();
    fresh.record(ret, latency_ns);
    if map.insert(key, &fresh, u64::from(BPF_NOEXIST)).is_ok() {
        return true;
    }
    // Another CPU may have inserted the key between our lookup and insert: look again.
    if let Some(stats) = map.get_ptr_mut(key) {
        // SAFETY: as above.
        unsafe { (*stats).record(ret, latency_ns) };
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
