//! `tracer compare` and `tracer report` driven as a user would: the built binary on run files,
//! every format, `-o`, and the bad inputs that must end in one sentence and a distinct exit code.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tracer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Exit code and the one line on stderr.
fn failure(output: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one sentence expected: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code().unwrap_or(-1), stderr)
}

const BAD_INPUT: i32 = 7;
const USAGE: i32 = 2;

fn synthetic() -> [String; 2] {
    [
        fixture("synthetic-no-mesh.json"),
        fixture("synthetic-ambient.json"),
    ]
    .map(|p| p.display().to_string())
}

#[test]
fn compare_renders_every_format_and_writes_files_atomically() {
    let [base, other] = synthetic();
    let text = stdout(&tracer(&["compare", &base, &other]));
    // Piped, not a terminal: no colour.
    assert!(!text.contains('\x1b'));
    assert!(
        text.contains("ambient vs no-mesh, client: 33% fewer I/O syscalls per request (3.0 → 2.0)"),
        "{text}"
    );
    let colored = stdout(&tracer(&["compare", &base, &other, "--color", "always"]));
    assert!(colored.contains("\x1b[32m"));

    let markdown = stdout(&tracer(&["compare", &base, &other, "--format", "markdown"]));
    assert!(
        markdown.contains("| fortio run | Average | P50 | P75 | P90 | P99 |"),
        "{markdown}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&tracer(&[
        "compare", &base, &other, "--format", "json",
    ])))
    .unwrap();
    assert_eq!(json["kind"], "tracer-comparison");

    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let out = tracer(&[
        "compare",
        &base,
        &other,
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(stdout(&out).is_empty());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("</html>"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temp file left behind"
    );
    // Without --format, the extension decides.
    let md = dir.path().join("report.md");
    stdout(&tracer(&[
        "compare",
        &base,
        &other,
        "-o",
        md.to_str().unwrap(),
    ]));
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .starts_with("## tracer compare")
    );
}

#[test]
fn report_shows_one_run_and_takes_a_load_result() {
    let [base, _] = synthetic();
    let text = stdout(&tracer(&["report", &base]));
    assert!(text.starts_with("tracer report: no-mesh"), "{text}");
    assert!(text.contains("bytes per read"));
    let fortio = fixture("fortio-http.json").display().to_string();
    let markdown = stdout(&tracer(&[
        "report", &base, "--load", &fortio, "--format", "markdown",
    ]));
    // The Fortio fixture's 2000 requests replace the run's own 1000: 2000 reads / 2000 requests.
    assert!(markdown.contains("| 2,000 (fortio) |"), "{markdown}");
    assert!(
        markdown.contains("| reads per request | 1.00 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| no-mesh | 0.89ms | 0.64ms | 0.74ms | 0.85ms | 2.67ms | 4.10ms |"),
        "{markdown}"
    );
}

#[test]
fn report_json_has_its_own_kind_and_dash_is_standard_output() {
    let [base, _] = synthetic();
    let json: serde_json::Value = serde_json::from_str(&stdout(&tracer(&[
        "report", &base, "-o", "-", "--format", "json",
    ])))
    .unwrap();
    assert_eq!(json["kind"], "tracer-report");
    assert_eq!(json["groups"].as_array().unwrap().len(), 1);
}

/// hyperfine's habit: several reports from one call, each to its file, the text as usual.
#[test]
fn one_call_writes_every_export() {
    let [base, other] = synthetic();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (json, markdown, html) = (path("r.json"), path("r.md"), path("r.html"));
    let text = stdout(&tracer(&[
        "compare",
        &base,
        &other,
        "--export-json",
        &json,
        "--export-markdown",
        &markdown,
        "--export-html",
        &html,
    ]));
    assert!(text.contains("ambient vs no-mesh"), "{text}");
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(value["kind"], "tracer-comparison");
    assert!(
        std::fs::read_to_string(&markdown)
            .unwrap()
            .starts_with("## tracer compare")
    );
    assert!(std::fs::read_to_string(&html).unwrap().contains("</html>"));
    // An export to standard output replaces the text there.
    let only_json = stdout(&tracer(&["compare", &base, &other, "--export-json", "-"]));
    let value: serde_json::Value = serde_json::from_str(&only_json).unwrap();
    assert_eq!(value["kind"], "tracer-comparison");
    let (code, message) = failure(&tracer(&[
        "compare",
        &base,
        &other,
        "-o",
        "-",
        "--export-json",
        "-",
    ]));
    assert_eq!(code, USAGE, "{message}");
    assert!(message.contains("would go to standard output"), "{message}");
}

