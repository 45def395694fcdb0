//! Report files: `<end>.<ext>` per interval for each format written (`--format`), and
//! `latest.<ext>` beside them, each written atomically so a reader never sees half a report; and
//! `--keep`, which deletes the oldest reports.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use std::collections::VecDeque;

use dns_counter_report::model::Report;
use dns_counter_report::render::{self, Format};

use super::{Sink, SinkError};

/// How many reports may end in the same second before giving up (`<stamp>-1` ... `<stamp>-N`).
const MAX_SAME_SECOND: u32 = 1_000;

/// Every format's extension: a report's base name is free only when no format has a file by it,
/// whichever formats this run writes.
const ALL_FORMATS: [Format; 4] = Format::ALL;

/// Where and how reports are written.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub dir: &'a Path,
    /// Sorted, without repeats.
    pub formats: &'a [Format],
    /// Keep only the newest this many reports.
    pub keep: Option<u64>,
}

/// Why a report was not written. The `io::Error` is part of the message rather than a `source()`: the
/// daemon logs this with `{err}` and counting goes on.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot create report directory {}: {error}", path.display())]
    CreateDir { path: PathBuf, error: io::Error },
    #[error("cannot write report to {}: {error}", path.display())]
    Write { path: PathBuf, error: io::Error },
    #[error(
        "report end {end:?} is not an RFC 3339 UTC time such as 2026-11-22T01:01:00Z; cannot name its file"
    )]
    BadEnd { end: String },
    #[error("{} reports already end at {stamp} in {}", MAX_SAME_SECOND + 1, dir.display())]
    TooManySameSecond { dir: PathBuf, stamp: String },
    #[error("cannot list report directory {} to delete old reports: {error}", dir.display())]
    List { dir: PathBuf, error: io::Error },
    #[error("cannot delete old report {}: {error}", path.display())]
    Delete { path: PathBuf, error: io::Error },
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `<stamp>` or `<stamp>-N`: the report's files are `<base>.<ext>`.
    pub base: String,
    /// The report's files in the order of `formats`, then the `latest.<ext>` files in that order.
    pub paths: Vec<PathBuf>,
}

/// Writes the report as `<dir>/<end as YYYYmmddTHHMMSSZ>.<ext>` for each format, then replaces
/// `latest.<ext>` for each, creating `dir` if needed. A report ending in the same second as an
/// earlier one (in any format) gets `-1`, `-2`, ... before the extension rather than overwriting it.
///
/// Assumes one writer per directory: the check for a free name and the rename are not one step.
pub fn write_report(target: &Target, report: &Report) -> Result<Written, OutputError> {
    write_report_as(target, report, &mut None)
}

/// [`write_report`], under `base` when it is set: the name an earlier, unfinished attempt at this
/// report already put a file under. Sets `base` once a file of the report is under that name, so a
/// retry after a failure completes the same report rather than writing a second copy beside it.
///
/// The report's formats are one unit: every file is written to a temporary file and synced
/// first, and only then are they renamed into place (which needs no space), so a full disk leaves
/// no report file behind, only a report to write again.
fn write_report_as(
    target: &Target,
    report: &Report,
    base: &mut Option<String>,
) -> Result<Written, OutputError> {
    let dir = target.dir;
    fs::create_dir_all(dir).map_err(|error| OutputError::CreateDir {
        path: dir.to_owned(),
        error,
    })?;
    let chosen = match base {
        Some(base) => base.clone(),
        None => {
            let stamp = file_stamp(&report.end).ok_or_else(|| OutputError::BadEnd {
                end: report.end.clone(),
            })?;
            free_base(dir, &stamp)?
        }
    };

    let rendered: Vec<(Format, String)> = target
        .formats
        .iter()
        .map(|&format| (format, render::render(report, None, format)))
        .collect();
    let stamped = rendered
        .iter()
        .map(|(format, contents)| (format!("{chosen}.{}", format.extension()), contents));
    let latest = rendered
        .iter()
        .map(|(format, contents)| (format!("latest.{}", format.extension()), contents));
    let files: Vec<(String, &String)> = stamped.chain(latest).collect();

    let mut staged: Vec<PathBuf> = Vec::with_capacity(files.len());
    for (name, contents) in &files {
        match write_temp(dir, name, contents.as_bytes()) {
            Ok(temp) => staged.push(temp),
            Err(error) => {
                for temp in &staged {
                    let _ = fs::remove_file(temp);
                }
                return Err(OutputError::Write {
                    path: dir.join(name),
                    error,
                });
            }
        }
    }
    let mut paths = Vec::with_capacity(files.len());
    for (index, ((name, _), temp)) in files.iter().zip(&staged).enumerate() {
        let path = dir.join(name);
        if let Err(error) = fs::rename(temp, &path) {
            for temp in &staged[index..] {
                let _ = fs::remove_file(temp);
            }
            return Err(OutputError::Write { path, error });
        }
        // From the first rename on, this report owns the name.
        *base = Some(chosen.clone());
        paths.push(path);
    }
    // Make the renames durable. Best effort: some filesystems cannot sync a directory, and the files
    // themselves are complete either way.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(Written {
        base: chosen,
        paths,
    })
}

