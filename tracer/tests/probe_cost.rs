//! Root-only, in its own binary because the kernel's program timing is global: another test
//! holding `BPF_ENABLE_STATS` open would time the probes in intervals this one leaves untimed.
use std::io::Write as _;

use tracer::probe::{ProbeOptions, Probes};

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// By default the kernel times the probes in one interval in ten: here the first of two
/// intervals of about 300 ms, so the cost figures come from about half of the time.
#[test]
fn the_probes_cost_is_sampled_by_default() {
    assert!(
        is_root(),
        "this test loads eBPF probes: run it as root (CI does)"
    );
    let mut probes = Probes::attach(&ProbeOptions::default()).unwrap();
    probes.add_tgid(std::process::id(), 0).unwrap();
    let mut devnull = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let mut write_for = |ms: u64| {
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(ms) {
            assert_eq!(devnull.write(&[7u8; 10]).unwrap(), 10);
        }
    };
    write_for(300);
    probes.start_interval(1);
    let timed = probes.cost_so_far();
    write_for(300);
    let cost = probes.cost();
    assert!(
        cost.measured_share > 0.3 && cost.measured_share < 0.7,
        "{cost:?}"
    );
    assert!(cost.run_count > 0 && cost.run_time_ns > 0, "{cost:?}");
    // Nothing was timed in the second interval.
    assert_eq!(
        (cost.run_count, cost.run_time_ns),
        (timed.run_count, timed.run_time_ns)
    );
}
