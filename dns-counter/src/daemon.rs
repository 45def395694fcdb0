//! The live run: load and attach the program, then at the end of every interval drain its maps,
//! build the report and hand it to every sink, until the count is reached or a signal stops it.

use std::{
    io::{self, IsTerminal as _},
    time::{Duration, Instant as StdInstant, SystemTime},
};

use anyhow::Context as _;
use dns_counter_common::maps::NAMES_READ_PERIOD_MS;
use dns_counter_report::{
    analysis::{ReportOptions, build_report},
    interval::{Interval, Meta},
    model::Report,
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{Signal, SignalKind, signal},
    time::{Instant, MissedTickBehavior, sleep_until},
};

use crate::{
    config::Config,
    kernel::{drain::Drainer, loader},
    schedule::{Closed, Schedule, Step},
    sinks::{
        Sink,
        files::{self, ReportFiles},
        terminal::Terminal,
    },
    source::interfaces::{self, Interfaces, Kernel},
};

/// Runs `dns-counter run` to its end.
pub fn run(config: Config) -> anyhow::Result<()> {
    loader::check_privileges().map_err(anyhow::Error::msg)?;
    config.counting.check_map_memory()?;
    // A report directory that cannot take a report is said now, not an interval after attaching.
    for removed in files::prepare_dir(&config.counting.out_dir)? {
        tracing::info!(
            "removed {}, left by a report write that was cut short",
            removed.display()
        );
    }
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

async fn count(mut config: Config) -> anyhow::Result<()> {
    let counting = &config.counting;
    let mut loaded = loader::load_with_clients(counting.max_names, counting.clients)?;
    loaded.count_ports(&counting.ports)?;
    let mut drainer = Drainer::new(&mut loaded.ebpf)?;
    let hook = config.hook;
    let (mut interfaces, attached) = Interfaces::attach_all(
        &mut Kernel {
            loaded: &mut loaded,
            hook,
        },
        &config.ifaces,
        StdInstant::now(),
    )?;
    // The program's rare events; without its ring, there are none to show.
    let mut kernel_log = match loaded.take_logger() {
        // SAFETY: the logger owns its ring's descriptor and keeps it until it is dropped, with
        // the AsyncFd that holds it.
        Some(logger) => Some(
            unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }
                .map_err(|err| err.into_parts().1)
                .context("cannot watch the program's log ring")?,
        ),
        None => None,
    };
    let mut interfaces_tick = tokio::time::interval(interfaces::POLL_PERIOD);
    interfaces_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // SAFETY: the AsyncFd owns this descriptor and nothing else closes or replaces it.
    let names_ready =
        unsafe { AsyncFd::register_with_interest(drainer.names_fd()?, Interest::READABLE) }
            .map_err(|err| err.into_parts().1)
            .context("cannot watch the names ring buffer")?;
    // The program wakes the daemon only when the ring fills up; below that, names are read on
    // this tick.
    let mut names_tick = tokio::time::interval(Duration::from_millis(NAMES_READ_PERIOD_MS));
    names_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut signals = Signals::new()?;
    let mut meta = Meta {
        host: crate::config::hostname(),
        interfaces: config.ifaces.clone(),
    };
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

    let mut schedule = Schedule::new(config.interval, SystemTime::now(), StdInstant::now());
    let mut reports = 0u64;
    loop {
        let deadline = Instant::from_std(schedule.deadline());
        let stop = tokio::select! {
            () = sleep_until(deadline) => false,
            _ = signals.interrupt.recv() => true,
            _ = signals.terminate.recv() => true,
            _ = signals.hangup.recv() => {
                match config.counting.reload_lists() {
                    Ok(()) => tracing::info!(
                        "SIGHUP: read the exclusion and organisation lists again; they apply \
                         from this interval on"
                    ),
                    Err(err) => tracing::warn!(
                        "SIGHUP: kept the lists in use, since {:#}",
                        anyhow::Error::from(err)
                    ),
                }
                continue;
            }
            _ = signals.user1.recv() => {
                let now = StdInstant::now();
                let so_far = schedule.peek(SystemTime::now(), now);
                match drainer.peek(so_far.start, so_far.end) {
                    Ok(interval) => {
                        meta.interfaces = interfaces.names();
                        let mut report =
                            report_of(&interval, &meta, &config.counting.report_options());
                        report.snapshot = true;
                        report.attached =
                            interfaces.attached_so_far(now, span_of(so_far.start, so_far.end));
                        for sink in &mut sinks {
                            sink.snapshot(&report);
                        }
                    }
                    Err(err) => tracing::warn!(
                        "SIGUSR1: no snapshot, since {:#}",
                        anyhow::Error::from(err)
                    ),
                }
                continue;
            }
            _ = names_tick.tick() => {
                drainer.read_names();
                continue;
            }
            ready = readable(&mut kernel_log) => {
                let mut guard = ready.context("cannot wait on the program's log ring")?;
                guard.get_inner_mut().flush();
                guard.clear_ready();
                continue;
            }
            _ = interfaces_tick.tick() => {
                interfaces.poll(&mut Kernel { loaded: &mut loaded, hook }, StdInstant::now());
                continue;
            }
            ready = names_ready.readable() => {
                let mut guard = ready.context("cannot wait on the names ring buffer")?;
                guard.clear_ready();
                drainer.read_names();
                continue;
            }
        };
        let now = StdInstant::now();
        let closed = schedule.close(SystemTime::now(), now, !stop);
        say_step(&closed);
        let interval = drainer.flip_and_drain(closed.start, closed.end)?;
        meta.interfaces = interfaces.names();
        let mut report = report_of(&interval, &meta, &config.counting.report_options());
        report.attached = interfaces.take_attached(now, span_of(closed.start, closed.end));
        for sink in &mut sinks {
            sink.publish(&report);
        }
        // Cleared now, off the next interval's end; should it fail, the next flip clears it.
        if let Err(err) = drainer.clear_idle() {
            tracing::warn!("{:#}", anyhow::Error::from(err));
        }
        reports += 1;
        if stop || config.count.is_some_and(|count| reports >= count) {
            break;
        }
    }
    interfaces.detach_all(&mut Kernel {
        loaded: &mut loaded,
        hook,
    });
    for sink in &mut sinks {
        sink.finish()?;
    }
    Ok(())
}

