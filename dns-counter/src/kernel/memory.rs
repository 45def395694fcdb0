//! The kernel memory the program's maps take, and whether the host has it: checked before the
//! maps are created, so that a `--max-names` too large for the host is one line naming it, not
//! an ENOMEM from map creation or, worse, memory taken from the resolver beside it.
//!
//! The maps are preallocated: they cost their full size from the start, counting or not. Since
//! Linux 5.11 that memory is charged to the process's memory cgroup (not to `RLIMIT_MEMLOCK`), so
//! what limits it is the memory available on the host and the cgroup's limit (systemd's
//! `MemoryMax=`), whichever is tighter.

use std::{
    fmt, fs,
    path::{Path, PathBuf},
};

use dns_counter_common::maps::{
    Config, MAX_CLIENT_PREFIXES, NAMES_RING_BYTES, PORT_WORDS, QTYPE_PER_CPU_SLOTS, QTYPE_SLOTS,
    STATS_PER_SET, Scratch,
};
use thiserror::Error;

/// The most names a counts map can hold. The kernel sizes a hash map's buckets (16 bytes each)
/// to the next power of two of its entries and refuses buckets over 4 GiB (E2BIG), so 2^27; two
/// such maps take 21 GiB.
pub const MAX_NAMES_LIMIT: u32 = 1 << 27;

/// What the kernel charges for one map beyond the terms modelled below (`struct bpf_htab` is 896
/// bytes on 6.18, `struct bpf_array` about 300): a bound, not a measurement.
const MAP_HEADER: u64 = 1024;
/// Maps of the object this module does not list by name: `.rodata`, `.bss` and the like.
const OTHER_MAPS: u64 = 4;
/// `struct htab_elem` without its key and value (48 bytes on 64-bit kernels).
const HTAB_ELEM: u64 = 48;
/// One hash bucket: a list head and a lock.
const BUCKET: u64 = 16;
/// `HASHTAB_MAP_LOCK_COUNT` lock counters (`int`) per possible CPU.
const HTAB_LOCKS: u64 = 8 * 4;
const PAGE: u64 = 4096;

fn round8(size: usize) -> u64 {
    (size as u64).div_ceil(8) * 8
}

/// A preallocated hash map (`htab_map_mem_usage`): buckets, elements (one spare per CPU),
/// locks and a spare-element pointer per CPU.
fn hash(entries: u32, key: usize, value: usize, cpus: u64) -> u64 {
    let entries = u64::from(entries);
    let elem = HTAB_ELEM + round8(key) + round8(value);
    MAP_HEADER
        + BUCKET * entries.next_power_of_two()
        + elem * (entries + cpus)
        + (HTAB_LOCKS + 8) * cpus
}

/// A preallocated per-CPU hash map: the value of each element once per CPU, no spare elements.
fn per_cpu_hash(entries: u32, key: usize, value: usize, cpus: u64) -> u64 {
    let entries = u64::from(entries);
    let elem = HTAB_ELEM + round8(key) + 8;
    MAP_HEADER
        + BUCKET * entries.next_power_of_two()
        + elem * entries
        + HTAB_LOCKS * cpus
        + round8(value) * cpus * entries
}

fn array(entries: u32, value: usize) -> u64 {
    MAP_HEADER + u64::from(entries) * round8(value)
}

/// A per-CPU array: a pointer per entry and the values once per CPU.
fn per_cpu_array(entries: u32, value: usize, cpus: u64) -> u64 {
    MAP_HEADER + u64::from(entries) * (8 + round8(value) * cpus)
}

/// aya-log-ebpf 0.2's ring for the program's log records (`AYA_LOGS`).
const AYA_LOG_RING_BYTES: u32 = 1 << 17;

/// A ring buffer: its pages, two of positions, and the page table that maps the data twice.
fn ring(bytes: u32) -> u64 {
    let pages = u64::from(bytes) / PAGE;
    MAP_HEADER + (pages + 2) * PAGE + (pages + 2) * 16
}

