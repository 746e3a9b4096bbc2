//! The HTML comparison opened in a real browser (headless Chromium from Debian, installed by
//! `cargo xtask setup`), offline.
//!
//! The demo's comparison (its run files in `tests/fixtures/demo`) is laid out at a desktop
//! (1400 px) and a phone (390 px) width. A copy of the page gets a measuring script (the page
//! itself has none) that reads the laid-out DOM: no element reaches past the viewport, every
//! chart axis has distinct tick labels, every chart comes after the heading it names, the
//! header carries the context of each run. Full-page screenshots at both widths are saved in
//! `target/tmp/compare_html/` for people to look at.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

fn fixture(folder: &str, name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(folder)
        .join(name)
        .display()
        .to_string()
}

/// Flags that keep headless Chromium from reaching for the (closed) network or stalling.
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Runs Chromium on `page` with a fresh profile in `dir`; returns its standard output.
fn chromium(dir: &Path, page: &Path, size: (u32, u32), action: &str) -> String {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let output = Command::new("chromium")
        .args(CHROMIUM_FLAGS)
        .args(["--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(action)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("chromium is needed for this test (cargo xtask setup installs it)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn render(dir: &Path, args: &[String]) -> PathBuf {
    let page = dir.join("comparison.html");
    let status = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .arg("compare")
        .args(args)
        .args(["--format", "html", "-o"])
        .arg(&page)
        .status()
        .unwrap();
    assert!(status.success());
    page
}

/// Measures the laid-out page and leaves the result, as JSON, in `<pre id="measured">`.
const MEASURE: &str = r"<script>
(() => {
  const viewport = document.documentElement.clientWidth;
  const describe = (el) => {
    const r = el.getBoundingClientRect();
    const cls = el.getAttribute('class') || '';
    return `${el.tagName}.${cls} [${Math.round(r.left)}..${Math.round(r.right)}] ${(el.textContent || '').trim().slice(0, 50)}`;
  };
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > viewport + 0.5 || r.left < -0.5) overflowing.push(describe(el));
  }
  const headings = [...document.querySelectorAll('h1, h2, h3, h4, figure')];
  const charts = [...document.querySelectorAll('figure')].map((figure) => {
    const svg = figure.querySelector('svg');
    const heading = document.getElementById(figure.getAttribute('aria-labelledby'));
    const before = headings.slice(0, headings.indexOf(figure)).filter((e) => e.tagName !== 'FIGURE');
    const ticks = (axis) => svg ? [...svg.querySelectorAll(`g.axis.${axis} text.tick`)].map((t) => t.textContent) : [];
    const r = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    return {
      title: svg ? svg.getAttribute('aria-label') : null,
      lines: !!svg && svg.querySelector('polyline') !== null,
      heading: heading ? `${heading.tagName} ${heading.textContent}` : null,
      heading_before: !!heading && (heading.compareDocumentPosition(figure) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0,
      nearest_heading: before.length > 0 && before[before.length - 1] === heading,
      x: ticks('x'),
      y: ticks('y'),
      drawn: [r.width, r.height],
    };
  });
  const rows = [...document.querySelectorAll('header table.context tr')].map(
    (tr) => [...tr.children].map((c) => c.textContent));
  const result = {
    viewport,
    scroll_width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
    overflowing,
    charts,
    context: rows,
    contents: [...document.querySelectorAll('nav.toc a')].map((a) => a.getAttribute('href')),
  };
  const pre = parent.document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(result);
  parent.document.body.appendChild(pre);
})();
</script>";

/// Headless Chromium's window is at least this wide, so narrower viewports are iframes.
const SMALLEST_WINDOW: u32 = 500;

/// A page showing `html` in a `width` × `height` px frame at its top left: the report's own
/// viewport is then exactly `width` wide, whatever the window.
fn framed(dir: &Path, name: &str, html: &str, width: u32, height: u64) -> PathBuf {
    let escaped = html.replace('&', "&amp;").replace('"', "&quot;");
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "<!DOCTYPE html><html><body style=\"margin:0\"><iframe style=\"border:0;display:block;\
             width:{width}px;height:{height}px\" srcdoc=\"{escaped}\"></iframe></body></html>"
        ),
    )
    .unwrap();
    path
}

fn measure(dir: &Path, page: &Path, width: u32) -> serde_json::Value {
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        !html.contains("<script"),
        "the report itself has no scripts"
    );
    let measured = html.replace("</body>", &format!("{MEASURE}\n</body>"));
    let measured_page = framed(
        dir,
        &format!("measured-{width}.html"),
        &measured,
        width,
        900,
    );
    let dom = chromium(
        dir,
        &measured_page,
        (width.max(SMALLEST_WINDOW), 900),
        "--dump-dom",
    );
    let start = dom.find("<pre id=\"measured\">").expect("measured") + 19;
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap()
}

