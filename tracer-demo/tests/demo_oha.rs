//! `tracer-demo --client oha`: a real load generator, started through the gate so the recorder
//! sees its first syscall, shows the same coalescing (oha reads sockets with recvfrom).
//! Without oha on PATH the demo must refuse with one sentence. Needs root; CI runs as root.
use std::process::Command;

const TRACER_DEMO: &str = env!("CARGO_BIN_EXE_tracer-demo");

#[test]
fn oha_as_the_client_sees_two_recvfrom_per_response_without_mesh_and_one_with() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the demo needs root: run the tests as root (CI does)"
    );
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(TRACER_DEMO)
        .args(["--client", "oha", "--duration", "2s", "-o"])
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
    let mut recvfrom_per_request = Vec::new();
    for stem in ["no-mesh-1", "mesh-1"] {
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
        assert_eq!(
            recvfrom.bytes,
            358 * load.requests,
            "{stem}: every response read, nothing else"
        );
        recvfrom_per_request.push(recvfrom.calls as f64 / load.requests as f64);
    }
    assert!(
        recvfrom_per_request[0] > 1.8,
        "no mesh: {recvfrom_per_request:?}"
    );
    assert!(
        recvfrom_per_request[1] < 1.2,
        "mesh: {recvfrom_per_request:?}"
    );
}
