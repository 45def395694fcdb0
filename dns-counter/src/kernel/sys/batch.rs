//! Batch map operations: many entries per `bpf(2)` call, where aya 0.14 makes one call per entry.
//!
//! `BPF_MAP_LOOKUP_BATCH` and `BPF_MAP_LOOKUP_AND_DELETE_BATCH` (Linux 5.6) walk a map from an
//! opaque position token: the kernel fills caller buffers with up to `count` entries, says how
//! many it filled and where to go on, and answers ENOENT with the last entries. A hash map is
//! walked bucket by bucket, and a bucket that does not fit in what room is left is kept for the
//! next call (ENOSPC when not even one fits). `BPF_MAP_UPDATE_BATCH` writes many entries.
//! The map's key and value sizes are read from the kernel and checked against `K` and `V`, so
//! the kernel never writes past a buffer.

use std::{
    io,
    marker::PhantomData,
    os::fd::{AsRawFd as _, BorrowedFd},
};

use aya::Pod;
use thiserror::Error;

const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
const BPF_MAP_LOOKUP_AND_DELETE_BATCH: libc::c_long = 25;
const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

use super::{
    BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH,
};

/// Entries asked for per call: few calls for a million entries, buffers of a few MiB at most.
pub const DEFAULT_CHUNK: u32 = 1 << 16;
/// Calls in a row that may end in EINTR, EAGAIN or EBUSY (a bucket locked by a program on this
/// CPU) before giving up.
const MAX_RETRIES: u32 = 100;
/// ENOSPC doubles the chunk up to this: far beyond any real hash bucket.
const MAX_CHUNK: u32 = 1 << 24;

/// Which batch operation; named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Info,
    Lookup,
    LookupAndDelete,
    Update,
}

impl Operation {
    const fn name(self) -> &'static str {
        match self {
            Operation::Info => "BPF_OBJ_GET_INFO_BY_FD",
            Operation::Lookup => "BPF_MAP_LOOKUP_BATCH",
            Operation::LookupAndDelete => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
            Operation::Update => "BPF_MAP_UPDATE_BATCH",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Error)]
pub enum BatchError {
    #[error("{operation} failed on map fd {fd}")]
    Syscall {
        operation: Operation,
        fd: i32,
        source: io::Error,
    },
    #[error("map fd {fd} has {what} size {map} bytes, the caller's type {ours}")]
    Size {
        fd: i32,
        what: &'static str,
        map: u32,
        ours: usize,
    },
    #[error("map fd {fd} is of type {map_type}, which batch operations here do not handle")]
    MapType { fd: i32, map_type: u32 },
    #[error("map fd {fd}: {what}")]
    Usage { fd: i32, what: String },
}

/// What the kernel says of a map, as far as batches need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapShape {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

impl MapShape {
    pub fn per_cpu(&self) -> bool {
        matches!(
            self.map_type,
            BPF_MAP_TYPE_PERCPU_HASH | BPF_MAP_TYPE_PERCPU_ARRAY | BPF_MAP_TYPE_LRU_PERCPU_HASH
        )
    }

    pub fn array(&self) -> bool {
        matches!(
            self.map_type,
            BPF_MAP_TYPE_ARRAY | BPF_MAP_TYPE_PERCPU_ARRAY
        )
    }

    fn supported(&self) -> bool {
        matches!(
            self.map_type,
            BPF_MAP_TYPE_HASH
                | BPF_MAP_TYPE_ARRAY
                | BPF_MAP_TYPE_PERCPU_HASH
                | BPF_MAP_TYPE_PERCPU_ARRAY
                | BPF_MAP_TYPE_LRU_HASH
                | BPF_MAP_TYPE_LRU_PERCPU_HASH
        )
    }
}

