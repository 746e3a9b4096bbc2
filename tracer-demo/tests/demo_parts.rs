//! The demo's parts as real processes, without namespaces or root: the service writes exactly
//! 180 + 178 bytes in two writes, the proxy pair (HTTP/2 CONNECT over mutual TLS) carries bytes
//! exactly (many streams, both directions, half-close), and the load generator reports what it did.
use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::Duration,
};

const TRACER_DEMO: &str = env!("CARGO_BIN_EXE_tracer-demo");

/// A child that is killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tracer-demo ARGS` and returns it with the address from its ready line.
fn start(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = Command::new(TRACER_DEMO)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let address = line
        .trim()
        .strip_prefix("tracer-demo: ready ")
        .unwrap_or_else(|| panic!("not a ready line: {line:?}"));
    (Running(child), address.parse().unwrap())
}

const REQUEST: &[u8] = b"GET /details/0 HTTP/1.1\r\nHost: details\r\n\r\n";

#[test]
fn service_sends_headers_then_body_as_two_writes_of_180_and_178_bytes() {
    // With a 300 ms pause between the writes, the first read can only return the first write.
    let (_service, address) = start(&["serve", "--listen", "127.0.0.1:0", "--body-delay", "300ms"]);
    let mut socket = TcpStream::connect(address).unwrap();
    for _ in 0..2 {
        socket.write_all(REQUEST).unwrap();
        let mut buffer = [0_u8; 4096];
        let first = socket.read(&mut buffer).unwrap();
        assert_eq!(first, 180, "headers");
        assert!(buffer[..first].ends_with(b"\r\n\r\n"));
        let second = socket.read(&mut buffer).unwrap();
        assert_eq!(second, 178, "body");
        assert!(buffer.starts_with(b"{\"id\":0,\"author\":\"William Shakespeare\""));
    }
    // Connection: close is honoured: the response, then end of stream.
    socket
        .write_all(b"GET /details/0 HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut rest = Vec::new();
    socket.read_to_end(&mut rest).unwrap();
    assert_eq!(rest.len(), 358);
    assert!(
        rest.starts_with(b"HTTP/1.1 200 OK\r\n")
            && rest[..180].windows(17).any(|w| w == b"Connection: close")
    );
}

#[test]
fn service_write_syscalls_are_exactly_180_and_178_bytes_under_strace() {
    let Ok(strace) = which::which("strace") else {
        panic!("strace is needed for this test: apt-get install -y strace");
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let mut child = Command::new(strace)
        .args(["-f", "-qq", "-e", "trace=write,writev,sendto,sendmsg", "-o"])
        .arg(&log)
        .args([TRACER_DEMO, "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let strace_pid = child.id();
    let strace_child = Running(child);
    let address: SocketAddr = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    let mut socket = TcpStream::connect(address).unwrap();
    for _ in 0..4 {
        socket.write_all(REQUEST).unwrap();
        let mut got = 0;
        let mut buffer = [0_u8; 4096];
        while got < 358 {
            got += socket.read(&mut buffer).unwrap();
        }
        assert_eq!(got, 358);
    }
    // The last one closes: end of stream means the service got past its last write, so strace
    // has logged that write's result.
    socket
        .write_all(b"GET /details/0 HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut last = Vec::new();
    socket.read_to_end(&mut last).unwrap();
    assert_eq!(last.len(), 358);
    drop(socket);
    // Kill the service, not strace, so strace sees it exit and flushes its log.
    let children =
        std::fs::read_to_string(format!("/proc/{strace_pid}/task/{strace_pid}/children")).unwrap();
    let service: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: kill has no memory-safety preconditions; the PID is strace's live child.
    unsafe {
        libc::kill(service, libc::SIGKILL);
    }
    let mut strace_child = strace_child;
    strace_child.0.wait().unwrap();
    let trace = std::fs::read_to_string(&log).unwrap();
    let sizes: Vec<&str> = trace
        .lines()
        .filter(|line| {
            line.contains("sendto(") || line.contains("write(") || line.contains("writev(")
        })
        .filter(|line| !line.contains("write(1,")) // the ready line
        .filter_map(|line| line.rsplit("= ").next())
        .collect();
    assert_eq!(sizes, ["180", "178"].repeat(5), "{trace}");
}

/// Echoes every byte back until the client half-closes, then closes.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let mut socket = socket.unwrap();
            std::thread::spawn(move || {
                let mut buffer = [0_u8; 7000];
                loop {
                    match socket.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => socket.write_all(&buffer[..n]).unwrap(),
                    }
                }
            });
        }
    });
    address
}

