//! Loads the embedded XDP program, sizes its maps and attaches it to interfaces.

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{Array, MapError},
    programs::{
        ProgramError, SchedClassifier, TcAttachType, Xdp, XdpMode,
        tc::{self, SchedClassifierLinkId},
        xdp::XdpLinkId,
    },
};
use dns_counter_common::maps::{
    CLIENT_FAMILY_V4, CLIENT_FAMILY_V6, CLIENTS_MAPS, CONFIG_MAP, COUNTS_MAPS, Config,
    DEFAULT_PORT, MAX_CLIENT_PREFIXES, PORT_WORDS, PORTS_MAP, PROGRAM_NAME, TC_PROGRAM_NAME,
    client_mask,
};
use thiserror::Error;

use dns_counter_report::interval::ClientPrefix;

use super::occupant::{self, Occupant};

/// The program as `dns-counter/build.rs` built it.
static PROGRAM_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/dns-counter-ebpf"));

/// A verifier rejection as one line naming a file with the verifier's log (hundreds of lines,
/// which would bury the line saying what went wrong); other load errors as they are.
fn rejected(error: ProgramError) -> LoaderError {
    let ProgramError::LoadError {
        io_error,
        verifier_log,
    } = error
    else {
        return LoaderError::Verify(error);
    };
    let log = std::env::temp_dir().join(format!("dns-counter-verifier-{}.log", std::process::id()));
    match std::fs::write(&log, verifier_log.to_string()) {
        Ok(()) => LoaderError::Rejected {
            errno: io_error,
            log,
        },
        Err(_) => LoaderError::Verify(ProgramError::LoadError {
            io_error,
            verifier_log,
        }),
    }
}

/// Where the program counts on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Xdp(AttachMode),
    /// The tc ingress hook (`--hook tc`): tcx on Linux 6.6 and later, clsact before.
    Tc,
}

/// What holds the program on one interface.
#[derive(Debug)]
pub enum HookLink {
    Xdp(XdpLinkId),
    Tc(SchedClassifierLinkId),
}

/// How the program is attached to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) mode, else generic (skb) mode, saying which.
    Auto,
    Native,
    Skb,
}

#[derive(Debug, Error)]
pub enum LoaderError {
    #[error("cannot load the eBPF object")]
    Load(#[source] EbpfError),
    #[error("the eBPF object has no {what} named {name}")]
    Missing {
        what: &'static str,
        name: &'static str,
    },
    #[error("the kernel refused the XDP program")]
    Verify(#[source] ProgramError),
    #[error("cannot attach XDP to {iface} in {mode} mode")]
    Attach {
        iface: String,
        mode: &'static str,
        source: ProgramError,
    },
    #[error(
        "{iface} holds another XDP program already ({}): dns-counter would replace it, so it \
         does not attach; detach that program (`ip link set dev {iface} xdp off`, or stop what \
         attached it: another dns-counter?), or count beside it with --hook tc",
        occupant.as_ref().map_or_else(|| "its id unknown".to_owned(), ToString::to_string)
    )]
    Occupied {
        iface: String,
        occupant: Option<Occupant>,
    },
    #[error("cannot configure the program")]
    Config(#[source] MapError),
    #[error(
        "the kernel's verifier rejected the XDP program ({errno}); its log is in {}: \
         Linux 5.18 or later is needed, else report it with that log",
        log.display()
    )]
    Rejected {
        errno: std::io::Error,
        log: std::path::PathBuf,
    },
    #[error("the program was loaded without room for client prefixes")]
    NoClientTable,
    /// A map the flags size could not be created for its size: E2BIG or ENOMEM.
    #[error("cannot create the map {map} for {setting}: {}", if *too_large {
        "this kernel holds no map that large: use a smaller --max-names"
    } else {
        "not enough kernel memory: use a smaller --max-names, free memory, or raise the memory cgroup's limit"
    })]
    MapSize {
        map: String,
        /// `--max-names N` or `--clients`.
        setting: String,
        /// E2BIG rather than ENOMEM.
        too_large: bool,
        source: std::io::Error,
    },
}