/// `V`s per entry: one per possible CPU for a per-CPU map (the kernel lays each CPU's value out
/// rounded up to 8 bytes, so `V` must be a multiple of 8 bytes there), else one.
fn values_per_entry(shape: &MapShape, value_len: usize, nr_cpus: usize) -> Result<usize, String> {
    if !shape.per_cpu() {
        return Ok(1);
    }
    if !value_len.is_multiple_of(8) {
        return Err(format!(
            "per-CPU values of {value_len} bytes are padded to 8 by the kernel; use a multiple of 8"
        ));
    }
    if nr_cpus == 0 {
        return Err("no possible CPUs".to_string());
    }
    Ok(nr_cpus)
}

/// Room for the kernel's position token: as large as a key (at least 8 bytes), u64-aligned.
fn token_words(key_size: u32) -> usize {
    (key_size as usize).div_ceil(8).max(1)
}

/// A position token holding the u32 key `index`, as the kernel reads it: key bytes first.
fn u32_token(index: u32) -> Vec<u64> {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&index.to_ne_bytes());
    vec![u64::from_ne_bytes(bytes)]
}

/// What one call's errno means for the walk.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The call filled what it said; go on from its token.
    More,
    /// The map has no entries past these.
    Done,
    /// Nothing wrong, try again (from the token if the call filled anything).
    Retry,
    /// Not even one hash bucket fits: ask for more per call.
    Grow,
    Fail,
}

fn step(result: &io::Result<()>) -> Step {
    match result {
        Ok(()) => Step::More,
        Err(err) => match err.raw_os_error() {
            Some(libc::ENOENT) => Step::Done,
            Some(libc::EINTR | libc::EAGAIN | libc::EBUSY) => Step::Retry,
            Some(libc::ENOSPC) => Step::Grow,
            _ => Step::Fail,
        },
    }
}

/// How many entries a batch call says it did, from the `count` it left in the attribute.
///
/// The kernel writes `count` back (zero first, then the entries it copied) once it starts
/// walking: on success, at the end of the map (ENOENT), and on the errors a walk goes on after
/// (ENOSPC with nothing copied, EBUSY with what it copied before a locked bucket). It returns
/// the other errors (a descriptor that is no map, EPERM on a map the caller may not read,
/// EINVAL) before that, leaving `count` as the caller set it: nothing was done then.
fn written(result: &io::Result<()>, count: u32) -> u32 {
    if step(result) == Step::Fail { 0 } else { count }
}

/// `union bpf_attr`'s `batch` member, as in include/uapi/linux/bpf.h.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}
const _: () = assert!(size_of::<BatchAttr>() == 56);

/// `union bpf_attr`'s `info` member.
#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The head of `struct bpf_map_info`; the kernel copies only as much as we ask for.
#[repr(C)]
#[derive(Default)]
struct MapInfoHead {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

/// `bpf(cmd, attr, sizeof attr)`.
///
/// # Safety
/// `attr` must be the member of `union bpf_attr` that `cmd` reads, and every pointer in it must
/// point at memory the kernel may read or write as `cmd` does.
unsafe fn bpf<A>(cmd: libc::c_long, attr: &mut A) -> io::Result<()> {
    // SAFETY: the caller vouches for attr; the kernel reads size_of::<A>() bytes of it.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut A, size_of::<A>() as u32) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The key and value sizes, type and capacity of the map behind `fd`.
pub fn map_shape(fd: BorrowedFd<'_>) -> Result<MapShape, BatchError> {
    let mut info = MapInfoHead::default();
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: size_of::<MapInfoHead>() as u32,
        info: &raw mut info as u64,
    };
    // SAFETY: `info` has room for the `info_len` bytes the kernel writes.
    unsafe { bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }.map_err(|source| BatchError::Syscall {
        operation: Operation::Info,
        fd: fd.as_raw_fd(),
        source,
    })?;
    Ok(MapShape {
        map_type: info.map_type,
        key_size: info.key_size,
        value_size: info.value_size,
        max_entries: info.max_entries,
    })
}

/// Entries read in one walk: `keys[i]` has the `per_entry` values from `values[i * per_entry]`
/// (one per possible CPU for a per-CPU map).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entries<K, V> {
    pub keys: Vec<K>,
    pub values: Vec<V>,
    pub per_entry: usize,
}

