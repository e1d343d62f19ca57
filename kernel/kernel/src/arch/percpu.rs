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
    /// Padding to keep the XPC fields 8-byte aligned.
    reserved: AtomicU32,
    /// The running thread's XPC state (swapped on every thread switch).
    pub xpc: ThreadXpcState,
}

/// Per-thread cross-domain call state, kept in the per-CPU block while the
/// thread runs (the trap entry and the XPC assembly read it through GS) and
/// in the thread's record otherwise.
#[repr(C)]
pub struct ThreadXpcState {
    /// Kernel stack pointer saved by the innermost kernel → extension call
    /// (0 when the thread is in no extension): the kernel stack the thread
    /// returns to, and where traps and kernel services taken inside the
    /// extension run.
    pub kernel_stack: AtomicU64,
    /// Address of the innermost `nim::xpc::XpcFrame` (0: none).
    pub innermost_frame: AtomicU64,
    /// Timer ticks spent in extension code since the last crossing (the
    /// interrupts-on watchdog).
    pub ticks_in_extension: AtomicU64,
    /// NMIs seen in extension code with interrupts disabled since the last
    /// crossing (the interrupts-off watchdog).
    pub nmis_in_extension: AtomicU64,
}

impl ThreadXpcState {
    /// A thread outside every extension.
    pub const fn new() -> Self {
        Self {
            kernel_stack: AtomicU64::new(0),
            innermost_frame: AtomicU64::new(0),
            ticks_in_extension: AtomicU64::new(0),
            nmis_in_extension: AtomicU64::new(0),
        }
    }

    /// Copies the values (for saving and restoring across thread switches).
    pub fn snapshot(&self) -> [u64; 4] {
        [
            self.kernel_stack.load(Ordering::Relaxed),
            self.innermost_frame.load(Ordering::Relaxed),
            self.ticks_in_extension.load(Ordering::Relaxed),
            self.nmis_in_extension.load(Ordering::Relaxed),
        ]
    }

    /// Restores values taken by [`ThreadXpcState::snapshot`].
    pub fn restore(&self, values: [u64; 4]) {
        self.kernel_stack.store(values[0], Ordering::Relaxed);
        self.innermost_frame.store(values[1], Ordering::Relaxed);
        self.ticks_in_extension.store(values[2], Ordering::Relaxed);
        self.nmis_in_extension.store(values[3], Ordering::Relaxed);
    }
}

impl Default for ThreadXpcState {
    fn default() -> Self {
        Self::new()
    }
}

/// Offset of `xpc.kernel_stack` in [`PerCpu`], for the assembly that reads
/// it as `gs:[offset]`.
pub const XPC_KERNEL_STACK_OFFSET: usize =
    core::mem::offset_of!(PerCpu, xpc) + core::mem::offset_of!(ThreadXpcState, kernel_stack);

static BOOT_CPU: PerCpu = PerCpu {
    self_pointer: AtomicU64::new(0),
    current_thread: AtomicU64::new(0),
    interrupt_depth: AtomicU32::new(0),
    spinlocks_held: AtomicU32::new(0),
    current_vector: AtomicU32::new(0),
    reserved: AtomicU32::new(0),
    xpc: ThreadXpcState::new(),
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
