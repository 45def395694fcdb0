//! Command line, as clap parses it. `config` validates it into what the daemon runs with.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use dns_counter_common::maps::DEFAULT_MAX_NAMES;
use dns_counter_report::{interval::ClientPrefix, render::Format};

use crate::kernel::memory::MAX_NAMES_LIMIT;

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
    /// write the partial interval's report, detach and exit 0; SIGHUP reads the exclusion and
    /// organisation files again; SIGUSR1 writes snapshot.<ext> with the interval so far).
    Run(RunArgs),
    /// Run every packet of a capture (pcap or pcapng, from a file or `-` for stdin) through the
    /// same XDP program, without attaching it anywhere, and write the reports a live run would
    /// have written.
    Replay(ReplayArgs),
    /// Print a saved report on stdout as a table, CSV, a Prometheus textfile or JSON.
    ///
    /// The report is a JSON file as run, replay or merge write it. Needs no privileges.
    Report(ReportArgs),
    /// Merge reports of several hosts or intervals into one (JSON).
    ///
    /// Counts are summed; start is the earliest start, end the latest end, seconds the span between
    /// them. Where an input's list was cut (its rest is not empty), the merged report's "merge"
    /// section says which counts are lower bounds and by how much at most. Needs no privileges.
    Merge(MergeArgs),
}

/// Where each flag stands in `--help`: `run` lists its flags in this order, and `replay` lists
/// the ones it shares in the same order, although the shared ones are defined once, in
/// [`CountArgs`].
mod order {
    pub const IFACE: usize = 0;
    pub const PORT: usize = 1;
    pub const INTERVAL: usize = 2;
    pub const TOP: usize = 3;
    pub const OUT_DIR: usize = 4;
    pub const EXCLUDE: usize = 5;
    pub const EXCLUDE_FILE: usize = 6;
    pub const COUNT: usize = 7;
    pub const XDP_MODE: usize = 8;
    pub const HOOK: usize = 8;
    pub const MAX_NAMES: usize = 9;
    pub const DOMAIN_DEPTH: usize = 10;
    pub const ORG_FILE: usize = 11;
    pub const CLIENTS: usize = 12;
    pub const CLIENT_PREFIX: usize = 13;
    pub const ANONYMIZE: usize = 14;
    pub const FORMAT: usize = 15;
    pub const KEEP: usize = 16;
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Interface to count queries arriving on; repeat for several. Default: the interface of
    /// the default route.
    #[arg(long = "iface", value_name = "IF", display_order = order::IFACE)]
    pub ifaces: Vec<String>,

    /// Length of one reporting interval, 100ms to 1day (e.g. 10s, 1m, 1h). Reports end on
    /// multiples of it, counted from the Unix epoch, so the first one may be shorter.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_interval,
          allow_hyphen_values = true, display_order = order::INTERVAL)]
    pub interval: Duration,

    /// Stop after this many reports. Default: run until signalled.
    #[arg(long, value_name = "N", display_order = order::COUNT)]
    pub count: Option<u64>,

    /// XDP attach mode: auto tries native (driver) mode and falls back to skb (generic) mode.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto, display_order = order::XDP_MODE)]
    pub xdp_mode: XdpModeArg,

    /// Where to count: xdp (the fastest; the interface must hold no other XDP program) or tc
    /// (the tc ingress hook, tcx on Linux 6.6+, legacy clsact before: behind an XDP filter
    /// already on the interface, passing every packet on to what follows).
    #[arg(long, value_enum, default_value_t = HookArg::Xdp, display_order = order::HOOK)]
    pub hook: HookArg,

    #[command(flatten)]
    pub counting: CountArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture to replay: pcap or pcapng (e.g. from `tcpdump -w`), `-` for standard input.
    /// Ethernet, Linux cooked (SLL, SLL2: `tcpdump -i any`), BSD loopback and raw IP link types.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Length of one reporting interval (e.g. 10s, 1m, 1h): the capture's packets are split on
    /// the multiples of it since the Unix epoch, as a live run splits them, one report each.
    /// Default: one report from the capture's first packet to its last.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval,
          allow_hyphen_values = true, display_order = order::INTERVAL)]
    pub interval: Option<Duration>,

    #[command(flatten)]
    pub counting: CountArgs,
}

