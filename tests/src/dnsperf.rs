//! Runs dnsperf from the lab's client namespace and reads its summary.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::bench::count_bound;
use crate::lab::Lab;
use crate::prereq::program_path;
use crate::process::run_bounded;

/// Extra time beyond dnsperf's own limits before the runner kills it.
const KILL_SLACK: Duration = Duration::from_secs(15);
/// Runs of [`Dnsperf::run_for_time_limit`] before it gives up on reaching the time limit.
const TIMED_ATTEMPTS: usize = 3;

/// One bounded dnsperf run. By default each line of the datafile is sent once (`-n 1`), so a
/// workload's counts are exact; [`Dnsperf::runs_through_datafile`] lets it loop.
#[derive(Debug, Clone)]
pub struct Dnsperf<'a> {
    server: IpAddr,
    datafile: &'a Path,
    max_qps: Option<u32>,
    time_limit: Duration,
    query_timeout: Duration,
    outstanding: u32,
    runs: u64,
}

/// The counts from dnsperf's "Statistics:" block, and why it stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DnsperfSummary {
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    /// dnsperf's own "Run time (s)": from the first query to the last sent or answered.
    pub run_seconds: f64,
    pub ended: Ended,
}

/// Why dnsperf stopped sending ("Testing complete (…)").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Its `-l` time limit.
    TimeLimit,
    /// Its `-n` runs through the datafile were used up.
    EndOfInput,
    /// A signal.
    Interrupted,
}

impl DnsperfSummary {
    /// Queries sent per second of dnsperf's run time.
    pub fn sent_per_second(&self) -> f64 {
        self.sent as f64 / self.run_seconds
    }
}

impl<'a> Dnsperf<'a> {
    pub fn new(server: IpAddr, datafile: &'a Path) -> Self {
        Self {
            server,
            datafile,
            max_qps: None,
            time_limit: Duration::from_secs(30),
            query_timeout: Duration::from_secs(5),
            outstanding: 100,
            runs: 1,
        }
    }

    /// Runs through the datafile at most `runs` times (`-n`), looping over it until the time
    /// limit; at least once.
    pub fn runs_through_datafile(mut self, runs: u64) -> Self {
        self.runs = runs.max(1);
        self
    }

    /// Caps the send rate (`-Q`).
    pub fn max_qps(mut self, qps: u32) -> Self {
        self.max_qps = Some(qps);
        self
    }

    /// Stops sending after this long (`-l`), whether or not the datafile is used up.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// How long dnsperf waits for each answer (`-t`).
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Runs dnsperf inside the lab's client namespace and parses its summary.
    pub fn run(&self, lab: &Lab) -> anyhow::Result<DnsperfSummary> {
        let mut command = Lab::netns_command(lab.client_ns(), program_path("dnsperf"));
        command
            .arg("-s")
            .arg(self.server.to_string())
            .arg("-d")
            .arg(self.datafile)
            .args(["-n", &self.runs.to_string()])
            .args(["-q", &self.outstanding.to_string()])
            .args(["-t", &whole_seconds(self.query_timeout).to_string()])
            .args(["-l", &whole_seconds(self.time_limit).to_string()]);
        if let Some(qps) = self.max_qps {
            command.args(["-Q", &qps.to_string()]);
        }
        let output = run_bounded(
            &mut command,
            self.time_limit + self.query_timeout + KILL_SLACK,
        )?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "dnsperf failed with {}: {}{}",
                output.status,
                stdout.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        parse_summary(&stdout).with_context(|| format!("reading dnsperf output: {stdout}"))
    }

    /// The longest [`Dnsperf::run_for_time_limit`] takes: every attempt to its time limit, and
    /// the wait for its last answers.
    pub fn longest_timed_run(&self) -> Duration {
        (self.time_limit + self.query_timeout) * TIMED_ATTEMPTS as u32
    }

    /// Runs dnsperf for its whole time limit, looping over its datafile of `datafile_lines`
    /// lines. The runs through the file that bound it are sized from `measured_qps`, what this
    /// machine was seen sending (a short run first: [`DnsperfSummary::sent_per_second`]), with
    /// headroom ([`count_bound`]). A run that still uses them up before its time limit is run
    /// again, sized from its own rate, at most [`TIMED_ATTEMPTS`] times in all.
    pub fn run_for_time_limit(
        &self,
        lab: &Lab,
        datafile_lines: u64,
        measured_qps: f64,
    ) -> anyhow::Result<TimedRun> {
        let mut qps = measured_qps;
        let mut ended_early = Vec::new();
        for _ in 0..TIMED_ATTEMPTS {
            let runs = runs_through(datafile_lines, count_bound(qps, self.time_limit)?);
            let summary = self.clone().runs_through_datafile(runs).run(lab)?;
            match summary.ended {
                Ended::TimeLimit => {
                    return Ok(TimedRun {
                        summary,
                        runs_through_datafile: runs,
                        ended_early,
                    });
                }
                Ended::Interrupted => bail!("dnsperf was interrupted: {summary:?}"),
                Ended::EndOfInput => {
                    qps = qps.max(summary.sent_per_second());
                    ended_early.push(summary);
                }
            }
        }
        bail!(
            "dnsperf used up its runs through the datafile before its {:?} time limit \
             {TIMED_ATTEMPTS} times, each sized from the fastest rate seen before it: {ended_early:?}",
            self.time_limit
        )
    }
}

