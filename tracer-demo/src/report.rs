//! The demo's report: per scenario, the three modes side by side with the spread over runs
//! (`report.md`, also printed), the observer effect (strace attached to the client), the tunnel
//! setup (mTLS), the figures measured with the real ztunnel for reference, and tracer's own
//! grouped comparison of each scenario (`tracer compare --group`, Markdown in the report and
//! one HTML file per scenario).
use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::Context as _;

use super::{
    mesh_tls,
    orchestrate::{self, Mode, OrchestrateArgs},
    summary::{self, ModeRun, RunFigures, tunnel_bytes},
};

/// What the report is made from.
pub struct Inputs<'a> {
    pub args: &'a OrchestrateArgs,
    pub exe: &'a Path,
    pub results: &'a [ModeRun],
    /// The demo's wall time so far.
    pub wall: Duration,
    /// `/proc/loadavg`'s 1-minute load when the demo started and when it ended.
    pub load_average: (Option<f64>, Option<f64>),
}

/// The 1-minute load average (the machine may be shared: latency tails depend on it).
#[must_use]
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Mean, smallest and largest of a metric over a group's runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    #[must_use]
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Self {
            mean,
            min,
            max,
            runs: values.len(),
        })
    }

    /// `1.52 (1.40–1.67)` over several runs, `1.52` for one.
    #[must_use]
    pub fn show(&self, decimals: usize) -> String {
        if self.runs > 1 {
            format!(
                "{:.decimals$} ({:.decimals$}–{:.decimals$})",
                self.mean, self.min, self.max
            )
        } else {
            format!("{:.decimals$}", self.mean)
        }
    }
}

fn cell(values: &[f64], decimals: usize) -> String {
    Spread::of(values).map_or_else(|| "–".to_owned(), |spread| spread.show(decimals))
}

/// Writes `report.md` (and prints it) and one HTML comparison per scenario.
pub fn write(inputs: &Inputs) -> anyhow::Result<()> {
    let mut markdown = render(inputs);
    let scenarios = scenarios(inputs.results);
    for scenario in &scenarios {
        let files: Vec<&Path> = inputs
            .results
            .iter()
            .filter(|r| &r.scenario == scenario && r.strace.is_none())
            .filter_map(|r| r.run_file.as_deref())
            .collect();
        if files.len() < 2 {
            continue;
        }
        let ordered = by_mode(inputs.results, scenario, &files);
        let _ = writeln!(markdown, "\n# {scenario}: `tracer compare --group`\n");
        match compare(inputs.exe, &ordered, "markdown", None) {
            Ok(text) => markdown.push_str(&text),
            Err(error) => {
                let _ = writeln!(markdown, "(`tracer compare` failed: {error:#})");
            }
        }
        let html = inputs.args.output.join(format!("report-{scenario}.html"));
        if let Err(error) = compare(inputs.exe, &ordered, "html", Some(&html)) {
            note_line!("tracer-demo: could not write {}: {error:#}", html.display());
        }
    }
    let path = inputs.args.output.join("report.md");
    super::say!("\n{}", render(inputs).trim_end());
    tracer::run::write_atomically(&path, markdown.as_bytes(), tracer::run::PRIVATE_MODE)
        .with_context(|| format!("cannot write {}", path.display()))?;
    super::say!("\ntracer-demo: wrote {}", path.display());
    Ok(())
}

/// The scenarios of the results, in the order they ran.
fn scenarios(results: &[ModeRun]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for result in results {
        if !names.contains(&result.scenario) {
            names.push(result.scenario.clone());
        }
    }
    names
}

