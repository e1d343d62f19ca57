//! The network class: the network thread, interfaces over the bundled
//! drivers, DHCP, ICMP and TCP with QEMU's user-mode network as the peer.

use crate::net;
use crate::{ensure, kernel_test};
use core::sync::atomic::Ordering;

kernel_test!(the_network_thread_parks_while_paused_and_runs_again_after {
    // The test runner keeps the thread paused; lift that pause.
    let running = net::ResumeGuard::new();
    let _ = crate::sched::sleep_ms(20);
    ensure!(!net::is_parked(), "still parked after the pause was lifted");
    let rounds = || net::COUNTERS.rounds.load(Ordering::Relaxed);
    let before = rounds();
    let _ = crate::sched::sleep_ms(30);
    ensure!(rounds() > before, "no round in 30 ms while running");
    {
        let _pause = net::PauseGuard::new();
        ensure!(net::is_parked(), "not parked under a pause");
        let polls = net::COUNTERS.driver_polls.load(Ordering::Relaxed);
        let _ = crate::sched::sleep_ms(30);
        ensure!(
            net::COUNTERS.driver_polls.load(Ordering::Relaxed) == polls,
            "drivers polled while paused"
        );
    }
    drop(running);
    ensure!(net::is_parked(), "the runner's pause did not come back");
    leave_network_drivers_fresh()
});

/// The network thread opened the bundled network drivers while it ran:
/// restart them, so that later tests find them as loaded (not opened).
fn leave_network_drivers_fresh() -> Result<(), alloc::string::String> {
    for name in ["e1000", "pcnet"] {
        if let Some(slot) = crate::nim::find(name) {
            crate::nim::restart(slot).map_err(|e| alloc::format!("restart {name}: {e}"))?;
        }
    }
    Ok(())
}
