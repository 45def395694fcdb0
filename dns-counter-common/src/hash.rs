//! SipHash-1-3, fed 64-bit little-endian words.
//!
//! Written out here rather than taken from a crate because the kernel verifier needs the loop
//! that feeds it bounded by a constant and every index provably in range; the tests check it
//! against `siphasher`.

/// SipHash-1-3 state.
pub struct SipHash13 {
    v: [u64; 4],
}

impl SipHash13 {
    #[inline(always)]
    pub const fn new(key: [u64; 2]) -> Self {
        Self {
            v: [
                key[0] ^ 0x736f_6d65_7073_6575,
                key[1] ^ 0x646f_7261_6e64_6f6d,
                key[0] ^ 0x6c79_6765_6e65_7261,
                key[1] ^ 0x7465_6462_7974_6573,
            ],
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        let v = &mut self.v;
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

    /// Feeds one full 8-byte block.
    #[inline(always)]
    pub fn write_word(&mut self, m: u64) {
        self.v[3] ^= m;
        self.round();
        self.v[0] ^= m;
    }

    /// Finishes a message of `len` bytes whose last `len % 8` bytes are the low bytes of `tail`
    /// (the bytes above them are ignored).
    #[inline(always)]
    pub fn finish(mut self, tail: u64, len: usize) -> u64 {
        let tail_bytes = len % 8;
        let tail_mask = if tail_bytes == 0 {
            0
        } else {
            u64::MAX >> (64 - 8 * tail_bytes)
        };
        let last = (tail & tail_mask) | ((len as u64) << 56);
        self.write_word(last);
        self.v[2] ^= 0xff;
        self.round();
        self.round();
        self.round();
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::Hasher;

    #[test]
    fn matches_siphasher_for_every_length() {
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let bytes: Vec<u8> = (0..=255u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(11))
            .collect();
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        for len in 0..=255usize {
            let mut ours = SipHash13::new(key);
            for i in 0..len / 8 {
                ours.write_word(word(i));
            }
            let tail = if len / 8 < 32 { word(len / 8) } else { 0 };
            let mut reference = siphasher::sip::SipHasher13::new_with_keys(key[0], key[1]);
            reference.write(&bytes[..len]);
            assert_eq!(ours.finish(tail, len), reference.finish(), "len {len}");
        }
    }
}