/// A scenario's run files ordered no mesh, sidecar, ambient (the baseline first).
fn by_mode<'a>(results: &'a [ModeRun], scenario: &str, files: &[&'a Path]) -> Vec<&'a Path> {
    let mut ordered = Vec::new();
    for mode in Mode::ALL {
        ordered.extend(
            results
                .iter()
                .filter(|r| r.scenario == scenario && r.mode == mode && r.strace.is_none())
                .filter_map(|r| r.run_file.as_deref())
                .filter(|file| files.contains(file)),
        );
    }
    ordered
}

/// Runs `tracer compare --group` (in a process of this binary) and returns its output.
fn compare(
    exe: &Path,
    files: &[&Path],
    format: &str,
    output: Option<&PathBuf>,
) -> anyhow::Result<String> {
    let mut command = Command::new(exe);
    command
        .arg("compare")
        .args(files)
        .args(["--group", "--format", format]);
    if let Some(output) = output {
        command.arg("-o").arg(output);
    }
    let result = command.output().context("cannot run `tracer compare`")?;
    if !result.status.success() {
        anyhow::bail!(
            "{}",
            String::from_utf8_lossy(&result.stderr)
                .lines()
                .next()
                .unwrap_or("no message")
        );
    }
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}

/// The report's own part (everything but `tracer compare`'s sections).
#[must_use]
pub fn render(inputs: &Inputs) -> String {
    let args = inputs.args;
    let mut out = String::new();
    let _ = writeln!(out, "# tracer-demo: the ambient-mesh blog's experiments\n");
    let host = inputs
        .results
        .iter()
        .find_map(|r| r.run_file.as_ref())
        .and_then(|path| tracer::run::Run::read(path).ok())
        .map_or_else(
            || "this machine".to_owned(),
            |run| {
                format!(
                    "{}, kernel {}, {} CPUs",
                    run.host.hostname, run.host.kernel, run.host.cpus
                )
            },
        );
    let load = |value: Option<f64>| value.map_or_else(|| "?".to_owned(), |v| format!("{v:.1}"));
    let _ = writeln!(
        out,
        "{host}; {} qps over {} connections, {:?} per run, {} run(s) per mode; the demo took \
         {:.0} s; load average {} at the start, {} at the end.\n",
        args.qps,
        args.connections,
        args.duration,
        args.runs,
        inputs.wall.as_secs_f64(),
        load(inputs.load_average.0),
        load(inputs.load_average.1),
    );
    let _ = writeln!(
        out,
        "Modes: **no-mesh** (client → service over the veth link); **sidecar** (HAProxy in \
         each pod's namespace, traffic redirected by iptables, as Envoy sidecars); **ambient** \
         (tracer-demo's model of ztunnel: one node proxy per node, built on tokio, h2 and \
         rustls, every app connection an HTTP/2 CONNECT stream over one mutual-TLS 1.3 \
         connection between the nodes). Mesh cost = both proxies' I/O syscalls and on-CPU time \
         per request. The service writes every response as headers (180 B) then body (178 B)."
    );
    let what_ifs = what_ifs(args);
    let _ = writeln!(out, "\nWhat-ifs: {what_ifs}.");
    for scenario in scenarios(inputs.results) {
        render_scenario(&mut out, inputs.results, &scenario);
    }
    render_observer(&mut out, inputs.results);
    render_tunnels(&mut out, inputs);
    render_reference(&mut out, inputs.results);
    let _ = writeln!(
        out,
        "\nOn one machine the nodes' link is a veth pair with no added delay: this kernel has no \
         netem qdisc, and tbf (which it has) only paces, it does not delay."
    );
    out
}

fn what_ifs(args: &OrchestrateArgs) -> String {
    let mut parts = Vec::new();
    if !args.body_delay.is_zero() {
        parts.push(format!(
            "**--body-delay {:?}** (the service sleeps between its two writes: NOT the real service)",
            args.body_delay
        ));
    }
    if !args.coalesce_window.is_zero() {
        parts.push(format!(
            "**--coalesce-window {:?}** (the ambient service-side proxy waits for more before \
             sending: NOT ztunnel)",
            args.coalesce_window
        ));
    }
    if parts.is_empty() {
        "none (no sleep in the service, no batching window in the proxies)".to_owned()
    } else {
        parts.join("; ")
    }
}

/// One scenario's table: the three modes, each cell the mean over runs with (min–max).
fn render_scenario(out: &mut String, results: &[ModeRun], scenario: &str) {
    let _ = writeln!(out, "\n## {scenario}\n");
    let _ = writeln!(
        out,
        "| mode | runs | client reads / response | B / read | latency avg ms | p50 ms | p90 ms | p99 ms | client CPU µs / req | mesh I/O syscalls / req | mesh CPU µs / req | service writes / response |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for mode in Mode::ALL {
        let runs: Vec<&ModeRun> = results
            .iter()
            .filter(|r| r.scenario == scenario && r.mode == mode && r.strace.is_none())
            .collect();
        if runs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}", row(mode.label(), &runs));
    }
}

