//! Device access for drivers: I/O ports, PCI functions, MMIO and DMA
//! buffers, each a value that stands for a grant the kernel made and checks
//! every access against it.
//!
//! Invariants:
//! - A value of these types exists only after the kernel granted what it
//!   stands for (its fields are private; the constructors call the kernel).
//! - Every offset is checked against the grant (and aligned to the access
//!   width) before any access; an access outside is `Err(Status::Refused)`
//!   and touches nothing.
//! - Mapped device memory and DMA buffers are read and written with
//!   volatile accesses only (a device may change them at any time).
//! - Port and configuration-space accesses go through the kernel, which
//!   checks the reservation again.

use crate::kernel::{
    self, AccessWidth, BarKind, DmaBufferHandle, IoPortsHandle, MmioHandle, PciDeviceHandle,
};
use extension_abi::Status;

/// Is an access of `width` bytes at `offset` inside `length` bytes and
/// aligned to its width? (The kernel's own check, `validate::access_fits`.)
fn fits(offset: usize, width: usize, length: usize) -> bool {
    extension_abi::validate::access_fits(offset as u64, width as u64, length as u64)
}

/// A reservation of I/O ports.
#[derive(Debug)]
pub struct IoPorts {
    handle: IoPortsHandle,
    count: u16,
}

impl IoPorts {
    /// Reserves `count` ports from `first`.
    pub fn request(first: u16, count: u16) -> Result<IoPorts, Status> {
        let handle = kernel::request_io_ports(first, count)?;
        Ok(IoPorts { handle, count })
    }

    /// The reservation's handle.
    pub fn handle(&self) -> IoPortsHandle {
        self.handle
    }

    fn read(&self, offset: u16, width: AccessWidth) -> Result<u32, Status> {
        if !fits(
            usize::from(offset),
            usize::from(width.code()),
            usize::from(self.count),
        ) {
            return Err(Status::Refused);
        }
        kernel::read_io_port(self.handle, offset, width)
    }

    fn write(&self, offset: u16, width: AccessWidth, value: u32) -> Result<(), Status> {
        if !fits(
            usize::from(offset),
            usize::from(width.code()),
            usize::from(self.count),
        ) {
            return Err(Status::Refused);
        }
        kernel::write_io_port(self.handle, offset, width, value)
    }

    /// Reads the 8-bit port at `offset` from the first.
    pub fn read_u8(&self, offset: u16) -> Result<u8, Status> {
        self.read(offset, AccessWidth::Byte)
            .map(|value| value as u8)
    }

    /// Reads the 16-bit port at `offset`.
    pub fn read_u16(&self, offset: u16) -> Result<u16, Status> {
        self.read(offset, AccessWidth::Word)
            .map(|value| value as u16)
    }

    /// Reads the 32-bit port at `offset`.
    pub fn read_u32(&self, offset: u16) -> Result<u32, Status> {
        self.read(offset, AccessWidth::DoubleWord)
    }

    /// Writes the 8-bit port at `offset`.
    pub fn write_u8(&self, offset: u16, value: u8) -> Result<(), Status> {
        self.write(offset, AccessWidth::Byte, u32::from(value))
    }

    /// Writes the 16-bit port at `offset`.
    pub fn write_u16(&self, offset: u16, value: u16) -> Result<(), Status> {
        self.write(offset, AccessWidth::Word, u32::from(value))
    }

    /// Writes the 32-bit port at `offset`.
    pub fn write_u32(&self, offset: u16, value: u32) -> Result<(), Status> {
        self.write(offset, AccessWidth::DoubleWord, value)
    }

    /// Gives the ports back.
    pub fn release(self) -> Result<(), Status> {
        kernel::release_io_ports(self.handle)
    }
}

/// A claimed PCI function.
#[derive(Debug)]
pub struct PciDevice {
    handle: PciDeviceHandle,
    interrupt_line: u8,
}

/// One base address register of a PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// What it decodes.
    pub kind: BarKind,
    /// Physical address or first port.
    pub base: u64,
    /// Size in bytes or ports.
    pub size: u64,
}

