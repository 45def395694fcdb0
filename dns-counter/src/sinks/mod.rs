//! Where finished reports go. Each destination is a [`Sink`]: the daemon hands every sink each
//! interval's report, and at exit asks each whether everything reached its destination. Report
//! files ([`files`]) and the table on the terminal ([`terminal`]) today; a /metrics endpoint, a
//! fleet exporter or a live view plug in the same way.

pub mod files;
pub mod terminal;

use std::path::PathBuf;

use dns_counter_report::model::Report;

/// One destination of reports.
pub trait Sink {
    /// Takes one interval's report. A sink that cannot deliver it now keeps it or says why
    /// (as a `tracing` event); counting never waits for a sink.
    fn publish(&mut self, report: &Report);

    /// Takes a snapshot of the interval in progress (SIGUSR1), which goes on: its counts come
    /// again in the interval's report. Sinks that only deliver whole intervals ignore it.
    fn snapshot(&mut self, _report: &Report) {}

    /// At exit: whether every report reached its destination.
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// What a sink could not deliver by exit.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Each unwritten report's interval, `<start> to <end>`, oldest first.
    #[error(
        "{} report(s) could not be written to {}, their counts are lost: {}",
        intervals.len(),
        dir.display(),
        intervals.join(", ")
    )]
    Unwritten {
        intervals: Vec<String>,
        dir: PathBuf,
    },
}