impl<K, V> Entries<K, V> {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Each key with its values.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &[V])> {
        self.keys
            .iter()
            .zip(self.values.chunks_exact(self.per_entry.max(1)))
    }
}

impl<K: Copy, V: Copy + std::iter::Sum> Entries<K, V> {
    /// Each key with its values summed across CPUs.
    pub fn sums(&self) -> impl Iterator<Item = (K, V)> {
        self.iter()
            .map(|(key, values)| (*key, values.iter().copied().sum()))
    }
}

/// A map borrowed by descriptor, with its sizes checked against `K` and `V`.
pub struct BatchMap<'fd, K, V> {
    fd: BorrowedFd<'fd>,
    shape: MapShape,
    per_entry: usize,
    chunk: u32,
    _types: PhantomData<(K, V)>,
}

impl<'fd, K: Pod, V: Pod> BatchMap<'fd, K, V> {
    /// Checks that the map behind `fd` is a hash or array map with keys of `K` and values of `V`
    /// (one per possible CPU, `nr_cpus` of them — `aya::util::nr_cpus()` — for a per-CPU map).
    pub fn new(fd: BorrowedFd<'fd>, nr_cpus: usize) -> Result<Self, BatchError> {
        let shape = map_shape(fd)?;
        let raw = fd.as_raw_fd();
        if !shape.supported() {
            return Err(BatchError::MapType {
                fd: raw,
                map_type: shape.map_type,
            });
        }
        if shape.key_size as usize != size_of::<K>() {
            return Err(BatchError::Size {
                fd: raw,
                what: "key",
                map: shape.key_size,
                ours: size_of::<K>(),
            });
        }
        if shape.value_size as usize != size_of::<V>() {
            return Err(BatchError::Size {
                fd: raw,
                what: "value",
                map: shape.value_size,
                ours: size_of::<V>(),
            });
        }
        let per_entry = values_per_entry(&shape, size_of::<V>(), nr_cpus)
            .map_err(|what| BatchError::Usage { fd: raw, what })?;
        Ok(Self {
            fd,
            shape,
            per_entry,
            chunk: DEFAULT_CHUNK,
            _types: PhantomData,
        })
    }

    /// Entries asked for per call (at least 1); a bucket larger than that still comes whole.
    pub fn with_chunk(mut self, chunk: u32) -> Self {
        self.chunk = chunk.max(1);
        self
    }

    pub fn shape(&self) -> MapShape {
        self.shape
    }

    /// Values per entry: the number of possible CPUs for a per-CPU map, else 1.
    pub fn per_entry(&self) -> usize {
        self.per_entry
    }

    /// Every entry, leaving the map as it is.
    pub fn lookup_all(&self) -> Result<Entries<K, V>, BatchError> {
        self.walk(Operation::Lookup, None, usize::MAX)
    }

    /// Every entry, deleting each as it is read: the map ends empty unless a program adds to it
    /// meanwhile. Hash maps only (the kernel cannot delete from an array).
    pub fn lookup_and_delete_all(&self) -> Result<Entries<K, V>, BatchError> {
        if self.shape.array() {
            return Err(
                self.usage("an array cannot be looked up and deleted; look up and update instead")
            );
        }
        self.walk(Operation::LookupAndDelete, None, usize::MAX)
    }

    fn usage(&self, what: &str) -> BatchError {
        BatchError::Usage {
            fd: self.fd.as_raw_fd(),
            what: what.to_string(),
        }
    }

    fn syscall_error(&self, operation: Operation, source: io::Error) -> BatchError {
        BatchError::Syscall {
            operation,
            fd: self.fd.as_raw_fd(),
            source,
        }
    }