/// A map the flags size (`--max-names`, `--clients`) that the kernel would not create for its
/// size as one line naming the flag, the cause said once; other load errors as they are.
fn map_size_error(error: EbpfError, max_names: u32) -> LoaderError {
    let EbpfError::MapError(MapError::CreateError { name, io_error }) = error else {
        return LoaderError::Load(error);
    };
    let setting = if COUNTS_MAPS.contains(&name.as_str()) {
        format!("--max-names {max_names}")
    } else if CLIENTS_MAPS.contains(&name.as_str()) {
        format!("--clients ({MAX_CLIENT_PREFIXES} client prefixes)")
    } else {
        String::new()
    };
    let errno = io_error.raw_os_error();
    if setting.is_empty() || !matches!(errno, Some(libc::E2BIG | libc::ENOMEM)) {
        return LoaderError::Load(EbpfError::MapError(MapError::CreateError {
            name,
            io_error,
        }));
    }
    LoaderError::MapSize {
        map: name,
        setting,
        too_large: errno == Some(libc::E2BIG),
        source: io_error,
    }
}

/// The loaded program with its maps; detaches from every interface when dropped.
pub struct Loaded {
    pub ebpf: Ebpf,
    /// Entries per clients map; 0 when loaded without room for client prefixes.
    max_clients: u32,
}

/// Loads the program with `max_names` entries per counts map and a fresh random hash key,
/// counting queries to port 53 until `count_ports` says otherwise, and no clients.
pub fn load(max_names: u32) -> Result<Loaded, LoaderError> {
    load_sized(max_names, 0)
}

/// Like [`load`], and with `clients` (--clients) also counts queries per client prefix, in
/// clients maps of [`MAX_CLIENT_PREFIXES`] entries.
pub fn load_with_clients(
    max_names: u32,
    clients: Option<ClientPrefix>,
) -> Result<Loaded, LoaderError> {
    let Some(prefix) = clients else {
        return load(max_names);
    };
    let mut loaded = load_sized(max_names, MAX_CLIENT_PREFIXES)?;
    loaded.count_clients(prefix)?;
    Ok(loaded)
}

/// Like [`load`], with room for `max_clients` client prefixes per interval, counted once
/// [`Loaded::count_clients`] says how. With 0 the clients maps are kept as small as the kernel
/// allows (one entry) and clients cannot be counted.
pub fn load_sized(max_names: u32, max_clients: u32) -> Result<Loaded, LoaderError> {
    let mut ebpf = EbpfLoader::new()
        .map_max_entries(COUNTS_MAPS[0], max_names)
        .map_max_entries(COUNTS_MAPS[1], max_names)
        .map_max_entries(CLIENTS_MAPS[0], max_clients.max(1))
        .map_max_entries(CLIENTS_MAPS[1], max_clients.max(1))
        .load(PROGRAM_OBJECT)
        .map_err(|error| map_size_error(error, max_names))?;
    let initial = Config {
        hash_key: rand::random(),
        ..Config::default()
    };
    config_map(&mut ebpf)?
        .set(0, initial, 0)
        .map_err(LoaderError::Config)?;
    program(&mut ebpf)?.load().map_err(rejected)?;
    let mut loaded = Loaded { ebpf, max_clients };
    loaded.count_ports(&[DEFAULT_PORT])?;
    Ok(loaded)
}