#[test]
fn proxy_pair_carries_many_streams_byte_for_byte_and_passes_half_close() {
    let echo = echo_server();
    let certs = tempfile::tempdir().unwrap();
    let certs_path = certs.path().to_str().unwrap();
    let made = Command::new(TRACER_DEMO)
        .args(["certs", "--out", certs_path])
        .status()
        .unwrap();
    assert!(made.success());
    let (_inbound, tunnel) = start(&[
        "proxy",
        "--role",
        "inbound",
        "--listen",
        "127.0.0.1:0",
        "--certs",
        certs_path,
        "--coalesce-window",
        "100us",
    ]);
    // Not redirected by iptables: every connection goes to --destination.
    let (_outbound, entry) = start(&[
        "proxy",
        "--role",
        "outbound",
        "--listen",
        "127.0.0.1:0",
        "--peer",
        &tunnel.to_string(),
        "--certs",
        certs_path,
        "--destination",
        &echo.to_string(),
    ]);
    let clients: Vec<_> = (0..6_u8)
        .map(|stream| {
            std::thread::spawn(move || {
                // Distinct, position-dependent bytes per stream catch reordering and mixing.
                let sent: Vec<u8> = (0..300_000_u32)
                    .map(|i| i.to_le_bytes()[0].wrapping_mul(31) ^ stream.wrapping_mul(97))
                    .collect();
                let mut socket = TcpStream::connect(entry).unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                let mut reader = socket.try_clone().unwrap();
                let collector = std::thread::spawn(move || {
                    let mut got = Vec::new();
                    reader.read_to_end(&mut got).unwrap();
                    got
                });
                for chunk in sent.chunks(4093) {
                    socket.write_all(chunk).unwrap();
                }
                socket.shutdown(Shutdown::Write).unwrap();
                let got = collector.join().unwrap();
                assert_eq!(got.len(), sent.len(), "stream {stream}: length");
                assert!(got == sent, "stream {stream}: bytes differ");
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn load_generator_keeps_its_rate_and_writes_a_load_result() {
    let (_service, address) = start(&["serve", "--listen", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("load.json");
    let output = Command::new(TRACER_DEMO)
        .args([
            "load",
            "--target",
            &address.to_string(),
            "--qps",
            "50",
            "--connections",
            "5",
        ])
        .args(["--duration", "1s", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: tracer::run::LoadResult =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(result.tool, "tracer-demo");
    assert_eq!(result.requests, 50, "1 s at 50 qps");
    assert_eq!(result.errors, 0);
    assert_eq!(result.status_codes.get("200"), Some(&50));
    assert!(result.latency.min_ns > 0 && result.latency.min_ns <= result.latency.p50_ns);
    assert!(
        result.latency.p50_ns <= result.latency.p99_ns
            && result.latency.p99_ns <= result.latency.max_ns
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let reads = stdout
        .lines()
        .find_map(tracer_demo::load::parse_client_reads)
        .unwrap_or_else(|| panic!("no client-reads line in {stdout}"));
    assert_eq!(reads.1, 50 * 358, "bytes read");
    assert_eq!(reads.2, 50, "responses");
}

#[test]
fn bad_arguments_get_one_sentence_and_a_usage_exit_code() {
    let output = Command::new(TRACER_DEMO)
        .args(["load", "--target", "127.0.0.1:9", "--qps", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--qps must be a positive number"),
        "{stderr}"
    );
    let output = Command::new(TRACER_DEMO)
        .args(["load", "--target", "127.0.0.1:9", "--duration", "1s"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "nothing listens on port 9");
}
