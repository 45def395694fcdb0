//! DNS names from wire form to the presentation form people read (RFC 1035 §5.1, as dig prints them).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Renders a wire-form name (length-prefixed labels ending in a zero byte, no compression) as text.
///
/// Labels are joined by `.` with no trailing dot; the root is `.`. Inside a label, letters, digits, `-` and
/// `_` are kept, other printable ASCII is escaped as `\c` and every other byte as `\DDD`, so the result is
/// printable ASCII, safe for terminals and JSON, and distinct wire names never render alike.
///
/// The kernel has validated the name already; if the bytes are malformed anyway (no terminating zero, a
/// length running past the end) this renders the bytes that are there and never panics. Bytes after the
/// terminating zero are ignored; an empty slice renders as the root.
pub fn presentation(wire: &[u8]) -> String {
    let mut out = String::with_capacity(wire.len());
    push_presentation(&mut out, wire);
    out
}

/// [`presentation`] appended to `out`, for many names in one buffer.
pub fn push_presentation(out: &mut String, wire: &[u8]) {
    let start = out.len();
    let mut rest = wire;
    while let Some((&len, after)) = rest.split_first() {
        let take = usize::from(len).min(after.len());
        if take == 0 {
            break;
        }
        let (label, next) = after.split_at(take);
        if out.len() > start {
            out.push('.');
        }
        push_label(out, label);
        rest = next;
    }
    if out.len() == start {
        out.push('.');
    }
}

/// `text` with every character outside printable ASCII written the way presentation form writes
/// a byte it escapes: `\DDD` for each of its UTF-8 bytes. A name in presentation form is printable
/// ASCII and comes back as it is; a name from a hand-made or foreign report that holds raw bytes
/// comes back as the kernel's presentation of those bytes would read. `keep_spaces` keeps ` `
/// (free text: host names, organisations); in a name it is `\032`.
pub fn escape_unprintable(text: &str, keep_spaces: bool) -> Cow<'_, str> {
    let keep = |c: char| c.is_ascii_graphic() || (keep_spaces && c == ' ');
    if text.chars().all(keep) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    let mut bytes = [0; 4];
    for c in text.chars() {
        if keep(c) {
            escaped.push(c);
        } else {
            for byte in c.encode_utf8(&mut bytes).bytes() {
                let _ = write!(escaped, "\\{byte:03}");
            }
        }
    }
    Cow::Owned(escaped)
}

/// Where the labels of a name in presentation form start: byte offsets, first label first. A label
/// ends at a dot that is not escaped, so `a\.b.example` has two labels, `a\.b` and `example`. The
/// root (`.`, or an empty string) has none.
pub fn label_starts(name: &str) -> impl Iterator<Item = usize> + '_ {
    let mut escaped = false;
    let after_dots = name
        .bytes()
        .enumerate()
        .filter_map(move |(at, byte)| match byte {
            // The byte after a backslash is never a separator; in `\DDD` the other digits are not dots.
            _ if escaped => {
                escaped = false;
                None
            }
            b'\\' => {
                escaped = true;
                None
            }
            b'.' => Some(at + 1),
            _ => None,
        });
    // Canonical names end without a dot; a trailing one would start an empty label.
    std::iter::once(0)
        .chain(after_dots)
        .filter(move |&start| start < name.len() && name != ".")
}

/// The labels of a name in presentation form, first label first, escapes kept (see [`label_starts`]).
pub fn labels(name: &str) -> Vec<&str> {
    let starts: Vec<usize> = label_starts(name).collect();
    let ends = starts
        .iter()
        .skip(1)
        .map(|next| next - 1)
        .chain(std::iter::once(name.len()));
    starts
        .iter()
        .zip(ends)
        .map(|(&start, end)| &name[start..end])
        .collect()
}

/// The name and every name it is under, longest first: `a.b.c`, `b.c`, `c` (the root not included).
pub fn suffixes(name: &str) -> impl Iterator<Item = &str> + '_ {
    label_starts(name).map(move |start| &name[start..])
}

/// The bytes a label in presentation form stands for: `\.` is `.`, `\DDD` the byte DDD. Text that
/// is not a valid escape is kept as it is (presentation names from [`presentation`] always are).
pub fn label_bytes(label: &str) -> Cow<'_, [u8]> {
    if !label.contains('\\') {
        return Cow::Borrowed(label.as_bytes());
    }
    let text = label.as_bytes();
    let mut bytes = Vec::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        let decimal = text
            .get(at + 1..at + 4)
            .filter(|digits| digits.iter().all(u8::is_ascii_digit))
            .and_then(|digits| std::str::from_utf8(digits).ok()?.parse::<u8>().ok());
        match (text[at], decimal, text.get(at + 1)) {
            (b'\\', Some(byte), _) => {
                bytes.push(byte);
                at += 4;
            }
            (b'\\', None, Some(&next)) if !next.is_ascii_digit() => {
                bytes.push(next);
                at += 2;
            }
            (byte, ..) => {
                bytes.push(byte);
                at += 1;
            }
        }
    }
    Cow::Owned(bytes)
}

