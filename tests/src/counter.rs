//! The `dns-counter run` daemon under test, running in the lab's resolver namespace.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::lab::Lab;
use crate::process::ChildGuard;
use crate::report::{ReportFile, read_reports};

/// The daemon prints a stderr line containing this once its XDP program is attached.
pub const READY_MARKER: &str = "counting on";
/// Loading and attaching the program is quick, but a cold machine may be slow.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// After SIGTERM the daemon drains the maps and writes one last report.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `dns-counter run`; killed on drop if [`Counter::stop`] was not called.
pub struct Counter {
    process: ChildGuard,
    out_dir: PathBuf,
    stderr_lines: Arc<Mutex<Vec<String>>>,
    output_readers: Vec<JoinHandle<()>>,
}

impl Counter {
    /// Starts `<dns_counter> run --iface <resolver veth> --out-dir <out_dir> <extra_args>` inside
    /// the resolver namespace and waits until it says it is counting.
    pub fn start(
        dns_counter: &Path,
        lab: &Lab,
        out_dir: &Path,
        extra_args: &[&str],
    ) -> anyhow::Result<Self> {
        Self::start_with_env(dns_counter, lab, out_dir, extra_args, &[])
    }

    /// [`Counter::start`] with these environment variables set for the daemon.
    pub fn start_with_env(
        dns_counter: &Path,
        lab: &Lab,
        out_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &OsStr)],
    ) -> anyhow::Result<Self> {
        Self::start_wrapped(dns_counter, lab, out_dir, extra_args, env, &[])
    }

    /// [`Counter::start_with_env`] with the daemon run through `wrapper` (a program and its
    /// arguments that exec the rest, such as `setpriv --reuid=...`), which keeps its pid.
    pub fn start_wrapped(
        dns_counter: &Path,
        lab: &Lab,
        out_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &OsStr)],
        wrapper: &[&str],
    ) -> anyhow::Result<Self> {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Lab::netns_command(lab.resolver_ns(), program);
                command.args(args).arg(dns_counter);
                command
            }
            None => Lab::netns_command(lab.resolver_ns(), dns_counter),
        };
        let mut child = command
            .args(["run", "--iface", lab.resolver_iface(), "--out-dir"])
            .arg(out_dir)
            .args(extra_args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {}", dns_counter.display()))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        // The guard exists before anything can fail, so an early return still kills the daemon.
        let process = ChildGuard::new(child, "dns-counter");

        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_sender, ready_receiver) = mpsc::channel();
        let mut output_readers = vec![forward_lines(stdout, "dns-counter stdout", |_| ())];
        let collected = Arc::clone(&stderr_lines);
        output_readers.push(forward_lines(stderr, "dns-counter", move |line| {
            if line.contains(READY_MARKER) {
                // The receiver is gone once startup is over; later markers need no one.
                let _ = ready_sender.send(());
            }
            collected
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line.to_owned());
        }));

        let mut counter = Self {
            process,
            out_dir: out_dir.to_path_buf(),
            stderr_lines,
            output_readers,
        };
        match ready_receiver.recv_timeout(START_TIMEOUT) {
            Ok(()) => Ok(counter),
            // Stderr closed without the marker: the daemon exited (or closed stderr) while starting.
            Err(RecvTimeoutError::Disconnected) => {
                let status = counter.process.terminate(STOP_TIMEOUT)?;
                bail!(
                    "dns-counter exited with {status} before `{READY_MARKER}`; stderr:\n{}",
                    counter.stderr()
                )
            }
            Err(RecvTimeoutError::Timeout) => {
                bail!(
                    "dns-counter did not print `{READY_MARKER}` within {START_TIMEOUT:?}; stderr:\n{}",
                    counter.stderr()
                )
            }
        }
    }

    /// Sends SIGTERM (the daemon writes the partial interval's report and detaches) and requires
    /// a clean exit within a bound. Returns the reports it wrote.
    pub fn stop(&mut self) -> anyhow::Result<Vec<ReportFile>> {
        let started = Instant::now();
        let status = self.process.terminate(STOP_TIMEOUT)?;
        self.join_output_readers();
        check_exit(status, &self.stderr())?;
        eprintln!("dns-counter stopped in {:?}", started.elapsed());
        self.reports()
    }

    /// The reports written so far, oldest first.
    pub fn reports(&self) -> anyhow::Result<Vec<ReportFile>> {
        read_reports(&self.out_dir)
    }

    /// The daemon's pid (`ip netns exec` execs it in place), for its CPU time and memory in /proc.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Sends `signal` to the daemon, which goes on running.
    pub fn signal(&mut self, signal: libc::c_int) -> anyhow::Result<()> {
        self.process.signal(signal)
    }

    /// Waits up to `timeout` for a stderr line containing `text`, `count` times in all.
    pub fn wait_for_stderr(
        &self,
        text: &str,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.stderr().matches(text).count() < count {
            if Instant::now() > deadline {
                bail!(
                    "no stderr line with {text:?} ({count} wanted) within {timeout:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Everything the daemon printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr_lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .join("\n")
    }

    fn join_output_readers(&mut self) {
        for reader in self.output_readers.drain(..) {
            // A reader only ends when the pipe closes; a panic in it has been printed already.
            let _ = reader.join();
        }
    }
}

/// Reports end on multiples of the interval counted from the Unix epoch. A test that needs all
/// its traffic in one report calls this before starting the counter: if fewer than `room`
/// remain before the next boundary, it sleeps past that boundary.
pub fn wait_for_room_in_interval(interval: Duration, room: Duration) {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let interval_nanos = interval.as_nanos().max(1);
    let left_nanos = interval_nanos - since_epoch.as_nanos() % interval_nanos;
    let left = Duration::from_nanos(u64::try_from(left_nanos).unwrap_or(u64::MAX));
    if left < room {
        eprintln!("waiting {left:?} for the next {interval:?} interval to begin");
        thread::sleep(left + Duration::from_millis(200));
    }
}

fn check_exit(status: ExitStatus, stderr: &str) -> anyhow::Result<()> {
    if !status.success() {
        bail!("dns-counter exited with {status} after SIGTERM (expected 0); stderr:\n{stderr}");
    }
    Ok(())
}

/// Reads `pipe` line by line on a thread, echoing each line with a prefix (the test harness shows
/// it for failing tests) and handing it to `on_line`.
fn forward_lines(
    pipe: Option<impl Read + Send + 'static>,
    prefix: &'static str,
    mut on_line: impl FnMut(&str) + Send + 'static,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let Some(pipe) = pipe else { return };
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            eprintln!("[{prefix}] {line}");
            on_line(&line);
        }
    })
}
