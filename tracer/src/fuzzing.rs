//! Entry points of the fuzz targets in fuzz/ and of their regression tests
//! (tests/hardening_fuzz_regressions.rs): the parsers of text tracer reads from outside — run
//! files, tracefs format files, /proc/net tables, kubelet and cgroup folder names, flag values.
//! Hidden from the docs; not an API.
//!
//! Each takes raw bytes and panics only where a parser broke a promise (the property the fuzz
//! target checks), never because the input was bad.
use std::path::Path;

use crate::run::Run;

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as in fuzz/Cargo.toml.
pub const TARGETS: [(&str, Target); 6] = [
    ("run_file", run_file),
    ("run_report", run_report),
    ("load_result", load_result),
    ("tracefs_format", tracefs_format),
    ("proc_net", proc_net),
    ("target_names", target_names),
];

/// A run file: refused with an error or read; what is read writes back out and reads again.
pub fn run_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.json");
    if let Ok(run) = Run::from_json(text, path) {
        let written = serde_json::to_string(&run).expect("an accepted run serializes");
        if let Err(error) = Run::from_json(&written, path) {
            panic!("a run that was read does not read back once written: {error}");
        }
    }
}

/// A run file that reads is shown (summary, report in every text format) and compared with a
/// relabelled copy of itself: a run file is user input to report and compare, which must
/// not panic on any run that reads.
pub fn run_report(data: &[u8]) {
    use crate::{
        compare::analyze::{Input, Options, compare, summarize},
        report::{Format, render, summary_text},
    };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(run) = Run::from_json(text, Path::new("fuzz.json")) else {
        return;
    };
    let _ = summary_text(&run, false);
    let base = Input {
        file: "base.json".into(),
        run: run.clone(),
    };
    let mut other = base.clone();
    other.file = "other.json".into();
    other.run.label = Some(format!("{}-other", run.label.as_deref().unwrap_or("run")));
    let options = Options::default();
    let formats = [Format::Text, Format::Markdown, Format::Json];
    let single = summarize(&base, &options);
    for format in formats {
        let _ = render(&single, format, false);
    }
    if let Ok(comparison) = compare(&[base, other], &options) {
        for format in formats {
            let _ = render(&comparison, format, false);
        }
    }
}

/// A load-generator result (Fortio or oha JSON): refused with an error or read.
pub fn load_result(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::load::parse(text, Path::new("fuzz.json"));
    }
}

/// A tracepoint format file: the first line is the field looked up, the rest the file.
pub fn tracefs_format(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (field, format) = text.split_once('\n').unwrap_or((text, ""));
    let _ = crate::probe::tracefs::parse_field_offset(format, field);
}

/// A /proc/net/{tcp,tcp6,udp,udp6} table, and each of its fields as an `ADDR:PORT`.
pub fn proc_net(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::collect::fds::parse_inet_table(text);
    for field in text.split_whitespace() {
        let _ = crate::collect::fds::parse_hex_addr(field);
    }
}

/// Every kubelet/cgroup folder-name parser and the target flag parsers on one string.
pub fn target_names(data: &[u8]) {
    use crate::targeting::names;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let names::CgroupName::Container { id, .. } = names::parse_cgroup_name(text) {
        assert!(names::is_container_id(&id), "container id {id:?}");
    }
    let _ = names::qos_from_parent(text);
    if let Some(pod) = names::parse_pod_log_dir(text) {
        assert!(names::is_uid(&pod.uid), "a pod folder's uid is a uid");
    }
    if let Ok((namespace, name)) = names::parse_pod_spec(text) {
        assert_eq!(format!("{namespace}/{name}"), text);
    }
    if let Ok(id) = names::parse_container_spec(text) {
        assert!(id.len() >= names::MIN_CONTAINER_PREFIX && id.len() <= 64);
    }
    let _ = crate::targeting::parse_cpu_stat_usage_ns(text);
    if let Ok(duration) = crate::collect::parse_duration(text) {
        assert!(!duration.is_zero());
    }
}
