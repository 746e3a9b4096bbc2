//! One recording from its start to its run, the same for `tracer record` and the node agent:
//! the probes and targets (a [`Session`]), an optional command started under tracing, and the
//! loop that samples once per interval until the recording ends — its duration is up, its
//! command exited, every target it started with is gone, or whoever runs it says stop (a
//! signal for the CLI, a cancel request for the agent).
use std::{future::Future, path::Path, time::Duration};

use super::{
    Joined, Session, TargetSpec, Tick,
    command::{self, TracedCommand},
};
use crate::{
    probe::ProbeOptions,
    run::{EndReason, Run},
};

/// When a recording ends by itself, and how often it samples.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// `None`: until stopped, the command exits or the targets are gone.
    pub duration: Option<Duration>,
    pub interval: Duration,
}

/// A command to start under tracing: counted from its exec, with its children.
#[derive(Clone, Debug)]
pub struct CommandSpec {
    pub argv: Vec<String>,
    /// Keep its standard output (a load generator's JSON result).
    pub capture_stdout: bool,
    /// As the run file's target list shows it (`command:curl`).
    pub spec: String,
}

/// Moments, after the start, at which new fds are described before the first interval: an fd
/// can only be described while its process lives, and a command may end within milliseconds.
const EARLY_LOOKS_MS: [u64; 5] = [10, 30, 100, 300, 600];

/// A recording in progress: its session and, if it started one, its command.
pub struct Recorder {
    session: Session,
    /// The command's target index and the command.
    command: Option<(usize, TracedCommand)>,
}

impl Recorder {
    /// Attaches the probes and adds the targets, which are counted from now on. The probes
    /// filter by cgroup too when any target is a cgroup v2 one (`options.filter_by_cgroup`).
    pub fn start(
        mut options: ProbeOptions,
        label: Option<String>,
        targets: Vec<TargetSpec>,
    ) -> anyhow::Result<Self> {
        options.filter_by_cgroup = targets.iter().any(TargetSpec::is_cgroup_v2);
        let mut session = Session::start(&options, label)?;
        for target in targets {
            session.add_target(target, Joined::Running)?;
        }
        Ok(Self {
            session,
            command: None,
        })
    }

    /// Starts `command`, held before its exec until it is a target: its first counted syscall
    /// is its new program's first.
    pub fn start_command(&mut self, command: CommandSpec) -> anyhow::Result<()> {
        let program = &command.argv[0];
        let name = Path::new(program)
            .file_name()
            .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned());
        let index = self.session.target_count();
        let session = &mut self.session;
        let started = command::spawn_traced(&command.argv, command.capture_stdout, |pid| {
            let target = TargetSpec {
                spec: command.spec,
                name,
                pids: vec![pid],
                cgroup: None,
                follows_exec: true,
            };
            session.add_target(target, Joined::AtExec).map(drop)
        })?;
        self.command = Some((index, started));
        Ok(())
    }

    /// Reads the histograms every interval, so each [`Tick`] carries them (live metrics).
    pub fn read_histograms_every_interval(&mut self) {
        self.session.read_histograms_every_interval();
    }

    /// The attach mechanism the probes run on.
    #[must_use]
    pub fn mechanism(&self) -> &'static str {
        self.session.mechanism()
    }

    /// Samples once per interval (`on_tick` sees each interval's figures) until the recording
    /// ends; `stop` ends it from outside with its own reason. Returns why it ended.
    pub async fn record(
        &mut self,
        schedule: Schedule,
        stop: impl Future<Output = EndReason>,
        mut on_tick: impl FnMut(&Tick),
    ) -> anyhow::Result<EndReason> {
        let started = tokio::time::Instant::now();
        let deadline = schedule.duration.map(|d| started + d);
        let mut ticker = tokio::time::interval(schedule.interval);
        ticker.tick().await;
        let mut early_looks = EARLY_LOOKS_MS
            .map(|ms| started + Duration::from_millis(ms))
            .into_iter();
        let mut next_look = early_looks.next();
        tokio::pin!(stop);
        loop {
            let until_deadline = sleep_until(deadline);
            let look = sleep_until(next_look);
            let command_exit = async {
                match self.command.as_mut() {
                    Some((_, command)) => command.exited().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = look => {
                    self.session.describe_fds()?;
                    next_look = early_looks.next();
                }
                _ = ticker.tick() => {
                    on_tick(&self.session.tick()?);
                    if self.command.is_none() && self.session.all_initial_targets_gone() {
                        return Ok(EndReason::TargetsExited);
                    }
                }
                () = until_deadline => return Ok(EndReason::Duration),
                exit = command_exit => {
                    if let Some((index, _)) = &self.command {
                        self.session.set_command_exit(*index, exit.code, exit.cpu_ns);
                    }
                    return Ok(EndReason::CommandExited);
                }
                reason = &mut stop => return Ok(reason),
            }
        }
    }

    /// The run, and the command (to collect what it wrote) if the recording started one.
    pub fn finish(self, end_reason: EndReason) -> anyhow::Result<(Run, Option<TracedCommand>)> {
        let run = self.session.finish(end_reason)?;
        Ok((run, self.command.map(|(_, command)| command)))
    }

    /// The run and the figures of its last interval (from the last tick to the end), for a
    /// recording that follows every interval (the agent's live metrics).
    pub fn finish_with_tick(self, end_reason: EndReason) -> anyhow::Result<(Run, Tick)> {
        self.session.finish_with_tick(end_reason)
    }
}

/// Sleeps until `at`, or forever when there is no such moment.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
