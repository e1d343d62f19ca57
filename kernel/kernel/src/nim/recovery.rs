//! The recovery thread: everything after detection. For a failed instance:
//! move its threads out, release its objects in the defined order, free its
//! memory and domain, ask the restart policy, and load a fresh instance.
//!
//! Invariants:
//! - Recovery never calls into the failed instance; the only call it makes
//!   is the new instance's init.
//! - Objects are released in `ObjectKind::release_rank` order: interrupt
//!   registrations first (they are also masked at detection), memory last.
//! - Each fault's record gets its time to recover (detection to the new
//!   instance running) when the restart succeeds.

use super::{EXTENSIONS, SLOTS, Slot, State};
use crate::sched::sync::WaitQueue;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use restart_policy::Decision;

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// Set while the recovery thread works on a slot (until its bookkeeping,
/// such as the fault record's time to recover, is complete).
static IN_RECOVERY: [AtomicBool; super::MAX_EXTENSIONS] =
    [const { AtomicBool::new(false) }; super::MAX_EXTENSIONS];
static WAKE: WaitQueue = WaitQueue::new();
/// Recoveries completed (a new instance running).
pub static RECOVERIES: AtomicU64 = AtomicU64::new(0);
/// Total microseconds spent recovering (detection to running again).
pub static RECOVERY_MICROSECONDS: AtomicU64 = AtomicU64::new(0);
/// Asks the recovery thread to run (any context, NMIs included: fault
/// detection only runs when extension code was interrupted, and no kernel
/// lock is ever held across a call into an extension, so the wait queue's
/// and the scheduler's locks are free).
pub fn request() {
    REQUESTED.store(true, Ordering::Release);
    WAKE.wake_one();
}

/// Starts the recovery thread.
pub fn start() {
    let thread = crate::sched::spawn("nim-recovery", || {
        loop {
            let _ = WAKE.wait_until(|| REQUESTED.swap(false, Ordering::AcqRel));
            for (slot, state) in SLOTS.iter().enumerate() {
                if state.transition(State::Failed, State::Recovering) {
                    IN_RECOVERY[slot].store(true, Ordering::Release);
                    recover(slot);
                    IN_RECOVERY[slot].store(false, Ordering::Release);
                }
            }
        }
    });
    if thread.is_err() {
        log::error!("nim: cannot start the recovery thread");
    }
}

/// Waits until `slot` is running a generation above `generation`, or is
/// stopped, and the recovery thread has finished its bookkeeping; gives up
/// after `timeout_ms`. Returns the state reached.
pub fn wait_for_recovery(slot: Slot, generation: u32, timeout_ms: u64) -> State {
    let deadline = crate::time::ticks() + crate::time::ms_to_ticks(timeout_ms);
    loop {
        let state = SLOTS[slot].state();
        let current = SLOTS[slot].generation.load(Ordering::Acquire);
        let settled = !IN_RECOVERY[slot].load(Ordering::Acquire);
        if settled && ((state == State::Running && current > generation) || state == State::Stopped)
        {
            return state;
        }
        if crate::time::ticks() >= deadline {
            return state;
        }
        let _ = crate::sched::sleep_ms(1);
    }
}

/// Moves threads out of instance `slot`, releases its objects and frees
/// its memory. The slot is `Recovering`.
pub fn stop_instance(slot: Slot) {
    let generation = SLOTS[slot].generation.load(Ordering::Acquire);
    super::services::mask_interrupts_of(slot);
    super::fault::unwind_other_threads(slot, generation);
    release_instance(slot);
}

/// Releases the objects and memory of the instance in `slot`.
pub fn release_instance(slot: Slot) {
    let (objects, memory) = {
        let mut extensions = EXTENSIONS.lock();
        let Some(record) = extensions[slot].as_mut() else {
            return;
        };
        let objects = record.objects.drain_for_release();
        (objects, record.memory.take())
    };
    for (_, object) in objects {
        super::services::release_object(slot, object);
    }
    let state = &SLOTS[slot];
    if let Some(mut memory) = memory {
        state.root.store(0, Ordering::Release);
        memory.destroy(state.grant_next.load(Ordering::Acquire));
    }
    state.free_stacks.store(0, Ordering::Release);
}

fn recover(slot: Slot) {
    let state = &SLOTS[slot];
    let generation = state.generation.load(Ordering::Acquire);
    stop_instance(slot);
    super::fault::FAILED_INSTANCES.fetch_sub(1, Ordering::AcqRel);
    let record = state.pending_fault.lock().take();
    let now_ms = crate::time::uptime_us() / 1000;
    let (decision, name) = {
        let mut extensions = EXTENSIONS.lock();
        let Some(extension) = extensions[slot].as_mut() else {
            state.transition(State::Recovering, State::Stopped);
            return;
        };
        if let Some(record) = record {
            extension.faults.record(record);
        }
        (
            extension.supervisor.on_fault(now_ms),
            extension.name.clone(),
        )
    };
    if let Some(record) = record {
        log::warn!(
            "nim: {name}: {} at rip {:#x}{}; {decision}",
            record.kind,
            record.instruction_pointer,
            record
                .fault_address
                .map(|a| alloc::format!(" (address {a:#x})"))
                .unwrap_or_default()
        );
    }
    let delay_ms = match decision {
        Decision::RestartNow => 0,
        Decision::RestartAfter { delay_ms } => delay_ms,
        Decision::GiveUp { .. } => {
            state.transition(State::Recovering, State::Stopped);
            return;
        }
    };
    if delay_ms > 0 {
        let _ = crate::sched::sleep_ms(delay_ms);
    }
    if !state.transition(State::Recovering, State::Loading) {
        return;
    }
    match super::start_instance(slot, generation + 1) {
        Ok(()) => {
            let elapsed = crate::time::timestamp_delta_us(
                crate::arch::read_timestamp() - state.fault_timestamp.load(Ordering::Relaxed),
            );
            RECOVERIES.fetch_add(1, Ordering::Relaxed);
            RECOVERY_MICROSECONDS.fetch_add(elapsed, Ordering::Relaxed);
            let mut extensions = EXTENSIONS.lock();
            if let Some(extension) = extensions[slot].as_mut()
                && let Some(latest) = extension.faults.latest_mut()
                && latest.generation == generation
            {
                latest.time_to_recover_us = Some(elapsed);
            }
            log::info!(
                "nim: {name} restarted as generation {} in {elapsed} us",
                generation + 1
            );
        }
        Err(super::NimError::ExtensionFailed) => {
            // Init failed: the fault handler queued another recovery.
            log::warn!("nim: {name}: the new instance failed during init");
        }
        Err(error) => {
            log::error!("nim: {name}: restart failed: {error}");
            if state.state() == State::Loading {
                state.transition(State::Loading, State::Stopped);
            }
        }
    }
}
