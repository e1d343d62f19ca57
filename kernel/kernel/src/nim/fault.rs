//! Fault detection while an extension runs: CPU exceptions, the
//! interrupts-on watchdog (timer ticks), the interrupts-off watchdog (NMIs)
//! and failures found by kernel services (panics, bad messages).
//!
//! Everything here runs in trap context and does the least it can: record
//! the fault, mark the instance failed, send the current thread back to its
//! XPC entry (the kernel caller gets an error), and ask the recovery thread
//! for the rest.
//!
//! Invariants:
//! - Only the first fault of an instance is its fault record; later ones
//!   (other threads, the same thread again) are just unwound.
//! - No lock is taken that extension code could hold: only per-slot locks
//!   that the NIM itself takes with interrupts disabled.

use super::xpc::{self, XpcFrame};
use super::{SLOTS, Slot, State, WATCHDOG_MS, domain};
use crate::arch::percpu::this_cpu;
use crate::arch::trap::{DOUBLE_FAULT, PAGE_FAULT, TrapFrame};
use core::sync::atomic::{AtomicU64, Ordering};
use restart_policy::{FaultKind, FaultRecord};

/// Instances failed and not yet recovered (a quick test on every trap exit).
pub static FAILED_INSTANCES: AtomicU64 = AtomicU64::new(0);
/// Faults detected in extensions (all instances).
pub static FAULTS_DETECTED: AtomicU64 = AtomicU64::new(0);

/// Records the failure of `slot`/`generation` and marks it failed. Returns
/// false if it had already failed (or is no longer that instance).
fn mark_failed(
    slot: Slot,
    generation: u32,
    kind: FaultKind,
    rip: u64,
    address: Option<u64>,
) -> bool {
    let state = &SLOTS[slot];
    if state.generation.load(Ordering::Acquire) != generation {
        return false;
    }
    let failed = state.transition(State::Running, State::Failed)
        || state.transition(State::Loading, State::Failed);
    if !failed {
        return false;
    }
    FAULTS_DETECTED.fetch_add(1, Ordering::Relaxed);
    FAILED_INSTANCES.fetch_add(1, Ordering::AcqRel);
    state
        .fault_timestamp
        .store(crate::arch::read_timestamp(), Ordering::Relaxed);
    *state.pending_fault.lock() = Some(FaultRecord {
        kind,
        extension: slot as u16,
        generation,
        instruction_pointer: rip,
        fault_address: address,
        detected_at_ms: crate::time::uptime_us() / 1000,
        time_to_recover_us: None,
    });
    // Stop the device from calling into the dead instance right away.
    super::services::mask_interrupts_of(slot);
    super::recovery::request();
    true
}

fn classify(vector: u8, cr2: Option<u64>, region: u64) -> FaultKind {
    let in_guard = cr2.is_some_and(|address| domain::in_stack_guard(region, address));
    match vector {
        DOUBLE_FAULT => FaultKind::StackOverflow,
        PAGE_FAULT if in_guard => FaultKind::StackOverflow,
        other => FaultKind::from_exception_vector(other),
    }
}

/// Sends the current thread back to the XPC entry of `call`.
fn unwind_trap(call: &mut XpcFrame, frame: &mut TrapFrame) -> u64 {
    // SAFETY: `call` is the current thread's innermost kernel → extension
    // frame and the trap interrupted code inside that call.
    match unsafe { xpc::landing_frame(call) } {
        Some(address) => address,
        None => {
            // The call had not entered the domain yet: cannot happen with
            // interrupts disabled around the entry; treat as a kernel fault.
            crate::arch::trap::fatal_exception(frame)
        }
    }
}

/// A CPU exception while a domain's page tables were loaded.
pub fn on_exception_in_extension(frame: &mut TrapFrame) -> u64 {
    let Some(call) = xpc::innermost_call() else {
        crate::arch::trap::fatal_exception(frame)
    };
    let vector = frame.vector as u8;
    let slot = usize::from(call.slot);
    let cr2 = (vector == PAGE_FAULT || vector == DOUBLE_FAULT).then(crate::arch::trap::read_cr2);
    let kind = classify(vector, cr2, domain::region_base(slot));
    let address = cr2.filter(|_| vector == PAGE_FAULT || kind == FaultKind::StackOverflow);
    mark_failed(slot, call.generation, kind, frame.rip, address);
    unwind_trap(call, frame)
}

