//! Issue #18, items 4 and 6: reports of what a traced process or a user named (a process sets
//! its own `comm`; a label comes from an API client) render as text, never as HTML, Markdown
//! structure or terminal commands; and reports of crafted run files stay fast and bounded.
mod support;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use support::{TRACER, require_root};
use tracer::{
    hist::{Bucket, Histogram},
    run::{PRIVATE_MODE, Run},
};

/// Sets its own name to `<svg/onload=1>`, then writes to /dev/null for a few intervals.
const RENAMED_WRITER: &str = r"
import os, time
with open('/proc/self/comm', 'w') as comm:
    comm.write('<svg/onload=1>')
with open('/dev/null', 'w') as sink:
    for _ in range(10):
        sink.write('x'); sink.flush(); time.sleep(0.05)
";

const LABEL: &str = "</td><script>alert(1)</script>|\n# injected heading \x1b]0;owned\x07\x1b[2J";
const ESCAPE_NAME: &str = "\x1b[31mred\x1b]8;;http://x\x07";

fn report(path: &Path, format: &str, color: &str) -> String {
    let output = Command::new(TRACER)
        .args(["report", "--format", format, "--color", color])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "report --format {format}");
    String::from_utf8(output.stdout).unwrap()
}

/// Bytes a terminal would act on: control characters other than the newline.
fn control_bytes(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect()
}

/// The colour codes the text report itself writes (`ESC [ digits m`), removed.
fn without_own_colours(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
        if digits > 0 && after[digits..].starts_with('m') {
            rest = &after[digits + 1..];
        } else {
            out.push('\x1b');
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

fn headings_and_html(markdown: &str) -> (Vec<String>, Vec<String>, String) {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES);
    let events: Vec<Event> = parser.collect();
    let mut headings = Vec::new();
    let mut raw = Vec::new();
    let mut in_heading = None::<String>;
    for event in &events {
        match event {
            Event::Start(Tag::Heading { .. }) => in_heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => headings.extend(in_heading.take()),
            Event::Text(text) | Event::Code(text) => {
                if let Some(heading) = &mut in_heading {
                    heading.push_str(text);
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => raw.push(html.to_string()),
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                raw.push(format!("link to {dest_url}"));
            }
            _ => {}
        }
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    (headings, raw, html)
}

#[test]
fn names_from_the_traced_system_and_labels_render_inert_in_markdown_and_text() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("renamed.json");
    let status = Command::new(TRACER)
        .args(["record", "--quiet", "--interval", "100ms", "-o"])
        .arg(&out)
        .args(["--", "python3", "-c", RENAMED_WRITER])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut run = Run::read(&out).unwrap();
    assert!(
        run.processes.iter().any(|p| p.name == "<svg/onload=1>"),
        "the process renamed itself: {:?}",
        run.processes.iter().map(|p| &p.name).collect::<Vec<_>>()
    );
    // A second process, to be named with terminal escapes; first a benign Markdown to compare
    // the heading structure with.
    let mut twin = run.processes[0].clone();
    twin.pid += 1_000_000;
    twin.name = "twin".to_owned();
    run.processes.push(twin);
    run.label = Some("plain".to_owned());
    run.write(&out, PRIVATE_MODE).unwrap();
    let (plain_headings, _, _) = headings_and_html(&report(&out, "markdown", "never"));

    // A label from an API client, and the name a process gave itself.
    run.label = Some(LABEL.to_owned());
    run.processes.last_mut().unwrap().name = ESCAPE_NAME.to_owned();
    run.write(&out, PRIVATE_MODE).unwrap();

    let markdown = report(&out, "markdown", "never");
    let (headings, raw, html) = headings_and_html(&markdown);
    assert_eq!(
        raw,
        Vec::<String>::new(),
        "raw HTML or links in:\n{markdown}"
    );
    assert_eq!(
        headings.len(),
        plain_headings.len(),
        "a name started or removed a heading: {headings:#?}"
    );
    assert!(
        headings.iter().all(|h| !h.starts_with("injected")),
        "{headings:#?}"
    );
    for active in ["<svg", "<script", "</td><script", "onload=1>"] {
        assert!(!html.contains(active), "{active} in the HTML:\n{html}");
    }
    assert!(html.contains("&lt;svg/onload=1&gt;"), "{html}");
    assert_eq!(control_bytes(&markdown), Vec::<char>::new(), "{markdown}");

    for color in ["never", "always"] {
        let text = report(&out, "text", color);
        assert!(text.contains("<svg/onload=1>"), "{text}");
        assert!(text.contains("\\x1b[31mred"), "shown escaped: {text}");
        assert_eq!(
            control_bytes(&without_own_colours(&text)),
            Vec::<char>::new(),
            "--color {color}:\n{text}"
        );
    }
}

/// Issue #18, item 6: a crafted run file with one 200,000-bucket histogram took 15 s to
/// report (a scan of every bucket for every row).
#[test]
fn a_histogram_of_200000_buckets_reports_in_under_a_second() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/client-direct-1.run.json");
    let mut run = Run::read(&fixture).unwrap();
    let buckets: Vec<Bucket> = (0..200_000u64)
        .map(|i| Bucket {
            low: 1000 + i * 7,
            width: 1,
            count: 1 + i % 3,
        })
        .collect();
    let count = buckets.iter().map(|b| b.count).sum();
    let syscall = &mut run.processes[0].syscalls[0];
    syscall.size = Histogram {
        count,
        buckets,
        ..Histogram::default()
    };
    syscall.calls = count;
    let dir = tempfile::tempdir().unwrap();
    let crafted = dir.path().join("crafted.json");
    std::fs::write(&crafted, serde_json::to_vec(&run).unwrap()).unwrap();

    for format in ["text", "markdown", "html"] {
        let started = Instant::now();
        #[expect(
            clippy::zombie_processes,
            reason = "waited for with wait4, which also gives its CPU time"
        )]
        let child = Command::new(TRACER)
            .args(["report", "--format", format])
            .arg(&crafted)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (status, cpu) = wait_with_cpu_time(child.id());
        let took = started.elapsed();
        assert_eq!(status, 0, "{format}");
        eprintln!("report --format {format} of 200,000 buckets: {cpu:?} of CPU, {took:?} in all");
        // CPU time, not wall time: the machine may be busy with other tests and builds.
        assert!(cpu < Duration::from_secs(1), "{format} took {cpu:?} of CPU");
    }
}

