use std::{
    io::{self, IsTerminal as _, Write as _},
    process::ExitCode,
    time::{Duration, SystemTime},
};

use anyhow::Context as _;
use clap::Parser as _;
use dns_counter::{
    aggregate::Meta,
    cli::{Cli, Command, Format, MergeArgs, ReportArgs},
    config::{Config, ReplayConfig},
    drain::Drainer,
    formats, loader,
    merge::{self, Omitted},
    output,
    publish::{self, Backlog, interval_end},
    replay, report,
};
use dns_counter_common::maps::NAMES_READ_PERIOD_MS;
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
    time::{Instant, MissedTickBehavior, sleep_until},
};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => Config::from_args(args)
            .map_err(anyhow::Error::from)
            .and_then(run),
        Command::Replay(args) => ReplayConfig::from_args(args)
            .map_err(anyhow::Error::from)
            .and_then(replay),
        Command::Report(args) => show_report(&args),
        Command::Merge(args) => merge_reports(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("dns-counter: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    loader::check_privileges().map_err(anyhow::Error::msg)?;
    loader::raise_memlock_limit();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(count(config))
}

fn replay(config: ReplayConfig) -> anyhow::Result<()> {
    // The capture is read first: a mistake in it needs no privileges to be told.
    let packets = replay::read_capture(&config.file)?;
    loader::check_privileges().map_err(anyhow::Error::msg)?;
    loader::raise_memlock_limit();
    replay::replay(&config, &packets, hostname())?;
    Ok(())
}

fn instant_of(at: SystemTime) -> Instant {
    Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default()
}

async fn count(config: Config) -> anyhow::Result<()> {
    let counting = &config.counting;
    let mut loaded = loader::load_with_clients(counting.max_names, counting.clients)?;
    loaded.count_ports(&counting.ports)?;
    let mut drainer = Drainer::new(&mut loaded.ebpf)?;
    let mut attached = Vec::new();
    for iface in &config.ifaces {
        let mode = loaded.attach(iface, config.xdp_mode)?;
        attached.push(format!("{iface} ({mode} mode)"));
    }
    // SAFETY: the AsyncFd owns this descriptor and nothing else closes or replaces it.
    let names_ready =
        unsafe { AsyncFd::register_with_interest(drainer.names_fd()?, Interest::READABLE) }
            .map_err(|err| err.into_parts().1)
            .context("cannot watch the names ring buffer")?;
    // The program wakes the daemon only when the ring fills up; below that, names are read on
    // this tick.
    let mut names_tick = tokio::time::interval(Duration::from_millis(NAMES_READ_PERIOD_MS));
    names_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let meta = Meta {
        host: hostname(),
        interfaces: config.ifaces.clone(),
    };
    let options = counting.report_options();
    eprintln!(
        "dns-counter: counting on {}, a report every {} into {}",
        attached.join(", "),
        humantime::format_duration(config.interval),
        counting.out_dir.display()
    );

    let show_tables = io::stdout().is_terminal();
    let mut start = SystemTime::now();
    let mut reports = 0u64;
    let mut backlog = Backlog::default();
    loop {
        let end = interval_end(start, config.interval);
        let stop = tokio::select! {
            () = sleep_until(instant_of(end)) => false,
            _ = interrupt.recv() => true,
            _ = terminate.recv() => true,
            _ = names_tick.tick() => {
                drainer.read_names();
                continue;
            }
            ready = names_ready.readable() => {
                let mut guard = ready.context("cannot wait on the names ring buffer")?;
                guard.clear_ready();
                drainer.read_names();
                continue;
            }
        };
        let end = if stop { SystemTime::now() } else { end };
        let interval = drainer.flip_and_drain(start, end)?;
        let report = publish::build(&interval, &meta, &options);
        if show_tables {
            // For whoever watches the terminal, whatever --format says.
            let _ = writeln!(io::stdout().lock(), "{}", report::to_text(&report));
        }
        backlog.publish(report, counting.into());
        // Cleared now, off the next interval's end; should it fail, the next flip clears it.
        if let Err(err) = drainer.clear_idle() {
            eprintln!("dns-counter: warning: {:#}", anyhow::Error::from(err));
        }
        reports += 1;
        start = end;
        if stop || config.count.is_some_and(|count| reports >= count) {
            break;
        }
    }
    loaded.detach()?;
    if !backlog.is_empty() {
        anyhow::bail!(
            "{} report(s) could not be written to {}",
            backlog.len(),
            counting.out_dir.display()
        );
    }
    Ok(())
}

/// `dns-counter report`: a saved report, in the format asked for, on stdout.
fn show_report(args: &ReportArgs) -> anyhow::Result<()> {
    let saved = formats::read(&args.file)?;
    if let Err(err) = formats::check(&args.file, &saved) {
        eprintln!("dns-counter: warning: {:#}", anyhow::Error::from(err));
    }
    to_stdout(&saved.render(args.format))
}

/// `dns-counter merge`: the merged report (JSON) into `--output` or on stdout.
fn merge_reports(args: &MergeArgs) -> anyhow::Result<()> {
    let mut inputs = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let saved = formats::read(path)?;
        formats::check(path, &saved)?;
        inputs.push(saved);
    }
    let (merged, omitted) = merge::merge(&inputs)?;
    for omitted in omitted {
        match omitted {
            Omitted::Missing { section, input } => eprintln!(
                "dns-counter: warning: {} has no {section} section: the merged report has none",
                args.files[input - 1].display()
            ),
            other => eprintln!("dns-counter: warning: {other}"),
        }
    }
    let json = merged.render(Format::Json);
    match &args.output {
        Some(path) => Ok(output::write_file(path, json.as_bytes())?),
        None => to_stdout(&json),
    }
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

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}