fn config_map(ebpf: &mut Ebpf) -> Result<Array<&mut aya::maps::MapData, Config>, LoaderError> {
    let map = ebpf.map_mut(CONFIG_MAP).ok_or(LoaderError::Missing {
        what: "map",
        name: CONFIG_MAP,
    })?;
    Array::try_from(map).map_err(LoaderError::Config)
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, LoaderError> {
    let missing = LoaderError::Missing {
        what: "XDP program",
        name: PROGRAM_NAME,
    };
    ebpf.program_mut(PROGRAM_NAME)
        .ok_or(missing)?
        .try_into()
        .map_err(LoaderError::Verify)
}

impl Loaded {
    /// Counts queries to exactly these destination ports, over UDP and TCP.
    pub fn count_ports(&mut self, ports: &[u16]) -> Result<(), LoaderError> {
        let mut words = vec![0u64; PORT_WORDS as usize];
        for &port in ports {
            words[usize::from(port >> 6)] |= 1 << (port & 63);
        }
        let map = self.ebpf.map_mut(PORTS_MAP).ok_or(LoaderError::Missing {
            what: "map",
            name: PORTS_MAP,
        })?;
        let mut bitmap: Array<_, u64> = Array::try_from(map).map_err(LoaderError::Config)?;
        for (index, word) in (0..).zip(words) {
            bitmap.set(index, word, 0).map_err(LoaderError::Config)?;
        }
        Ok(())
    }

    /// Also counts every query counted by name under its client's prefix: the source address
    /// with all but the first `prefix.v4` (IPv4) or `prefix.v6` (IPv6) bits cleared. Call it
    /// before [`crate::kernel::drain::Drainer::new`] takes the config map.
    pub fn count_clients(&mut self, prefix: ClientPrefix) -> Result<(), LoaderError> {
        if self.max_clients == 0 {
            return Err(LoaderError::NoClientTable);
        }
        let mut config = config_map(&mut self.ebpf)?;
        let mut current = config.get(&0, 0).map_err(LoaderError::Config)?;
        current.client_mask_v4 = client_mask(CLIENT_FAMILY_V4, prefix.v4);
        current.client_mask_v6 = client_mask(CLIENT_FAMILY_V6, prefix.v6);
        current.count_clients = 1;
        config.set(0, current, 0).map_err(LoaderError::Config)
    }

    /// Attaches to the interface `index` (named `iface` in errors); returns the link and the
    /// mode used ("native" or "skb").
    pub fn attach(
        &mut self,
        iface: &str,
        index: u32,
        mode: AttachMode,
    ) -> Result<(XdpLinkId, &'static str), LoaderError> {
        let program = program(&mut self.ebpf)?;
        let attempt = |program: &mut Xdp, mode: XdpMode, label: &'static str| {
            program
                .attach_to_if_index(index, mode)
                .map(|link| (link, label))
                .map_err(|source| LoaderError::Attach {
                    iface: iface.to_string(),
                    mode: label,
                    source,
                })
        };
        let attached = match mode {
            AttachMode::Native => attempt(program, XdpMode::Driver, "native"),
            AttachMode::Skb => attempt(program, XdpMode::Skb, "skb"),
            AttachMode::Auto => match attempt(program, XdpMode::Driver, "native") {
                // In another mode it would be refused the same way.
                Err(native) if is_occupied(&native) => Err(native),
                Err(native) => {
                    tracing::info!("{native}; trying skb (generic) mode");
                    attempt(program, XdpMode::Skb, "skb")
                }
                attached => attached,
            },
        };
        attached.map_err(|err| {
            if is_occupied(&err) {
                LoaderError::Occupied {
                    iface: iface.to_owned(),
                    occupant: occupant::xdp_occupant(index),
                }
            } else {
                err
            }
        })
    }

    /// Attaches where `hook` says, to the interface `index` named `iface`; returns the link and
    /// how it was attached ("native", "skb", "tcx" or "tc clsact"). For tc the program is loaded
    /// on first use.
    pub fn attach_hook(
        &mut self,
        iface: &str,
        index: u32,
        hook: Hook,
    ) -> Result<(HookLink, &'static str), LoaderError> {
        let mode = match hook {
            Hook::Xdp(mode) => mode,
            Hook::Tc => return self.attach_tc(iface),
        };
        let (link, label) = self.attach(iface, index, mode)?;
        Ok((HookLink::Xdp(link), label))
    }

    fn attach_tc(&mut self, iface: &str) -> Result<(HookLink, &'static str), LoaderError> {
        let program = tc_program(&mut self.ebpf)?;
        if program.fd().is_err() {
            program.load().map_err(rejected)?;
        }
        let tcx = aya::util::KernelVersion::current()
            .is_ok_and(|version| version >= aya::util::KernelVersion::new(6, 6, 0));
        let label = if tcx { "tcx" } else { "tc clsact" };
        if !tcx {
            // The qdisc the legacy hook needs; one there already (someone's filters) is kept.
            if let Err(err) = tc::qdisc_add_clsact(iface) {
                tracing::debug!("clsact on {iface}: {err}");
            }
        }
        // tcx appends it as the last program: those attached before it see packets first.
        let link = program
            .attach(iface, TcAttachType::Ingress)
            .map_err(|source| LoaderError::Attach {
                iface: iface.to_owned(),
                mode: label,
                source,
            })?;
        Ok((HookLink::Tc(link), label))
    }

    /// Detaches `link`. One whose interface is gone was detached by the kernel already.
    pub fn detach(&mut self, link: HookLink) -> Result<(), LoaderError> {
        match link {
            HookLink::Xdp(link) => program(&mut self.ebpf)?.detach(link),
            HookLink::Tc(link) => tc_program(&mut self.ebpf)?.detach(link),
        }
        .map_err(LoaderError::Verify)
    }
}

