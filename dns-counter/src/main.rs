use std::{process::ExitCode, time::SystemTime};

use anyhow::Context as _;
use clap::Parser as _;
use dns_counter::{
    aggregate::{Meta, ReportOptions},
    cli::{Cli, Command},
    config::{Config, ReplayConfig},
    drain::Drainer,
    loader,
    publish::{self, Backlog, interval_end},
    replay,
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
    time::{Instant, sleep_until},
};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => Config::from_args(args).map_err(anyhow::Error::from).and_then(run),
        Command::Replay(args) => ReplayConfig::from_args(args).map_err(anyhow::Error::from).and_then(replay),
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
    let mut loaded = loader::load(counting.max_names)?;
    loaded.count_ports(&counting.ports)?;
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
    let options = ReportOptions { top: counting.top, exclusions: &counting.exclusions };
    eprintln!(
        "dns-counter: counting on {}, a report every {} into {}",
        attached.join(", "),
        humantime::format_duration(config.interval),
        counting.out_dir.display()
    );

    let mut start = SystemTime::now();
    let mut reports = 0u64;
    let mut backlog = Backlog::default();
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
        backlog.publish(publish::build(&interval, &meta, &options), &counting.out_dir);
        reports += 1;
        start = end;
        if stop || config.count.is_some_and(|count| reports >= count) {
            break;
        }
    }
    loaded.detach()?;
    if !backlog.is_empty() {
        anyhow::bail!("{} report(s) could not be written to {}", backlog.len(), counting.out_dir.display());
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}
