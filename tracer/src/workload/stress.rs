//! Stress shapes for the hardening tests: many threads, a burst of short-lived children, and
//! more distinct fds than the per-fd map holds. Like the rest of `tracer workload`, every I/O
//! syscall made after the start signal is a raw libc call the caller can count in advance.
use std::os::fd::AsRawFd as _;

use crate::error::{ErrorKind, user};

/// `threads` threads, all alive at once; each writes `writes` x 10 B to /dev/null.
pub fn threads(threads: u32, writes: u32) -> anyhow::Result<()> {
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let fd = devnull.as_raw_fd();
    // One malloc arena: glibc reads /sys/devices/system/cpu/online when it makes a new one
    // for a new thread, an I/O syscall the caller could not predict.
    // SAFETY: mallopt only changes allocator settings.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    // Two barriers: every thread exists before any writes, and none exits before all wrote,
    // so the kernel sees `threads` live threads of one process at the peak.
    let started = std::sync::Arc::new(std::sync::Barrier::new(threads as usize + 1));
    let wrote = std::sync::Arc::new(std::sync::Barrier::new(threads as usize + 1));
    let mut handles = Vec::with_capacity(threads as usize);
    for index in 0..threads {
        let (started, wrote) = (started.clone(), wrote.clone());
        let handle = std::thread::Builder::new()
            // Small stacks: 10,000 threads x the default 8 MiB would be 80 GiB of address space.
            .stack_size(64 * 1024)
            .spawn(move || {
                started.wait();
                for _ in 0..writes {
                    // SAFETY: valid 10-byte buffer and an fd open for the whole run.
                    unsafe { libc::write(fd, [7u8; 10].as_ptr().cast(), 10) };
                }
                wrote.wait();
            })
            .map_err(|e| {
                user(
                    ErrorKind::Busy,
                    format!("could start only {index} of {threads} threads ({e}): ask for fewer"),
                )
            })?;
        handles.push(handle);
    }
    started.wait();
    wrote.wait();
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?;
    }
    Ok(())
}

/// Forks `children` short-lived children as fast as it can; each writes `writes` x 10 B to
/// /dev/null and exits. The parent reaps them all at the end and makes no I/O syscalls.
pub fn fork_bomb(children: u32, writes: u32) -> anyhow::Result<()> {
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let fd = devnull.as_raw_fd();
    let mut forked = 0u32;
    for _ in 0..children {
        // SAFETY: the child only makes raw syscalls and _exits.
        match unsafe { libc::fork() } {
            -1 => break,
            0 => {
                for _ in 0..writes {
                    // SAFETY: valid buffer and fd.
                    unsafe { libc::write(fd, [7u8; 10].as_ptr().cast(), 10) };
                }
                // SAFETY: ends the child without running the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            _ => forked += 1,
        }
    }
    let mut failed = 0u32;
    for _ in 0..forked {
        let mut status = 0;
        // SAFETY: waiting for any of our own children with a valid status pointer.
        if unsafe { libc::waitpid(-1, &raw mut status, 0) } < 0
            || !libc::WIFEXITED(status)
            || libc::WEXITSTATUS(status) != 0
        {
            failed += 1;
        }
    }
    // Printed after the children are reaped, so the caller can check what really happened.
    println!("forked {forked} children, {failed} failed");
    if forked < children {
        return Err(user(
            ErrorKind::Busy,
            format!("fork failed after {forked} of {children} children: ask for fewer"),
        ));
    }
    Ok(())
}

/// Opens `fds` distinct fds on /dev/null (dup, not traced), then writes 1 B to each once.
pub fn many_fds(fds: u32) -> anyhow::Result<()> {
    let needed = u64::from(fds) + 64;
    let limit = libc::rlimit {
        rlim_cur: needed,
        rlim_max: needed,
    };
    // SAFETY: a valid rlimit struct is passed by reference.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) } != 0 {
        return Err(user(
            ErrorKind::Permission,
            format!(
                "cannot raise the open-file limit to {needed} ({}): run as root or ask for fewer fds",
                std::io::Error::last_os_error()
            ),
        ));
    }
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let mut opened = Vec::with_capacity(fds as usize);
    for _ in 0..fds {
        // SAFETY: dup of an fd we own; the result is closed when the process exits.
        let fd = unsafe { libc::dup(devnull.as_raw_fd()) };
        if fd < 0 {
            anyhow::bail!("dup failed: {}", std::io::Error::last_os_error());
        }
        opened.push(fd);
    }
    for fd in opened {
        // SAFETY: valid 1-byte buffer and an fd we opened.
        unsafe { libc::write(fd, [7u8].as_ptr().cast(), 1) };
    }
    Ok(())
}
