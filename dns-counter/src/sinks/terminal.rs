//! The report's table on stdout, for whoever watches the terminal, whatever `--format` says.

use std::io::{self, Write as _};

use dns_counter_report::{
    model::Report,
    render::{self, Format},
};

use super::Sink;

/// Prints each report as the text table.
pub struct Terminal;

impl Sink for Terminal {
    fn publish(&mut self, report: &Report) {
        // A terminal that went away is no reason to stop counting.
        let _ = writeln!(
            io::stdout().lock(),
            "{}",
            render::render(report, None, Format::Txt)
        );
    }
}
