//! The run file: everything one recording learned, as versioned, self-describing JSON.
//!
//! This is the contract between `record` (which writes it) and `compare`/`report`/`agent`
//! (which read it). Field names say what a value is in the user's words, with units.
//! Readers refuse a newer `schema`; writers replace the file atomically (temp file + rename),
//! so a run file is always complete or absent.
use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::hist::Histogram;

/// Largest run file `report`, `compare` and the demo read: a day-long recording of a busy
/// node is a few MiB; a file past this is crafted, and decoding it would take gigabytes.
pub const MAX_RUN_FILE_BYTES: u64 = 64 << 20;

/// Version of the run-file layout. Bump on any change a reader of the old layout would misread.
pub const SCHEMA: u32 = 2;
/// Value of `kind`, so that other JSON files (a Fortio result, a comparison) are told apart.
pub const KIND: &str = "tracer-run";

/// One recording.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub schema: u32,
    pub kind: String,
    pub tool: Tool,
    pub host: Host,
    pub probe: ProbeInfo,
    /// User's name for the run (`--label`), e.g. "no-mesh" or "ambient run 2".
    pub label: Option<String>,
    /// Start, wall clock, RFC 3339 UTC.
    pub started_at: String,
    /// Start, `CLOCK_MONOTONIC` ns (the clock of the kernel's timestamps).
    pub start_monotonic_ns: u64,
    pub duration_ns: u64,
    /// Why the recording stopped.
    pub end_reason: EndReason,
    /// What was asked for and how it was resolved to processes.
    pub targets: Vec<Target>,
    /// Every traced process (tgid) that made at least one traced syscall or was a target.
    pub processes: Vec<Process>,
    /// Counts the kernel side could not record in full; all zero in a complete run.
    pub losses: Losses,
    /// Totals per interval (normally 1 s) over all processes: rate and CPU over time.
    pub intervals: Vec<Interval>,
    /// Load-generator result attached to this run (`--load` or `record -- oha ...`).
    pub load: Option<LoadResult>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
    pub arch: String,
    pub cpus: u32,
}

/// How the probes were attached, and what that cost.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProbeInfo {
    /// `fentry`, `tp_btf`, `raw_tracepoint` or `tracepoint`.
    pub mechanism: String,
    /// Mechanisms tried before this one and why each was not used.
    pub fallbacks: Vec<Fallback>,
    /// Kernel time spent in tracer's programs (`BPF_ENABLE_STATS`), when the kernel reported it.
    pub overhead: Option<ProbeOverhead>,
    /// Entries the per-CPU maps held on this machine (fewer than compiled on machines with
    /// many CPUs, to bound kernel memory), by map name; empty in older files.
    #[serde(default)]
    pub capacities: std::collections::BTreeMap<String, u32>,
    /// The only syscalls counted, when `record --syscalls` narrowed them; absent: every
    /// syscall tracer knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Fallback {
    pub mechanism: String,
    pub reason: String,
}

/// What tracer's programs cost the kernel while it timed them: the whole run, or a share of
/// it (`record --cost-sampling`; off by default, so this is absent unless asked for: switching
/// the kernel's statistics patches kernel code, and its timing of every program run costs about
/// as much as a cheap program).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ProbeOverhead {
    /// ns the kernel spent running tracer's programs while timing them.
    pub run_time_ns: u64,
    /// Program runs while timed (every syscall entry and exit on the machine, for raw
    /// tracepoints; only traced syscalls for fentry and syscall tracepoints).
    pub run_count: u64,
    /// `run_time_ns / run_count`, including the kernel's own timing (two clock reads per run).
    pub ns_per_run: f64,
    /// The share of the run (0 to 1) the programs were timed in; 1 in files from before
    /// sampling, which timed all of it.
    #[serde(default = "all_of_the_run")]
    pub measured_share: f64,
}

const fn all_of_the_run() -> f64 {
    1.0
}

