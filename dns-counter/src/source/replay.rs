//! `dns-counter replay`: runs every packet of a capture file through the same XDP program a live
//! run attaches, with BPF_PROG_TEST_RUN instead of an interface, and writes the reports a live
//! run would have written, through the same drain and the same report files.
//! Captures are read by [`crate::capture`], a packet at a time.

use std::{
    collections::BinaryHeap,
    io::Read,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use aya::programs::{ProgramError, TestRun as _, TestRunOptions, Xdp};
use dns_counter_common::{Reason, maps::PROGRAM_NAME};
use thiserror::Error;

use dns_counter_report::interval::{Interval, Meta, interval_end};

use crate::{
    capture::{CaptureError, CaptureReader},
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
    #[error(transparent)]
    Capture(#[from] CaptureError),
}

/// What `meta.interfaces` says of a replay: `replay:<file name>`, `replay:stdin` for `-`.
pub fn source_label(file: &Path) -> String {
    if is_stdin(file) {
        return "replay:stdin".to_owned();
    }
    let name = file.file_name().unwrap_or(file.as_os_str());
    format!("replay:{}", name.to_string_lossy())
}

/// `replay -` reads the capture from standard input (`tcpdump -w - | dns-counter replay -`).
pub fn is_stdin(file: &Path) -> bool {
    file.as_os_str() == "-"
}

/// Packets held back to put them in timestamp order: captures from several CPUs or interfaces
/// (`tcpdump -i any`) are nearly in order, a few packets apart.
pub const REORDER_PACKETS: usize = 10_000;
/// ... and at most this many bytes of them.
const REORDER_BYTES: usize = 16 << 20;

/// What a first pass over a capture file found: the replay's figures known before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    pub packets: usize,
    pub first: SystemTime,
    pub last: SystemTime,
}

/// Reads the whole capture once, packet by packet, to tell its mistakes before anything is loaded
/// and to refuse one that would write too many reports; memory stays within one record.
pub fn scan<R: Read>(
    capture: &mut CaptureReader<R>,
    config: &ReplayConfig,
) -> Result<Scanned, ReplayError> {
    let mut scanned: Option<Scanned> = None;
    while let Some(packet) = capture.next_packet()? {
        let at = packet.timestamp;
        scanned = Some(match scanned {
            None => Scanned {
                packets: 1,
                first: at,
                last: at,
            },
            Some(seen) => Scanned {
                packets: seen.packets + 1,
                first: seen.first.min(at),
                last: seen.last.max(at),
            },
        });
    }
    let scanned = scanned.ok_or_else(|| ReplayError::Empty {
        path: config.file.clone(),
    })?;
    if let Some(interval) = config.interval {
        let reports = intervals_spanned(scanned.first, scanned.last, interval);
        if reports > MAX_REPORTS {
            return Err(ReplayError::TooManyReports {
                path: config.file.clone(),
                interval,
                reports,
            });
        }
    }
    Ok(scanned)
}

/// A packet held back in the reorder window: earliest first, ties in file order.
struct Held {
    timestamp: SystemTime,
    /// Its place in the capture, from 1.
    packet: usize,
    frame: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.timestamp, self.packet) == (other.timestamp, other.packet)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: BinaryHeap pops the greatest, and the earliest is wanted.
        (other.timestamp, other.packet).cmp(&(self.timestamp, self.packet))
    }
}

