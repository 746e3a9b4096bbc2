//! Root-only: load the probes with every mechanism this kernel allows, make exact syscalls from
//! this very process on fds it owns, and check the kernel counted exactly those.
//! One test function on purpose: tests in one binary share fd numbers across threads.
use std::{
    io::{Read as _, Write as _},
    os::fd::AsRawFd as _,
};

use tracer::probe::{CostSampling, Mechanism, ProbeOptions, Probes, Snapshot};
use tracer_common::{FdKey, buckets, hist_kind, syscalls};

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn stats(snapshot: &Snapshot, fd: i32, syscall: u32) -> tracer_common::FdStats {
    let key = FdKey {
        tgid: std::process::id(),
        fd,
        syscall,
        _pad: 0,
    };
    snapshot.fd_stats.get(&key).copied().unwrap_or_default()
}

/// The first filter (a byte per pid) lets exactly the target set through, and the probes were timed
/// all along: at least an entry and an exit run per call the test made.
fn check_filter_and_cost(probes: &mut Probes, snapshot: &Snapshot, name: &str) {
    let tgid = std::process::id();
    assert_eq!(snapshot.targets, [(tgid, 0)].into(), "{name}");
    assert!(probes.passes_filter(tgid), "{name}");
    assert!(!probes.passes_filter(1), "{name}");
    let cost = probes.cost();
    assert!(cost.measured_share >= 1.0, "{name}: {cost:?}");
    assert!(
        cost.run_count >= 2 * (1000 + 200 + 10) && cost.run_time_ns > 0,
        "{name}: {cost:?}"
    );
}

#[test]
fn every_available_mechanism_counts_exactly_the_calls_made() {
    assert!(
        is_root(),
        "this test loads eBPF probes: run it as root (CI does)"
    );
    let mut worked = Vec::new();
    for mechanism in Mechanism::PREFERENCE {
        let options = ProbeOptions {
            mechanism: Some(mechanism),
            cost_sampling: CostSampling::ALWAYS,
            ..ProbeOptions::default()
        };
        let mut probes = match Probes::attach(&options) {
            Ok(probes) => probes,
            Err(error) => {
                // One line per mechanism, in the form `cargo xtask vmtest` reads from guests.
                eprintln!("vmtest: mechanism {} refused: {error:#}", mechanism.name());
                continue;
            }
        };
        probes.add_tgid(std::process::id(), 0).unwrap();

        let mut devnull = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let (mut reader, mut writer) = std::os::unix::net::UnixStream::pair().unwrap();
        for _ in 0..1000 {
            assert_eq!(devnull.write(&[7u8; 100]).unwrap(), 100);
        }
        for _ in 0..50 {
            writer.write_all(&[1u8; 180]).unwrap();
            writer.write_all(&[2u8; 178]).unwrap();
            let mut buf = [0u8; 180];
            reader.read_exact(&mut buf).unwrap();
            let mut buf = [0u8; 178];
            reader.read_exact(&mut buf).unwrap();
        }
        for _ in 0..10 {
            // SAFETY: writing to a closed fd only returns EBADF.
            let ret = unsafe { libc::write(1_000_000 - 7, [0u8].as_ptr().cast(), 1) };
            assert_eq!(ret, -1);
        }
        let snapshot = probes.snapshot().unwrap();
        let tgid = std::process::id();
        check_filter_and_cost(&mut probes, &snapshot, mechanism.name());
        drop(probes);

        let name = mechanism.name();
        let devnull_writes = stats(&snapshot, devnull.as_raw_fd(), syscalls::WRITE);
        assert_eq!(
            (devnull_writes.calls, devnull_writes.bytes),
            (1000, 100_000),
            "{name}"
        );
        // std sends on sockets with send(2)/recv(2), i.e. the sendto/recvfrom syscalls.
        let socket_writes = stats(&snapshot, writer.as_raw_fd(), syscalls::SENDTO);
        assert_eq!(
            (socket_writes.calls, socket_writes.bytes),
            (100, 50 * 358),
            "{name}"
        );
        let socket_reads = stats(&snapshot, reader.as_raw_fd(), syscalls::RECVFROM);
        assert_eq!(
            (socket_reads.calls, socket_reads.bytes),
            (100, 50 * 358),
            "{name}"
        );
        let bad = stats(&snapshot, 1_000_000 - 7, syscalls::WRITE);
        assert_eq!(
            (bad.calls, bad.errors, bad.eagain, bad.bytes),
            (10, 10, 0, 0),
            "{name}"
        );

        let size_count = |size: u64| {
            let key = tracer_common::HistKey {
                tgid,
                syscall: u8::try_from(syscalls::RECVFROM).unwrap(),
                kind: hist_kind::SIZE,
                bucket: buckets::SIZE.bucket(size),
            };
            snapshot.histograms.get(&key).copied().unwrap_or(0)
        };
        assert!(
            size_count(180) >= 50 && size_count(178) >= 50,
            "{name}: 180/178 B reads in the size histogram"
        );
        assert!(
            snapshot.losses.iter().all(|&n| n == 0),
            "{name}: losses {:?}",
            snapshot.losses
        );
        eprintln!("vmtest: mechanism {name} loaded");
        worked.push(name);
    }
    check_expected(&worked);
    assert!(
        worked.contains(&"raw_tracepoint"),
        "raw tracepoints work on every kernel tracer supports"
    );
}

/// The kernel matrix says which mechanisms each kernel must load (fentry on 6.1 and 6.12, not
/// on 5.10, whose BTF has no usable `pt_regs` for the syscall wrappers): no silent fallback.
fn check_expected(worked: &[&str]) {
    eprintln!("mechanisms that worked: {worked:?}");
    if let Ok(expected) = std::env::var("TRACER_EXPECT_MECHANISMS") {
        let expected: Vec<&str> = expected.split(',').map(str::trim).collect();
        assert_eq!(
            worked, expected,
            "mechanisms that loaded and counted exactly"
        );
    }
}
