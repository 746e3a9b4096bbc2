//! Known syscall mixes for tracer's tests and benchmarks (`tracer-demo workload`, hidden).
//! Every I/O syscall made after the start signal is one the caller can predict exactly: raw
//! libc calls, no buffering, no logging.
use std::{os::fd::AsRawFd as _, path::PathBuf, process::ExitCode};

use tracer::error::{ErrorKind, user};

mod stress;
mod timed;

#[derive(Debug, clap::Args)]
pub struct WorkloadArgs {
    #[command(subcommand)]
    pub kind: Kind,
    /// Print "ready" and wait for SIGUSR1 before starting (so a tracer can attach first).
    #[arg(long, global = true)]
    pub wait_signal: bool,
}

// How many of each call `workload mix` makes.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct MixCounts {
    #[arg(long, default_value_t = 1000)]
    writes: u32,
    #[arg(long, default_value_t = 200)]
    writevs: u32,
    #[arg(long, default_value_t = 300)]
    datagrams: u32,
    #[arg(long, default_value_t = 50)]
    pipe_reads: u32,
    #[arg(long, default_value_t = 20)]
    messages: u32,
    #[arg(long, default_value_t = 10)]
    bad_writes: u32,
    #[arg(long, default_value_t = 100)]
    child_writes: u32,
}

#[derive(Debug, clap::Subcommand)]
pub enum Kind {
    /// The end-to-end test mix: write, writev, UDP sendto/recvfrom, pipe read/write,
    /// sendmsg/recvmsg, EBADF writes, and a forked child that writes.
    Mix(MixCounts),
    /// write+read of `size` bytes over a socketpair, `count` times (the overhead benchmark).
    PingPong {
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 100)]
        size: usize,
    },
    /// Burn one core for `seconds`, making no syscalls.
    Burn {
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// `threads` threads alive at once, each writing `writes` x 10 B to /dev/null.
    Threads {
        #[arg(long, default_value_t = 10_000)]
        threads: u32,
        #[arg(long, default_value_t = 3)]
        writes: u32,
    },
    /// `children` short-lived forked children, each writing `writes` x 10 B to /dev/null.
    ForkBomb {
        #[arg(long, default_value_t = 2_000)]
        children: u32,
        #[arg(long, default_value_t = 3)]
        writes: u32,
    },
    /// `children` children one after another, each burning `cpu_ms` of CPU and exiting (the
    /// exact-CPU test: every process's CPU, however short its life).
    BurnChildren {
        #[arg(long, default_value_t = 50)]
        children: u32,
        #[arg(long, default_value_t = 20)]
        cpu_ms: u64,
        /// File that receives each child's wait4 CPU time (`PID CPU_NS` lines).
        #[arg(long, value_name = "FILE")]
        rusage: Option<PathBuf>,
    },
    /// Reads this program's own file 7 times (16 B each) on fd N, closes it, connects a TCP
    /// socket (which takes fd N) and reads it 5 times (20 B each), all with read(2): one fd
    /// number, two files.
    FdReuse,
    /// One 1 B write on each of `fds` distinct fds (more than the per-fd map holds), spread
    /// over `processes` children.
    ManyFds {
        #[arg(long, default_value_t = 100_000)]
        fds: u32,
        #[arg(long, default_value_t = 10)]
        processes: u32,
    },
    /// One read on a pipe whose writer writes `delay_ms` later, `count` times.
    SlowPipe {
        #[arg(long, default_value_t = 20)]
        delay_ms: u64,
        #[arg(long, default_value_t = 10)]
        count: u32,
    },
    /// The benchmark's loop (`cargo xtask bench`): waits for a line on stdin (EOF also means
    /// go), runs `rounds` rounds timed by itself, and writes what it did to `result`.
    Timed {
        #[arg(long, value_enum)]
        kind: timed::Loop,
        /// Write+read pairs (socketpair) or requests (http).
        #[arg(long)]
        rounds: u64,
        /// File that receives the loop's result line (`writes=.. reads=.. rounds=.. wall_ns=..
        /// cpu_ns=..`).
        #[arg(long, value_name = "FILE")]
        result: PathBuf,
    },
}

