//! `tracer-demo load`: a Fortio-like load generator for the demo.
//!
//! Fixed QPS spread evenly over N connections (one thread per connection, each paced at
//! qps/N, staggered so the requests interleave), keep-alive by default or a new connection per
//! request with `--connection-close` (the blog's second experiment). Request latency goes into
//! an HDR histogram; the result is a `run::LoadResult` (tool `tracer-demo`), printed and
//! written with `--json`.
//!
//! The client reads responses with blocking reads of up to 4096 bytes, as Fortio did in the
//! blog's strace, and counts its own read calls: a cross-check of the eBPF numbers that needs
//! no tracer at all.
use std::{
    collections::BTreeMap,
    io::{BufRead as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use hdrhistogram::Histogram;

use super::http;
use tracer::run::{LoadResult, RequestLatency};

/// Prefix of the machine-readable line with the client's own read counts.
pub const CLIENT_READS_PREFIX: &str = "tracer-demo: client-reads";
/// Line printed once every keep-alive connection is open (with `--wait-for-go`).
pub const CONNECTED_LINE: &str = "tracer-demo: connected";

#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The service (or the node proxy) to send requests to.
    #[arg(long, value_name = "ADDR")]
    pub target: SocketAddr,
    /// Requests per second over all connections.
    #[arg(long, default_value_t = 100.0)]
    pub qps: f64,
    /// Connections (each paced at qps/connections).
    #[arg(long, default_value_t = 10)]
    pub connections: u32,
    /// How long to send, e.g. 20s.
    #[arg(long, default_value = "20s", value_parser = tracer::collect::parse_duration)]
    pub duration: Duration,
    /// Send `Connection: close` and open a new connection per request.
    #[arg(long)]
    pub connection_close: bool,
    /// Also write the result as JSON (a `LoadResult`) to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Open the connections, print a line, and start only when a line arrives on stdin (the
    /// demo attaches the recorder in between).
    #[arg(long, hide = true)]
    pub wait_for_go: bool,
}

impl LoadArgs {
    fn validate(&self) -> anyhow::Result<()> {
        let usage = |message: &str| {
            Err(tracer::error::user(
                tracer::error::ErrorKind::Usage,
                message,
            ))
        };
        if !(self.qps.is_finite() && self.qps > 0.0) {
            return usage("--qps must be a positive number of requests per second");
        }
        if self.connections == 0 || self.connections > 10_000 {
            return usage("--connections must be between 1 and 10000");
        }
        if self.duration.is_zero() {
            return usage("--duration must be longer than zero, e.g. 20s");
        }
        Ok(())
    }
}

/// What one connection's thread measured.
struct ConnectionTally {
    latency_ns: Histogram<u64>,
    errors: u64,
    status_codes: BTreeMap<String, u64>,
    reads: http::Reads,
    responses: u64,
}

impl ConnectionTally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            // 1 µs .. 60 s at 3 significant digits.
            latency_ns: Histogram::new_with_bounds(1_000, 60_000_000_000, 3)?,
            errors: 0,
            status_codes: BTreeMap::new(),
            reads: http::Reads::default(),
            responses: 0,
        })
    }

    fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.latency_ns.add(&other.latency_ns)?;
        self.errors += other.errors;
        for (code, count) in &other.status_codes {
            *self.status_codes.entry(code.clone()).or_default() += count;
        }
        self.reads.calls += other.reads.calls;
        self.reads.bytes += other.reads.bytes;
        self.responses += other.responses;
        Ok(())
    }
}

pub fn run(args: &LoadArgs) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let (result, tally) = generate(args)?;
    print_summary(&result, &tally);
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&result)?;
        tracer::run::write_atomically(path, &json, tracer::run::PRIVATE_MODE).map_err(|error| {
            tracer::error::user(
                tracer::error::ErrorKind::Output,
                format!(
                    "cannot write {}: {error}; pick a writable --json path",
                    path.display()
                ),
            )
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the load and returns its result.
fn generate(args: &LoadArgs) -> anyhow::Result<(LoadResult, ConnectionTally)> {
    let connections = args.connections;
    let mut sockets = Vec::new();
    if args.connection_close {
        sockets.resize_with(connections as usize, || None);
    } else {
        for _ in 0..connections {
            sockets.push(Some(connect(args.target).map_err(|error| {
                tracer::error::user(
                    tracer::error::ErrorKind::TargetNotFound,
                    format!(
                        "cannot connect to {}: {error}; is the service running?",
                        args.target
                    ),
                )
            })?));
        }
    }
    if args.wait_for_go {
        println!("{CONNECTED_LINE}");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
    }
    let per_connection_period = Duration::from_secs_f64(f64::from(connections) / args.qps);
    let start = Instant::now();
    let end = start + args.duration;
    let threads: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(index, socket)| {
            // Stagger the connections so requests are evenly spread over each period.
            let offset = per_connection_period.mul_f64(index as f64 / f64::from(connections));
            let target = args.target;
            let close = args.connection_close;
            std::thread::spawn(move || {
                drive(
                    target,
                    socket,
                    close,
                    start + offset,
                    per_connection_period,
                    end,
                )
            })
        })
        .collect();
    let mut total = ConnectionTally::new()?;
    for thread in threads {
        let tally = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        total.merge(&tally)?;
    }
    let duration = start.elapsed();
    let requests = total.latency_ns.len() + total.errors;
    let latency = &total.latency_ns;
    let percentile = |q: f64| latency.value_at_quantile(q);
    let result = LoadResult {
        tool: "tracer-demo".into(),
        source: None,
        requests,
        errors: total.errors,
        duration_ns: u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX),
        qps: requests as f64 / duration.as_secs_f64(),
        target_qps: Some(args.qps),
        connections: Some(connections),
        latency: RequestLatency {
            average_ns: latency.mean(),
            min_ns: latency.min(),
            max_ns: latency.max(),
            p50_ns: percentile(0.50),
            p75_ns: percentile(0.75),
            p90_ns: percentile(0.90),
            p99_ns: percentile(0.99),
            p999_ns: percentile(0.999),
        },
        status_codes: total.status_codes.clone(),
    };
    Ok((result, total))
}