/// `--fail-if`: a CI gate that passes exits 0, one that fails exits 10 after writing the
/// report and names the gate; a bad metric is a usage error naming the known ones.
#[test]
fn fail_if_gates_exit_10_naming_what_failed() {
    const GATE_FAILED: i32 = 10;
    let [base, other] = synthetic();
    // The client makes 3.0 → 2.0 I/O syscalls per request (−33%); all traced processes
    // 3.0 → 7.0 (+133%).
    let passed = tracer(&[
        "compare",
        &base,
        &other,
        "--fail-if",
        "client:io_calls_per_request>+5%",
        "--fail-if",
        "client:io_calls_per_request<-50%",
    ]);
    assert_eq!(passed.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&passed.stderr);
    assert!(
        stderr.contains("every --fail-if gate passed (2)"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("gate.md");
    let failed = tracer(&[
        "compare",
        &base,
        &other,
        "--fail-if",
        "io_calls_per_request>+5%",
        "--fail-if",
        "client:io_calls_per_request>+5%",
        "-o",
        report.to_str().unwrap(),
    ]);
    assert_eq!(failed.status.code(), Some(GATE_FAILED));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(
        stderr.trim_end(),
        "tracer: gate failed: io_calls_per_request>+5%: ambient: io_calls_per_request changed +133.3% (3 → 7)",
        "only the failed gate is named"
    );
    assert!(report.exists(), "the report is written all the same");

    let (code, message) = failure(&tracer(&[
        "compare",
        &base,
        &other,
        "--fail-if",
        "io_syscalls_per_requests>+5%",
    ]));
    assert_eq!(code, USAGE, "{message}");
    assert!(
        message.contains("unknown metric 'io_calls_per_requests'; known metrics here: io_calls, io_calls_per_s, io_calls_per_request"),
        "{message}"
    );
    // The report's wording works too: "I/O syscalls per request".
    let spelled_out = tracer(&[
        "compare",
        &base,
        &other,
        "--fail-if",
        "io_syscalls_per_request>+5%",
    ]);
    assert_eq!(
        spelled_out.status.code(),
        Some(10),
        "the same gate as io_calls_per_request"
    );
    let bad = tracer(&[
        "compare",
        &base,
        &other,
        "--fail-if",
        "io_calls_per_request",
    ]);
    assert_eq!(bad.status.code(), Some(USAGE));
}

#[test]
fn bad_inputs_get_one_sentence_and_a_distinct_exit_code() {
    let [base, other] = synthetic();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let original = std::fs::read_to_string(&base).unwrap();

    let mut newer: serde_json::Value = serde_json::from_str(&original).unwrap();
    newer["schema"] = 99.into();
    let newer = write("newer.json", &newer.to_string());
    let (code, message) = failure(&tracer(&["compare", &newer, &other]));
    assert_eq!(code, BAD_INPUT);
    assert!(
        message.contains("has schema 99, newer than this tracer's"),
        "{message}"
    );

    let truncated = write("truncated.json", &original[..original.len() / 3]);
    let (code, message) = failure(&tracer(&["compare", &base, &truncated]));
    assert_eq!(code, BAD_INPUT);
    assert!(
        message.contains("is not valid JSON") && message.contains("truncated.json"),
        "{message}"
    );

    let mut foreign: serde_json::Value = serde_json::from_str(&original).unwrap();
    foreign["targets"][0]["name"] = "curl".into();
    foreign["label"] = "curl".into();
    let foreign = write("curl.json", &foreign.to_string());
    let (code, message) = failure(&tracer(&["compare", &foreign, &other]));
    assert_eq!(code, BAD_INPUT);
    assert!(
        message.contains("no common target (curl traced curl; ambient traced client, haproxy)"),
        "{message}"
    );

    let (code, message) = failure(&tracer(&["compare", &base]));
    assert_eq!(code, USAGE);
    assert!(message.contains("at least two run files"), "{message}");

    let (code, message) = failure(&tracer(&["compare", &base, &other, "--load", &base]));
    assert_eq!(code, USAGE);
    assert!(
        message.contains("1 --load files for 2 run files"),
        "{message}"
    );

    // A run file where a load result belongs.
    let (code, message) = failure(&tracer(&["report", &base, "--load", &other]));
    assert_eq!(code, BAD_INPUT);
    assert!(message.contains("is neither a Fortio result"), "{message}");

    let fortio = fixture("fortio-http.json").display().to_string();
    let (code, message) = failure(&tracer(&["report", &fortio]));
    assert_eq!(code, BAD_INPUT);
    assert!(message.contains("is not a tracer run file"), "{message}");

    let (code, message) = failure(&tracer(&[
        "compare",
        &base,
        &other,
        "-o",
        "/nonexistent/dir/out.txt",
    ]));
    assert_eq!(code, 6);
    assert!(
        message.starts_with("tracer: cannot write /nonexistent/dir/out.txt"),
        "{message}"
    );
}

#[test]
fn text_is_coloured_on_a_terminal_unless_no_color_is_set() {
    // util-linux `script` gives the command a pseudo-terminal, as a user's shell would.
    let [base, other] = synthetic();
    let command = format!("{} compare {base} {other}", env!("CARGO_BIN_EXE_tracer"));
    let on_terminal = |no_color: Option<&str>| {
        let mut script = Command::new("script");
        script
            .args(["-qec", &command, "/dev/null"])
            .env_remove("NO_COLOR");
        if let Some(value) = no_color {
            script.env("NO_COLOR", value);
        }
        let output = script.output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let colored = on_terminal(None);
    assert!(
        colored.contains("\x1b[32m") && colored.contains("33% fewer"),
        "{colored}"
    );
    let plain = on_terminal(Some("1"));
    assert!(
        !plain.contains('\x1b') && plain.contains("33% fewer"),
        "{plain}"
    );
}

#[test]
fn focus_picks_the_headline_and_an_unknown_name_is_bad_usage() {
    let real = |name: &str| fixture("real").join(name).display().to_string();
    let (direct, proxy) = (real("oha-direct.run.json"), real("oha-proxy.run.json"));
    let loads = [
        "--load",
        &real("oha-direct.json"),
        "--load",
        &real("oha-proxy.json"),
    ];
    let headline = |extra: &[&str]| -> String {
        let mut args = vec!["compare", &direct, &proxy, "--format", "json"];
        args.extend(loads);
        args.extend(extra);
        let json: serde_json::Value = serde_json::from_str(&stdout(&tracer(&args))).unwrap();
        json["verdict"][0].as_str().unwrap().to_owned()
    };
    // Without --focus: the traced command (the load generator), not the busier server.
    assert!(
        headline(&[]).starts_with("nginx vs direct, client oha: "),
        "{}",
        headline(&[])
    );
    for focus in ["server", "pid:17602", "python3"] {
        let line = headline(&["--focus", focus]);
        assert!(
            line.starts_with("nginx vs direct, server python3 (target server): "),
            "{focus}: {line}"
        );
    }
    let mut args = vec!["compare", &direct, &proxy, "--focus", "envoy"];
    args.extend(loads);
    let (code, message) = failure(&tracer(&args));
    assert_eq!(code, USAGE);
    assert!(
        message
            .starts_with("tracer: --focus envoy: no traced process, target or pod has that name"),
        "{message}"
    );
}