impl PciDevice {
    /// Claims the `index`-th function with this vendor and device id.
    pub fn claim(vendor: u16, device: u16, index: u8) -> Result<PciDevice, Status> {
        let reply = kernel::claim_pci_device(vendor, device, index)?;
        Ok(PciDevice {
            handle: reply.handle,
            interrupt_line: reply.interrupt_line,
        })
    }

    /// The claim's handle.
    pub fn handle(&self) -> PciDeviceHandle {
        self.handle
    }

    /// The function's interrupt line (255: none).
    pub fn interrupt_line(&self) -> u8 {
        self.interrupt_line
    }

    /// Reads 32 bits of configuration space at `offset` (aligned).
    pub fn read_config_u32(&self, offset: u8) -> Result<u32, Status> {
        kernel::read_pci_config(self.handle, offset, AccessWidth::DoubleWord)
    }

    /// Reads 16 bits of configuration space at `offset` (aligned).
    pub fn read_config_u16(&self, offset: u8) -> Result<u16, Status> {
        kernel::read_pci_config(self.handle, offset, AccessWidth::Word).map(|value| value as u16)
    }

    /// Writes 16 bits of configuration space at `offset` (aligned; the
    /// BARs are refused).
    pub fn write_config_u16(&self, offset: u8, value: u16) -> Result<(), Status> {
        kernel::write_pci_config(self.handle, offset, AccessWidth::Word, u32::from(value))
    }

    /// Describes base address register `index` (0 to 5).
    pub fn bar(&self, index: u8) -> Result<Bar, Status> {
        let reply = kernel::read_pci_bar(self.handle, index)?;
        Ok(Bar {
            kind: reply.kind,
            base: reply.base,
            size: reply.size,
        })
    }

    /// Turns bus mastering (the device's DMA) on or off.
    pub fn set_bus_mastering(&self, enabled: bool) -> Result<(), Status> {
        kernel::set_pci_bus_mastering(self.handle, enabled)
    }

    /// Maps memory BAR `bar` into this extension.
    pub fn map_bar(&self, bar: u8) -> Result<Mmio, Status> {
        let reply = kernel::map_mmio(self.handle, bar)?;
        Ok(Mmio {
            handle: reply.handle,
            address: reply.address,
            length: usize::try_from(reply.length).map_err(|_| Status::Refused)?,
        })
    }

    /// Releases the function (the kernel turns bus mastering off).
    pub fn release(self) -> Result<(), Status> {
        kernel::release_pci_device(self.handle)
    }
}

/// A device's memory-mapped registers, mapped uncached into this extension.
#[derive(Debug)]
pub struct Mmio {
    handle: MmioHandle,
    address: u64,
    length: usize,
}

