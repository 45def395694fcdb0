//! The capture reader on any bytes: it never panics; what it returns lies within the input (the
//! frames, but for the Ethernet header a frame of another link type gets, and the offset an error
//! names); and every error renders.
#![no_main]

use std::path::Path;

use dns_counter::capture::{CaptureError, parse_capture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_capture(data, Path::new("fuzz.pcap")) {
        Ok(packets) => {
            let copied: usize = packets.iter().map(|packet| packet.frame.len()).sum();
            // Raw IP gets a 14-byte Ethernet header it did not have.
            let headers = 14 * packets.len();
            assert!(
                copied <= data.len() + headers,
                "{copied} bytes of frames from {}",
                data.len()
            );
        }
        Err(err) => {
            if let CaptureError::Truncated { offset, .. } | CaptureError::Corrupt { offset, .. } =
                err
            {
                assert!(offset <= data.len(), "offset {offset} of {}", data.len());
            }
            assert!(!err.to_string().is_empty());
        }
    }
});