impl ProbeOverhead {
    /// Kernel ns spent in tracer's programs over the whole run: measured, or scaled up from
    /// the sampled share (assuming the sampled seconds are like the rest).
    #[must_use]
    pub fn estimated_total_ns(&self) -> f64 {
        if self.measured_share > 0.0 {
            self.run_time_ns as f64 / self.measured_share
        } else {
            0.0
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// `--duration` elapsed.
    Duration,
    /// Ctrl-C (SIGINT).
    Interrupted,
    /// SIGTERM or SIGHUP.
    Terminated,
    /// The command given after `--` exited.
    CommandExited,
    /// Every `--pid` target exited.
    TargetsExited,
    /// Stopped through the agent API.
    Cancelled,
    /// The node agent was stopped (SIGTERM, a rollout) while recording.
    AgentStopped,
}

/// One requested target.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// As given: `pid:1234`, `command:curl`, `cgroup:/sys/fs/cgroup/...`, `pod:ns/name`.
    pub spec: String,
    /// Short display name: command name, pod name, ...
    pub name: String,
    /// Processes it resolved to when the recording started (children found later are in
    /// `processes` with `parent_target`).
    pub pids: Vec<u32>,
    /// cgroup v2 path when the target is a cgroup, container or pod.
    pub cgroup: Option<String>,
    /// Target-level CPU (the cgroup's cpu usage, or the sum over its processes).
    pub cpu: Option<Cpu>,
    /// Exit status of the command, for `record -- CMD`.
    pub exit_code: Option<i32>,
    /// For `record -- CMD`: the CPU time wait4 reported for the command and every descendant
    /// it reaped (a cross-check of `cpu`, which is the sum of the target's processes).
    #[serde(default)]
    pub rusage_cpu_ns: Option<u64>,
}

/// One traced process (tgid).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Process {
    pub pid: u32,
    /// Process name (`comm`), as of the end of the run or its exit.
    pub name: String,
    /// Index into `Run::targets` of the target it belongs to.
    pub target: usize,
    /// ns after the start of the run at which it exited, if it did.
    pub exited_after_ns: Option<u64>,
    /// Per-syscall totals, only for syscalls it made; exact.
    pub syscalls: Vec<SyscallStats>,
    /// Per-fd breakdown, most calls first.
    pub fds: Vec<FdStats>,
    /// On-CPU time of its threads.
    pub cpu: Option<Cpu>,
}

/// Totals of one syscall in one process.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SyscallStats {
    /// `read`, `writev`, ...
    pub syscall: String,
    /// `read` for read-like (read, readv, recvfrom, recvmsg, pread64, recvmmsg), else `write`.
    pub direction: Direction,
    pub calls: u64,
    /// Payload bytes: sum of positive return values.
    pub bytes: u64,
    /// Calls returning an error (EAGAIN included).
    pub errors: u64,
    /// Calls returning EAGAIN/EWOULDBLOCK.
    pub eagain: u64,
    /// Calls returning 0.
    pub zero_returns: u64,
    pub latency_total_ns: u64,
    pub latency_max_ns: u64,
    /// Error returns by errno, most frequent first.
    pub errnos: Vec<ErrnoCount>,
    /// Payload size per call with `ret > 0`, bytes.
    pub size: Histogram,
    /// Exit minus entry, ns.
    pub latency: Histogram,
    /// Of `latency_total_ns`, the time the calls spent switched out (waiting for data, a lock
    /// or a CPU); the rest, `latency_total_ns - waiting_total_ns`, is their on-CPU time.
    #[serde(default)]
    pub waiting_total_ns: u64,
    /// Time switched out per call, ns (schema 2).
    #[serde(default)]
    pub waiting: Histogram,
    /// Time on a CPU per call (latency minus waiting), ns (schema 2).
    #[serde(default)]
    pub on_cpu: Histogram,
}

#[derive(
    Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Read,
    Write,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ErrnoCount {
    pub errno: i32,
    /// Symbolic name, e.g. `EBADF`.
    pub name: String,
    pub count: u64,
}

