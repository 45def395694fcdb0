//! The lab: a client namespace and a resolver namespace joined by a veth pair, with unbound
//! answering in the resolver namespace, optionally with resolver addresses the client reaches
//! only through VLAN tags. Everything is torn down on drop, also during a panic.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::dnsperf::Dnsperf;
use crate::netdev;
use crate::prereq::program_path;
use crate::process::{ChildGuard, run_checked};
use crate::tagging::{self, Direction, VlanTag};

pub const RESOLVER_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 53, 1));
pub const CLIENT_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 53, 2));
pub const RESOLVER_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd53, 0, 0, 0, 0, 0, 0, 1));
pub const CLIENT_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd53, 0, 0, 0, 0, 0, 0, 2));
/// A second address of the resolver's veth end on which nothing listens (unbound binds only its
/// own addresses): queries to it cross the veth and the counter but get no answer, so load
/// generators can send at line rate without unbound taking a core.
pub const QUIET_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 53, 3);
const PREFIX_V4: u8 = 24;
const PREFIX_V6: u8 = 64;
/// Tagged addresses are 169.254.53.64 and up, and fd53::40 and up (one /32 and /128 each, on
/// the resolver's veth end; the client reaches them over its base link).
const TAGGED_V4_START: u8 = 64;
const TAGGED_V6_START: u16 = 0x40;
pub const MAX_TAGGED_ADDRESSES: usize = 16;
/// Off on the client's veth end when the lab has tagged addresses (see
/// [`Lab::with_tagged_addresses`]).
const VLAN_TX_OFFLOADS: [&str; 2] = ["tx-vlan-hw-insert", "tx-vlan-stag-hw-insert"];

/// Interface names only exist inside the lab's own namespaces, so fixed names cannot collide
/// with another lab or with the host.
pub const RESOLVER_IFACE: &str = "vres";
pub const CLIENT_IFACE: &str = "vcli";

/// Bound on each `ip` invocation.
const IP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long unbound may take from spawn to answering over both address families.
const UNBOUND_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Makes namespace names unique within this process; the pid makes them unique across processes.
static NEXT_LAB_ID: AtomicU32 = AtomicU32::new(0);

/// A named network namespace, deleted on drop.
pub struct NetNs {
    name: String,
}

impl NetNs {
    pub fn create(name: String) -> anyhow::Result<Self> {
        ip(&["netns", "add", &name])?;
        Ok(Self { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(err) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: deleting network namespace {}: {err:#}", self.name);
        }
    }
}

/// A resolver address pair the client reaches only with VLAN tags: every IP packet from the
/// client to it crosses the veth carrying `tags`, in its bytes, so the counter on the resolver's
/// veth end walks past them. tc programs do the tagging rather than VLAN devices, so the lab also
/// works on kernels built without 802.1Q support (`CONFIG_VLAN_8021Q`); see [`tagging`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedAddress {
    /// Outermost first.
    pub tags: Vec<VlanTag>,
    pub resolver_v4: Ipv4Addr,
    pub resolver_v6: Ipv6Addr,
}

impl TaggedAddress {
    fn new(index: usize, tags: &[VlanTag]) -> anyhow::Result<Self> {
        if index >= MAX_TAGGED_ADDRESSES {
            bail!("a lab has at most {MAX_TAGGED_ADDRESSES} tagged addresses");
        }
        let (Ok(v4_offset), Ok(v6_offset)) = (u8::try_from(index), u16::try_from(index)) else {
            bail!("tagged address index {index} out of range");
        };
        let v6_host = TAGGED_V6_START + v6_offset;
        Ok(Self {
            tags: tags.to_vec(),
            resolver_v4: Ipv4Addr::new(169, 254, 53, TAGGED_V4_START + v4_offset),
            resolver_v6: Ipv6Addr::new(0xfd53, 0, 0, 0, 0, 0, 0, v6_host),
        })
    }
}

/// Two namespaces, a veth pair, any tagged addresses and a running unbound. Fields drop in
/// declaration order: unbound is stopped before its namespace is deleted.
pub struct Lab {
    unbound: ChildGuard,
    work_dir: TempDir,
    tagged_addresses: Vec<TaggedAddress>,
    /// tcx links keeping the tagging programs attached.
    _tagging: Vec<OwnedFd>,
    client: NetNs,
    resolver: NetNs,
}

impl Lab {
    /// Builds the namespaces and the link, starts unbound and returns once it answers over IPv4
    /// and IPv6.
    pub fn new() -> anyhow::Result<Self> {
        Self::with_tagged_addresses(&[])
    }

