//! `dns-counter replay`: runs every packet of a capture file through the same XDP program a live
//! run attaches, with BPF_PROG_TEST_RUN instead of an interface, and writes the reports a live
//! run would have written, through the same drain and the same report files.
//! Captures are read by [`crate::capture`].

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use aya::programs::{ProgramError, TestRun as _, TestRunOptions, Xdp};
use dns_counter_common::{Reason, maps::PROGRAM_NAME};
use thiserror::Error;

use dns_counter_report::interval::{Interval, Meta, interval_end};

use crate::{
    capture::CapturedPacket,
    config::ReplayConfig,
    daemon::report_of,
    kernel::{
        drain::{DrainError, Drainer},
        loader::{self, LoaderError},
    },
    sinks::files::{self, OutputError},
};

/// BPF_PROG_TEST_RUN refuses XDP input shorter than an Ethernet header (`ETH_HLEN`), so such
/// frames never reach the program; the replay counts them as the program would have.
pub const MIN_TEST_RUN_FRAME: usize = 14;
/// BPF_PROG_TEST_RUN puts what does not fit one page into fragments, and refuses a frame that
/// needs more fragments than an skb has (about 72 KiB with 4 KiB pages). Replay cuts longer frames
/// (GRO-merged segments, as tcpdump on a receiving host captures them) to this length, which
/// changes nothing the program reads: it reads only a frame's linear part, a page less headroom.
pub const MAX_TEST_RUN_FRAME: usize = 64 << 10;
/// What the program would have said about a frame shorter than [`MIN_TEST_RUN_FRAME`]: it ends
/// inside the Ethernet header (the shared walk's verdict, checked in the tests below).
pub const SHORT_FRAME_REASON: Reason = Reason::TruncatedFrame;
/// `XDP_PASS` (`enum xdp_action` in linux/bpf.h): the program's only verdict.
const XDP_PASS: u32 = 2;
/// Reports one replay may write: a capture whose timestamps span more intervals than this is
/// most likely mistimed, and a longer `--interval` will do.
pub const MAX_REPORTS: u64 = 100_000;

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("{} holds no packets: there is nothing to replay", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{}: its packets span {reports} intervals of {}; replay writes at most {MAX_REPORTS} reports: use a longer --interval",
        path.display(), humantime::format_duration(*interval)
    )]
    TooManyReports {
        path: PathBuf,
        interval: Duration,
        reports: u64,
    },
    #[error(transparent)]
    Load(#[from] LoaderError),
    #[error(transparent)]
    Drain(#[from] DrainError),
    #[error("BPF_PROG_TEST_RUN failed on packet {packet} ({len} bytes)")]
    TestRun {
        packet: usize,
        len: usize,
        source: ProgramError,
    },
    #[error("the XDP program returned {verdict} for packet {packet}, not XDP_PASS ({XDP_PASS})")]
    Verdict { packet: usize, verdict: u32 },
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// What `meta.interfaces` says of a replay: `replay:<file name>`.
pub fn source_label(file: &Path) -> String {
    let name = file.file_name().unwrap_or(file.as_os_str());
    format!("replay:{}", name.to_string_lossy())
}

/// Replays `packets` (as [`read_capture`] returns them) through a freshly loaded program and
/// writes one report per interval, or one for the whole capture without `config.interval`.
///
/// Packets are taken in timestamp order. The first report starts at the first packet's
/// timestamp and the last ends at the last packet's, as a live run started just before the
/// first packet and stopped just after the last would have; with an interval, the reports in
/// between end on its multiples since the Unix epoch, empty ones included. Needs the privileges
/// of a live run (see [`loader::check_privileges`]); attaches to no interface.
pub fn replay(
    config: &ReplayConfig,
    packets: &[CapturedPacket],
    host: String,
) -> Result<(), ReplayError> {
    let path = &config.file;
    let mut order: Vec<usize> = (0..packets.len()).collect();
    order.sort_by_key(|&index| packets[index].timestamp);
    let (Some(&first), Some(&last)) = (order.first(), order.last()) else {
        return Err(ReplayError::Empty { path: path.clone() });
    };
    let (first, last) = (packets[first].timestamp, packets[last].timestamp);
    if let Some(interval) = config.interval {
        let reports = intervals_spanned(first, last, interval);
        if reports > MAX_REPORTS {
            return Err(ReplayError::TooManyReports {
                path: path.clone(),
                interval,
                reports,
            });
        }
    }

    let counting = &config.counting;
    let mut loaded = loader::load_with_clients(counting.max_names, counting.clients)?;
    loaded.count_ports(&counting.ports)?;
    let mut drainer = Drainer::new(&mut loaded.ebpf)?;
    let missing = || LoaderError::Missing {
        what: "XDP program",
        name: PROGRAM_NAME,
    };
    let program: &Xdp = loaded
        .ebpf
        .program(PROGRAM_NAME)
        .ok_or_else(missing)?
        .try_into()
        .map_err(LoaderError::Verify)?;
    let meta = Meta {
        host,
        interfaces: vec![source_label(path)],
    };
    let options = counting.report_options();
    tracing::info!(
        "replaying {} packets of {} ({} to {}), {} into {}",
        packets.len(),
        path.display(),
        humantime::format_rfc3339_micros(first),
        humantime::format_rfc3339_micros(last),
        match config.interval {
            Some(interval) => format!("a report every {}", humantime::format_duration(interval)),
            None => "one report".to_string(),
        },
        counting.out_dir.display()
    );

    let long_frames = packets
        .iter()
        .filter(|packet| packet.frame.len() > MAX_TEST_RUN_FRAME)
        .count();
    if long_frames > 0 {
        tracing::info!(
            "frames longer than {kib} KiB: {long_frames}; they go through BPF_PROG_TEST_RUN cut to \
             {kib} KiB (the program reads only the first page of a frame)",
            kib = MAX_TEST_RUN_FRAME >> 10,
        );
    }

    let mut pending = order.into_iter().peekable();
    let mut start = first;
    loop {
        let boundary = config
            .interval
            .map(|interval| interval_end(start, interval))
            .filter(|&end| end <= last);
        let mut short_frames = 0;
        while let Some(index) =
            pending.next_if(|&index| boundary.is_none_or(|end| packets[index].timestamp < end))
        {
            let frame = packets[index].frame.as_slice();
            let packet = index + 1;
            if frame.len() < MIN_TEST_RUN_FRAME {
                short_frames += 1;
                continue;
            }
            let data_in = Some(&frame[..frame.len().min(MAX_TEST_RUN_FRAME)]);
            let input = TestRunOptions {
                data_in,
                repeat: 1,
                ..TestRunOptions::default()
            };
            let result = program
                .test_run(input)
                .map_err(|source| ReplayError::TestRun {
                    packet,
                    len: frame.len(),
                    source,
                })?;
            if result.return_value != XDP_PASS {
                return Err(ReplayError::Verdict {
                    packet,
                    verdict: result.return_value,
                });
            }
            // The names ring buffer is read as often as the program writes it, so a replay never
            // loses a name to a full buffer.
            drainer.read_names();
        }
        let end = boundary.unwrap_or(last);
        let mut interval = drainer.flip_and_drain(start, end)?;
        add_short_frames(&mut interval, short_frames);
        files::write(
            &report_of(&interval, &meta, &options),
            counting.report_target(),
        )?;
        if boundary.is_none() {
            return Ok(());
        }
        start = end;
    }
}

/// How many intervals of `length` the span `first..=last` touches: the reports a replay writes.
fn intervals_spanned(first: SystemTime, last: SystemTime, length: Duration) -> u64 {
    let step = length.as_nanos().max(1);
    let since_epoch = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    };
    let spanned = since_epoch(last) / step - since_epoch(first) / step + 1;
    u64::try_from(spanned).unwrap_or(u64::MAX)
}

/// Counts frames that could not go through BPF_PROG_TEST_RUN as the program would have: among
/// the packets looked at, under [`SHORT_FRAME_REASON`].
fn add_short_frames(interval: &mut Interval, frames: u64) {
    if frames == 0 {
        return;
    }
    interval.packets += frames;
    interval.uncounted.push((SHORT_FRAME_REASON, frames));
}

#[cfg(test)]
mod tests {
    use dns_counter_common::{maps::NAME_WORDS, walk::parse_query};

    use super::*;

    #[test]
    fn frames_too_short_for_test_run_are_what_the_walk_says_they_are() {
        let frame = [0x45u8; MIN_TEST_RUN_FRAME];
        for len in 0..MIN_TEST_RUN_FRAME {
            let mut words = [0u64; NAME_WORDS];
            let verdict = parse_query(&frame[..len], |_| true, [1, 2], &mut words);
            assert_eq!(verdict.err(), Some(SHORT_FRAME_REASON), "{len} bytes");
        }
    }

    #[test]
    fn short_frames_join_the_packets_and_their_reason() {
        let mut interval = Interval {
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            packets: 10,
            names: vec![(b"\x01a\x00".to_vec(), 4)],
            qtypes: vec![(1, 4)],
            uncounted: vec![(Reason::TruncatedFrame, 1), (Reason::NotIp, 5)],
            clients: None,
        };
        add_short_frames(&mut interval, 0);
        assert_eq!(interval.packets, 10);
        add_short_frames(&mut interval, 3);
        assert_eq!(interval.packets, 13);
        let exclusions = dns_counter_report::analysis::exclude::Exclusions::default();
        let report = dns_counter_report::analysis::build_report(
            &interval,
            &Meta {
                host: "h".into(),
                interfaces: vec![],
            },
            &dns_counter_report::analysis::ReportOptions::new(0, &exclusions),
        );
        assert_eq!(report.check_invariants(), Ok(()));
        let reason = |name: &str| {
            report
                .totals
                .not_queries
                .0
                .iter()
                .find(|(reason, _)| reason == name)
                .map(|(_, count)| *count)
        };
        assert_eq!(
            (reason("truncated_frame"), reason("not_ip")),
            (Some(4), Some(5))
        );
    }

    #[test]
    fn intervals_spanned_counts_the_reports_a_replay_writes() {
        let minute = Duration::from_secs(60);
        let t = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(intervals_spanned(t(3_600), t(3_600), minute), 1);
        assert_eq!(intervals_spanned(t(3_601), t(3_659), minute), 1);
        assert_eq!(intervals_spanned(t(3_601), t(3_660), minute), 2);
        assert_eq!(intervals_spanned(t(0), t(86_400), minute), 1_441);
    }

    #[test]
    fn a_replay_is_labelled_with_its_file_name() {
        assert_eq!(
            source_label(Path::new("/var/tmp/resolver-1.pcapng")),
            "replay:resolver-1.pcapng"
        );
    }
}
