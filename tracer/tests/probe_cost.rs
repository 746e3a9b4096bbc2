//! Root-only, in its own binary because the kernel's program timing is global: another test
//! holding `BPF_ENABLE_STATS` open would time the probes in intervals this one leaves untimed.
use std::{
    io::Write as _,
    time::{Duration, Instant},
};

use tracer::probe::{CostSampling, ProbeOptions, Probes, ProgramCost};

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// By default the kernel's statistics are never switched on (each switch patches kernel code),
/// so nothing is timed. Asked for 10%, the kernel times the probes in the first 100 ms of every
/// second: over 1.3 s that is two windows (0–100 ms and 1000–1100 ms), and nothing is timed
/// between them. One test: the two parts must not overlap.
#[test]
fn the_probes_cost_is_not_timed_by_default_and_sampled_when_asked() {
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
    for _ in 0..10_000 {
        assert_eq!(devnull.write(&[7u8; 10]).unwrap(), 10);
    }
    assert_eq!(probes.cost_so_far().run_count, 0, "timed by default");
    assert_eq!(probes.cost(), ProgramCost::default());
    drop(probes);

    let options = ProbeOptions {
        cost_sampling: CostSampling::percent(10).unwrap(),
        ..ProbeOptions::default()
    };
    let mut probes = Probes::attach(&options).unwrap();
    probes.add_tgid(std::process::id(), 0).unwrap();
    let started = Instant::now();
    let mut write_until = |ms: u64| {
        while started.elapsed() < Duration::from_millis(ms) {
            assert_eq!(devnull.write(&[7u8; 10]).unwrap(), 10);
        }
    };
    write_until(300);
    let after_first_window = probes.cost_so_far();
    write_until(900);
    let before_second_window = probes.cost_so_far();
    write_until(1300);
    let cost = probes.cost();
    assert!(after_first_window.run_count > 0, "{after_first_window:?}");
    assert_eq!(
        (after_first_window.run_count, after_first_window.run_time_ns),
        (
            before_second_window.run_count,
            before_second_window.run_time_ns
        ),
        "the programs were timed outside the windows"
    );
    assert!(
        cost.run_count > before_second_window.run_count,
        "the second window timed nothing: {cost:?}"
    );
    assert!(
        cost.measured_share > 0.1 && cost.measured_share < 0.25,
        "{cost:?}"
    );
}