    /// Like [`Lab::new`], with a [`TaggedAddress`] for each tag stack in `tags` (outermost tag
    /// first, at most [`tagging::MAX_TAGS`] each, at most [`MAX_TAGGED_ADDRESSES`]); unbound
    /// serves those addresses too and answers on each before this returns.
    ///
    /// A veth offers to insert VLAN tags "in hardware": the outermost tag then travels beside the
    /// frame, in its socket buffer, and an XDP program on the other end sees the frame without
    /// it. So with tagged addresses the client's veth end has that offload off, and every tag is
    /// in the frame's bytes, where the counter must walk past it.
    pub fn with_tagged_addresses(tags: &[&[VlanTag]]) -> anyhow::Result<Self> {
        let lab_id = NEXT_LAB_ID.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("dnsc-{}-{lab_id}", std::process::id());
        // Locals drop in reverse order, so a failure below still removes what was made so far.
        let resolver = NetNs::create(format!("{prefix}-res"))?;
        let client = NetNs::create(format!("{prefix}-cli"))?;
        connect(&resolver, &client)?;
        let tagged_addresses = tags
            .iter()
            .enumerate()
            .map(|(index, tags)| TaggedAddress::new(index, tags))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tagging = if tagged_addresses.is_empty() {
            Vec::new()
        } else {
            add_tagged_addresses(&resolver, &client, &tagged_addresses)?
        };

        let work_dir = tempfile::Builder::new()
            .prefix("dns-counter-lab-")
            .tempdir()?;
        let unbound = start_unbound(&resolver, work_dir.path(), &tagged_addresses)?;
        let mut lab = Self {
            unbound,
            work_dir,
            tagged_addresses,
            _tagging: tagging,
            client,
            resolver,
        };
        lab.wait_until_answering()?;
        Ok(lab)
    }

    pub fn resolver_ns(&self) -> &str {
        &self.resolver.name
    }

    pub fn client_ns(&self) -> &str {
        &self.client.name
    }

    /// The interface the counter attaches to: the resolver's end of the veth pair.
    pub fn resolver_iface(&self) -> &'static str {
        RESOLVER_IFACE
    }

