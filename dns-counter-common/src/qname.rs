//! The question name in wire form, held as 32 little-endian words so every access is in range by
//! construction (the verifier sees masked indices, never a slice bound to prove).

use crate::{Reason, hash::SipHash13};

/// Largest wire-form name (RFC 1035 3.1), terminating zero included.
pub const MAX_NAME_LEN: usize = 255;
/// Room for a name copied out of the packet: 32 words of 8 bytes.
pub const NAME_WORDS: usize = 32;
pub const NAME_BUF_LEN: usize = NAME_WORDS * 8;

/// A 255-byte name has at most 127 labels plus the root; the walk stops there.
pub const MAX_LABELS: usize = 128;

/// The name buffer as bytes. Words are little-endian (see the crate's endianness check), so byte
/// `i` of this view is byte `i` of the name.
#[inline(always)]
fn as_bytes(words: &[u64; NAME_WORDS]) -> &[u8; NAME_BUF_LEN] {
    // SAFETY: same size, and u8 has no alignment or validity requirements.
    unsafe { &*(words as *const [u64; NAME_WORDS]).cast::<[u8; NAME_BUF_LEN]>() }
}

/// Length in wire form (terminating zero included) of the name at the start of `words`, of which
/// the first `available` bytes came from the packet.
// A function of its own: inlined, the loop shares registers with the whole walk and spills
// on every label.
#[inline(never)]
pub fn wire_len(words: &[u64; NAME_WORDS], available: usize) -> Result<usize, Reason> {
    let bytes = as_bytes(words);
    // One bound per label: a length byte must lie in the packet and within 255 bytes.
    let limit = if available < MAX_NAME_LEN {
        available
    } else {
        MAX_NAME_LEN
    };
    let mut pos = 0usize;
    for _ in 0..MAX_LABELS {
        if pos >= limit {
            return Err(if pos >= MAX_NAME_LEN {
                Reason::NameTooLong
            } else {
                Reason::TruncatedQuestion
            });
        }
        let label = bytes[pos & (NAME_BUF_LEN - 1)];
        if label == 0 {
            return Ok(pos + 1);
        }
        if label & 0xc0 != 0 {
            return Err(if label >= 0xc0 {
                Reason::CompressionPointer
            } else {
                Reason::LabelTooLong
            });
        }
        pos += label as usize + 1;
    }
    Err(Reason::NameTooLong)
}

/// Folds the ASCII letters A–Z of a word to lower case and leaves every other byte alone.
/// Label length bytes are never in 'A'..='Z' (they are at most 63), so whole words of a wire
/// name can be folded at once.
#[inline(always)]
pub const fn fold_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = w & !HIGH;
    // Each byte's high bit says: low 7 bits >= 'A', resp. > 'Z'. No carry crosses bytes.
    let at_least_a = low7 + ONES * (0x80 - b'A' as u64);
    let above_z = low7 + ONES * (0x80 - b'Z' as u64 - 1);
    let upper = at_least_a & !above_z & !w & HIGH;
    w | (upper >> 2)
}

/// Folds the first `len` (≤ 255) bytes to lower case in place and returns their keyed hash.
/// One pass: each word is folded as it is hashed.
#[inline(always)]
pub fn fold_and_hash(words: &mut [u64; NAME_WORDS], len: usize, key: [u64; 2]) -> u64 {
    let len = len & 0xff;
    let full_words = len / 8;
    let mut hasher = SipHash13::new(key);
    for (i, w) in words.iter_mut().enumerate() {
        if i >= full_words {
            break;
        }
        *w = fold_word(*w);
        hasher.write_word(*w);
    }
    // len ≤ 255, so the word holding the tail is always in the buffer.
    let tail = &mut words[full_words & (NAME_WORDS - 1)];
    *tail = fold_word(*tail);
    hasher.finish(*tail, len)
}

/// Copies a wire name into the word form (host side).
pub fn words_from_bytes(bytes: &[u8]) -> [u64; NAME_WORDS] {
    let mut words = [0u64; NAME_WORDS];
    for (i, b) in bytes.iter().take(NAME_WORDS * 8).enumerate() {
        words[i / 8] |= (*b as u64) << ((i % 8) * 8);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in name.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    #[test]
    fn fold_word_changes_only_upper_case_letters() {
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b, b'Q', 0, 0x5b, 0x40, 0xc1, b'Z', b'a']);
            let folded = fold_word(w).to_le_bytes();
            assert_eq!(folded[0], b.to_ascii_lowercase(), "byte {b:#x}");
            assert_eq!(&folded[1..], &[b'q', 0, 0x5b, 0x40, 0xc1, b'z', b'a']);
        }
    }

    #[test]
    fn wire_len_walks_labels() {
        let w = wire("www.Example.COM");
        assert_eq!(wire_len(&words_from_bytes(&w), w.len()), Ok(w.len()));
        assert_eq!(wire_len(&words_from_bytes(&[0]), 1), Ok(1));
    }

    #[test]
    fn wire_len_names_each_failure() {
        let w = wire("www.example.com");
        assert_eq!(
            wire_len(&words_from_bytes(&w), w.len() - 1),
            Err(Reason::TruncatedQuestion)
        );
        assert_eq!(
            wire_len(&words_from_bytes(&[1, b'w', 0xc0, 12]), 4),
            Err(Reason::CompressionPointer)
        );
        assert_eq!(
            wire_len(&words_from_bytes(&[0xc0, 12]), 2),
            Err(Reason::CompressionPointer)
        );
        assert_eq!(
            wire_len(&words_from_bytes(&[64, b'a']), 2),
            Err(Reason::LabelTooLong)
        );
        assert_eq!(
            wire_len(&words_from_bytes(&[0x80]), 1),
            Err(Reason::LabelTooLong)
        );
        // 4 labels of 63 bytes: 256 bytes of labels, one more than the 255 allowed.
        let long = [[b'a'; 63]; 4]
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .join(".");
        let w = wire(&long);
        assert_eq!(
            wire_len(&words_from_bytes(&w), 256),
            Err(Reason::NameTooLong)
        );
    }

    #[test]
    fn longest_legal_name_is_accepted() {
        // 3 labels of 63, one of 61: 3*64 + 62 + 1 = 255 bytes.
        let labels = [&[b'x'; 63][..], &[b'x'; 63], &[b'x'; 63], &[b'x'; 61]];
        let mut w = Vec::new();
        for l in labels {
            w.push(l.len() as u8);
            w.extend_from_slice(l);
        }
        w.push(0);
        assert_eq!(w.len(), 255);
        assert_eq!(wire_len(&words_from_bytes(&w), 256), Ok(255));
    }

    #[test]
    fn case_variants_hash_alike_and_differ_from_other_names() {
        let key = [1, 2];
        let a = wire("WwW.ExAmPlE.cOm");
        let b = wire("www.example.com");
        let c = wire("www.example.net");
        let h = |w: &[u8]| fold_and_hash(&mut words_from_bytes(w), w.len(), key);
        assert_eq!(h(&a), h(&b));
        assert_ne!(h(&b), h(&c));
        let mut folded = words_from_bytes(&a);
        fold_and_hash(&mut folded, a.len(), key);
        assert_eq!(folded, words_from_bytes(&b));
    }
}
