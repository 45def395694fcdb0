use std::{fmt, fs, io, path::Path, process::ExitCode};

use clap::Parser as _;
use dns_counter::{
    capture::{CaptureError, CaptureReader},
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
    let path = config.file.as_path();
    if replay::is_stdin(path) {
        // Read once, as it comes: its header is checked before privileges, the rest as read.
        let name = replay::capture_name(path);
        let mut capture = CaptureReader::new(io::stdin().lock(), Path::new(&name))?;
        ready_to_replay(&config)?;
        replay::replay(&config, &mut capture, None, config::hostname())?;
        return Ok(());
    }
    // A file is read twice, a packet at a time: first whole, so a mistake in it is told before
    // privileges are needed or any report is written.
    let open = || -> Result<_, CaptureError> {
        let file = fs::File::open(path).map_err(|source| CaptureError::Read {
            path: path.to_owned(),
            source,
        })?;
        CaptureReader::new(file, path)
    };
    let scanned = replay::scan(&mut open()?, &config)?;
    ready_to_replay(&config)?;
    replay::replay(&config, &mut open()?, Some(scanned), config::hostname())?;
    Ok(())
}

/// What a replay needs before it loads the program, as a live run does.
fn ready_to_replay(config: &ReplayConfig) -> anyhow::Result<()> {
    loader::check_privileges().map_err(anyhow::Error::msg)?;
    config.counting.check_map_memory()?;
    loader::raise_memlock_limit();
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
