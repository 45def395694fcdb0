//! The shared packet walk on any bytes: it never panics; where it finds a query's question, the
//! source address it noted reads back; and it agrees with hickory-proto on that question: where
//! the walk counts a name, hickory reads the same name (folded) and qtype from the DNS message the
//! walk bounded, and where hickory reads a question there, the walk counts it, unless the name
//! holds a compression pointer (which the walk refuses and hickory follows).
#![no_main]

use dns_counter_common::{
    Reason,
    testing::{hickory_question, walk_question},
    walk::{locate_question, read_source},
};
use libfuzzer_sys::fuzz_target;

/// The DNS header before the question.
const DNS_HEADER_LEN: usize = 12;

fuzz_target!(|frame: &[u8]| {
    let ours = walk_question(frame);
    let Ok(question) = locate_question(frame, |port| port == 53) else {
        assert!(ours.is_err(), "counted {ours:?} without a question");
        return;
    };
    read_source(frame, question.source).expect("the source address lies before the question");
    // The DNS message as the walk bounds it: by the frame, the IP and UDP lengths, TCP's prefix.
    let dns = &frame[question.qname - DNS_HEADER_LEN..question.end];
    let hickory = hickory_question(dns);
    match (&ours, &hickory) {
        (Ok(counted), _) => assert_eq!(
            Some(counted),
            hickory.as_ref(),
            "the walk counted a question hickory reads otherwise, in {dns:02x?}"
        ),
        (Err(Reason::CompressionPointer), _) | (Err(_), None) => {}
        (Err(reason), Some(read)) => {
            panic!("the walk gave {reason:?} where hickory read {read:?}, in {dns:02x?}")
        }
    }
});
