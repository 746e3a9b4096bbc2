//! Root-only: what a run file must never hold. The probes count sizes, never payload bytes;
//! the environment is never stored; the command line only with `--with-cmdline`.
use std::process::{Command, Stdio};

use tracer::run::Run;

const TRACER: &str = env!("CARGO_BIN_EXE_tracer");

/// Sends the payload `argv[2]-argv[3]` (joined only at run time, so it never appears on the
/// command line) through a unix socket, a TCP connection on loopback and a pipe.
const SENDER: &str = r"
import os, socket, sys
payload = (sys.argv[2] + '-' + sys.argv[3]).encode()
a, b = socket.socketpair()
a.sendall(payload); assert b.recv(4096) == payload
listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen()
client = socket.create_connection(listener.getsockname()); server, _ = listener.accept()
client.sendall(payload); assert server.recv(4096) == payload
r, w = os.pipe(); os.write(w, payload); assert os.read(r, 4096) == payload
";

fn record(dir: &std::path::Path, nonce: &str, with_cmdline: bool) -> (String, Run) {
    // SAFETY: no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "run as root (CI does)");
    let out = dir.join(format!("secret-{with_cmdline}.json"));
    let mut command = Command::new(TRACER);
    command.args(["record", "--quiet", "-o", out.to_str().unwrap()]);
    if with_cmdline {
        command.arg("--with-cmdline");
    }
    let status = command
        .args(["--", "python3", "-c", SENDER])
        .args([format!("ARGSECRET{nonce}"), "PAYLOAD".into(), nonce.into()])
        .env("TRACER_TEST_SECRET", format!("ENVSECRET{nonce}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let run = Run::from_json(&text, &out).unwrap();
    (text, run)
}

#[test]
fn run_files_hold_no_payload_no_environment_and_no_arguments_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let nonce = format!(
        "{:x}{}",
        std::process::id(),
        dir.path().display().to_string().len()
    );
    let payload = format!("PAYLOAD-{nonce}");

    let (text, run) = record(dir.path(), &nonce, false);
    let python = run
        .processes
        .iter()
        .find(|p| p.syscall("sendto").is_some() || p.syscall("write").is_some())
        .expect("the sender's I/O was recorded");
    assert!(python.syscalls.iter().any(|s| s.bytes > 0));
    assert!(!text.contains(&payload), "payload bytes in the run file");
    assert!(
        !text.contains(&format!("ENVSECRET{nonce}")),
        "environment in the run file"
    );
    assert!(
        !text.contains(&format!("ARGSECRET{nonce}")),
        "arguments in the run file"
    );
    assert_eq!(run.targets[0].spec, "command:python3");

    let (text, run) = record(dir.path(), &nonce, true);
    assert!(
        run.targets[0].spec.starts_with("command:python3 -c ")
            && run.targets[0].spec.contains(&format!("ARGSECRET{nonce}")),
        "--with-cmdline stores the command line: {}",
        run.targets[0].spec
    );
    assert!(!text.contains(&payload), "payload bytes in the run file");
    assert!(
        !text.contains(&format!("ENVSECRET{nonce}")),
        "environment in the run file"
    );
}

/// BPF helper ids that can read user memory (where payloads live) or stream data out of the
/// kernel: the generic probe reads (which may read user memory on x86), the user-memory
/// reads and copies, trace printing, and the perf and ring buffer outputs.
const PAYLOAD_HELPERS: [(i32, &str); 10] = [
    (4, "bpf_probe_read"),
    (6, "bpf_trace_printk"),
    (25, "bpf_perf_event_output"),
    (45, "bpf_probe_read_str"),
    (112, "bpf_probe_read_user"),
    (114, "bpf_probe_read_user_str"),
    (130, "bpf_ringbuf_output"),
    (131, "bpf_ringbuf_reserve"),
    (148, "bpf_copy_from_user"),
    (191, "bpf_copy_from_user_task"),
];

/// ELF section flag of code.
const SHF_EXECINSTR: u64 = 4;

/// The instructions of the executable sections of a BPF ELF object, with their section's
/// file offset.
fn instructions(object: &[u8]) -> Vec<(usize, [u8; 8])> {
    let u16_at = |at: usize| u16::from_le_bytes(object[at..at + 2].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(object[at..at + 8].try_into().unwrap());
    let as_usize = |v: u64| usize::try_from(v).unwrap();
    assert_eq!(&object[..4], b"\x7fELF", "not an ELF object");
    let (section_table, entry_size, count) = (as_usize(u64_at(0x28)), u16_at(0x3a), u16_at(0x3c));
    let mut all = Vec::new();
    for index in 0..usize::from(count) {
        let header = section_table + index * usize::from(entry_size);
        let (flags, offset, size) = (u64_at(header + 8), u64_at(header + 24), u64_at(header + 32));
        if flags & SHF_EXECINSTR == 0 {
            continue;
        }
        let code = &object[as_usize(offset)..as_usize(offset + size)];
        all.extend(
            code.chunks_exact(8)
                .map(|instruction| (as_usize(offset), instruction.try_into().unwrap())),
        );
    }
    all
}

/// Helper ids called by the executable sections of a BPF ELF object, with a section name.
fn helper_calls(object: &[u8]) -> std::collections::BTreeMap<i32, String> {
    let mut calls = std::collections::BTreeMap::new();
    for (offset, instruction) in instructions(object) {
        // BPF_JMP | BPF_CALL with source register 0: a helper call, id in imm.
        if instruction[0] == 0x85 && instruction[1] >> 4 == 0 {
            let id = i32::from_le_bytes(instruction[4..8].try_into().unwrap());
            calls
                .entry(id)
                .or_insert_with(|| format!("section at {offset:#x}"));
        }
    }
    calls
}

/// The object tracer's build.rs built (and the binary embeds): the newest one.
fn probes_object() -> std::path::PathBuf {
    let build = std::path::Path::new(TRACER).parent().unwrap().join("build");
    std::fs::read_dir(&build)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("tracer-"))
        .map(|e| e.path().join("out/tracer"))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("tracer's build.rs leaves the probes in OUT_DIR")
}

/// Atomic read-modify-write instructions other than add (or, and, xor, exchange, compare and
/// exchange, fetching forms) exist only since Linux 5.12: the probes must load on the 5.8–5.11
/// kernels of many nodes (Debian 11, Amazon Linux 2), so they use none.
#[test]
fn the_probes_use_no_atomic_instruction_newer_than_add() {
    let object = probes_object();
    // BPF_STX | BPF_ATOMIC with size W (0xc3) or DW (0xdb); imm 0 is BPF_ADD without fetch,
    // the old XADD.
    let newer: Vec<String> = instructions(&std::fs::read(&object).unwrap())
        .into_iter()
        .filter(|(_, i)| matches!(i[0], 0xc3 | 0xdb))
        .filter(|(_, i)| i32::from_le_bytes(i[4..8].try_into().unwrap()) != 0)
        .map(|(offset, i)| format!("section at {offset:#x}: {i:02x?}"))
        .collect();
    assert!(newer.is_empty(), "{}: {newer:?}", object.display());
}

#[test]
fn the_probes_call_no_helper_that_reads_user_memory_or_streams_events() {
    let object = probes_object();
    let calls = helper_calls(&std::fs::read(&object).unwrap());
    eprintln!(
        "{}: helpers {:?}",
        object.display(),
        calls.keys().collect::<Vec<_>>()
    );
    assert!(
        calls.contains_key(&1),
        "the scan finds map lookups: {calls:?}"
    );
    for (id, name) in PAYLOAD_HELPERS {
        assert!(
            !calls.contains_key(&id),
            "the probes call {name} ({id}), which can copy payload bytes"
        );
    }
}

/// Local addresses (hex `ADDR:PORT` as in /proc/net) of the listening TCP sockets of `pid`.
fn listening_addresses(pid: u32) -> Vec<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut addresses = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // State 0A is LISTEN; field 9 is the inode.
            if fields.get(3) == Some(&"0A")
                && fields.get(9).is_some_and(|i| inodes.iter().any(|o| o == i))
            {
                addresses.push(fields[1].to_owned());
            }
        }
    }
    addresses
}

