//! Who handles each interrupt line, and whether the line is masked.
//!
//! An ISA line has at most one handler. A PCI INTx line is level-triggered
//! and may be shared by several functions (QEMU routes the e1000 and the
//! pcnet to the same line), so it may have up to [`MAX_SHARERS`] handlers,
//! one per instance.
//!
//! Invariants:
//! - A line is unmasked exactly when it has a handler and no handler of it
//!   wants it masked (a handler that deferred its work, disabled the line,
//!   or failed in its interrupt entry wants it masked).
//! - An instance appears at most once per line.

use super::Slot;
use crate::sched::sync::IrqSpinlock;

/// Handlers one shared line may have.
pub const MAX_SHARERS: usize = 4;

#[derive(Clone, Copy)]
struct Handler {
    slot: Slot,
    generation: u32,
    wants_masked: bool,
}

#[derive(Clone, Copy)]
struct Line {
    shared: bool,
    handlers: [Option<Handler>; MAX_SHARERS],
}

static LINES: IrqSpinlock<[Line; 16]> = IrqSpinlock::new(
    [Line {
        shared: false,
        handlers: [None; MAX_SHARERS],
    }; 16],
);

/// Why a registration was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declined {
    /// An exclusive line is taken, the instance has the line already, or a
    /// shared line has [`MAX_SHARERS`] handlers.
    Taken,
}

/// Registers instance (`slot`, `generation`) on `line` (< 16); `shared`
/// says whether the line is a level-triggered PCI line. Unmasks the line
/// if nobody wants it masked.
pub fn register(line: u8, slot: Slot, generation: u32, shared: bool) -> Result<(), Declined> {
    let mut lines = LINES.lock();
    let entry = &mut lines[usize::from(line)];
    let taken = entry.handlers.iter().flatten().count();
    if taken > 0 && !(shared && entry.shared) {
        return Err(Declined::Taken);
    }
    if entry.handlers.iter().flatten().any(|h| h.slot == slot) {
        return Err(Declined::Taken);
    }
    let free = entry
        .handlers
        .iter_mut()
        .find(|h| h.is_none())
        .ok_or(Declined::Taken)?;
    *free = Some(Handler {
        slot,
        generation,
        wants_masked: false,
    });
    entry.shared = shared;
    apply(line, entry);
    Ok(())
}

/// Removes `slot`'s handler of `line` and re-evaluates the mask.
pub fn unregister(line: u8, slot: Slot) {
    let mut lines = LINES.lock();
    let entry = &mut lines[usize::from(line)];
    for handler in entry.handlers.iter_mut() {
        if handler.is_some_and(|h| h.slot == slot) {
            *handler = None;
        }
    }
    apply(line, entry);
}

/// Records whether `slot`'s handler of `line` wants the line masked, and
/// re-evaluates the mask.
pub fn set_wants_masked(line: u8, slot: Slot, wants_masked: bool) {
    let mut lines = LINES.lock();
    let entry = &mut lines[usize::from(line)];
    for handler in entry.handlers.iter_mut().flatten() {
        if handler.slot == slot {
            handler.wants_masked = wants_masked;
        }
    }
    apply(line, entry);
}

/// The handlers of `line`: (slot, generation) each.
pub fn handlers(line: u8) -> [Option<(Slot, u32)>; MAX_SHARERS] {
    let lines = LINES.lock();
    lines[usize::from(line) & 15]
        .handlers
        .map(|handler| handler.map(|h| (h.slot, h.generation)))
}

/// Masks every line `slot` handles (recovery's first step); the lines
/// stay masked until its registrations are released or it unmasks them.
pub fn mask_lines_of(slot: Slot) {
    let mut lines = LINES.lock();
    for (line, entry) in lines.iter_mut().enumerate() {
        let mut found = false;
        for handler in entry.handlers.iter_mut().flatten() {
            if handler.slot == slot {
                handler.wants_masked = true;
                found = true;
            }
        }
        if found {
            apply(line as u8, entry);
        }
    }
}

fn apply(line: u8, entry: &Line) {
    let mut handlers = entry.handlers.iter().flatten().peekable();
    let masked =
        handlers.peek().is_none() || entry.handlers.iter().flatten().any(|h| h.wants_masked);
    crate::interrupts::set_line_masked(line, masked);
}