impl Mmio {
    /// The mapping's handle.
    pub fn handle(&self) -> MmioHandle {
        self.handle
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Is it empty? (Never, for a mapped BAR.)
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Reads the 8-bit register at `offset`.
    pub fn read_u8(&self, offset: usize) -> Result<u8, Status> {
        if !fits(offset, 1, self.length) {
            return Err(Status::Refused);
        }
        // SAFETY: as in `read_u32`.
        Ok(unsafe { core::ptr::read_volatile((self.address + offset as u64) as *const u8) })
    }

    /// Reads the 16-bit register at `offset` (aligned).
    pub fn read_u16(&self, offset: usize) -> Result<u16, Status> {
        if !fits(offset, 2, self.length) {
            return Err(Status::Refused);
        }
        // SAFETY: as in `read_u32`.
        Ok(unsafe { core::ptr::read_volatile((self.address + offset as u64) as *const u16) })
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read_u32(&self, offset: usize) -> Result<u32, Status> {
        if !fits(offset, 4, self.length) {
            return Err(Status::Refused);
        }
        // SAFETY: the kernel mapped [address, address + length) uncached
        // for this extension while `self` (its handle) lives; the access is
        // inside and aligned (checked above).
        Ok(unsafe { core::ptr::read_volatile((self.address + offset as u64) as *const u32) })
    }

    /// Writes the 8-bit register at `offset`.
    pub fn write_u8(&self, offset: usize, value: u8) -> Result<(), Status> {
        if !fits(offset, 1, self.length) {
            return Err(Status::Refused);
        }
        // SAFETY: as in `read_u32`; the mapping is writable.
        unsafe { core::ptr::write_volatile((self.address + offset as u64) as *mut u8, value) };
        Ok(())
    }

    /// Writes the 16-bit register at `offset` (aligned).
    pub fn write_u16(&self, offset: usize, value: u16) -> Result<(), Status> {
        if !fits(offset, 2, self.length) {
            return Err(Status::Refused);
        }
        // SAFETY: as in `read_u32`; the mapping is writable.
        unsafe { core::ptr::write_volatile((self.address + offset as u64) as *mut u16, value) };
        Ok(())
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write_u32(&self, offset: usize, value: u32) -> Result<(), Status> {
        if !fits(offset, 4, self.length) {
            return Err(Status::Refused);
        }
        // SAFETY: as in `read_u32`; the mapping is writable.
        unsafe { core::ptr::write_volatile((self.address + offset as u64) as *mut u32, value) };
        Ok(())
    }

    /// Unmaps the registers.
    pub fn unmap(self) -> Result<(), Status> {
        kernel::unmap_mmio(self.handle)
    }
}

/// A zeroed, physically contiguous buffer a device can reach by DMA.
#[derive(Debug)]
pub struct DmaBuffer {
    handle: DmaBufferHandle,
    address: u64,
    physical: u64,
    length: usize,
}

impl DmaBuffer {
    /// Allocates `bytes` (rounded up to whole pages; at most 256 KiB).
    pub fn allocate(bytes: usize) -> Result<DmaBuffer, Status> {
        let reply = kernel::allocate_dma(bytes as u64)?;
        Ok(DmaBuffer {
            handle: reply.handle,
            address: reply.address,
            physical: reply.physical,
            length: bytes.div_ceil(4096) * 4096,
        })
    }

    /// The buffer's handle.
    pub fn handle(&self) -> DmaBufferHandle {
        self.handle
    }

    /// The physical (bus) address of byte `offset`, for the device.
    pub fn physical_address(&self, offset: usize) -> Result<u64, Status> {
        if offset >= self.length {
            return Err(Status::Refused);
        }
        Ok(self.physical + offset as u64)
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Is it empty? (Never.)
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Reads the 32-bit value at `offset`.
    pub fn read_u32(&self, offset: usize) -> Result<u32, Status> {
        if !fits(offset, 4, self.length) {
            return Err(Status::Refused);
        }
        // SAFETY: the kernel mapped [address, address + length) writable
        // for this extension while `self` lives; inside and aligned.
        Ok(unsafe { core::ptr::read_volatile((self.address + offset as u64) as *const u32) })
    }

    /// Writes the 32-bit value at `offset`.
    pub fn write_u32(&self, offset: usize, value: u32) -> Result<(), Status> {
        if !fits(offset, 4, self.length) {
            return Err(Status::Refused);
        }
        // SAFETY: as in `read_u32`.
        unsafe { core::ptr::write_volatile((self.address + offset as u64) as *mut u32, value) };
        Ok(())
    }

    /// Copies `data` into the buffer at `offset`.
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<(), Status> {
        if !extension_abi::validate::range_is_inside(
            offset as u64,
            data.len() as u64,
            0,
            self.length as u64,
        ) {
            return Err(Status::Refused);
        }
        for (index, byte) in data.iter().enumerate() {
            // SAFETY: inside the mapping (checked above).
            unsafe {
                core::ptr::write_volatile(
                    (self.address + (offset + index) as u64) as *mut u8,
                    *byte,
                )
            };
        }
        Ok(())
    }

    /// Copies bytes from the buffer at `offset` into `data`.
    pub fn read_bytes(&self, offset: usize, data: &mut [u8]) -> Result<(), Status> {
        if !extension_abi::validate::range_is_inside(
            offset as u64,
            data.len() as u64,
            0,
            self.length as u64,
        ) {
            return Err(Status::Refused);
        }
        for (index, byte) in data.iter_mut().enumerate() {
            // SAFETY: inside the mapping (checked above).
            *byte = unsafe {
                core::ptr::read_volatile((self.address + (offset + index) as u64) as *const u8)
            };
        }
        Ok(())
    }

    /// Frees the buffer.
    pub fn free(self) -> Result<(), Status> {
        kernel::free_dma(self.handle)
    }
}