    /// Up to `max` entries from the position `start` (None: the beginning).
    fn walk(
        &self,
        operation: Operation,
        start: Option<&[u64]>,
        max: usize,
    ) -> Result<Entries<K, V>, BatchError> {
        let cmd = match operation {
            Operation::Lookup => BPF_MAP_LOOKUP_BATCH,
            Operation::LookupAndDelete => BPF_MAP_LOOKUP_AND_DELETE_BATCH,
            _ => return Err(self.usage("not a walk")),
        };
        let words = token_words(self.shape.key_size);
        let mut position: Option<Vec<u64>> = start.map(<[u64]>::to_vec);
        let mut next = vec![0u64; words];
        let mut keys: Vec<K> = Vec::new();
        let mut values: Vec<V> = Vec::new();
        let mut chunk = self.chunk;
        let mut retries = 0;
        while keys.len() < max {
            let ask = (chunk as usize).min(max - keys.len());
            let before = keys.len();
            let result = self.call(
                cmd,
                position.as_deref(),
                &mut next,
                ask,
                &mut keys,
                &mut values,
            );
            if keys.len() > before {
                position = Some(next.clone());
            }
            match step(&result) {
                Step::More => retries = 0,
                Step::Done => break,
                Step::Retry if retries < MAX_RETRIES => retries += 1,
                Step::Grow if chunk < MAX_CHUNK => chunk = chunk.saturating_mul(2).min(MAX_CHUNK),
                _ => {
                    return Err(
                        self.syscall_error(operation, result.expect_err("failed steps are errors"))
                    );
                }
            }
        }
        Ok(Entries {
            keys,
            values,
            per_entry: self.per_entry,
        })
    }

    /// One call of a walk: up to `ask` entries from `position` (None: the start) appended to
    /// `keys` and `values`, the position after them written to `next`. Only entries the kernel
    /// says it wrote are appended: none when the call fails before it writes `count` back.
    fn call(
        &self,
        cmd: libc::c_long,
        position: Option<&[u64]>,
        next: &mut [u64],
        ask: usize,
        keys: &mut Vec<K>,
        values: &mut Vec<V>,
    ) -> io::Result<()> {
        let (keys_at, values_at) = (keys.len(), values.len());
        // Zeroed room, so the vectors never hold memory nobody wrote, whatever `count` says.
        // SAFETY: K and V are Pod: every bit pattern, zero included, is a valid value.
        keys.resize(keys_at + ask, unsafe { core::mem::zeroed() });
        values.resize(values_at + ask * self.per_entry, unsafe {
            core::mem::zeroed()
        });
        let mut attr = BatchAttr {
            in_batch: position.map_or(0, |token| token.as_ptr() as u64),
            out_batch: next.as_mut_ptr() as u64,
            keys: keys[keys_at..].as_mut_ptr() as u64,
            values: values[values_at..].as_mut_ptr() as u64,
            count: ask as u32,
            map_fd: self.fd.as_raw_fd() as u32,
            ..BatchAttr::default()
        };
        // SAFETY: the key and value buffers have room for `count` entries of the map's
        // checked sizes (per-CPU values: `per_entry` each), the tokens for a key.
        let result = unsafe { bpf(cmd, &mut attr) };
        let filled = (written(&result, attr.count) as usize).min(ask);
        keys.truncate(keys_at + filled);
        values.truncate(values_at + filled * self.per_entry);
        result
    }

