//! The interfaces a live run counts on, followed while it runs. Each is polled by its index: a
//! rename is followed (reports name it as it is now called); an index that is gone (the interface
//! deleted, or moved to another network namespace) is a detach, said in the log; and when an
//! interface of the name `--iface` gave appears again, the program is attached to it. Each report
//! says how long each interface was attached in its interval.

use std::time::{Duration, Instant};

use dns_counter_report::model::Attached;

use crate::kernel::loader::{Hook, HookLink, Loaded, LoaderError};

/// How often the interfaces are looked at: how late a change is seen, at most.
pub const POLL_PERIOD: Duration = Duration::from_secs(1);

/// What the watch needs of the host: interface names and indexes, and attaching the program.
/// The daemon's is [`Kernel`]; tests give their own.
pub trait Host {
    type Link;
    fn index_of(&self, name: &str) -> Option<u32>;
    fn name_of(&self, index: u32) -> Option<String>;
    /// Attaches to interface `index`; returns the link and the mode used.
    fn attach(&mut self, name: &str, index: u32)
    -> Result<(Self::Link, &'static str), LoaderError>;
    fn detach(&mut self, link: Self::Link);
}

/// The kernel's interfaces, in the daemon's network namespace, and the loaded program.
pub struct Kernel<'a> {
    pub loaded: &'a mut Loaded,
    pub hook: Hook,
}

impl Host for Kernel<'_> {
    type Link = HookLink;

    fn index_of(&self, name: &str) -> Option<u32> {
        let name = std::ffi::CString::new(name).ok()?;
        // SAFETY: `name` is a valid C string for the call's duration.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        (index != 0).then_some(index)
    }

    fn name_of(&self, index: u32) -> Option<String> {
        let mut buffer = [0 as libc::c_char; libc::IF_NAMESIZE];
        // SAFETY: the buffer holds IF_NAMESIZE bytes, as if_indextoname(3) requires.
        let name = unsafe { libc::if_indextoname(index, buffer.as_mut_ptr()) };
        if name.is_null() {
            return None;
        }
        // SAFETY: on success the buffer holds a NUL-terminated name.
        let name = unsafe { std::ffi::CStr::from_ptr(buffer.as_ptr()) };
        Some(name.to_string_lossy().into_owned())
    }

    fn attach(&mut self, name: &str, index: u32) -> Result<(HookLink, &'static str), LoaderError> {
        self.loaded.attach_hook(name, index, self.hook)
    }

    fn detach(&mut self, link: HookLink) {
        // The kernel detached it already when the interface went away; nothing is left to undo.
        if let Err(err) = self.loaded.detach(link) {
            tracing::debug!("detaching: {err}");
        }
    }
}

/// One interface named with `--iface`.
struct Watched<L> {
    /// As `--iface` named it: an interface of this name is attached when it appears.
    given: String,
    /// What it is called now.
    name: String,
    state: State<L>,
    /// Attached time in the interval so far, but for the stretch since `State::Attached::since`.
    attached_for: Duration,
}

enum State<L> {
    Attached {
        index: u32,
        link: L,
        since: Instant,
    },
    /// Not attached; `said` once the log has said why it could not be attached again.
    Gone {
        said: bool,
    },
}

/// The interfaces of a live run.
pub struct Interfaces<L> {
    watched: Vec<Watched<L>>,
}

impl<L> Interfaces<L> {
    /// Attaches to each of `names`; any that cannot be attached now is an error, as a mistake in
    /// the command line is. Returns them with how each was attached, for the log.
    pub fn attach_all<H: Host<Link = L>>(
        host: &mut H,
        names: &[String],
        now: Instant,
    ) -> Result<(Self, Vec<String>), LoaderError> {
        let mut watched = Vec::new();
        let mut attached = Vec::new();
        for name in names {
            let index = host.index_of(name).ok_or_else(|| LoaderError::Attach {
                iface: name.clone(),
                mode: "any",
                source: aya::programs::ProgramError::UnknownInterface { name: name.clone() },
            })?;
            let (link, mode) = host.attach(name, index)?;
            attached.push(format!("{name} ({mode} mode)"));
            watched.push(Watched {
                given: name.clone(),
                name: name.clone(),
                state: State::Attached {
                    index,
                    link,
                    since: now,
                },
                attached_for: Duration::ZERO,
            });
        }
        Ok((Self { watched }, attached))
    }

    /// Looks at every interface once: follows renames, detaches from those gone and attaches to
    /// those back, saying each in the log.
    pub fn poll<H: Host<Link = L>>(&mut self, host: &mut H, now: Instant) {
        for watched in &mut self.watched {
            watched.poll(host, now);
        }
    }

