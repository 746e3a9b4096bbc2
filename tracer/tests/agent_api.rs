//! `tracer agent` driven through the built binary and plain HTTP: routes, 4xx bodies, the
//! bearer token, the read-only metrics listener, and (as root) real recordings with cancel
//! and the concurrency bound.
use std::{
    fs,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running agent, killed on drop.
struct Agent {
    child: Child,
    api: String,
    metrics: String,
    /// What it has written to stderr after its addresses.
    said: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    host: Option<tempfile::TempDir>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A fake host root (empty, but for /proc) for agents.
fn fake_host() -> tempfile::TempDir {
    let host = tempfile::Builder::new()
        .prefix("tracer-issue-16-")
        .tempdir()
        .unwrap();
    fs::create_dir_all(host.path().join("var/log/pods")).unwrap();
    fs::write(host.path().join("cgroup.controllers"), "").unwrap();
    // Host PIDs are looked up under <host-root>/proc.
    std::os::unix::fs::symlink("/proc", host.path().join("proc")).unwrap();
    host
}

/// Starts an agent on free loopback ports over an empty fake host, with `extra` flags and its
/// state in the fake host. Without a token it needs `--insecure-local`: the tests run in the
/// host's network namespace.
fn agent(extra: &[&str]) -> Agent {
    let host = fake_host();
    let mut agent = agent_on(host.path(), &host.path().join("state"), extra);
    agent.host = Some(host);
    agent
}

/// Starts an agent over `host` keeping its state in `state`.
fn agent_on(host: &std::path::Path, state: &std::path::Path, extra: &[&str]) -> Agent {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args([
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--host-root",
        ])
        .arg(host)
        .arg("--cgroup-root")
        .arg(host)
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .args(
            (!extra.contains(&"--token-file"))
                .then_some("--insecure-local")
                .iter(),
        )
        .env_remove("TRACER_HOST_ROOT")
        .env_remove("TRACER_CGROUP_ROOT")
        .env("NODE_NAME", "test-node")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut address = |prefix: &str| {
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let at = line
            .find(prefix)
            .unwrap_or_else(|| panic!("agent said {line:?}"));
        line[at + prefix.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let api = address("API on http://");
    let metrics = address("/healthz on http://");
    // Keep draining stderr so the agent never blocks on a full pipe.
    let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines = std::sync::Arc::clone(&said);
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    Agent {
        child,
        api,
        metrics,
        said,
        host: None,
    }
}

/// One HTTP/1.1 request; returns the status code, headers and body.
fn http(
    address: &str,
    method: &str,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head.to_owned(), body.to_owned())
}

fn error_of(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {body}"))
        .to_owned()
}

#[test]
fn health_and_metrics_on_both_listeners() {
    let agent = agent(&[]);
    for address in [&agent.api, &agent.metrics] {
        assert_eq!(http(address, "GET", "/healthz", "", None).0, 200);
        let (code, head, body) = http(address, "GET", "/metrics", "", None);
        assert_eq!(code, 200);
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/openmetrics-text"),
            "{head}"
        );
        assert!(
            body.contains("tracer_agent_info{version=\"0.1.0\",node=\"test-node\"} 1"),
            "{body}"
        );
        assert!(body.contains("tracer_recordings_started_total 0"), "{body}");
    }
    // The metrics listener has no recording API.
    let (code, _, body) = http(&agent.metrics, "POST", "/recordings", "{}", None);
    assert_eq!(code, 404);
    assert!(
        error_of(&body).contains("serves only /metrics and /healthz"),
        "{body}"
    );
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "a table of bad requests, then the routes' own refusals"
)]
fn bad_requests_get_one_sentence_and_the_right_status() {
    let agent = agent(&["--max-duration", "1m"]);
    let cases = [
        (
            r#"{"pods": ["default/fortio"], "duration": "30s"}"#,
            404,
            "no pod default/fortio on this node:",
        ),
        (
            r#"{"pods": ["fortio"], "duration": "30s"}"#,
            400,
            "each of \"pods\" must be NAMESPACE/NAME",
        ),
        (
            r#"{"containers": ["abc"], "duration": "30s"}"#,
            400,
            "each of \"containers\" must be a container ID",
        ),
        (
            r#"{"pids": [4194304], "duration": "30s"}"#,
            404,
            "no process with PID 4194304",
        ),
        (
            r#"{"pods": ["default/fortio"]}"#,
            400,
            "missing field `duration`",
        ),
        (
            r#"{"pids": [1], "duration": "2h"}"#,
            400,
            "longer than this agent allows (60 s",
        ),
        (
            r#"{"pids": [1], "duration": "soon"}"#,
            400,
            "\"duration\": 'soon' is not a duration",
        ),
        (r#"{"duration": "30s"}"#, 400, "nothing to record"),
        (
            r#"{"pid": [1], "duration": "30s"}"#,
            400,
            "unknown field `pid`",
        ),
        ("not json", 400, "the body must be JSON"),
        (
            r#"{"pids": ["client=x"], "duration": "30s"}"#,
            400,
            "\"pids\": \"client=x\" is not a process ID",
        ),
        (
            r#"{"pids": [1, "init=1"], "duration": "30s"}"#,
            400,
            "\"pids\": PID 1 is given twice",
        ),
    ];
    for (body, want_code, want_text) in cases {
        let (code, _, response) = http(&agent.api, "POST", "/recordings", body, None);
        assert_eq!(code, want_code, "{body}: {response}");
        assert!(
            error_of(&response).contains(want_text),
            "{body}: {response}"
        );
    }
    let (code, _, body) = http(&agent.api, "GET", "/recordings/rec-9", "", None);
    assert_eq!(
        (
            code,
            error_of(&body).starts_with("no recording rec-9 on this agent")
        ),
        (404, true),
        "{body}"
    );
    assert_eq!(
        http(&agent.api, "GET", "/recordings/rec-9/run", "", None).0,
        404
    );
    assert_eq!(
        http(&agent.api, "POST", "/recordings/nonsense/cancel", "", None).0,
        404
    );
    let (code, _, body) = http(&agent.api, "DELETE", "/recordings", "", None);
    assert_eq!(
        (
            code,
            error_of(&body).starts_with("DELETE is not allowed on /recordings")
        ),
        (405, true),
        "{body}"
    );
    let (code, _, body) = http(&agent.api, "GET", "/", "", None);
    assert_eq!(
        (code, error_of(&body).starts_with("no endpoint GET /")),
        (404, true),
        "{body}"
    );
    let (code, _, body) = http(&agent.api, "GET", "/recordings", "", None);
    assert_eq!(
        (code, body.as_str()),
        (200, "[]"),
        "refused requests leave no recordings"
    );
}

#[test]
fn token_guards_the_api_but_not_health_or_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    fs::write(&token_file, "0123456789abcdef0123\n").unwrap();
    let agent = agent(&["--token-file", token_file.to_str().unwrap()]);
    let (code, head, body) = http(&agent.api, "GET", "/recordings", "", None);
    assert_eq!(code, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    assert!(
        error_of(&body).starts_with("this agent needs a token"),
        "{body}"
    );
    let (code, _, body) = http(
        &agent.api,
        "GET",
        "/recordings",
        "",
        Some("0123456789abcdef0124"),
    );
    assert_eq!(
        (
            code,
            error_of(&body).starts_with("the bearer token is wrong")
        ),
        (401, true)
    );
    assert_eq!(
        http(
            &agent.api,
            "GET",
            "/recordings",
            "",
            Some("0123456789abcdef0123")
        )
        .0,
        200
    );
    assert_eq!(http(&agent.api, "GET", "/healthz", "", None).0, 200);
    assert_eq!(http(&agent.metrics, "GET", "/metrics", "", None).0, 200);
}

#[test]
fn refuses_to_expose_the_api_without_a_token() {
    let output = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args(["agent", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with(
            "tracer: --listen 0.0.0.0:0 would let anyone who reaches it trace this node"
        ),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("token"), "short").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args(["agent", "--token-file"])
        .arg(dir.path().join("token"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The id in a status body.
fn id_of(body: &str) -> String {
    let status: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    status["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

fn status_of(agent: &Agent, id: &str) -> serde_json::Value {
    let (code, _, body) = http(&agent.api, "GET", &format!("/recordings/{id}"), "", None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn wait_done(agent: &Agent, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let status = status_of(agent, id);
        if status["state"] == "done" || status["state"] == "failed" {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "recording {id} did not end: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A process killed on drop, so a failed test leaves nothing running.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A shell writing `hi\n` (3 bytes) to /dev/null 20 times a second.
fn writer() -> Killed {
    let child = Command::new("sh")
        .args(["-c", "while :; do echo hi; sleep 0.05; done"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until its exec, the child has the test thread's name, and a target is named when it is
    // resolved: wait for the shell.
    let comm = format!("/proc/{}/comm", child.id());
    while fs::read_to_string(&comm).unwrap_or_default().trim() != "sh" {
        std::thread::sleep(Duration::from_millis(5));
    }
    Killed(child)
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: start, refuse, fetch, cancel, metrics, in order"
)]
fn records_a_process_cancels_and_bounds_concurrency() {
    assert!(
        is_root(),
        "this test loads probes: run it as root (CI does)"
    );
    let agent = agent(&["--max-recordings", "1"]);
    let writer = writer();
    let pid = writer.0.id();

    let body =
        format!(r#"{{"pids": [{pid}], "duration": "2s", "interval": "500ms", "label": "writer"}}"#);
    let (code, head, response) = http(&agent.api, "POST", "/recordings", &body, None);
    assert_eq!(code, 202, "{response}");
    let first = id_of(&response);
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "location: /recordings/{}",
            first.to_ascii_lowercase()
        )),
        "{head}"
    );
    // One at a time: the second is refused while the first runs.
    let (code, _, busy) = http(&agent.api, "POST", "/recordings", &body, None);
    assert_eq!(
        (code, error_of(&busy).contains("--max-recordings")),
        (429, true),
        "{busy}"
    );
    let (code, _, early) = http(
        &agent.api,
        "GET",
        &format!("/recordings/{first}/run"),
        "",
        None,
    );
    assert_eq!(
        (
            code,
            error_of(&early).contains("fetch its run when its state is done")
        ),
        (409, true),
        "{early}"
    );

    let status = wait_done(&agent, &first);
    assert_eq!(
        (status["state"].as_str(), status["end_reason"].as_str()),
        (Some("done"), Some("duration")),
        "{status}"
    );
    let (code, _, run) = http(
        &agent.api,
        "GET",
        &format!("/recordings/{first}/run"),
        "",
        None,
    );
    assert_eq!(code, 200);
    let run: serde_json::Value = serde_json::from_str(&run).unwrap();
    assert_eq!(run["kind"], "tracer-run");
    assert_eq!(run["label"], "writer");
    let shell = run["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the writer is in the run");
    let write = shell["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["syscall"] == "write")
        .expect("it wrote");
    let calls = write["calls"].as_u64().unwrap();
    assert!(calls > 0);
    assert_eq!(
        write["bytes"].as_u64().unwrap(),
        3 * calls,
        "every write is 'hi\\n'"
    );

    // Cancel: a long recording ends at once, its run is kept.
    let body = format!(r#"{{"pids": [{pid}], "duration": "5m"}}"#);
    let (code, _, response) = http(&agent.api, "POST", "/recordings", &body, None);
    assert_eq!(code, 202, "{response}");
    let second = id_of(&response);
    assert!(second > first, "ids sort by time: {first} then {second}");
    std::thread::sleep(Duration::from_millis(500));
    let cancel = format!("/recordings/{second}/cancel");
    let (code, _, response) = http(&agent.api, "POST", &cancel, "", None);
    assert_eq!(code, 202, "{response}");
    let status = wait_done(&agent, &second);
    assert_eq!(status["end_reason"], "cancelled", "{status}");
    assert!(status["elapsed_ns"].as_u64().unwrap() < 60_000_000_000);
    let (code, _, again) = http(&agent.api, "POST", &cancel, "", None);
    assert_eq!(
        (code, error_of(&again).contains("has already ended")),
        (409, true),
        "{again}"
    );

    let (_, _, metrics) = http(&agent.metrics, "GET", "/metrics", "", None);
    assert!(
        metrics.contains("tracer_recordings_started_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tracer_recordings_ended_total{reason=\"cancelled\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("tracer_recordings_active 0"), "{metrics}");
}

/// Peak and current resident memory of a process, in KiB (`VmHWM`, `VmRSS`).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Issue #18, item 2: 200,000 copies of one PID (1.4 MB) were accepted and kept a 33 MB run;
/// `"interval": "1ms"` was accepted. Now the big body is refused unread, repeats collapse to
/// one target, and the interval has a floor.
#[test]
fn duplicate_targets_collapse_and_tiny_intervals_and_huge_bodies_are_refused() {
    assert!(
        is_root(),
        "this test loads probes: run it as root (CI does)"
    );
    let agent = agent(&[]);
    let writer = writer();
    let pid = writer.0.id();
    let before = memory_kib(agent.child.id()).1;
    let post = |body: &str| {
        let (code, _, response) = http(&agent.api, "POST", "/recordings", body, None);
        (code, response)
    };

    let many = vec![pid.to_string(); 200_000].join(", ");
    let body = format!(r#"{{"pids": [{many}], "duration": "2s"}}"#);
    assert!(body.len() > 1_000_000);
    let (code, response) = post(&body);
    assert_eq!(code, 413, "{response}");
    assert!(
        error_of(&response).contains("name at most 64 targets"),
        "{response}"
    );
    let after = memory_kib(agent.child.id()).1;
    eprintln!("agent RSS {before} KiB before the 1.4 MB request, {after} KiB after");
    assert!(after < before + 4 * 1024, "{before} KiB -> {after} KiB");

    let (code, response) = post(&format!(
        r#"{{"pids": [{pid}], "duration": "2s", "interval": "1ms"}}"#
    ));
    assert_eq!(code, 400, "{response}");
    assert!(error_of(&response).contains("shorter than this agent allows (100 ms)"));

    let pids: Vec<u32> = (1..=65).collect();
    let (code, response) = post(&format!(r#"{{"pids": {pids:?}, "duration": "2s"}}"#));
    assert_eq!(code, 400, "{response}");
    assert!(
        error_of(&response).contains("65 different targets"),
        "{response}"
    );

    let repeated = vec![pid.to_string(); 5_000].join(",");
    let (code, response) = post(&format!(r#"{{"pids": [{repeated}], "duration": "1s"}}"#));
    assert_eq!(code, 202, "{response}");
    let status: serde_json::Value = serde_json::from_str(&response).unwrap();
    assert_eq!(status["targets"].as_array().unwrap().len(), 1, "{status}");
    let id = id_of(&response);
    wait_done(&agent, &id);
    let (code, _, run) = http(
        &agent.api,
        "GET",
        &format!("/recordings/{id}/run"),
        "",
        None,
    );
    assert_eq!(code, 200);
    let run: serde_json::Value = serde_json::from_str(&run).unwrap();
    assert_eq!(run["targets"].as_array().unwrap().len(), 1);
}

/// Issue #18, item 2: five large requests took the agent from 36 MB to 574 MB. Twenty
/// recordings of 64 targets each (the most one request may name) at the shortest interval
/// stay under this bound of peak resident memory, with 1 MiB of run files kept at most.
const AGENT_PEAK_BOUND_KIB: u64 = 160 * 1024;

#[test]
fn twenty_large_recordings_keep_the_agent_under_its_memory_bound() {
    assert!(
        is_root(),
        "this test loads probes: run it as root (CI does)"
    );
    let agent = agent(&[
        "--max-recordings",
        "4",
        "--max-kept-mib",
        "1",
        "--keep",
        "20",
    ]);
    let sleepers: Vec<Killed> = (0..64)
        .map(|_| {
            Killed(
                Command::new("sleep")
                    .arg("600")
                    .stdin(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let pids: Vec<u32> = sleepers.iter().map(|s| s.0.id()).collect();
    let body = format!(r#"{{"pids": {pids:?}, "duration": "2s", "interval": "100ms"}}"#);
    let mut kept_sizes = Vec::new();
    for _ in 0..20 {
        // At most 4 at once (--max-recordings): retry while the agent is busy.
        loop {
            let (code, _, response) = http(&agent.api, "POST", "/recordings", &body, None);
            if code == 202 {
                break;
            }
            assert_eq!(code, 429, "{response}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let (_, _, list) = http(&agent.api, "GET", "/recordings", "", None);
        if !list.contains("\"starting\"") && !list.contains("\"running\"") {
            assert!(!list.contains("\"failed\""), "{list}");
            break;
        }
        assert!(Instant::now() < deadline, "recordings did not end: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, _, list) = http(&agent.api, "GET", "/recordings", "", None);
    let list: Vec<serde_json::Value> = serde_json::from_str(&list).unwrap();
    for status in &list {
        let id = status["id"].as_str().unwrap();
        let (code, _, run) = http(
            &agent.api,
            "GET",
            &format!("/recordings/{id}/run"),
            "",
            None,
        );
        assert_eq!(code, 200);
        kept_sizes.push(run.len());
    }
    let kept: usize = kept_sizes.iter().sum();
    let (peak, now) = memory_kib(agent.child.id());
    eprintln!(
        "20 recordings of 64 targets: {} kept ({kept} bytes of run files, each ~{} bytes); agent peak {peak} KiB, now {now} KiB",
        list.len(),
        kept_sizes.first().copied().unwrap_or_default()
    );
    assert!(
        kept <= 1 << 20,
        "{kept} bytes of runs kept past --max-kept-mib 1"
    );
    assert!(list.len() < 20, "the oldest runs were dropped");
    assert!(
        peak < AGENT_PEAK_BOUND_KIB,
        "agent peak {peak} KiB, bound {AGENT_PEAK_BOUND_KIB} KiB"
    );
}

/// Issue #18, item 3: connections that never finished their headers stayed open forever and,
/// past the open-file limit, locked out /healthz and the API on both listeners.
#[test]
fn half_open_connections_do_not_lock_out_health_and_are_closed() {
    let agent = agent(&["--header-timeout", "2s"]);
    let mut half_open = Vec::new();
    for index in 0..600 {
        let address = if index % 2 == 0 {
            &agent.api
        } else {
            &agent.metrics
        };
        let mut stream = TcpStream::connect(address).unwrap();
        // Headers begun, never finished.
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
        half_open.push(stream);
    }
    for address in [&agent.api, &agent.metrics] {
        let started = Instant::now();
        let (code, _, body) = http(address, "GET", "/healthz", "", None);
        let took = started.elapsed();
        eprintln!("/healthz on {address} under 600 half-open connections: {took:?}");
        assert_eq!((code, body.as_str()), (200, "ok\n"));
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    // Past the header timeout (2 s), every half-open connection is closed by the agent.
    std::thread::sleep(Duration::from_secs(3));
    let mut still_open = 0;
    for stream in &mut half_open {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut sink = Vec::new();
        match stream.read_to_end(&mut sink) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(_) => still_open += 1,
        }
    }
    assert_eq!(
        still_open, 0,
        "connections still open after the header timeout"
    );
}

/// Issue #18, items 5 and 6: an agent on the host's own loopback without a token, or one
/// without the privileges to record, refuses to start with one sentence.
#[test]
fn refuses_to_start_unprivileged_or_tokenless_on_the_host() {
    assert!(
        is_root(),
        "this test drops root with setpriv: run it as root (CI does)"
    );
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_tracer"))
        .args(["agent", "--insecure-local", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.starts_with("tracer: tracer agent cannot record without root"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args(["agent", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("127.0.0.1 is reachable by every local user"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Issue #18, item 6: the token must match exactly (no trailing whitespace).
#[test]
fn the_token_must_match_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    fs::write(&token_file, "0123456789abcdef0123\n").unwrap();
    let agent = agent(&["--token-file", token_file.to_str().unwrap()]);
    // HTTP strips a value's trailing blanks itself; a blank inside is not the token's.
    for wrong in [
        " 0123456789abcdef0123",
        "0123456789abcdef012",
        "0123456789abcdef01234",
        "0123456789abcdef0123\t0",
    ] {
        let (code, _, _) = http(&agent.api, "GET", "/recordings", "", Some(wrong));
        assert_eq!(code, 401, "{wrong:?}");
    }
    // Unauthenticated, a body is not read: 401 at once, whatever its declared length.
    let mut stream = TcpStream::connect(&agent.api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "POST /recordings HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n{{"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
}

/// Sends SIGTERM to the agent and waits for it to exit; returns how long that took.
fn terminate(agent: &mut Agent) -> Duration {
    let asked = Instant::now();
    // SAFETY: kill only sends a signal to the agent this test started.
    assert_eq!(
        unsafe { libc::kill(i32::try_from(agent.child.id()).unwrap(), libc::SIGTERM) },
        0
    );
    let status = agent.child.wait().unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "the agent exited with {status}");
    took
}

fn post_recording(agent: &Agent, body: &str) -> String {
    let (code, _, response) = http(&agent.api, "POST", "/recordings", body, None);
    assert_eq!(code, 202, "{body}: {response}");
    id_of(&response)
}

fn wait_running(agent: &Agent, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = status_of(agent, id);
        if status["state"] == "running" {
            return;
        }
        assert!(
            status["state"] == "starting" && Instant::now() < deadline,
            "{status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The writer's `write` calls and bytes in a run.
fn writes_of(run: &serde_json::Value, pid: u32) -> (u64, u64) {
    let process = run["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("the writer is in the run: {run}"));
    let write = process["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["syscall"] == "write")
        .expect("it wrote");
    (
        write["calls"].as_u64().unwrap(),
        write["bytes"].as_u64().unwrap(),
    )
}

/// Issue #16: a recording in progress when the agent is stopped is finished and written; it
/// and its id outlive the agent; ids never repeat across restarts and sort by time.
#[test]
fn recordings_survive_sigterm_and_restarts_and_ids_never_repeat() {
    assert!(
        is_root(),
        "this test loads probes: run it as root (CI does)"
    );
    let host = fake_host();
    let state = host.path().join("state");
    let writer = writer();
    let pid = writer.0.id();

    let mut first = agent_on(host.path(), &state, &[]);
    let id = post_recording(
        &first,
        &format!(
            r#"{{"pids": [{pid}], "duration": "5m", "interval": "200ms", "label": "before-rollout"}}"#
        ),
    );
    wait_running(&first, &id);
    std::thread::sleep(Duration::from_secs(1));
    let took = terminate(&mut first);
    eprintln!("SIGTERM with one recording in progress: the agent exited in {took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(
        first
            .said
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("ending and writing 1 recording")),
        "{:?}",
        first.said.lock().unwrap()
    );

    let mut ids = vec![id.clone()];
    for restart in 1..=3 {
        let started = Instant::now();
        let mut agent = agent_on(host.path(), &state, &[]);
        eprintln!("restart {restart}: serving after {:?}", started.elapsed());
        let status = status_of(&agent, &id);
        assert_eq!(
            (status["state"].as_str(), status["end_reason"].as_str()),
            (Some("done"), Some("agent_stopped")),
            "{status}"
        );
        assert_eq!(status["node"], "test-node", "{status}");
        assert_eq!(status["label"], "before-rollout", "{status}");
        for field in ["created_at", "started_at", "ended_at"] {
            assert!(
                status[field].as_str().is_some_and(|t| t.ends_with('Z')),
                "{field}: {status}"
            );
        }
        assert_eq!(
            status["targets"][0]["spec"],
            format!("pid:{pid}"),
            "{status}"
        );
        assert_eq!(status["losses"]["calls_lost"], 0, "{status}");
        let (code, _, run) = http(
            &agent.api,
            "GET",
            &format!("/recordings/{id}/run"),
            "",
            None,
        );
        assert_eq!(code, 200, "{run}");
        let run: serde_json::Value = serde_json::from_str(&run).unwrap();
        assert_eq!(run["end_reason"], "agent_stopped");
        let (calls, bytes) = writes_of(&run, pid);
        assert!(calls > 0);
        assert_eq!(bytes, 3 * calls, "every write is 'hi\\n': the run is whole");

        // A new recording on each restart gets a new id, later than every earlier one.
        let new = post_recording(
            &agent,
            &format!(r#"{{"pids": [{pid}], "duration": "300ms", "interval": "100ms"}}"#),
        );
        assert_eq!(wait_done(&agent, &new)["state"], "done");
        assert!(!ids.contains(&new), "{new} repeats an id: {ids:?}");
        assert!(
            ids.iter().all(|old| *old < new),
            "{new} sorts after {ids:?}"
        );
        ids.push(new);
        let (_, _, list) = http(&agent.api, "GET", "/recordings", "", None);
        let listed: Vec<String> = serde_json::from_str::<Vec<serde_json::Value>>(&list)
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed, ids, "every recording, oldest first");
        terminate(&mut agent);
    }
}

/// Issue #16: past `--keep`, finished recordings are deleted oldest first (files too), and a
/// recording still running is never deleted.
#[test]
fn retention_deletes_the_oldest_first_and_never_a_running_one() {
    assert!(
        is_root(),
        "this test loads probes: run it as root (CI does)"
    );
    let agent = agent(&["--keep", "1"]);
    let state = agent.host.as_ref().unwrap().path().join("state/recordings");
    let pid = std::process::id();
    let short = format!(r#"{{"pids": [{pid}], "duration": "300ms", "interval": "100ms"}}"#);
    let oldest = post_recording(&agent, &short);
    wait_done(&agent, &oldest);
    assert!(state.join(format!("{oldest}.run.json")).exists());
    let long = post_recording(&agent, &format!(r#"{{"pids": [{pid}], "duration": "1m"}}"#));
    wait_running(&agent, &long);
    let newest = post_recording(&agent, &short);
    wait_done(&agent, &newest);
    let listed = |agent: &Agent| -> Vec<String> {
        let (_, _, list) = http(&agent.api, "GET", "/recordings", "", None);
        serde_json::from_str::<Vec<serde_json::Value>>(&list)
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(listed(&agent), vec![long.clone(), newest.clone()]);
    assert_eq!(
        http(
            &agent.api,
            "GET",
            &format!("/recordings/{oldest}"),
            "",
            None
        )
        .0,
        404
    );
    assert!(!state.join(format!("{oldest}.run.json")).exists());
    assert!(!state.join(format!("{oldest}.status.json")).exists());
    http(
        &agent.api,
        "POST",
        &format!("/recordings/{long}/cancel"),
        "",
        None,
    );
    // Once it has ended two are finished: the older of the two goes, as soon as it ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    while listed(&agent) != vec![newest.clone()] {
        assert!(Instant::now() < deadline, "{:?}", listed(&agent));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One sample's value in an exposition, by its exact name and labels.
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.split_whitespace().next().unwrap().parse().unwrap())
}

/// Runs Python's `prometheus_client` OpenMetrics parser (strict: it raises on any deviation
/// from the format) over an exposition; returns the metric families it read, as
/// `name type unit` lines.
fn openmetrics_families(exposition: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print(family.name, family.type, family.unit or "-")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (cargo xtask setup installs prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the OpenMetrics parser refused the exposition: {}\n{exposition}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Issue #16: while one recording runs, its counters and histograms move between two scrapes,
/// labelled by node, process, syscall and direction, and end at the run's counts; the exposition passes
/// a strict OpenMetrics parser and its names follow Prometheus's conventions.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: scrape twice, end, check the final exposition and its names"
)]
fn metrics_move_every_interval_and_pass_a_strict_openmetrics_parser() {
    assert!(
        is_root(),
        "this test loads probes: run it as root (CI does)"
    );
    let agent = agent(&[]);
    let writer = writer();
    let pid = writer.0.id();
    let id = post_recording(
        &agent,
        &format!(r#"{{"pids": [{pid}], "duration": "1m", "interval": "200ms"}}"#),
    );
    wait_running(&agent, &id);
    let series = r#"{node="test-node",namespace="",pod="",container="",process="sh",syscall="write",direction="write"}"#;
    let calls = format!("tracer_syscalls_total{series}");
    let bytes = format!("tracer_syscall_payload_bytes_total{series}");
    std::thread::sleep(Duration::from_millis(800));
    let (_, _, first) = http(&agent.metrics, "GET", "/metrics", "", None);
    std::thread::sleep(Duration::from_secs(1));
    let (_, _, second) = http(&agent.metrics, "GET", "/metrics", "", None);
    let (calls_1, calls_2) = (sample(&first, &calls), sample(&second, &calls));
    eprintln!("write calls at two scrapes 1 s apart: {calls_1:?} -> {calls_2:?}");
    assert!(calls_1.unwrap_or(0.0) > 0.0, "{first}");
    assert!(calls_2.unwrap() > calls_1.unwrap(), "{second}");
    assert!(sample(&second, &bytes).unwrap() > sample(&first, &bytes).unwrap());
    // Histograms move every interval too: every write is 3 bytes, in the le=16 bucket.
    let small_writes = format!(
        "tracer_syscall_payload_size_bytes_bucket{}",
        series.replace('{', r#"{le="16.0","#)
    );
    assert!(
        sample(&second, &small_writes).unwrap() > sample(&first, &small_writes).unwrap_or(0.0),
        "{second}"
    );
    let fill = format!("tracer_probe_fd_map_fill_ratio{{recording=\"{id}\"}}");
    assert!(
        sample(&second, &fill).is_some_and(|f| f > 0.0 && f < 1.0),
        "{second}"
    );
    assert_eq!(
        sample(&second, r#"tracer_losses_total{kind="calls_lost"}"#),
        Some(0.0)
    );
    assert!(sample(&second, "process_resident_memory_bytes").unwrap() > 1e6);

    http(
        &agent.api,
        "POST",
        &format!("/recordings/{id}/cancel"),
        "",
        None,
    );
    wait_done(&agent, &id);
    let (_, _, run) = http(
        &agent.api,
        "GET",
        &format!("/recordings/{id}/run"),
        "",
        None,
    );
    let run: serde_json::Value = serde_json::from_str(&run).unwrap();
    let (run_calls, _) = writes_of(&run, pid);
    // The size histogram is a map of its own, read just after the counters: a write between
    // the two reads is in one and not yet in the other, in the run file as in the metrics.
    let run_sizes = run["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .and_then(|p| {
            p["syscalls"]
                .as_array()?
                .iter()
                .find(|s| s["syscall"] == "write")
        })
        .map(|write| write["size"]["count"].as_u64().unwrap())
        .unwrap();
    let (_, _, last) = http(&agent.metrics, "GET", "/metrics", "", None);
    let size_series = series.replace('{', r#"{le="16.0","#);
    assert_eq!(
        (
            sample(&last, &calls),
            sample(
                &last,
                &format!("tracer_syscall_payload_size_bytes_bucket{size_series}")
            ),
        ),
        (Some(run_calls as f64), Some(run_sizes as f64)),
        "the counters end at the run's counts, every 3-byte write in le=16\n{last}"
    );
    assert!(
        sample(&last, &fill).is_none(),
        "an ended recording's gauges go"
    );

    let families = openmetrics_families(&last);
    eprintln!("metric families: {families:?}");
    let name_ok = |name: &str| {
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    for family in &families {
        let mut fields = family.split(' ');
        let (name, kind, unit) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        assert!(name_ok(name), "{family}");
        if unit != "-" {
            assert!(
                name.ends_with(&format!("_{unit}")),
                "the unit is the name's suffix: {family}"
            );
        }
        // The parser names counter families without `_total`; their samples carry it.
        if kind == "counter" {
            assert!(last.contains(&format!("\n{name}_total")), "{family}");
        }
    }
    for wanted in [
        "tracer_syscalls counter -",
        "tracer_syscall_payload_bytes counter bytes",
        "tracer_syscall_payload_size_bytes histogram bytes",
        "tracer_syscall_latency_seconds histogram seconds",
        "tracer_losses counter -",
        "process_cpu_seconds counter seconds",
        "process_resident_memory_bytes gauge bytes",
    ] {
        assert!(
            families.iter().any(|f| f == wanted),
            "{wanted} in {families:?}"
        );
    }
}

/// The OpenAPI document the agent serves is the one checked in (`deploy/openapi.json`).
/// `TRACER_BLESS=1` rewrites the checked-in one.
#[test]
fn the_served_openapi_document_is_the_checked_in_one() {
    let checked_in = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/openapi.json");
    let agent = agent(&[]);
    let (code, _, served) = http(&agent.api, "GET", "/openapi.json", "", None);
    assert_eq!(code, 200);
    if std::env::var_os("TRACER_BLESS").is_some() {
        fs::write(checked_in, &served).unwrap();
    }
    let file = fs::read_to_string(checked_in).unwrap_or_default();
    assert!(
        file == served,
        "deploy/openapi.json differs from what the agent serves: run TRACER_BLESS=1 cargo test -p tracer --test agent_api the_served_openapi"
    );
    let document: serde_json::Value = serde_json::from_str(&served).unwrap();
    for path in [
        "/recordings",
        "/recordings/{id}/report",
        "/compare",
        "/recordings/{id}/events",
        "/watches",
    ] {
        assert!(document["paths"][path].is_object(), "{path}");
    }
}

/// The OpenAPI document is valid (openapi-spec-validator, from PyPI).
#[test]
fn the_openapi_document_validates() {
    let checked_in = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/openapi.json");
    let output = Command::new("openapi-spec-validator")
        .arg(checked_in)
        .output()
        .expect("openapi-spec-validator runs (cargo xtask setup installs it)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Issue #16: the API asks for what `tracer record` takes, and renders reports and
/// comparisons in every format; the event stream sends each interval.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: two recordings followed live, then every format of both routes"
)]
fn reports_comparisons_and_live_events_over_the_api() {
    assert!(
        is_root(),
        "this test loads probes: run it as root (CI does)"
    );
    let agent = agent(&[]);
    let writer = writer();
    let pid = writer.0.id();
    let mut ids = Vec::new();
    for label in ["no-mesh", "mesh"] {
        let id = post_recording(
            &agent,
            &format!(
                r#"{{"pids": ["client={pid}"], "duration": "1s", "interval": "200ms", "label": "{label}", "probe": "auto", "cost_sampling": 0, "requests": 40}}"#
            ),
        );
        // The stream ends with the recording: every interval, then its status.
        let (code, head, stream) = http(
            &agent.api,
            "GET",
            &format!("/recordings/{id}/events"),
            "",
            None,
        );
        assert_eq!(code, 200, "{stream}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/event-stream"),
            "{head}"
        );
        let intervals = stream.matches("event: interval").count();
        eprintln!("{label}: {intervals} interval events for 1 s at 200 ms");
        assert!((3..=6).contains(&intervals), "{stream}");
        assert!(stream.contains("event: end"), "{stream}");
        assert!(stream.contains(r#""syscall":"write""#), "{stream}");
        assert_eq!(wait_done(&agent, &id)["state"], "done");
        ids.push(id);
    }
    let (_, _, run) = http(
        &agent.api,
        "GET",
        &format!("/recordings/{}/run", ids[0]),
        "",
        None,
    );
    let run: serde_json::Value = serde_json::from_str(&run).unwrap();
    assert_eq!(
        run["load"]["requests"], 40,
        "\"requests\" is attached like --requests"
    );
    assert_eq!(
        run["targets"][0]["name"], "client",
        "\"NAME=PID\" names it like --pid"
    );

    for (format, content_type) in [
        ("text", "text/plain"),
        ("markdown", "text/markdown"),
        ("json", "application/json"),
        ("html", "text/html"),
    ] {
        let (code, head, body) = http(
            &agent.api,
            "GET",
            &format!("/recordings/{}/report?format={format}", ids[0]),
            "",
            None,
        );
        assert_eq!(code, 200, "{body}");
        assert!(head.contains(content_type), "{head}");
        assert!(body.contains("no-mesh"), "{format}: {body}");
        let request = format!(
            r#"{{"recordings": ["{}", "{}"], "format": "{format}"}}"#,
            ids[0], ids[1]
        );
        let (code, head, body) = http(&agent.api, "POST", "/compare", &request, None);
        assert_eq!(code, 200, "{body}");
        assert!(head.contains(content_type), "{head}");
        assert!(
            body.contains("no-mesh") && body.contains("mesh"),
            "{format}: {body}"
        );
    }
    let (code, _, body) = http(
        &agent.api,
        "GET",
        &format!("/recordings/{}/report?format=pdf", ids[0]),
        "",
        None,
    );
    assert_eq!(
        (code, error_of(&body).contains("?format=markdown")),
        (400, true),
        "{body}"
    );
    let (code, _, body) = http(
        &agent.api,
        "POST",
        "/compare",
        &format!(r#"{{"recordings": ["{}"]}}"#, ids[0]),
        None,
    );
    assert_eq!(
        (code, error_of(&body).contains("compare 2 to 16")),
        (400, true),
        "{body}"
    );
    // "syscalls" narrows what is counted, as `record --syscalls` does: the shell's writes
    // are left out when only reads are asked for; an unknown name is one sentence.
    let narrowed = post_recording(
        &agent,
        &format!(r#"{{"pids": [{pid}], "duration": "1s", "syscalls": ["read"]}}"#),
    );
    assert_eq!(wait_done(&agent, &narrowed)["state"], "done");
    let (_, _, run) = http(
        &agent.api,
        "GET",
        &format!("/recordings/{narrowed}/run"),
        "",
        None,
    );
    let run: serde_json::Value = serde_json::from_str(&run).unwrap();
    assert_eq!(
        run["probe"]["syscalls"],
        serde_json::json!(["read"]),
        "{run}"
    );
    let counted: Vec<&serde_json::Value> = run["processes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["syscalls"].as_array().unwrap())
        .map(|s| &s["syscall"])
        .collect();
    assert!(counted.iter().all(|name| *name == "read"), "{counted:?}");
    let (code, _, body) = http(
        &agent.api,
        "POST",
        "/recordings",
        &format!(r#"{{"pids": [{pid}], "duration": "1s", "syscalls": ["open"]}}"#),
        None,
    );
    assert_eq!(
        (
            code,
            error_of(&body).contains("tracer does not count 'open'")
        ),
        (400, true),
        "{body}"
    );
    let (code, _, body) = http(
        &agent.api,
        "POST",
        "/recordings",
        &format!(r#"{{"pids": [{pid}], "duration": "1s", "probe": "kprobe"}}"#),
        None,
    );
    assert_eq!(
        (code, error_of(&body).contains("unknown variant `kprobe`")),
        (400, true),
        "{body}"
    );
}

/// Issue #16: schemathesis (from PyPI) drives the API from its OpenAPI document for a bounded
/// time: no request may get a 5xx, and responses must match the document.
#[test]
fn schemathesis_finds_no_server_errors() {
    let agent = agent(&["--max-duration", "2s", "--max-recordings", "2"]);
    let started = Instant::now();
    // schemathesis keeps a cache of what it found in its working folder: not in the tree.
    let scratch = tempfile::Builder::new()
        .prefix("tracer-issue-16-schemathesis-")
        .tempdir()
        .unwrap();
    let mut child = Command::new("schemathesis")
        .current_dir(scratch.path())
        .args([
            "run",
            &format!("http://{}/openapi.json", agent.api),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "10",
            "--request-timeout",
            "10",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemathesis runs (cargo xtask setup installs it)");
    // A hang guard, not a speed test: 10 examples per operation take ~20 s alone here.
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_mins(3) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("schemathesis took {:?}:\n{text}", started.elapsed());
    assert!(output.status.success(), "{text}");
}