/// What is counted and how it is reported: the flags `run` and `replay` share.
#[derive(Debug, Args)]
pub struct CountArgs {
    /// Destination port whose queries are counted, over UDP and TCP; repeat for several.
    #[arg(long = "port", value_name = "PORT", default_value = "53", value_parser = clap::value_parser!(u16).range(1..),
          display_order = order::PORT)]
    pub ports: Vec<u16>,

    /// Names listed per report, most queried first; the others are summed under "rest".
    /// 0 lists every name.
    #[arg(long, value_name = "N", default_value_t = 50, allow_hyphen_values = true,
          value_parser = parse_top, display_order = order::TOP)]
    pub top: usize,

    /// Directory for report files (created if missing).
    #[arg(long, value_name = "DIR", default_value = "reports", display_order = order::OUT_DIR)]
    pub out_dir: PathBuf,

    /// Name whose queries are counted apart and kept out of the top list, domains and
    /// organisations (repeatable), e.g. a name hard-coded in customer equipment. `*.example.com`
    /// excludes every name under example.com, not example.com itself.
    #[arg(long, value_name = "NAME", display_order = order::EXCLUDE)]
    pub exclude: Vec<String>,

    /// File of names (and `*.domain` wildcards) to exclude: one a line, '#' starts a comment
    /// (repeatable).
    #[arg(long, value_name = "FILE", display_order = order::EXCLUDE_FILE)]
    pub exclude_file: Vec<PathBuf>,

    /// Distinct names counted per interval (1 to 134217728); queries for further new names are
    /// counted under the reason name_table_full. Each name costs about 160 bytes of kernel
    /// memory, checked against what the host has before anything is loaded (see README).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_NAMES, value_parser = parse_max_names,
          allow_hyphen_values = true, display_order = order::MAX_NAMES)]
    pub max_names: u32,

    /// Group names into domains by their last N labels (as dnstop's levels do) instead of by
    /// registered domain under the Public Suffix List.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=127),
          display_order = order::DOMAIN_DEPTH)]
    pub domain_depth: Option<u8>,

    /// File mapping domain suffixes to organisations, one `suffix organisation` pair a line,
    /// '#' comments (see examples/orgs.txt); the report then lists organisations by queries.
    #[arg(long, value_name = "FILE", display_order = order::ORG_FILE)]
    pub org_file: Option<PathBuf>,

    /// Also count queries per client prefix, in the kernel, and list the top prefixes.
    #[arg(long, display_order = order::CLIENTS)]
    pub clients: bool,

    /// Client prefix lengths for IPv4 and IPv6, with --clients.
    #[arg(long, value_name = "V4,V6", default_value = "24,56", value_parser = parse_client_prefix,
          requires = "clients", display_order = order::CLIENT_PREFIX)]
    pub client_prefix: ClientPrefix,

    /// With --clients: report each prefix as a keyed hash, stable for the run, instead of its
    /// address.
    #[arg(long, requires = "clients", display_order = order::ANONYMIZE)]
    pub anonymize: bool,

    /// Report files to write each interval, comma-separated: json, csv, txt, prom (a
    /// node_exporter textfile).
    #[arg(long, value_name = "LIST", value_enum, value_delimiter = ',', default_value = "json,txt",
          display_order = order::FORMAT)]
    pub format: Vec<FormatArg>,

    /// Keep only the newest N reports in --out-dir, deleting the files (every format) of older
    /// ones; latest.* and files not named as reports are never deleted.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), display_order = order::KEEP)]
    pub keep: Option<u64>,
}

