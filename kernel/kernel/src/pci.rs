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