    /// Writes `values[i * per_entry ..][.. per_entry]` under `keys[i]` for every `i`, with
    /// `flags` (`BPF_ANY` 0, `BPF_NOEXIST` 1, `BPF_EXIST` 2) for each entry.
    pub fn update(&self, keys: &[K], values: &[V], flags: u64) -> Result<(), BatchError> {
        if values.len() != keys.len() * self.per_entry {
            return Err(self.usage(&format!(
                "{} keys need {} values, not {}",
                keys.len(),
                keys.len() * self.per_entry,
                values.len()
            )));
        }
        let mut done = 0;
        let mut retries = 0;
        while done < keys.len() {
            let ask = (keys.len() - done).min(self.chunk as usize);
            let mut attr = BatchAttr {
                keys: keys[done..].as_ptr() as u64,
                values: values[done * self.per_entry..].as_ptr() as u64,
                count: ask as u32,
                map_fd: self.fd.as_raw_fd() as u32,
                elem_flags: flags,
                ..BatchAttr::default()
            };
            // SAFETY: `count` keys and their values are readable; the kernel only reads them.
            let result = unsafe { bpf(BPF_MAP_UPDATE_BATCH, &mut attr) };
            done += (written(&result, attr.count) as usize).min(ask);
            match step(&result) {
                Step::More => retries = 0,
                Step::Retry if retries < MAX_RETRIES => retries += 1,
                _ => {
                    return Err(self.syscall_error(
                        Operation::Update,
                        result.expect_err("failed steps are errors"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl<K: Pod, V: Pod> BatchMap<'_, K, V> {
    /// Entries `first .. first + len` of an array map (keys `u32`), leaving it as it is.
    pub fn lookup_range(&self, first: u32, len: u32) -> Result<Entries<K, V>, BatchError> {
        if !self.shape.array() {
            return Err(self.usage("ranges are for arrays; a hash map's order is its own"));
        }
        if first
            .checked_add(len)
            .is_none_or(|end| end > self.shape.max_entries)
        {
            return Err(self.usage(&format!(
                "slots {first}..+{len} lie past its {} entries",
                self.shape.max_entries
            )));
        }
        // An array's token is the last index read: start after `first - 1`.
        let start = first.checked_sub(1).map(u32_token);
        self.walk(Operation::Lookup, start.as_deref(), len as usize)
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    #[test]
    fn batch_attr_matches_the_kernel_layout() {
        assert_eq!(offset_of!(BatchAttr, in_batch), 0);
        assert_eq!(offset_of!(BatchAttr, out_batch), 8);
        assert_eq!(offset_of!(BatchAttr, keys), 16);
        assert_eq!(offset_of!(BatchAttr, values), 24);
        assert_eq!(offset_of!(BatchAttr, count), 32);
        assert_eq!(offset_of!(BatchAttr, map_fd), 36);
        assert_eq!(offset_of!(BatchAttr, elem_flags), 40);
        assert_eq!(offset_of!(BatchAttr, flags), 48);
        assert_eq!(offset_of!(MapInfoHead, key_size), 8);
        assert_eq!(offset_of!(MapInfoHead, max_entries), 16);
    }

    fn err(errno: i32) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn errnos_say_how_the_walk_goes_on() {
        assert_eq!(step(&Ok(())), Step::More);
        assert_eq!(step(&err(libc::ENOENT)), Step::Done);
        assert_eq!(step(&err(libc::ENOSPC)), Step::Grow);
        for errno in [libc::EINTR, libc::EAGAIN, libc::EBUSY] {
            assert_eq!(step(&err(errno)), Step::Retry, "errno {errno}");
        }
        for errno in [
            libc::EBADF,
            libc::EINVAL,
            libc::EPERM,
            libc::EFAULT,
            libc::ENOTSUP,
        ] {
            assert_eq!(step(&err(errno)), Step::Fail, "errno {errno}");
        }
    }

    #[test]
    fn count_is_trusted_only_where_the_kernel_writes_it() {
        assert_eq!(written(&Ok(()), 5), 5);
        assert_eq!(written(&err(libc::ENOENT), 3), 3);
        assert_eq!(written(&err(libc::ENOSPC), 0), 0);
        assert_eq!(written(&err(libc::EBUSY), 2), 2);
        for errno in [libc::EBADF, libc::EINVAL, libc::EPERM, libc::EFAULT] {
            assert_eq!(written(&err(errno), 65_536), 0, "errno {errno}");
        }
    }

    #[test]
    fn tokens_hold_a_key_and_are_at_least_a_word() {
        assert_eq!(token_words(4), 1);
        assert_eq!(token_words(8), 1);
        assert_eq!(token_words(9), 2);
        assert_eq!(token_words(24), 3);
        assert_eq!(token_words(0), 1);
        let token = u32_token(65_535);
        assert_eq!(token[0].to_ne_bytes()[..4], 65_535u32.to_ne_bytes());
    }

    #[test]
    fn a_call_refused_before_the_kernel_writes_count_adds_no_entries() {
        // /dev/null is no map: bpf(2) refuses the call (EINVAL, or EPERM without CAP_BPF)
        // before it writes `count` back, which so still holds the `ask` it went in with.
        let not_a_map = std::fs::File::open("/dev/null").expect("/dev/null");
        let batch = BatchMap::<u64, u64> {
            fd: std::os::fd::AsFd::as_fd(&not_a_map),
            shape: shape(BPF_MAP_TYPE_PERCPU_HASH),
            per_entry: 2,
            chunk: DEFAULT_CHUNK,
            _types: PhantomData,
        };
        let mut next = vec![0u64; 1];
        let (mut keys, mut values) = (vec![7u64], vec![1u64, 2]);
        for cmd in [BPF_MAP_LOOKUP_BATCH, BPF_MAP_LOOKUP_AND_DELETE_BATCH] {
            let result = batch.call(cmd, None, &mut next, 1000, &mut keys, &mut values);
            assert_eq!(step(&result), Step::Fail, "command {cmd}: {result:?}");
            assert_eq!(
                (keys.len(), values.len()),
                (1, 2),
                "command {cmd}: a refused call appended entries"
            );
            assert_eq!((keys[0], values.as_slice()), (7, [1, 2].as_slice()));
        }
        let err = batch.lookup_all().expect_err("no map to walk");
        assert!(
            matches!(
                err,
                BatchError::Syscall {
                    operation: Operation::Lookup,
                    ..
                }
            ),
            "{err}"
        );
    }

    fn shape(map_type: u32) -> MapShape {
        MapShape {
            map_type,
            key_size: 8,
            value_size: 8,
            max_entries: 16,
        }
    }

    #[test]
    fn per_cpu_maps_have_a_value_per_possible_cpu() {
        assert_eq!(
            values_per_entry(&shape(BPF_MAP_TYPE_PERCPU_HASH), 8, 2),
            Ok(2)
        );
        assert_eq!(
            values_per_entry(&shape(BPF_MAP_TYPE_LRU_PERCPU_HASH), 16, 3),
            Ok(3)
        );
        assert_eq!(
            values_per_entry(&shape(BPF_MAP_TYPE_PERCPU_ARRAY), 8, 4),
            Ok(4)
        );
        assert_eq!(values_per_entry(&shape(BPF_MAP_TYPE_HASH), 4, 4), Ok(1));
        // The kernel pads each CPU's value to 8 bytes: a 4-byte V would misread every other CPU.
        assert!(values_per_entry(&shape(BPF_MAP_TYPE_PERCPU_HASH), 4, 2).is_err());
        assert!(values_per_entry(&shape(BPF_MAP_TYPE_PERCPU_HASH), 8, 0).is_err());
    }

    #[test]
    fn shapes_know_arrays_and_per_cpu_maps() {
        assert!(
            shape(BPF_MAP_TYPE_PERCPU_ARRAY).array() && shape(BPF_MAP_TYPE_PERCPU_ARRAY).per_cpu()
        );
        assert!(shape(BPF_MAP_TYPE_ARRAY).array() && !shape(BPF_MAP_TYPE_ARRAY).per_cpu());
        assert!(!shape(BPF_MAP_TYPE_PERCPU_HASH).array());
        // A ring buffer (27) or LPM trie (11) is not walked here.
        assert!(!shape(27).supported() && !shape(11).supported());
    }

    #[test]
    fn entries_pair_keys_with_their_cpus_values() {
        let entries = Entries {
            keys: vec![7u64, 9],
            values: vec![1u64, 2, 30, 40],
            per_entry: 2,
        };
        let pairs: Vec<(u64, Vec<u64>)> = entries.iter().map(|(k, v)| (*k, v.to_vec())).collect();
        assert_eq!(pairs, vec![(7, vec![1, 2]), (9, vec![30, 40])]);
        assert_eq!(entries.sums().collect::<Vec<_>>(), vec![(7, 3), (9, 70)]);
        assert_eq!(entries.len(), 2);
        assert!(Entries::<u64, u64>::default().is_empty());
    }
}
