//! tracer's kernel side. Counts the I/O syscalls of targeted processes in per-CPU maps; nothing
//! is streamed per event and no payload byte is ever read, only return values (sizes).
//!
//! Data path: an entry program remembers (start time, fd, syscall) per thread in `IN_FLIGHT`;
//! the matching exit program adds the call to `FD_STATS` and `HISTOGRAMS`. The same accounting
//! code ([`account`]) sits behind every attach mechanism:
//! - [`fentry`]: fentry/fexit on each `__<arch>_sys_*` function (cheapest where allowed);
//! - [`raw`]: raw tracepoints `sys_enter`/`sys_exit`, either BTF-typed (`tp_btf`) or plain;
//! - [`tracepoint`]: the `syscalls:sys_enter_*`/`sys_exit_*` tracepoints (needs tracefs).
//!
//! [`lifecycle`] follows forks (children of targets become targets) and exits.
#![no_std]
#![no_main]

mod account;
mod arch;
mod fentry;
mod floor;
mod lifecycle;
mod maps;
mod raw;
mod tracepoint;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any program that could reach this, so it is never called.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
