//! Root-only: load the probes with every mechanism this kernel allows, make exact syscalls from
//! this very process on fds it owns, and check the kernel counted exactly those.
//! One test function on purpose: tests in one binary share fd numbers across threads.
use std::{
    io::{Read as _, Write as _},
    os::fd::AsRawFd,
};

use tracer::probe::{CostSampling, Mechanism, ProbeOptions, Probes, Snapshot};
use tracer_common::{FdKey, buckets, fd_kind, hist_kind, syscalls};

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Everything counted on `fd` for `syscall`, whatever file the fd was at each call.
fn stats(snapshot: &Snapshot, fd: i32, syscall: u32) -> tracer_common::FdStats {
    let mut total = tracer_common::FdStats::default();
    for (key, stats) in &snapshot.fd_stats {
        if key.tgid == std::process::id() && key.fd == fd && key.syscall == syscall {
            total.merge(stats);
        }
    }
    total
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
        let reuse = file_then_socket_on_one_fd();
        let blocked = pipe_reads_blocked_20ms();
        let zero = big_reads_from_dev_zero();
        let snapshot = probes.snapshot().unwrap();
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

        let kinds: [((&dyn AsRawFd, u32), u32, u64); 2] = [
            ((&devnull, syscalls::WRITE), fd_kind::CHAR_DEVICE, 1000),
            ((&writer, syscalls::SENDTO), fd_kind::SOCKET, 100),
        ];
        check_kinds(&snapshot, &kinds, name);
        check_fd_reuse(&snapshot, &reuse, name);
        check_waiting(
            &snapshot,
            (blocked.0.as_raw_fd(), blocked.1),
            (zero.0.as_raw_fd(), zero.1),
            name,
        );
        drop((reuse, blocked, zero));

        check_size_histogram(&snapshot, name);
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

/// 180 B and 178 B reads in the size histogram of recvfrom.
fn check_size_histogram(snapshot: &Snapshot, name: &str) {
    let tgid = std::process::id();
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
}

/// The calls on each (file, syscall) were keyed by the file's kind and inode.
fn check_kinds(snapshot: &Snapshot, expected: &[((&dyn AsRawFd, u32), u32, u64)], name: &str) {
    for &((file, syscall), kind, calls) in expected {
        let key = FdKey {
            tgid: std::process::id(),
            fd: file.as_raw_fd(),
            syscall,
            kind,
            inode: inode_of(file.as_raw_fd()),
        };
        assert_eq!(
            snapshot.fd_stats.get(&key).map(|s| s.calls),
            Some(calls),
            "{name}: calls keyed by the fd's kind {kind} and inode"
        );
    }
}

fn inode_of(fd: i32) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .unwrap()
        .ino()
}

/// What [`file_then_socket_on_one_fd`] did.
struct Reuse {
    fd: i32,
    file_inode: u64,
    socket_inode: u64,
    /// Kept open until the counts are read, so no later fd of the test takes the number.
    _open: (
        std::net::TcpStream,
        std::net::TcpStream,
        std::net::TcpListener,
    ),
}

const FILE_READS: u64 = 7;
const SOCKET_READS: u64 = 5;

/// Reads a regular file on fd N with read(2), closes it, connects a TCP socket (which takes
/// fd N, the lowest free number) and reads it with read(2) too: the same (fd, syscall), two
/// files.
fn file_then_socket_on_one_fd() -> Reuse {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("issue-13-file");
    std::fs::write(&path, [5u8; 100]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let fd = file.as_raw_fd();
    let file_inode = inode_of(fd);
    for _ in 0..FILE_READS {
        let mut buf = [0u8; 10];
        // SAFETY: valid fd and buffer.
        assert_eq!(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 10) }, 10);
    }
    drop(file);
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    assert_eq!(
        client.as_raw_fd(),
        fd,
        "the socket took the file's fd number"
    );
    let socket_inode = inode_of(fd);
    let (mut server, _) = listener.accept().unwrap();
    for _ in 0..SOCKET_READS {
        server.write_all(&[9u8; 20]).unwrap();
        let mut buf = [0u8; 20];
        let mut got = 0;
        while got < 20 {
            // SAFETY: valid fd and buffer.
            let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), 20 - got) };
            assert!(n > 0);
            got += usize::try_from(n).unwrap();
        }
    }
    Reuse {
        fd,
        file_inode,
        socket_inode,
        _open: (client, server, listener),
    }
}

