//! DNS names from wire form to the presentation form people read (RFC 1035 §5.1, as dig prints them).

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
    let mut rest = wire;
    while let Some((&len, after)) = rest.split_first() {
        let take = usize::from(len).min(after.len());
        if take == 0 {
            break;
        }
        let (label, next) = after.split_at(take);
        if !out.is_empty() {
            out.push('.');
        }
        push_label(&mut out, label);
        rest = next;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

fn push_label(out: &mut String, label: &[u8]) {
    for &byte in label {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => out.push(char::from(byte)),
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

    /// Builds wire form from raw labels.
    fn wire(labels: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for label in labels {
            out.push(u8::try_from(label.len()).expect("test label fits a length byte"));
            out.extend_from_slice(label);
        }
        out.push(0);
        out
    }

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
