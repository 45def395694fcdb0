//! The validated configurations of `dns-counter run` and `dns-counter replay`: every check that
//! needs no kernel object happens here, so a mistake is one clear line before anything is loaded.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use thiserror::Error;

use dns_counter_report::{
    analysis::{
        self, ReportOptions,
        clients::{Anonymizer, ClientOptions},
        domains::Grouping,
        exclude::{ExcludeError, Exclusions},
        orgs::{OrgFileError, OrgMap},
    },
    interval::ClientPrefix,
    model::Settings,
    render::Format,
};

use crate::cli::{CountArgs, HookArg, ReplayArgs, RunArgs, XdpModeArg};
use crate::kernel::loader::{AttachMode, Hook};
use crate::kernel::memory::{CgroupMemory, HostMemory, MemoryError, check_map_memory};
use crate::sinks::files::Target;

/// Shorter intervals would spend more time draining than counting.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// A longer interval keeps a day's counts in the kernel, to be lost at once by a crash; merge
/// shorter reports instead (`dns-counter merge`).
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

#[derive(Debug)]
pub struct Config {
    pub ifaces: Vec<String>,
    pub interval: Duration,
    pub count: Option<u64>,
    /// Where the program counts, and for XDP in which mode.
    pub hook: Hook,
    pub counting: Counting,
}

/// What is counted and how it is reported, for `run` and `replay` alike.
#[derive(Debug)]
pub struct Counting {
    /// Sorted, without repeats.
    pub ports: Vec<u16>,
    pub top: usize,
    pub out_dir: PathBuf,
    pub exclusions: Exclusions,
    pub max_names: u32,
    /// `None`: group names by registered domain (Public Suffix List); `Some(n)`: by last n labels.
    pub domain_depth: Option<u8>,
    /// --org-file, read and checked.
    pub orgs: Option<OrgMap>,
    /// Client prefix lengths when --clients is given.
    pub clients: Option<ClientPrefix>,
    pub anonymize: bool,
    /// The run's --anonymize key, drawn once so that every report of the run names a prefix alike.
    pub anonymizer: Anonymizer,
    /// Sorted, without repeats.
    pub formats: Vec<Format>,
    pub keep: Option<u64>,
    /// Where `exclusions` and `orgs` came from, to read them again on SIGHUP.
    pub lists: ListSources,
    /// What each report records of the above; made again when the lists are.
    pub settings: Settings,
}

/// The flags that `exclusions` and `orgs` are read from.
#[derive(Debug, Clone, Default)]
pub struct ListSources {
    pub exclude: Vec<String>,
    pub exclude_files: Vec<PathBuf>,
    pub org_file: Option<PathBuf>,
}

