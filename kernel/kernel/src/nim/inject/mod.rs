//! The in-kernel fault-injection engine (issue 6): applies what the
//! `fault-injection` crate plans to one loaded extension.
//!
//! - **Code mutation.** Patches are planned over the extension's pristine
//!   image (the bytes it was loaded from) at its load address, then armed:
//!   an `int3` is planted at each patched instruction. The first time an
//!   instruction is reached, [`on_breakpoint`] (called by the trap
//!   dispatcher) records the activation, writes the mutated bytes and
//!   resumes at the instruction, which now runs mutated. Text is written
//!   through the kernel's identity map of RAM (the image pages are
//!   read/execute in every address space).
//! - **Fail points.** [`fail_point`] and the helpers below are the hooks
//!   the kernel's services, interrupt delivery and timers call; each
//!   evaluates the extension's armed fail point with its knobs.
//!   `spurious-irq` needs no hook: while armed, a kernel timer evaluates it
//!   every [`SPURIOUS_PERIOD_MS`] ms and calls the extension's interrupt
//!   entry for each line it registered.
//! - **Crash kinds** go through the NIM's crash API (`ext crash`).
//!
//! Invariants:
//! - Text is written only while the instance it belongs to is alive (its
//!   generation running), checked with interrupts disabled, so recovery
//!   cannot free the frames under the write; an instance restarted from
//!   the kept image is pristine (no patch survives a restart).
//! - A breakpoint that is not an armed patch of the running instance is
//!   left to the trap dispatcher (for an extension: a fault).
//! - The hooks cost one atomic load when nothing is armed for the
//!   extension.

pub mod shell;

use super::{EXTENSIONS, MAX_EXTENSIONS, SLOTS, Slot, State};
use crate::arch::trap::TrapFrame;
use crate::memory::paging;
use crate::sched::sync::IrqSpinlock;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use fault_injection::{
    DeterministicRandom, ExtensionText, FailPointState, InjectionSpec, Knobs, PatchBook,
    PlannedPatch, Planner,
};

pub use fault_injection::FailPointType as FailPoint;

/// How often an armed `spurious-irq` fail point is evaluated.
pub const SPURIOUS_PERIOD_MS: u64 = 10;
/// The `int3` opcode planted at armed patches.
const BREAKPOINT_OPCODE: u8 = 0xcc;

/// Where the kernel writes one patch: the identity-map address of each of
/// its bytes (an instruction may cross a page).
#[derive(Clone, Debug)]
pub struct PatchMemory {
    bytes: Vec<u64>,
}

struct ArmedFailPoint {
    kind: FailPoint,
    state: FailPointState,
}

/// What is injected into one extension (by slot).
#[derive(Default)]
struct Injection {
    patches: PatchBook<PatchMemory>,
    fail_points: Vec<ArmedFailPoint>,
    spurious_timer: Option<crate::time::TimerId>,
}

static INJECTIONS: IrqSpinlock<Vec<Injection>> = IrqSpinlock::new(Vec::new());
/// Armed fail points per slot, one bit per [`FailPoint`] (the hooks' fast
/// path).
static ARMED_FAIL_POINTS: [AtomicU32; MAX_EXTENSIONS] =
    [const { AtomicU32::new(0) }; MAX_EXTENSIONS];
/// Patches armed and not yet activated, all extensions (the breakpoint
/// hook's fast path).
static ARMED_PATCHES: AtomicUsize = AtomicUsize::new(0);
/// Patches activated since boot.
pub static ACTIVATIONS: AtomicU64 = AtomicU64::new(0);

/// Runs `body` on `slot`'s injection record, with the lock held
/// (interrupts disabled).
fn with_injection<R>(slot: Slot, body: impl FnOnce(&mut Injection) -> R) -> R {
    let mut injections = INJECTIONS.lock();
    if injections.len() < MAX_EXTENSIONS {
        injections.resize_with(MAX_EXTENSIONS, Injection::default);
    }
    body(&mut injections[slot])
}

