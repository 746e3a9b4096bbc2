//! The demo reproduces the blog's write coalescing: the client needs ~2 reads per response of
//! ~180 B without the mesh and ~1 read of ~358 B through the node proxies, and the proxies'
//! CPU shows up as mesh cost. Needs root; CI runs as root.
//!
//! Reads are taken from the eBPF run files: a demo that could not record fails the test (it
//! would otherwise fall back to the load generator's own count and prove nothing about tracer).
use std::process::Command;

use tracer_demo::summary;

const TRACER_DEMO: &str = env!("CARGO_BIN_EXE_tracer-demo");

#[test]
fn mesh_halves_the_clients_reads_and_doubles_its_bytes_per_read() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the demo needs root: run the tests as root (CI does)"
    );
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(TRACER_DEMO)
        .args(["--duration", "3s", "-o"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // (reads per response, bytes per read) for no-mesh then mesh.
    let mut measured = Vec::new();
    for stem in ["no-mesh-1", "mesh-1"] {
        let path = out.path().join(format!("{stem}.run.json"));
        assert!(
            path.is_file(),
            "the demo wrote no {stem}.run.json: it could not record with eBPF, which this test \
             needs (its output says why)\n{stdout}\n{stderr}"
        );
        let run = tracer::run::Run::read(&path).unwrap();
        let load = run.load.clone().expect("the demo attaches the load result");
        assert!(load.requests >= 250, "{stem}: {} requests", load.requests);
        let client = summary::figures(&run, "client", load.requests).expect("client recorded");
        measured.push((client.reads_per_request, client.bytes_per_read.unwrap()));
        if stem == "mesh-1" {
            for proxy in ["proxy-a", "proxy-b"] {
                let figures = summary::figures(&run, proxy, load.requests)
                    .unwrap_or_else(|| panic!("{proxy} recorded as mesh cost"));
                assert!(
                    figures.cpu_us_per_request.is_some_and(|us| us > 0.0),
                    "{proxy} CPU: {figures:?}"
                );
                assert!(
                    figures.syscalls_per_request >= 2.0,
                    "{proxy} moves every request and response"
                );
            }
        } else {
            assert!(
                summary::figures(&run, "proxy-a", load.requests).is_none(),
                "no proxies without mesh"
            );
        }
    }
    assert_eq!(measured.len(), 2, "{stdout}");
    let (no_mesh, mesh) = (measured[0], measured[1]);
    assert!(
        no_mesh.0 > 1.8,
        "no mesh: {:.2} reads per response, expected ~2\n{stdout}",
        no_mesh.0
    );
    assert!(
        (170.0..=200.0).contains(&no_mesh.1),
        "no mesh: {:.1} B/read, expected ~180",
        no_mesh.1
    );
    assert!(
        mesh.0 < 1.2,
        "mesh: {:.2} reads per response, expected ~1\n{stdout}",
        mesh.0
    );
    assert!(mesh.1 > 320.0, "mesh: {:.1} B/read, expected ~358", mesh.1);
}