    /// What the interfaces are called now, for the report's `interfaces`.
    pub fn names(&self) -> Vec<String> {
        self.watched.iter().map(|w| w.name.clone()).collect()
    }

    /// How long each interface was attached since the last call (or the start), up to `now`,
    /// never more than `interval`; starts the next interval's count at `now`.
    pub fn take_attached(&mut self, now: Instant, interval: Duration) -> Vec<Attached> {
        let attached = self.attached_so_far(now, interval);
        for watched in &mut self.watched {
            watched.attached_for = Duration::ZERO;
            if let State::Attached { since, .. } = &mut watched.state {
                *since = now;
            }
        }
        attached
    }

    /// As [`Interfaces::take_attached`], changing nothing (for a snapshot).
    pub fn attached_so_far(&self, now: Instant, interval: Duration) -> Vec<Attached> {
        self.watched
            .iter()
            .map(|watched| {
                let current = match &watched.state {
                    State::Attached { since, .. } => now.saturating_duration_since(*since),
                    State::Gone { .. } => Duration::ZERO,
                };
                Attached {
                    interface: watched.name.clone(),
                    seconds: (watched.attached_for + current).min(interval).as_secs_f64(),
                }
            })
            .collect()
    }

    /// Detaches from every interface still attached.
    pub fn detach_all<H: Host<Link = L>>(self, host: &mut H) {
        for watched in self.watched {
            if let State::Attached { link, .. } = watched.state {
                host.detach(link);
            }
        }
    }
}