/// Counters of one (syscall, fd) in one process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FdStats {
    /// -1 stands for calls whose fd did not fit in the kernel's per-fd map (see `Losses`).
    pub fd: i32,
    pub syscall: String,
    /// What the fd was at the time of the calls, as the kernel saw it (schema 1: when last
    /// looked at); the socket family and addresses are from /proc.
    pub kind: FdKind,
    /// The file's inode number as the kernel saw it at the calls (0: unknown): one row per
    /// (fd, file), so an fd number reused for another file is another row (schema 2).
    #[serde(default)]
    pub inode: u64,
    /// E.g. `tcp 127.0.0.1:41234 -> 127.0.0.1:8080`, `pipe:[1234]`, `/dev/null`.
    pub description: String,
    pub calls: u64,
    pub bytes: u64,
    pub errors: u64,
    pub eagain: u64,
    pub zero_returns: u64,
    /// Sum of exit-minus-entry times, and of the time switched out (schema 2).
    #[serde(default)]
    pub latency_total_ns: u64,
    #[serde(default)]
    pub waiting_total_ns: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FdKind {
    Tcp,
    Udp,
    Unix,
    Socket,
    Pipe,
    File,
    /// A character device (`/dev/null`, a terminal).
    Device,
    /// An anonymous inode: eventfd, timerfd, signalfd, epoll.
    Anon,
    Other,
    /// Closed or its process gone before it could be looked at.
    Unknown,
    /// The overflow bucket (fd -1).
    Overflow,
}

/// CPU used by a process or target.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    /// `schedstat` (per-thread on-CPU ns), `cgroup` (cpu.stat / cpuacct.usage) or `rusage`.
    pub source: String,
    /// Total on-CPU time during the run.
    pub on_cpu_ns: u64,
    /// User and system time (clock-tick resolution), when known.
    pub user_ns: Option<u64>,
    pub system_ns: Option<u64>,
    /// `on_cpu_ns / duration`.
    pub average_cores: f64,
    /// Highest per-interval value of `cores`.
    pub peak_cores: f64,
    /// Cores used in each interval of `Run::intervals`.
    pub cores: Vec<f64>,
}

/// What the kernel could not fit; every field is zero in a complete run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Losses {
    /// Calls counted in the per-syscall totals but not in the per-fd breakdown (fd shown as -1).
    pub fd_keys_overflowed: u64,
    /// Calls not counted at all (both maps full).
    pub calls_lost: u64,
    /// Histogram samples dropped (the histogram map was full).
    pub histogram_samples_lost: u64,
    /// Syscall entries not remembered: those calls are not counted.
    pub in_flight_full: u64,
    /// Children of targets that could not be added as targets: their calls are not counted.
    pub children_not_traced: u64,
    /// Exits of targets that could not be recorded.
    pub exits_not_recorded: u64,
    /// Threads whose CPU time at exit could not be recorded: theirs is as last sampled.
    #[serde(default)]
    pub thread_exits_not_recorded: u64,
}

impl Losses {
    #[must_use]
    pub fn is_complete(&self) -> bool {
        *self == Self::default()
    }
}

/// Totals over all traced processes in one interval.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    /// End of the interval, ns after the start of the run.
    pub end_ns: u64,
    /// Its true length, ns (the last one is usually shorter than the rest); per-second
    /// figures of the interval are its counts divided by this (schema 2; 0 in older files:
    /// the difference of consecutive `end_ns`).
    #[serde(default)]
    pub duration_ns: u64,
    pub read_calls: u64,
    pub write_calls: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Cores used by all targets in this interval.
    pub cores: f64,
}

