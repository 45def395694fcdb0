//! `dns-counter report` and `dns-counter merge`: saved reports read, merged and rendered.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use dns_counter_report::{
    merge,
    model::{self, SavedReport},
    read,
    render::Format,
};

use crate::sinks::files;

/// `dns-counter report`: a saved report, in the format asked for, on stdout.
pub fn show_report(file: &Path, format: Format) -> anyhow::Result<()> {
    let saved = read_noting_conversion(file)?;
    if let Err(err) = read::check(file, &saved) {
        tracing::warn!("{:#}", anyhow::Error::from(err));
    }
    to_stdout(&saved.render(format))
}

/// `dns-counter merge`: the merged report (JSON) into `--output` or on stdout.
pub fn merge_reports(paths: &[PathBuf], output: Option<&Path>) -> anyhow::Result<()> {
    let mut inputs = Vec::with_capacity(paths.len());
    for path in paths {
        let saved = read_noting_conversion(path)?;
        read::check(path, &saved)?;
        inputs.push(saved);
    }
    // The merge numbers inputs from 1, in the order given.
    let file = |input: usize| paths[input - 1].display().to_string();
    let (merged, warnings) =
        merge::merge(&inputs).map_err(|err| anyhow::anyhow!(err.describe(file)))?;
    for warning in warnings {
        tracing::warn!("{}", warning.describe(file));
    }
    let json = merged.render(Format::Json);
    match output {
        Some(path) => Ok(files::write_file(path, json.as_bytes())?),
        None => to_stdout(&json),
    }
}

/// A saved report; one converted from an older schema is noted as such.
fn read_noting_conversion(path: &Path) -> Result<SavedReport, read::ReadError> {
    let read = read::read(path)?;
    // A v2 report reads as v3 without a change of meaning: nothing to say.
    if let Some(schema) = read.converted_from.filter(|&from| from == model::SCHEMA_V1) {
        tracing::warn!(
            "{} is a {schema} report, read as {}: its packets and queries are told apart and its \
             shares are over queries",
            path.display(),
            model::SCHEMA
        );
    }
    Ok(read.saved)
}

/// Prints `text`; a reader that went away (`| head`) is not an error.
fn to_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(err).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}
