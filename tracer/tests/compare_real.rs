//! `tracer compare` on real recordings (tests/fixtures/real, made by its record.sh): a client
//! reading responses that the server writes as 180 B + 178 B, directly and through nginx,
//! which merges them. The expected numbers are worked out here from the run files' raw
//! counters, independently of tracer's own arithmetic, and looked for in every format.
use std::{path::PathBuf, process::Command};

use serde_json::Value;

fn real(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real")
        .join(name)
        .display()
        .to_string()
}

fn tracer(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn run_file(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(real(name)).unwrap()).unwrap()
}

/// The traced process of the target started as a command (the client).
fn client(run: &Value) -> &Value {
    let target = run["targets"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t["spec"].as_str().unwrap().starts_with("command:"))
        .unwrap();
    run["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["target"] == target)
        .unwrap()
}

fn syscall<'a>(process: &'a Value, name: &str) -> &'a Value {
    process["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["syscall"] == name)
        .unwrap()
}

/// Bytes per call that moved bytes, from the raw counters.
fn bytes_per_call(stats: &Value) -> f64 {
    let n = |key: &str| stats[key].as_u64().unwrap();
    n("bytes") as f64 / (n("calls") - n("errors") - n("zero_returns")) as f64
}

/// Calls of an exact payload size (sizes below 256 B have one-byte buckets).
fn size_count(stats: &Value, size: u64) -> u64 {
    stats["size"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["low"] == size && b["width"] == 1)
        .map_or(0, |b| b["count"].as_u64().unwrap())
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one recording checked in every format"
)]
fn direct_versus_proxy_in_every_format() {
    let (direct, proxy) = (
        run_file("client-direct-1.run.json"),
        run_file("client-proxy-1.run.json"),
    );
    let (direct_recv, proxy_recv) = (
        syscall(client(&direct), "recvfrom"),
        syscall(client(&proxy), "recvfrom"),
    );
    let (direct_bytes, proxy_bytes) = (bytes_per_call(direct_recv), bytes_per_call(proxy_recv));
    // The story holds in the recording itself: about 2 reads of 180 + 178 B per response
    // directly, 1 merged read through the proxy.
    let requests = direct["load"]["requests"].as_u64().unwrap();
    assert_eq!(proxy["load"]["requests"].as_u64(), Some(requests));
    let headers = size_count(direct_recv, 180);
    let bodies = size_count(direct_recv, 178);
    assert!(
        headers > requests * 9 / 10 && bodies > requests * 9 / 10,
        "{headers} {bodies}"
    );
    assert!((170.0..190.0).contains(&direct_bytes), "{direct_bytes}");
    assert!(proxy_bytes > 300.0, "{proxy_bytes}");
    let factor = proxy_bytes / direct_bytes;
    let percent = (factor - 1.0) * 100.0;

    let args = [
        real("client-direct-1.run.json"),
        real("client-proxy-1.run.json"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let with = |format: &str| {
        let mut all = vec!["compare"];
        all.extend(&args);
        all.extend(["--format", format]);
        tracer(&all)
    };

    let markdown = with("markdown");
    let row = format!(
        "| bytes per socket read | {direct_bytes:.0} B | {proxy_bytes:.0} B | +{percent:.0}% |"
    );
    assert!(markdown.contains(&row), "{row}\n{markdown}");
    assert!(markdown.contains(&format!(
        "| coalescing factor (B/socket read ÷ baseline) | 1.00× | {factor:.2}× |  |"
    )));
    let thousands = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    assert!(
        markdown.contains(&format!("| 180 B | {} (", thousands(headers))),
        "{markdown}"
    );
    assert!(
        markdown.contains(&format!("| 178 B | {} (", thousands(bodies))),
        "{markdown}"
    );
    let per_request = proxy_recv["calls"].as_u64().unwrap() as f64 / requests as f64;
    assert!(
        markdown.contains(&format!(
            "| recvfrom calls per request | {:.2} | {per_request:.2} |",
            direct_recv["calls"].as_u64().unwrap() as f64 / requests as f64
        )),
        "{markdown}"
    );
    let verdict = format!(
        "socket reads carry {factor:.1}× more bytes ({direct_bytes:.0} → {proxy_bytes:.0} B)"
    );
    assert!(markdown.contains(&verdict), "{verdict}\n{markdown}");

    let text = with("text");
    assert!(text.contains(&verdict));
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("bytes per socket read"))
        .unwrap();
    assert!(
        line.contains(&format!("{direct_bytes:.0} B"))
            && line.contains(&format!("{proxy_bytes:.0} B")),
        "{line}"
    );

    let json: Value = serde_json::from_str(&with("json")).unwrap();
    let rows = json["sections"][0]["table"]["rows"].as_array().unwrap();
    let mean = |metric: &str, group: usize| {
        rows.iter().find(|r| r["metric"] == metric).unwrap()["values"][group]["mean"]
            .as_f64()
            .unwrap()
    };
    assert!((mean("socket_read_bytes_per_call", 0) - direct_bytes).abs() < 1e-9);
    assert!((mean("socket_read_bytes_per_call", 1) - proxy_bytes).abs() < 1e-9);
    assert!((mean("coalescing_factor", 1) - factor).abs() < 1e-9);
    let io = |run: &Value| {
        client(run)["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["calls"].as_u64().unwrap())
            .sum::<u64>() as f64
            / requests as f64
    };
    assert!((mean("io_calls_per_request", 0) - io(&direct)).abs() < 1e-9);
    assert!((mean("io_calls_per_request", 1) - io(&proxy)).abs() < 1e-9);

    // Cells without their narrow-screen labels (`data-label="..."`).
    let html = with("html")
        .split(" data-label=\"")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once('"').map_or(part, |(_, rest)| rest)
            }
        })
        .collect::<String>();
    assert!(html.matches("<svg").count() >= 6);
    assert!(
        html.contains(&format!(
            "<td>{direct_bytes:.0} B</td><td>{proxy_bytes:.0} B</td>"
        )),
        "bytes per socket read row"
    );
    assert!(html.contains("<td>180 B</td>") && html.contains("<td>178 B</td>"));
}

