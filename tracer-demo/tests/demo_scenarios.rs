//! `tracer-demo --scenario all`, short: the blog's three experiments in the three modes, and
//! what must hold in the run files whatever the timing. Needs root; CI runs as root.
//!
//! - the service writes every response as two writes (headers, body), in every mode;
//! - the client reads each response with one or two socket reads (never fewer, since the
//!   response is in its buffer once; never more, since nothing on the path writes it in more
//!   than two pieces);
//! - the proxies of the sidecar and ambient modes are recorded as mesh cost (their I/O
//!   syscalls and CPU per request), and no mode records proxies it does not have;
//! - the tunnel's mutual TLS handshake is visible on the tunnel connections: each ambient proxy
//!   read at least the other's certificate chain on top of the one request and response;
//! - with strace attached to the client, tracer and strace count the same recvfrom calls.
use std::{path::Path, process::Command};

use tracer::run::{Direction, Run};
use tracer_demo::{
    mesh_tls,
    orchestrate::{self, Mode, Scenario},
    summary::{self, figures, processes_named, socket_reads},
};

const TRACER_DEMO: &str = env!("CARGO_BIN_EXE_tracer-demo");

fn read_run(out: &Path, stem: &str) -> Run {
    let path = out.join(format!("{stem}.run.json"));
    assert!(
        path.is_file(),
        "the demo wrote no {stem}.run.json: it could not record with eBPF, which this test needs"
    );
    Run::read(&path).unwrap()
}

#[test]
fn every_scenario_in_every_mode_keeps_what_holds_whatever_the_timing() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the demo needs root: run the tests as root (CI does)"
    );
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(TRACER_DEMO)
        .args([
            "--scenario",
            "all",
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
    assert!(output.status.success(), "{stdout}\n{stderr}");

    for scenario in Scenario::All.expand() {
        for mode in Mode::ALL {
            check_mode(out.path(), scenario, mode);
        }
        check_tunnel(out.path(), scenario);
    }

    // The observer effect: strace and tracer saw the same client calls.
    for mode in [Mode::NoMesh, Mode::Ambient] {
        let stem = orchestrate::stem(Scenario::Keepalive, mode, true, 1);
        let run = read_run(out.path(), &stem);
        let tracer_recvfrom: u64 = processes_named(&run, "client")
            .filter_map(|p| p.syscall("recvfrom").map(|s| s.calls))
            .sum();
        let strace_output =
            std::fs::read_to_string(out.path().join(format!("{stem}.strace.txt"))).unwrap();
        assert_eq!(
            summary::count_calls(&strace_output, "recvfrom"),
            tracer_recvfrom,
            "{stem}: strace and tracer count the client's recvfrom calls alike"
        );
    }

    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    for heading in [
        "## keepalive",
        "## connection-close",
        "## nagle",
        "## The observer effect",
        "## The tunnel's mutual TLS handshake",
        "# nagle: `tracer compare --group`",
    ] {
        assert!(
            report.contains(heading),
            "report.md lacks {heading}:\n{report}"
        );
    }
}

/// What must hold in one mode's run file.
fn check_mode(out: &Path, scenario: Scenario, mode: Mode) {
    let stem = orchestrate::stem(scenario, mode, false, 1);
    let run = read_run(out, &stem);
    let load = run.load.clone().expect("the demo attaches the load result");
    assert!(load.requests >= 100 && load.errors == 0, "{stem}: {load:?}");
    let requests = load.requests;

    let service_writes: u64 = processes_named(&run, "details")
        .map(|p| p.totals(Direction::Write).calls)
        .sum();
    assert_eq!(
        service_writes,
        2 * requests,
        "{stem}: two writes per response"
    );

    let client_reads: u64 = processes_named(&run, "client")
        .map(|p| socket_reads(p).calls)
        .sum();
    assert!(
        (requests..=2 * requests).contains(&client_reads),
        "{stem}: {client_reads} socket reads for {requests} responses"
    );

    for proxy in ["sidecar-a", "sidecar-b", "ztunnel-a", "ztunnel-b"] {
        let recorded = figures(&run, proxy, requests);
        if !mode.proxies().contains(&proxy) {
            assert!(recorded.is_none(), "{stem}: {proxy} is not in this mode");
            continue;
        }
        let recorded = recorded.unwrap_or_else(|| panic!("{stem}: {proxy} recorded"));
        assert!(
            recorded.syscalls_per_request >= 2.0,
            "{stem}: {proxy} reads and writes every request and response: {recorded:?}"
        );
        assert!(
            recorded.cpu_us_per_request.is_some_and(|us| us > 0.0),
            "{stem}: {proxy} CPU as mesh cost: {recorded:?}"
        );
    }
}

/// The tunnel opened by one request: each side read the other's certificate chain.
fn check_tunnel(out: &Path, scenario: Scenario) {
    let tunnel = Run::read(&orchestrate::tunnel_file(out, scenario)).unwrap();
    let certs = orchestrate::certs_dir(out);
    for (proxy, peer_node, payload) in [("ztunnel-a", "node-b", 358), ("ztunnel-b", "node-a", 118)]
    {
        let peer_chain = mesh_tls::chain_bytes(&certs, peer_node).unwrap() as u64;
        let (read, written) = summary::tunnel_bytes(&tunnel, proxy, orchestrate::TUNNEL_PORT);
        assert!(
            read >= peer_chain + payload && written > 0,
            "{scenario:?}: {proxy} read {read} B on the tunnel; {peer_node}'s chain alone is \
             {peer_chain} B"
        );
    }
}
