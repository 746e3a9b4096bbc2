//! fentry/fexit on each syscall's `__<arch>_sys_<name>(const struct pt_regs *regs)` function:
//! they fire only for the traced syscalls and read arguments without a helper call. One pair
//! of programs per syscall (since the attach target is fixed at load time), made from the
//! syscall table in `tracer_common`, which also gives the collector their names.
use aya_ebpf::{
    macros::{fentry, fexit},
    programs::{FEntryContext, FExitContext},
};
use tracer_common::syscalls;

use crate::{account, arch};

/// An fentry and an fexit program per row of the syscall table, named there.
macro_rules! fentry_programs {
    ($( { name: $name:ident, index: $index:ident, fentry: $fentry:ident, fexit: $fexit:ident, $($_rest:tt)* } )*) => { $(
        #[fentry]
        pub fn $fentry(ctx: FEntryContext) -> i32 {
            let regs: *const u8 = ctx.arg(0);
            account::on_enter(syscalls::$index, arch::first_arg_btf(regs));
            0
        }

        #[fexit]
        pub fn $fexit(ctx: FExitContext) -> i32 {
            // fexit sees the function's arguments, then its return value.
            account::on_exit(ctx.arg(1));
            0
        }
    )* };
}

tracer_common::syscall_table!(fentry_programs);
