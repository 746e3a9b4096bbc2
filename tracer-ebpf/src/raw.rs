//! Raw tracepoints on `sys_enter`/`sys_exit`: they fire for every syscall of every task, so the
//! first thing done is dropping syscalls tracer does not count (a few compares, no map lookup).
//!
//! `TP_PROTO(struct pt_regs *regs, long id)` and `TP_PROTO(struct pt_regs *regs, long ret)`:
//! <https://github.com/torvalds/linux/blob/v6.18/include/trace/events/syscalls.h#L18-L52>
use aya_ebpf::{
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use tracer_common::syscalls;

use crate::{account, arch};

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn tracer_raw_in(ctx: RawTracePointContext) -> i32 {
    let id: i64 = ctx.arg(1);
    if let Some(syscall) = syscalls::index_of(id) {
        let regs: u64 = ctx.arg(0);
        account::on_enter(syscall, arch::first_arg(regs as *const u8));
    }
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn tracer_raw_out(ctx: RawTracePointContext) -> i32 {
    let regs: u64 = ctx.arg(0);
    if syscalls::index_of(arch::syscall_nr(regs as *const u8)).is_some() {
        account::on_exit(ctx.arg(1));
    }
    0
}

#[btf_tracepoint(function = "sys_enter")]
pub fn tracer_btf_in(ctx: BtfTracePointContext) -> i32 {
    let id: i64 = ctx.arg(1);
    if let Some(syscall) = syscalls::index_of(id) {
        let regs: *const u8 = ctx.arg(0);
        account::on_enter(syscall, arch::first_arg_btf(regs));
    }
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn tracer_btf_out(ctx: BtfTracePointContext) -> i32 {
    let regs: *const u8 = ctx.arg(0);
    if syscalls::index_of(arch::syscall_nr_btf(regs)).is_some() {
        account::on_exit(ctx.arg(1));
    }
    0
}
