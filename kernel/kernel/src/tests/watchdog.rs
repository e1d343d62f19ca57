//! The NMI watchdog's heartbeat: NMIs arrive at the PIT's rate, and keep
//! arriving while interrupts are disabled.

use crate::arch::nmi_watchdog;
use crate::sched::sleep_ms;
use crate::{ensure, kernel_test, time};

kernel_test!(nmis_arrive_at_the_timer_rate {
    ensure!(nmi_watchdog::is_active(), "NMI watchdog inactive");
    ensure!(nmi_watchdog::period_us() == 1_000_000 / time::TICK_HZ, "period {} us", nmi_watchdog::period_us());
    let before = nmi_watchdog::nmi_count();
    sleep_ms(50).map_err(|e| alloc::format!("sleep: {e}"))?;
    let arrived = nmi_watchdog::nmi_count() - before;
    ensure!(arrived >= 25, "only {arrived} NMIs in a 50 ms sleep");
    // QEMU may deliver late PIT edges in a burst, so only a storm fails.
    ensure!(arrived <= 500, "{arrived} NMIs in a 50 ms sleep: an NMI storm");
    Ok(())
});

kernel_test!(nmis_arrive_while_interrupts_are_disabled {
    ensure!(nmi_watchdog::is_active(), "NMI watchdog inactive");
    let spin_cycles = time::timestamp_counter_hz() * 30 / 1000;
    ensure!(spin_cycles > 0, "TSC not calibrated");
    let was_enabled = crate::arch::disable_interrupts();
    let ticks_before = time::ticks();
    let nmis_before = nmi_watchdog::nmi_count();
    let start = crate::arch::read_timestamp();
    while crate::arch::read_timestamp() - start < spin_cycles {
        core::hint::spin_loop();
    }
    let nmis_after = nmi_watchdog::nmi_count();
    let ticks_after = time::ticks();
    crate::arch::restore_interrupts(was_enabled);
    ensure!(was_enabled, "interrupts were already off in a test thread");
    ensure!(ticks_after == ticks_before, "the timer ticked {} times with interrupts off", ticks_after - ticks_before);
    let arrived = nmis_after - nmis_before;
    ensure!(arrived >= 10, "only {arrived} NMIs during 30 ms with interrupts off");
    Ok(())
});
