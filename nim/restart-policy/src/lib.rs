//! Fault policy for isolated extensions: decides whether, and when, a failed
//! extension is restarted, and keeps a bounded log of its faults.
//!
//! The policy is separate from the recovery mechanism (as in Tock's fault
//! policies, Hubris's supervisor and MINIX 3's reincarnation server): the
//! isolation manager reports a fault with [`RestartSupervisor::on_fault`] and
//! carries out the [`Decision`] it gets back.
//!
//! Invariants:
//! - A [`RestartPolicy::Never`] supervisor never answers anything but
//!   [`Decision::GiveUp`].
//! - An [`RestartPolicy::UpTo`] supervisor never allows more than
//!   `max_restarts` restarts whose faults fall inside any window of
//!   `window_ms` milliseconds (or, with `window_ms == 0`, in its lifetime).
//! - Once a supervisor gives up it stays given up until [`RestartSupervisor::reset`]
//!   (an operator's decision) is called.
//! - Back-off delays double per consecutive fault, starting at
//!   `initial_backoff_ms`, and never exceed `max_backoff_ms`; arithmetic
//!   saturates, it never overflows or panics.
//! - `parse_policy(&policy.to_string()) == Ok(policy)` for every policy
//!   whose back-off range is valid (see [`parse_policy`]).
//! - A [`FaultLog`] holds at most its capacity of records (the newest ones)
//!   and counts every record ever added.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod fault_log;
mod policy_text;

pub use fault_log::{FaultKind, FaultLog, FaultRecord, UnknownFaultKind};
pub use policy_text::{PolicyParseError, parse_policy};

use alloc::collections::VecDeque;
use core::fmt;

/// What to do when an extension fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartPolicy {
    /// Restart immediately after every fault, without limit or back-off.
    Always,
    /// Restart with exponential back-off, at most `max_restarts` times within
    /// a sliding window.
    UpTo {
        /// Most restarts allowed inside one window.
        max_restarts: u32,
        /// Length of the sliding window in milliseconds; `0` means the whole
        /// lifetime of the supervisor (restarts are never forgotten).
        window_ms: u64,
        /// Delay before the restart after the first of a run of consecutive
        /// faults; `0` restarts at once and disables back-off.
        initial_backoff_ms: u64,
        /// Ceiling for the doubled delay.
        max_backoff_ms: u64,
    },
    /// Never restart: the first fault stops the extension for good.
    Never,
}

impl Default for RestartPolicy {
    /// MINIX-3-like default: up to 5 restarts per minute, back-off from
    /// 10 ms doubling to 1 s.
    fn default() -> Self {
        RestartPolicy::UpTo {
            max_restarts: 5,
            window_ms: 60_000,
            initial_backoff_ms: 10,
            max_backoff_ms: 1_000,
        }
    }
}

/// Why a supervisor refused to restart an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GiveUpReason {
    /// The policy is [`RestartPolicy::Never`].
    PolicyForbidsRestart,
    /// The `UpTo` limit was reached.
    RestartLimitReached {
        /// Restarts counted in the window when the limit was hit.
        restarts_in_window: u32,
        /// The window length (`0` = lifetime).
        window_ms: u64,
    },
    /// The supervisor had already given up; an operator must call
    /// [`RestartSupervisor::reset`].
    AlreadyGivenUp,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::PolicyForbidsRestart => f.write_str("the restart policy is \"never\""),
            GiveUpReason::RestartLimitReached {
                restarts_in_window,
                window_ms: 0,
            } => write!(
                f,
                "restart limit reached ({restarts_in_window} restarts in total)"
            ),
            GiveUpReason::RestartLimitReached {
                restarts_in_window,
                window_ms,
            } => write!(
                f,
                "restart limit reached ({restarts_in_window} restarts within {window_ms} ms)"
            ),
            GiveUpReason::AlreadyGivenUp => {
                f.write_str("the extension was already given up; reset it to restart")
            }
        }
    }
}

/// The supervisor's answer to a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Restart the extension now.
    RestartNow,
    /// Restart the extension once `delay_ms` milliseconds have passed.
    RestartAfter {
        /// Back-off delay in milliseconds (always > 0).
        delay_ms: u64,
    },
    /// Do not restart; leave the extension stopped.
    GiveUp {
        /// Why.
        reason: GiveUpReason,
    },
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::RestartNow => f.write_str("restart now"),
            Decision::RestartAfter { delay_ms } => write!(f, "restart after {delay_ms} ms"),
            Decision::GiveUp { reason } => write!(f, "give up: {reason}"),
        }
    }
}

/// Per-extension restart bookkeeping that applies a [`RestartPolicy`].
///
/// Time is supplied by the caller in milliseconds from any monotonic origin;
/// a time that goes backwards is treated as "no time passed".
#[derive(Debug, Clone)]
pub struct RestartSupervisor {
    policy: RestartPolicy,
    /// Fault times of granted restarts still inside the window (all of them
    /// when the window is the lifetime, bounded by `max_restarts`).
    restarts_in_window: VecDeque<u64>,
    /// Faults since the last healthy report; drives the back-off exponent.
    consecutive_faults: u32,
    /// When the most recently granted restart takes effect.
    last_restart_due_ms: Option<u64>,
    latest_time_ms: u64,
    restarts: u32,
    faults: u32,
    given_up: bool,
}

