//! The demo's child processes and the orchestrator's signal handling.
//!
//! Every child gets its stdout/stderr read line by line on a thread, so the orchestrator can
//! wait for a readiness line with a timeout while still noticing Ctrl-C/SIGTERM and a child
//! that died. Children sit in their own process group (a terminal's Ctrl-C reaches only the
//! orchestrator, which stops them in order) and get SIGKILL if the orchestrator dies
//! (`PR_SET_PDEATHSIG`). Dropping [`Children`] kills and reaps whatever is still running.
use std::{
    io::{BufRead as _, BufReader, Read},
    os::unix::process::CommandExt as _,
    process::{Child, ChildStdin, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError, Sender},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;

/// Set by SIGINT, SIGTERM or SIGHUP.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// Turns SIGINT/SIGTERM/SIGHUP into [`stop_requested`] instead of death, so guards run.
pub fn install_stop_handlers() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // function pointer has the `extern "C" fn(c_int)` signature `signal` expects.
        unsafe {
            libc::signal(signal, on_stop_signal as *const () as libc::sighandler_t);
        }
    }
}

#[must_use]
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// The demo was stopped by a signal; everything it made has been removed by the time `main`
/// sees this.
#[derive(Debug, thiserror::Error)]
#[error("the demo was interrupted; its processes and namespaces were removed")]
pub struct Interrupted;

/// A line a child printed.
#[derive(Clone, Debug)]
pub enum Line {
    Stdout(String),
    Stderr(String),
}

pub struct Spawned {
    pub name: String,
    child: Child,
    pub stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    /// Every line seen so far, for error messages and for parsing results.
    pub seen: Vec<Line>,
    /// Print its lines as they arrive, indented.
    echo: bool,
}

/// Children of one phase of the demo; dropped = killed and reaped.
#[derive(Default)]
pub struct Children {
    list: Vec<Spawned>,
}

/// How long children may take to say they are ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Children {
    /// Starts `command` with piped output (and stdin when `with_stdin`); returns its index.
    pub fn spawn(
        &mut self,
        name: &str,
        mut command: Command,
        with_stdin: bool,
        echo: bool,
    ) -> anyhow::Result<usize> {
        command
            .stdin(if with_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: between fork and exec only async-signal-safe calls are made: prctl.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        let (sender, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            forward_lines(stdout, sender.clone(), Line::Stdout);
        }
        if let Some(stderr) = child.stderr.take() {
            forward_lines(stderr, sender, Line::Stderr);
        }
        let stdin = child.stdin.take();
        self.list.push(Spawned {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            seen: Vec::new(),
            echo,
        });
        Ok(self.list.len() - 1)
    }

    #[must_use]
    pub fn pid(&self, index: usize) -> u32 {
        self.list[index].child.id()
    }

    #[must_use]
    pub fn get(&self, index: usize) -> &Spawned {
        &self.list[index]
    }

    pub fn get_mut(&mut self, index: usize) -> &mut Spawned {
        &mut self.list[index]
    }

    /// Waits for a line that `wanted` accepts; fails if the child exits first, the timeout
    /// passes, or a stop signal arrives.
    pub fn wait_for_line(
        &mut self,
        index: usize,
        timeout: Duration,
        wanted: impl Fn(&Line) -> bool,
    ) -> anyhow::Result<String> {
        self.receive(
            index,
            timeout,
            "did not get ready within",
            |line| {
                wanted(line).then(|| {
                    let (Line::Stdout(text) | Line::Stderr(text)) = line;
                    text.clone()
                })
            },
            |child| {
                let status = child.child.wait().ok();
                Err(child.failure(&format!("exited ({})", describe(status))))
            },
        )
    }

    /// Waits for the child to exit (collecting its output); fails on timeout or stop signal.
    pub fn wait_exit(&mut self, index: usize, timeout: Duration) -> anyhow::Result<ExitStatus> {
        self.receive(
            index,
            timeout,
            "still running after",
            |_| None,
            // Output closed: the process is exiting.
            |child| {
                child
                    .child
                    .wait()
                    .with_context(|| format!("cannot wait for {}", child.name))
            },
        )
    }

    /// Receives a child's lines (echoing and keeping each) until `on_line` makes something of
    /// one, or its output closes (then `on_close` says what that means); fails with "`late` N
    /// s" when the timeout passes first, and on a stop signal.
    fn receive<T>(
        &mut self,
        index: usize,
        timeout: Duration,
        late: &str,
        on_line: impl Fn(&Line) -> Option<T>,
        on_close: impl FnOnce(&mut Spawned) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        let child = &mut self.list[index];
        loop {
            if stop_requested() {
                return Err(Interrupted.into());
            }
            match child.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    child.echo_line(&line);
                    let done = on_line(&line);
                    child.seen.push(line);
                    if let Some(done) = done {
                        return Ok(done);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return on_close(child),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= deadline {
                return Err(child.failure(&format!("{late} {} s", timeout.as_secs())));
            }
        }
    }

    /// Sends a signal to one child.
    pub fn signal(&self, index: usize, signal: libc::c_int) {
        let Ok(pid) = libc::pid_t::try_from(self.pid(index)) else {
            return;
        };
        // SAFETY: kill has no memory-safety preconditions; the PID is our own unreaped child,
        // so it cannot have been reused by another process.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

impl Spawned {
    fn echo_line(&self, line: &Line) {
        if self.echo {
            let (Line::Stdout(text) | Line::Stderr(text)) = line;
            super::say!("    {text}");
        }
    }

    /// An error naming the child and quoting its last lines of stderr.
    fn failure(&self, what: &str) -> anyhow::Error {
        let tail: Vec<&str> = self
            .seen
            .iter()
            .filter_map(|line| match line {
                Line::Stderr(text) => Some(text.as_str()),
                Line::Stdout(_) => None,
            })
            .rev()
            .take(5)
            .collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        if tail.is_empty() {
            anyhow::anyhow!("{} {what}", self.name)
        } else {
            anyhow::anyhow!("{} {what}: {}", self.name, tail.join(" | "))
        }
    }

    /// Stdout lines seen so far.
    pub fn stdout_lines(&self) -> impl Iterator<Item = &str> {
        self.seen.iter().filter_map(|line| match line {
            Line::Stdout(text) => Some(text.as_str()),
            Line::Stderr(_) => None,
        })
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in self.list.iter_mut().rev() {
            if matches!(child.child.try_wait(), Ok(None)) {
                let _ = child.child.kill();
            }
            let _ = child.child.wait();
        }
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    status.map_or_else(|| "status unknown".to_owned(), |status| status.to_string())
}

fn forward_lines<R: Read + Send + 'static>(
    stream: R,
    sender: Sender<Line>,
    wrap: fn(String) -> Line,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(wrap(line)).is_err() {
                break;
            }
        }
    });
}
