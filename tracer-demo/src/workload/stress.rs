//! Stress shapes for the hardening tests: many threads, a burst of short-lived children, and
//! more distinct fds than the per-fd map holds. Like the rest of `tracer-demo workload`, every I/O
//! syscall made after the start signal is a raw libc call the caller can count in advance.
use std::{fmt::Write as _, os::fd::AsRawFd as _};

use tracer::error::{ErrorKind, user};

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

/// Forks `children` children one after another; each burns `cpu_ms` of its own CPU time
/// (`CLOCK_PROCESS_CPUTIME_ID`, the kernel's accounting) and exits, and the parent reaps it
/// with wait4 before forking the next, so each lives about `cpu_ms`. No I/O syscalls until
/// the end, when `rusage` (if given) gets a line `PID CPU_NS` per child: wait4's user + system
/// time of that child, the kernel's own total for its whole life (fork and exit included).
pub fn burn_children(
    children: u32,
    cpu_ms: u64,
    rusage: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    wait_behind_children();
    let mut lines = String::new();
    for index in 0..children {
        // SAFETY: the child only burns CPU, reads its clock and _exits.
        match unsafe { libc::fork() } {
            -1 => {
                return Err(user(
                    ErrorKind::Busy,
                    format!("fork failed after {index} of {children} children: ask for fewer"),
                ));
            }
            0 => {
                let mut x = 0u64;
                while process_cpu_ns() < cpu_ms * 1_000_000 {
                    for _ in 0..1_000 {
                        x = std::hint::black_box(
                            x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1),
                        );
                    }
                }
                // SAFETY: ends the child without running the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            child => {
                let mut status = 0;
                // SAFETY: plain data, filled by wait4.
                let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
                // SAFETY: waiting for our own child with valid status and rusage pointers.
                if unsafe { libc::wait4(child, &raw mut status, 0, &raw mut usage) } != child
                    || !libc::WIFEXITED(status)
                    || libc::WEXITSTATUS(status) != 0
                {
                    anyhow::bail!("child {index} failed");
                }
                let micros = |t: libc::timeval| {
                    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000
                        + u64::try_from(t.tv_usec).unwrap_or(0)
                };
                let child_ns = (micros(usage.ru_utime) + micros(usage.ru_stime)) * 1000;
                let _ = writeln!(lines, "{child} {child_ns}");
            }
        }
    }
    if let Some(path) = rusage {
        std::fs::write(path, lines)?;
    }
    Ok(())
}

/// Keeps this process off the CPU while a child of it can run: both on this CPU, this one in
/// `SCHED_IDLE` (children back to the normal policy). A parent woken by its child's exit then
/// reaps it only after the child's last switch-out, when the kernel has charged it all its
/// CPU: otherwise wait4 can read a dying child's runtime before its last stretch is
/// accounted (up to a tick natively; more in an emulated guest). Best effort.
fn wait_behind_children() {
    // SAFETY: plain scheduler settings of this process, with valid pointers to local data.
    unsafe {
        let cpu = libc::sched_getcpu();
        if let Ok(cpu) = usize::try_from(cpu) {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set);
        }
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(
            0,
            libc::SCHED_IDLE | libc::SCHED_RESET_ON_FORK,
            &raw const param,
        );
    }
}

/// This process's CPU time so far, ns (0 if the clock cannot be read).
fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &raw mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Opens `fds` distinct fds on /dev/null (dup, not traced), spread over `processes` forked
/// children so that no process needs more than its open-file limit allows, and writes 1 B to
/// each once. The parent makes no I/O syscalls.
pub fn many_fds(fds: u32, processes: u32) -> anyhow::Result<()> {
    let processes = processes.max(1);
    let per_process = fds.div_ceil(processes);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit struct is passed by pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    let needed = u64::from(per_process) + 64;
    if limit.rlim_max < needed {
        return Err(user(
            ErrorKind::Usage,
            format!(
                "{per_process} fds per process exceed the open-file limit of {}: use more --processes",
                limit.rlim_max
            ),
        ));
    }
    limit.rlim_cur = needed;
    // SAFETY: as above; the soft limit may be raised up to the hard one.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let mut children = Vec::new();
    for index in 0..processes {
        let count = per_process.min(fds - index * per_process);
        // SAFETY: the child only makes raw syscalls and _exits.
        match unsafe { libc::fork() } {
            -1 => anyhow::bail!("fork failed: {}", std::io::Error::last_os_error()),
            0 => {
                let mut code = 0;
                for _ in 0..count {
                    // SAFETY: dup of an fd we own; closed when the process exits.
                    let fd = unsafe { libc::dup(devnull.as_raw_fd()) };
                    if fd < 0 {
                        code = 1;
                        break;
                    }
                    // SAFETY: valid 1-byte buffer and an fd we opened.
                    unsafe { libc::write(fd, [7u8].as_ptr().cast(), 1) };
                }
                // SAFETY: ends the child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            child => children.push(child),
        }
    }
    for child in children {
        let mut status = 0;
        // SAFETY: our own child, valid status pointer.
        unsafe { libc::waitpid(child, &raw mut status, 0) };
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            anyhow::bail!("a child could not open its fds");
        }
    }
    Ok(())
}