/// The signals the daemon handles; each would otherwise end it and lose the interval.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
    /// Read the lists again (what a dropped SSH session sends, too).
    hangup: Signal,
    /// Write a snapshot of the interval so far.
    user1: Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        let handle = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("cannot handle {name}"))
        };
        Ok(Self {
            interrupt: handle(SignalKind::interrupt(), "SIGINT")?,
            terminate: handle(SignalKind::terminate(), "SIGTERM")?,
            hangup: handle(SignalKind::hangup(), "SIGHUP")?,
            user1: handle(SignalKind::user_defined1(), "SIGUSR1")?,
        })
    }
}

/// Waits until `fd` is readable; never, without one.
async fn readable<T: std::os::fd::AsRawFd>(
    fd: &mut Option<AsyncFd<T>>,
) -> io::Result<tokio::io::unix::AsyncFdReadyMutGuard<'_, T>> {
    match fd {
        Some(fd) => fd.readable_mut().await,
        None => std::future::pending().await,
    }
}

/// How long an interval's labels say it is (zero if they run backwards).
fn span_of(start: SystemTime, end: SystemTime) -> Duration {
    end.duration_since(start).unwrap_or_default()
}

/// Says in the log when the wall clock stepped, and how the report is labelled for it.
fn say_step(closed: &Closed) {
    let span = || {
        format!(
            "{} to {}",
            dns_counter_report::model::rfc3339_utc(closed.start),
            dns_counter_report::model::rfc3339_utc(closed.end)
        )
    };
    match closed.step {
        None => {}
        Some(Step::Forward(by)) => tracing::warn!(
            "the wall clock stepped forward by {}: one report covers the gap, {}",
            humantime::format_duration(rounded(by)),
            span()
        ),
        Some(Step::Back(by)) => tracing::warn!(
            "the wall clock stepped back by {}: this report is labelled by the new clock, {}, \
             and reports go on every interval",
            humantime::format_duration(rounded(by)),
            span()
        ),
    }
}

/// To the nearest second, for the log: a step is found only past a second, and timing noise
/// would show in milliseconds.
fn rounded(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs() + u64::from(duration.subsec_millis() >= 500))
}
