//! fentry/fexit on each syscall's `__<arch>_sys_<name>(const struct pt_regs *regs)` function:
//! they fire only for the traced syscalls and read arguments without a helper call. One pair
//! of programs per syscall, since the attach target is fixed at load time.
use aya_ebpf::{
    macros::{fentry, fexit},
    programs::{FEntryContext, FExitContext},
};
use tracer_common::syscalls;

use crate::{account, arch};

macro_rules! fentry_pair {
    ($entry:ident, $exit:ident, $syscall:expr) => {
        #[fentry]
        pub fn $entry(ctx: FEntryContext) -> i32 {
            let regs: *const u8 = ctx.arg(0);
            account::on_enter($syscall, arch::first_arg_btf(regs));
            0
        }

        #[fexit]
        pub fn $exit(ctx: FExitContext) -> i32 {
            // fexit sees the function's arguments, then its return value.
            account::on_exit(ctx.arg(1));
            0
        }
    };
}

fentry_pair!(tracer_fe_read, tracer_fx_read, syscalls::READ);
fentry_pair!(tracer_fe_readv, tracer_fx_readv, syscalls::READV);
fentry_pair!(tracer_fe_recvfrom, tracer_fx_recvfrom, syscalls::RECVFROM);
fentry_pair!(tracer_fe_recvmsg, tracer_fx_recvmsg, syscalls::RECVMSG);
fentry_pair!(tracer_fe_pread64, tracer_fx_pread64, syscalls::PREAD64);
fentry_pair!(tracer_fe_recvmmsg, tracer_fx_recvmmsg, syscalls::RECVMMSG);
fentry_pair!(tracer_fe_write, tracer_fx_write, syscalls::WRITE);
fentry_pair!(tracer_fe_writev, tracer_fx_writev, syscalls::WRITEV);
fentry_pair!(tracer_fe_sendto, tracer_fx_sendto, syscalls::SENDTO);
fentry_pair!(tracer_fe_sendmsg, tracer_fx_sendmsg, syscalls::SENDMSG);
fentry_pair!(tracer_fe_pwrite64, tracer_fx_pwrite64, syscalls::PWRITE64);
fentry_pair!(tracer_fe_sendmmsg, tracer_fx_sendmmsg, syscalls::SENDMMSG);