#[test]
fn the_agent_listens_on_loopback_only_by_default() {
    use std::io::BufRead as _;
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(host.path().join("var/log/pods")).unwrap();
    let mut agent = Command::new(TRACER)
        // The tests run on the host's loopback, shared with every local user: the agent serves
        // it without a token only when told so.
        .args(["agent", "--insecure-local", "--host-root"])
        .arg(host.path())
        .arg("--cgroup-root")
        .arg(host.path())
        .arg("--state-dir")
        .arg(host.path().join("tracer-state"))
        .env_remove("TRACER_HOST_ROOT")
        .env_remove("TRACER_CGROUP_ROOT")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(agent.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.contains("cannot listen on 127.0.0.1:9464") {
        // Another agent holds the default port: the default is still loopback.
        let _ = agent.wait();
        return;
    }
    assert!(
        line.starts_with("tracer agent: API on http://127.0.0.1:9464"),
        "{line}"
    );
    let listening = listening_addresses(agent.id());
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(!listening.is_empty(), "the agent listens");
    for address in &listening {
        // 127.0.0.1 as /proc/net/tcp writes it (little-endian words), or ::1 in tcp6.
        assert!(
            address.starts_with("0100007F:")
                || address.starts_with("00000000000000000000000001000000:"),
            "the agent listens on {address}, not on loopback"
        );
    }
}

/// Issue #18, item 1: as `nobody`, symlinks planted in a sticky world-writable folder at the
/// names root's tracer used to create (`.tracer-write-check-PID`, `.NAME.PID.tmp`, the output
/// itself) made it truncate and overwrite root's files. Every name is planted here, for the
/// next 400 PIDs; the links are root's own, so the kernel follows them whatever
/// `fs.protected_symlinks` says: only tracer not following them keeps the targets whole.
#[test]
fn links_planted_in_a_sticky_folder_are_never_followed_and_run_files_are_private() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _, symlink};
    // SAFETY: no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "run as root (CI does)");
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victims: Vec<std::path::PathBuf> = ["check", "tmp", "output"]
        .iter()
        .map(|name| root.path().join(format!("victim-{name}")))
        .collect();
    for victim in &victims {
        std::fs::write(victim, "root's own data\n").unwrap();
    }
    let next_pid: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for pid in next_pid..next_pid + 400 {
        symlink(
            &victims[0],
            shared.join(format!(".tracer-write-check-{pid}")),
        )
        .unwrap();
        symlink(&victims[1], shared.join(format!(".run.json.{pid}.tmp"))).unwrap();
    }
    let out = shared.join("run.json");
    symlink(&victims[2], &out).unwrap();
    let planted = std::fs::read_dir(&shared).unwrap().count();

    let output = Command::new(TRACER)
        .args(["record", "--quiet", "-o"])
        .arg(&out)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for victim in &victims {
        assert_eq!(
            std::fs::read_to_string(victim).unwrap(),
            "root's own data\n",
            "{} was written through a planted link",
            victim.display()
        );
    }
    let written = std::fs::symlink_metadata(&out).unwrap();
    assert!(written.file_type().is_file(), "the link itself is replaced");
    assert_eq!(written.mode() & 0o7777, 0o600, "run files are private");
    Run::read(&out).unwrap();
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        planted,
        "no temporary file is left behind"
    );

    // Reports share the writer; --mode widens on request, the umask does not narrow it.
    let report = shared.join("report.md");
    let status = Command::new(TRACER)
        .args(["report", "--mode", "0644", "-o"])
        .arg(&report)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::metadata(&report).unwrap().mode() & 0o7777, 0o644);
}

/// Issue #18, item 5: without `--with-cmdline`, the command's arguments are not printed.
#[test]
fn stderr_names_the_program_but_not_its_arguments() {
    // SAFETY: no preconditions.
    assert!(unsafe { libc::geteuid() } == 0, "run as root (CI does)");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.json");
    let output = Command::new(TRACER)
        .args(["record", "-o"])
        .arg(&out)
        .args(["--", "sh", "-c", "exit 0", "PASSWORD-ON-THE-LINE"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("tracer: recording 'sh' and its children"),
        "{stderr}"
    );
    assert!(!stderr.contains("PASSWORD"), "{stderr}");
}
