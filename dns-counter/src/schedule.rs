//! When intervals end, and what wall-clock times label them.
//!
//! Intervals are timed on the monotonic clock, which never steps, and labelled with wall-clock
//! boundaries (multiples of the interval since the Unix epoch), which operators and other
//! systems read. The two agree unless the wall clock is stepped (an NTP step, an operator's
//! `date -s`, a VM resumed); then the report that was running when it stepped says so:
//! - stepped forward: it ends at the new wall-clock time, so one report covers the gap (no empty
//!   catch-up reports, which `--keep` would make room for by deleting real ones);
//! - stepped back: it ends at the new time and starts that long before, as measured, so its
//!   `seconds` is never negative and the next report comes an interval later, not after the
//!   clock has caught up again.
//!
//! Pure: the daemon passes both clocks' readings in, tests pass made-up ones.

use std::time::{Duration, Instant, SystemTime};

use dns_counter_report::interval::interval_end;

/// A wall clock this far off the monotonic one (plus [`SLEW_ALLOWANCE`] of the time elapsed)
/// has been stepped. NTP daemons step only offsets above 128 ms, and slew smaller ones.
pub const STEP_THRESHOLD: Duration = Duration::from_secs(1);
/// How far a slewing clock may drift from the monotonic one: NTP slews at most 500 ppm.
const SLEW_ALLOWANCE: u32 = 1_000;

/// The interval in progress.
#[derive(Debug, Clone)]
pub struct Schedule {
    length: Duration,
    /// Its wall-clock label.
    start: SystemTime,
    /// The wall clock and the monotonic clock read together, when it started.
    anchor: (SystemTime, Instant),
    /// The wall-clock boundary it ends on, unless the clock steps.
    end: SystemTime,
}

/// A wall-clock step seen when an interval closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Forward(Duration),
    Back(Duration),
}

/// The labels of an interval that just closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    pub start: SystemTime,
    pub end: SystemTime,
    pub step: Option<Step>,
}

impl Schedule {
    /// An interval starting now, at `wall` and `mono` read together.
    pub fn new(length: Duration, wall: SystemTime, mono: Instant) -> Self {
        Self {
            length,
            start: wall,
            anchor: (wall, mono),
            end: interval_end(wall, length),
        }
    }

    /// When the interval ends on the monotonic clock.
    pub fn deadline(&self) -> Instant {
        let (wall, mono) = self.anchor;
        mono + self.end.duration_since(wall).unwrap_or_default()
    }

    /// The interval's labels so far, for a snapshot, leaving it running.
    pub fn peek(&self, wall: SystemTime, mono: Instant) -> Closed {
        self.labels(wall, mono, false)
    }

    /// Closes the interval at `wall` and `mono`, read together: at its deadline
    /// (`at_deadline`), or early (a signal, the last report). Starts the next one.
    pub fn close(&mut self, wall: SystemTime, mono: Instant, at_deadline: bool) -> Closed {
        let closed = self.labels(wall, mono, at_deadline);
        let next_start = closed.end;
        *self = match closed.step {
            // Labels follow the boundaries: the next interval starts where this one ended, timed
            // from the clocks as they read now.
            None => Self {
                length: self.length,
                start: next_start,
                anchor: (wall, mono),
                end: interval_end(next_start, self.length),
            },
            Some(_) => Self::new(self.length, wall, mono),
        };
        closed
    }