/// `dns-counter replay`.
#[derive(Debug)]
pub struct ReplayConfig {
    pub file: PathBuf,
    /// `None`: one report for the whole capture.
    pub interval: Option<Duration>,
    pub counting: Counting,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("no such network interface: {name} (see `ip link` for the names on this host)")]
    NoSuchInterface { name: String },
    #[error("no default route to take the interface from: name one with --iface")]
    NoDefaultRoute,
    #[error("cannot read the routing table {path} (name an interface with --iface)")]
    RouteTable {
        path: &'static str,
        source: io::Error,
    },
    #[error("--interval {given:?} is too short: use at least {MIN_INTERVAL:?}")]
    IntervalTooShort { given: Duration },
    #[error(
        "--interval {} is too long: use at most 1day, and merge shorter reports \
         (`dns-counter merge`) for longer periods",
        humantime::format_duration(*given)
    )]
    IntervalTooLong { given: Duration },
    #[error("--count must be at least 1")]
    ZeroCount,
    #[error("--xdp-mode is for --hook xdp: leave it out with --hook tc")]
    XdpModeWithTc,
    #[error(transparent)]
    Exclude(#[from] ExcludeError),
    #[error(transparent)]
    Orgs(#[from] OrgFileError),
}

impl Config {
    pub fn from_args(args: RunArgs) -> Result<Self, ConfigError> {
        check_interval(args.interval)?;
        // Only a live run keeps the interval's counts where a crash loses them.
        if args.interval > MAX_INTERVAL {
            return Err(ConfigError::IntervalTooLong {
                given: args.interval,
            });
        }
        if args.count == Some(0) {
            return Err(ConfigError::ZeroCount);
        }
        // The lists first: a mistake in a file is told on a host without the interface too.
        let counting = Counting::from_args(args.counting)?;
        let mut ifaces = args.ifaces;
        if ifaces.is_empty() {
            ifaces.push(default_route_interface()?);
        }
        // Once each, in the order given: attaching twice to one interface fails.
        let mut seen = std::collections::HashSet::new();
        ifaces.retain(|name| seen.insert(name.clone()));
        for name in &ifaces {
            if !interface_exists(name) {
                return Err(ConfigError::NoSuchInterface { name: name.clone() });
            }
        }
        Ok(Self {
            ifaces,
            interval: args.interval,
            count: args.count,
            hook: match (args.hook, args.xdp_mode) {
                (HookArg::Xdp, XdpModeArg::Auto) => Hook::Xdp(AttachMode::Auto),
                (HookArg::Xdp, XdpModeArg::Native) => Hook::Xdp(AttachMode::Native),
                (HookArg::Xdp, XdpModeArg::Skb) => Hook::Xdp(AttachMode::Skb),
                (HookArg::Tc, XdpModeArg::Auto) => Hook::Tc,
                (HookArg::Tc, _) => return Err(ConfigError::XdpModeWithTc),
            },
            counting,
        })
    }
}

impl ReplayConfig {
    /// The capture itself is read (and its mistakes reported) by [`crate::capture::read_capture`].
    pub fn from_args(args: ReplayArgs) -> Result<Self, ConfigError> {
        if let Some(interval) = args.interval {
            check_interval(interval)?;
        }
        Ok(Self {
            file: args.file,
            interval: args.interval,
            counting: Counting::from_args(args.counting)?,
        })
    }
}

impl Counting {
    pub fn from_args(args: CountArgs) -> Result<Self, ConfigError> {
        let lists = ListSources {
            exclude: args.exclude,
            exclude_files: args.exclude_file,
            org_file: args.org_file,
        };
        let (exclusions, orgs) = lists.read()?;
        let mut ports = args.ports;
        ports.sort_unstable();
        ports.dedup();
        let mut formats: Vec<Format> = args.format.into_iter().map(Format::from).collect();
        formats.sort_unstable();
        formats.dedup();
        let settings = report_settings(
            &ports,
            args.top,
            args.max_names,
            &exclusions,
            orgs.as_ref(),
            args.domain_depth,
        );
        Ok(Self {
            ports,
            top: args.top,
            out_dir: args.out_dir,
            exclusions,
            max_names: args.max_names,
            domain_depth: args.domain_depth,
            orgs,
            clients: args.clients.then_some(args.client_prefix),
            anonymize: args.anonymize,
            anonymizer: Anonymizer::random(),
            formats,
            keep: args.keep,
            lists,
            settings,
        })
    }

    /// Reads `--exclude-file` and `--org-file` again (SIGHUP). Both lists change or, when either
    /// file has a mistake, neither does.
    pub fn reload_lists(&mut self) -> Result<(), ConfigError> {
        (self.exclusions, self.orgs) = self.lists.read()?;
        self.settings = report_settings(
            &self.ports,
            self.top,
            self.max_names,
            &self.exclusions,
            self.orgs.as_ref(),
            self.domain_depth,
        );
        Ok(())
    }
}

/// What reports record of the settings that shape them, this version's; the lists are digested
/// here, once, not per report.
fn report_settings(
    ports: &[u16],
    top: usize,
    max_names: u32,
    exclusions: &Exclusions,
    orgs: Option<&OrgMap>,
    domain_depth: Option<u8>,
) -> Settings {
    analysis::settings(
        env!("CARGO_PKG_VERSION"),
        ports,
        top,
        max_names,
        exclusions,
        orgs,
        Grouping::from_depth(domain_depth),
    )
}

impl ListSources {
    fn read(&self) -> Result<(Exclusions, Option<OrgMap>), ConfigError> {
        let exclusions = Exclusions::new(&self.exclude, &self.exclude_files)?;
        let orgs = self.org_file.as_deref().map(OrgMap::read).transpose()?;
        Ok((exclusions, orgs))
    }
}

impl Counting {
    /// Whether the maps `--max-names` and `--clients` size fit in the memory this host has
    /// available and its memory cgroup allows: called just before the maps are created, as it
    /// reads what is free then. Warns when they would take more than half of it.
    pub fn check_map_memory(&self) -> Result<(), MemoryError> {
        let cpus = aya::util::nr_cpus().map_or(1, |cpus| u32::try_from(cpus).unwrap_or(u32::MAX));
        let host = HostMemory::read();
        let need = check_map_memory(self.max_names, self.clients.is_some(), cpus, &host)?;
        let room = [host.available, host.cgroup.as_ref().map(CgroupMemory::room)]
            .into_iter()
            .flatten()
            .min();
        if let Some(room) = room.filter(|&room| need > room / 2) {
            tracing::warn!(
                "the maps of --max-names {} take {} MiB of the {} MiB of memory left for this process: the rest of the host may run short",
                self.max_names,
                need >> 20,
                room >> 20
            );
        }
        Ok(())
    }

    /// Where and how the reports are written: `--out-dir`, `--format`, `--keep`.
    pub fn report_target(&self) -> Target<'_> {
        Target {
            dir: &self.out_dir,
            formats: &self.formats,
            keep: self.keep,
        }
    }

    /// What every report of the run is built with.
    pub fn report_options(&self) -> ReportOptions<'_> {
        ReportOptions {
            grouping: Grouping::from_depth(self.domain_depth),
            orgs: self.orgs.as_ref(),
            clients: self.clients.map(|prefix| ClientOptions {
                prefix,
                anonymizer: self.anonymize.then_some(self.anonymizer),
            }),
            settings: Some(&self.settings),
            ..ReportOptions::new(self.top, &self.exclusions)
        }
    }
}

