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
use core::sync::atomic::{AtomicU64, Ordering};

/// Hands each test its own scratch virtual range (1 GiB apart), so tests
/// never collide even when one leaves something behind after a failure.
pub fn scratch_region() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    SCRATCH_BASE + NEXT.fetch_add(1, Ordering::Relaxed) * (1 << 30)
}