fn is_kept(byte: u8) -> bool {
    matches!(byte, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_')
}

fn push_label(out: &mut String, label: &[u8]) {
    // Nearly every label is kept as it is: one copy rather than a push per byte.
    if label.iter().all(|&byte| is_kept(byte))
        && let Ok(text) = std::str::from_utf8(label)
    {
        out.push_str(text);
        return;
    }
    for &byte in label {
        match byte {
            _ if is_kept(byte) => out.push(char::from(byte)),
            0x21..=0x7e => {
                out.push('\\');
                out.push(char::from(byte));
            }
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\{byte:03}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::presentation;
    use crate::testing::wire;

    #[test]
    fn root() {
        assert_eq!(presentation(&[0]), ".");
    }

    #[test]
    fn plain_names_keep_their_bytes() {
        assert_eq!(
            presentation(&wire(&[b"www", b"example", b"com"])),
            "www.example.com"
        );
        assert_eq!(
            presentation(&wire(&[b"_dmarc", b"x-y", b"Z9"])),
            "_dmarc.x-y.Z9"
        );
    }

    #[test]
    fn printable_specials_get_a_backslash() {
        assert_eq!(presentation(&wire(&[b"a.b", b"com"])), r"a\.b.com");
        assert_eq!(
            presentation(&wire(&[br#"\"*,=;()@$"#])),
            r#"\\\"\*\,\=\;\(\)\@\$"#
        );
        assert_eq!(presentation(&wire(&[b"*", b"example"])), r"\*.example");
    }

    #[test]
    fn other_bytes_become_three_decimal_digits() {
        assert_eq!(presentation(&wire(&[b"a b"])), r"a\032b");
        assert_eq!(presentation(&wire(&[b"new\nline"])), r"new\010line");
        assert_eq!(presentation(&wire(&[b"\x1b[31mred"])), r"\027\[31mred");
        assert_eq!(
            presentation(&wire(&[b"\x00\x7f\x80\xff"])),
            r"\000\127\128\255"
        );
        // UTF-8 is bytes like any other: "é" is 0xc3 0xa9.
        assert_eq!(presentation(&wire(&["é".as_bytes()])), r"\195\169");
    }

    #[test]
    fn output_is_printable_ascii_for_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        for chunk in all.chunks(63) {
            let text = presentation(&wire(&[chunk]));
            assert!(text.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{text}");
        }
    }

    #[test]
    fn longest_label_and_name() {
        let label = [b'x'; 63];
        assert_eq!(presentation(&wire(&[&label])), "x".repeat(63));
        // 4 labels of 63 bytes: 4 * 64 + 1 = 257 is over the limit; 3 of 63 and one of 61 is 255.
        let last = [b'y'; 61];
        let name = wire(&[&label, &label, &label, &last]);
        assert_eq!(name.len(), 255);
        let text = presentation(&name);
        assert_eq!(text.len(), 253);
        assert!(text.ends_with(&format!(".{}", "y".repeat(61))));
        // The same length with every byte escaped as \DDD.
        let hostile = presentation(&wire(&[&[0xff; 63]]));
        assert_eq!(hostile, r"\255".repeat(63));
    }

    #[test]
    fn distinct_labels_render_distinctly() {
        // "a.b" as one label must not look like two labels "a" and "b".
        assert_ne!(
            presentation(&wire(&[b"a.b"])),
            presentation(&wire(&[b"a", b"b"]))
        );
        // A literal backslash-digit sequence must not look like an escaped byte.
        assert_ne!(
            presentation(&wire(&[b"\\065"])),
            presentation(&wire(&[b"A"]))
        );
    }

    #[test]
    fn labels_split_on_unescaped_dots_only() {
        use super::{label_bytes, label_starts, labels, suffixes};
        assert_eq!(labels("www.example.com"), ["www", "example", "com"]);
        assert_eq!(labels(r"a\.b.example"), [r"a\.b", "example"]);
        // An escaped backslash before a dot: the dot separates.
        assert_eq!(labels(r"a\\.b"), [r"a\\", "b"]);
        assert_eq!(labels(r"a\\\.b"), [r"a\\\.b"]);
        assert_eq!(labels(r"x\046y.\255"), [r"x\046y", r"\255"]);
        assert_eq!(labels("com"), ["com"]);
        assert!(labels(".").is_empty());
        assert!(labels("").is_empty());
        assert_eq!(label_starts(r"a\.b.c").collect::<Vec<_>>(), [0, 5]);
        assert_eq!(
            suffixes(r"x.a\.b.example").collect::<Vec<_>>(),
            [r"x.a\.b.example", r"a\.b.example", "example"]
        );
        assert_eq!(suffixes(".").count(), 0);
        // Every name the kernel can send splits back into the labels it was made of.
        let raw: [&[u8]; 4] = [b"a.b", b"back\\slash", &[0, b'.', 255], b"."];
        let name = presentation(&wire(&raw));
        let split: Vec<Vec<u8>> = labels(&name)
            .iter()
            .map(|label| label_bytes(label).into_owned())
            .collect();
        assert_eq!(split, raw.map(<[u8]>::to_vec));
        assert_eq!(label_bytes("plain"), b"plain".as_slice());
    }

    #[test]
    fn malformed_wire_does_not_panic() {
        assert_eq!(presentation(&[]), ".");
        // No terminating zero.
        assert_eq!(presentation(&[3, b'c', b'o', b'm']), "com");
        // A length running past the end.
        assert_eq!(
            presentation(&[3, b'c', b'o', b'm', 10, b'a', b'b']),
            "com.ab"
        );
        assert_eq!(presentation(&[5]), ".");
        assert_eq!(presentation(&[1, b'a', 3]), "a");
        // A compression pointer is read as a length; the bytes are still escaped.
        assert_eq!(presentation(&[0xc0, 0x0c]), r"\012");
        // Bytes after the terminating zero are ignored.
        assert_eq!(presentation(&[1, b'a', 0, 1, b'b', 0]), "a");
    }
}
