//! Names between wire and presentation form, on any bytes. As a wire name: `presentation` never
//! panics and gives printable ASCII; for a name the kernel can send, the text parses back to
//! exactly those bytes, splits back into its labels, and normalizes to the folded name's text. As
//! text: what `parse` accepts is a name the kernel could send, its presentation parses back to
//! it, and `normalize` is idempotent and fails exactly where `parse` does.
#![no_main]

use dns_counter_report::{
    analysis::exclude::{normalize, parse},
    names::{label_bytes, labels, presentation, suffixes},
};
use libfuzzer_sys::fuzz_target;

/// RFC 1035 §2.3.4, as the kernel's walk enforces them.
const MAX_LABEL: usize = 63;
const MAX_WIRE: usize = 255;

fuzz_target!(|data: &[u8]| {
    wire_to_text_and_back(data);
    if let Ok(text) = std::str::from_utf8(data) {
        text_to_wire_and_back(text);
    }
});

fn wire_to_text_and_back(data: &[u8]) {
    let text = presentation(data);
    assert!(
        text.bytes().all(|b| (0x21..=0x7e).contains(&b)),
        "{text:?} is not printable ASCII"
    );
    let Some(wire) = kernel_name(data) else {
        return;
    };
    assert_eq!(parse(&text).as_deref(), Ok(wire), "{text:?}");
    let split: Vec<Vec<u8>> = labels(&text)
        .iter()
        .map(|label| label_bytes(label).into_owned())
        .collect();
    assert_eq!(split, wire_labels(wire), "{text:?}");
    assert_eq!(suffixes(&text).count(), split.len(), "{text:?}");
    assert_eq!(
        normalize(&text),
        Ok(presentation(&wire.to_ascii_lowercase())),
        "{text:?}"
    );
}

fn text_to_wire_and_back(text: &str) {
    let Ok(wire) = parse(text) else {
        assert!(normalize(text).is_err(), "{text:?}");
        return;
    };
    assert_eq!(
        kernel_name(&wire),
        Some(wire.as_slice()),
        "{text:?} parsed into a name the kernel cannot send"
    );
    let shown = presentation(&wire);
    assert_eq!(parse(&shown), Ok(wire), "{text:?} shown as {shown:?}");
    let canonical = normalize(text).expect("parse accepted it");
    assert_eq!(normalize(&canonical).as_ref(), Ok(&canonical), "{text:?}");
}

/// The name at the start of `data` if the kernel could send it: labels of 1 to 63 bytes and a
/// terminating zero, 255 bytes at most. Bytes after the zero are not part of it.
fn kernel_name(data: &[u8]) -> Option<&[u8]> {
    let mut at = 0;
    loop {
        let len = usize::from(*data.get(at)?);
        if len > MAX_LABEL || at + 1 > MAX_WIRE {
            return None;
        }
        if len == 0 {
            return Some(&data[..=at]);
        }
        at += 1 + len;
    }
}

/// The labels of a name `kernel_name` returned.
fn wire_labels(mut wire: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let [len @ 1..=u8::MAX, rest @ ..] = wire {
        let (label, next) = rest.split_at(usize::from(*len));
        out.push(label.to_vec());
        wire = next;
    }
    out
}