/// Writes the report as `<dir>/snapshot.<ext>` for each format, replacing the last snapshot: the
/// interval so far (SIGUSR1), never named as a report, so `--keep` and a merge of `<stamp>.*`
/// files leave it alone.
pub fn write_snapshot(target: &Target, report: &Report) -> Result<Vec<PathBuf>, OutputError> {
    let dir = target.dir;
    fs::create_dir_all(dir).map_err(|error| OutputError::CreateDir {
        path: dir.to_owned(),
        error,
    })?;
    let mut paths = Vec::with_capacity(target.formats.len());
    for &format in target.formats {
        let name = format!("snapshot.{}", format.extension());
        let path = dir.join(&name);
        let contents = render::render(report, None, format);
        write_atomically(dir, &name, contents.as_bytes()).map_err(|error| OutputError::Write {
            path: path.clone(),
            error,
        })?;
        paths.push(path);
    }
    Ok(paths)
}

/// Writes `contents` to `path` atomically: a temporary file beside it, synced, renamed over it.
pub fn write_file(path: &Path, contents: &[u8]) -> Result<(), OutputError> {
    let write_error = |error| OutputError::Write {
        path: path.to_owned(),
        error,
    };
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| {
            write_error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a file name",
            ))
        })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    write_atomically(dir, name, contents).map_err(write_error)
}

/// Deletes every report in `dir` but the newest `keep` (newest by the end in the file name, then
/// by `-N`), all formats of a report together, never `protect` (the base just written, even if a
/// clock stepped back made it the oldest). Touches only files named as reports are
/// (`<YYYYmmddTHHMMSSZ>[-N].<json|csv|txt|prom>`): never `latest.*`, never anything else. Returns
/// the files deleted.
pub fn prune(dir: &Path, keep: u64, protect: &str) -> Result<Vec<PathBuf>, OutputError> {
    let list_error = |error| OutputError::List {
        dir: dir.to_owned(),
        error,
    };
    let mut files: Vec<((String, u32), PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let Some(key) = entry.file_name().to_str().and_then(report_key) else {
            continue;
        };
        // A directory or link with a report's name is not one of ours.
        if entry.file_type().is_ok_and(|kind| kind.is_file()) {
            files.push((key, entry.path()));
        }
    }
    let mut reports: Vec<&(String, u32)> = files.iter().map(|(key, _)| key).collect();
    reports.sort_unstable();
    reports.dedup();
    let keep = usize::try_from(keep).unwrap_or(usize::MAX);
    let Some(old) = reports.len().checked_sub(keep).filter(|&old| old > 0) else {
        return Ok(Vec::new());
    };
    let newest_old = reports[old - 1].clone();
    let mut deleted = Vec::new();
    for (key, path) in &files {
        if *key > newest_old || base_of(key) == protect {
            continue;
        }
        match fs::remove_file(path) {
            Ok(()) => deleted.push(path.clone()),
            // Someone else deleted it: what we wanted.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(OutputError::Delete {
                    path: path.clone(),
                    error,
                });
            }
        }
    }
    deleted.sort();
    Ok(deleted)
}

/// `<stamp>[-N].<ext>` of a known format → (stamp, N), N = 0 without a suffix.
fn report_key(file_name: &str) -> Option<(String, u32)> {
    let (base, ext) = file_name.rsplit_once('.')?;
    if !ALL_FORMATS.iter().any(|format| format.extension() == ext) {
        return None;
    }
    let (stamp, n) = match base.split_once('-') {
        Some((stamp, n)) => {
            let canonical = !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit());
            (
                stamp,
                n.parse::<u32>().ok().filter(|&n| n > 0 && canonical)?,
            )
        }
        None => (base, 0),
    };
    let digits = |range: std::ops::Range<usize>| {
        stamp
            .get(range)
            .is_some_and(|part| part.bytes().all(|b| b.is_ascii_digit()))
    };
    let is_stamp = stamp.len() == "YYYYmmddTHHMMSSZ".len()
        && digits(0..8)
        && stamp.as_bytes()[8] == b'T'
        && digits(9..15)
        && stamp.as_bytes()[15] == b'Z';
    is_stamp.then(|| (stamp.to_owned(), n))
}

