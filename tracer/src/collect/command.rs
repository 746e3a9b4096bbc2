//! Running the command given after `--` so that its very first syscall after exec is traced:
//! the child tells us its PID and waits on a pipe until we have added it to the targets.
use std::{
    io::{Read as _, Write as _},
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::process::CommandExt as _,
    },
    process::Command,
};

use crate::error::{ErrorKind, user};

/// A started command and a way to await its exit status.
/// How the command ended: exit code (128 + signal if killed) and the CPU it and its reaped
/// descendants used (user + system ns, from wait4's rusage).
#[derive(Clone, Copy, Debug)]
pub struct CommandExit {
    pub code: i32,
    pub cpu_ns: u64,
}

pub struct TracedCommand {
    exit: tokio::sync::oneshot::Receiver<CommandExit>,
    done: Option<CommandExit>,
    /// The command's standard output, when it was captured (a load generator's JSON).
    stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl TracedCommand {
    /// Waits until the command exits.
    pub async fn exited(&mut self) -> CommandExit {
        if let Some(exit) = self.done {
            return exit;
        }
        let exit = (&mut self.exit).await.unwrap_or(CommandExit {
            code: -1,
            cpu_ns: 0,
        });
        self.done = Some(exit);
        exit
    }

    /// How the command ended, once [`TracedCommand::exited`] has seen it end.
    #[must_use]
    pub fn status(&self) -> Option<CommandExit> {
        self.done
    }

    /// Everything the command wrote to its standard output, if it was captured; waits for
    /// the output to end (the command and every process holding its stdout exited).
    pub fn captured_stdout(&mut self) -> Option<Vec<u8>> {
        self.stdout.take().and_then(|reader| reader.join().ok())
    }
}

fn pipe() -> std::io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh fds that we now own.
    Ok(unsafe {
        (
            std::fs::File::from(OwnedFd::from_raw_fd(fds[0])),
            std::fs::File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    })
}

/// Why the command did not start, with the exit code `env` and `timeout` give it: 127 when
/// it was not found, 126 when it cannot be executed, 125 (tracer's own failure) otherwise.
fn cannot_start(program: &str, error: Option<&std::io::Error>) -> anyhow::Error {
    let kind = match error.map(std::io::Error::kind) {
        Some(std::io::ErrorKind::NotFound) => ErrorKind::CommandNotFound,
        Some(std::io::ErrorKind::PermissionDenied) => ErrorKind::CannotExecute,
        _ if error.and_then(std::io::Error::raw_os_error) == Some(libc::ENOEXEC) => {
            ErrorKind::CannotExecute
        }
        _ => ErrorKind::Usage,
    };
    let reason = error.map_or_else(|| "it did not start".into(), ToString::to_string);
    user(kind, format!("cannot run '{program}': {reason}"))
}

/// Starts `argv`, calls `add_target(pid)` while the child is held just before exec, then lets
/// it run. Its exit is reaped on a thread (wait4), so zombies never linger.
pub fn spawn_traced(
    argv: &[String],
    capture_stdout: bool,
    add_target: impl FnOnce(u32) -> anyhow::Result<()>,
) -> anyhow::Result<TracedCommand> {
    let (mut ready_read, ready_write) = pipe()?;
    let (go_read, mut go_write) = pipe()?;
    let ready_fd = ready_write.as_raw_fd();
    let go_fd = go_read.as_raw_fd();
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    if capture_stdout {
        command.stdout(std::process::Stdio::piped());
    }
    // SAFETY: the closure only calls async-signal-safe functions (getpid, write, read).
    unsafe {
        command.pre_exec(move || {
            let pid = libc::getpid().to_ne_bytes();
            libc::write(ready_fd, pid.as_ptr().cast(), pid.len());
            let mut byte = 0u8;
            if libc::read(go_fd, (&raw mut byte).cast(), 1) != 1 {
                return Err(std::io::Error::other(
                    "tracer went away before the command could start",
                ));
            }
            Ok(())
        });
    }
    // spawn() returns only after exec, which waits for our go-ahead: run it on a thread. The
    // child's ends stay open until spawn() returns, so their fd numbers cannot be reused by
    // spawn's own pipes before the fork; closing them then turns a failed start into EOF here.
    let spawner = std::thread::spawn(move || {
        let spawned = command.spawn();
        drop(ready_write);
        drop(go_read);
        spawned
    });
    let mut pid_bytes = [0u8; 4];
    let handshake = ready_read.read_exact(&mut pid_bytes);
    if handshake.is_err() {
        let error = spawner
            .join()
            .map_err(|_| anyhow::anyhow!("the command spawner panicked"))?
            .err();
        return Err(cannot_start(&argv[0], error.as_ref()));
    }
    let pid = u32::from_ne_bytes(pid_bytes);
    let added = add_target(pid);
    // Let the child go either way; if we failed, it will run untraced and we kill it.
    let _ = go_write.write_all(&[1]);
    drop(go_write);
    let child = spawner
        .join()
        .map_err(|_| anyhow::anyhow!("the command spawner panicked"))?;
    let child = child.map_err(|e| cannot_start(&argv[0], Some(&e)))?;
    if let Err(error) = added {
        // SAFETY: kill on our own child.
        unsafe { libc::kill(pid.cast_signed(), libc::SIGKILL) };
        return Err(error);
    }
    let mut child = child;
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        })
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut status = 0;
        // SAFETY: rusage is plain data, filled by wait4.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waiting for our own child with valid status and rusage pointers.
        let rc = unsafe { libc::wait4(pid.cast_signed(), &raw mut status, 0, &raw mut usage) };
        let timeval_ns = |t: libc::timeval| {
            u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000
                + u64::try_from(t.tv_usec).unwrap_or(0) * 1000
        };
        let cpu_ns = timeval_ns(usage.ru_utime) + timeval_ns(usage.ru_stime);
        let code = if rc < 0 {
            -1
        } else if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        drop(child);
        let _ = tx.send(CommandExit { code, cpu_ns });
    });
    Ok(TracedCommand {
        exit: rx,
        done: None,
        stdout,
    })
}