/// Why an injection was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InjectError {
    /// No extension of that name is loaded.
    UnknownExtension(String),
    /// The extension is not running.
    NotRunning(String, State),
    /// Its image's text could not be read.
    Text(String),
    /// Nothing could be planned.
    Plan(String),
}

impl fmt::Display for InjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InjectError::UnknownExtension(name) => {
                write!(f, "no extension named `{name}` is loaded (see `ext list`)")
            }
            InjectError::NotRunning(name, state) => {
                write!(f, "`{name}` is {}, not running", state.name())
            }
            InjectError::Text(reason) | InjectError::Plan(reason) => f.write_str(reason),
        }
    }
}

/// The slot of loaded extension `name`.
pub fn slot_of(name: &str) -> Result<Slot, InjectError> {
    super::find(name).ok_or_else(|| InjectError::UnknownExtension(name.to_string()))
}

/// The running instance of `slot`: its generation, pristine image and load
/// address.
fn running_instance(slot: Slot) -> Result<(u32, &'static [u8], u64), InjectError> {
    let extensions = EXTENSIONS.lock();
    let record = extensions[slot]
        .as_ref()
        .ok_or_else(|| InjectError::UnknownExtension(alloc::format!("slot {slot}")))?;
    let state = SLOTS[slot].state();
    let memory = record.memory.as_ref();
    match (state, memory) {
        (State::Running, Some(memory)) => Ok((
            SLOTS[slot].generation.load(Ordering::Acquire),
            record.image,
            memory.region,
        )),
        _ => Err(InjectError::NotRunning(record.name.clone(), state)),
    }
}

/// A plan of code mutations for the running instance of `slot`: the
/// patches `spec` selects (its types, seed and count), leaving alone the
/// instructions already patched in this instance. Writes nothing.
pub fn plan(slot: Slot, spec: &InjectionSpec) -> Result<(u32, Vec<PlannedPatch>), InjectError> {
    let (generation, image, base) = running_instance(slot)?;
    let text = ExtensionText::from_image(image).map_err(|e| InjectError::Text(e.to_string()))?;
    let excluded = with_injection(slot, |injection| {
        injection.patches.occupied_offsets(generation)
    });
    let mut planner = Planner::new(&text, base);
    let patches = planner
        .plan(&spec.mutations, spec.seed, spec.count as usize, &excluded)
        .map_err(|e| InjectError::Plan(e.to_string()))?;
    Ok((generation, patches))
}

/// The index the next armed patch of instance `generation` of `slot` gets
/// (what a dry run shows).
pub fn next_patch_index(slot: Slot, generation: u32) -> usize {
    with_injection(slot, |injection| {
        injection.patches.next_index_for(generation)
    })
}

/// Writes `value` at identity-map address `address`.
///
/// # Safety
///
/// `address` must be a byte of a live instance's image, and the caller
/// must keep that instance from being torn down during the write (hold
/// [`INJECTIONS`] and have checked the instance is alive, or run in a trap
/// from that instance's code).
unsafe fn write_text_byte(address: u64, value: u8) {
    // SAFETY: the caller's contract: RAM is identity-mapped writable in
    // the kernel's tables, and the byte belongs to a live instance.
    unsafe { core::ptr::write_volatile(address as *mut u8, value) };
}

/// Arms `patches` (planned for instance `generation`) in `slot`: plants a
/// breakpoint at each. Refused if the instance is no longer running.
/// Returns the patches with their indices.
pub fn arm_patches(
    slot: Slot,
    generation: u32,
    patches: Vec<PlannedPatch>,
) -> Result<Vec<(usize, PlannedPatch)>, InjectError> {
    let mut located = Vec::with_capacity(patches.len());
    for patch in patches {
        let mut bytes = Vec::with_capacity(patch.old.len());
        for offset in 0..patch.old.len() as u64 {
            let translation = paging::translate(patch.address + offset).ok_or_else(|| {
                InjectError::NotRunning(alloc::format!("slot {slot}"), SLOTS[slot].state())
            })?;
            bytes.push(translation.physical);
        }
        located.push((patch, PatchMemory { bytes }));
    }
    with_injection(slot, |injection| {
        if !SLOTS[slot].is_alive(generation) {
            return Err(InjectError::NotRunning(
                alloc::format!("slot {slot}"),
                SLOTS[slot].state(),
            ));
        }
        forget_other_instances(injection, generation);
        let mut armed = Vec::new();
        for (patch, memory) in located {
            let first = memory.bytes[0];
            if let Some(index) = injection.patches.arm(generation, patch.clone(), memory) {
                // SAFETY: the instance is alive (checked above, interrupts
                // disabled since), and `first` is its text byte.
                unsafe { write_text_byte(first, BREAKPOINT_OPCODE) };
                ARMED_PATCHES.fetch_add(1, Ordering::AcqRel);
                armed.push((index, patch));
            }
        }
        Ok(armed)
    })
}