impl RestartSupervisor {
    /// A supervisor with no history.
    pub fn new(policy: RestartPolicy) -> Self {
        RestartSupervisor {
            policy,
            restarts_in_window: VecDeque::new(),
            consecutive_faults: 0,
            last_restart_due_ms: None,
            latest_time_ms: 0,
            restarts: 0,
            faults: 0,
            given_up: false,
        }
    }

    /// The policy this supervisor applies.
    pub fn policy(&self) -> RestartPolicy {
        self.policy
    }

    /// Record a fault at `now_ms` and decide what to do.
    ///
    /// For `UpTo`: restarts whose fault lies `window_ms` or more before
    /// `now_ms` are forgotten; if `max_restarts` remain the supervisor gives
    /// up; otherwise the restart is granted (and counted at `now_ms`) with a
    /// delay of `initial_backoff_ms * 2^(consecutive faults - 1)`, capped at
    /// `max_backoff_ms`. A zero delay is reported as [`Decision::RestartNow`].
    pub fn on_fault(&mut self, now_ms: u64) -> Decision {
        let now_ms = self.observe_time(now_ms);
        self.faults = self.faults.saturating_add(1);
        if self.given_up {
            return Decision::GiveUp {
                reason: GiveUpReason::AlreadyGivenUp,
            };
        }
        self.consecutive_faults = self.consecutive_faults.saturating_add(1);
        match self.policy {
            RestartPolicy::Never => {
                self.given_up = true;
                Decision::GiveUp {
                    reason: GiveUpReason::PolicyForbidsRestart,
                }
            }
            RestartPolicy::Always => {
                self.grant_restart(now_ms, 0);
                Decision::RestartNow
            }
            RestartPolicy::UpTo {
                max_restarts,
                window_ms,
                initial_backoff_ms,
                max_backoff_ms,
            } => {
                self.forget_restarts_outside_window(now_ms, window_ms);
                let counted = u32::try_from(self.restarts_in_window.len()).unwrap_or(u32::MAX);
                if counted >= max_restarts {
                    self.given_up = true;
                    return Decision::GiveUp {
                        reason: GiveUpReason::RestartLimitReached {
                            restarts_in_window: counted,
                            window_ms,
                        },
                    };
                }
                let delay_ms =
                    backoff_delay_ms(initial_backoff_ms, max_backoff_ms, self.consecutive_faults);
                self.restarts_in_window.push_back(now_ms);
                self.grant_restart(now_ms, delay_ms);
                if delay_ms == 0 {
                    Decision::RestartNow
                } else {
                    Decision::RestartAfter { delay_ms }
                }
            }
        }
    }

    /// Report that the extension has behaved well (e.g. it passed a
    /// heartbeat, or ran for a healthy period chosen by the caller).
    ///
    /// Resets the back-off: the next fault is treated as the first of a new
    /// run and waits `initial_backoff_ms` again. It does not erase restarts
    /// from the sliding window, so a fault/heal/fault loop is still limited
    /// by `max_restarts`. A report dated before the last granted restart
    /// took effect (`fault time + delay`) describes the old instance and is
    /// ignored.
    pub fn on_healthy(&mut self, now_ms: u64) {
        let now_ms = self.observe_time(now_ms);
        if self.given_up {
            return;
        }
        if let Some(due) = self.last_restart_due_ms
            && now_ms < due
        {
            return;
        }
        self.consecutive_faults = 0;
    }

    /// Operator override: forget the history (window, back-off, given-up
    /// state); the fault and restart totals are kept.
    pub fn reset(&mut self) {
        self.restarts_in_window.clear();
        self.consecutive_faults = 0;
        self.last_restart_due_ms = None;
        self.given_up = false;
    }

    /// Restarts granted so far (lifetime total).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Faults reported so far (lifetime total, including those after giving up).
    pub fn faults(&self) -> u32 {
        self.faults
    }

    /// Faults since the last effective [`on_healthy`](Self::on_healthy).
    pub fn consecutive_faults(&self) -> u32 {
        self.consecutive_faults
    }

    /// Whether the supervisor has given up on the extension.
    pub fn has_given_up(&self) -> bool {
        self.given_up
    }

    fn observe_time(&mut self, now_ms: u64) -> u64 {
        self.latest_time_ms = self.latest_time_ms.max(now_ms);
        self.latest_time_ms
    }

    fn grant_restart(&mut self, now_ms: u64, delay_ms: u64) {
        self.restarts = self.restarts.saturating_add(1);
        self.last_restart_due_ms = Some(now_ms.saturating_add(delay_ms));
    }

    fn forget_restarts_outside_window(&mut self, now_ms: u64, window_ms: u64) {
        if window_ms == 0 {
            return;
        }
        while let Some(&oldest) = self.restarts_in_window.front() {
            if now_ms.saturating_sub(oldest) >= window_ms {
                self.restarts_in_window.pop_front();
            } else {
                break;
            }
        }
    }
}

/// `initial * 2^(consecutive_faults - 1)`, capped at `maximum`, saturating.
/// Returns 0 when `initial` is 0 (back-off disabled).
pub fn backoff_delay_ms(initial_ms: u64, maximum_ms: u64, consecutive_faults: u32) -> u64 {
    if initial_ms == 0 {
        return 0;
    }
    let doublings = consecutive_faults.saturating_sub(1);
    let delay = if doublings >= 64 {
        u64::MAX
    } else {
        initial_ms.checked_shl(doublings).unwrap_or(u64::MAX)
    };
    // `checked_shl` only checks the shift amount; detect lost high bits.
    let delay = if doublings < 64 && delay >> doublings != initial_ms {
        u64::MAX
    } else {
        delay
    };
    delay.min(maximum_ms)
}