fn base_of((stamp, n): &(String, u32)) -> String {
    match n {
        0 => stamp.clone(),
        n => format!("{stamp}-{n}"),
    }
}

/// `2026-11-22T01:01:00Z` → `20261122T010100Z`, after checking it is such a time (it names a file).
fn file_stamp(end: &str) -> Option<String> {
    let time = humantime::parse_rfc3339(end).ok()?;
    // Names keep whole seconds; reports ending in the same second take `-N` suffixes.
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
    let canonical = dns_counter_report::model::rfc3339_utc(whole);
    Some(
        canonical
            .chars()
            .filter(|c| !matches!(c, '-' | ':'))
            .collect(),
    )
}

/// The first of `<stamp>`, `<stamp>-1`, ... with no report file of any format yet.
fn free_base(dir: &Path, stamp: &str) -> Result<String, OutputError> {
    for n in 0..=MAX_SAME_SECOND {
        let base = base_of(&(stamp.to_owned(), n));
        let taken = |format: &Format| {
            dir.join(format!("{base}.{}", format.extension()))
                .symlink_metadata()
                .is_ok()
        };
        if !ALL_FORMATS.iter().any(taken) {
            return Ok(base);
        }
    }
    Err(OutputError::TooManySameSecond {
        dir: dir.to_owned(),
        stamp: stamp.to_owned(),
    })
}

/// Writes `.<name>.tmp` in `dir`, syncs it and renames it over `<name>`.
fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let temp = write_temp(dir, name, contents)?;
    fs::rename(&temp, dir.join(name)).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// Writes and syncs `.<name>.tmp` in `dir`, removing it again if that fails; returns its path.
fn write_temp(dir: &Path, name: &str, contents: &[u8]) -> io::Result<PathBuf> {
    let temp = dir.join(temp_name(name));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(contents)?;
        file.flush()?;
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(temp),
        Err(error) => {
            let _ = fs::remove_file(&temp);
            Err(error)
        }
    }
}

fn temp_name(name: &str) -> String {
    format!(".{name}.tmp")
}

/// Whether `file_name` is a temporary file this module writes: `.<report, latest or snapshot
/// file>.tmp`.
fn is_our_temp(file_name: &str) -> bool {
    let Some(name) = file_name
        .strip_prefix('.')
        .and_then(|name| name.strip_suffix(".tmp"))
    else {
        return false;
    };
    if report_key(name).is_some() {
        return true;
    }
    name.split_once('.').is_some_and(|(base, ext)| {
        matches!(base, "latest" | "snapshot")
            && ALL_FORMATS.iter().any(|format| format.extension() == ext)
    })
}

/// Why the report directory cannot be used at start.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    #[error("--out-dir {}: cannot create it: {error}", dir.display())]
    Create { dir: PathBuf, error: io::Error },
    #[error("--out-dir {} is not a directory: name a directory (it is created if missing)", dir.display())]
    NotADirectory { dir: PathBuf },
    #[error("--out-dir {}: cannot write in it ({error}): give this user write access or name another directory", dir.display())]
    Unwritable { dir: PathBuf, error: io::Error },
}

