//! Where `struct pt_regs` keeps the first syscall argument and the syscall number.
//!
//! x86_64: <https://github.com/torvalds/linux/blob/v6.18/arch/x86/include/asm/ptrace.h#L103-L150>
//! (r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ...; 8 bytes each).
//! aarch64: <https://github.com/torvalds/linux/blob/v6.18/arch/arm64/include/asm/ptrace.h#L173-L200>
//! (regs[31], sp, pc, pstate, orig_x0, syscallno).
use aya_ebpf::helpers::bpf_probe_read_kernel;

#[cfg(not(any(bpf_target_arch = "x86_64", bpf_target_arch = "aarch64")))]
compile_error!("tracer's probes know the pt_regs layouts of x86_64 and aarch64 only");

#[cfg(bpf_target_arch = "x86_64")]
const FIRST_ARG: usize = 14 * 8; // di
#[cfg(bpf_target_arch = "x86_64")]
const SYSCALL_NR: usize = 15 * 8; // orig_ax

#[cfg(bpf_target_arch = "aarch64")]
const FIRST_ARG: usize = 0; // regs[0]
#[cfg(bpf_target_arch = "aarch64")]
const SYSCALL_NR: usize = 34 * 8; // syscallno (s32; little-endian low half of this slot)

/// First syscall argument from an untyped `pt_regs` pointer (raw tracepoint).
#[inline(always)]
pub fn first_arg(regs: *const u8) -> u64 {
    // SAFETY: bpf_probe_read_kernel validates the address; a failed read yields u64::MAX,
    // which becomes fd -1 in the counts.
    unsafe { bpf_probe_read_kernel(regs.add(FIRST_ARG).cast::<u64>()) }.unwrap_or(u64::MAX)
}

/// Syscall number from an untyped `pt_regs` pointer (raw tracepoint), -1 if unreadable.
#[inline(always)]
pub fn syscall_nr(regs: *const u8) -> i64 {
    // SAFETY: as above.
    let nr = unsafe { bpf_probe_read_kernel(regs.add(SYSCALL_NR).cast::<u64>()) };
    nr.map_or(-1, |nr| i64::from(nr as i32))
}

/// First syscall argument from a BTF-typed `pt_regs` pointer (fentry, tp_btf): the verifier
/// allows a direct load, which is cheaper than the probe-read helper.
#[inline(always)]
pub fn first_arg_btf(regs: *const u8) -> u64 {
    // SAFETY: `regs` is a PTR_TO_BTF_ID of struct pt_regs; the verifier checks the offset
    // against its BTF size and turns the load into a fault-safe one.
    unsafe { *regs.add(FIRST_ARG).cast::<u64>() }
}

/// Syscall number from a BTF-typed `pt_regs` pointer.
#[inline(always)]
pub fn syscall_nr_btf(regs: *const u8) -> i64 {
    // SAFETY: as in `first_arg_btf`.
    i64::from(unsafe { *regs.add(SYSCALL_NR).cast::<u64>() } as i32)
}