/// The trap dispatcher's breakpoint hook: if the `int3` just executed is an
/// armed patch of the running instance, records its activation, writes
/// the mutated instruction and makes the frame resume at it (true).
/// Anything else is left to the dispatcher (false).
pub fn on_breakpoint(frame: &mut TrapFrame) -> bool {
    if ARMED_PATCHES.load(Ordering::Acquire) == 0 {
        return false;
    }
    let address = frame.rip.wrapping_sub(1);
    let Some(slot) = super::domain::region_of(address) else {
        return false;
    };
    let generation = SLOTS[slot].generation.load(Ordering::Acquire);
    let activated = with_injection(slot, |injection| {
        let patch = injection.patches.activate(address, generation)?;
        // Everything but the first byte, then the first byte (the `int3`).
        for (position, &byte) in patch.patch.new.iter().enumerate().skip(1) {
            // SAFETY: the instance is running this very code (the
            // breakpoint came from it), and recovery cannot run while
            // this trap handler does.
            unsafe { write_text_byte(patch.memory.bytes[position], byte) };
        }
        // SAFETY: as above.
        unsafe { write_text_byte(patch.memory.bytes[0], patch.patch.new[0]) };
        Some(())
    });
    if activated.is_none() {
        return false;
    }
    ARMED_PATCHES.fetch_sub(1, Ordering::AcqRel);
    ACTIVATIONS.fetch_add(1, Ordering::Relaxed);
    frame.rip = address;
    true
}

/// Drops the patch records of every instance of the extension but
/// `generation` (a new injection starts a new record: `inject status`
/// then speaks of it alone); their armed patches went with their text.
fn forget_other_instances(injection: &mut Injection, generation: u32) {
    let kept = injection.patches.armed_count(generation);
    let armed = injection
        .patches
        .patches()
        .iter()
        .filter(|patch| !patch.activated)
        .count();
    ARMED_PATCHES.fetch_sub(armed - kept, Ordering::AcqRel);
    injection.patches.forget_other_generations(generation);
}

/// Arms fail point `kind` for `slot` with `knobs` (random numbers from
/// `seed`), replacing one already armed. Patch records of earlier
/// instances of the extension are dropped (as when patches are armed).
pub fn arm_fail_point(slot: Slot, kind: FailPoint, knobs: Knobs, seed: u64) {
    let generation = SLOTS[slot].generation.load(Ordering::Acquire);
    let start_timer = with_injection(slot, |injection| {
        forget_other_instances(injection, generation);
        injection.fail_points.retain(|armed| armed.kind != kind);
        injection.fail_points.push(ArmedFailPoint {
            kind,
            state: FailPointState::new(knobs, seed, kind as u64 + 1),
        });
        ARMED_FAIL_POINTS[slot].fetch_or(kind.bit(), Ordering::AcqRel);
        kind == FailPoint::SpuriousInterrupt && injection.spurious_timer.is_none()
    });
    if start_timer {
        schedule_spurious_interrupt(slot);
    }
}