/// The file's reads and the socket's are counted apart, exactly, under their own kinds.
fn check_fd_reuse(snapshot: &Snapshot, reuse: &Reuse, name: &str) {
    let tgid = std::process::id();
    let reads: Vec<(u32, u64, u64)> = snapshot
        .fd_stats
        .iter()
        .filter(|(k, _)| k.tgid == tgid && k.fd == reuse.fd && k.syscall == syscalls::READ)
        .map(|(k, s)| (k.kind, k.inode, s.calls))
        .collect();
    let socket_reads: u64 = reads
        .iter()
        .filter(|(kind, inode, _)| *kind == fd_kind::SOCKET && *inode == reuse.socket_inode)
        .map(|r| r.2)
        .sum();
    let file_reads: u64 = reads
        .iter()
        .filter(|(kind, inode, _)| *kind == fd_kind::REGULAR && *inode == reuse.file_inode)
        .map(|r| r.2)
        .sum();
    // The socket's reads may return part of the 20 bytes: at least one call per write.
    assert_eq!(
        file_reads, FILE_READS,
        "{name}: file reads on fd {}: {reads:?}",
        reuse.fd
    );
    assert!(
        socket_reads >= SOCKET_READS && reads.len() == 2,
        "{name}: socket reads on fd {}: {reads:?}",
        reuse.fd
    );
    eprintln!(
        "{name}: fd {} read as a regular file {file_reads} times, as a TCP socket {socket_reads} times",
        reuse.fd
    );
}

const BLOCKED_READS: u64 = 5;
const BLOCK_NS: u64 = 20_000_000;

/// A reader blocked about 20 ms per read on a pipe (a thread writes a byte every 20 ms).
/// Returns the read end (kept open until the counts are read) and the reader thread's own CPU
/// time over the reads (`CLOCK_THREAD_CPUTIME_ID`).
fn pipe_reads_blocked_20ms() -> (std::io::PipeReader, u64) {
    let (mut reader, mut writer) = std::io::pipe().unwrap();
    // SAFETY: gettid has no preconditions.
    let reader_tid = unsafe { libc::gettid() };
    let writing = std::thread::spawn(move || {
        for _ in 0..BLOCKED_READS {
            // Each byte is written 20 ms after the reader is seen asleep in read(2), so every
            // read waits at least 20 ms however slowly the reader gets there (an emulated
            // guest can be slower than 20 ms between two reads).
            wait_until_blocked_in_read(reader_tid);
            std::thread::sleep(std::time::Duration::from_nanos(BLOCK_NS));
            writer.write_all(&[1]).unwrap();
        }
    });
    let before = thread_cpu_ns();
    for _ in 0..BLOCKED_READS {
        let mut byte = [0u8];
        reader.read_exact(&mut byte).unwrap();
    }
    let cpu_ns = thread_cpu_ns() - before;
    writing.join().unwrap();
    (reader, cpu_ns)
}

