//! Empty programs on `sys_enter`/`sys_exit` (`tp_btf`), loaded only by the hidden `tracer
//! floor` command for `cargo xtask bench`: what the kernel itself charges every syscall of
//! every process while any program sits on the syscall tracepoints (the tracepoint slow path
//! and two program calls). tracer's cost for untargeted processes is read against it.
use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};

#[btf_tracepoint(function = "sys_enter")]
pub fn tracer_floor_in(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn tracer_floor_out(_ctx: BtfTracePointContext) -> i32 {
    0
}