/// Removes the patches of `slot` that never ran (their instructions get
/// their old first byte back) and every fail point. Activated patches stay
/// recorded (their mutation stays in the text until a restart).
pub fn clear(slot: Slot) {
    let generation = SLOTS[slot].generation.load(Ordering::Acquire);
    let timer = with_injection(slot, |injection| {
        let alive = SLOTS[slot].is_usable(generation);
        for patch in injection.patches.clear_unexecuted() {
            ARMED_PATCHES.fetch_sub(1, Ordering::AcqRel);
            if alive && patch.generation == generation {
                // SAFETY: the instance is alive (checked with interrupts
                // disabled, as they stay until the lock is released).
                unsafe { write_text_byte(patch.memory.bytes[0], patch.patch.old[0]) };
            }
        }
        injection.fail_points.clear();
        ARMED_FAIL_POINTS[slot].store(0, Ordering::Release);
        injection.spurious_timer.take()
    });
    if let Some(timer) = timer {
        crate::time::cancel(timer);
    }
}

/// What `inject status` reports for one extension.
pub struct InjectionStatus {
    /// Each recorded patch: index and whether it ran.
    pub patches: Vec<(usize, bool)>,
    /// Each armed fail point: type and times it fired.
    pub fail_points: Vec<(FailPoint, u64)>,
}

/// The status of `slot`'s injections.
pub fn status(slot: Slot) -> InjectionStatus {
    with_injection(slot, |injection| InjectionStatus {
        patches: injection
            .patches
            .patches()
            .iter()
            .map(|patch| (patch.index, patch.activated))
            .collect(),
        fail_points: injection
            .fail_points
            .iter()
            .map(|armed| (armed.kind, armed.state.fired()))
            .collect(),
    })
}

/// Evaluates fail point `point` of `slot` once: the random bits of a
/// firing, or `None`.
fn evaluate(slot: Slot, point: FailPoint) -> Option<u64> {
    if slot >= MAX_EXTENSIONS || ARMED_FAIL_POINTS[slot].load(Ordering::Acquire) & point.bit() == 0
    {
        return None;
    }
    with_injection(slot, |injection| {
        let armed = injection
            .fail_points
            .iter_mut()
            .find(|armed| armed.kind == point)?;
        armed.state.should_fail().then(|| armed.state.random_u64())
    })
}

/// The hook of a kernel service or delivery path guarded by `point`:
/// should this call to (or for) `slot` fail?
pub fn fail_point(slot: Slot, point: FailPoint) -> bool {
    evaluate(slot, point).is_some()
}

/// The hook of device reads (`read-io-port`, `read-pci-config`): `value`
/// read with a `width_bytes` access, or all ones (`read-ones`), or random
/// bits (`read-garbage`).
pub fn device_read(slot: Slot, width_bytes: u8, value: u32) -> u32 {
    let mask = match width_bytes {
        1 => 0xff,
        2 => 0xffff,
        _ => u32::MAX,
    };
    if fail_point(slot, FailPoint::ReadOnes) {
        return mask;
    }
    match evaluate(slot, FailPoint::ReadGarbage) {
        Some(random) => random as u32 & mask,
        None => value,
    }
}

/// The hook of interrupt delivery: should this interrupt on `line` not
/// reach `slot` (`lost-irq`)? A lost interrupt on a level-triggered (PCI)
/// line also masks the line for `slot` until it re-enables or acknowledges
/// it, as after a deferred interrupt: the device still asserts the line,
/// and it would come back at once, forever.
pub fn lose_interrupt(slot: Slot, line: u8) -> bool {
    if !fail_point(slot, FailPoint::LostInterrupt) {
        return false;
    }
    let level_triggered = crate::pci::devices()
        .iter()
        .any(|function| function.interrupt_line == line && function.interrupt_pin != 0);
    if level_triggered {
        super::interrupt_lines::set_wants_masked(line, slot, true);
    }
    true
}