/// A load generator's result (Fortio, oha, or the demo's own client).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LoadResult {
    /// `fortio`, `oha` or `tracer-demo`.
    pub tool: String,
    /// File it was imported from, if any.
    pub source: Option<String>,
    /// Requests completed (successful or not).
    pub requests: u64,
    /// Requests that failed (non-2xx or transport errors).
    pub errors: u64,
    pub duration_ns: u64,
    /// Achieved requests per second.
    pub qps: f64,
    /// Requested requests per second, when the generator was rate-limited.
    pub target_qps: Option<f64>,
    pub connections: Option<u32>,
    pub latency: RequestLatency,
    /// HTTP status code -> count.
    pub status_codes: std::collections::BTreeMap<String, u64>,
}

impl LoadResult {
    /// A load known only by its request count (`--requests N`), over a run of `duration_ns`.
    #[must_use]
    pub fn manual(requests: u64, duration_ns: u64) -> Self {
        Self {
            tool: "manual".into(),
            requests,
            duration_ns,
            qps: requests as f64 / (duration_ns as f64 / 1e9).max(1e-9),
            ..Self::default()
        }
    }
}

/// Request latency as Fortio reports it. All ns.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestLatency {
    pub average_ns: f64,
    pub min_ns: u64,
    pub max_ns: u64,
    pub p50_ns: u64,
    pub p75_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
}

/// Why a run file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read run file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("run file {path} is empty: record it again")]
    Empty { path: PathBuf },
    /// The file is larger than any run tracer writes in practice.
    #[error(
        "run file {path} is larger than {} MiB, the most tracer reads: pass a run file written by `tracer record`",
        MAX_RUN_FILE_BYTES >> 20
    )]
    TooLarge { path: PathBuf },
    /// The file is not JSON, or is cut short.
    #[error("run file {path} is not valid JSON ({source}): it may be truncated; record it again")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// JSON, but not a tracer run.
    #[error(
        "{path} is not a tracer run file (it has no \"kind\": \"{KIND}\"): pass a file written by `tracer record`"
    )]
    WrongKind { path: PathBuf },
    /// Written by a newer tracer.
    #[error(
        "run file {path} has schema {found}, newer than this tracer's {SCHEMA}: upgrade tracer to read it"
    )]
    NewerSchema { path: PathBuf, found: u64 },
    /// Right kind and schema, but fields missing or of the wrong type.
    #[error("run file {path} is damaged ({source}): record it again")]
    Invalid {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Run {
    /// Reads and checks a run file.
    pub fn read(path: &Path) -> Result<Self, ReadError> {
        use std::io::Read as _;
        let io = |source| ReadError::Io {
            path: path.to_owned(),
            source,
        };
        let mut text = String::new();
        fs::File::open(path)
            .and_then(|file| file.take(MAX_RUN_FILE_BYTES + 1).read_to_string(&mut text))
            .map_err(io)?;
        if text.len() as u64 > MAX_RUN_FILE_BYTES {
            return Err(ReadError::TooLarge {
                path: path.to_owned(),
            });
        }
        Self::from_json(&text, path)
    }

    /// Parses a run file's text; `path` only names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, ReadError> {
        /// What explains a file that is not a run this tracer reads; the rest is skipped, not
        /// stored, so a file is never held twice (as text and as a JSON tree).
        #[derive(Deserialize)]
        struct Header {
            kind: Option<String>,
            schema: Option<serde_json::Value>,
        }
        let path = path.to_owned();
        // Some editors save UTF-8 with a byte order mark: that is not a damaged file.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(ReadError::Empty { path });
        }
        // One pass in the common case; the header is read only to explain a failure.
        let decoded = serde_json::from_str::<Self>(text);
        if let Ok(run) = &decoded
            && run.kind == KIND
            && run.schema <= SCHEMA
        {
            return decoded.map_err(|source| ReadError::Invalid { path, source });
        }
        let header: Header = match serde_json::from_str(text) {
            Ok(header) => header,
            Err(source) => {
                // Valid JSON of another shape (an array, a "kind" that is not a string), or
                // not JSON at all (cut short, nested past the parser's depth limit).
                return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                    Ok(_) if source.is_data() => ReadError::WrongKind { path },
                    Ok(_) => ReadError::Json { path, source },
                    Err(source) => ReadError::Json { path, source },
                });
            }
        };
        if header.kind.as_deref() != Some(KIND) {
            return Err(ReadError::WrongKind { path });
        }
        let found = header
            .schema
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if found > u64::from(SCHEMA) {
            return Err(ReadError::NewerSchema { path, found });
        }
        decoded.map_err(|source| ReadError::Invalid { path, source })
    }

    /// Writes the run atomically (see [`write_atomically`]) with permission bits `mode`.
    pub fn write(&self, path: &Path, mode: u32) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(path, &json, mode)
    }
}