    fn labels(&self, wall: SystemTime, mono: Instant, at_deadline: bool) -> Closed {
        let (anchor_wall, anchor_mono) = self.anchor;
        let elapsed = mono.saturating_duration_since(anchor_mono);
        // Where the wall clock would be had it not stepped.
        let expected = anchor_wall + elapsed;
        let threshold = STEP_THRESHOLD + elapsed / SLEW_ALLOWANCE;
        let step = match wall.duration_since(expected) {
            Ok(ahead) if ahead > threshold => Some(Step::Forward(ahead)),
            Ok(_) => None,
            Err(behind) if behind.duration() > threshold => Some(Step::Back(behind.duration())),
            Err(_) => None,
        };
        match step {
            None if at_deadline => Closed {
                start: self.start,
                end: self.end,
                step,
            },
            // Early: where the clock would be, within the interval's labels.
            None => Closed {
                start: self.start,
                end: expected.clamp(self.start, self.end),
                step,
            },
            Some(Step::Forward(_)) => Closed {
                start: self.start,
                end: wall,
                step,
            },
            Some(Step::Back(_)) => {
                // As long as it ran, on the new clock; clamped at the epoch.
                let ran = elapsed + anchor_wall.duration_since(self.start).unwrap_or_default();
                Closed {
                    start: wall
                        .checked_sub(ran)
                        .unwrap_or(SystemTime::UNIX_EPOCH)
                        .max(SystemTime::UNIX_EPOCH),
                    end: wall,
                    step,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3_600);

    /// 2026-11-22T01:00:30Z, half way into a minute.
    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_309_230)
    }

    fn seconds(closed: &Closed) -> f64 {
        closed
            .end
            .duration_since(closed.start)
            .expect("forward")
            .as_secs_f64()
    }

    #[test]
    fn intervals_end_on_wall_clock_boundaries() {
        let mono = Instant::now();
        let mut schedule = Schedule::new(MINUTE, t0(), mono);
        assert_eq!(schedule.deadline(), mono + Duration::from_secs(30));
        // Woken 5 ms late: the label is still the boundary.
        let late = Duration::from_millis(30_005);
        let first = schedule.close(t0() + late, mono + late, true);
        assert_eq!(first.start, t0());
        assert_eq!(first.end, t0() + Duration::from_secs(30));
        assert_eq!(first.step, None);
        // The next runs a whole minute from that boundary, timed from when it was closed.
        assert_eq!(schedule.deadline(), mono + Duration::from_secs(90));
        let second = schedule.close(
            t0() + Duration::from_secs(90),
            mono + Duration::from_secs(90),
            true,
        );
        assert_eq!(second.start, first.end);
        assert_eq!(seconds(&second), 60.0);
    }

    /// Defect: a 1 h forward step wrote one empty report per interval of the hour (~450 with a
    /// short interval), and `--keep` deleted real reports to make room for them.
    #[test]
    fn a_forward_step_gives_one_report_covering_the_gap() {
        let mono = Instant::now();
        let mut schedule = Schedule::new(MINUTE, t0(), mono);
        // Stepped 1 h forward 10 s in; the deadline comes 30 s in, as the monotonic clock says.
        let wall = t0() + HOUR + Duration::from_secs(30);
        let closed = schedule.close(wall, mono + Duration::from_secs(30), true);
        assert_eq!(closed.step, Some(Step::Forward(HOUR)));
        assert_eq!(closed.start, t0());
        assert_eq!(closed.end, wall);
        // The next ends on the next boundary of the new clock: `wall` is one, so a minute later.
        assert_eq!(schedule.deadline(), mono + Duration::from_secs(90));
        let next = schedule.close(wall + MINUTE, mono + Duration::from_secs(90), true);
        assert_eq!(next.step, None);
        assert_eq!(next.start, wall);
        assert_eq!(seconds(&next), 60.0);
    }

    /// Defect: after the wall clock stepped back 1 h, no report came for about an hour.
    #[test]
    fn a_backward_step_never_stalls_nor_goes_negative() {
        let mono = Instant::now();
        let mut schedule = Schedule::new(MINUTE, t0(), mono);
        let wall = t0() - HOUR + Duration::from_secs(30);
        let closed = schedule.close(wall, mono + Duration::from_secs(30), true);
        assert_eq!(closed.step, Some(Step::Back(HOUR)));
        assert_eq!(closed.end, wall);
        assert_eq!(seconds(&closed), 30.0);
        // The next report is due at the next boundary of the new clock, not an hour later.
        assert_eq!(schedule.deadline(), mono + Duration::from_secs(90));
    }

    #[test]
    fn an_early_close_ends_now_and_never_before_the_start() {
        let mono = Instant::now();
        let mut schedule = Schedule::new(MINUTE, t0(), mono);
        let snapshot = schedule.peek(
            t0() + Duration::from_secs(12),
            mono + Duration::from_secs(12),
        );
        assert_eq!(snapshot.end, t0() + Duration::from_secs(12));
        // The wall clock slewed 200 ms behind: not a step, and the end is as measured.
        let closed = schedule.close(
            t0() + Duration::from_millis(19_800),
            mono + Duration::from_secs(20),
            false,
        );
        assert_eq!(closed.step, None);
        assert_eq!(closed.end, t0() + Duration::from_secs(20));
        // The next boundary comes when the (slow) wall clock reaches it.
        assert_eq!(schedule.deadline(), mono + Duration::from_millis(30_200));
    }

    #[test]
    fn slewing_within_the_allowance_is_not_a_step() {
        let mono = Instant::now();
        let day = Duration::from_secs(86_400);
        let mut schedule = Schedule::new(day, t0(), mono);
        let until = schedule.deadline() - mono;
        // 400 ppm fast over most of a day: tens of seconds, yet no step.
        let closed = schedule.close(t0() + until + until / 2_500, mono + until, true);
        assert_eq!(closed.step, None);
    }

    #[test]
    fn a_step_back_before_the_epoch_is_clamped() {
        let mono = Instant::now();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        let mut schedule = Schedule::new(MINUTE, start, mono);
        let closed = schedule.close(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            mono + Duration::from_secs(20),
            true,
        );
        assert_eq!(closed.start, SystemTime::UNIX_EPOCH);
        assert!(matches!(closed.step, Some(Step::Back(_))));
    }
}