impl<L> Watched<L> {
    fn poll<H: Host<Link = L>>(&mut self, host: &mut H, now: Instant) {
        match &self.state {
            State::Attached { index, since, .. } => {
                let (index, since) = (*index, *since);
                match host.name_of(index) {
                    Some(name) if name == self.name => {}
                    Some(name) => {
                        tracing::info!(
                            "{} is now named {name}: counting on it goes on, reported as {name}",
                            self.name
                        );
                        self.name = name;
                    }
                    None => {
                        tracing::warn!(
                            "{} (index {index}) is gone: deleted, or moved to another network \
                             namespace; not counting on it until an interface named {} appears",
                            self.name,
                            self.given
                        );
                        self.attached_for += now.saturating_duration_since(since);
                        let gone = std::mem::replace(&mut self.state, State::Gone { said: false });
                        if let State::Attached { link, .. } = gone {
                            host.detach(link);
                        }
                        self.name = self.given.clone();
                    }
                }
            }
            State::Gone { said } => {
                let said = *said;
                let Some(index) = host.index_of(&self.given) else {
                    return;
                };
                match host.attach(&self.given, index) {
                    Ok((link, mode)) => {
                        tracing::info!(
                            "{} appeared (index {index}): counting on it again ({mode} mode)",
                            self.given
                        );
                        self.state = State::Attached {
                            index,
                            link,
                            since: now,
                        };
                    }
                    Err(err) => {
                        if !said {
                            tracing::warn!(
                                "{} appeared (index {index}) but {:#}; trying again every {}s",
                                self.given,
                                anyhow::Error::from(err),
                                POLL_PERIOD.as_secs()
                            );
                        }
                        self.state = State::Gone { said: true };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Interfaces by index, and the links made to them.
    #[derive(Default)]
    struct FakeHost {
        interfaces: BTreeMap<u32, String>,
        attached: Vec<u32>,
        refuse: bool,
    }

    impl Host for FakeHost {
        type Link = u32;

        fn index_of(&self, name: &str) -> Option<u32> {
            self.interfaces
                .iter()
                .find(|(_, n)| *n == name)
                .map(|(index, _)| *index)
        }

        fn name_of(&self, index: u32) -> Option<String> {
            self.interfaces.get(&index).cloned()
        }

        fn attach(&mut self, name: &str, index: u32) -> Result<(u32, &'static str), LoaderError> {
            if self.refuse {
                return Err(LoaderError::Attach {
                    iface: name.to_owned(),
                    mode: "native",
                    source: aya::programs::ProgramError::UnknownInterface {
                        name: name.to_owned(),
                    },
                });
            }
            self.attached.push(index);
            Ok((index, "native"))
        }

        fn detach(&mut self, link: u32) {
            self.attached.retain(|&attached| attached != link);
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    fn seconds(attached: &[Attached]) -> Vec<(String, f64)> {
        attached
            .iter()
            .map(|a| (a.interface.clone(), a.seconds))
            .collect()
    }

    #[test]
    fn a_deleted_interface_is_detached_and_one_of_its_name_attached_when_it_appears() {
        let mut host = FakeHost::default();
        host.interfaces.insert(4, "eth0".into());
        host.interfaces.insert(5, "eth1".into());
        let t0 = Instant::now();
        let names = ["eth0".to_owned(), "eth1".to_owned()];
        let (mut interfaces, said) = Interfaces::attach_all(&mut host, &names, t0).expect("attach");
        assert_eq!(said, ["eth0 (native mode)", "eth1 (native mode)"]);
        assert_eq!(host.attached, [4, 5]);

        // eth0 is deleted 10 s in, and comes back (a new index) 30 s in.
        host.interfaces.remove(&4);
        interfaces.poll(&mut host, t0 + Duration::from_secs(10));
        assert_eq!(host.attached, [5]);
        interfaces.poll(&mut host, t0 + Duration::from_secs(20));
        host.interfaces.insert(9, "eth0".into());
        interfaces.poll(&mut host, t0 + Duration::from_secs(30));
        assert_eq!(host.attached, [5, 9]);
        assert_eq!(
            seconds(&interfaces.take_attached(t0 + MINUTE, MINUTE)),
            [("eth0".into(), 40.0), ("eth1".into(), 60.0)]
        );
        // The next interval counts from where the last ended.
        assert_eq!(
            seconds(&interfaces.take_attached(t0 + 2 * MINUTE, MINUTE)),
            [("eth0".into(), 60.0), ("eth1".into(), 60.0)]
        );
        interfaces.detach_all(&mut host);
        assert!(host.attached.is_empty());
    }

    #[test]
    fn a_renamed_interface_is_reported_by_its_new_name() {
        let mut host = FakeHost::default();
        host.interfaces.insert(4, "eth0".into());
        let t0 = Instant::now();
        let (mut interfaces, _) =
            Interfaces::attach_all(&mut host, &["eth0".to_owned()], t0).expect("attach");
        host.interfaces.insert(4, "wan0".into());
        interfaces.poll(&mut host, t0 + Duration::from_secs(1));
        assert_eq!(interfaces.names(), ["wan0"]);
        assert_eq!(host.attached, [4], "still attached");
        // A new interface named eth0 is not the one counted on.
        host.interfaces.insert(7, "eth0".into());
        interfaces.poll(&mut host, t0 + Duration::from_secs(2));
        assert_eq!(host.attached, [4]);
        assert_eq!(
            seconds(&interfaces.take_attached(t0 + MINUTE, MINUTE)),
            [("wan0".into(), 60.0)]
        );
        // Gone: it waits for the name --iface gave, and reports under it.
        host.interfaces.remove(&4);
        interfaces.poll(&mut host, t0 + MINUTE + Duration::from_secs(5));
        assert_eq!(interfaces.names(), ["eth0"]);
        interfaces.poll(&mut host, t0 + MINUTE + Duration::from_secs(6));
        assert_eq!(host.attached, [7]);
    }

    #[test]
    fn an_interface_that_cannot_be_attached_again_is_tried_on_every_poll() {
        let mut host = FakeHost::default();
        host.interfaces.insert(4, "eth0".into());
        let t0 = Instant::now();
        let (mut interfaces, _) =
            Interfaces::attach_all(&mut host, &["eth0".to_owned()], t0).expect("attach");
        host.interfaces.remove(&4);
        interfaces.poll(&mut host, t0 + Duration::from_secs(1));
        host.interfaces.insert(5, "eth0".into());
        host.refuse = true;
        interfaces.poll(&mut host, t0 + Duration::from_secs(2));
        interfaces.poll(&mut host, t0 + Duration::from_secs(3));
        assert!(host.attached.is_empty());
        host.refuse = false;
        interfaces.poll(&mut host, t0 + Duration::from_secs(4));
        assert_eq!(host.attached, [5]);
        let attached = interfaces.attached_so_far(t0 + Duration::from_secs(10), MINUTE);
        assert_eq!(seconds(&attached), [("eth0".into(), 7.0)]);
        // Never more than the interval, however the clocks are read.
        let attached = interfaces.take_attached(t0 + 2 * MINUTE, MINUTE);
        assert_eq!(seconds(&attached), [("eth0".into(), 60.0)]);
    }

    #[test]
    fn an_interface_missing_at_start_is_an_error() {
        let mut host = FakeHost::default();
        let err = Interfaces::attach_all(&mut host, &["eth9".to_owned()], Instant::now())
            .err()
            .expect("missing");
        assert!(err.to_string().contains("eth9"), "{err}");
    }
}