#[test]
#[expect(clippy::float_cmp, reason = "min and max are copied, not computed")]
fn three_runs_a_side_give_mean_and_spread() {
    let files: Vec<String> = [
        "direct-1", "direct-2", "direct-3", "proxy-1", "proxy-2", "proxy-3",
    ]
    .iter()
    .map(|n| real(&format!("client-{n}.run.json")))
    .collect();
    let mut args = vec!["compare", "--group", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let json: Value = serde_json::from_str(&tracer(&args)).unwrap();
    let labels: Vec<&str> = json["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["direct", "nginx"]);
    let per_run: Vec<f64> = files
        .iter()
        .map(|f| {
            bytes_per_call(syscall(
                client(&serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()),
                "recvfrom",
            ))
        })
        .collect();
    let row = json["sections"][0]["table"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "socket_read_bytes_per_call")
        .unwrap()
        .clone();
    for (group, runs) in [(0, &per_run[..3]), (1, &per_run[3..])] {
        let stat = &row["values"][group];
        let mean = runs.iter().sum::<f64>() / 3.0;
        assert!((stat["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
        assert_eq!(
            stat["min"].as_f64().unwrap(),
            runs.iter().copied().fold(f64::INFINITY, f64::min)
        );
        assert_eq!(
            stat["max"].as_f64().unwrap(),
            runs.iter().copied().fold(0.0, f64::max)
        );
        assert_eq!(stat["runs"], 3);
    }
    // 179 → 333 B is far outside the few-byte spread between runs.
    assert_eq!(row["changes"][1]["within_noise"], false);
}

#[test]
fn load_generator_latency_is_shown_as_recorded() {
    let oha: Value =
        serde_json::from_str(&std::fs::read_to_string(real("oha-direct.json")).unwrap()).unwrap();
    let markdown = tracer(&[
        "compare",
        &real("oha-direct.run.json"),
        &real("oha-proxy.run.json"),
        "--load",
        &real("oha-direct.json"),
        "--load",
        &real("oha-proxy.json"),
        "--format",
        "markdown",
    ]);
    let ms = |seconds: f64| format!("{:.2}ms", (seconds * 1e9).round() / 1e6);
    let p = |key: &str| ms(oha["latencyPercentiles"][key].as_f64().unwrap());
    let row = format!(
        "| direct | {} | {} | {} | {} | {} | {} |",
        ms(oha["summary"]["average"].as_f64().unwrap()),
        p("p50"),
        p("p75"),
        p("p90"),
        p("p99"),
        p("p99.9")
    );
    assert!(markdown.contains(&row), "{row}\n{markdown}");
    assert!(markdown.contains(
        "| oha run | Average | P50 | P75 | P90 | P99 | P99.9 | QPS | Errors | Differences |"
    ));
}