/// At start, before anything is attached: creates the report directory if missing, checks that a
/// file can be written in it, and removes the temporary files a write cut short by SIGKILL or a
/// crash left behind. Returns the temporary files removed.
pub fn prepare_dir(dir: &Path) -> Result<Vec<PathBuf>, OutDirError> {
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(OutDirError::NotADirectory {
                dir: dir.to_owned(),
            });
        }
        Ok(_) => {}
        Err(_) => fs::create_dir_all(dir).map_err(|error| OutDirError::Create {
            dir: dir.to_owned(),
            error,
        })?,
    }
    // Only a write shows it: permissions, ACLs, a read-only mount and quotas all decide.
    let probe = dir.join(format!(".dns-counter-probe-{}", std::process::id()));
    File::create(&probe)
        .and_then(|file| file.sync_all())
        .map_err(|error| OutDirError::Unwritable {
            dir: dir.to_owned(),
            error,
        })?;
    let _ = fs::remove_file(&probe);

    let mut removed = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
            if is_file
                && entry.file_name().to_str().is_some_and(is_our_temp)
                && fs::remove_file(entry.path()).is_ok()
            {
                removed.push(entry.path());
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// Reports kept in memory while the report directory cannot be written: a day of one-minute
/// intervals.
pub const MAX_UNWRITTEN: usize = 1440;

/// Writes a report's files, logs one line saying where, then deletes the reports beyond
/// `--keep` (a failure to is a warning: the report itself was written).
pub fn write(report: &Report, target: Target) -> Result<Vec<PathBuf>, OutputError> {
    write_as(report, target, &mut None)
}

/// [`write`] under the name an earlier attempt took, if any (see [`write_report_as`]).
fn write_as(
    report: &Report,
    target: Target,
    base: &mut Option<String>,
) -> Result<Vec<PathBuf>, OutputError> {
    let written = write_report_as(&target, report, base)?;
    tracing::info!(
        "{} queries, {} names counted -> {}",
        report.totals.queries,
        report.totals.distinct_names,
        written
            .paths
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    if let Some(keep) = target.keep
        && let Err(err) = prune(target.dir, keep, &written.base)
    {
        tracing::warn!("{err}");
    }
    Ok(written.paths)
}

/// The report files of a live run. A report that cannot be written is kept and tried again at
/// the end of every interval, so a report directory that comes back loses nothing.
pub struct ReportFiles {
    dir: PathBuf,
    /// Sorted, without repeats.
    formats: Vec<Format>,
    keep: Option<u64>,
    /// Reports not written yet, oldest first.
    backlog: VecDeque<Pending>,
}

/// A report waiting to be written, and the name its files took if an attempt got that far.
struct Pending {
    report: Report,
    base: Option<String>,
}

impl ReportFiles {
    pub fn new(target: Target<'_>) -> Self {
        Self {
            dir: target.dir.to_owned(),
            formats: target.formats.to_vec(),
            keep: target.keep,
            backlog: VecDeque::new(),
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            dir: &self.dir,
            formats: &self.formats,
            keep: self.keep,
        }
    }

    /// Writes the waiting reports, oldest first, up to the first that fails: returns its error.
    fn write_backlog(&mut self) -> Option<OutputError> {
        // Built from the fields, not `self.target()`, since the backlog is borrowed mutably.
        let target = Target {
            dir: &self.dir,
            formats: &self.formats,
            keep: self.keep,
        };
        while let Some(oldest) = self.backlog.front_mut() {
            if let Err(err) = write_as(&oldest.report, target, &mut oldest.base) {
                return Some(err);
            }
            self.backlog.pop_front();
        }
        None
    }

    /// Reports still unwritten.
    pub fn unwritten(&self) -> usize {
        self.backlog.len()
    }
}

impl Sink for ReportFiles {
    fn snapshot(&mut self, report: &Report) {
        match write_snapshot(&self.target(), report) {
            Ok(paths) => tracing::info!(
                "wrote a snapshot of the interval so far: {}",
                paths
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(err) => tracing::warn!("{:#}", anyhow::Error::from(err)),
        }
    }

    /// Queues `report` and writes every queued report it can, oldest first. Says what failed and
    /// how many reports wait; past [`MAX_UNWRITTEN`] the oldest is dropped, saying so.
    fn publish(&mut self, report: &Report) {
        let mut failed = self.write_backlog();
        // Copied only when it must wait: in the usual interval it is written straight away.
        let mut base = None;
        if failed.is_none()
            && let Err(err) = write_as(report, self.target(), &mut base)
        {
            failed = Some(err);
        }
        if let Some(err) = failed {
            self.backlog.push_back(Pending {
                report: report.clone(),
                base,
            });
            tracing::warn!(
                "{err}; {} report(s) kept in memory to write later, counting goes on",
                self.backlog.len()
            );
        }
        if self.backlog.len() > MAX_UNWRITTEN
            && let Some(dropped) = self.backlog.pop_front()
        {
            tracing::warn!(
                "dropped the unwritten report of {} to {}",
                dropped.report.start,
                dropped.report.end
            );
        }
    }

    /// Tries the waiting reports once more, then names those it still could not write.
    fn finish(&mut self) -> Result<(), SinkError> {
        if self.write_backlog().is_none() {
            return Ok(());
        }
        Err(SinkError::Unwritten {
            intervals: self
                .backlog
                .iter()
                .map(|pending| format!("{} to {}", pending.report.start, pending.report.end))
                .collect(),
            dir: self.dir.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns_counter_report::render::{json, text};
    use dns_counter_report::testing::fixture_report;

    const JSON_TXT: &[Format] = &[Format::Json, Format::Txt];

    fn target<'a>(dir: &'a Path, formats: &'a [Format]) -> Target<'a> {
        Target {
            dir,
            formats,
            keep: None,
        }
    }

    fn write(dir: &Path, report: &Report) -> Result<Vec<PathBuf>, OutputError> {
        write_report(&target(dir, JSON_TXT), report).map(|written| written.paths)
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn stamps() {
        assert_eq!(
            file_stamp("2026-11-22T01:01:00Z").as_deref(),
            Some("20261122T010100Z")
        );
        assert_eq!(
            file_stamp("2026-11-22T01:01:00.75Z").as_deref(),
            Some("20261122T010100Z")
        );
        assert_eq!(file_stamp("../../etc/passwd"), None);
        assert_eq!(file_stamp(""), None);
    }

    #[test]
    fn writes_stamped_and_latest_files_creating_the_dir() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("reports/dns");
        let report = fixture_report(5);
        let written = write(&dir, &report).expect("write");
        let expected: Vec<PathBuf> = [
            "20261122T010100Z.json",
            "20261122T010100Z.txt",
            "latest.json",
            "latest.txt",
        ]
        .iter()
        .map(|name| dir.join(name))
        .collect();
        assert_eq!(written, expected);
        // No temporary files left behind.
        assert_eq!(
            names_in(&dir),
            [
                "20261122T010100Z.json",
                "20261122T010100Z.txt",
                "latest.json",
                "latest.txt"
            ]
        );
        let json = fs::read_to_string(&written[0]).expect("read");
        assert_eq!(json, json::to_json(&report));
        assert_eq!(fs::read_to_string(&written[2]).expect("read"), json);
        assert_eq!(
            fs::read_to_string(&written[3]).expect("read"),
            text::to_text(&report)
        );
    }

    #[test]
    fn every_format_is_written_with_its_latest_copy() {
        let temp = tempfile::tempdir().expect("temp dir");
        let report = fixture_report(5);
        let all = &[Format::Json, Format::Csv, Format::Txt, Format::Prom];
        let written = write_report(&target(temp.path(), all), &report).expect("write");
        assert_eq!(written.base, "20261122T010100Z");
        let names: Vec<String> = written
            .paths
            .iter()
            .map(|path| {
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "20261122T010100Z.json",
                "20261122T010100Z.csv",
                "20261122T010100Z.txt",
                "20261122T010100Z.prom",
                "latest.json",
                "latest.csv",
                "latest.txt",
                "latest.prom"
            ]
        );
        for format in all {
            let ext = format.extension();
            let expected = render::render(&report, None, *format);
            for name in [format!("20261122T010100Z.{ext}"), format!("latest.{ext}")] {
                assert_eq!(
                    fs::read_to_string(temp.path().join(&name)).expect("read"),
                    expected,
                    "{name}"
                );
            }
        }
        assert_eq!(names_in(temp.path()).len(), 8, "no temporary files left");
    }

    #[test]
    fn same_second_does_not_overwrite_and_latest_is_replaced() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let first = fixture_report(1);
        let second = fixture_report(2);
        let third = fixture_report(3);
        write(dir, &first).expect("first");
        let written = write(dir, &second).expect("second");
        assert_eq!(written[0], dir.join("20261122T010100Z-1.json"));
        assert_eq!(written[1], dir.join("20261122T010100Z-1.txt"));
        write(dir, &third).expect("third");

        let read = |name: &str| -> Report {
            serde_json::from_str(&fs::read_to_string(dir.join(name)).expect("read")).expect("parse")
        };
        assert_eq!(read("20261122T010100Z.json"), first);
        assert_eq!(read("20261122T010100Z-1.json"), second);
        assert_eq!(read("20261122T010100Z-2.json"), third);
        assert_eq!(read("latest.json"), third);
        assert_eq!(
            fs::read_to_string(dir.join("latest.txt")).expect("read"),
            text::to_text(&third)
        );
    }

    #[test]
    fn a_lone_txt_also_takes_the_name() {
        let temp = tempfile::tempdir().expect("temp dir");
        fs::write(temp.path().join("20261122T010100Z.txt"), "someone else's").expect("write");
        let written = write(temp.path(), &fixture_report(1)).expect("write");
        assert_eq!(written[0], temp.path().join("20261122T010100Z-1.json"));
    }

    #[test]
    fn the_suffix_rule_spans_formats_a_run_does_not_write() {
        // A report of an earlier run that wrote only prom; this run writes only csv.
        let temp = tempfile::tempdir().expect("temp dir");
        fs::write(temp.path().join("20261122T010100Z.prom"), "# earlier\n").expect("write");
        let written =
            write_report(&target(temp.path(), &[Format::Csv]), &fixture_report(1)).expect("write");
        assert_eq!(written.base, "20261122T010100Z-1");
        assert_eq!(written.paths[0], temp.path().join("20261122T010100Z-1.csv"));
        assert_eq!(written.paths[1], temp.path().join("latest.csv"));
    }

    #[test]
    fn stale_temp_file_is_replaced() {
        let temp = tempfile::tempdir().expect("temp dir");
        fs::write(
            temp.path().join(".latest.json.tmp"),
            "half a report from a crash",
        )
        .expect("write");
        write(temp.path(), &fixture_report(1)).expect("write");
        assert!(!temp.path().join(".latest.json.tmp").exists());
    }

    #[test]
    fn out_dir_that_is_a_file_is_an_error() {
        let temp = tempfile::tempdir().expect("temp dir");
        let file = temp.path().join("not-a-dir");
        fs::write(&file, "").expect("write");
        let err = write(&file, &fixture_report(1)).expect_err("a file is not a directory");
        assert!(
            matches!(&err, OutputError::CreateDir { path, .. } if *path == file),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(&format!(
            "cannot create report directory {}: ",
            file.display()
        )));
    }

    #[test]
    fn unwritable_file_is_an_error_naming_it() {
        let temp = tempfile::tempdir().expect("temp dir");
        // A directory where latest.json should go: the rename over it fails, as root too.
        fs::create_dir(temp.path().join("latest.json")).expect("mkdir");
        let err = write(temp.path(), &fixture_report(1)).expect_err("rename over a directory");
        let path = temp.path().join("latest.json");
        assert!(
            matches!(&err, OutputError::Write { path: p, .. } if *p == path),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write report to {}: Is a directory (os error 21)",
                path.display()
            )
        );
        assert!(!temp.path().join(".latest.json.tmp").exists());
    }

    #[test]
    fn through_anyhow_the_cause_is_not_repeated() {
        let err = OutputError::Write {
            path: "/x/y.json".into(),
            error: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::from(err)),
            "cannot write report to /x/y.json: permission denied"
        );
    }

    #[test]
    fn read_only_dir_is_an_error() {
        use std::os::unix::fs::PermissionsExt as _;
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("ro");
        fs::create_dir(&dir).expect("mkdir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).expect("chmod");
        if File::create(dir.join("probe")).is_ok() {
            // Root (CAP_DAC_OVERRIDE) writes anyway; unwritable_file_is_an_error_naming_it covers that case.
            eprintln!("skipping: permissions are not enforced for this user");
            return;
        }
        let err = write(&dir, &fixture_report(1)).expect_err("read-only");
        let path = dir.join("20261122T010100Z.json");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot write report to {}: Permission denied (os error 13)",
                path.display()
            )
        );
    }

    #[test]
    fn bad_end_is_an_error() {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut report = fixture_report(1);
        report.end = "yesterday".into();
        let err = write(temp.path(), &report).expect_err("bad end");
        assert!(matches!(err, OutputError::BadEnd { ref end } if end == "yesterday"));
        assert!(names_in(temp.path()).is_empty());
    }

    #[test]
    fn report_names_are_recognised_and_nothing_else() {
        assert_eq!(
            report_key("20261122T010100Z.json"),
            Some(("20261122T010100Z".into(), 0))
        );
        assert_eq!(
            report_key("20261122T010100Z-12.prom"),
            Some(("20261122T010100Z".into(), 12))
        );
        for foreign in [
            "latest.json",
            "notes.json",
            "20261122T010100Z.json.bak",
            "20261122T010100Z.tmp",
            ".20261122T010100Z.json.tmp",
            "20261122T010100Z-0.json",
            "20261122T010100Z-01.json",
            "20261122T010100Z-x.csv",
            "20261122T010100Z-.csv",
            "2026112XT010100Z.txt",
            "20261122T010100Z1.txt",
            "20261122X010100Z.txt",
            "20261122T010100Z",
        ] {
            assert_eq!(report_key(foreign), None, "{foreign}");
        }
    }

    /// A report ending at 2026-11-22T01:0M:00Z.
    fn report_at_minute(minute: u64) -> Report {
        let mut report = fixture_report(1);
        report.end = format!("2026-11-22T01:{minute:02}:00Z");
        report
    }

    #[test]
    fn keep_deletes_the_oldest_reports_in_every_format_and_nothing_else() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let foreign = [
            "notes.json",
            "20261122T005900Z.json.bak",
            "README.txt",
            "latest.csv",
        ];
        for name in foreign {
            fs::write(dir.join(name), "not ours").expect("write");
        }
        // Looks like a report but is a directory.
        fs::create_dir(dir.join("20261122T005800Z.json")).expect("mkdir");
        let formats = &[Format::Json, Format::Csv, Format::Txt, Format::Prom];
        let keep = Target {
            dir,
            formats,
            keep: Some(2),
        };
        let mut deleted_all = Vec::new();
        for minute in 1..=4 {
            let written = write_report(&keep, &report_at_minute(minute)).expect("write");
            deleted_all.extend(prune(dir, 2, &written.base).expect("prune"));
        }
        // A second report in the last second, as a stop right after an interval's end writes.
        let written = write_report(&keep, &report_at_minute(4)).expect("write");
        assert_eq!(written.base, "20261122T010400Z-1");
        let deleted = prune(dir, 2, &written.base).expect("prune");
        assert_eq!(
            deleted,
            ["csv", "json", "prom", "txt"].map(|ext| dir.join(format!("20261122T010300Z.{ext}")))
        );
        let mut expected: Vec<String> = ["20261122T010400Z", "20261122T010400Z-1"]
            .iter()
            .flat_map(|base| ["csv", "json", "prom", "txt"].map(|ext| format!("{base}.{ext}")))
            .chain(foreign.iter().map(|name| name.to_string()))
            .chain(["20261122T005800Z.json".to_owned()])
            .chain(["json", "txt", "prom"].map(|ext| format!("latest.{ext}")))
            .collect();
        expected.sort();
        assert_eq!(names_in(dir), expected);
        assert_eq!(deleted_all.len(), 2 * 4);
        // latest.csv is now this run's.
        assert_eq!(
            fs::read_to_string(dir.join("latest.csv")).expect("read"),
            render::render(&report_at_minute(4), None, Format::Csv)
        );
    }

    #[test]
    fn keep_counts_suffixes_in_number_order_and_spares_the_report_just_written() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        for name in [
            "20261122T010000Z-9.json",
            "20261122T010000Z-10.json",
            "20261122T010000Z.txt",
        ] {
            fs::write(dir.join(name), "").expect("write");
        }
        assert_eq!(
            prune(dir, 1, "").expect("prune"),
            [
                dir.join("20261122T010000Z-9.json"),
                dir.join("20261122T010000Z.txt")
            ]
        );
        assert_eq!(names_in(dir), ["20261122T010000Z-10.json"]);
        // A clock that stepped back: the report just written is the oldest, and stays.
        fs::write(dir.join("20261122T005900Z.json"), "").expect("write");
        assert_eq!(
            prune(dir, 1, "20261122T005900Z").expect("prune"),
            Vec::<PathBuf>::new()
        );
        assert_eq!(prune(dir, 5, "").expect("prune"), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_file_is_written_atomically_anywhere() {
        let temp = tempfile::tempdir().expect("temp dir");
        let path = temp.path().join("merged.json");
        write_file(&path, b"{}\n").expect("write");
        write_file(&path, b"{\"a\": 1}\n").expect("replace");
        assert_eq!(fs::read_to_string(&path).expect("read"), "{\"a\": 1}\n");
        assert_eq!(names_in(temp.path()), ["merged.json"]);
        let err = write_file(&temp.path().join("no/such/dir/x.json"), b"").expect_err("no dir");
        assert!(matches!(err, OutputError::Write { .. }), "{err:?}");
    }

    #[test]
    fn reports_wait_while_the_directory_is_unwritable_and_are_written_when_it_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out_dir = dir.path().join("reports");
        fs::write(&out_dir, "a file where the directory should be").expect("block");
        let ending = |minute| report_at_minute(minute);
        let mut files = ReportFiles::new(Target {
            dir: &out_dir,
            formats: &[Format::Json, Format::Txt],
            keep: None,
        });
        files.publish(&ending(1));
        files.publish(&ending(2));
        assert_eq!(files.unwritten(), 2);
        assert!(files.finish().is_err());

        fs::remove_file(&out_dir).expect("unblock");
        files.publish(&ending(3));
        assert_eq!(files.unwritten(), 0);
        assert!(files.finish().is_ok());
        let mut written: Vec<String> = names_in(&out_dir)
            .into_iter()
            .filter(|name| name.ends_with(".json") && name != "latest.json")
            .collect();
        written.sort();
        assert_eq!(written.len(), 3, "{written:?}");
        let latest = fs::read_to_string(out_dir.join("latest.json")).expect("latest");
        assert!(latest.contains(&ending(3).end), "{latest}");
    }

    fn json_txt_files(dir: &Path) -> ReportFiles {
        ReportFiles::new(Target {
            dir,
            formats: JSON_TXT,
            keep: None,
        })
    }

    /// Defect: a disk that filled between a report's `.json` and its `.txt` left the `.json`, and
    /// the retry wrote the whole report again as `<stamp>-1.*`: a merge of the directory counted
    /// the interval twice.
    #[test]
    fn a_report_that_fails_midway_leaves_no_file_and_is_retried_under_its_own_name() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        // The `.txt` cannot be written (as a full disk would refuse it): its temp file's name is
        // taken by a directory.
        let blocker = dir.join(".20261122T010100Z.txt.tmp");
        fs::create_dir(&blocker).expect("block the txt");
        let mut files = json_txt_files(dir);
        files.publish(&fixture_report(5));
        assert_eq!(files.unwritten(), 1);
        assert_eq!(
            names_in(dir),
            [".20261122T010100Z.txt.tmp"],
            "no half report"
        );

        fs::remove_dir(&blocker).expect("unblock");
        files.publish(&report_at_minute(2));
        assert_eq!(files.unwritten(), 0);
        assert_eq!(
            names_in(dir),
            [
                "20261122T010100Z.json",
                "20261122T010100Z.txt",
                "20261122T010200Z.json",
                "20261122T010200Z.txt",
                "latest.json",
                "latest.txt"
            ]
        );
    }

    /// A failure after the report's own files are in place (here `latest.txt`) is retried under
    /// the name they took, not as a second copy.
    #[test]
    fn a_retry_completes_the_same_report_rather_than_writing_a_copy() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        // A non-empty directory where `latest.txt` goes: renaming a file over it fails.
        fs::create_dir_all(dir.join("latest.txt/x")).expect("block latest.txt");
        let mut files = json_txt_files(dir);
        files.publish(&fixture_report(5));
        assert_eq!(files.unwritten(), 1);

        fs::remove_dir_all(dir.join("latest.txt")).expect("unblock");
        assert!(files.finish().is_ok(), "written at exit");
        assert_eq!(
            names_in(dir),
            [
                "20261122T010100Z.json",
                "20261122T010100Z.txt",
                "latest.json",
                "latest.txt"
            ]
        );
    }

    #[test]
    fn unwritten_reports_are_named_at_exit() {
        let temp = tempfile::tempdir().expect("temp dir");
        let out_dir = temp.path().join("reports");
        fs::write(&out_dir, "a file").expect("block");
        let mut files = json_txt_files(&out_dir);
        files.publish(&report_at_minute(1));
        files.publish(&report_at_minute(2));
        let message = files.finish().expect_err("unwritten").to_string();
        let first = report_at_minute(1);
        let second = report_at_minute(2);
        assert_eq!(
            message,
            format!(
                "2 report(s) could not be written to {}, their counts are lost: {} to {}, {} to {}",
                out_dir.display(),
                first.start,
                first.end,
                second.start,
                second.end
            )
        );
    }

    #[test]
    fn preparing_the_dir_removes_only_our_cut_short_temp_files() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        for name in [
            ".20261122T010100Z.json.tmp",
            ".20261122T010100Z-3.prom.tmp",
            ".latest.txt.tmp",
            ".snapshot.csv.tmp",
            ".notes.tmp",
            ".latest.pdf.tmp",
            "20261122T010100Z.json",
            "keep.tmp",
        ] {
            fs::write(dir.join(name), "x").expect("write");
        }
        let removed = prepare_dir(dir).expect("prepare");
        let removed: Vec<String> = removed
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            removed,
            [
                ".20261122T010100Z-3.prom.tmp",
                ".20261122T010100Z.json.tmp",
                ".latest.txt.tmp",
                ".snapshot.csv.tmp"
            ]
        );
        assert_eq!(
            names_in(dir),
            [
                ".latest.pdf.tmp",
                ".notes.tmp",
                "20261122T010100Z.json",
                "keep.tmp"
            ]
        );
    }

    #[test]
    fn preparing_creates_a_missing_dir_and_refuses_a_file() {
        let temp = tempfile::tempdir().expect("temp dir");
        let missing = temp.path().join("a/b");
        assert_eq!(
            prepare_dir(&missing).expect("create"),
            Vec::<PathBuf>::new()
        );
        assert!(missing.is_dir());
        assert_eq!(names_in(&missing), Vec::<String>::new(), "no probe left");

        let file = temp.path().join("file");
        fs::write(&file, "x").expect("write");
        assert_eq!(
            prepare_dir(&file).expect_err("a file").to_string(),
            format!(
                "--out-dir {} is not a directory: name a directory (it is created if missing)",
                file.display()
            )
        );
        let under_file = file.join("reports");
        let err = prepare_dir(&under_file)
            .expect_err("under a file")
            .to_string();
        assert!(
            err.starts_with(&format!(
                "--out-dir {}: cannot create it: ",
                under_file.display()
            )),
            "{err}"
        );
    }
}
