//! PCI configuration mechanism #1 (ports 0xCF8/0xCFC) and the enumeration
//! result, kept for the shell and for drivers.
//!
//! Invariant: configuration accesses are serialised by one lock (the
//! address/data port pair is shared state).

use crate::sched::sync::IrqSpinlock;
use alloc::vec::Vec;
use pci_config::{ConfigSpace, PciAddress, PciFunction};
use spin::Once;
use x86_64::instructions::port::Port;

/// Configuration mechanism #1 through the PC's I/O ports.
pub struct PortConfigSpace;

static CONFIG_LOCK: IrqSpinlock<()> = IrqSpinlock::new(());
static DEVICES: Once<Vec<PciFunction>> = Once::new();

impl ConfigSpace for PortConfigSpace {
    fn read_u32(&mut self, address: PciAddress, offset: u8) -> u32 {
        let _guard = CONFIG_LOCK.lock();
        // SAFETY: 0xCF8/0xCFC are the configuration address/data ports;
        // the lock keeps the address-then-data pair atomic.
        unsafe {
            Port::<u32>::new(0xcf8).write(pci_config::mechanism1_address(address, offset));
            Port::<u32>::new(0xcfc).read()
        }
    }

    fn write_u32(&mut self, address: PciAddress, offset: u8, value: u32) {
        let _guard = CONFIG_LOCK.lock();
        // SAFETY: as in read_u32.
        unsafe {
            Port::<u32>::new(0xcf8).write(pci_config::mechanism1_address(address, offset));
            Port::<u32>::new(0xcfc).write(value);
        }
    }
}

/// Enumerates the bus once (at boot) and remembers the result.
pub fn init() -> usize {
    DEVICES
        .call_once(|| pci_config::enumerate(&mut PortConfigSpace))
        .len()
}

/// Every PCI function found at boot.
pub fn devices() -> &'static [PciFunction] {
    DEVICES.get().map(Vec::as_slice).unwrap_or(&[])
}

/// Finds a function by vendor and device id.
pub fn find(vendor_id: u16, device_id: u16) -> Option<&'static PciFunction> {
    devices()
        .iter()
        .find(|f| f.vendor_id == vendor_id && f.device_id == device_id)
}

/// Reads `width` bytes (1, 2 or 4; `offset` aligned to it) of a function's
/// configuration space.
pub fn read_config(address: PciAddress, offset: u8, width: u8) -> u32 {
    let dword = PortConfigSpace.read_u32(address, offset & !3);
    let shift = u32::from(offset & 3) * 8;
    match width {
        1 => (dword >> shift) & 0xff,
        2 => (dword >> shift) & 0xffff,
        _ => dword,
    }
}

/// Writes `width` bytes (1, 2 or 4; `offset` aligned to it) of a function's
/// configuration space (a read-modify-write of the containing dword for
/// narrower widths).
pub fn write_config(address: PciAddress, offset: u8, width: u8, value: u32) {
    let aligned = offset & !3;
    let shift = u32::from(offset & 3) * 8;
    let dword = match width {
        1 | 2 => {
            let mask = if width == 1 { 0xff } else { 0xffff } << shift;
            let old = PortConfigSpace.read_u32(address, aligned);
            (old & !mask) | ((value << shift) & mask)
        }
        _ => value,
    };
    PortConfigSpace.write_u32(address, aligned, dword);
}

/// Turns a function's bus mastering (DMA) on or off.
pub fn set_bus_mastering(address: PciAddress, enabled: bool) {
    if enabled {
        pci_config::enable_bus_master(&mut PortConfigSpace, address);
    } else {
        pci_config::disable_bus_master(&mut PortConfigSpace, address);
    }
}

/// Turns a function's legacy INTx interrupt off (`true`) or on (command
/// register bit 10), so that a function nobody drives cannot hold a shared
/// level-triggered line asserted.
pub fn set_interrupt_disabled(address: PciAddress, disabled: bool) {
    const INTERRUPT_DISABLE: u32 = 1 << 10;
    // The command register is the low half of dword 4; writing the status
    // half as zero leaves its write-1-to-clear bits alone.
    let command = read_config(address, 0x04, 2);
    let command = if disabled {
        command | INTERRUPT_DISABLE
    } else {
        command & !INTERRUPT_DISABLE
    };
    PortConfigSpace.write_u32(address, 0x04, command & 0xffff);
}
