//! Time: the 8254 PIT ticking at [`TICK_HZ`], uptime, a calibrated
//! time-stamp counter, and one-shot timer callbacks.
//!
//! Invariants: the tick counter only grows; timer callbacks run in
//! interrupt context (they must not block, and blocking calls from them are
//! refused).

use crate::sched::sync::IrqSpinlock;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

/// Timer interrupts per second.
pub const TICK_HZ: u64 = 1000;
const PIT_FREQUENCY_HZ: u64 = 1_193_182;

static TICKS: AtomicU64 = AtomicU64::new(0);
static TSC_PER_SECOND: AtomicU64 = AtomicU64::new(0);

type TimerCallback = Box<dyn FnOnce() + Send>;
static TIMERS: IrqSpinlock<BTreeMap<(u64, u64), TimerCallback>> = IrqSpinlock::new(BTreeMap::new());
static NEXT_TIMER: AtomicU64 = AtomicU64::new(0);

/// Programs PIT channel 0 as a rate generator at [`TICK_HZ`].
pub fn init_pit() {
    let divisor = (PIT_FREQUENCY_HZ / TICK_HZ) as u16;
    // SAFETY: ports 0x43/0x40 are the PIT's command and channel-0 data
    // ports; mode 2, low byte then high byte.
    unsafe {
        Port::<u8>::new(0x43).write(0x34);
        Port::<u8>::new(0x40).write(divisor as u8);
        Port::<u8>::new(0x40).write((divisor >> 8) as u8);
    }
}

/// Measures the TSC rate against the PIT over `ticks` timer ticks.
/// Interrupts must be enabled.
pub fn calibrate_timestamp_counter(ticks: u64) {
    let start_tick = wait_for_next_tick();
    let start = crate::arch::read_timestamp();
    while self::ticks() < start_tick + ticks {
        crate::arch::halt();
    }
    let elapsed = crate::arch::read_timestamp() - start;
    TSC_PER_SECOND.store(elapsed * TICK_HZ / ticks, Ordering::Relaxed);
}

fn wait_for_next_tick() -> u64 {
    let now = ticks();
    while ticks() == now {
        crate::arch::halt();
    }
    ticks()
}

/// TSC increments per second (0 before calibration).
pub fn timestamp_counter_hz() -> u64 {
    TSC_PER_SECOND.load(Ordering::Relaxed)
}

/// Converts a TSC difference to microseconds (0 before calibration).
pub fn timestamp_delta_us(delta: u64) -> u64 {
    match timestamp_counter_hz() {
        0 => 0,
        hz => (u128::from(delta) * 1_000_000 / u128::from(hz)) as u64,
    }
}

/// Timer ticks since the PIT started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Converts milliseconds to ticks (rounding up).
pub fn ms_to_ticks(milliseconds: u64) -> u64 {
    (milliseconds * TICK_HZ).div_ceil(1000)
}

/// Time since boot in microseconds: from the TSC once calibrated, from the
/// tick counter before.
pub fn uptime_us() -> u64 {
    match timestamp_counter_hz() {
        0 => ticks() * (1_000_000 / TICK_HZ),
        _ => timestamp_delta_us(crate::arch::read_timestamp() - crate::boot::boot_timestamp()),
    }
}

/// Names a pending callback (see [`cancel`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(u64, u64);

/// Runs `callback` in interrupt context once `delay_ms` have passed.
pub fn call_after(delay_ms: u64, callback: impl FnOnce() + Send + 'static) -> TimerId {
    let deadline = ticks() + ms_to_ticks(delay_ms).max(1);
    let sequence = NEXT_TIMER.fetch_add(1, Ordering::Relaxed);
    TIMERS
        .lock()
        .insert((deadline, sequence), Box::new(callback));
    TimerId(deadline, sequence)
}

/// Drops a pending callback without running it; `false` if it already ran
/// (or was cancelled).
pub fn cancel(id: TimerId) -> bool {
    let callback = TIMERS.lock().remove(&(id.0, id.1));
    // Dropped here, outside the lock.
    callback.is_some()
}

/// Callbacks waiting to run (for leak checks in tests).
pub fn pending_timers() -> usize {
    TIMERS.lock().len()
}

/// Called by the timer interrupt handler.
pub fn on_tick() {
    let now = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    loop {
        let due = {
            let mut timers = TIMERS.lock();
            match timers.first_key_value() {
                Some((&(deadline, _), _)) if deadline <= now => {
                    timers.pop_first().map(|(_, callback)| callback)
                }
                _ => None,
            }
        };
        match due {
            Some(callback) => callback(),
            None => break,
        }
    }
}