/// Waits (up to a minute) until thread `tid` of this process sleeps inside read(2): its
/// state is S and /proc's syscall file names read's number.
fn wait_until_blocked_in_read(tid: libc::pid_t) {
    let task = format!("/proc/self/task/{tid}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        let syscall = std::fs::read_to_string(format!("{task}/syscall")).unwrap_or_default();
        let number = syscall
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<i64>().ok());
        if state == Some(Some('S')) && number == Some(libc::SYS_read) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never blocked in read(2): {stat} / {syscall}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

const ZERO_READS: u64 = 4;
const ZERO_BYTES: usize = 32 << 20;

/// Large reads from /dev/zero: work on a CPU, waiting only if the scheduler gives the CPU to
/// another task meanwhile. Returns the file (kept open until the counts are read) and the
/// thread's own CPU time over the reads (`CLOCK_THREAD_CPUTIME_ID`, the kernel's accounting).
fn big_reads_from_dev_zero() -> (std::fs::File, u64) {
    let mut zero = std::fs::File::open("/dev/zero").unwrap();
    let mut buf = vec![1u8; ZERO_BYTES];
    let before = thread_cpu_ns();
    for _ in 0..ZERO_READS {
        assert_eq!(zero.read(&mut buf).unwrap(), ZERO_BYTES);
    }
    (zero, thread_cpu_ns() - before)
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    ts.tv_sec.cast_unsigned() * 1_000_000_000 + ts.tv_nsec.cast_unsigned()
}

/// The blocked pipe reads waited ~20 ms each and were on a CPU for a tiny part of that; the
/// /dev/zero reads the opposite. Per call from the sums, and per call from the histograms
/// (each sample within its bucket, so the bound is the bucket's width).
fn check_waiting(
    snapshot: &Snapshot,
    (pipe_fd, pipe_cpu_ns): (i32, u64),
    (zero_fd, zero_cpu_ns): (i32, u64),
    name: &str,
) {
    let pipe = stats(snapshot, pipe_fd, syscalls::READ);
    assert_eq!(pipe.calls, BLOCKED_READS, "{name}");
    let waiting = pipe.waiting_total_ns / pipe.calls;
    let on_cpu = (pipe.latency_total_ns - pipe.waiting_total_ns) / pipe.calls;
    eprintln!(
        "{name}: blocked pipe read: latency {} us, waiting {} us, on-CPU {} us per call; the thread's CPU clock: {} us per call",
        pipe.latency_total_ns / pipe.calls / 1000,
        waiting / 1000,
        on_cpu / 1000,
        pipe_cpu_ns / pipe.calls / 1000
    );
    // The first read also waits while the writer thread starts; sleeps overshoot.
    assert!(
        (BLOCK_NS * 9 / 10..=BLOCK_NS * 3).contains(&waiting),
        "{name}: waiting {waiting} ns per blocked read"
    );
    // On a CPU: no more than the reader thread's own CPU clock says it ran over the reads
    // (an emulated guest's vCPU descheduled by a busy host counts as running for both), and
    // far below the waiting; natively well under 1 ms per call (5-8 us here).
    assert!(
        on_cpu * pipe.calls <= pipe_cpu_ns + pipe_cpu_ns / 10 + 100_000 && on_cpu < waiting / 5,
        "{name}: on-CPU {on_cpu} ns per blocked read, the thread's CPU clock {pipe_cpu_ns} ns in all"
    );
    if std::env::var_os("TRACER_EXPECT_MECHANISMS").is_none() {
        assert!(
            on_cpu < 1_000_000,
            "{name}: on-CPU {on_cpu} ns per blocked read"
        );
    }
    let zero = stats(snapshot, zero_fd, syscalls::READ);
    assert_eq!(zero.calls, ZERO_READS, "{name}");
    let zero_on_cpu = zero.latency_total_ns - zero.waiting_total_ns;
    eprintln!(
        "{name}: {} MiB read from /dev/zero: latency {} us, waiting {} us, on-CPU {} us per call; the thread's CPU clock: {} us per call",
        ZERO_BYTES >> 20,
        zero.latency_total_ns / zero.calls / 1000,
        zero.waiting_total_ns / zero.calls / 1000,
        zero_on_cpu / zero.calls / 1000,
        zero_cpu_ns / zero.calls / 1000
    );
    // All work: the on-CPU part is the thread's own CPU time over the reads (what waiting
    // there is, is the run queue's on a busy machine), and far above the blocked reads'.
    assert!(
        zero_on_cpu / zero.calls > 1_000_000
            && zero_on_cpu.abs_diff(zero_cpu_ns) <= zero_cpu_ns / 10 + 500_000,
        "{name}: /dev/zero reads {zero:?}, thread CPU {zero_cpu_ns} ns"
    );
    // Histograms: every sample of both kinds is in the read syscall's buckets; the blocked
    // reads put BLOCKED_READS samples at or above 20 ms (bucket lower bound) in waiting.
    let tgid = std::process::id();
    let samples = |kind: u8, at_least_ns: u64| -> u64 {
        snapshot
            .histograms
            .iter()
            .filter(|(k, _)| {
                k.tgid == tgid
                    && u32::from(k.syscall) == syscalls::READ
                    && k.kind == kind
                    && buckets::LATENCY.lower_bound(k.bucket) + buckets::LATENCY.width(k.bucket)
                        > at_least_ns
            })
            .map(|(_, &count)| count)
            .sum()
    };
    assert!(
        samples(hist_kind::WAITING, BLOCK_NS * 9 / 10) >= BLOCKED_READS,
        "{name}: waiting histogram"
    );
    assert!(
        samples(hist_kind::ON_CPU, 1_000_000) >= ZERO_READS,
        "{name}: on-CPU histogram"
    );
    if std::env::var_os("TRACER_EXPECT_MECHANISMS").is_none() {
        // Natively; an emulated guest's reader can be charged ms of on-CPU time per blocked
        // read (its thread clock says the same, checked above).
        assert!(
            samples(hist_kind::ON_CPU, 1_000_000) <= ZERO_READS + 2,
            "{name}: on-CPU histogram: the blocked reads were not on a CPU for 1 ms"
        );
    }
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
