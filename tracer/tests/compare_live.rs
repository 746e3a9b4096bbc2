//! Root-only: records a client reading two-write responses directly and through nginx (a real
//! proxy that merges them), then compares the two runs, as a user would with the built binary.
//! Uses tests/fixtures/real's server and client; nginx comes from Debian (`cargo xtask setup`).
use std::{
    io::{BufRead as _, BufReader},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use serde_json::Value;

const TRACER: &str = env!("CARGO_BIN_EXE_tracer");
const REQUESTS: u64 = 2000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real")
}

/// Stops a child this test started when the test ends, however it ends: SIGTERM first, so
/// that nginx's master stops its workers too.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: signals a child of ours that has not been waited for, so the PID is its.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Python interpreter itself (not a version manager's shell shim, which tracer would trace
/// as extra processes).
fn python() -> String {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed to run the test server and client");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        sleep(Duration::from_millis(50));
    }
}

fn start_server(python: &str) -> (Guard, u16) {
    let mut child = Command::new(python)
        .arg(fixtures().join("two_write_server.py"))
        .arg("0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .unwrap()
        .parse()
        .unwrap();
    (Guard(child), port)
}

/// nginx in front of the server, with the fixture's settings; returns it and its worker's PID.
fn start_nginx(dir: &Path, upstream: u16) -> (Guard, u16, u32) {
    let port = free_port();
    let config = std::fs::read_to_string(fixtures().join("nginx-proxy.conf"))
        .unwrap()
        .replace("127.0.0.1:18080", &format!("127.0.0.1:{upstream}"))
        .replace("127.0.0.1:18081", &format!("127.0.0.1:{port}"));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("nginx.conf"), config).unwrap();
    let master = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .spawn()
        .expect("nginx is needed (cargo xtask setup installs it)");
    let pid = master.id();
    let nginx = Guard(master);
    wait_for_port(port);
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let worker = children.split_whitespace().next().unwrap().parse().unwrap();
    (nginx, port, worker)
}

fn record(dir: &Path, label: &str, extra: &[String], python: &str, port: u16) -> String {
    let output = dir.join(format!("{label}.json")).display().to_string();
    let requests = REQUESTS.to_string();
    let client = fixtures().join("client.py").display().to_string();
    let port = port.to_string();
    // Sampling often lets tracer see the client's sockets (fd kinds) before it exits.
    let mut args = vec![
        "record",
        "-q",
        "--interval",
        "200ms",
        "--label",
        label,
        "--requests",
        &requests,
        "-o",
        &output,
    ];
    args.extend(extra.iter().map(String::as_str));
    args.extend(["--", python, &client, &port, &requests]);
    let status = Command::new(TRACER)
        .args(&args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "tracer {args:?} failed");
    output
}

#[test]
fn a_merging_proxy_halves_the_clients_reads_and_doubles_their_size() {
    // SAFETY: no preconditions.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test loads eBPF probes: run it as root (CI does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let python = python();
    let (_server, server_port) = start_server(&python);
    let (_nginx, nginx_port, worker) = start_nginx(dir.path(), server_port);

    let direct = record(dir.path(), "direct", &[], &python, server_port);
    let proxy = record(
        dir.path(),
        "nginx",
        &["--pid".into(), format!("nginx={worker}")],
        &python,
        nginx_port,
    );

    let output = Command::new(TRACER)
        .args(["compare", &direct, &proxy, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let client = &json["sections"][0];
    assert_eq!(
        client["target"], "python3",
        "the client comes first: {}",
        client["name"]
    );
    let mean = |metric: &str, group: usize| {
        let rows = client["table"]["rows"].as_array().unwrap();
        let row = rows
            .iter()
            .find(|r| r["metric"] == metric)
            .unwrap_or_else(|| panic!("no {metric}"));
        row["values"][group]["mean"].as_f64().unwrap()
    };
    // Directly, the headers and the body arrive apart: two socket reads per response.
    let direct_reads = mean("socket_read_calls_per_request", 0);
    let proxy_reads = mean("socket_read_calls_per_request", 1);
    assert!(
        (1.8..2.2).contains(&direct_reads),
        "direct: {direct_reads} socket reads per request"
    );
    assert!(
        (0.95..1.2).contains(&proxy_reads),
        "through nginx: {proxy_reads} socket reads per request"
    );
    assert!(
        mean("coalescing_factor", 1) > 1.6,
        "factor {}",
        mean("coalescing_factor", 1)
    );
    // The 180 B + 178 B shape, exact below 256 B.
    let sizes = &client["read_sizes"][0]["buckets"];
    let count = |size: u64| {
        sizes
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["low"] == size && b["width"] == 1)
            .map_or(0, |b| b["count"].as_u64().unwrap())
    };
    assert!(
        count(180) > REQUESTS * 9 / 10 && count(178) > REQUESTS * 9 / 10,
        "{sizes}"
    );
    // The proxy is traced too, and only in its own run.
    let nginx = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["process"] == "nginx")
        .unwrap();
    assert_eq!(nginx["pids"][0].as_array().unwrap().len(), 0);
    assert_eq!(nginx["pids"][1][0], worker);
    assert!(
        json["verdict"][0]
            .as_str()
            .unwrap()
            .contains("fewer I/O syscalls per request"),
        "{}",
        json["verdict"]
    );
}
