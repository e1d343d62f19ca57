//! In-kernel tests, grouped by subsystem. Each is registered with
//! `kernel_test!` and runs on the real hardware model (QEMU).

mod arch;
mod e1000;
mod extensions;
mod hostile;
mod inject;
mod memory;
mod net;
mod nim;
mod pcnet;
mod sched;
mod system;
mod watchdog;

use crate::memory::paging::SCRATCH_BASE;
use crate::nim::{Mode, SLOTS, Slot, State};
use crate::time;
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};

/// Longest wait for a recovery (it takes a few ms under TCG).
pub const RECOVERY_TIMEOUT_MS: u64 = 5_000;

/// The generation of the instance in `slot`.
pub fn generation(slot: Slot) -> u32 {
    SLOTS[slot].generation.load(Ordering::Acquire)
}

/// The slot of bundled extension `name`, running in `mode`: waits for a
/// recovery under way, unloads an instance of the other mode, and loads it
/// if it is not loaded or was stopped, so that each test starts from the
/// same state.
pub fn running_in(name: &str, mode: Mode) -> Result<Slot, String> {
    if let Some(slot) = crate::nim::find(name) {
        let deadline = time::ticks() + time::ms_to_ticks(RECOVERY_TIMEOUT_MS);
        while matches!(
            SLOTS[slot].state(),
            State::Failed | State::Recovering | State::Loading
        ) && time::ticks() < deadline
        {
            crate::sched::sleep_ms(1).map_err(|e| format!("sleep: {e}"))?;
        }
        match SLOTS[slot].state() {
            State::Running if SLOTS[slot].is_isolated() == (mode == Mode::Isolated) => {
                return Ok(slot);
            }
            State::Running => {
                crate::nim::unload(slot).map_err(|e| format!("unloading {name}: {e}"))?
            }
            State::Stopped | State::Empty => {}
            other => return Err(format!("{name} stuck in state {}", other.name())),
        }
    }
    crate::nim::load(name, mode).map_err(|e| format!("loading {name} {}: {e}", mode.name()))
}

/// Hands each test its own scratch virtual range (1 GiB apart), so tests
/// never collide even when one leaves something behind after a failure.
pub fn scratch_region() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    SCRATCH_BASE + NEXT.fetch_add(1, Ordering::Relaxed) * (1 << 30)
}
