//! CPU-specific code: descriptor tables, trap entry and dispatch, per-CPU
//! data, interrupt-flag control, fault fix-ups, the NMI watchdog's
//! heartbeat and QEMU's exit device.
//!
//! Invariant: this module and `memory::paging` are where the kernel's
//! `unsafe` lives; every block states why it is sound.

pub mod fixup;
pub mod gdt;
pub mod idt;
pub mod nmi_watchdog;
pub mod percpu;
pub mod trap;

use x86_64::instructions::port::Port;

/// Reads an I/O port `width` bytes wide (1, 2 or 4), zero-extended. Only
/// for ports the caller has checked it may use (an extension's
/// reservation, never the kernel's own ports).
pub fn port_read(port: u16, width: u8) -> u32 {
    // SAFETY: reading a device register has no memory-safety effect on the
    // kernel; the caller checked the port is granted.
    unsafe {
        match width {
            1 => u32::from(Port::<u8>::new(port).read()),
            2 => u32::from(Port::<u16>::new(port).read()),
            _ => Port::<u32>::new(port).read(),
        }
    }
}

/// Writes the low `width` bytes (1, 2 or 4) of `value` to an I/O port (see
/// [`port_read`] for who may call it).
pub fn port_write(port: u16, width: u8, value: u32) {
    // SAFETY: as in `port_read`: the port is one the caller checked is
    // granted, and port I/O does not touch kernel memory (devices that DMA
    // are reached through their PCI claim, which controls bus mastering).
    unsafe {
        match width {
            1 => Port::<u8>::new(port).write(value as u8),
            2 => Port::<u16>::new(port).write(value as u16),
            _ => Port::<u32>::new(port).write(value),
        }
    }
}

/// Are maskable interrupts enabled on this CPU?
pub fn interrupts_enabled() -> bool {
    x86_64::instructions::interrupts::are_enabled()
}

/// Disables interrupts and returns whether they were enabled before, for
/// [`restore_interrupts`].
pub fn disable_interrupts() -> bool {
    let was_enabled = interrupts_enabled();
    x86_64::instructions::interrupts::disable();
    was_enabled
}

/// Re-enables interrupts if `was_enabled` (from [`disable_interrupts`]).
pub fn restore_interrupts(was_enabled: bool) {
    if was_enabled {
        x86_64::instructions::interrupts::enable();
    }
}

/// Runs `f` with interrupts disabled, restoring the previous state after.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let was_enabled = disable_interrupts();
    let result = f();
    restore_interrupts(was_enabled);
    result
}

/// Reads the time-stamp counter.
pub fn read_timestamp() -> u64 {
    // SAFETY: rdtsc has no side effects beyond reading the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Stops this CPU until the next interrupt.
pub fn halt() {
    x86_64::instructions::hlt();
}

/// Exit codes for QEMU's `isa-debug-exit` device (QEMU exits with
/// `(code << 1) | 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum QemuExit {
    /// All went well: QEMU exits with 33.
    Success = 0x10,
    /// In-kernel tests failed: QEMU exits with 35.
    TestsFailed = 0x11,
    /// The kernel stopped on a fatal fault or panic: QEMU exits with 37.
    KernelStopped = 0x12,
}

/// Leaves QEMU through `isa-debug-exit` (if the device is present) and
/// otherwise halts forever.
pub fn exit_qemu(code: QemuExit) -> ! {
    // SAFETY: port 0xf4 is the isa-debug-exit device when QEMU has it, and
    // an unclaimed port otherwise; writing it has no other effect.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    halt_forever()
}

/// Powers the machine off through ACPI (QEMU then exits with status 0);
/// falls back to `isa-debug-exit` success, then to halting.
pub fn power_off() -> ! {
    // SAFETY: these are the PM1a control ports of QEMU's ICH9 (0x604) and
    // PIIX4 (0xb004) ACPI blocks; writing SLP_EN|SLP_TYP=0 powers off, and
    // an unclaimed port ignores the write.
    unsafe {
        Port::<u16>::new(0x604).write(0x2000);
        Port::<u16>::new(0xb004).write(0x2000);
    }
    exit_qemu(QemuExit::Success)
}

/// Halts with interrupts off, forever.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        halt();
    }
}
