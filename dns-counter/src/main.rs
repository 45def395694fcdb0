use std::{
    process::ExitCode,
    time::{Duration, SystemTime},
};

use anyhow::Context as _;
use clap::Parser as _;
use dns_counter::{
    aggregate::{Meta, ReportOptions, build_report},
    cli::{Cli, Command},
    config::Config,
    drain::Drainer,
    loader, output,
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
    time::{Instant, sleep_until},
};

fn main() -> ExitCode {
    let Command::Run(args) = Cli::parse().command;
    match Config::from_args(args).map_err(anyhow::Error::from).and_then(run) {
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

/// The end of the interval that contains `now`: intervals end on multiples of `interval` since
/// the Unix epoch, so reports of several hosts line up.
fn interval_end(now: SystemTime, interval: Duration) -> SystemTime {
    let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let step = interval.as_nanos().max(1);
    let ends = (since_epoch.as_nanos() / step + 1) * step;
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ends as u64)
}

fn instant_of(at: SystemTime) -> Instant {
    Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default()
}

async fn count(config: Config) -> anyhow::Result<()> {
    let mut loaded = loader::load(config.max_names)?;
    loaded.count_ports(&config.ports)?;
    let mut drainer = Drainer::new(&mut loaded.ebpf)?;
    let mut attached = Vec::new();
    for iface in &config.ifaces {
        let mode = loaded.attach(iface, config.xdp_mode)?;
        attached.push(format!("{iface} ({mode} mode)"));
    }
    // SAFETY: the AsyncFd owns this descriptor and nothing else closes or replaces it.
    let names_ready = unsafe { AsyncFd::register_with_interest(drainer.names_fd()?, Interest::READABLE) }
        .map_err(|err| err.into_parts().1)
        .context("cannot watch the names ring buffer")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let meta = Meta { host: hostname(), interfaces: config.ifaces.clone() };
    let options = ReportOptions { top: config.top, exclusions: &config.exclusions };
    eprintln!(
        "dns-counter: counting on {}, a report every {} into {}",
        attached.join(", "),
        humantime::format_duration(config.interval),
        config.out_dir.display()
    );

    let mut start = SystemTime::now();
    let mut reports = 0u64;
    loop {
        let end = interval_end(start, config.interval);
        let stop = tokio::select! {
            () = sleep_until(instant_of(end)) => false,
            _ = interrupt.recv() => true,
            _ = terminate.recv() => true,
            ready = names_ready.readable() => {
                let mut guard = ready.context("cannot wait on the names ring buffer")?;
                guard.clear_ready();
                drainer.read_names();
                continue;
            }
        };
        let end = if stop { SystemTime::now() } else { end };
        let interval = drainer.flip_and_drain(start, end)?;
        let report = build_report(&interval, &meta, &options);
        if let Err(problem) = report.check_invariants() {
            eprintln!("dns-counter: warning: report does not add up: {problem}");
        }
        match output::write_report(&config.out_dir, &report) {
            Ok(paths) => eprintln!(
                "dns-counter: {} queries, {} names counted -> {}",
                report.totals.queries,
                report.totals.distinct_names,
                paths.first().map(|p| p.display().to_string()).unwrap_or_default()
            ),
            Err(err) => eprintln!("dns-counter: {err}; counting goes on"),
        }
        reports += 1;
        start = end;
        if stop || config.count.is_some_and(|count| reports >= count) {
            break;
        }
    }
    loaded.detach()?;
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}
