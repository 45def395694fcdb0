//! Runs dnsperf from the lab's client namespace and reads its summary.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::lab::Lab;
use crate::prereq::program_path;
use crate::process::run_bounded;

/// Extra time beyond dnsperf's own limits before the runner kills it.
const KILL_SLACK: Duration = Duration::from_secs(15);

/// One bounded dnsperf run: each line of the datafile is sent once (`-n 1`).
#[derive(Debug, Clone)]
pub struct Dnsperf<'a> {
    server: IpAddr,
    datafile: &'a Path,
    max_qps: Option<u32>,
    time_limit: Duration,
    query_timeout: Duration,
    outstanding: u32,
}

/// The counts from dnsperf's "Statistics:" block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsperfSummary {
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
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
        }
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
            .args(["-n", "1"])
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
}

/// dnsperf takes whole seconds; round up so a limit never shrinks to zero.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// Reads "Queries sent:", "Queries completed:" and "Queries lost:" from dnsperf's statistics.
pub fn parse_summary(output: &str) -> anyhow::Result<DnsperfSummary> {
    let field = |label: &str| -> anyhow::Result<u64> {
        let line = output
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .with_context(|| format!("no `{label}` line"))?;
        // The count may be followed by a percentage: "Queries completed:    99 (99.00%)".
        let count = line
            .split_whitespace()
            .next()
            .with_context(|| format!("`{label}` has no value"))?;
        count
            .parse()
            .with_context(|| format!("`{label}` value {count:?} is not a count"))
    };
    Ok(DnsperfSummary {
        sent: field("Queries sent:")?,
        completed: field("Queries completed:")?,
        lost: field("Queries lost:")?,
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
";
        let summary = parse_summary(output).expect("a complete summary parses");
        assert_eq!(
            summary,
            DnsperfSummary {
                sent: 200_000,
                completed: 199_990,
                lost: 10
            }
        );
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