/// The header: one column per run, every field filled from the run files.
fn check_context(measured: &serde_json::Value, runs: &[serde_json::Value]) {
    let context = measured["context"].as_array().unwrap();
    let field = |name: &str| -> Vec<String> {
        let row = context
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no {name} in the header: {context:?}"));
        row.as_array().unwrap()[1..]
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    for (index, run) in runs.iter().enumerate() {
        let str_of = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
        let started = str_of(&run["started_at"])
            .replace('T', " ")
            .replace('Z', "");
        assert_eq!(field("recorded (UTC)")[index], started);
        assert!(field("host")[index].starts_with(&str_of(&run["host"]["hostname"])));
        assert_eq!(field("kernel")[index], str_of(&run["host"]["kernel"]));
        assert_eq!(
            field("tracer version")[index],
            format!("tracer {}", str_of(&run["tool"]["version"]))
        );
        assert_eq!(
            field("attach mechanism")[index],
            str_of(&run["probe"]["mechanism"])
        );
        assert!(field("probe overhead")[index].starts_with("not measured"));
        assert!(field("duration")[index].starts_with("8.00 s"));
        for target in run["targets"].as_array().unwrap() {
            assert!(
                field("command / targets")[index].contains(&str_of(&target["spec"])),
                "{target}"
            );
        }
        assert_eq!(field("label")[index], str_of(&run["label"]));
    }
}

/// Asserts the layout at one width and, when asked, saves a full-page screenshot and
/// returns its path.
fn check_width(
    dir: &Path,
    page: &Path,
    width: u32,
    runs: &[serde_json::Value],
    screenshot: bool,
) -> Option<PathBuf> {
    let measured = measure(dir, page, width);
    assert_eq!(measured["viewport"], width, "{measured}");
    let overflowing = measured["overflowing"].as_array().unwrap();
    assert!(
        overflowing.is_empty(),
        "{width} px: elements wider than the viewport: {overflowing:#?}"
    );
    assert!(measured["scroll_width"].as_u64().unwrap() <= u64::from(width));

    let charts = measured["charts"].as_array().unwrap();
    // Request CDF, syscalls/s, CPU; per process (client, two proxies, total) read and write
    // sizes and a latency CDF; the no-mesh run has no proxies, which still have charts.
    assert_eq!(charts.len(), 3 + 4 * 3, "{charts:#?}");
    for chart in charts {
        assert!(
            chart["heading_before"] == true && chart["nearest_heading"] == true,
            "{width} px: chart not right after its heading: {chart}"
        );
        for axis in ["x", "y"] {
            let labels: Vec<&str> = chart[axis]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            // A bar chart of one payload size has one category.
            let fewest = if axis == "x" && chart["lines"] == false {
                1
            } else {
                2
            };
            assert!(labels.len() >= fewest, "{axis} axis of {chart}");
            let mut distinct = labels.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(
                distinct.len(),
                labels.len(),
                "{axis} axis repeats a label: {chart}"
            );
            // Percent axes end at 100% at most (they ran to 120%).
            if let Some(percent) = labels.last().and_then(|l| l.strip_suffix('%')) {
                assert!(percent.parse::<f64>().unwrap() <= 100.0, "{chart}");
            }
        }
    }

    check_context(&measured, runs);
    assert!(measured["contents"].as_array().unwrap().len() >= 8);

    if !screenshot {
        return None;
    }
    let height = measured["height"].as_u64().unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare_html");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join(format!("demo-report-{width}px.png"));
    let _ = std::fs::remove_file(&shot);
    let html = std::fs::read_to_string(page).unwrap();
    let whole = framed(dir, &format!("whole-{width}.html"), &html, width, height);
    chromium(
        dir,
        &whole,
        (width.max(SMALLEST_WINDOW), u32::try_from(height).unwrap()),
        &format!("--screenshot={}", shot.display()),
    );
    let png = std::fs::read(&shot).unwrap();
    // PNG header: the window's width and the whole page's height.
    assert_eq!(&png[1..4], b"PNG");
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!(
        (size(16), u64::from(size(20))),
        (width.max(SMALLEST_WINDOW), height)
    );
    Some(shot)
}

#[test]
fn the_demo_report_fits_desktop_and_phone_with_round_ticks_and_its_context() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        fixture("demo", "no-mesh-1.run.json"),
        fixture("demo", "mesh-1.run.json"),
    ];
    let runs: Vec<serde_json::Value> = files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    let page = render(dir.path(), &files);
    // Desktop and phone, screenshot; a tablet or a printed page in between, measured only.
    let shots: Vec<PathBuf> = std::thread::scope(|scope| {
        let handles: Vec<_> = [(1400, true), (390, true), (800, false)]
            .map(|(width, screenshot)| {
                let (dir, page, runs) = (dir.path(), &page, &runs);
                scope.spawn(move || check_width(dir, page, width, runs, screenshot))
            })
            .into_iter()
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(shots.len(), 2);
    for shot in shots {
        eprintln!("screenshot: {}", shot.display());
    }
}

#[test]
fn chromium_renders_the_oha_comparison_without_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        fixture("real", "oha-direct.run.json"),
        fixture("real", "oha-proxy.run.json"),
        "--load".to_owned(),
        fixture("real", "oha-direct.json"),
        "--load".to_owned(),
        fixture("real", "oha-proxy.json"),
    ];
    let page = render(dir.path(), &args);
    let dom = chromium(dir.path(), &page, (1400, 900), "--dump-dom");
    // Request CDF, syscalls/s, CPU; per process (oha, server, nginx, total) two size charts
    // and a latency CDF.
    assert_eq!(dom.matches("<svg").count(), 3 + 4 * 3, "{dom}");
    assert!(dom.contains("<rect") && dom.contains("<polyline"));
    assert!(dom.contains("oha: read payload sizes"));
    assert!(
        dom.contains("<td data-label=\"size\">178 B</td>")
            && dom.contains("<td data-label=\"size\">332–333 B</td>")
    );
    // The headline speaks about the load generator, not the busiest process.
    let verdict = &dom[dom.find("<ul class=\"verdict\">").unwrap()..];
    let first = &verdict[..verdict.find("</li>").unwrap()];
    assert!(first.contains("nginx vs direct, client oha:"), "{first}");
}
