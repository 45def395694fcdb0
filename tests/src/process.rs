//! Child processes with bounded lifetimes: every command the lab runs either finishes within a
//! deadline or is killed, and every long-running child is killed when its guard is dropped.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How often a bounded wait looks at the child again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How long a guard waits after SIGTERM before it sends SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(3);

/// Runs `command` to completion with stdout and stderr captured, killing it if it is still
/// running after `timeout`.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> anyhow::Result<Output> {
    let description = describe(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning `{description}`"))?;
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let stdout = drain_pipe(child.stdout.take());
    let stderr = drain_pipe(child.stderr.take());
    let status = wait_with_deadline(&mut child, timeout)?;
    let output = Output {
        status: status.unwrap_or_else(|| kill_and_reap(&mut child)),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if status.is_none() {
        bail!(
            "`{description}` did not finish within {timeout:?} and was killed; stdout: {}; stderr: {}",
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim(),
        );
    }
    Ok(output)
}

/// Runs `program args...` bounded by `timeout` and fails unless it exits with status 0.
/// Returns its stdout.
pub fn run_checked(program: &str, args: &[&str], timeout: Duration) -> anyhow::Result<String> {
    let output = run_bounded(Command::new(program).args(args), timeout)?;
    if !output.status.success() {
        bail!(
            "`{program} {}` failed with {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Waits until `child` exits or `timeout` passes; `None` means it is still running.
pub fn wait_with_deadline(
    child: &mut Child,
    timeout: Duration,
) -> anyhow::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Sends `signal` to `child`, which must not have been reaped yet (so its pid is still its own).
pub fn send_signal(child: &Child, signal: libc::c_int) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
    // SAFETY: kill(2) has no memory-safety preconditions; the pid belongs to our unreaped child.
    if unsafe { libc::kill(pid, signal) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("kill({pid}, {signal})"));
    }
    Ok(())
}

/// A long-running child that is stopped when the guard is dropped: SIGTERM first, SIGKILL if it
/// is still there after a grace period.
pub struct ChildGuard {
    child: Child,
    name: String,
}

impl ChildGuard {
    pub fn new(child: Child, name: impl Into<String>) -> Self {
        Self {
            child,
            name: name.into(),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the child, unless it has exited (and been reaped) already.
    pub fn signal(&mut self, signal: libc::c_int) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}) before signal {signal}", self.name);
        }
        send_signal(&self.child, signal)
    }

    /// Whether the child has exited (it is reaped if so).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; SIGKILLs and fails if it takes longer.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        send_signal(&self.child, libc::SIGTERM)?;
        match wait_with_deadline(&mut self.child, timeout)? {
            Some(status) => Ok(status),
            None => {
                kill_and_reap(&mut self.child);
                bail!(
                    "{} did not exit within {timeout:?} of SIGTERM and was killed",
                    self.name
                )
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Err(err) = self.terminate(TERMINATE_GRACE) {
            eprintln!("warning: stopping {}: {err:#}", self.name);
        }
    }
}

fn kill_and_reap(child: &mut Child) -> ExitStatus {
    // Errors mean it is already gone; `wait` then returns its status.
    let _ = child.kill();
    match child.wait() {
        Ok(status) => status,
        Err(_) => std::os::unix::process::ExitStatusExt::from_raw(libc::SIGKILL),
    }
}

fn drain_pipe(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error just ends the capture; the exit status tells what happened.
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