fn row(name: &str, runs: &[&ModeRun]) -> String {
    let figures: Vec<RunFigures> = runs.iter().map(|r| RunFigures::of(r)).collect();
    let collect = |value: &dyn Fn(usize) -> Option<f64>| -> Vec<f64> {
        (0..runs.len()).filter_map(value).collect()
    };
    let ms = |ns: f64| ns / 1e6;
    let reads = collect(&|i| figures[i].reads_per_response(runs[i]));
    let bytes = collect(&|i| figures[i].client.and_then(|c| c.bytes_per_read));
    let avg = collect(&|i| Some(ms(runs[i].load.latency.average_ns)));
    let p50 = collect(&|i| Some(ms(runs[i].load.latency.p50_ns as f64)));
    let p90 = collect(&|i| Some(ms(runs[i].load.latency.p90_ns as f64)));
    let p99 = collect(&|i| Some(ms(runs[i].load.latency.p99_ns as f64)));
    let client_cpu = collect(&|i| figures[i].client.and_then(|c| c.cpu_us_per_request));
    let mesh_calls = collect(&|i| figures[i].mesh_syscalls_per_request);
    let mesh_cpu = collect(&|i| figures[i].mesh_cpu_us_per_request);
    let writes = collect(&|i| figures[i].service.map(|s| s.writes_per_request));
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        runs.len(),
        cell(&reads, 2),
        cell(&bytes, 0),
        cell(&avg, 3),
        cell(&p50, 3),
        cell(&p90, 3),
        cell(&p99, 3),
        cell(&client_cpu, 1),
        cell(&mesh_calls, 2),
        cell(&mesh_cpu, 1),
        cell(&writes, 2),
    )
}

/// The same scenario measured by tracer alone and by tracer with strace attached to the client.
fn render_observer(out: &mut String, results: &[ModeRun]) {
    let observed: Vec<&ModeRun> = results.iter().filter(|r| r.strace.is_some()).collect();
    if observed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## The observer effect: strace attached to the client\n"
    );
    let _ = writeln!(
        out,
        "The blog counted reads with `strace -fp`; strace stops the client at every syscall, \
         which changes when it reads and so what each read finds. Same scenario, tracer \
         alone vs tracer with `strace -f -e trace=write,writev,read,recvfrom,sendto,readv` \
         attached to the client:\n"
    );
    let _ = writeln!(
        out,
        "| scenario / mode | measured by | client reads / response (tracer) | recvfrom / response (strace's output) | latency avg ms | p99 ms | client CPU µs / req |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
    for strace_run in observed {
        let alone: Vec<&ModeRun> = results
            .iter()
            .filter(|r| {
                r.scenario == strace_run.scenario && r.mode == strace_run.mode && r.strace.is_none()
            })
            .collect();
        let name = format!("{} / {}", strace_run.scenario, strace_run.mode.label());
        for (who, runs) in [("tracer", alone), ("tracer + strace", vec![strace_run])] {
            let figures: Vec<RunFigures> = runs.iter().map(|r| RunFigures::of(r)).collect();
            let reads: Vec<f64> = runs
                .iter()
                .zip(&figures)
                .filter_map(|(r, f)| f.reads_per_response(r))
                .collect();
            let strace: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.strace.and_then(|s| s.per_response()))
                .collect();
            let avg: Vec<f64> = runs
                .iter()
                .map(|r| r.load.latency.average_ns / 1e6)
                .collect();
            let p99: Vec<f64> = runs
                .iter()
                .map(|r| r.load.latency.p99_ns as f64 / 1e6)
                .collect();
            let cpu: Vec<f64> = figures
                .iter()
                .filter_map(|f| f.client.and_then(|c| c.cpu_us_per_request))
                .collect();
            let _ = writeln!(
                out,
                "| {name} | {who} | {} | {} | {} | {} | {} |",
                cell(&reads, 2),
                cell(&strace, 2),
                cell(&avg, 3),
                cell(&p99, 3),
                cell(&cpu, 1)
            );
        }
    }
}

/// What the tunnel-setup recordings saw on the tunnel connections: the certificates both
/// proxies present travel in the handshake, so each side reads at least the other's chain.
fn render_tunnels(out: &mut String, inputs: &Inputs) {
    let tunnels: Vec<(&str, &Path)> = inputs
        .results
        .iter()
        .filter_map(|r| r.tunnel_file.as_deref().map(|f| (r.scenario.as_str(), f)))
        .collect();
    if tunnels.is_empty() {
        return;
    }
    let certs = orchestrate::certs_dir(&inputs.args.output);
    let chain = |node| mesh_tls::chain_bytes(&certs, node).unwrap_or(0);
    let _ = writeln!(out, "\n## The tunnel's mutual TLS handshake\n");
    let _ = writeln!(
        out,
        "Recorded while one request (118 B up, 358 B down) opened the tunnel: TCP, TLS 1.3 with \
         a certificate on both sides (node-a's chain {} B, node-b's {} B, DER), HTTP/2 \
         preface and settings, one CONNECT stream.\n",
        chain("node-a"),
        chain("node-b")
    );
    let _ = writeln!(
        out,
        "| scenario | ztunnel-a tunnel bytes read / written | ztunnel-b tunnel bytes read / written |"
    );
    let _ = writeln!(out, "| --- | --- | --- |");
    for (scenario, file) in tunnels {
        let Ok(run) = tracer::run::Run::read(file) else {
            continue;
        };
        let a = tunnel_bytes(&run, "ztunnel-a", orchestrate::TUNNEL_PORT);
        let b = tunnel_bytes(&run, "ztunnel-b", orchestrate::TUNNEL_PORT);
        let _ = writeln!(
            out,
            "| {scenario} | {} / {} | {} / {} |",
            a.0, a.1, b.0, b.1
        );
    }
}

