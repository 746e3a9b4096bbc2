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
    _host: tempfile::TempDir,
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

/// Starts an agent on free loopback ports over an empty fake host, with `extra` flags.
fn agent(extra: &[&str]) -> Agent {
    let host = tempfile::tempdir().unwrap();
    fs::create_dir_all(host.path().join("var/log/pods")).unwrap();
    fs::write(host.path().join("cgroup.controllers"), "").unwrap();
    // Host PIDs are looked up under <host-root>/proc.
    std::os::unix::fs::symlink("/proc", host.path().join("proc")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args([
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--host-root",
        ])
        .arg(host.path())
        .arg("--cgroup-root")
        .arg(host.path())
        .args(extra)
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
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    Agent {
        child,
        api,
        metrics,
        _host: host,
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
            "--pod wants NAMESPACE/NAME",
        ),
        (
            r#"{"containers": ["abc"], "duration": "30s"}"#,
            400,
            "--container wants a container ID",
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
    Killed(child)
}

#[test]
fn records_a_process_cancels_and_bounds_concurrency() {
    if !is_root() {
        eprintln!("skipped: needs root to load the probes");
        return;
    }
    let agent = agent(&["--max-recordings", "1"]);
    let writer = writer();
    let pid = writer.0.id();

    let body =
        format!(r#"{{"pids": [{pid}], "duration": "2s", "interval": "500ms", "label": "writer"}}"#);
    let (code, head, response) = http(&agent.api, "POST", "/recordings", &body, None);
    assert_eq!(code, 202, "{response}");
    assert!(
        head.to_ascii_lowercase()
            .contains("location: /recordings/rec-1"),
        "{head}"
    );
    // One at a time: the second is refused while the first runs.
    let (code, _, busy) = http(&agent.api, "POST", "/recordings", &body, None);
    assert_eq!(
        (code, error_of(&busy).contains("--max-recordings")),
        (429, true),
        "{busy}"
    );
    let (code, _, early) = http(&agent.api, "GET", "/recordings/rec-1/run", "", None);
    assert_eq!(
        (
            code,
            error_of(&early).contains("fetch its run when its state is done")
        ),
        (409, true),
        "{early}"
    );

    let status = wait_done(&agent, "rec-1");
    assert_eq!(
        (status["state"].as_str(), status["end_reason"].as_str()),
        (Some("done"), Some("duration")),
        "{status}"
    );
    let (code, _, run) = http(&agent.api, "GET", "/recordings/rec-1/run", "", None);
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
    assert_eq!(http(&agent.api, "POST", "/recordings", &body, None).0, 202);
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, response) = http(&agent.api, "POST", "/recordings/rec-2/cancel", "", None);
    assert_eq!(code, 202, "{response}");
    let status = wait_done(&agent, "rec-2");
    assert_eq!(status["end_reason"], "cancelled", "{status}");
    assert!(status["elapsed_ns"].as_u64().unwrap() < 60_000_000_000);
    let (code, _, again) = http(&agent.api, "POST", "/recordings/rec-2/cancel", "", None);
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
