//! Command line, as clap parses it. `config` validates it into what the daemon runs with.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use dns_counter_common::maps::DEFAULT_MAX_NAMES;

/// Counts DNS query names at line rate with XDP and writes top-N reports every interval.
#[derive(Debug, Parser)]
#[command(name = "dns-counter", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach to interfaces and write a report every interval until stopped (SIGINT/SIGTERM
    /// write the partial interval's report, detach and exit 0).
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Interface to count queries arriving on; repeat for several. Default: the interface of
    /// the default route.
    #[arg(long = "iface", value_name = "IF")]
    pub ifaces: Vec<String>,

    /// Destination port whose queries are counted, over UDP and TCP; repeat for several.
    #[arg(long = "port", value_name = "PORT", default_value = "53", value_parser = clap::value_parser!(u16).range(1..))]
    pub ports: Vec<u16>,

    /// Length of one reporting interval (e.g. 10s, 1m, 1h). Reports end on multiples of it,
    /// counted from the Unix epoch, so the first one may be shorter.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub interval: Duration,

    /// Names listed per report, most queried first; the others are summed under "rest".
    /// 0 lists every name.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub top: usize,

    /// Directory for report files (created if missing).
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out_dir: PathBuf,

    /// Name whose queries are counted apart and kept out of the top list (repeatable),
    /// e.g. a name hard-coded in customer equipment.
    #[arg(long, value_name = "NAME")]
    pub exclude: Vec<String>,

    /// File of names to exclude: one a line, '#' starts a comment (repeatable).
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Vec<PathBuf>,

    /// Stop after this many reports. Default: run until signalled.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// XDP attach mode: auto tries native (driver) mode and falls back to skb (generic) mode.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto)]
    pub xdp_mode: XdpModeArg,

    /// Distinct names counted per interval; queries for further new names are counted under
    /// the reason name_table_full. Each name costs kernel memory (see README).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_NAMES)]
    pub max_names: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum XdpModeArg {
    Auto,
    Native,
    Skb,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let Command::Run(args) = Cli::parse_from(["dns-counter", "run"]).command;
        assert_eq!(args.interval, Duration::from_secs(60));
        assert_eq!(args.top, 50);
        assert_eq!(args.out_dir, PathBuf::from("reports"));
        assert_eq!(args.max_names, 1_000_000);
        assert_eq!(args.xdp_mode, XdpModeArg::Auto);
        assert!(args.ifaces.is_empty() && args.count.is_none());
        assert_eq!(args.ports, [53]);
        let Command::Run(args) = Cli::parse_from(["dns-counter", "run", "--port", "8053", "--port", "53"]).command;
        assert_eq!(args.ports, [8053, 53]);
    }

    #[test]
    fn bad_interval_is_rejected_with_the_flag_named() {
        let err = Cli::try_parse_from(["dns-counter", "run", "--interval", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--interval"), "{err}");
    }
}
