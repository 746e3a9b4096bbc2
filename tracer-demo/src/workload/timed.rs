//! The loops `cargo xtask bench` times (`tracer-demo workload timed`): write+read over a Unix
//! socketpair, and the HTTP two-write exchange of the demo ([`crate::http`]) over TCP loopback.
//! Each loop times itself, in wall time and on-CPU time, so a tool's start-up is not counted,
//! and counts its own write(2) and read(2) calls; it tells the bench in one line of a result
//! file, `writes=W reads=R rounds=N wall_ns=T cpu_ns=C`, which the bench parses by name.
use std::{
    fs,
    io::Read as _,
    net::{Ipv4Addr, TcpListener, TcpStream},
    os::{fd::OwnedFd, unix::net::UnixStream},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};

use crate::http;

/// Bytes per write and per read of the socketpair loop: a small HTTP response part, as in the
/// mesh story.
const PAYLOAD_BYTES: usize = 100;

/// The loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Loop {
    /// write+read of 100 B over a Unix socketpair, one thread, timed in that thread's on-CPU time.
    Socketpair,
    /// HTTP/1.1 keep-alive over TCP loopback (`TCP_NODELAY`), a client and a server thread pinned
    /// to one CPU, timed in the process's on-CPU time.
    Http,
}

/// What a loop did.
struct Done {
    writes: u64,
    reads: u64,
    rounds: u64,
    wall: Duration,
    cpu: Duration,
}

/// Waits for a line on stdin (the tool under test is attached by then), runs the loop and
/// writes its result line to `result`.
pub fn run(kind: Loop, rounds: u64, result: &Path) -> anyhow::Result<()> {
    if rounds == 0 {
        return Err(tracer::error::user(
            tracer::error::ErrorKind::Usage,
            "--rounds must be at least 1",
        ));
    }
    let mut go = [0_u8; 1];
    let _ = std::io::stdin().read(&mut go);
    let done = match kind {
        Loop::Socketpair => socketpair_loop(rounds)?,
        Loop::Http => http_loop(rounds)?,
    };
    let line = format!(
        "writes={} reads={} rounds={} wall_ns={} cpu_ns={}\n",
        done.writes,
        done.reads,
        done.rounds,
        done.wall.as_nanos(),
        done.cpu.as_nanos()
    );
    fs::write(result, line).with_context(|| format!("could not write {}", result.display()))
}

/// `iterations` × (write 100 B, read 100 B) over a Unix socketpair, timed in wall time and in
/// the thread's on-CPU time.
fn socketpair_loop(iterations: u64) -> anyhow::Result<Done> {
    let (writer, reader) = UnixStream::pair().context("socketpair failed")?;
    // As files: std sends on a UnixStream with sendto(2) and receives with recvfrom(2); a File
    // uses plain write(2) and read(2), the calls the probes under test are attached to.
    let mut writer = fs::File::from(OwnedFd::from(writer));
    let mut reader = fs::File::from(OwnedFd::from(reader));
    let payload = [b'x'; PAYLOAD_BYTES];
    let mut received = [0_u8; PAYLOAD_BYTES];
    let cpu_started = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)?;
    let started = Instant::now();
    for _ in 0..iterations {
        // One write(2) and one read(2) per iteration.
        http::write_once(&mut writer, &payload).context("write failed")?;
        let read = reader.read(&mut received)?;
        if read != PAYLOAD_BYTES {
            bail!("short read: {read} of {PAYLOAD_BYTES} B");
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)?.saturating_sub(cpu_started);
    Ok(Done {
        writes: iterations,
        reads: iterations,
        rounds: iterations,
        wall,
        cpu,
    })
}

