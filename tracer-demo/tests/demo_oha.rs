//! `tracer-demo --client oha`: a real load generator, started through the gate so the recorder
//! sees its first syscall, in all three modes; it reads every response's 358 B with one or two
//! recvfrom calls whatever the timing. Without oha on PATH the demo must refuse with one
//! sentence. Needs root; CI runs as root.
use std::process::Command;

const TRACER_DEMO: &str = env!("CARGO_BIN_EXE_tracer-demo");

#[test]
fn oha_as_the_client_reads_each_response_in_one_or_two_recvfrom_in_every_mode() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the demo needs root: run the tests as root (CI does)"
    );
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(TRACER_DEMO)
        .args([
            "--client",
            "oha",
            "--scenario",
            "keepalive",
            "--no-strace",
            "--qps",
            "100",
            "--duration",
            "2s",
            "-o",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if which::which("oha").is_err() {
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("cargo install oha --locked"), "{stderr}");
        return;
    }
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for stem in [
        "keepalive-no-mesh-1",
        "keepalive-sidecar-1",
        "keepalive-ambient-1",
    ] {
        let run = tracer::run::Run::read(&out.path().join(format!("{stem}.run.json"))).unwrap();
        let load = run.load.clone().expect("the demo attaches oha's result");
        assert_eq!(load.tool, "oha");
        assert!(load.requests >= 150 && load.errors == 0, "{stem}: {load:?}");
        let client = tracer_demo::summary::processes_named(&run, "client")
            .next()
            .unwrap_or_else(|| panic!("{stem}: client not recorded"));
        let recvfrom = client
            .syscall("recvfrom")
            .expect("oha reads its sockets with recvfrom");
        if stem.contains("sidecar") {
            // HAProxy re-encodes the response headers (it drops the keep-alive ones), so the
            // client reads fewer bytes per response, the same number every time.
            assert_eq!(recvfrom.bytes % load.requests, 0, "{stem}: {recvfrom:?}");
            assert!(
                (300..358).contains(&(recvfrom.bytes / load.requests)),
                "{stem}"
            );
        } else {
            assert_eq!(
                recvfrom.bytes,
                358 * load.requests,
                "{stem}: every response read, nothing else"
            );
        }
        assert!(
            (load.requests..=2 * load.requests).contains(&recvfrom.calls),
            "{stem}: {} recvfrom for {} responses",
            recvfrom.calls,
            load.requests
        );
    }
}
