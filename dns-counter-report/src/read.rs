//! Saved reports read back (for `dns-counter report` and `dns-counter merge`).

use std::io;
use std::path::{Path, PathBuf};

use crate::model::{self, InvariantError, SavedReport};

/// Why a saved report cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read report {}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not a dns-counter report (JSON)", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} is a {found:?} report; this dns-counter reads {:?}", path.display(), model::SCHEMA)]
    Schema { path: PathBuf, found: String },
    #[error("{} has {field} {value:?}, not an RFC 3339 UTC time such as 2026-11-22T01:01:00Z", path.display())]
    BadTime {
        path: PathBuf,
        field: &'static str,
        value: String,
    },
    #[error("{} does not add up", path.display())]
    Invariant {
        path: PathBuf,
        source: InvariantError,
    },
}

/// Reads a report written by `run`, `replay` or `merge`, checking its schema (not its sums: see
/// [`check`]).
pub fn read(path: &Path) -> Result<SavedReport, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let saved: SavedReport = serde_json::from_str(&text).map_err(|source| ReadError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if saved.report.schema != model::SCHEMA {
        return Err(ReadError::Schema {
            path: path.to_owned(),
            found: saved.report.schema,
        });
    }
    for (field, value) in [("start", &saved.report.start), ("end", &saved.report.end)] {
        if humantime::parse_rfc3339(value).is_err() {
            return Err(ReadError::BadTime {
                path: path.to_owned(),
                field,
                value: value.clone(),
            });
        }
    }
    Ok(saved)
}

/// Checks that a report read from `path` adds up.
pub fn check(path: &Path, saved: &SavedReport) -> Result<(), ReadError> {
    saved
        .report
        .check_invariants()
        .map_err(|source| ReadError::Invariant {
            path: path.to_owned(),
            source,
        })
}