/// The hook of a service's reply copy-out: the number of bytes of
/// `message` to copy back to `slot`, `reply_length` normally. With
/// `copy-overrun` firing, the bytes of `message` after the reply are
/// filled with random bytes and the whole message is copied back (an
/// overrun that stays inside the caller's buffer). Evaluated only when
/// the message has room past the reply.
pub fn copy_overrun(slot: Slot, message: &mut [u8], reply_length: usize) -> usize {
    if reply_length >= message.len() {
        return reply_length;
    }
    let Some(random) = evaluate(slot, FailPoint::CopyOverrun) else {
        return reply_length;
    };
    let mut bytes = DeterministicRandom::new(random);
    for chunk in message[reply_length..].chunks_mut(8) {
        let word = bytes.next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    message.len()
}

/// Arms the kernel timer of `slot`'s `spurious-irq` fail point.
fn schedule_spurious_interrupt(slot: Slot) {
    let timer = crate::time::call_after(SPURIOUS_PERIOD_MS, move || spurious_tick(slot));
    let keep = with_injection(slot, |injection| {
        let armed = ARMED_FAIL_POINTS[slot].load(Ordering::Acquire)
            & FailPoint::SpuriousInterrupt.bit()
            != 0;
        if armed {
            injection.spurious_timer = Some(timer);
        }
        armed
    });
    if !keep {
        crate::time::cancel(timer);
    }
}

/// A tick of the `spurious-irq` timer (interrupt context): if `slot` has
/// interrupt lines and the fail point fires, calls its interrupt entry
/// for each, as a device interrupt would.
fn spurious_tick(slot: Slot) {
    with_injection(slot, |injection| injection.spurious_timer = None);
    let generation = SLOTS[slot].generation.load(Ordering::Acquire);
    let lines: Vec<u8> = (0..16u8)
        .filter(|&line| {
            super::interrupt_lines::handlers(line)
                .iter()
                .flatten()
                .any(|&(owner, owner_generation)| owner == slot && owner_generation == generation)
        })
        .collect();
    if !lines.is_empty()
        && SLOTS[slot].is_alive(generation)
        && fail_point(slot, FailPoint::SpuriousInterrupt)
    {
        for line in lines {
            let answer = super::interface::kernel::interrupt(
                &mut super::interface::transport(slot, generation, State::Running),
                line,
            );
            if !matches!(answer, Ok(false)) {
                super::interrupt_lines::set_wants_masked(line, slot, true);
            }
            crate::net::on_driver_interrupt(slot);
        }
    }
    if ARMED_FAIL_POINTS[slot].load(Ordering::Acquire) & FailPoint::SpuriousInterrupt.bit() != 0 {
        schedule_spurious_interrupt(slot);
    }
}

// ---------------------------------------------------------------------------
// Calls that never return.
// ---------------------------------------------------------------------------

/// Runs `body` on a kernel thread of its own and waits up to `deadline_ms`
/// for its result (`None`: no result in time, or no thread). An extension
/// that never returns from a call (a loop that keeps calling kernel
/// services never trips the watchdog) holds that thread, not the shell.
pub fn with_deadline<T: Send + 'static>(
    deadline_ms: u64,
    body: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    use alloc::sync::Arc;
    let result: Arc<crate::sched::sync::IrqSpinlock<Option<T>>> =
        Arc::new(crate::sched::sync::IrqSpinlock::new(None));
    let slot = Arc::clone(&result);
    let handle = crate::sched::spawn("deadline-call", move || {
        let value = body();
        *slot.lock() = Some(value);
        0
    })
    .ok()?;
    let deadline = crate::time::uptime_us() + deadline_ms * 1000;
    loop {
        if let Some(value) = result.lock().take() {
            let _ = handle.join();
            return Some(value);
        }
        if crate::time::uptime_us() >= deadline || crate::sched::sleep_ms(1).is_err() {
            return None;
        }
    }
}

/// Fails instance `generation` of `slot` as hung (a call into it did not
/// return in time) and waits up to 5 s for its recovery; returns the
/// extension's state then. Recovery unwinds the threads inside the
/// instance (one in a kernel service at its return), like any fault.
pub fn fail_as_hung(slot: Slot, generation: u32) -> State {
    super::fault::extension_failed_in_service(
        slot,
        generation,
        restart_policy::FaultKind::HangInterruptsEnabled,
        0,
        None,
    );
    super::recovery::wait_for_recovery(slot, generation, 5000)
}