/// Replays the packets of `capture` through a freshly loaded program and writes one report per
/// interval, or one for the whole capture without `config.interval`.
///
/// Packets are taken in timestamp order within a window of [`REORDER_PACKETS`]; one later than
/// that behind a packet of a later interval is counted in the interval being replayed (and the
/// log says how many were). The first report starts at the first packet's timestamp and the last
/// ends at the last packet's, as a live run started just before the first packet and stopped
/// just after the last would have; with an interval, the reports in between end on its multiples
/// since the Unix epoch, empty ones included. `scanned` is what [`scan`] found of a file (for a
/// pipe there is none, and its mistakes are told as they are read). Needs the privileges of a
/// live run (see [`loader::check_privileges`]); attaches to no interface.
pub fn replay<R: Read>(
    config: &ReplayConfig,
    capture: &mut CaptureReader<R>,
    scanned: Option<Scanned>,
    host: String,
) -> Result<(), ReplayError> {
    let path = &config.file;
    let counting = &config.counting;
    let mut loaded = loader::load_with_clients(counting.max_names, counting.clients)?;
    loaded.count_ports(&counting.ports)?;
    let mut drainer = Drainer::new(&mut loaded.ebpf)?;
    let mut kernel_log = loaded.take_logger();
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
    let reporting = match config.interval {
        Some(interval) => format!("a report every {}", humantime::format_duration(interval)),
        None => "one report".to_string(),
    };
    match scanned {
        Some(scanned) => tracing::info!(
            "replaying {} packets of {} ({} to {}), {reporting} into {}",
            scanned.packets,
            path.display(),
            humantime::format_rfc3339_micros(scanned.first),
            humantime::format_rfc3339_micros(scanned.last),
            counting.out_dir.display()
        ),
        None => tracing::info!(
            "replaying {} as it is read, {reporting} into {}",
            capture_name(path),
            counting.out_dir.display()
        ),
    }

    let mut window: BinaryHeap<Held> = BinaryHeap::new();
    let mut window_bytes = 0usize;
    // A scanned file's first report starts at its earliest packet, wherever that is in the file.
    let mut interval_start: Option<SystemTime> = scanned.map(|scanned| scanned.first);
    let mut last = SystemTime::UNIX_EPOCH;
    let mut reports = 0u64;
    let mut short_frames = 0u64;
    let mut long_frames = 0usize;
    let mut late = 0u64;
    let mut flush = |start: SystemTime,
                     end: SystemTime,
                     short_frames: &mut u64,
                     drainer: &mut Drainer|
     -> Result<(), ReplayError> {
        let mut interval = drainer.flip_and_drain(start, end)?;
        add_short_frames(&mut interval, std::mem::take(short_frames));
        if let Some(kernel_log) = kernel_log.as_mut() {
            kernel_log.flush();
        }
        files::write(
            &report_of(&interval, &meta, &options),
            counting.report_target(),
        )?;
        Ok(())
    };
    loop {
        while window.len() < REORDER_PACKETS && window_bytes < REORDER_BYTES {
            let Some(packet) = capture.next_packet()? else {
                break;
            };
            window_bytes += packet.frame.len();
            window.push(Held {
                timestamp: packet.timestamp,
                packet: capture.packets(),
                frame: packet.frame,
            });
        }
        let Some(held) = window.pop() else { break };
        window_bytes -= held.frame.len();
        let start = *interval_start.get_or_insert(held.timestamp);
        last = last.max(held.timestamp);
        if let Some(length) = config.interval {
            let mut start = start;
            if held.timestamp >= interval_end(start, length) {
                // The reports written, and those up to this packet's, empty ones included.
                let by_now = reports + intervals_spanned(start, held.timestamp, length);
                if by_now > MAX_REPORTS {
                    return Err(ReplayError::TooManyReports {
                        path: path.clone(),
                        interval: length,
                        reports: by_now,
                    });
                }
            }
            while held.timestamp >= interval_end(start, length) {
                let end = interval_end(start, length);
                flush(start, end, &mut short_frames, &mut drainer)?;
                reports += 1;
                start = end;
            }
            interval_start = Some(start);
            if held.timestamp < start {
                late += 1;
            }
        }
        let frame = held.frame.as_slice();
        if frame.len() < MIN_TEST_RUN_FRAME {
            short_frames += 1;
            continue;
        }
        long_frames += usize::from(frame.len() > MAX_TEST_RUN_FRAME);
        let data_in = Some(&frame[..frame.len().min(MAX_TEST_RUN_FRAME)]);
        let input = TestRunOptions {
            data_in,
            repeat: 1,
            ..TestRunOptions::default()
        };
        let result = program
            .test_run(input)
            .map_err(|source| ReplayError::TestRun {
                packet: held.packet,
                len: frame.len(),
                source,
            })?;
        if result.return_value != XDP_PASS {
            return Err(ReplayError::Verdict {
                packet: held.packet,
                verdict: result.return_value,
            });
        }
        // The names ring buffer is read as often as the program writes it, so a replay never
        // loses a name to a full buffer.
        drainer.read_names();
    }
    let Some(start) = interval_start else {
        return Err(ReplayError::Empty { path: path.clone() });
    };
    flush(start, last.max(start), &mut short_frames, &mut drainer)?;
    if scanned.is_none() {
        tracing::info!(
            "replayed {} packets of {}",
            capture.packets(),
            capture_name(path)
        );
    }
    if long_frames > 0 {
        tracing::info!(
            "frames longer than {kib} KiB: {long_frames}; they went through BPF_PROG_TEST_RUN cut \
             to {kib} KiB (the program reads only the first page of a frame)",
            kib = MAX_TEST_RUN_FRAME >> 10,
        );
    }
    if late > 0 {
        tracing::warn!(
            "{late} packets came more than {REORDER_PACKETS} packets after packets of a later \
             interval: each is counted in the interval replayed when it was read"
        );
    }
    Ok(())
}

/// The capture as messages name it.
pub fn capture_name(file: &Path) -> String {
    if is_stdin(file) {
        "standard input".to_owned()
    } else {
        file.display().to_string()
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