/// A count of names: a negative one says what is wanted instead of clap's "unexpected argument".
fn parse_top(text: &str) -> Result<usize, String> {
    if text.starts_with('-') {
        return Err("must be 0 (every name) or more".into());
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not a number of names"))
}

/// A number of names for one counts map: at least 1, at most what a kernel hash map holds.
fn parse_max_names(text: &str) -> Result<u32, String> {
    let range = format!("use 1 to {MAX_NAMES_LIMIT}");
    if !text.bytes().all(|b| b.is_ascii_digit()) || text.is_empty() {
        return Err(format!("{text:?} is not a number of names: {range}"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err(format!("at least one name is counted: {range}")),
        Ok(names) if names <= MAX_NAMES_LIMIT => Ok(names),
        _ => Err(format!(
            "more names than a kernel hash map holds: {range} (two maps of that many take 21 GiB)"
        )),
    }
}

/// A duration such as 10s, 5m or 1h; a negative one says what is wanted.
fn parse_interval(text: &str) -> Result<Duration, String> {
    if text.starts_with('-') {
        return Err("an interval cannot be negative: give a length such as 10s, 5m or 1h".into());
    }
    humantime::parse_duration(text).map_err(|err| err.to_string())
}

fn parse_client_prefix(text: &str) -> Result<ClientPrefix, String> {
    let (v4, v6) = text
        .split_once(',')
        .ok_or("give both lengths, IPv4 then IPv6, e.g. 24,56")?;
    let length = |part: &str, max: u8, family: &str| {
        part.trim()
            .parse::<u8>()
            .ok()
            .filter(|len| (1..=max).contains(len))
            .ok_or(format!(
                "{family} prefix length {part:?} must be 1 to {max}"
            ))
    };
    Ok(ClientPrefix {
        v4: length(v4, 32, "IPv4")?,
        v6: length(v6, 128, "IPv6")?,
    })
}

/// A report file format, as `--format` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub enum FormatArg {
    Json,
    Csv,
    Txt,
    Prom,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
            FormatArg::Txt => Format::Txt,
            FormatArg::Prom => Format::Prom,
        }
    }
}

/// `dns-counter report`: re-render a saved report.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A report written by `run`, `replay` or `merge` (JSON).
    #[arg(value_name = "FILE.json")]
    pub file: PathBuf,

    /// Format to print on stdout.
    #[arg(long, value_enum, default_value = "txt")]
    pub format: FormatArg,
}

