//! The `syscalls:sys_enter_<name>` / `sys_exit_<name>` tracepoints: one attachment per traced
//! syscall, so only traced syscalls pay anything; the record layout is fixed by the kernel:
//! <https://github.com/torvalds/linux/blob/v6.18/kernel/trace/trace_syscalls.c#L233-L270>
//! (`int __syscall_nr` at 8, then the arguments (enter) or `long ret` (exit) at 16, 8 bytes each).
use aya_ebpf::{EbpfContext as _, macros::tracepoint, programs::TracePointContext};
use tracer_common::syscalls;

use crate::account;

const SYSCALL_NR: usize = 8;
const FIRST_FIELD: usize = 16;

#[tracepoint]
pub fn tracer_tp_in(ctx: TracePointContext) -> u32 {
    let record = ctx.as_ptr().cast::<u8>();
    // SAFETY: tracepoint programs may load from their record at constant offsets inside it.
    let nr = unsafe { *record.add(SYSCALL_NR).cast::<i32>() };
    if let Some(syscall) = syscalls::index_of(i64::from(nr)) {
        // SAFETY: as above.
        let fd = unsafe { *record.add(FIRST_FIELD).cast::<u64>() };
        account::on_enter(syscall, fd);
    }
    0
}

#[tracepoint]
pub fn tracer_tp_out(ctx: TracePointContext) -> u32 {
    let record = ctx.as_ptr().cast::<u8>();
    // SAFETY: as above.
    account::on_exit(unsafe { *record.add(FIRST_FIELD).cast::<i64>() });
    0
}