/// Where the program's aya-log records go: the daemon's log, each line saying it is the program's.
pub struct KernelLog;

impl log::Log for KernelLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        match record.level() {
            log::Level::Error => tracing::error!("the kernel program: {}", record.args()),
            log::Level::Warn => tracing::warn!("the kernel program: {}", record.args()),
            _ => tracing::info!("the kernel program: {}", record.args()),
        }
    }

    fn flush(&self) {}
}

impl Loaded {
    /// The reader of the program's log records (its rare events), once; `None` after the first
    /// call, or if the object has no log ring.
    pub fn take_logger(&mut self) -> Option<aya_log::EbpfLogger<KernelLog>> {
        aya_log::EbpfLogger::init_with_logger(&mut self.ebpf, KernelLog).ok()
    }
}

fn tc_program(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier, LoaderError> {
    let missing = LoaderError::Missing {
        what: "tc program",
        name: TC_PROGRAM_NAME,
    };
    ebpf.program_mut(TC_PROGRAM_NAME)
        .ok_or(missing)?
        .try_into()
        .map_err(LoaderError::Verify)
}

/// An attach refused because the interface holds an XDP program: bpf_link_create says EBUSY or
/// EEXIST, the netlink fallback EEXIST or EBUSY too.
fn is_occupied(err: &LoaderError) -> bool {
    let LoaderError::Attach { source, .. } = err else {
        return false;
    };
    let errno = match source {
        ProgramError::SyscallError(syscall) => syscall.io_error.raw_os_error(),
        ProgramError::XdpError(aya::programs::xdp::XdpError::NetlinkError(netlink)) => {
            netlink.raw_os_error()
        }
        _ => None,
    };
    matches!(errno, Some(libc::EEXIST | libc::EBUSY))
}

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The capabilities the program needs, by name: CAP_BPF to load it and create its maps,
/// CAP_PERFMON because the verifier refuses its packet-pointer arithmetic without it (the
/// Spectre v1 hardening for unprivileged loaders), CAP_NET_ADMIN to load an XDP program and
/// attach it. CAP_SYS_ADMIN stands for the first two, as in the kernel.
const NEEDED: [(u32, &str); 3] = [
    (CAP_BPF, "CAP_BPF"),
    (CAP_PERFMON, "CAP_PERFMON"),
    (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
];

/// Says in one line which capabilities are missing when the process may not load or attach the
/// program (`run` and `replay`, which loads it too).
pub fn check_privileges() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    missing_capabilities(effective)
}

/// [`check_privileges`] for an effective capability set.
fn missing_capabilities(effective: u64) -> Result<(), String> {
    let has = |cap: u32| effective & (1 << cap) != 0;
    let held = |cap: u32| has(cap) || (has(CAP_SYS_ADMIN) && matches!(cap, CAP_BPF | CAP_PERFMON));
    let missing: Vec<&str> = NEEDED
        .iter()
        .filter(|&&(cap, _)| !held(cap))
        .map(|&(_, name)| name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, to load and attach its XDP \
         program; missing {}: run it with sudo (`cargo xtask run` does) or grant them \
         (AmbientCapabilities= in dist/dns-counter.service)",
        missing.join(", ")
    ))
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK (later ones ignore it): lift the soft
/// limit to the hard one, which needs no privilege; a failure only matters on such kernels.
pub fn raise_memlock_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls with valid pointers.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use aya::programs::ProgramError;

    use super::{
        CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON, CAP_SYS_ADMIN, LoaderError, map_size_error,
        missing_capabilities, rejected,
    };

    /// Defect: on 6.18 the program did not load with CAP_BPF + CAP_NET_ADMIN, which the check
    /// accepted; the verifier's 143-line refusal followed, twice.
    #[test]
    fn the_missing_capabilities_are_named() {
        let set = |caps: &[u32]| caps.iter().fold(0u64, |set, &cap| set | 1 << cap);
        assert_eq!(
            missing_capabilities(set(&[CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN])),
            Ok(())
        );
        assert_eq!(
            missing_capabilities(set(&[CAP_SYS_ADMIN, CAP_NET_ADMIN])),
            Ok(())
        );
        let missing = |caps: &[u32]| {
            let message = missing_capabilities(set(caps)).expect_err("missing");
            assert!(!message.contains('\n'), "one line: {message}");
            message
                .split_once("; missing ")
                .and_then(|(_, rest)| rest.split_once(':'))
                .map(|(names, _)| names.to_owned())
                .expect("names the missing")
        };
        assert_eq!(missing(&[CAP_BPF, CAP_NET_ADMIN]), "CAP_PERFMON");
        assert_eq!(missing(&[CAP_NET_ADMIN]), "CAP_BPF, CAP_PERFMON");
        assert_eq!(missing(&[CAP_SYS_ADMIN]), "CAP_NET_ADMIN");
        assert_eq!(missing(&[]), "CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN");
    }

    /// Defect: a counts map too large for the kernel (`--max-names 4294967295`) failed as
    /// `cannot load the eBPF object: map error: failed to create map `COUNTS_1`: failed to create
    /// map `COUNTS_1`: Argument list too long (os error 7)`: the map three times, no flag.
    #[test]
    fn a_map_too_large_names_the_flag_and_its_cause_once() {
        let refused = |map: &str, errno: i32| {
            let error = aya::EbpfError::MapError(aya::maps::MapError::CreateError {
                name: map.into(),
                io_error: io::Error::from_raw_os_error(errno),
            });
            format!(
                "{:#}",
                anyhow::Error::from(map_size_error(error, 200_000_000))
            )
        };
        let e2big = io::Error::from_raw_os_error(libc::E2BIG).to_string();
        assert_eq!(
            refused("COUNTS_1", libc::E2BIG),
            format!(
                "cannot create the map COUNTS_1 for --max-names 200000000: this kernel holds no map that large: use a smaller --max-names: {e2big}"
            )
        );
        let enomem = io::Error::from_raw_os_error(libc::ENOMEM).to_string();
        assert_eq!(
            refused("COUNTS_0", libc::ENOMEM),
            format!(
                "cannot create the map COUNTS_0 for --max-names 200000000: not enough kernel memory: use a smaller --max-names, free memory, or raise the memory cgroup's limit: {enomem}"
            )
        );
        assert!(
            refused("CLIENTS_1", libc::ENOMEM).starts_with(
                "cannot create the map CLIENTS_1 for --clients (65536 client prefixes): not enough kernel memory"
            )
        );
        // Other maps, other errors: as aya says them.
        assert!(refused("NAMES", libc::ENOMEM).starts_with("cannot load the eBPF object"));
        assert!(refused("COUNTS_0", libc::EPERM).starts_with("cannot load the eBPF object"));
    }

    /// Defect: a verifier rejection printed the whole verifier log (hundreds of lines) inside
    /// the one error line, and with it the errno twice. Now one line names a file with the log.
    #[test]
    fn a_verifier_rejection_is_one_line_naming_its_log() {
        let log: String = (0..300)
            .map(|insn| format!("{insn}: (b7) r0 = 2 ; R0_w=2\n"))
            .collect();
        let error = ProgramError::LoadError {
            io_error: io::Error::from_raw_os_error(libc::EACCES),
            verifier_log: aya_obj::VerifierLog::new(log.clone()),
        };
        let err = rejected(error);
        let path = match &err {
            LoaderError::Rejected { log, .. } => log.clone(),
            other => panic!("not a rejection: {other:?}"),
        };
        let saved = std::fs::read_to_string(&path).expect("the log file");
        std::fs::remove_file(&path).expect("remove the log file");
        assert_eq!(saved, log);
        let text = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(!text.contains("r0 = 2"), "{text}");
        let errno = io::Error::from_raw_os_error(libc::EACCES).to_string();
        assert_eq!(text.matches(&errno).count(), 1, "{text}");
    }
}
