//! Waits until no XDP program still runs against the map set the daemon just switched away from.
//!
//! The kernel calls `synchronize_rcu()` after every update of a map-of-maps, so that userspace
//! knows no program still sees the old value when the syscall returns (kernel/bpf/syscall.c,
//! `maybe_wait_bpf_programs`). XDP programs run inside an RCU read-side section, so one such
//! update after the flip is a barrier for all of them. aya 0.14 cannot create a map-of-maps
//! without an eBPF object declaring it, hence the two raw `bpf(2)` calls.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
/// Size of `union bpf_attr` that we pass; the kernel accepts a prefix with zeroed tail.
const ATTR_LEN: usize = 128;

fn bpf(cmd: libc::c_long, attr: &mut [u8; ATTR_LEN]) -> io::Result<libc::c_long> {
    // SAFETY: attr is a zeroed, properly sized bpf_attr prefix for `cmd`.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), ATTR_LEN as u32) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn put_u32(attr: &mut [u8; ATTR_LEN], offset: usize, value: u32) {
    attr[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
}

fn put_u64(attr: &mut [u8; ATTR_LEN], offset: usize, value: u64) {
    attr[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
}

fn create_array(map_type: u32, inner_map_fd: u32) -> io::Result<OwnedFd> {
    let mut attr = [0u8; ATTR_LEN];
    put_u32(&mut attr, 0, map_type);
    put_u32(&mut attr, 4, 4); // key_size
    put_u32(&mut attr, 8, 4); // value_size
    put_u32(&mut attr, 12, 1); // max_entries
    put_u32(&mut attr, 20, inner_map_fd);
    let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// An array-of-maps with one slot, updated to force an RCU grace period.
#[derive(Debug)]
pub struct GracePeriod {
    outer: OwnedFd,
    inner: OwnedFd,
}

impl GracePeriod {
    pub fn new() -> io::Result<Self> {
        let inner = create_array(BPF_MAP_TYPE_ARRAY, 0)?;
        let outer = create_array(BPF_MAP_TYPE_ARRAY_OF_MAPS, inner.as_raw_fd() as u32)?;
        Ok(Self { outer, inner })
    }

    /// Returns once every BPF program that was running when it was called has finished.
    pub fn wait(&self) -> io::Result<()> {
        let key = 0u32;
        let value = self.inner.as_raw_fd() as u32;
        let mut attr = [0u8; ATTR_LEN];
        put_u32(&mut attr, 0, self.outer.as_raw_fd() as u32);
        put_u64(&mut attr, 8, &key as *const u32 as u64);
        put_u64(&mut attr, 16, &value as *const u32 as u64);
        put_u64(&mut attr, 24, 0); // BPF_ANY
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr)?;
        Ok(())
    }
}
