//! SipHash-1-3 over a name held as little-endian 64-bit words.
//!
//! Written out here rather than taken from a crate because the kernel verifier needs the loop
//! bounded by a constant and every index provably in range; `siphasher` checks it in the tests.

use crate::maps::NAME_WORDS;

#[inline(always)]
fn round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-1-3 of the first `len` bytes (`len` ≤ 255) of `words`, read as little-endian bytes.
#[inline(always)]
pub fn siphash13(key: [u64; 2], words: &[u64; NAME_WORDS], len: usize) -> u64 {
    let len = len & 0xff;
    let mut v = [
        key[0] ^ 0x736f_6d65_7073_6575,
        key[1] ^ 0x646f_7261_6e64_6f6d,
        key[0] ^ 0x6c79_6765_6e65_7261,
        key[1] ^ 0x7465_6462_7974_6573,
    ];
    let full = len / 8;
    for (i, &m) in words.iter().enumerate() {
        if i >= full {
            break;
        }
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let tail_bytes = len % 8;
    let tail_mask = if tail_bytes == 0 { 0 } else { u64::MAX >> (64 - 8 * tail_bytes) };
    let last = (words[full & (NAME_WORDS - 1)] & tail_mask) | ((len as u64) << 56);
    v[3] ^= last;
    round(&mut v);
    v[0] ^= last;
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::Hasher;

    #[test]
    fn matches_siphasher_for_every_length() {
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let bytes: Vec<u8> = (0..=255u8).map(|b| b.wrapping_mul(37).wrapping_add(11)).collect();
        for len in 0..=255usize {
            let mut words = [0u64; NAME_WORDS];
            for (i, w) in words.iter_mut().enumerate() {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
                *w = u64::from_le_bytes(b);
            }
            let mut reference = siphasher::sip::SipHasher13::new_with_keys(key[0], key[1]);
            reference.write(&bytes[..len]);
            assert_eq!(siphash13(key, &words, len), reference.finish(), "len {len}");
        }
    }
}