/// The kernel memory (the maps' `memlock`) of the program loaded with `max_names` per counts map,
/// with or without room for client prefixes (`--clients`), on a host of `possible_cpus`. An upper
/// bound within a few KiB: the counts and clients maps, nearly all of it, are modelled exactly.
pub fn map_bytes(max_names: u32, clients: bool, possible_cpus: u32) -> u64 {
    let cpus = u64::from(possible_cpus.max(1));
    let max_clients = if clients { MAX_CLIENT_PREFIXES } else { 1 };
    let u64_size = size_of::<u64>();
    2 * hash(max_names, u64_size, u64_size, cpus)
        + 2 * per_cpu_hash(
            max_clients,
            size_of::<dns_counter_common::maps::ClientKey>(),
            u64_size,
            cpus,
        )
        + per_cpu_array(2 * STATS_PER_SET, u64_size, cpus)
        + per_cpu_array(2 * QTYPE_PER_CPU_SLOTS, u64_size, cpus)
        + array(2 * QTYPE_SLOTS, u64_size)
        + ring(NAMES_RING_BYTES)
        + ring(AYA_LOG_RING_BYTES)
        + array(PORT_WORDS, u64_size)
        + array(1, size_of::<Config>())
        + per_cpu_array(1, size_of::<Scratch>(), cpus)
        // OPAQUE, and the baseline program's counter.
        + 2 * per_cpu_array(1, u64_size, cpus)
        + OTHER_MAPS * MAP_HEADER
}

/// What the host lets the maps take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMemory {
    /// `MemAvailable` of `/proc/meminfo`, in bytes.
    pub available: Option<u64>,
    /// The tightest memory cgroup limit over the process's cgroup and the ones above it.
    pub cgroup: Option<CgroupMemory>,
}

/// A memory cgroup's limit and what its processes use of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMemory {
    /// The cgroup's directory, e.g. `/sys/fs/cgroup/system.slice/dns-counter.service`.
    pub dir: PathBuf,
    /// `memory.max` (cgroup v2) or `memory.limit_in_bytes` (v1).
    pub limit: u64,
    /// `memory.current` (v2) or `memory.usage_in_bytes` (v1).
    pub usage: u64,
}

impl CgroupMemory {
    /// What the cgroup's processes may still take.
    pub fn room(&self) -> u64 {
        self.limit.saturating_sub(self.usage)
    }
}

/// Why the maps would not fit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemoryError {
    #[error(
        "{} needs {} of kernel memory for its maps, more than the {} available on this host (MemAvailable): {}",
        Sizing(*max_names, *clients), Bytes(*need), Bytes(*available), Fix(*fits, "free memory")
    )]
    Host {
        max_names: u32,
        clients: bool,
        need: u64,
        available: u64,
        /// The largest `--max-names` that fits, if any does.
        fits: Option<u32>,
    },
    #[error(
        "{} needs {} of kernel memory for its maps, more than the {} its memory cgroup {} allows ({} limit, {} in use): {}",
        Sizing(*max_names, *clients), Bytes(*need), Bytes(cgroup.room()), cgroup.dir.display(),
        Bytes(cgroup.limit), Bytes(cgroup.usage), Fix(*fits, "raise the cgroup's limit (systemd: MemoryMax=)")
    )]
    Cgroup {
        max_names: u32,
        clients: bool,
        need: u64,
        cgroup: CgroupMemory,
        fits: Option<u32>,
    },
}

/// `--max-names N` and `--clients` as an error names them.
struct Sizing(u32, bool);

impl fmt::Display for Sizing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--max-names {}", self.0)?;
        if self.1 {
            f.write_str(" with --clients")?;
        }
        Ok(())
    }
}

/// A byte count for people: KiB, MiB or GiB.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: u64 = 1 << 10;
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        match self.0 {
            bytes if bytes >= GIB => write!(f, "{:.1} GiB", bytes as f64 / GIB as f64),
            bytes if bytes >= MIB => write!(f, "{} MiB", bytes.div_ceil(MIB)),
            bytes => write!(f, "{} KiB", bytes.div_ceil(KIB)),
        }
    }
}

struct Fix(Option<u32>, &'static str);

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(fits) => write!(f, "use --max-names {fits} or less, or {}", self.1),
            None => write!(f, "not even --max-names 1 fits: {}", self.1),
        }
    }
}

