//! Following targets through fork, exec and exit.
//!
//! `sched:sched_process_fork` runs in the parent: when the parent is a target, the child's pid
//! becomes one. For a new thread that pid is a tid, which is harmless while the thread lives
//! (no process can own that number as its tgid) and removed when the thread exits.
//! `sched:sched_process_exit` runs in the exiting task; when its whole group is dead the target
//! is recorded in `EXITS` and dropped, so a reused pid is not counted as the old process.
//! Field offsets vary between kernels, so the collector reads them from the format files.
use aya_ebpf::{
    EbpfContext as _,
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_ktime_get_ns,
        bpf_probe_read_kernel,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use tracer_common::{ExitInfo, ThreadExit, counters, sched_switch};

use crate::{
    account::target_of,
    maps::{
        EXEC_NAMES, EXIT_GROUP_DEAD_OFFSET, EXITS, FILTER_BY_CGROUP, FORK_CHILD_PID_OFFSET,
        IN_FLIGHT, PENDING_EXEC, SIGNAL_LIVE_OFFSET, TARGET_TGIDS, TASK_RUNTIME_OFFSET,
        TASK_SIGNAL_OFFSET, THREAD_EXITS, add_target, bump, in_syscall, is_target, remove_target,
        set_in_syscall,
    },
};

#[tracepoint]
pub fn tracer_fork(ctx: TracePointContext) -> u32 {
    let parent = ctx.tgid();
    if !is_target(parent) {
        return 0;
    }
    let Some(target) = TARGET_TGIDS.get_ptr(&parent) else {
        return 0;
    };
    // SAFETY: pointer from a successful lookup, read at once.
    let target = unsafe { *target };
    // SAFETY: the offset comes from this kernel's format file for this tracepoint.
    let Ok(child) = (unsafe { ctx.read_at::<i32>(FORK_CHILD_PID_OFFSET.load() as usize) }) else {
        return 0;
    };
    if !add_target(child.cast_unsigned(), target) {
        bump(counters::CHILDREN_NOT_TRACED);
    }
    0
}

/// `sched:sched_process_exec` runs in the task that has just exec'd, before its first
/// instruction: a command tracer started and held before its exec (`PENDING_EXEC`) becomes a
/// target here, so its counts start exactly at the new program, whatever the start-up
/// handshake did before. A target's new name (`comm`, set by the exec) goes in `EXEC_NAMES`.
#[tracepoint]
pub fn tracer_exec(ctx: TracePointContext) -> u32 {
    let tgid = ctx.tgid();
    if let Some(target) = PENDING_EXEC.get_ptr(&tgid) {
        // SAFETY: pointer from a successful lookup, read at once.
        let target = unsafe { *target };
        if !add_target(tgid, target) {
            bump(counters::CHILDREN_NOT_TRACED);
        }
        let _ = PENDING_EXEC.remove(&tgid);
    }
    if is_target(tgid) {
        let comm = bpf_get_current_comm().unwrap_or_default();
        // A full map costs only this name (the collector reads /proc instead), not a count.
        let _ = EXEC_NAMES.insert(&tgid, &comm, 0);
    }
    0
}

#[tracepoint]
pub fn tracer_exit(ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let tgid = (pid_tgid >> 32) as u32;
    // Only threads of targets have a syscall slot (see account::on_enter) and an entry
    // added by the fork handler; both go with the thread. (In cgroup mode, so do threads of a
    // process found by its cgroup that did not fit in the full target set.)
    let targeted = is_target(tgid);
    if targeted || FILTER_BY_CGROUP.load() != 0 {
        let _ = IN_FLIGHT.remove(&tid);
        set_in_syscall(tid, 0);
    }
    if targeted {
        record_thread_exit(tid, tgid);
    }
    if targeted && tid != tgid {
        remove_target(tid);
    }
    if (!targeted && FILTER_BY_CGROUP.load() == 0) || !group_dead(&ctx) {
        return 0;
    }
    let Some(target) = target_of(tgid) else {
        return 0;
    };
    let exit = ExitInfo {
        // SAFETY: the helper has no preconditions.
        exit_ns: unsafe { bpf_ktime_get_ns() },
        comm: bpf_get_current_comm().unwrap_or_default(),
        target,
        _pad: 0,
    };
    if EXITS.insert(&tgid, &exit, 0).is_err() {
        bump(counters::EXITS_NOT_RECORDED);
    }
    let _ = EXEC_NAMES.remove(&tgid);
    remove_target(tgid);
    0
}

/// Records the exiting thread's on-CPU time as the kernel has it now; the scheduler probe
/// settles it at the thread's last switch-out ([`tracer_switch`]).
#[inline(always)]
fn record_thread_exit(tid: u32, tgid: u32) {
    let Some(runtime_ns) = current_runtime_ns() else {
        return;
    };
    let exit = ThreadExit {
        tgid,
        settled: 0,
        runtime_ns,
    };
    if THREAD_EXITS.insert(&tid, &exit, 0).is_err() {
        bump(counters::THREAD_EXITS_NOT_RECORDED);
    }
}

/// The current task's `se.sum_exec_runtime`: ns on a CPU over its life, as of the scheduler's
/// last update of it (every tick and every switch). `None` if this kernel's offset is unknown.
#[inline(always)]
fn current_runtime_ns() -> Option<u64> {
    let offset = TASK_RUNTIME_OFFSET.load();
    if offset == 0 {
        return None;
    }
    // SAFETY: the offset comes from this kernel's BTF; bpf_probe_read_kernel checks the address.
    unsafe {
        let task = bpf_get_current_task() as *const u8;
        bpf_probe_read_kernel(task.add(offset as usize).cast::<u64>()).ok()
    }
}

/// `EXIT_DEAD | EXIT_ZOMBIE` in `sched_switch`'s `prev_state`: the task's last switch-out.
const EXITED_STATES: i64 = 0x10 | 0x20;

/// `sched:sched_switch` runs on every context switch, in the task being switched out (`prev`,
/// the current task). What tracer does with it:
/// - a thread of a target inside a traced syscall that is switched out starts waiting, and
///   one switched back in stops: the waiting/on-CPU split of each call;
/// - an exiting thread of a target, at its last switch-out (when the scheduler has just
///   brought its runtime up to date), gets its final CPU time.
///
/// Every other switch costs two array reads (`IN_SYSCALL`) and a load from the record.
#[tracepoint]
pub fn tracer_switch(ctx: TracePointContext) -> u32 {
    let prev = bpf_get_current_pid_tgid() as u32;
    let record = ctx.as_ptr().cast::<u8>();
    // SAFETY: tracepoint programs may load from their record at constant offsets inside it;
    // the collector attaches this program only where the format file has these offsets.
    let (prev_state, next) = unsafe {
        (
            *record.add(sched_switch::PREV_STATE).cast::<i64>(),
            *record.add(sched_switch::NEXT_PID).cast::<i32>(),
        )
    };
    if in_syscall(prev)
        && let Some(slot) = IN_FLIGHT.get_ptr_mut(&prev)
    {
        // SAFETY: pointer from a successful lookup; the thread is leaving this CPU, so it does
        // not touch its slot until it is switched back in.
        unsafe { (*slot).off_cpu_since_ns = bpf_ktime_get_ns() };
    }
    if prev_state & EXITED_STATES != 0
        && let Some(exit) = THREAD_EXITS.get_ptr_mut(&prev)
        && let Some(runtime_ns) = current_runtime_ns()
    {
        // SAFETY: pointer from a successful lookup; only this dying thread writes its entry.
        unsafe {
            (*exit).runtime_ns = runtime_ns;
            (*exit).settled = 1;
        }
    }
    let next = next.cast_unsigned();
    if next != 0
        && in_syscall(next)
        && let Some(slot) = IN_FLIGHT.get_ptr_mut(&next)
    {
        // SAFETY: pointer from a successful lookup; the thread is not running until this
        // switch completes.
        unsafe {
            let since = (*slot).off_cpu_since_ns;
            if since != 0 {
                (*slot).waiting_ns += bpf_ktime_get_ns().saturating_sub(since);
                (*slot).off_cpu_since_ns = 0;
            }
        }
    }
    0
}

/// Whether the exiting task is the last of its thread group: the tracepoint's `group_dead`
/// where the kernel has it; else, as the kernel itself decides it, `signal->live` (threads not
/// yet exiting), which `do_exit` has decremented before this tracepoint: 0 for the last one.
/// Two threads exiting at once may both see 0; recording the exit twice is harmless.
#[inline(always)]
fn group_dead(ctx: &TracePointContext) -> bool {
    let offset = EXIT_GROUP_DEAD_OFFSET.load();
    if offset != 0 {
        // SAFETY: the offset comes from this kernel's format file for this tracepoint.
        return unsafe { ctx.read_at::<u8>(offset as usize) }.is_ok_and(|dead| dead != 0);
    }
    let signal_offset = TASK_SIGNAL_OFFSET.load();
    if signal_offset == 0 {
        return false;
    }
    // SAFETY: the offsets come from this kernel's BTF, and bpf_probe_read_kernel checks every
    // address it reads (a bad one is an error, never a fault).
    unsafe {
        let task = bpf_get_current_task() as *const u8;
        let Ok(signal) =
            bpf_probe_read_kernel(task.add(signal_offset as usize).cast::<*const u8>())
        else {
            return false;
        };
        let live = signal.add(SIGNAL_LIVE_OFFSET.load() as usize).cast::<i32>();
        bpf_probe_read_kernel(live).is_ok_and(|live| live == 0)
    }
}