/// Permission bits of the files tracer writes unless told otherwise: run files and reports
/// name files, peers and processes, which other users of a shared node must not read.
pub const PRIVATE_MODE: u32 = 0o600;

/// Parses `--mode`: permission bits in octal (`600`, `0640`), with no set-id or sticky bits.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|&mode| !digits.is_empty() && mode <= 0o777)
        .ok_or_else(|| {
            format!("'{text}' is not a file mode: give octal permission bits such as 0600 or 0644")
        })
}

/// Replaces `path` with `bytes` so that readers see the old file, or the new one whole.
///
/// The bytes go to a new file with a random name in the same folder, created with
/// `O_CREAT | O_EXCL` (tempfile), so nothing planted in a shared folder such as /tmp — a
/// symlink, a hard link, an existing file — is ever opened or followed; it gets `mode`, is
/// fsynced, then renamed over `path` (which replaces a link at `path`, never its target).
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the output path names no file",
        )
    })?;
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut file = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .rand_bytes(12)
        .permissions(fs::Permissions::from_mode(PRIVATE_MODE))
        .tempfile_in(parent_folder(path))?;
    // Widened (if asked) only after creation: the umask must not narrow an explicit --mode.
    file.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    // On failure the temp file is removed when `file` drops.
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The folder a file path is in (`.` for a bare name).
#[must_use]
pub fn parent_folder(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

impl Process {
    /// Totals over the syscalls of one direction.
    #[must_use]
    pub fn totals(&self, direction: Direction) -> DirectionTotals {
        let mut totals = DirectionTotals::default();
        for stats in self.syscalls.iter().filter(|s| s.direction == direction) {
            totals.calls += stats.calls;
            totals.bytes += stats.bytes;
            totals.errors += stats.errors;
            totals.eagain += stats.eagain;
            totals.zero_returns += stats.zero_returns;
        }
        totals
    }

    /// Finds a syscall's totals by name.
    #[must_use]
    pub fn syscall(&self, name: &str) -> Option<&SyscallStats> {
        self.syscalls.iter().find(|s| s.syscall == name)
    }
}

/// Totals over read-like or write-like syscalls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionTotals {
    pub calls: u64,
    pub bytes: u64,
    pub errors: u64,
    pub eagain: u64,
    pub zero_returns: u64,
}

impl DirectionTotals {
    /// Calls that moved at least one byte.
    #[must_use]
    pub fn successful_calls(&self) -> u64 {
        // Saturating: a damaged run file must not make a report panic.
        self.calls
            .saturating_sub(self.errors)
            .saturating_sub(self.zero_returns)
    }