/// A run of [`Dnsperf::run_for_time_limit`].
#[derive(Debug, Clone)]
pub struct TimedRun {
    /// The run that reached its time limit.
    pub summary: DnsperfSummary,
    /// The runs through the datafile that bounded it.
    pub runs_through_datafile: u64,
    /// Runs before it that used up their runs through the datafile first (the machine sent
    /// faster than the rate they were sized from, headroom and all).
    pub ended_early: Vec<DnsperfSummary>,
}

/// Runs through a datafile of `lines` lines that send at least `queries`.
pub fn runs_through(lines: u64, queries: u64) -> u64 {
    queries.div_ceil(lines.max(1)).max(1)
}

/// dnsperf takes whole seconds; round up so a limit never shrinks to zero.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// Reads "Queries sent:", "Queries completed:", "Queries lost:" and "Run time (s):" from
/// dnsperf's statistics, and why it stopped from its "Testing complete (…)" line.
pub fn parse_summary(output: &str) -> anyhow::Result<DnsperfSummary> {
    let value = |label: &str| -> anyhow::Result<&str> {
        let line = output
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .with_context(|| format!("no `{label}` line"))?;
        // The value may be followed by a percentage: "Queries completed:    99 (99.00%)".
        line.split_whitespace()
            .next()
            .with_context(|| format!("`{label}` has no value"))
    };
    let count = |label: &str| -> anyhow::Result<u64> {
        let count = value(label)?;
        count
            .parse()
            .with_context(|| format!("`{label}` value {count:?} is not a count"))
    };
    let run_time = value("Run time (s):")?;
    let reason = output
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("[Status] Testing complete (")?
                .strip_suffix(')')
        })
        .context("no `Testing complete` line")?;
    let ended = match reason {
        "time limit" => Ended::TimeLimit,
        "end of file" => Ended::EndOfInput,
        "interruption" => Ended::Interrupted,
        other => bail!("dnsperf stopped for a reason this runner does not know: {other:?}"),
    };
    Ok(DnsperfSummary {
        sent: count("Queries sent:")?,
        completed: count("Queries completed:")?,
        lost: count("Queries lost:")?,
        run_seconds: run_time
            .parse()
            .with_context(|| format!("run time {run_time:?} is not a number of seconds"))?,
        ended,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dnsperf_statistics() {
        let output = "\
DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 169.254.53.1 -d q -n 1
[Status] Sending queries (to 169.254.53.1:53)
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         200000
  Queries completed:    199990 (99.99%)
  Queries lost:         10 (0.01%)

  Response codes:       NXDOMAIN 199990 (100.00%)
  Average packet size:  request 38, response 113
  Run time (s):         1.250000
  Queries per second:   159992.000000
";
        let summary = parse_summary(output).expect("a complete summary parses");
        assert_eq!(
            summary,
            DnsperfSummary {
                sent: 200_000,
                completed: 199_990,
                lost: 10,
                run_seconds: 1.25,
                ended: Ended::EndOfInput,
            }
        );
        assert_eq!(summary.sent_per_second(), 160_000.0);
        let timed = output.replace("(end of file)", "(time limit)");
        assert_eq!(parse_summary(&timed).unwrap().ended, Ended::TimeLimit);
        let odd = output.replace("(end of file)", "(lunch)");
        assert!(parse_summary(&odd).is_err());
    }

    #[test]
    fn a_rate_the_old_fixed_datafile_could_not_feed_gets_runs_enough_for_its_time_limit() {
        // The veth part sent 2,500,000 lines once (-n 1) in a 10 s run; a machine answering
        // 300,000 queries a second ran out of them after 8.3 s and the bench stopped. Sized
        // from the rate, the runs through a 100,000-line file outlast the time limit.
        let (qps, limit, lines) = (300_000.0, Duration::from_secs(10), 100_000);
        let runs = runs_through(lines, count_bound(qps, limit).unwrap());
        assert!(runs * lines > 2_500_000);
        assert!((runs * lines) as f64 >= qps * limit.as_secs_f64());
        assert_eq!(runs_through(lines, 1), 1);
        assert_eq!(runs_through(lines, 100_001), 2);
        assert_eq!(runs_through(0, 5), 5);
    }

    #[test]
    fn missing_statistics_is_an_error() {
        assert!(parse_summary("[Fatal] unable to open file").is_err());
    }

    #[test]
    fn limits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    }
}