/// `workload fd-reuse`.
fn fd_reuse() -> anyhow::Result<()> {
    use std::io::Write as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let file = std::fs::File::open(std::env::current_exe()?)?;
    let fd = file.as_raw_fd();
    let mut buf = [0u8; 20];
    for _ in 0..7 {
        // SAFETY: valid fd and buffer.
        check(
            unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 16) },
            "read",
        )?;
    }
    drop(file);
    let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    anyhow::ensure!(client.as_raw_fd() == fd, "the socket did not take fd {fd}");
    let (mut server, _) = listener.accept()?;
    for _ in 0..5 {
        server.write_all(&[1u8; 20])?;
        let mut got = 0;
        while got < 20 {
            // SAFETY: valid fd and buffer.
            got += check(
                unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), 20 - got) },
                "read",
            )?;
        }
    }
    Ok(())
}

fn check(ret: isize, what: &str) -> anyhow::Result<usize> {
    usize::try_from(ret)
        .map_err(|_| anyhow::anyhow!("{what} failed: {}", std::io::Error::last_os_error()))
}

fn wait_for_sigusr1() -> anyhow::Result<()> {
    wait_for_signal(&[libc::SIGUSR1], || {
        println!("ready {}", std::process::id());
    })
}

/// Blocks `signals`, calls `announce` (they cannot be missed from then on), and waits for one.
pub(crate) fn wait_for_signal(
    signals: &[libc::c_int],
    announce: impl FnOnce(),
) -> anyhow::Result<()> {
    // SAFETY: plain signal-set manipulation on a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        for &signal in signals {
            // A signal ignored on entry (SIGINT in a shell's background job) would be
            // discarded even while blocked: take it back to its default first.
            libc::signal(signal, libc::SIG_DFL);
            libc::sigaddset(&raw mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        announce();
        let mut signal = 0;
        if libc::sigwait(&raw const set, &raw mut signal) != 0 {
            anyhow::bail!("sigwait failed");
        }
    }
    Ok(())
}