    /// Bytes per successful call (`ret > 0`), the write-coalescing measure; `None` without any.
    #[must_use]
    pub fn bytes_per_call(&self) -> Option<f64> {
        let calls = self.successful_calls();
        (calls > 0).then(|| self.bytes as f64 / calls as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Run {
        Run {
            schema: SCHEMA,
            kind: KIND.into(),
            tool: Tool {
                name: "tracer".into(),
                version: "0.1.0".into(),
            },
            host: Host {
                hostname: "h".into(),
                kernel: "6.18".into(),
                arch: "x86_64".into(),
                cpus: 2,
            },
            probe: ProbeInfo {
                capacities: std::collections::BTreeMap::new(),
                mechanism: "raw_tracepoint".into(),
                fallbacks: vec![],
                overhead: None,
                syscalls: None,
            },
            label: Some("no-mesh".into()),
            started_at: "2026-11-27T00:00:00Z".into(),
            start_monotonic_ns: 1,
            duration_ns: 2,
            end_reason: EndReason::Duration,
            targets: vec![],
            processes: vec![],
            losses: Losses::default(),
            intervals: vec![],
            load: None,
        }
    }

    /// A schema-1 file (as tracer wrote before the waiting/on-CPU split, fd kinds from the
    /// kernel and exact exit CPU) still reads, its new fields empty.
    #[test]
    fn reads_schema_1_files() {
        let path = Path::new("tests/fixtures/real/oha-direct.run.json");
        let text = fs::read_to_string(path).unwrap();
        assert!(
            text.contains("\"schema\": 1"),
            "the fixture is a schema-1 file"
        );
        let run = Run::from_json(&text, path).unwrap();
        assert_eq!(run.schema, 1);
        assert!(!run.processes.is_empty());
        let syscall = &run.processes[0].syscalls[0];
        assert!(syscall.calls > 0);
        assert_eq!(syscall.waiting_total_ns, 0);
        assert!(syscall.waiting.buckets.is_empty());
        assert!(run.intervals.iter().all(|i| i.duration_ns == 0));
        // A schema-1 file without a field schema 1 required is still refused, naming it.
        let mut damaged: serde_json::Value = serde_json::from_str(&text).unwrap();
        damaged["processes"][0]
            .as_object_mut()
            .unwrap()
            .remove("syscalls");
        let error = Run::from_json(&damaged.to_string(), path).unwrap_err();
        assert!(matches!(error, ReadError::Invalid { .. }), "{error}");
    }

    #[test]
    fn modes_are_octal_permission_bits() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("644"), Ok(0o644));
        for bad in ["", "8", "4755", "rw-r--r--", "0o644"] {
            assert!(parse_mode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trips_through_an_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        minimal().write(&path, PRIVATE_MODE).unwrap();
        assert_eq!(Run::read(&path).unwrap(), minimal());
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file left behind"
        );
    }

    #[test]
    fn refuses_newer_schema_truncated_empty_and_foreign_files() {
        let path = Path::new("x.json");
        let mut newer = serde_json::to_value(minimal()).unwrap();
        newer["schema"] = (SCHEMA + 1).into();
        assert!(matches!(
            Run::from_json(&newer.to_string(), path),
            Err(ReadError::NewerSchema { found, .. }) if found == u64::from(SCHEMA) + 1
        ));
        let full = serde_json::to_string(&minimal()).unwrap();
        assert!(matches!(
            Run::from_json(&full[..full.len() / 2], path),
            Err(ReadError::Json { .. })
        ));
        assert!(matches!(
            Run::from_json(" \n", path),
            Err(ReadError::Empty { .. })
        ));
        assert!(matches!(
            Run::from_json(r#"{"DurationHistogram": {}}"#, path),
            Err(ReadError::WrongKind { .. })
        ));
        let with_bom = format!("\u{feff}{full}");
        assert_eq!(Run::from_json(&with_bom, path).unwrap(), minimal());
        assert!(matches!(
            Run::from_json(r#"[{"kind": "tracer-run"}]"#, path),
            Err(ReadError::WrongKind { .. })
        ));
        let mut damaged = serde_json::to_value(minimal()).unwrap();
        damaged.as_object_mut().unwrap().remove("processes");
        assert!(matches!(
            Run::from_json(&damaged.to_string(), path),
            Err(ReadError::Invalid { .. })
        ));
    }

    #[test]
    fn bytes_per_read_counts_only_calls_that_moved_bytes() {
        let totals = DirectionTotals {
            calls: 4,
            bytes: 716,
            errors: 1,
            eagain: 1,
            zero_returns: 1,
        };
        assert_eq!(totals.bytes_per_call(), Some(358.0));
    }
}