/// Whether the maps of `--max-names max_names` (and `--clients`) fit in what `host` allows on a
/// host of `possible_cpus`; what they need if they do. A limit that could not be read does not
/// count against them.
pub fn check_map_memory(
    max_names: u32,
    clients: bool,
    possible_cpus: u32,
    host: &HostMemory,
) -> Result<u64, MemoryError> {
    let need = map_bytes(max_names, clients, possible_cpus);
    let fits = |room: u64| largest_fitting(room, clients, possible_cpus);
    // The cgroup first: within it, its limit is what the kernel enforces on map creation.
    if let Some(cgroup) = host.cgroup.as_ref().filter(|cgroup| need > cgroup.room()) {
        return Err(MemoryError::Cgroup {
            max_names,
            clients,
            need,
            fits: fits(cgroup.room()),
            cgroup: cgroup.clone(),
        });
    }
    if let Some(available) = host.available.filter(|&available| need > available) {
        return Err(MemoryError::Host {
            max_names,
            clients,
            need,
            available,
            fits: fits(available),
        });
    }
    Ok(need)
}

/// The largest `--max-names` whose maps take at most `room`, cut to two significant digits (a
/// figure to type), if one does.
fn largest_fitting(room: u64, clients: bool, possible_cpus: u32) -> Option<u32> {
    let fits = |names: u32| map_bytes(names, clients, possible_cpus) <= room;
    if !fits(1) {
        return None;
    }
    let (mut low, mut high) = (1, MAX_NAMES_LIMIT);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if fits(middle) {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    let unit = 10u32.pow(low.ilog10().saturating_sub(1));
    Some((low / unit * unit).max(1))
}

impl HostMemory {
    /// This host's: `/proc/meminfo` and the memory cgroup of this process.
    pub fn read() -> Self {
        Self::read_under(Path::new("/"))
    }

    /// As [`HostMemory::read`], with `/proc` and the cgroup file systems under `root`.
    fn read_under(root: &Path) -> Self {
        let read = |path: &str| fs::read_to_string(root.join(path)).unwrap_or_default();
        let mountinfo = read("proc/self/mountinfo");
        let cgroups = read("proc/self/cgroup");
        Self {
            available: mem_available(&read("proc/meminfo")),
            cgroup: cgroup_dirs(&mountinfo, &cgroups)
                .into_iter()
                .flat_map(|(version, dir)| {
                    let dir = root.join(dir.strip_prefix("/").unwrap_or(&dir));
                    ancestors_limits(version, &dir, root)
                })
                .min_by_key(CgroupMemory::room),
        }
    }
}

/// `MemAvailable:  24094552 kB` in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let kib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kib.checked_mul(1024)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CgroupVersion {
    V1,
    V2,
}

/// The directories of this process's memory cgroups (v2, and v1's memory controller on a host
/// that still mounts it), from `/proc/self/mountinfo` and `/proc/self/cgroup`.
fn cgroup_dirs(mountinfo: &str, cgroups: &str) -> Vec<(CgroupVersion, PathBuf)> {
    let mut dirs = Vec::new();
    for line in mountinfo.lines() {
        // id parent major:minor root mount-point options [optional...] - fstype source super-options
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split(' ').collect();
        let mut after = after.split(' ');
        let (Some(&mount_root), Some(&mount_point)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let (fstype, super_options) = (after.next(), after.nth(1).unwrap_or_default());
        let version = match fstype {
            Some("cgroup2") => CgroupVersion::V2,
            Some("cgroup") if super_options.split(',').any(|option| option == "memory") => {
                CgroupVersion::V1
            }
            _ => continue,
        };
        // `0::/path` for v2; `N:controller,...:/path` for v1.
        let path = cgroups.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let wanted = match version {
                CgroupVersion::V2 => id == "0" && controllers.is_empty(),
                CgroupVersion::V1 => controllers.split(',').any(|c| c == "memory"),
            };
            wanted.then_some(path)
        });
        let Some(path) = path else { continue };
        // The mount shows the hierarchy from `mount_root` on (a container's cgroup namespace).
        let inside = Path::new(path)
            .strip_prefix(mount_root)
            .unwrap_or(Path::new(path));
        dirs.push((version, Path::new(mount_point).join(inside)));
    }
    dirs
}

