//! Per-CPU data, reached through the GS segment base.
//!
//! Invariant: GS base points at this CPU's [`PerCpu`] from `init` on, and
//! its first field points at itself, so `gs:[0]` yields the structure. The
//! current thread is found here, never from the stack pointer (XPC switches
//! stacks).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Data private to one CPU.
#[repr(C)]
pub struct PerCpu {
    self_pointer: AtomicU64,
    /// Id of the thread running on this CPU.
    pub current_thread: AtomicU64,
    /// How many hardware interrupt handlers are active (non-zero means
    /// interrupt context: blocking is forbidden).
    pub interrupt_depth: AtomicU32,
    /// Interrupt-disabling spinlocks held (blocking is forbidden too).
    pub spinlocks_held: AtomicU32,
    /// Vector of the interrupt being handled (for reports).
    pub current_vector: AtomicU32,
}

static BOOT_CPU: PerCpu = PerCpu {
    self_pointer: AtomicU64::new(0),
    current_thread: AtomicU64::new(0),
    interrupt_depth: AtomicU32::new(0),
    spinlocks_held: AtomicU32::new(0),
    current_vector: AtomicU32::new(0),
};

const IA32_GS_BASE: u32 = 0xc000_0101;

/// Points GS at the boot CPU's data. Call once, first thing.
pub fn init() {
    let address = &BOOT_CPU as *const PerCpu as u64;
    BOOT_CPU.self_pointer.store(address, Ordering::Relaxed);
    // SAFETY: IA32_GS_BASE exists on every x86_64 CPU; the kernel never uses
    // GS for anything else and runs only in ring 0 (no swapgs).
    unsafe { x86_64::registers::model_specific::Msr::new(IA32_GS_BASE).write(address) };
}

/// This CPU's data.
pub fn this_cpu() -> &'static PerCpu {
    let pointer: u64;
    // SAFETY: after `init`, gs:[0] holds the address of a `'static PerCpu`
    // (its self pointer); reading it has no side effect.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) pointer, options(nostack, readonly, preserves_flags));
    }
    if pointer == 0 {
        // Before `init` (very early boot): fall back to the static.
        return &BOOT_CPU;
    }
    // SAFETY: the pointer is the address of BOOT_CPU stored by `init`.
    unsafe { &*(pointer as *const PerCpu) }
}