/// Waits for a child and returns its exit status and the CPU time (user + system) it used.
fn wait_with_cpu_time(pid: u32) -> (i32, Duration) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, writing into the two locals passed by pointer.
    let waited = unsafe { libc::wait4(pid.cast_signed(), &raw mut status, 0, &raw mut usage) };
    assert_eq!(waited, pid.cast_signed());
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.unsigned_abs())
            + Duration::from_micros(t.tv_usec.unsigned_abs())
    };
    (
        libc::WEXITSTATUS(status),
        time(usage.ru_utime) + time(usage.ru_stime),
    )
}

/// Issue #18, item 6: a 220 MB run file took 2 GB to read; past the limit it is refused
/// with one sentence before it is decoded. A byte order mark is no damage.
#[test]
fn oversized_run_files_are_refused_and_a_byte_order_mark_is_accepted() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.json");
    let mut file = std::fs::File::create(&huge).unwrap();
    file.write_all(b"{\"kind\": \"tracer-run\", \"pad\": \"")
        .unwrap();
    let block = vec![b'a'; 1 << 20];
    for _ in 0..65 {
        file.write_all(&block).unwrap();
    }
    file.write_all(b"\"}").unwrap();
    drop(file);
    let started = Instant::now();
    let output = Command::new(TRACER)
        .arg("report")
        .arg(&huge)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("is larger than 64 MiB"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real/client-direct-1.run.json");
    let bom = dir.path().join("bom.json");
    let mut text = b"\xef\xbb\xbf".to_vec();
    text.extend(std::fs::read(&fixture).unwrap());
    std::fs::write(&bom, text).unwrap();
    let output = Command::new(TRACER)
        .arg("report")
        .arg(&bom)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
