//! The live run: load and attach the program, then at the end of every interval drain its maps,
//! build the report and hand it to every sink, until the count is reached or a signal stops it.

use std::{
    io::{self, IsTerminal as _},
    time::{Duration, SystemTime},
};

use anyhow::Context as _;
use dns_counter_common::maps::NAMES_READ_PERIOD_MS;
use dns_counter_report::{
    analysis::{ReportOptions, build_report},
    interval::{Interval, Meta, interval_end},
    model::Report,
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{SignalKind, signal},
    time::{Instant, MissedTickBehavior, sleep_until},
};

use crate::{
    config::Config,
    kernel::{drain::Drainer, loader},
    sinks::{Sink, files::ReportFiles, terminal::Terminal},
};

/// Runs `dns-counter run` to its end.
pub fn run(config: Config) -> anyhow::Result<()> {
    loader::check_privileges().map_err(anyhow::Error::msg)?;
    loader::raise_memlock_limit();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(count(config))
}

/// The report of one interval; warns if it does not add up.
pub fn report_of(interval: &Interval, meta: &Meta, options: &ReportOptions) -> Report {
    let report = build_report(interval, meta, options);
    if let Err(problem) = report.check_invariants() {
        tracing::warn!("report does not add up: {problem}");
    }
    report
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
        host: crate::config::hostname(),
        interfaces: config.ifaces.clone(),
    };
    let options = counting.report_options();
    tracing::info!(
        "counting on {}, a report every {} into {}",
        attached.join(", "),
        humantime::format_duration(config.interval),
        counting.out_dir.display()
    );

    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if io::stdout().is_terminal() {
        sinks.push(Box::new(Terminal));
    }
    sinks.push(Box::new(ReportFiles::new(counting.report_target())));

    let mut start = SystemTime::now();
    let mut reports = 0u64;
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
        let report = report_of(&interval, &meta, &options);
        for sink in &mut sinks {
            sink.publish(&report);
        }
        // Cleared now, off the next interval's end; should it fail, the next flip clears it.
        if let Err(err) = drainer.clear_idle() {
            tracing::warn!("{:#}", anyhow::Error::from(err));
        }
        reports += 1;
        start = end;
        if stop || config.count.is_some_and(|count| reports >= count) {
            break;
        }
    }
    loaded.detach()?;
    for sink in &mut sinks {
        sink.finish()?;
    }
    Ok(())
}
