//! Root-only, at the probes' level: `--syscalls` narrows what the kernel counts with every
//! mechanism this kernel allows (unselected syscalls not counted at all, selected ones exactly),
//! and a target's name follows its exec (the kernel's exec event). One test function on
//! purpose: tests in one binary share this process, whose own syscalls are counted.
use std::{
    io::{Read as _, Write as _},
    os::fd::AsRawFd as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use tracer::probe::{Mechanism, ProbeOptions, Probes, Snapshot};
use tracer_common::syscalls;

/// Calls, bytes and errors on `fd` for `syscall`, whatever file kind and inode the kernel
/// keyed them by (each fd here is one file for the whole test).
fn stats(snapshot: &Snapshot, fd: i32, syscall: u32) -> tracer_common::FdStats {
    let tgid = std::process::id();
    let mut total = tracer_common::FdStats::default();
    for (key, stats) in &snapshot.fd_stats {
        if (key.tgid, key.fd, key.syscall) == (tgid, fd, syscall) {
            total.calls += stats.calls;
            total.bytes += stats.bytes;
            total.errors += stats.errors;
        }
    }
    total
}

fn comm(bytes: &[u8; 16]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[test]
fn selected_syscalls_are_counted_exactly_and_names_follow_exec() {
    // SAFETY: no preconditions.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test loads eBPF probes: run it as root (CI does)"
    );
    let worked: Vec<&str> = Mechanism::PREFERENCE
        .into_iter()
        .filter_map(count_a_selection)
        .collect();
    eprintln!("mechanisms that counted the selection exactly: {worked:?}");
    assert!(
        worked.contains(&"raw_tracepoint"),
        "raw tracepoints work on every kernel tracer supports"
    );
    a_name_follows_exec();
}

/// With `mechanism` (if this kernel allows it), only write and recvfrom selected: exactly the
/// calls made of those, nothing of the others. The mechanism's name if it loaded.
fn count_a_selection(mechanism: Mechanism) -> Option<&'static str> {
    let mask = (1 << syscalls::WRITE) | (1 << syscalls::RECVFROM);
    let options = ProbeOptions {
        mechanism: Some(mechanism),
        syscall_mask: Some(mask),
        ..ProbeOptions::default()
    };
    let mut probes = match Probes::attach(&options) {
        Ok(probes) => probes,
        Err(error) => {
            eprintln!("{} not available here: {error:#}", mechanism.name());
            return None;
        }
    };
    assert_eq!(
        probes.counted_syscalls(),
        Some(vec!["recvfrom", "write"]),
        "in table order"
    );
    let tgid = std::process::id();
    probes.add_tgid(tgid, 0).unwrap();

    let mut devnull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let mut zero = std::fs::File::open("/dev/zero").unwrap();
    let (mut receiver, mut sender) = std::os::unix::net::UnixStream::pair().unwrap();
    for _ in 0..1000 {
        assert_eq!(devnull.write(&[7u8; 100]).unwrap(), 100);
    }
    for _ in 0..50 {
        // sendto (not selected), then recvfrom (selected).
        sender.write_all(&[1u8; 180]).unwrap();
        let mut buf = [0u8; 180];
        receiver.read_exact(&mut buf).unwrap();
    }
    for _ in 0..30 {
        let mut buf = [0u8; 64];
        assert_eq!(zero.read(&mut buf).unwrap(), 64);
    }
    let snapshot = probes.snapshot().unwrap();
    drop(probes);

    let name = mechanism.name();
    let devnull_writes = stats(&snapshot, devnull.as_raw_fd(), syscalls::WRITE);
    assert_eq!(
        (devnull_writes.calls, devnull_writes.bytes),
        (1000, 100_000),
        "{name}"
    );
    let socket_reads = stats(&snapshot, receiver.as_raw_fd(), syscalls::RECVFROM);
    assert_eq!(
        (socket_reads.calls, socket_reads.bytes),
        (50, 50 * 180),
        "{name}"
    );
    // Nothing else this process did was counted: no sendto, no read of /dev/zero.
    let counted: std::collections::BTreeSet<&str> = snapshot
        .fd_stats
        .keys()
        .chain(snapshot.overflow_stats.keys())
        .filter(|key| key.tgid == tgid)
        .map(|key| syscalls::NAMES[key.syscall as usize])
        .collect();
    assert!(
        counted.iter().all(|s| ["write", "recvfrom"].contains(s)),
        "{name}: counted {counted:?}"
    );
    assert_eq!(
        stats(&snapshot, sender.as_raw_fd(), syscalls::SENDTO).calls,
        0
    );
    assert_eq!(stats(&snapshot, zero.as_raw_fd(), syscalls::READ).calls, 0);
    assert!(snapshot.losses.iter().all(|&n| n == 0), "{name}");
    Some(name)
}

/// A target started as sh that execs sleep: the exec event names it `sleep` while it lives,
/// and its exit record does too once it is gone.
fn a_name_follows_exec() {
    let mut probes = Probes::attach(&ProbeOptions::default()).unwrap();
    let mut child = Command::new("sh")
        .args(["-c", "read line; exec sleep 30"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    probes.add_tgid(pid, 0).unwrap();
    // (sh's own exec may still be seen: the parent runs again before the exec tracepoint.)
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let started = Instant::now();
    let exec_name = loop {
        let snapshot = probes.snapshot().unwrap();
        let name = snapshot.exec_names.get(&pid).map(comm);
        if name.as_deref() == Some("sleep") || started.elapsed() > Duration::from_secs(10) {
            break name;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(exec_name.as_deref(), Some("sleep"));
    child.kill().unwrap();
    child.wait().unwrap();
    let after = probes.snapshot().unwrap();
    assert_eq!(comm(&after.exits[&pid].comm), "sleep");
    assert!(
        !after.exec_names.contains_key(&pid),
        "the exec name leaves with the process"
    );
}
