//! Report files: `<end>.json` and `<end>.txt` per interval, and `latest.json` / `latest.txt`, each
//! written atomically so a reader never sees half a report.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::report::{self, Report};

/// How many reports may end in the same second before giving up (`<stamp>-1` ... `<stamp>-N`).
const MAX_SAME_SECOND: u32 = 1_000;

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
}

/// Writes the report as `<out_dir>/<end as YYYYmmddTHHMMSSZ>.json` and `.txt`, then replaces
/// `latest.json` and `latest.txt`, creating `out_dir` if needed. A report ending in the same second as
/// an earlier one gets `-1`, `-2`, ... before the extension rather than overwriting it. Returns the paths
/// written, in that order.
///
/// Assumes one writer per directory: the check for a free name and the rename are not one step.
pub fn write_report(out_dir: &Path, report: &Report) -> Result<Vec<PathBuf>, OutputError> {
    let stamp = file_stamp(&report.end).ok_or_else(|| OutputError::BadEnd {
        end: report.end.clone(),
    })?;
    fs::create_dir_all(out_dir).map_err(|error| OutputError::CreateDir {
        path: out_dir.to_owned(),
        error,
    })?;
    let base = free_base(out_dir, &stamp)?;

    let json = report::to_json(report);
    let text = report::to_text(report);
    let files = [
        (format!("{base}.json"), &json),
        (format!("{base}.txt"), &text),
        ("latest.json".to_owned(), &json),
        ("latest.txt".to_owned(), &text),
    ];
    let mut written = Vec::with_capacity(files.len());
    for (name, contents) in files {
        let path = out_dir.join(&name);
        write_atomically(out_dir, &name, contents.as_bytes()).map_err(|error| {
            OutputError::Write {
                path: path.clone(),
                error,
            }
        })?;
        written.push(path);
    }
    // Make the renames durable. Best effort: some filesystems cannot sync a directory, and the files
    // themselves are complete either way.
    if let Ok(dir) = File::open(out_dir) {
        let _ = dir.sync_all();
    }
    Ok(written)
}

/// `2026-11-22T01:01:00Z` → `20261122T010100Z`, after checking it is such a time (it names a file).
fn file_stamp(end: &str) -> Option<String> {
    let time = humantime::parse_rfc3339(end).ok()?;
    let canonical = report::rfc3339_utc(time);
    Some(
        canonical
            .chars()
            .filter(|c| !matches!(c, '-' | ':'))
            .collect(),
    )
}

/// The first of `<stamp>`, `<stamp>-1`, ... with neither a `.json` nor a `.txt` file yet.
fn free_base(dir: &Path, stamp: &str) -> Result<String, OutputError> {
    for n in 0..=MAX_SAME_SECOND {
        let base = match n {
            0 => stamp.to_owned(),
            n => format!("{stamp}-{n}"),
        };
        let taken = |ext: &str| dir.join(format!("{base}.{ext}")).symlink_metadata().is_ok();
        if !taken("json") && !taken("txt") {
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
    let temp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(contents)?;
        file.flush()?;
        file.sync_all()?;
        fs::rename(&temp, dir.join(name))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::tests::fixture_report;

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
        let written = write_report(&dir, &report).expect("write");
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
        assert_eq!(json, report::to_json(&report));
        assert_eq!(fs::read_to_string(&written[2]).expect("read"), json);
        assert_eq!(
            fs::read_to_string(&written[3]).expect("read"),
            report::to_text(&report)
        );
    }

    #[test]
    fn same_second_does_not_overwrite_and_latest_is_replaced() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        let first = fixture_report(1);
        let second = fixture_report(2);
        let third = fixture_report(3);
        write_report(dir, &first).expect("first");
        let written = write_report(dir, &second).expect("second");
        assert_eq!(written[0], dir.join("20261122T010100Z-1.json"));
        assert_eq!(written[1], dir.join("20261122T010100Z-1.txt"));
        write_report(dir, &third).expect("third");

        let read = |name: &str| -> Report {
            serde_json::from_str(&fs::read_to_string(dir.join(name)).expect("read")).expect("parse")
        };
        assert_eq!(read("20261122T010100Z.json"), first);
        assert_eq!(read("20261122T010100Z-1.json"), second);
        assert_eq!(read("20261122T010100Z-2.json"), third);
        assert_eq!(read("latest.json"), third);
        assert_eq!(
            fs::read_to_string(dir.join("latest.txt")).expect("read"),
            report::to_text(&third)
        );
    }

    #[test]
    fn a_lone_txt_also_takes_the_name() {
        let temp = tempfile::tempdir().expect("temp dir");
        fs::write(temp.path().join("20261122T010100Z.txt"), "someone else's").expect("write");
        let written = write_report(temp.path(), &fixture_report(1)).expect("write");
        assert_eq!(written[0], temp.path().join("20261122T010100Z-1.json"));
    }

    #[test]
    fn stale_temp_file_is_replaced() {
        let temp = tempfile::tempdir().expect("temp dir");
        fs::write(
            temp.path().join(".latest.json.tmp"),
            "half a report from a crash",
        )
        .expect("write");
        write_report(temp.path(), &fixture_report(1)).expect("write");
        assert!(!temp.path().join(".latest.json.tmp").exists());
    }

    #[test]
    fn out_dir_that_is_a_file_is_an_error() {
        let temp = tempfile::tempdir().expect("temp dir");
        let file = temp.path().join("not-a-dir");
        fs::write(&file, "").expect("write");
        let err = write_report(&file, &fixture_report(1)).expect_err("a file is not a directory");
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
        let err =
            write_report(temp.path(), &fixture_report(1)).expect_err("rename over a directory");
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
        let err = write_report(&dir, &fixture_report(1)).expect_err("read-only");
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
        let err = write_report(temp.path(), &report).expect_err("bad end");
        assert!(matches!(err, OutputError::BadEnd { ref end } if end == "yesterday"));
        assert!(names_in(temp.path()).is_empty());
    }
}