    /// Runs `ip -n <resolver namespace> <args>` (to delete, rename or move its interface).
    pub fn resolver_ip(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-n", self.resolver_ns()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Makes the veth pair and its addresses again, as [`Lab::new`] did, after a test deleted it.
    pub fn reconnect(&self) -> anyhow::Result<()> {
        connect(&self.resolver, &self.client)
    }

    /// A namespace of its own for this lab's tests (`<lab>-<suffix>`), deleted on drop.
    pub fn extra_namespace(&self, suffix: &str) -> anyhow::Result<NetNs> {
        let base = self.resolver_ns().trim_end_matches("-res");
        NetNs::create(format!("{base}-{suffix}"))
    }

    /// The tagged addresses, in the order their tags were given.
    pub fn tagged_addresses(&self) -> &[TaggedAddress] {
        &self.tagged_addresses
    }

    /// Runs `f` on a thread inside the client namespace (see [`netdev::in_namespace`]): sockets
    /// it opens send from the client's side of the lab.
    pub fn in_client_ns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> anyhow::Result<R> {
        netdev::in_namespace(self.client_ns(), f)
    }

    pub fn unbound_pid(&self) -> u32 {
        self.unbound.id()
    }

    /// A directory that lives as long as the lab (config, logs, datafiles).
    pub fn work_dir(&self) -> &Path {
        self.work_dir.path()
    }

    /// `ip netns exec <namespace> <program>`, ready for arguments.
    pub fn netns_command(namespace: &str, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new(program_path("ip"));
        command.args(["netns", "exec", namespace]).arg(program);
        command
    }

    /// Sends one query to each address unbound serves until all are answered (unbound needs a
    /// moment to bind), failing if unbound exits or the deadline passes.
    fn wait_until_answering(&mut self) -> anyhow::Result<()> {
        let probe = self.work_dir().join("probe.queries");
        fs::write(&probe, "probe.lab.test A\n")?;
        let deadline = Instant::now() + UNBOUND_READY_TIMEOUT;
        let mut pending = vec![RESOLVER_V4, RESOLVER_V6];
        for tagged in &self.tagged_addresses {
            pending.extend([
                IpAddr::V4(tagged.resolver_v4),
                IpAddr::V6(tagged.resolver_v6),
            ]);
        }
        while !pending.is_empty() {
            if self.unbound.has_exited() {
                bail!(
                    "unbound exited during startup; {}",
                    self.unbound_diagnostics()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "unbound did not answer on {pending:?} within {UNBOUND_READY_TIMEOUT:?}; {}",
                    self.unbound_diagnostics()
                );
            }
            let mut still_pending = Vec::new();
            for server in pending {
                let summary = Dnsperf::new(server, &probe)
                    .query_timeout(Duration::from_secs(1))
                    .time_limit(Duration::from_secs(1))
                    .run(self)?;
                if summary.completed != 1 {
                    still_pending.push(server);
                }
            }
            pending = still_pending;
            if !pending.is_empty() {
                thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    fn unbound_diagnostics(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.work_dir().join(name)).unwrap_or_default();
        format!(
            "unbound stderr: {:?}; unbound log: {:?}",
            read(UNBOUND_STDERR).trim(),
            read(UNBOUND_LOG).trim()
        )
    }
}

const UNBOUND_CONF: &str = "unbound.conf";
const UNBOUND_LOG: &str = "unbound.log";
const UNBOUND_STDERR: &str = "unbound.stderr";

fn ip(args: &[&str]) -> anyhow::Result<String> {
    run_checked(&program_path("ip").to_string_lossy(), args, IP_TIMEOUT)
}

/// Creates the veth pair directly inside the namespaces (it never appears on the host), adds the
/// addresses and brings every link up. `nodad` makes the IPv6 addresses usable at once, so
/// unbound can bind them without waiting for duplicate address detection.
fn connect(resolver: &NetNs, client: &NetNs) -> anyhow::Result<()> {
    let (res, cli) = (resolver.name.as_str(), client.name.as_str());
    ip(&[
        "-n",
        res,
        "link",
        "add",
        RESOLVER_IFACE,
        "type",
        "veth",
        "peer",
        "name",
        CLIENT_IFACE,
        "netns",
        cli,
    ])?;
    for (ns, iface, v4, v6) in [
        (res, RESOLVER_IFACE, RESOLVER_V4, RESOLVER_V6),
        (cli, CLIENT_IFACE, CLIENT_V4, CLIENT_V6),
    ] {
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{v4}/{PREFIX_V4}"),
            "dev",
            iface,
        ])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{v6}/{PREFIX_V6}"),
            "dev",
            iface,
            "nodad",
        ])?;
        ip(&["-n", ns, "link", "set", iface, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    let quiet = format!("{QUIET_V4}/32");
    ip(&["-n", res, "addr", "add", &quiet, "dev", RESOLVER_IFACE])?;
    Ok(())
}

/// Adds the tagged addresses to the resolver's veth end, turns the client's VLAN transmit
/// offloads off, and attaches the tagging programs: one per address on the client's egress, one
/// that pops tags on the resolver's ingress. Returns the tcx links holding them.
fn add_tagged_addresses(
    resolver: &NetNs,
    client: &NetNs,
    tagged_addresses: &[TaggedAddress],
) -> anyhow::Result<Vec<OwnedFd>> {
    let res = resolver.name.as_str();
    for tagged in tagged_addresses {
        let v4 = format!("{}/32", tagged.resolver_v4);
        ip(&["-n", res, "addr", "add", &v4, "dev", RESOLVER_IFACE])?;
        let v6 = format!("{}/128", tagged.resolver_v6);
        ip(&[
            "-n",
            res,
            "addr",
            "add",
            &v6,
            "dev",
            RESOLVER_IFACE,
            "nodad",
        ])?;
    }
    let pushers = tagged_addresses
        .iter()
        .map(|tagged| tagging::push_program(&tagged.tags, tagged.resolver_v4, tagged.resolver_v6))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let popper = tagging::pop_program()?;

    let mut links = netdev::in_namespace(&client.name, || {
        netdev::disable_features(CLIENT_IFACE, &VLAN_TX_OFFLOADS)?;
        pushers
            .iter()
            .map(|program| tagging::attach(program, CLIENT_IFACE, Direction::Egress))
            .collect::<anyhow::Result<Vec<_>>>()
    })??;
    links.push(netdev::in_namespace(res, || {
        tagging::attach(&popper, RESOLVER_IFACE, Direction::Ingress)
    })??);
    Ok(links)
}

fn start_unbound(
    resolver: &NetNs,
    work_dir: &Path,
    tagged_addresses: &[TaggedAddress],
) -> anyhow::Result<ChildGuard> {
    let conf_path = work_dir.join(UNBOUND_CONF);
    fs::write(&conf_path, unbound_config(work_dir, tagged_addresses))?;
    let stderr = File::create(work_dir.join(UNBOUND_STDERR))?;
    // `ip netns exec` execs unbound in place, so the child pid is unbound's own.
    let child = Lab::netns_command(&resolver.name, program_path("unbound"))
        .arg("-d")
        .arg("-c")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .context("spawning unbound")?;
    Ok(ChildGuard::new(child, "unbound"))
}

/// An unbound that serves only the lab's addresses and answers NXDOMAIN for everything from a
/// static root zone, so it never needs (or tries) to reach the internet.
fn unbound_config(work_dir: &Path, tagged_addresses: &[TaggedAddress]) -> String {
    let tagged_interfaces: String = tagged_addresses
        .iter()
        .map(|tagged| {
            format!(
                "    interface: {}\n    interface: {}\n",
                tagged.resolver_v4, tagged.resolver_v6
            )
        })
        .collect();
    let dir = quoted(work_dir);
    let pidfile = quoted(&work_dir.join("unbound.pid"));
    let logfile = quoted(&work_dir.join(UNBOUND_LOG));
    format!(
        r#"server:
    interface: {RESOLVER_V4}
    interface: {RESOLVER_V6}
{tagged_interfaces}    port: 53
    access-control: 169.254.53.0/24 allow
    access-control: fd53::/64 allow
    local-zone: "." static
    module-config: "iterator"
    do-daemonize: no
    username: ""
    chroot: ""
    directory: {dir}
    pidfile: {pidfile}
    num-threads: 1
    use-syslog: no
    logfile: {logfile}
    verbosity: 0
remote-control:
    control-enable: no
"#
    )
}

fn quoted(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// Names of all network namespaces (`ip netns list`), for cleanup checks.
pub fn list_netns() -> anyhow::Result<Vec<String>> {
    let listing = ip(&["netns", "list"])?;
    // Lines look like `name` or `name (id: 3)`.
    Ok(listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Whether a process with `pid` exists and runs `program` (guards against pid reuse).
pub fn process_is_running(pid: u32, program: &str) -> bool {
    let comm_path = PathBuf::from(format!("/proc/{pid}/comm"));
    fs::read_to_string(comm_path).is_ok_and(|comm| comm.trim() == program)
}