/// `requests` HTTP/1.1 keep-alive exchanges over TCP loopback between a client (this thread)
/// and a server thread, timed in wall time and in the process's on-CPU time (both threads).
/// The writes are 3 per request exactly; the reads are counted (the client's response may take
/// one read or two).
fn http_loop(requests: u64) -> anyhow::Result<Done> {
    // Client and server share one CPU: a wake-up on the other core of a small VM costs more, and
    // varies more, than the probes (idle exits), and a tool that keeps that core busy made
    // the untraced loop look slowest of all.
    pin_to_current_cpu()?;
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("could not listen on 127.0.0.1")?;
    let address = listener.local_addr()?;
    let server_thread = thread::Builder::new()
        .name("http-server".into())
        .spawn(move || -> anyhow::Result<http::Served> {
            let (stream, _) = listener.accept().context("accept failed")?;
            stream
                .set_nodelay(true)
                .context("could not set TCP_NODELAY on the server")?;
            // As a file, for plain write(2) and read(2) instead of std's sendto(2) and
            // recvfrom(2).
            let mut stream = fs::File::from(OwnedFd::from(stream));
            Ok(http::answer(&mut stream, Duration::ZERO)?)
        })
        .context("could not start the HTTP server thread")?;
    let client =
        TcpStream::connect(address).with_context(|| format!("could not connect to {address}"))?;
    client
        .set_nodelay(true)
        .context("could not set TCP_NODELAY on the client")?;
    let mut client = fs::File::from(OwnedFd::from(client));
    let mut response = [0_u8; 4096];
    let mut client_reads = http::Reads::default();
    let cpu_started = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID)?;
    let started = Instant::now();
    let exchanged = (0..requests).try_for_each(|_| {
        http::exchange(
            &mut client,
            http::REQUEST_KEEP_ALIVE,
            &mut response,
            &mut client_reads,
        )
        .map(drop)
    });
    let wall = started.elapsed();
    let cpu = cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID)?.saturating_sub(cpu_started);
    // Closing the connection ends the server's loop.
    drop(client);
    let served = server_thread
        .join()
        .map_err(|_| anyhow!("the HTTP server thread panicked"))?;
    // When the server failed, the client's failure is only that it closed the connection.
    let served = served.context("the HTTP server failed")?;
    exchanged.context("the HTTP client failed")?;
    if served.requests != requests {
        bail!(
            "the HTTP server answered {} requests, the client sent {requests}",
            served.requests
        );
    }
    Ok(Done {
        writes: requests + 2 * served.requests,
        reads: client_reads.calls + served.reads,
        rounds: requests,
        wall,
        cpu,
    })
}

/// Restricts this thread, and threads it starts from now on, to the CPU it runs on.
fn pin_to_current_cpu() -> anyhow::Result<()> {
    // SAFETY: no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    let cpu = usize::try_from(cpu)
        .map_err(|_| anyhow!("sched_getcpu failed: {}", std::io::Error::last_os_error()))?;
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it (cpu < 1024).
    let status = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set)
    };
    if status != 0 {
        bail!(
            "could not pin the HTTP workload to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// On-CPU time (user + system) so far of the calling thread (`CLOCK_THREAD_CPUTIME_ID`) or of
/// the whole process (`CLOCK_PROCESS_CPUTIME_ID`).
fn cpu_time(clock: libc::clockid_t) -> anyhow::Result<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(clock, &raw mut now) };
    if status != 0 {
        bail!(
            "clock_gettime({clock}) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    let seconds = u64::try_from(now.tv_sec).context("negative CPU time")?;
    let nanos = u32::try_from(now.tv_nsec).context("CPU time nanoseconds out of range")?;
    Ok(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socketpair_loop_makes_two_syscalls_per_iteration() {
        let done = socketpair_loop(1000).expect("the loop runs");
        assert_eq!((done.writes, done.reads, done.rounds), (1000, 1000, 1000));
        assert!(done.wall > Duration::ZERO && done.cpu > Duration::ZERO);
    }

    #[test]
    fn the_http_loop_writes_three_times_per_request() {
        let done = http_loop(300).expect("the loop runs");
        assert_eq!((done.writes, done.rounds), (900, 300));
        // The server reads each request once (and once more to see the close); the client
        // reads each response once or twice.
        assert!(
            (601..=901).contains(&done.reads),
            "{} reads for 300 requests",
            done.reads
        );
        assert!(done.wall > Duration::ZERO && done.cpu > Duration::ZERO);
    }
}