/// The limit and usage of `dir` and of every cgroup above it that has a limit, up to the
/// hierarchy's root (which has none); `root` is where the file systems are (`/` but in tests).
fn ancestors_limits(version: CgroupVersion, dir: &Path, root: &Path) -> Vec<CgroupMemory> {
    let (limit_file, usage_file) = match version {
        CgroupVersion::V2 => ("memory.max", "memory.current"),
        CgroupVersion::V1 => ("memory.limit_in_bytes", "memory.usage_in_bytes"),
    };
    let number =
        |path: PathBuf| -> Option<u64> { fs::read_to_string(path).ok()?.trim().parse().ok() };
    dir.ancestors()
        .take_while(|level| level.starts_with(root) && level.join(limit_file).exists())
        .filter_map(|level| {
            // `max` (v2), or v1's "unlimited", a page counter's maximum near 2^63.
            let limit = number(level.join(limit_file)).filter(|&limit| limit < 1 << 62)?;
            Some(CgroupMemory {
                dir: Path::new("/").join(level.strip_prefix(root).unwrap_or(level)),
                limit,
                usage: number(level.join(usage_file)).unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    /// The figures measured here (kernel 6.18, 2 possible CPUs): each counts map of 1,000,000
    /// names 80,778,320 bytes, of 1,000 names 81,488; each clients map of one entry 1,072; the
    /// program's maps 196 MB in all at the default (the 128 KiB log ring included). The model is
    /// within a few KiB above.
    #[test]
    fn the_model_matches_the_kernels_accounting() {
        let counts = |names| hash(names, 8, 8, 2);
        assert!((80_778_320..80_778_320 + 256).contains(&counts(1_000_000)));
        assert!((81_488..81_488 + 256).contains(&counts(1_000)));
        assert!((1_072..1_072 + 256).contains(&per_cpu_hash(1, 24, 8, 2)));
        let all = map_bytes(1_000_000, false, 2);
        assert!((196_460_000..196_540_000).contains(&all), "{all}");
        // Clients: 96 + 8 per CPU bytes a prefix and map, as the README says (14.7 MB on 2 CPUs).
        let clients = map_bytes(1_000_000, true, 2) - all;
        assert!((14_670_000..14_690_000).contains(&clients), "{clients}");
        // The buckets go by powers of two: 10,000,000 names take 16,777,216 buckets.
        let ten_million = map_bytes(10_000_000, false, 2);
        assert!(
            (1_850_000_000..1_860_000_000).contains(&ten_million),
            "{ten_million}"
        );
    }

    fn host(available: u64) -> HostMemory {
        HostMemory {
            available: Some(available),
            cgroup: None,
        }
    }

    /// Defect: `--max-names 10000000` locked 1.77 GB whatever the host had; on a host without it,
    /// map creation failed (ENOMEM) or the memory came from the processes beside it.
    #[test]
    fn maps_larger_than_the_host_has_are_refused_naming_the_flag() {
        assert_eq!(
            check_map_memory(1_000_000, false, 2, &host(8 * GIB)),
            Ok(map_bytes(1_000_000, false, 2))
        );
        let err = check_map_memory(10_000_000, false, 2, &host(GIB)).expect_err("too large");
        assert_eq!(
            err.to_string(),
            "--max-names 10000000 needs 1.7 GiB of kernel memory for its maps, more than the 1.0 GiB available on this host (MemAvailable): use --max-names 6000000 or less, or free memory"
        );
        let MemoryError::Host {
            fits: Some(fits), ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert!(map_bytes(fits, false, 2) <= GIB);
        assert!(map_bytes(fits + 100_000, false, 2) > GIB);
        // --clients on 64 CPUs takes 80 MB more.
        let err = check_map_memory(1_000_000, true, 64, &host(250 * MIB)).expect_err("clients");
        assert!(
            err.to_string().starts_with(
                "--max-names 1000000 with --clients needs 264 MiB of kernel memory for its maps, more than the 250 MiB available"
            ),
            "{err}"
        );
        let err = check_map_memory(1_000, false, 2, &host(MIB)).expect_err("nothing fits");
        assert!(
            err.to_string()
                .ends_with(": not even --max-names 1 fits: free memory"),
            "{err}"
        );
        // Nothing known, nothing refused.
        assert!(check_map_memory(MAX_NAMES_LIMIT, true, 2, &HostMemory::default()).is_ok());
    }

    #[test]
    fn a_cgroup_limit_tighter_than_the_host_is_what_counts() {
        let cgroup = CgroupMemory {
            dir: "/sys/fs/cgroup/system.slice/dns-counter.service".into(),
            limit: 512 * MIB,
            usage: 12 * MIB,
        };
        let limited = HostMemory {
            available: Some(16 * GIB),
            cgroup: Some(cgroup.clone()),
        };
        assert!(check_map_memory(1_000_000, false, 2, &limited).is_ok());
        let err = check_map_memory(3_000_000, false, 2, &limited).expect_err("over the limit");
        assert_eq!(
            err.to_string(),
            "--max-names 3000000 needs 528 MiB of kernel memory for its maps, more than the 500 MiB its memory cgroup /sys/fs/cgroup/system.slice/dns-counter.service allows (512 MiB limit, 12 MiB in use): use --max-names 2700000 or less, or raise the cgroup's limit (systemd: MemoryMax=)"
        );
        // The host's memory still counts when the cgroup allows more.
        let loose = HostMemory {
            available: Some(256 * MIB),
            cgroup: Some(CgroupMemory {
                limit: 64 * GIB,
                ..cgroup
            }),
        };
        assert!(matches!(
            check_map_memory(2_000_000, false, 2, &loose),
            Err(MemoryError::Host { .. })
        ));
    }

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    #[test]
    fn host_memory_is_read_from_meminfo_and_the_tightest_cgroup_above() {
        let root = tempfile::tempdir().expect("temp dir");
        let root = root.path();
        write(
            root,
            "proc/meminfo",
            "MemTotal:       24683664 kB\nMemFree:        22680324 kB\nMemAvailable:   24094552 kB\n",
        );
        write(
            root,
            "proc/self/mountinfo",
            "31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n\
             22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n",
        );
        write(
            root,
            "proc/self/cgroup",
            "0::/system.slice/dns-counter.service\n",
        );
        let service = "sys/fs/cgroup/system.slice/dns-counter.service";
        write(root, &format!("{service}/memory.max"), "max\n");
        write(root, &format!("{service}/memory.current"), "1048576\n");
        write(
            root,
            "sys/fs/cgroup/system.slice/memory.max",
            "2147483648\n",
        );
        write(
            root,
            "sys/fs/cgroup/system.slice/memory.current",
            "1610612736\n",
        );
        let memory = HostMemory::read_under(root);
        assert_eq!(memory.available, Some(24_094_552 * 1024));
        assert_eq!(
            memory.cgroup,
            Some(CgroupMemory {
                dir: "/sys/fs/cgroup/system.slice".into(),
                limit: 2 * GIB,
                usage: 3 * GIB / 2,
            })
        );
        // A limit on the service itself, tighter than the slice's room.
        write(root, &format!("{service}/memory.max"), "268435456\n");
        let memory = HostMemory::read_under(root);
        let cgroup = memory.cgroup.expect("a limit");
        assert_eq!((cgroup.limit, cgroup.usage), (256 * MIB, MIB));
        assert_eq!(
            cgroup.dir,
            Path::new("/sys/fs/cgroup/system.slice/dns-counter.service")
        );
    }

    #[test]
    fn a_v1_memory_controller_counts_too_and_no_cgroup_is_no_limit() {
        let root = tempfile::tempdir().expect("temp dir");
        let root = root.path();
        write(
            root,
            "proc/self/mountinfo",
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
        );
        write(
            root,
            "proc/self/cgroup",
            "5:cpu:/\n4:memory:/jobs/a\n0::/\n",
        );
        let job = "sys/fs/cgroup/memory/jobs/a";
        write(
            root,
            &format!("{job}/memory.limit_in_bytes"),
            "1073741824\n",
        );
        write(root, &format!("{job}/memory.usage_in_bytes"), "0\n");
        write(
            root,
            "sys/fs/cgroup/memory/jobs/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            root,
            "sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        let memory = HostMemory::read_under(root);
        assert_eq!(memory.available, None);
        assert_eq!(
            memory.cgroup.map(|c| (c.dir, c.limit)),
            Some((PathBuf::from("/sys/fs/cgroup/memory/jobs/a"), GIB))
        );
        write(
            root,
            &format!("{job}/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        assert_eq!(HostMemory::read_under(root).cgroup, None);
    }

    #[test]
    fn this_hosts_memory_is_read() {
        let memory = HostMemory::read();
        let meminfo = fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
        assert!(meminfo.contains("MemAvailable:"));
        assert!(
            memory.available.is_some_and(|bytes| bytes > 0),
            "{memory:?}"
        );
    }
}
