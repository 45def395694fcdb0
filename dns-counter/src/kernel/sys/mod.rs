//! What aya 0.14 does not offer, through `bpf(2)` directly: batch map operations and the wait
//! for running programs to finish.

pub mod batch;
pub mod grace;

use aya::maps::MapType;

// `bpf_map_info.type` values, as aya numbers its map types.
pub const BPF_MAP_TYPE_HASH: u32 = MapType::Hash as u32;
pub const BPF_MAP_TYPE_ARRAY: u32 = MapType::Array as u32;
pub const BPF_MAP_TYPE_PERCPU_HASH: u32 = MapType::PerCpuHash as u32;
pub const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = MapType::PerCpuArray as u32;
pub const BPF_MAP_TYPE_LRU_HASH: u32 = MapType::LruHash as u32;
pub const BPF_MAP_TYPE_LRU_PERCPU_HASH: u32 = MapType::LruPerCpuHash as u32;
pub const BPF_MAP_TYPE_RINGBUF: u32 = MapType::RingBuf as u32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_types_are_the_kernels_numbers() {
        // enum bpf_map_type in linux/bpf.h.
        assert_eq!(
            [
                BPF_MAP_TYPE_HASH,
                BPF_MAP_TYPE_ARRAY,
                BPF_MAP_TYPE_PERCPU_HASH,
                BPF_MAP_TYPE_PERCPU_ARRAY,
                BPF_MAP_TYPE_LRU_HASH,
                BPF_MAP_TYPE_LRU_PERCPU_HASH,
                BPF_MAP_TYPE_RINGBUF,
            ],
            [1, 2, 5, 6, 9, 10, 27]
        );
    }
}
