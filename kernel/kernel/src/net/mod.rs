//! The kernel's network class: interfaces over the network devices that
//! drivers register, and the TCP/IP stack above them.
//!
//! Invariants: the drivers' receive and transmit work is driven from the
//! network thread only (entry `network-poll`); a driver's interrupt only
//! records that its devices want polling.

use core::sync::atomic::{AtomicU64, Ordering};

/// One bit per extension slot whose driver interrupted since the network
/// thread last polled it.
static POLL_REQUESTED: AtomicU64 = AtomicU64::new(0);

/// A driver's interrupt ran (interrupt context): poll its devices soon.
pub fn on_driver_interrupt(slot: usize) {
    if slot < 64 {
        POLL_REQUESTED.fetch_or(1 << slot, Ordering::AcqRel);
    }
}
