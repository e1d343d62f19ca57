//! A periodic non-maskable interrupt, the heartbeat of the hang watchdog.
//!
//! The watchdog has to notice code that spins with interrupts disabled (a
//! hung isolated driver), so its heartbeat cannot be a maskable interrupt.
//! On the PC the PIT's output reaches two interrupt controllers: the 8259
//! PIC (ISA IRQ 0, the kernel's 1 kHz timer, left exactly as it is) and the
//! I/O APIC, on GSI 2 (the standard ISA IRQ 0 interrupt source override).
//! [`init`] programs the I/O APIC's redirection entry for GSI 2 to deliver
//! an edge-triggered NMI to the boot CPU, so every PIT tick also raises an
//! NMI, whether or not interrupts are enabled. The local APIC needs no
//! programming: it accepts NMI messages even while software-disabled (and
//! QEMU's does).
//!
//! Invariants:
//! - [`on_nmi`] runs in NMI context: it only increments an atomic counter.
//!   It takes no lock, allocates nothing, touches no device and cannot
//!   fault, so it is safe however deep the interrupted code was (in the
//!   allocator, under a spinlock, inside another handler) and it cannot
//!   unblock NMIs early with a nested `iretq`.
//! - The I/O APIC's register window (select, then data) is only used under
//!   `IO_APIC_LOCK`; the NMI path never touches it.
//! - [`is_active`] is true only once an NMI has been seen after the route
//!   was programmed: a route that was written but never delivered is masked
//!   again and reported as an error.
//! - The I/O APIC is identity-mapped uncached in the lower half (top-level
//!   entry 0, like all identity mappings).

use crate::memory::paging::{self, PageRights, PagingError};
use crate::sched::sync::IrqSpinlock;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Physical (and, identity-mapped, virtual) address of the I/O APIC.
const IO_APIC_BASE: u64 = 0xfec0_0000;
/// Offset of the register-select register.
const IO_APIC_SELECT: u64 = 0x00;
/// Offset of the data window.
const IO_APIC_WINDOW: u64 = 0x10;
/// Version register: version in bits 0..8, highest redirection entry in
/// bits 16..24.
const IO_APIC_VERSION_REGISTER: u32 = 0x01;
/// First redirection-table register (each entry is two 32-bit registers).
const IO_APIC_REDIRECTION_BASE: u32 = 0x10;

/// The global system interrupt the PIT reaches the I/O APIC on.
const PIT_GLOBAL_SYSTEM_INTERRUPT: u32 = 2;

/// Redirection entry, low half: delivery mode in bits 8..11.
const DELIVERY_MODE_NMI: u32 = 0b100 << 8;
/// Redirection entry, low half: the mask bit.
const MASKED: u32 = 1 << 16;
/// The vector field is ignored for NMI delivery; 2 names it for readers.
const NMI_VECTOR: u32 = 2;

/// `IA32_APIC_BASE`: bit 11 is the local APIC's global enable.
const APIC_BASE_MSR: u32 = 0x1b;
const APIC_BASE_GLOBAL_ENABLE: u64 = 1 << 11;

/// Timer ticks [`init`] waits for the first NMI before giving up.
const CONFIRMATION_TICKS: u64 = 5;

static IO_APIC_LOCK: IrqSpinlock<()> = IrqSpinlock::new(());
static INITIALIZED: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicBool = AtomicBool::new(false);
static NMI_COUNT: AtomicU64 = AtomicU64::new(0);

/// Why [`init`] could not start the periodic NMI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NmiWatchdogError {
    /// [`init`] already ran.
    AlreadyInitialized,
    /// Interrupts are disabled, so the timer cannot confirm delivery.
    InterruptsDisabled,
    /// The local APIC is globally disabled (`IA32_APIC_BASE` bit 11) and
    /// would drop the NMI messages.
    LocalApicDisabled,
    /// Mapping the I/O APIC's registers failed.
    Mapping(PagingError),
    /// No usable I/O APIC at the expected address: the version register
    /// read back as shown (all ones: nothing there), or it has no GSI 2.
    NoIoApic {
        /// Raw value of the version register.
        version_register: u32,
    },
    /// The route was programmed, but no NMI arrived within a few timer
    /// ticks; the entry was masked again.
    NoNmiDelivered,
}

impl fmt::Display for NmiWatchdogError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyInitialized => write!(formatter, "already initialised"),
            Self::InterruptsDisabled => {
                write!(formatter, "interrupts disabled, cannot confirm delivery")
            }
            Self::LocalApicDisabled => write!(formatter, "local APIC globally disabled"),
            Self::Mapping(error) => write!(formatter, "cannot map the I/O APIC: {error:?}"),
            Self::NoIoApic { version_register } => write!(
                formatter,
                "no usable I/O APIC at {IO_APIC_BASE:#x} (version register {version_register:#x})"
            ),
            Self::NoNmiDelivered => write!(
                formatter,
                "no NMI within {CONFIRMATION_TICKS} timer ticks of programming the route"
            ),
        }
    }
}