fn check_interval(interval: Duration) -> Result<(), ConfigError> {
    if interval < MIN_INTERVAL {
        return Err(ConfigError::IntervalTooShort { given: interval });
    }

    Ok(())
}

fn interface_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
}

/// The interface of the IPv4 default route, else of the IPv6 one.
fn default_route_interface() -> Result<String, ConfigError> {
    const V4: &str = "/proc/net/route";
    const V6: &str = "/proc/net/ipv6_route";
    let v4 =
        fs::read_to_string(V4).map_err(|source| ConfigError::RouteTable { path: V4, source })?;
    if let Some(iface) = default_v4(&v4) {
        return Ok(iface);
    }
    let v6 = fs::read_to_string(V6).unwrap_or_default();
    default_v6(&v6).ok_or(ConfigError::NoDefaultRoute)
}

/// `/proc/net/route`: Iface Destination Gateway ...; the default route has destination 0 and mask 0.
fn default_v4(table: &str) -> Option<String> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 7 && fields[1] == "00000000" && fields[7] == "00000000")
            .then(|| fields[0].to_string())
    })
}

/// `/proc/net/ipv6_route`: destination, prefix length, ..., device last; default is ::/0.
fn default_v6(table: &str) -> Option<String> {
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let device = fields.last()?;
        (fields.len() == 10
            && fields[0].bytes().all(|b| b == b'0')
            && fields[1] == "00"
            && *device != "lo")
            .then(|| device.to_string())
    })
}