/// `dns-counter merge`: sum reports of several hosts or intervals into one.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Reports to merge (JSON).
    #[arg(value_name = "FILE.json", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,

    /// Write the merged report here (JSON) instead of printing it on stdout.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HookArg {
    Xdp,
    Tc,
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

    fn run_args(argv: &[&str]) -> RunArgs {
        match Cli::parse_from(argv).command {
            Command::Run(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn replay_args(argv: &[&str]) -> ReplayArgs {
        match Cli::parse_from(argv).command {
            Command::Replay(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let args = run_args(&["dns-counter", "run"]);
        assert_eq!(args.interval, Duration::from_secs(60));
        assert_eq!(args.counting.top, 50);
        assert_eq!(args.counting.out_dir, PathBuf::from("reports"));
        assert_eq!(args.counting.max_names, 1_000_000);
        assert_eq!(args.xdp_mode, XdpModeArg::Auto);
        assert!(args.ifaces.is_empty() && args.count.is_none());
        assert_eq!(args.counting.ports, [53]);
        let args = run_args(&["dns-counter", "run", "--port", "8053", "--port", "53"]);
        assert_eq!(args.counting.ports, [8053, 53]);
    }

    #[test]
    fn replay_shares_runs_defaults_and_has_no_interval_unless_given() {
        let args = replay_args(&["dns-counter", "replay", "dns.pcap"]);
        assert_eq!(args.file, PathBuf::from("dns.pcap"));
        assert_eq!(args.interval, None);
        let run = run_args(&["dns-counter", "run"]).counting;
        let replay = args.counting;
        assert_eq!(
            (replay.ports, replay.top, replay.out_dir, replay.max_names),
            (run.ports, run.top, run.out_dir, run.max_names)
        );
        let argv = "dns-counter replay --port 8053 --top 0 --interval 5m --exclude a.example --exclude-file x.txt \
                    --max-names 10 --out-dir out dns.pcapng";
        let args = replay_args(&argv.split_whitespace().collect::<Vec<_>>());
        assert_eq!(args.interval, Some(Duration::from_secs(300)));
        assert_eq!(args.counting.ports, [8053]);
        assert_eq!((args.counting.top, args.counting.max_names), (0, 10));
        assert_eq!(args.counting.exclude, ["a.example"]);
        assert_eq!(args.counting.exclude_file, [PathBuf::from("x.txt")]);
        assert_eq!(args.counting.out_dir, PathBuf::from("out"));
    }

    #[test]
    fn replay_needs_a_file_and_has_no_live_only_flags() {
        let err = Cli::try_parse_from(["dns-counter", "replay"]).unwrap_err();
        assert!(err.to_string().contains("<FILE>"), "{err}");
        for flag in ["--iface", "--count", "--xdp-mode"] {
            let err =
                Cli::try_parse_from(["dns-counter", "replay", flag, "x", "dns.pcap"]).unwrap_err();
            assert!(err.to_string().contains(flag), "{err}");
        }
    }

    #[test]
    fn run_lists_its_flags_in_their_usual_order() {
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("run")
            .expect("run")
            .render_help()
            .to_string();
        let flags = "--iface --port --interval --top --out-dir --exclude <NAME> --exclude-file --count --xdp-mode \
                     --max-names";
        let positions: Vec<usize> = flags
            .split(" --")
            .map(|flag| format!("--{}", flag.trim_start_matches("--")))
            .map(|flag| {
                help.find(&flag)
                    .unwrap_or_else(|| panic!("{flag} in {help}"))
            })
            .collect();
        assert!(positions.is_sorted(), "{help}");
    }

    /// Defect: `--max-names 4294967295` was accepted and failed three times over in map
    /// creation (`failed to create map COUNTS_1 ... Argument list too long`), naming no flag.
    #[test]
    fn max_names_is_bounded_by_what_a_kernel_map_holds() {
        let parse = |value: &str| {
            Cli::try_parse_from(["dns-counter", "run", "--max-names", value])
                .map(|cli| match cli.command {
                    Command::Run(args) => args.counting.max_names,
                    other => panic!("parsed as {other:?}"),
                })
                .map_err(|err| err.to_string())
        };
        assert_eq!(parse("134217728"), Ok(MAX_NAMES_LIMIT));
        assert_eq!(parse("1"), Ok(1));
        for (value, why) in [
            ("134217729", "more names than a kernel hash map holds"),
            ("4294967295", "more names than a kernel hash map holds"),
            (
                "99999999999999999999",
                "more names than a kernel hash map holds",
            ),
            ("0", "at least one name is counted"),
            ("-1", "\"-1\" is not a number of names"),
            ("1e6", "\"1e6\" is not a number of names"),
        ] {
            let err = parse(value).expect_err(value);
            let first = err.lines().next().unwrap_or_default();
            assert_eq!(
                first,
                format!(
                    "error: invalid value '{value}' for '--max-names <N>': {why}: use 1 to 134217728{}",
                    if why.starts_with("more") {
                        " (two maps of that many take 21 GiB)"
                    } else {
                        ""
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_interval_is_rejected_with_the_flag_named() {
        let err = Cli::try_parse_from(["dns-counter", "run", "--interval", "soon"]).unwrap_err();
        assert!(err.to_string().contains("--interval"), "{err}");
        let err = Cli::try_parse_from(["dns-counter", "replay", "--interval", "soon", "dns.pcap"])
            .unwrap_err();
        assert!(err.to_string().contains("--interval"), "{err}");
    }
}
