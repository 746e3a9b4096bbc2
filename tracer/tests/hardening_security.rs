//! Root-only: what a run file must never hold. The probes count sizes, never payload bytes;
//! the environment is never stored; the command line only with `--with-cmdline`.
use std::process::{Command, Stdio};

use tracer::run::Run;

const TRACER: &str = env!("CARGO_BIN_EXE_tracer");

/// Sends the payload `argv[2]-argv[3]` (joined only at run time, so it never appears on the
/// command line) through a unix socket, a TCP connection on loopback and a pipe.
const SENDER: &str = r"
import os, socket, sys
payload = (sys.argv[2] + '-' + sys.argv[3]).encode()
a, b = socket.socketpair()
a.sendall(payload); assert b.recv(4096) == payload
listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen()
client = socket.create_connection(listener.getsockname()); server, _ = listener.accept()
client.sendall(payload); assert server.recv(4096) == payload
r, w = os.pipe(); os.write(w, payload); assert os.read(r, 4096) == payload
";

fn record(dir: &std::path::Path, nonce: &str, with_cmdline: bool) -> (String, Run) {
    // SAFETY: no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "run as root (CI does)");
    let out = dir.join(format!("secret-{with_cmdline}.json"));
    let mut command = Command::new(TRACER);
    command.args(["record", "--quiet", "-o", out.to_str().unwrap()]);
    if with_cmdline {
        command.arg("--with-cmdline");
    }
    let status = command
        .args(["--", "python3", "-c", SENDER])
        .args([format!("ARGSECRET{nonce}"), "PAYLOAD".into(), nonce.into()])
        .env("TRACER_TEST_SECRET", format!("ENVSECRET{nonce}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let run = Run::from_json(&text, &out).unwrap();
    (text, run)
}

#[test]
fn run_files_hold_no_payload_no_environment_and_no_arguments_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let nonce = format!("{:x}{}", std::process::id(), dir.path().display().to_string().len());
    let payload = format!("PAYLOAD-{nonce}");

    let (text, run) = record(dir.path(), &nonce, false);
    let python = run
        .processes
        .iter()
        .find(|p| p.syscall("sendto").is_some() || p.syscall("write").is_some())
        .expect("the sender's I/O was recorded");
    assert!(python.syscalls.iter().any(|s| s.bytes > 0));
    assert!(!text.contains(&payload), "payload bytes in the run file");
    assert!(!text.contains(&format!("ENVSECRET{nonce}")), "environment in the run file");
    assert!(!text.contains(&format!("ARGSECRET{nonce}")), "arguments in the run file");
    assert_eq!(run.targets[0].spec, "command:python3");

    let (text, run) = record(dir.path(), &nonce, true);
    assert!(
        run.targets[0].spec.starts_with("command:python3 -c ")
            && run.targets[0].spec.contains(&format!("ARGSECRET{nonce}")),
        "--with-cmdline stores the command line: {}",
        run.targets[0].spec
    );
    assert!(!text.contains(&payload), "payload bytes in the run file");
    assert!(!text.contains(&format!("ENVSECRET{nonce}")), "environment in the run file");
}
