//! The I/O syscalls tracer counts: their indices (used in map keys), names, direction, and the
//! architecture's syscall numbers.

/// Index of a traced syscall, as stored in map keys.
pub type Index = u32;

pub const READ: Index = 0;
pub const READV: Index = 1;
pub const RECVFROM: Index = 2;
pub const RECVMSG: Index = 3;
pub const PREAD64: Index = 4;
pub const RECVMMSG: Index = 5;
pub const WRITE: Index = 6;
pub const WRITEV: Index = 7;
pub const SENDTO: Index = 8;
pub const SENDMSG: Index = 9;
pub const PWRITE64: Index = 10;
pub const SENDMMSG: Index = 11;
pub const COUNT: usize = 12;

/// Syscall names, indexed by [`Index`]; also the suffix of their `syscalls:sys_enter_*`
/// tracepoints and of their `__<arch>_sys_*` entry functions.
pub const NAMES: [&str; COUNT] = [
    "read", "readv", "recvfrom", "recvmsg", "pread64", "recvmmsg", "write", "writev", "sendto",
    "sendmsg", "pwrite64", "sendmmsg",
];

/// True for syscalls that move data into the process (read-like in every report).
#[must_use]
pub const fn is_read_like(index: Index) -> bool {
    index < WRITE
}

/// True for the syscalls beyond the core eight (reported, but marked as extra).
#[must_use]
pub const fn is_extra(index: Index) -> bool {
    matches!(index, PREAD64 | RECVMMSG | PWRITE64 | SENDMMSG)
}

/// Returns the syscall numbers of this architecture, indexed by [`Index`].
///
/// `x86_64`: <https://github.com/torvalds/linux/blob/v6.18/arch/x86/entry/syscalls/syscall_64.tbl>
/// aarch64: <https://github.com/torvalds/linux/blob/v6.18/include/uapi/asm-generic/unistd.h>
#[cfg(any(target_arch = "x86_64", bpf_target_arch = "x86_64"))]
pub const NUMBERS: [i64; COUNT] = [0, 19, 45, 47, 17, 299, 1, 20, 44, 46, 18, 307];
#[cfg(any(target_arch = "aarch64", bpf_target_arch = "aarch64"))]
pub const NUMBERS: [i64; COUNT] = [63, 65, 207, 212, 67, 243, 64, 66, 206, 211, 68, 269];

/// Maps a syscall number to its [`Index`], or `None` for syscalls tracer does not count.
/// A `match` compiles to a handful of compares: cheap enough for every syscall on the machine.
#[cfg(any(target_arch = "x86_64", bpf_target_arch = "x86_64"))]
#[inline(always)]
#[must_use]
pub const fn index_of(nr: i64) -> Option<Index> {
    Some(match nr {
        0 => READ,
        19 => READV,
        45 => RECVFROM,
        47 => RECVMSG,
        17 => PREAD64,
        299 => RECVMMSG,
        1 => WRITE,
        20 => WRITEV,
        44 => SENDTO,
        46 => SENDMSG,
        18 => PWRITE64,
        307 => SENDMMSG,
        _ => return None,
    })
}

#[cfg(any(target_arch = "aarch64", bpf_target_arch = "aarch64"))]
#[inline(always)]
#[must_use]
pub const fn index_of(nr: i64) -> Option<Index> {
    Some(match nr {
        63 => READ,
        65 => READV,
        207 => RECVFROM,
        212 => RECVMSG,
        67 => PREAD64,
        243 => RECVMMSG,
        64 => WRITE,
        66 => WRITEV,
        206 => SENDTO,
        211 => SENDMSG,
        68 => PWRITE64,
        269 => SENDMMSG,
        _ => return None,
    })
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
}
