//! Pausing the network thread: while a pause is in force it leaves the
//! drivers alone (binds none, polls none, runs no stack round). In-kernel
//! test boots start paused; the tests of the network class lift the pause.
//!
//! Invariant: the thread parks only at the top of its loop, outside every
//! driver and every lock, and waits blocked (not sleeping) while paused.

use super::{PARKED, PAUSE_QUEUE, PAUSES, THREAD};
use core::sync::atomic::Ordering;

/// While alive, the network thread leaves drivers alone (neither binds
/// nor polls them, nor runs the stack). Pauses nest.
pub struct PauseGuard(());

impl PauseGuard {
    /// Pauses the thread and waits until it is parked (up to 1 s).
    pub fn new() -> PauseGuard {
        PAUSES.fetch_add(1, Ordering::AcqRel);
        wait_until_parked();
        PauseGuard(())
    }
}

impl Drop for PauseGuard {
    fn drop(&mut self) {
        PAUSES.fetch_sub(1, Ordering::AcqRel);
        PAUSE_QUEUE.wake_all();
    }
}

/// While alive, lifts one pause (the in-kernel test runner pauses the
/// thread; tests of the network class run it again).
pub struct ResumeGuard(bool);

impl ResumeGuard {
    /// Lifts one pause, if there is one.
    pub fn new() -> ResumeGuard {
        let lifted = PAUSES
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pauses| {
                pauses.checked_sub(1)
            })
            .is_ok();
        PAUSE_QUEUE.wake_all();
        ResumeGuard(lifted)
    }
}

impl Drop for ResumeGuard {
    fn drop(&mut self) {
        if self.0 {
            PAUSES.fetch_add(1, Ordering::AcqRel);
            wait_until_parked();
        }
    }
}

fn wait_until_parked() {
    // Out of its sleep, so that it sees the pause now.
    let id = THREAD.load(Ordering::Acquire);
    if id != 0 && !PARKED.load(Ordering::Acquire) {
        crate::sched::wake(id - 1);
    }
    for _ in 0..1000 {
        if PARKED.load(Ordering::Acquire) || THREAD.load(Ordering::Acquire) == 0 {
            break;
        }
        let _ = crate::sched::sleep_ms(1);
    }
}

/// Is the thread parked by a pause?
pub fn is_parked() -> bool {
    PARKED.load(Ordering::Acquire)
}