/// The demo's figures next to the ones measured with the real ztunnel on this machine (Istio's
/// ztunnel built from source, `WEBrick` as the service; issue 14).
fn render_reference(out: &mut String, results: &[ModeRun]) {
    let pick = |scenario: &str, mode: Mode, strace: bool| -> Vec<&ModeRun> {
        results
            .iter()
            .filter(|r| r.scenario == scenario && r.mode == mode && r.strace.is_some() == strace)
            .collect()
    };
    let reads = |runs: &[&ModeRun]| -> String {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| RunFigures::of(r).reads_per_response(r))
            .collect();
        cell(&values, 2)
    };
    let average_ms = |runs: &[&ModeRun]| -> String {
        let values: Vec<f64> = runs
            .iter()
            .map(|r| r.load.latency.average_ns / 1e6)
            .collect();
        cell(&values, 2)
    };
    let keepalive_ambient = pick("keepalive", Mode::Ambient, false);
    let merged: Vec<f64> = keepalive_ambient
        .iter()
        .filter_map(|r| {
            let run = tracer::run::Run::read(r.run_file.as_ref()?).ok()?;
            let merged = summary::reads_sized(&run, "ztunnel-b", 358, 359);
            Some(100.0 * merged as f64 / r.load.requests.max(1) as f64)
        })
        .collect();
    let mesh = |value: &dyn Fn(&RunFigures) -> Option<f64>, decimals| -> String {
        let values: Vec<f64> = keepalive_ambient
            .iter()
            .filter_map(|r| value(&RunFigures::of(r)))
            .collect();
        cell(&values, decimals)
    };
    let strace: Vec<f64> = pick("keepalive", Mode::NoMesh, true)
        .iter()
        .filter_map(|r| r.strace.and_then(|s| s.per_response()))
        .collect();
    let _ = writeln!(
        out,
        "\n## This demo next to the real ztunnel on this machine\n\n\
         The real one: Istio's ztunnel built from source (HBONE, mTLS over HTTP/2), a WEBrick \
         service writing 180 + 178 B, 200 req/s over 10 keep-alive connections, 2,000 \
         requests, tracer recording (at 1,000 req/s it saw no effect: 1.22 → 1.28). Here: the \
         runs above (keep-alive unless said otherwise).\n"
    );
    let _ = writeln!(out, "| | real ztunnel, WEBrick | this demo |");
    let _ = writeln!(out, "| --- | --- | --- |");
    let rows = [
        (
            "client reads / response, no mesh",
            "1.77–1.80",
            reads(&pick("keepalive", Mode::NoMesh, false)),
        ),
        (
            "client reads / response, through the node proxies",
            "1.40–1.67",
            reads(&keepalive_ambient),
        ),
        (
            "service-side proxy read both writes as one 358 B read (% of responses)",
            "22–55",
            cell(&merged, 0),
        ),
        (
            "node proxies' I/O syscalls / request",
            "9.8–11",
            mesh(&|f| f.mesh_syscalls_per_request, 2),
        ),
        (
            "node proxies' CPU µs / request",
            "157–171",
            mesh(&|f| f.mesh_cpu_us_per_request, 0),
        ),
        (
            "no TCP_NODELAY: average latency ms, no mesh",
            "~43",
            average_ms(&pick("nagle", Mode::NoMesh, false)),
        ),
        (
            "no TCP_NODELAY: average latency ms, through the node proxies",
            "0.61–6.8",
            average_ms(&pick("nagle", Mode::Ambient, false)),
        ),
        (
            "strace attached to the client: recvfrom / response, no mesh",
            "1.06 (oha)",
            cell(&strace, 2),
        ),
    ];
    for (what, real, demo) in rows {
        let _ = writeln!(out, "| {what} | {real} | {demo} |");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_shows_mean_and_range_over_runs() {
        let spread = Spread::of(&[1.4, 1.67, 1.5]).unwrap();
        assert_eq!(spread.show(2), "1.52 (1.40–1.67)");
        assert_eq!(Spread::of(&[2.0]).unwrap().show(2), "2.00");
        assert!(Spread::of(&[]).is_none());
    }
}
