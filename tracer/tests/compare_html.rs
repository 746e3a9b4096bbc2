//! The HTML comparison opened in a real browser (headless Chromium from Debian, installed by
//! `cargo xtask setup`): it parses into the tables and inline SVG charts, offline, and logs no
//! console errors.
use std::{
    path::Path,
    process::{Command, Stdio},
};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn chromium_renders_the_charts_without_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("comparison.html");
    let status = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args([
            "compare",
            &fixture("oha-direct.run.json"),
            &fixture("oha-proxy.run.json"),
        ])
        .args([
            "--load",
            &fixture("oha-direct.json"),
            "--load",
            &fixture("oha-proxy.json"),
        ])
        .args(["--format", "html", "-o"])
        .arg(&page)
        .status()
        .unwrap();
    assert!(status.success());

    let profile = dir.path().join("profile");
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("chromium is needed for this test (cargo xtask setup installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dom = String::from_utf8_lossy(&output.stdout);
    // Request CDF, syscalls/s, CPU; per process (oha, server, nginx, total) two size charts
    // and a latency CDF.
    assert_eq!(dom.matches("<svg").count(), 3 + 4 * 3, "{dom}");
    assert!(dom.contains("<rect") && dom.contains("<polyline"));
    assert!(dom.contains("oha: read payload sizes"));
    assert!(dom.contains("<td>178 B</td>") && dom.contains("<td>332–333 B</td>"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
}