/// The timer interrupt: the interrupts-on watchdog. `frame_address` is the
/// interrupted frame; returns the frame to resume.
pub fn on_timer_tick(frame_address: u64) -> u64 {
    // SAFETY: the timer path passes the frame trap_common built.
    let frame = unsafe { &mut *(frame_address as *mut TrapFrame) };
    if frame.cr3 == crate::memory::paging::kernel_root() {
        return frame_address;
    }
    let ticks = this_cpu()
        .xpc
        .ticks_in_extension
        .fetch_add(1, Ordering::Relaxed)
        + 1;
    if ticks < WATCHDOG_MS.load(Ordering::Relaxed) {
        return frame_address;
    }
    fail_current_call(FaultKind::HangInterruptsEnabled, frame)
}

/// A watchdog fired: fails the instance the current thread is in and
/// sends the thread to its XPC entry (or resumes the frame if there is no
/// call to fail).
fn fail_current_call(kind: FaultKind, frame: &mut TrapFrame) -> u64 {
    let Some(call) = xpc::innermost_call() else {
        return frame as *mut TrapFrame as u64;
    };
    mark_failed(
        usize::from(call.slot),
        call.generation,
        kind,
        frame.rip,
        None,
    );
    unwind_trap(call, frame)
}

/// An NMI that interrupted a domain: the interrupts-off watchdog.
pub fn on_nmi_in_extension(frame: &mut TrapFrame) -> u64 {
    let frame_address = frame as *mut TrapFrame as u64;
    let xpc_state = &this_cpu().xpc;
    if frame.rflags & 0x200 != 0 {
        xpc_state.nmis_in_extension.store(0, Ordering::Relaxed);
        return frame_address;
    }
    let nmis = xpc_state.nmis_in_extension.fetch_add(1, Ordering::Relaxed) + 1;
    let period_us = crate::arch::nmi_watchdog::period_us().max(1);
    if nmis * period_us < WATCHDOG_MS.load(Ordering::Relaxed) * 1000 {
        return frame_address;
    }
    fail_current_call(FaultKind::HangInterruptsDisabled, frame)
}

/// A kernel service found the calling instance at fault (it panicked, or
/// passed a bad message). The service then returns, and the return path
/// unwinds the call.
pub fn extension_failed_in_service(
    slot: Slot,
    generation: u32,
    kind: FaultKind,
    rip: u64,
    address: Option<u64>,
) {
    mark_failed(slot, generation, kind, rip, address);
}

/// Last check before any trap returns: never resume extension code of an
/// instance that has failed; send the thread to its XPC entry instead.
pub fn before_trap_return(frame_address: u64) -> u64 {
    if FAILED_INSTANCES.load(Ordering::Acquire) == 0 {
        return frame_address;
    }
    // SAFETY: every trap-return path returns the address of a trap frame.
    let frame = unsafe { &mut *(frame_address as *mut TrapFrame) };
    if frame.cr3 == crate::memory::paging::kernel_root() {
        return frame_address;
    }
    let Some(call) = xpc::innermost_call() else {
        return frame_address;
    };
    let state = &SLOTS[usize::from(call.slot)];
    if state.is_usable(call.generation) {
        return frame_address;
    }
    unwind_trap(call, frame)
}

/// Recovery: moves every other thread that is inside instance
/// `slot`/`generation` (preempted in its code) to its XPC entry. Threads in
/// a kernel service unwind by themselves when the service returns.
pub fn unwind_other_threads(slot: Slot, generation: u32) -> usize {
    crate::sched::redirect_threads(|innermost| {
        // SAFETY: the scheduler hands over the innermost frame address of a
        // thread that is not running; it lives on that thread's stack.
        let frame = unsafe { &mut *(innermost as *mut XpcFrame) };
        if frame.crossing != xpc::Crossing::KernelToExtension
            || usize::from(frame.slot) != slot
            || frame.generation != generation
        {
            return None;
        }
        // SAFETY: the thread is preempted inside this call; its context
        // below the saved kernel stack is abandoned.
        unsafe { xpc::landing_frame(frame) }
    })
}
