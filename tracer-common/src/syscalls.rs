//! The I/O syscalls tracer counts, as one table ([`syscall_table!`](crate::syscall_table)) from
//! which both sides of the kernel boundary derive what they know of them: here their indices
//! (used in map keys), names, directions and this architecture's syscall numbers, and the names
//! of their fentry/fexit programs; in tracer-ebpf those programs themselves.

/// Index of a traced syscall, as stored in map keys.
pub type Index = u32;

/// Which way a syscall moves payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Into the process (read-like in every report).
    In,
    /// Out of the process (write-like).
    Out,
}

/// The traced syscalls, one row each, in [`Index`] order: the index of a row is its position,
/// stored in map keys and so in every snapshot; add rows at the end.
///
/// Syscall numbers: `x86_64`
/// <https://github.com/torvalds/linux/blob/v6.18/arch/x86/entry/syscalls/syscall_64.tbl>,
/// aarch64 <https://github.com/torvalds/linux/blob/v6.18/include/uapi/asm-generic/unistd.h>.
///
/// Calls the macro `$callback` with every row, the names derived from the syscall's name
/// (`read`) filled in:
/// `{ name: read, index: READ, fentry: tracer_fe_read, fexit: tracer_fx_read, x86_64: 0,
/// aarch64: 63, dir: In }`. This module and tracer-ebpf's fentry programs are such callbacks.
#[macro_export]
macro_rules! syscall_table {
    ($callback:ident) => {
        $crate::syscall_table! { @derive $callback;
            read     => { x86_64: 0,   aarch64: 63,  dir: In },
            readv    => { x86_64: 19,  aarch64: 65,  dir: In },
            recvfrom => { x86_64: 45,  aarch64: 207, dir: In },
            recvmsg  => { x86_64: 47,  aarch64: 212, dir: In },
            pread64  => { x86_64: 17,  aarch64: 67,  dir: In },
            recvmmsg => { x86_64: 299, aarch64: 243, dir: In },
            write    => { x86_64: 1,   aarch64: 64,  dir: Out },
            writev   => { x86_64: 20,  aarch64: 66,  dir: Out },
            sendto   => { x86_64: 44,  aarch64: 206, dir: Out },
            sendmsg  => { x86_64: 46,  aarch64: 211, dir: Out },
            pwrite64 => { x86_64: 18,  aarch64: 68,  dir: Out },
            sendmmsg => { x86_64: 307, aarch64: 269, dir: Out },
        }
    };
    (@derive $callback:ident; $(
        $name:ident => { x86_64: $x86_64:literal, aarch64: $aarch64:literal, dir: $dir:ident },
    )*) => {
        $crate::__pastey::paste! {
            $callback! { $( {
                name: $name,
                index: [<$name:upper>],
                fentry: [<tracer_fe_ $name>],
                fexit: [<tracer_fx_ $name>],
                x86_64: $x86_64,
                aarch64: $aarch64,
                dir: $dir
            } )* }
        }
    };
}

/// Picks this architecture's column of the table.
#[cfg(any(target_arch = "x86_64", bpf_target_arch = "x86_64"))]
macro_rules! this_arch {
    ($x86_64:literal, $aarch64:literal) => {
        $x86_64
    };
}
#[cfg(any(target_arch = "aarch64", bpf_target_arch = "aarch64"))]
macro_rules! this_arch {
    ($x86_64:literal, $aarch64:literal) => {
        $aarch64
    };
}
#[cfg(not(any(
    target_arch = "x86_64",
    bpf_target_arch = "x86_64",
    target_arch = "aarch64",
    bpf_target_arch = "aarch64"
)))]
compile_error!(
    "tracer runs on x86_64 and aarch64 only: syscall numbers, register layouts and syscall function names are known for those"
);

macro_rules! define_syscalls {
    ($( {
        name: $name:ident,
        index: $index:ident,
        fentry: $fentry:ident,
        fexit: $fexit:ident,
        x86_64: $x86_64:literal,
        aarch64: $aarch64:literal,
        dir: $dir:ident
    } )*) => {
        /// The table's rows, numbered by the compiler in order.
        #[expect(non_camel_case_types, reason = "named after the syscalls")]
        #[repr(u32)]
        enum Row {
            $($name,)*
        }

        $(
            #[doc = concat!("[`Index`] of `", stringify!($name), "`.")]
            pub const $index: Index = Row::$name as Index;
        )*

        /// How many syscalls tracer counts.
        pub const COUNT: usize = [$($index),*].len();

        /// Syscall names, indexed by [`Index`]; also the suffix of their `syscalls:sys_enter_*`
        /// tracepoints and of their `__<arch>_sys_*` entry functions.
        pub const NAMES: [&str; COUNT] = [$(stringify!($name)),*];

        /// Which way each syscall moves payload, indexed by [`Index`].
        pub const DIRECTIONS: [Direction; COUNT] = [$(Direction::$dir),*];

        /// The syscall numbers of this architecture, indexed by [`Index`].
        pub const NUMBERS: [i64; COUNT] = [$(this_arch!($x86_64, $aarch64)),*];

        /// The (fentry, fexit) programs tracer-ebpf defines for each syscall, indexed by
        /// [`Index`]; both attach to the syscall's `__<arch>_sys_<name>` function.
        pub const FENTRY_PROGRAMS: [(&str, &str); COUNT] =
            [$((stringify!($fentry), stringify!($fexit))),*];

        /// Maps a syscall number to its [`Index`], or `None` for syscalls tracer does not
        /// count. A `match` compiles to a handful of compares: cheap enough for every syscall
        /// on the machine.
        #[inline(always)]
        #[must_use]
        pub const fn index_of(nr: i64) -> Option<Index> {
            Some(match nr {
                $(this_arch!($x86_64, $aarch64) => $index,)*
                _ => return None,
            })
        }
    };
}

crate::syscall_table!(define_syscalls);

/// The [`SYSCALL_MASK`](crate::globals::SYSCALL_MASK) of every syscall in the table.
pub const ALL_MASK: u32 = (1 << COUNT) - 1;

/// Whether the syscall of index `index` is in `mask` (bit `index` set).
#[inline(always)]
#[must_use]
pub const fn in_mask(mask: u32, index: Index) -> bool {
    index < u32::BITS && (mask >> index) & 1 != 0
}

/// True for syscalls that move data into the process (read-like in every report).
#[must_use]
pub const fn is_read_like(index: Index) -> bool {
    (index as usize) < COUNT && matches!(DIRECTIONS[index as usize], Direction::In)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_index_of_agree() {
        for (index, nr) in NUMBERS.iter().enumerate() {
            assert_eq!(
                index_of(*nr),
                Some(Index::try_from(index).unwrap()),
                "{}",
                NAMES[index]
            );
        }
    }

    /// The indices are stored in map keys: the table's order must not change under them.
    #[test]
    fn indices_are_the_table_order() {
        assert_eq!((READ, RECVMMSG, WRITE, SENDMMSG), (0, 5, 6, 11));
        assert_eq!(NAMES[PWRITE64 as usize], "pwrite64");
        assert_eq!(
            FENTRY_PROGRAMS[SENDTO as usize],
            ("tracer_fe_sendto", "tracer_fx_sendto")
        );
        assert!(is_read_like(RECVMMSG) && !is_read_like(WRITE) && !is_read_like(12));
        assert_eq!(ALL_MASK, 0xfff);
        assert!(in_mask(0b100, 2) && !in_mask(0b100, 1) && !in_mask(ALL_MASK, 40));
    }
}