/// Routes the PIT to the boot CPU as an NMI through the I/O APIC and waits
/// (at most a few timer ticks) for the first one. Call once, after the PIT
/// and PICs are set up and with interrupts enabled. Logs the outcome.
pub fn init() -> Result<(), NmiWatchdogError> {
    let result = start();
    match result {
        Ok(()) => log::info!(
            "NMI watchdog: PIT via I/O APIC GSI {PIT_GLOBAL_SYSTEM_INTERRUPT}, {} Hz",
            crate::time::TICK_HZ
        ),
        Err(error) => log::warn!("NMI watchdog: not started: {error}"),
    }
    result
}

fn start() -> Result<(), NmiWatchdogError> {
    if !super::interrupts_enabled() {
        return Err(NmiWatchdogError::InterruptsDisabled);
    }
    if INITIALIZED.swap(true, Ordering::Relaxed) {
        return Err(NmiWatchdogError::AlreadyInitialized);
    }
    let apic_base = x86_64::registers::model_specific::Msr::new(APIC_BASE_MSR);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no
    // side effects.
    if unsafe { apic_base.read() } & APIC_BASE_GLOBAL_ENABLE == 0 {
        return Err(NmiWatchdogError::LocalApicDisabled);
    }
    paging::map(
        IO_APIC_BASE,
        IO_APIC_BASE,
        PageRights::WRITE | PageRights::UNCACHED,
    )
    .map_err(NmiWatchdogError::Mapping)?;
    let version_register = read_io_apic(IO_APIC_VERSION_REGISTER);
    let highest_entry = (version_register >> 16) & 0xff;
    if version_register == u32::MAX || highest_entry < PIT_GLOBAL_SYSTEM_INTERRUPT {
        return Err(NmiWatchdogError::NoIoApic { version_register });
    }
    let destination = u32::from(boot_cpu_local_apic_id());
    // Bits 11 (logical destination), 13 (active low), 15 (level
    // triggered) and 16 (masked) stay clear: physical destination, active
    // high, edge triggered, unmasked.
    let entry = NMI_VECTOR | DELIVERY_MODE_NMI;
    let count_before = nmi_count();
    write_redirection_entry(PIT_GLOBAL_SYSTEM_INTERRUPT, entry, destination << 24);
    let start_tick = crate::time::ticks();
    while nmi_count() == count_before && crate::time::ticks() < start_tick + CONFIRMATION_TICKS {
        super::halt();
    }
    if nmi_count() == count_before {
        write_redirection_entry(PIT_GLOBAL_SYSTEM_INTERRUPT, entry | MASKED, 0);
        return Err(NmiWatchdogError::NoNmiDelivered);
    }
    ACTIVE.store(true, Ordering::Relaxed);
    Ok(())
}

/// The boot CPU's initial local APIC id (CPUID leaf 1, EBX bits 24..32).
fn boot_cpu_local_apic_id() -> u8 {
    let leaf = core::arch::x86_64::__cpuid(1);
    (leaf.ebx >> 24) as u8
}

fn read_io_apic(register: u32) -> u32 {
    let _guard = IO_APIC_LOCK.lock();
    // SAFETY: the I/O APIC's page is mapped uncached by `start`; selecting
    // a register and reading the window are 32-bit accesses as the 82093AA
    // requires, and the lock keeps the pair together.
    unsafe {
        ((IO_APIC_BASE + IO_APIC_SELECT) as *mut u32).write_volatile(register);
        ((IO_APIC_BASE + IO_APIC_WINDOW) as *const u32).read_volatile()
    }
}

/// Writes redirection entry `pin`: the high half (destination) first, then
/// the low half, so the entry is never live with a stale destination.
fn write_redirection_entry(pin: u32, low: u32, high: u32) {
    let register = IO_APIC_REDIRECTION_BASE + 2 * pin;
    let _guard = IO_APIC_LOCK.lock();
    // SAFETY: as in `read_io_apic`; `pin` is at most the highest entry the
    // version register reported, so both registers exist.
    unsafe {
        let select = (IO_APIC_BASE + IO_APIC_SELECT) as *mut u32;
        let window = (IO_APIC_BASE + IO_APIC_WINDOW) as *mut u32;
        select.write_volatile(register + 1);
        window.write_volatile(high);
        select.write_volatile(register);
        window.write_volatile(low);
    }
}

/// Called by the trap dispatcher for every NMI (vector 2). NMI context:
/// one relaxed atomic increment, nothing else.
pub fn on_nmi() {
    NMI_COUNT.fetch_add(1, Ordering::Relaxed);
}

/// NMIs seen since boot (the watchdog's and any other).
pub fn nmi_count() -> u64 {
    NMI_COUNT.load(Ordering::Relaxed)
}

/// Is the periodic NMI running (route programmed and delivery seen)?
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Nominal time between watchdog NMIs in microseconds; 0 when inactive.
pub fn period_us() -> u64 {
    if is_active() {
        1_000_000 / crate::time::TICK_HZ
    } else {
        0
    }
}