/// `tracer-demo workload`.
pub fn run(args: &WorkloadArgs) -> anyhow::Result<ExitCode> {
    if args.wait_signal {
        wait_for_sigusr1()?;
    }
    match args.kind {
        Kind::Mix(counts) => mix(counts)?,
        Kind::PingPong { count, size } => ping_pong(count, size)?,
        Kind::Burn { seconds } => {
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed().as_secs_f64() < seconds {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
        }
        Kind::SlowPipe { delay_ms, count } => slow_pipe(delay_ms, count)?,
        Kind::Threads { threads, writes } => stress::threads(threads, writes)?,
        Kind::ForkBomb { children, writes } => stress::fork_bomb(children, writes)?,
        Kind::ManyFds { fds, processes } => stress::many_fds(fds, processes)?,
        Kind::FdReuse => fd_reuse()?,
        Kind::BurnChildren {
            children,
            cpu_ms,
            ref rusage,
        } => stress::burn_children(children, cpu_ms, rusage.as_deref())?,
        Kind::Timed {
            kind,
            rounds,
            ref result,
        } => timed::run(kind, rounds, result)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[expect(
    clippy::too_many_lines,
    reason = "one straight list of the syscalls the e2e test expects"
)]
fn mix(counts: MixCounts) -> anyhow::Result<()> {
    let MixCounts {
        writes,
        writevs,
        datagrams,
        pipe_reads,
        messages,
        bad_writes,
        child_writes,
    } = counts;
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let fd = devnull.as_raw_fd();
    let buf = [0x5au8; 512];
    for _ in 0..writes {
        // SAFETY: valid buffer of at least 100 bytes.
        check(
            unsafe { libc::write(fd, buf.as_ptr().cast(), 100) },
            "write",
        )?;
    }
    let iov = [libc::iovec {
        iov_base: buf.as_ptr().cast_mut().cast(),
        iov_len: 64,
    }; 3];
    for _ in 0..writevs {
        // SAFETY: three valid iovecs.
        check(unsafe { libc::writev(fd, iov.as_ptr(), 3) }, "writev")?;
    }

    let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
    sender.connect(receiver.local_addr()?)?;
    let mut incoming = [0u8; 1024];
    for _ in 0..datagrams {
        // SAFETY: valid buffers; null address for a connected socket.
        check(
            unsafe {
                libc::sendto(
                    sender.as_raw_fd(),
                    buf.as_ptr().cast(),
                    512,
                    0,
                    std::ptr::null(),
                    0,
                )
            },
            "sendto",
        )?;
        // SAFETY: as above.
        check(
            unsafe {
                libc::recvfrom(
                    receiver.as_raw_fd(),
                    incoming.as_mut_ptr().cast(),
                    incoming.len(),
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            },
            "recvfrom",
        )?;
    }

    let mut pipe = [0; 2];
    // SAFETY: valid array.
    if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
        anyhow::bail!("pipe failed");
    }
    for _ in 0..pipe_reads {
        // SAFETY: valid buffers and fds.
        check(
            unsafe { libc::write(pipe[1], buf.as_ptr().cast(), 10) },
            "pipe write",
        )?;
        // SAFETY: as above.
        check(
            unsafe { libc::read(pipe[0], incoming.as_mut_ptr().cast(), incoming.len()) },
            "pipe read",
        )?;
    }

    let (left, right) = std::os::unix::net::UnixDatagram::pair()?;
    for _ in 0..messages {
        let mut out_iov = libc::iovec {
            iov_base: buf.as_ptr().cast_mut().cast(),
            iov_len: 64,
        };
        // SAFETY: msghdr zeroed then pointed at one valid iovec.
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_iov = &raw mut out_iov;
        header.msg_iovlen = 1;
        // SAFETY: valid socket and header.
        check(
            unsafe { libc::sendmsg(left.as_raw_fd(), &raw const header, 0) },
            "sendmsg",
        )?;
        let mut in_iov = libc::iovec {
            iov_base: incoming.as_mut_ptr().cast(),
            iov_len: incoming.len(),
        };
        header.msg_iov = &raw mut in_iov;
        // SAFETY: as above.
        check(
            unsafe { libc::recvmsg(right.as_raw_fd(), &raw mut header, 0) },
            "recvmsg",
        )?;
    }

    for _ in 0..bad_writes {
        // SAFETY: writing to an fd that is not open only returns EBADF.
        let _ = unsafe { libc::write(999_999, buf.as_ptr().cast(), 1) };
    }

    // SAFETY: the child only makes raw syscalls and _exits.
    match unsafe { libc::fork() } {
        -1 => anyhow::bail!("fork failed"),
        0 => {
            for _ in 0..child_writes {
                // SAFETY: valid buffer and fd.
                unsafe { libc::write(fd, buf.as_ptr().cast(), 10) };
            }
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        child => {
            let mut status = 0;
            // SAFETY: our own child.
            unsafe { libc::waitpid(child, &raw mut status, 0) };
        }
    }
    Ok(())
}

fn ping_pong(count: u64, size: usize) -> anyhow::Result<()> {
    if size == 0 || size > 65_536 {
        return Err(user(
            ErrorKind::Usage,
            "--size must be between 1 and 65536 bytes",
        ));
    }
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    let out = vec![1u8; size];
    let mut incoming = vec![0u8; size];
    for _ in 0..count {
        // SAFETY: valid buffers of `size` bytes.
        check(
            unsafe { libc::write(a.as_raw_fd(), out.as_ptr().cast(), size) },
            "write",
        )?;
        // SAFETY: as above.
        check(
            unsafe { libc::read(b.as_raw_fd(), incoming.as_mut_ptr().cast(), size) },
            "read",
        )?;
    }
    Ok(())
}

fn slow_pipe(delay_ms: u64, count: u32) -> anyhow::Result<()> {
    let mut pipe = [0; 2];
    // SAFETY: valid array.
    if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
        anyhow::bail!("pipe failed");
    }
    let writer = pipe[1];
    let delay = std::time::Duration::from_millis(delay_ms);
    let thread = std::thread::spawn(move || {
        for _ in 0..count {
            std::thread::sleep(delay);
            // SAFETY: valid one-byte buffer and fd.
            unsafe { libc::write(writer, [1u8].as_ptr().cast(), 1) };
        }
    });
    let mut byte = [0u8; 1];
    // Each read's duration as this process sees it (Instant is a vDSO call, not a syscall),
    // printed at the end so a test can hold the tracer's latency histogram against it.
    let mut latencies_ns = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let start = std::time::Instant::now();
        // SAFETY: valid one-byte buffer and fd.
        check(
            unsafe { libc::read(pipe[0], byte.as_mut_ptr().cast(), 1) },
            "read",
        )?;
        latencies_ns.push(start.elapsed().as_nanos());
    }
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("writer thread panicked"))?;
    let list: Vec<String> = latencies_ns.iter().map(ToString::to_string).collect();
    println!("read latencies ns: {}", list.join(" "));
    Ok(())
}
