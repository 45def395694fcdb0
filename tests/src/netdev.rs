//! Network plumbing the `ip` command cannot do: running code inside a named network namespace, and
//! switching a device's offload features off through the ethtool ioctl (ethtool itself is not a
//! lab prerequisite).

use std::ffi::c_char;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::thread;

use anyhow::{Context, bail};

/// Where `ip netns add` keeps a handle on each named namespace.
const NETNS_RUN_DIR: &str = "/var/run/netns";

/// Runs `f` on a fresh thread that has joined the network namespace `namespace`, and returns its
/// result. Sockets `f` creates belong to that namespace for their whole life; the calling thread
/// and the rest of the process stay where they are. A panic in `f` is resumed on the caller.
pub fn in_namespace<R: Send>(namespace: &str, f: impl FnOnce() -> R + Send) -> anyhow::Result<R> {
    let path = Path::new(NETNS_RUN_DIR).join(namespace);
    let handle = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    thread::scope(|scope| {
        let worker = scope.spawn(|| {
            // SAFETY: setns(2) only changes this thread's network namespace; the descriptor is
            // open for the duration of the call.
            if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error())
                    .with_context(|| format!("entering network namespace {namespace}"));
            }
            Ok(f())
        });
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

// From <linux/ethtool.h>; libc does not carry the ethtool ABI.
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETHTOOL_SFEATURES: u32 = 0x3b;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;
/// Feature strings a kernel may report; the 6.x kernels have about 70.
const MAX_FEATURES: usize = 1024;

/// Turns the named features (as `ethtool -k` spells them, e.g. `tx-vlan-hw-insert`) off on
/// `iface` in the calling thread's network namespace, and checks that they are off.
pub fn disable_features(iface: &str, features: &[&str]) -> anyhow::Result<()> {
    let ethtool = Ethtool::open(iface)?;
    let names = ethtool.feature_names()?;
    let blocks = names.len().div_ceil(32);
    let mut bits = Vec::new();
    for feature in features {
        let bit = names
            .iter()
            .position(|name| name == feature)
            .with_context(|| format!("{iface} has no feature {feature:?}"))?;
        bits.push(bit);
    }

    // struct ethtool_sfeatures: cmd, size, then `size` blocks of (valid, requested).
    let mut request = vec![0u32; 2 + 2 * blocks];
    request[0] = ETHTOOL_SFEATURES;
    request[1] = u32::try_from(blocks)?;
    for &bit in &bits {
        request[2 + 2 * (bit / 32)] |= 1 << (bit % 32);
    }
    ethtool
        .ioctl(request.as_mut_ptr().cast())
        .with_context(|| format!("ETHTOOL_SFEATURES {features:?} off on {iface}"))?;

    // struct ethtool_gfeatures: cmd, size, then `size` blocks of
    // (available, requested, active, never_changed).
    let mut state = vec![0u32; 2 + 4 * blocks];
    state[0] = ETHTOOL_GFEATURES;
    state[1] = u32::try_from(blocks)?;
    ethtool
        .ioctl(state.as_mut_ptr().cast())
        .with_context(|| format!("ETHTOOL_GFEATURES on {iface}"))?;
    let still_on: Vec<&str> = bits
        .iter()
        .filter(|&&bit| state[2 + 4 * (bit / 32) + 2] & (1 << (bit % 32)) != 0)
        .map(|&bit| names[bit].as_str())
        .collect();
    if !still_on.is_empty() {
        bail!("{iface} kept {still_on:?} on after ETHTOOL_SFEATURES");
    }
    Ok(())
}

/// `struct ethtool_sset_info` asking for one string set: the kernel fills in its length.
#[repr(C)]
struct SsetInfo {
    cmd: u32,
    reserved: u32,
    sset_mask: u64,
    lengths: [u32; 1],
}

/// A socket to address `SIOCETHTOOL` requests for one interface to.
struct Ethtool {
    socket: OwnedFd,
    iface: String,
}

impl Ethtool {
    fn open(iface: &str) -> anyhow::Result<Self> {
        if iface.len() >= libc::IFNAMSIZ {
            bail!("interface name {iface:?} is too long");
        }
        // SAFETY: socket(2) has no memory-safety preconditions.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("socket for ethtool requests");
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self {
            socket,
            iface: iface.to_owned(),
        })
    }

    /// The names of the feature bits, indexed by bit.
    fn feature_names(&self) -> anyhow::Result<Vec<String>> {
        let mut info = SsetInfo {
            cmd: ETHTOOL_GSSET_INFO,
            reserved: 0,
            sset_mask: 1 << ETH_SS_FEATURES,
            lengths: [0],
        };
        self.ioctl((&raw mut info).cast())
            .context("ETHTOOL_GSSET_INFO")?;
        let count = usize::try_from(info.lengths[0])?;
        if count == 0 || count > MAX_FEATURES {
            bail!("{} reports {count} feature strings", self.iface);
        }

        // struct ethtool_gstrings: cmd, string_set, len, then len * ETH_GSTRING_LEN bytes.
        let mut strings = vec![0u32; 3 + count * ETH_GSTRING_LEN / 4];
        strings[0] = ETHTOOL_GSTRINGS;
        strings[1] = ETH_SS_FEATURES;
        strings[2] = u32::try_from(count)?;
        self.ioctl(strings.as_mut_ptr().cast())
            .context("ETHTOOL_GSTRINGS")?;
        let bytes: Vec<u8> = strings[3..]
            .iter()
            .flat_map(|word| word.to_ne_bytes())
            .collect();
        Ok(bytes
            .chunks(ETH_GSTRING_LEN)
            .map(|chunk| {
                let end = chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len());
                String::from_utf8_lossy(&chunk[..end]).into_owned()
            })
            .collect())
    }

    /// `ioctl(SIOCETHTOOL)` with `data` pointing at an ethtool command structure.
    fn ioctl(&self, data: *mut c_char) -> io::Result<()> {
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request.ifr_name.iter_mut().zip(self.iface.bytes()) {
            *slot = byte as c_char;
        }
        request.ifr_ifru.ifru_data = data;
        // SAFETY: `request` names an interface (NUL-terminated: `open` checked the length) and
        // points at a command structure the caller sized for the command it holds.
        let result =
            unsafe { libc::ioctl(self.socket.as_raw_fd(), libc::SIOCETHTOOL, &mut request) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
