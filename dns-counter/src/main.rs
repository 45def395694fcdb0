use std::{fmt, process::ExitCode};

use clap::Parser as _;
use dns_counter::{
    capture,
    cli::{Cli, Command},
    commands,
    config::{self, Config, ReplayConfig},
    daemon,
    kernel::loader,
    source::replay,
};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, format::Writer};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .event_format(Lines)
        .init();
    let result = match Cli::parse().command {
        Command::Run(args) => Config::from_args(args)
            .map_err(anyhow::Error::from)
            .and_then(daemon::run),
        Command::Replay(args) => ReplayConfig::from_args(args)
            .map_err(anyhow::Error::from)
            .and_then(run_replay),
        Command::Report(args) => commands::show_report(&args.file, args.format.into()),
        Command::Merge(args) => commands::merge_reports(&args.files, args.output.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("dns-counter: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_replay(config: ReplayConfig) -> anyhow::Result<()> {
    // The capture is read first: a mistake in it needs no privileges to be told.
    let packets = capture::read_capture(&config.file)?;
    loader::check_privileges().map_err(anyhow::Error::msg)?;
    config.counting.check_map_memory()?;
    loader::raise_memlock_limit();
    replay::replay(&config, &packets, config::hostname())?;
    Ok(())
}

/// Every event as one line on stderr: `dns-counter: MESSAGE`, with `warning: ` before a
/// warning's message.
struct Lines;

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = *event.metadata().level();
        let tag = if level == Level::WARN || level == Level::ERROR {
            "warning: "
        } else {
            ""
        };
        write!(writer, "dns-counter: {tag}")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