/// This host's name, as reports say where their counts come from.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route_is_found_in_proc_tables() {
        let v4 = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
                  eth1\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_v4(v4).as_deref(), Some("eth0"));
        assert_eq!(default_v4("Iface\tDestination\n"), None);
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ens3\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n";
        assert_eq!(default_v6(v6).as_deref(), Some("ens3"));
    }

    fn args(extra: &[&str]) -> RunArgs {
        use clap::Parser as _;
        let mut argv = vec!["dns-counter", "run", "--iface", "lo"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Run(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn mistakes_are_reported_before_anything_is_loaded() {
        let err = Config::from_args(args(&["--iface", "no-such-if0"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("no such network interface: no-such-if0"),
            "{err}"
        );
        let err = Config::from_args(args(&["--interval", "10ms"])).unwrap_err();
        assert!(matches!(err, ConfigError::IntervalTooShort { .. }), "{err}");
        let err = Config::from_args(args(&["--count", "0"])).unwrap_err();
        assert!(matches!(err, ConfigError::ZeroCount), "{err}");
        let err = Config::from_args(args(&["--hook", "tc", "--xdp-mode", "skb"])).unwrap_err();
        assert!(matches!(err, ConfigError::XdpModeWithTc), "{err}");
        let config = Config::from_args(args(&["--hook", "tc"])).unwrap();
        assert_eq!(config.hook, Hook::Tc);
        let config =
            Config::from_args(args(&["--port", "8053", "--port", "53", "--port", "8053"])).unwrap();
        assert_eq!(config.ifaces, ["lo"]);
        assert_eq!(config.counting.ports, [53, 8053]);
    }

    /// The lists are read before the interfaces are looked up: a mistake in a file is told on a
    /// host without the interface too, and `/dev/zero` is refused at the bound.
    #[test]
    fn list_files_are_checked_before_the_interfaces() {
        let err = Config::from_args(args(&[
            "--iface",
            "no-such-if0",
            "--exclude-file",
            "/dev/zero",
        ]))
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::Exclude(ExcludeError::TooLarge { .. })),
            "{err}"
        );
    }

    /// Defects: only adjacent repeats of an interface were dropped (so `a b a` attached to `a`
    /// twice and failed); --client-prefix without --clients was silently ignored; `--top -1` and
    /// `--interval -1s` gave clap's "unexpected argument '-1'".
    #[test]
    fn cli_mistakes_are_caught_and_said_plainly() {
        use clap::Parser as _;
        let config = Config::from_args(args(&["--iface", "lo", "--iface", "lo"])).unwrap();
        assert_eq!(config.ifaces, ["lo"]);
        let parse = |extra: &[&str]| {
            let mut argv = vec!["dns-counter", "run", "--iface", "lo"];
            argv.extend_from_slice(extra);
            crate::cli::Cli::try_parse_from(argv).map(|_| ())
        };
        let err = parse(&["--client-prefix", "24,48"]).expect_err("needs --clients");
        assert!(err.to_string().contains("--clients"), "{err}");
        assert!(parse(&["--clients", "--client-prefix", "24,48"]).is_ok());
        let err = parse(&["--top", "-1"]).expect_err("negative");
        assert!(
            err.to_string().contains("must be 0 (every name) or more"),
            "{err}"
        );
        let err = parse(&["--interval", "-1s"]).expect_err("negative");
        assert!(err.to_string().contains("cannot be negative"), "{err}");
    }

    fn replay(extra: &[&str]) -> Result<ReplayConfig, ConfigError> {
        use clap::Parser as _;
        let argv = ["dns-counter", "replay"]
            .iter()
            .chain(extra)
            .chain(&["dns.pcap"]);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Replay(args) => ReplayConfig::from_args(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    /// Defect: `--interval 1000years` was accepted.
    #[test]
    fn a_live_interval_longer_than_a_day_is_refused() {
        let run = |interval: &str| {
            use clap::Parser as _;
            let cli = crate::cli::Cli::try_parse_from([
                "dns-counter",
                "run",
                "--iface",
                "lo",
                "--interval",
                interval,
            ])
            .expect("parses");
            let crate::cli::Command::Run(args) = cli.command else {
                panic!("not run")
            };
            Config::from_args(args)
        };
        let err = run("1000years").unwrap_err();
        assert!(matches!(err, ConfigError::IntervalTooLong { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("--interval 1000years is too long"),
            "{text}"
        );
        assert!(run("1day").is_ok());
        assert!(matches!(
            run("1day 1s").unwrap_err(),
            ConfigError::IntervalTooLong { .. }
        ));
        // A replay may split a long capture into long intervals.
        assert!(replay(&["--interval", "7days"]).is_ok());
    }

    #[test]
    fn replay_checks_what_run_checks() {
        let err = replay(&["--interval", "10ms"]).unwrap_err();
        assert!(matches!(err, ConfigError::IntervalTooShort { .. }), "{err}");
        let err = replay(&["--exclude-file", "/nonexistent/exclude.txt"]).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/exclude.txt"),
            "{err}"
        );
        let config = replay(&[]).unwrap();
        assert_eq!(
            (config.file, config.interval),
            (PathBuf::from("dns.pcap"), None)
        );
        assert_eq!(config.counting.ports, [53]);
    }

    #[test]
    fn org_file_is_read_once_and_its_mistakes_name_file_and_line() {
        let err = replay(&["--org-file", "/nonexistent/orgs.txt"]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Orgs(OrgFileError::Read { .. })),
            "{err}"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("orgs.txt");
        fs::write(&path, "fbcdn.net Meta\nfacebook.com\n").expect("write");
        let err = replay(&["--org-file", path.to_str().expect("UTF-8 path")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                r#"{}:2: "facebook.com" has no organisation after it: write the suffix, a space and the organisation, e.g. `fbcdn.net Meta`"#,
                path.display()
            )
        );
        fs::write(&path, "fbcdn.net Meta\n").expect("write");
        let config = replay(&["--org-file", path.to_str().expect("UTF-8 path")]).unwrap();
        let orgs = config.counting.orgs.expect("read");
        assert_eq!(orgs.org_of("scontent.xx.fbcdn.net"), Some("Meta"));
        assert!(replay(&[]).unwrap().counting.orgs.is_none());
    }
}