fn connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpStream::connect(target)?;
    socket.set_nodelay(true)?;
    Ok(socket)
}

/// One connection's request loop.
fn drive(
    target: SocketAddr,
    mut socket: Option<TcpStream>,
    close: bool,
    first: Instant,
    period: Duration,
    end: Instant,
) -> anyhow::Result<ConnectionTally> {
    let mut tally = ConnectionTally::new()?;
    let mut buffer = [0_u8; 4096];
    let mut due = first;
    while due < end {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        due += period;
        let sent_at = Instant::now();
        let outcome = (|| -> std::io::Result<u16> {
            let mut stream = match socket.take() {
                Some(stream) => stream,
                None => connect(target)?,
            };
            let request = if close {
                http::REQUEST_CLOSE
            } else {
                http::REQUEST_KEEP_ALIVE
            };
            let status = http::exchange(&mut stream, request, &mut buffer, &mut tally.reads)?;
            tally.responses += 1;
            if !close {
                socket = Some(stream);
            }
            Ok(status)
        })();
        if let Ok(status) = outcome {
            let elapsed_ns = u64::try_from(sent_at.elapsed().as_nanos()).unwrap_or(u64::MAX);
            tally.latency_ns.saturating_record(elapsed_ns);
            *tally.status_codes.entry(status.to_string()).or_default() += 1;
            if !(200..300).contains(&status) {
                tally.errors += 1;
            }
        } else {
            tally.errors += 1;
            *tally.status_codes.entry("-1".into()).or_default() += 1;
        }
    }
    Ok(tally)
}

fn print_summary(result: &LoadResult, tally: &ConnectionTally) {
    let ms = |ns: f64| ns / 1e6;
    let latency = &result.latency;
    println!(
        "tracer-demo load: {} requests in {:.1} s ({:.1} qps, target {}), {} connections, {} errors",
        result.requests,
        result.duration_ns as f64 / 1e9,
        result.qps,
        result.target_qps.unwrap_or_default(),
        result.connections.unwrap_or_default(),
        result.errors,
    );
    println!(
        "latency ms: avg {:.3}  p50 {:.3}  p75 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        ms(latency.average_ns),
        ms(latency.p50_ns as f64),
        ms(latency.p75_ns as f64),
        ms(latency.p90_ns as f64),
        ms(latency.p99_ns as f64),
        ms(latency.p999_ns as f64),
        ms(latency.max_ns as f64),
    );
    println!(
        "{CLIENT_READS_PREFIX} calls={} bytes={} responses={}",
        tally.reads.calls, tally.reads.bytes, tally.responses
    );
}

/// Parses the client-reads line: (read calls, bytes read, responses).
#[must_use]
pub fn parse_client_reads(line: &str) -> Option<(u64, u64, u64)> {
    let rest = line.strip_prefix(CLIENT_READS_PREFIX)?;
    let mut values = rest.split_whitespace().map(|field| {
        let (_, value) = field.split_once('=')?;
        value.parse::<u64>().ok()
    });
    Some((values.next()??, values.next()??, values.next()??))
}

/// Reads a `--json` file written by `run`.
pub fn read_result(path: &std::path::Path) -> anyhow::Result<LoadResult> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the load result {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a load result written by `tracer-demo load`",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_its_own_client_reads_line() {
        let line = format!("{CLIENT_READS_PREFIX} calls=4 bytes=716 responses=2");
        assert_eq!(parse_client_reads(&line), Some((4, 716, 2)));
        assert_eq!(
            parse_client_reads("tracer-demo: client-reads calls=x"),
            None
        );
    }

    #[test]
    fn refuses_nonsense_rates() {
        let mut args = LoadArgs {
            target: "127.0.0.1:1".parse().unwrap(),
            qps: 0.0,
            connections: 10,
            duration: Duration::from_secs(1),
            connection_close: false,
            json: None,
            wait_for_go: false,
        };
        assert!(args.validate().is_err());
        args.qps = 100.0;
        assert!(args.validate().is_ok());
        args.connections = 0;
        assert!(args.validate().is_err());
    }
}
