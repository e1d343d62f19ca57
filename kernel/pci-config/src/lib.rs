//! PCI configuration-space logic (addressing, enumeration, BAR sizing,
//! command register) over an abstract [`ConfigSpace`] accessor.
//!
//! The kernel implements [`ConfigSpace`] with port I/O (configuration
//! mechanism #1, see [`mechanism1_address`]); tests implement it with a fake
//! register file.
//!
//! # Invariants
//!
//! - All accesses are aligned 32-bit reads and writes at `offset & 0xFC`;
//!   narrower fields are extracted from, or merged into, the containing dword.
//! - Writes to the command register write the status half as zero, so the
//!   status register's write-one-to-clear bits are never cleared by accident.
//! - [`enumerate`] leaves every register it touched as it found it: for BAR
//!   sizing it disables I/O and memory decoding in the command register, writes
//!   all ones to the BAR(s), reads back, restores the BAR(s) and finally the
//!   command register. Decoding is never enabled while a BAR holds all ones.
//! - [`enumerate`] visits each bus at most once (a misconfigured bridge that
//!   points back to an already-scanned bus cannot cause a loop) and returns
//!   functions sorted by address.
//! - A 64-bit memory BAR is reported in slot `i`, and slot `i + 1` (its upper
//!   half) is `None`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;

/// Register offsets in the common configuration header.
pub mod offset {
    /// Vendor ID (u16).
    pub const VENDOR_ID: u8 = 0x00;
    /// Device ID (u16).
    pub const DEVICE_ID: u8 = 0x02;
    /// Command register (u16).
    pub const COMMAND: u8 = 0x04;
    /// Status register (u16).
    pub const STATUS: u8 = 0x06;
    /// Revision ID (u8).
    pub const REVISION: u8 = 0x08;
    /// Programming interface (u8).
    pub const PROG_IF: u8 = 0x09;
    /// Subclass (u8).
    pub const SUBCLASS: u8 = 0x0a;
    /// Class code (u8).
    pub const CLASS: u8 = 0x0b;
    /// Header type (u8), bit 7 = multifunction.
    pub const HEADER_TYPE: u8 = 0x0e;
    /// First base address register.
    pub const BAR0: u8 = 0x10;
    /// Primary bus number of a PCI-to-PCI bridge (u8).
    pub const PRIMARY_BUS: u8 = 0x18;
    /// Secondary bus number of a PCI-to-PCI bridge (u8).
    pub const SECONDARY_BUS: u8 = 0x19;
    /// Subordinate bus number of a PCI-to-PCI bridge (u8).
    pub const SUBORDINATE_BUS: u8 = 0x1a;
    /// Capabilities pointer (u8).
    pub const CAPABILITIES: u8 = 0x34;
    /// Interrupt line (u8).
    pub const INTERRUPT_LINE: u8 = 0x3c;
    /// Interrupt pin (u8), 1 = INTA#.
    pub const INTERRUPT_PIN: u8 = 0x3d;
}

/// Bus/device/function address of a PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// Bus number (0-255).
    pub bus: u8,
    /// Device number (0-31).
    pub device: u8,
    /// Function number (0-7).
    pub function: u8,
}

impl PciAddress {
    /// Creates an address.
    pub const fn new(bus: u8, device: u8, function: u8) -> Self {
        Self {
            bus,
            device,
            function,
        }
    }
}

impl fmt::Display for PciAddress {
    /// `bb:dd.f` in lower-case hex, e.g. `00:03.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{:x}",
            self.bus, self.device, self.function
        )
    }
}

/// Access to configuration space: aligned 32-bit reads and writes.
/// `offset` is always a multiple of 4 when called from this crate.
/// Reading a function that does not exist must return `0xFFFF_FFFF`.
pub trait ConfigSpace {
    /// Reads the dword at `offset` of `address`'s configuration space.
    fn read_u32(&mut self, address: PciAddress, offset: u8) -> u32;
    /// Writes the dword at `offset` of `address`'s configuration space.
    fn write_u32(&mut self, address: PciAddress, offset: u8, value: u32);
}

impl<T: ConfigSpace + ?Sized> ConfigSpace for &mut T {
    fn read_u32(&mut self, address: PciAddress, offset: u8) -> u32 {
        (**self).read_u32(address, offset)
    }
    fn write_u32(&mut self, address: PciAddress, offset: u8, value: u32) {
        (**self).write_u32(address, offset, value)
    }
}

/// Value to write to port 0xCF8 for configuration mechanism #1: enable bit
/// 31, bus in bits 23..16, device in 15..11, function in 10..8, and
/// `offset & 0xFC`. Device and function are masked to 5 and 3 bits.
pub fn mechanism1_address(address: PciAddress, offset: u8) -> u32 {
    0x8000_0000
        | (u32::from(address.bus) << 16)
        | (u32::from(address.device & 0x1f) << 11)
        | (u32::from(address.function & 0x7) << 8)
        | u32::from(offset & 0xfc)
}

/// Reads the u16 at `offset` (must be 2-aligned; bit 0 is ignored).
pub fn read_u16(config: &mut impl ConfigSpace, address: PciAddress, offset: u8) -> u16 {
    let dword = config.read_u32(address, offset & 0xfc);
    (dword >> ((offset & 2) * 8)) as u16
}

/// Reads the u8 at `offset`.
pub fn read_u8(config: &mut impl ConfigSpace, address: PciAddress, offset: u8) -> u8 {
    let dword = config.read_u32(address, offset & 0xfc);
    (dword >> ((offset & 3) * 8)) as u8
}

bitflags::bitflags! {
    /// The command register (offset 0x04).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Command: u16 {
        /// Respond to I/O space accesses.
        const IO_SPACE = 1 << 0;
        /// Respond to memory space accesses.
        const MEMORY_SPACE = 1 << 1;
        /// May act as bus master (needed for DMA).
        const BUS_MASTER = 1 << 2;
        /// Monitor special cycles.
        const SPECIAL_CYCLES = 1 << 3;
        /// Memory write and invalidate enable.
        const MEMORY_WRITE_INVALIDATE = 1 << 4;
        /// VGA palette snoop.
        const VGA_PALETTE_SNOOP = 1 << 5;
        /// Parity error response.
        const PARITY_ERROR_RESPONSE = 1 << 6;
        /// SERR# enable.
        const SERR = 1 << 8;
        /// Fast back-to-back enable.
        const FAST_BACK_TO_BACK = 1 << 9;
        /// Disable INTx# assertion.
        const INTERRUPT_DISABLE = 1 << 10;
    }
}

/// Reads the command register (unknown bits are kept).
pub fn read_command(config: &mut impl ConfigSpace, address: PciAddress) -> Command {
    Command::from_bits_retain(read_u16(config, address, offset::COMMAND))
}

/// Writes the command register. The status half of the dword is written as
/// zero, which leaves its write-one-to-clear bits untouched.
pub fn write_command(config: &mut impl ConfigSpace, address: PciAddress, command: Command) {
    config.write_u32(address, offset::COMMAND, u32::from(command.bits()));
}

/// Sets `set` and clears `clear` in the command register; returns the new
/// value.
pub fn update_command(
    config: &mut impl ConfigSpace,
    address: PciAddress,
    set: Command,
    clear: Command,
) -> Command {
    let command = (read_command(config, address) - clear) | set;
    write_command(config, address, command);
    command
}

/// Enables bus mastering (DMA) and memory decoding for a driver; returns the
/// new command value.
pub fn enable_bus_master(config: &mut impl ConfigSpace, address: PciAddress) -> Command {
    update_command(
        config,
        address,
        Command::BUS_MASTER | Command::MEMORY_SPACE,
        Command::empty(),
    )
}

/// Disables bus mastering (used when a driver is stopped or fails); returns the
/// new command value.
pub fn disable_bus_master(config: &mut impl ConfigSpace, address: PciAddress) -> Command {
    update_command(config, address, Command::empty(), Command::BUS_MASTER)
}

/// The capability list as `(capability id, offset)` pairs, in list order.
/// Empty if the status register says there is no list. Stops after 48 entries
/// or at an invalid pointer, so a corrupt list cannot loop.
pub fn capabilities(config: &mut impl ConfigSpace, address: PciAddress) -> Vec<(u8, u8)> {
    let mut caps = Vec::new();
    if read_u16(config, address, offset::STATUS) & (1 << 4) == 0 {
        return caps;
    }
    let mut pointer = read_u8(config, address, offset::CAPABILITIES) & 0xfc;
    while pointer >= 0x40 && caps.len() < 48 {
        let dword = config.read_u32(address, pointer);
        caps.push((dword as u8, pointer));
        pointer = (dword >> 8) as u8 & 0xfc;
    }
    caps
}

/// A decoded base address register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    /// Memory-mapped region.
    Memory {
        /// Physical base address.
        base: u64,
        /// Size in bytes (a power of two).
        size: u64,
        /// Prefetchable (no read side effects).
        prefetchable: bool,
        /// 64-bit BAR (occupies two BAR slots).
        is_64bit: bool,
    },
    /// I/O port region.
    Io {
        /// First port.
        port: u32,
        /// Number of ports (a power of two).
        size: u32,
    },
}

impl Bar {
    /// Base address or first port.
    pub fn address(&self) -> u64 {
        match *self {
            Bar::Memory { base, .. } => base,
            Bar::Io { port, .. } => u64::from(port),
        }
    }

    /// Size in bytes or ports.
    pub fn size(&self) -> u64 {
        match *self {
            Bar::Memory { size, .. } => size,
            Bar::Io { size, .. } => u64::from(size),
        }
    }

    /// True for a memory BAR.
    pub fn is_memory(&self) -> bool {
        matches!(self, Bar::Memory { .. })
    }
}

impl fmt::Display for Bar {
    /// e.g. `mem 0xfebc0000 size 0x20000 32-bit` or `io 0xc000 size 0x40`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Bar::Memory {
                base,
                size,
                prefetchable,
                is_64bit,
            } => {
                write!(
                    f,
                    "mem {base:#x} size {size:#x} {}",
                    if is_64bit { "64-bit" } else { "32-bit" }
                )?;
                if prefetchable {
                    f.write_str(" prefetchable")?;
                }
                Ok(())
            }
            Bar::Io { port, size } => write!(f, "io {port:#x} size {size:#x}"),
        }
    }
}

/// One enumerated PCI function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciFunction {
    /// Where it lives.
    pub address: PciAddress,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Class code.
    pub class: u8,
    /// Subclass.
    pub subclass: u8,
    /// Programming interface.
    pub prog_if: u8,
    /// Revision ID.
    pub revision: u8,
    /// Header type without the multifunction bit (0 device, 1 PCI bridge,
    /// 2 CardBus bridge).
    pub header_type: u8,
    /// The multifunction bit of this function's header type.
    pub multifunction: bool,
    /// Interrupt line (the PIC IRQ firmware routed it to; 0xFF = none).
    pub interrupt_line: u8,
    /// Interrupt pin (0 none, 1 INTA# .. 4 INTD#).
    pub interrupt_pin: u8,
    /// BARs; a 64-bit BAR occupies slot `i` and slot `i + 1` is `None`.
    pub bars: [Option<Bar>; 6],
}

impl PciFunction {
    /// BAR `index`, or `None` if it is not implemented or `index >= 6`.
    pub fn bar(&self, index: usize) -> Option<Bar> {
        self.bars.get(index).copied().flatten()
    }

    /// Human-readable class name, see [`class_name`].
    pub fn class_name(&self) -> &'static str {
        class_name(self.class, self.subclass)
    }

    /// True for a PCI-to-PCI bridge header (type 1).
    pub fn is_bridge(&self) -> bool {
        self.header_type == 1
    }
}

impl fmt::Display for PciFunction {
    /// e.g. `00:03.0 8086:100e ethernet controller (02.00.00 rev 03) irq 11`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:04x}:{:04x} {} ({:02x}.{:02x}.{:02x} rev {:02x})",
            self.address,
            self.vendor_id,
            self.device_id,
            self.class_name(),
            self.class,
            self.subclass,
            self.prog_if,
            self.revision
        )?;
        if self.interrupt_pin != 0 {
            write!(f, " irq {}", self.interrupt_line)?;
        }
        Ok(())
    }
}

/// Human-readable name of a class/subclass pair: "host bridge", "ISA
/// bridge", "IDE controller", "ethernet controller", "VGA controller",
/// "audio device", "PCI bridge", "other bridge", ...; "other" when unknown.
pub fn class_name(class: u8, subclass: u8) -> &'static str {
    match (class, subclass) {
        (0x00, 0x01) => "VGA-compatible device",
        (0x00, _) => "unclassified device",
        (0x01, 0x00) => "SCSI controller",
        (0x01, 0x01) => "IDE controller",
        (0x01, 0x02) => "floppy controller",
        (0x01, 0x05) => "ATA controller",
        (0x01, 0x06) => "SATA controller",
        (0x01, 0x08) => "NVMe controller",
        (0x01, _) => "storage controller",
        (0x02, 0x00) => "ethernet controller",
        (0x02, _) => "network controller",
        (0x03, 0x00) => "VGA controller",
        (0x03, _) => "display controller",
        (0x04, 0x00) => "video device",
        (0x04, 0x01) | (0x04, 0x03) => "audio device",
        (0x04, _) => "multimedia controller",
        (0x05, _) => "memory controller",
        (0x06, 0x00) => "host bridge",
        (0x06, 0x01) => "ISA bridge",
        (0x06, 0x02) => "EISA bridge",
        (0x06, 0x04) => "PCI bridge",
        (0x06, 0x07) => "CardBus bridge",
        (0x06, 0x80) => "other bridge",
        (0x06, _) => "bridge",
        (0x07, 0x00) => "serial controller",
        (0x07, _) => "communication controller",
        (0x08, _) => "system peripheral",
        (0x09, _) => "input device",
        (0x0c, 0x03) => "USB controller",
        (0x0c, 0x05) => "SMBus controller",
        (0x0c, _) => "serial bus controller",
        _ => "other",
    }
}

const IO_MASK: u32 = !0x3;
const MEM_MASK: u32 = !0xf;

/// Size of a region from the read-back mask: its lowest set bit.
fn size_from_mask(mask: u64) -> Option<u64> {
    (mask != 0).then(|| 1u64 << mask.trailing_zeros())
}

/// Sizes the first `count` BARs by the standard procedure (see the crate
/// invariants). Decoding must already be disabled by the caller.
fn size_bars(config: &mut impl ConfigSpace, address: PciAddress, count: usize) -> [Option<Bar>; 6] {
    let mut bars = [None; 6];
    let mut i = 0;
    while i < count {
        let reg = offset::BAR0 + 4 * i as u8;
        let original = config.read_u32(address, reg);
        if original & 1 == 1 {
            config.write_u32(address, reg, u32::MAX);
            let readback = config.read_u32(address, reg);
            config.write_u32(address, reg, original);
            bars[i] = size_from_mask(u64::from(readback & IO_MASK)).map(|size| Bar::Io {
                port: original & IO_MASK,
                size: size as u32,
            });
            i += 1;
            continue;
        }
        let prefetchable = original & 0x8 != 0;
        let is_64bit = (original >> 1) & 0x3 == 0x2 && i + 1 < count;
        if is_64bit {
            let reg_high = reg + 4;
            let original_high = config.read_u32(address, reg_high);
            config.write_u32(address, reg, u32::MAX);
            config.write_u32(address, reg_high, u32::MAX);
            let low = config.read_u32(address, reg);
            let high = config.read_u32(address, reg_high);
            config.write_u32(address, reg, original);
            config.write_u32(address, reg_high, original_high);
            let mask = (u64::from(high) << 32) | u64::from(low & MEM_MASK);
            bars[i] = size_from_mask(mask).map(|size| Bar::Memory {
                base: (u64::from(original_high) << 32) | u64::from(original & MEM_MASK),
                size,
                prefetchable,
                is_64bit: true,
            });
            i += 2;
        } else {
            config.write_u32(address, reg, u32::MAX);
            let readback = config.read_u32(address, reg);
            config.write_u32(address, reg, original);
            bars[i] = size_from_mask(u64::from(readback & MEM_MASK)).map(|size| Bar::Memory {
                base: u64::from(original & MEM_MASK),
                size,
                prefetchable,
                is_64bit: false,
            });
            i += 1;
        }
    }
    bars
}

/// Reads one function's header and sizes its BARs.
fn probe(config: &mut impl ConfigSpace, address: PciAddress) -> PciFunction {
    let id = config.read_u32(address, offset::VENDOR_ID);
    let class = config.read_u32(address, offset::REVISION);
    let header = read_u8(config, address, offset::HEADER_TYPE);
    let interrupt = config.read_u32(address, offset::INTERRUPT_LINE);
    let header_type = header & 0x7f;
    let bar_count = match header_type {
        0 => 6,
        1 => 2,
        _ => 0,
    };
    let bars = if bar_count > 0 {
        let command = read_command(config, address);
        write_command(
            config,
            address,
            command - (Command::IO_SPACE | Command::MEMORY_SPACE),
        );
        let bars = size_bars(config, address, bar_count);
        write_command(config, address, command);
        bars
    } else {
        [None; 6]
    };
    PciFunction {
        address,
        vendor_id: id as u16,
        device_id: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        revision: class as u8,
        header_type,
        multifunction: header & 0x80 != 0,
        interrupt_line: interrupt as u8,
        interrupt_pin: (interrupt >> 8) as u8,
        bars,
    }
}

fn present(config: &mut impl ConfigSpace, address: PciAddress) -> bool {
    read_u16(config, address, offset::VENDOR_ID) != 0xffff
}

struct Scan<'c, C> {
    config: &'c mut C,
    visited: [u64; 4],
    found: Vec<PciFunction>,
}

impl<C: ConfigSpace> Scan<'_, C> {
    fn bus(&mut self, bus: u8) {
        let (word, bit) = (bus as usize / 64, bus % 64);
        if self.visited[word] & (1 << bit) != 0 {
            return;
        }
        self.visited[word] |= 1 << bit;
        for device in 0..32 {
            self.device(bus, device);
        }
    }

    fn device(&mut self, bus: u8, device: u8) {
        let address = PciAddress::new(bus, device, 0);
        if !present(self.config, address) {
            return;
        }
        let first = self.function(address);
        if first {
            for function in 1..8 {
                let address = PciAddress::new(bus, device, function);
                if present(self.config, address) {
                    self.function(address);
                }
            }
        }
    }

    /// Probes one function, follows it if it is a bridge; returns its
    /// multifunction bit.
    fn function(&mut self, address: PciAddress) -> bool {
        let function = probe(self.config, address);
        let multifunction = function.multifunction;
        let secondary = function
            .is_bridge()
            .then(|| read_u8(self.config, address, offset::SECONDARY_BUS));
        self.found.push(function);
        if let Some(secondary) = secondary {
            self.bus(secondary);
        }
        multifunction
    }
}

/// Enumerates all functions: scans bus 0, follows PCI-to-PCI bridges (header
/// type 1, secondary bus at 0x19) recursively, checks functions 1-7 of
/// multifunction devices, skips vendor 0xFFFF, and sizes the BARs of type-0
/// functions (6 BARs) and bridges (2 BARs). Sorted by address.
pub fn enumerate(config: &mut impl ConfigSpace) -> Vec<PciFunction> {
    let mut scan = Scan {
        config,
        visited: [0; 4],
        found: Vec::new(),
    };
    scan.bus(0);
    let mut found = scan.found;
    found.sort_by_key(|f| f.address);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::string::{String, ToString};

    /// One emulated function: a 256-byte register file plus per-BAR writable
    /// masks.
    #[derive(Clone, Debug, PartialEq)]
    struct FakeFunction {
        regs: [u32; 64],
        bar_masks: [u32; 6],
    }

    impl FakeFunction {
        fn new(vendor: u16, device: u16, class: u8, subclass: u8, prog_if: u8, header: u8) -> Self {
            let mut regs = [0; 64];
            regs[0] = u32::from(vendor) | (u32::from(device) << 16);
            regs[2] =
                (u32::from(class) << 24) | (u32::from(subclass) << 16) | (u32::from(prog_if) << 8);
            regs[3] = u32::from(header) << 16;
            Self {
                regs,
                bar_masks: [0; 6],
            }
        }
        fn revision(mut self, rev: u8) -> Self {
            self.regs[2] = (self.regs[2] & !0xff) | u32::from(rev);
            self
        }
        fn irq(mut self, line: u8, pin: u8) -> Self {
            self.regs[15] = u32::from(line) | (u32::from(pin) << 8);
            self
        }
        fn command(mut self, command: u16, status: u16) -> Self {
            self.regs[1] = u32::from(command) | (u32::from(status) << 16);
            self
        }
        fn mem32(mut self, i: usize, base: u32, size: u32, prefetch: bool) -> Self {
            assert!(size.is_power_of_two() && size >= 16 && base.is_multiple_of(size));
            self.bar_masks[i] = !(size - 1) & MEM_MASK;
            self.regs[4 + i] = base | if prefetch { 8 } else { 0 };
            self
        }
        fn mem64(mut self, i: usize, base: u64, size: u64, prefetch: bool) -> Self {
            assert!(size.is_power_of_two() && size >= 16 && base.is_multiple_of(size));
            let mask = !(size - 1);
            self.bar_masks[i] = mask as u32 & MEM_MASK;
            self.bar_masks[i + 1] = (mask >> 32) as u32;
            self.regs[4 + i] = base as u32 | 0x4 | if prefetch { 8 } else { 0 };
            self.regs[4 + i + 1] = (base >> 32) as u32;
            self
        }
        fn io(mut self, i: usize, port: u32, size: u32, decode16: bool) -> Self {
            assert!(size.is_power_of_two() && size >= 4 && port.is_multiple_of(size));
            let mut mask = !(size - 1) & IO_MASK;
            if decode16 {
                mask &= 0xffff;
            }
            self.bar_masks[i] = mask;
            self.regs[4 + i] = port | 1;
            self
        }
        fn buses(mut self, primary: u8, secondary: u8, subordinate: u8) -> Self {
            self.regs[6] =
                u32::from(primary) | (u32::from(secondary) << 8) | (u32::from(subordinate) << 16);
            self
        }
        fn header_type(&self) -> u8 {
            (self.regs[3] >> 16) as u8 & 0x7f
        }
    }

    fn bridge(secondary: u8) -> FakeFunction {
        FakeFunction::new(0x1b36, 0x0001, 0x06, 0x04, 0, 0x01).buses(0, secondary, secondary)
    }

    #[derive(Default)]
    struct FakeConfig {
        functions: BTreeMap<PciAddress, FakeFunction>,
        /// Problems seen (all-ones written with decoding on, misaligned access).
        violations: Vec<String>,
        reads: usize,
    }

    const COMMAND_WRITABLE: u32 = 0x0000_0747;
    const STATUS_RW1C: u32 = 0xf900;

    impl ConfigSpace for FakeConfig {
        fn read_u32(&mut self, address: PciAddress, offset: u8) -> u32 {
            self.reads += 1;
            if offset & 3 != 0 {
                self.violations
                    .push(std::format!("misaligned read {address} {offset:#x}"));
            }
            self.functions
                .get(&address)
                .map_or(u32::MAX, |f| f.regs[offset as usize / 4])
        }

        fn write_u32(&mut self, address: PciAddress, offset: u8, value: u32) {
            if offset & 3 != 0 {
                self.violations
                    .push(std::format!("misaligned write {address} {offset:#x}"));
            }
            let Some(f) = self.functions.get_mut(&address) else {
                return;
            };
            let bar_count = match f.header_type() {
                0 => 6,
                1 => 2,
                _ => 0,
            };
            let index = offset as usize / 4;
            match index {
                1 => {
                    let status = (f.regs[1] >> 16) & !((value >> 16) & STATUS_RW1C);
                    let command = (f.regs[1] & !COMMAND_WRITABLE) | (value & COMMAND_WRITABLE);
                    f.regs[1] = (status << 16) | (command & 0xffff);
                }
                4..=9 if index - 4 < bar_count => {
                    let decoding = f.regs[1] & 0x3 != 0;
                    if decoding && value == u32::MAX {
                        self.violations.push(std::format!(
                            "{address}: BAR {offset:#x} sized with decoding on"
                        ));
                    }
                    let mask = f.bar_masks[index - 4];
                    f.regs[index] = (f.regs[index] & !mask) | (value & mask);
                }
                6 if f.header_type() == 1 => {
                    f.regs[6] = (f.regs[6] & 0xff00_0000) | (value & 0x00ff_ffff);
                }
                15 => f.regs[15] = (f.regs[15] & !0xff) | (value & 0xff),
                _ => {}
            }
        }
    }

    impl FakeConfig {
        fn with(mut self, bus: u8, device: u8, function: u8, f: FakeFunction) -> Self {
            self.functions
                .insert(PciAddress::new(bus, device, function), f);
            self
        }
        fn snapshot(&self) -> BTreeMap<PciAddress, FakeFunction> {
            self.functions.clone()
        }
    }

    /// QEMU's `pc` (i440FX + PIIX3/4) machine with std VGA and e1000.
    fn qemu_pc() -> FakeConfig {
        FakeConfig::default()
            .with(
                0,
                0,
                0,
                FakeFunction::new(0x8086, 0x1237, 0x06, 0x00, 0, 0x00)
                    .revision(2)
                    .command(0x0103, 0x0000),
            )
            .with(
                0,
                1,
                0,
                FakeFunction::new(0x8086, 0x7000, 0x06, 0x01, 0, 0x80).command(0x0103, 0x0200),
            )
            .with(
                0,
                1,
                1,
                FakeFunction::new(0x8086, 0x7010, 0x01, 0x01, 0x80, 0x00)
                    .command(0x0105, 0x0280)
                    .io(4, 0xc040, 16, true),
            )
            .with(
                0,
                1,
                3,
                FakeFunction::new(0x8086, 0x7113, 0x06, 0x80, 0, 0x00)
                    .revision(3)
                    .irq(9, 1)
                    .command(0x0101, 0x0280),
            )
            .with(
                0,
                2,
                0,
                FakeFunction::new(0x1234, 0x1111, 0x03, 0x00, 0, 0x00)
                    .revision(2)
                    .command(0x0103, 0x0000)
                    .mem32(0, 0xfd00_0000, 16 << 20, true) // QEMU default vgamem_mb=16
                    .mem32(2, 0xfebf_0000, 4096, false),
            )
            .with(
                0,
                3,
                0,
                FakeFunction::new(0x8086, 0x100e, 0x02, 0x00, 0, 0x00)
                    .revision(3)
                    .irq(11, 1)
                    .command(0x0107, 0x2010) // received master abort (RW1C) + capabilities
                    .mem32(0, 0xfebc_0000, 128 << 10, false)
                    .io(1, 0xc000, 64, false),
            )
    }

    #[test]
    fn address_display_and_mechanism1() {
        assert_eq!(PciAddress::new(0, 3, 0).to_string(), "00:03.0");
        assert_eq!(PciAddress::new(0xab, 0x1f, 7).to_string(), "ab:1f.7");
        assert_eq!(mechanism1_address(PciAddress::new(0, 0, 0), 0), 0x8000_0000);
        assert_eq!(
            mechanism1_address(PciAddress::new(0, 3, 0), 0x10),
            0x8000_1810
        );
        assert_eq!(
            mechanism1_address(PciAddress::new(1, 2, 3), 0x3d),
            0x8001_133c
        );
        assert_eq!(
            mechanism1_address(PciAddress::new(0xff, 31, 7), 0xff),
            0x80ff_fffc
        );
        // Out-of-range device/function numbers cannot spill into other fields.
        assert_eq!(
            mechanism1_address(PciAddress::new(0, 0xff, 0xff), 0),
            mechanism1_address(PciAddress::new(0, 31, 7), 0)
        );
        assert!(PciAddress::new(0, 3, 0) < PciAddress::new(0, 3, 1));
        assert!(PciAddress::new(0, 31, 7) < PciAddress::new(1, 0, 0));
    }

    #[test]
    fn narrow_reads() {
        let mut c = qemu_pc();
        let a = PciAddress::new(0, 3, 0);
        assert_eq!(read_u16(&mut c, a, offset::VENDOR_ID), 0x8086);
        assert_eq!(read_u16(&mut c, a, offset::DEVICE_ID), 0x100e);
        assert_eq!(read_u8(&mut c, a, offset::CLASS), 0x02);
        assert_eq!(read_u8(&mut c, a, offset::REVISION), 0x03);
        assert_eq!(read_u8(&mut c, a, offset::INTERRUPT_PIN), 1);
        assert_eq!(read_u16(&mut c, PciAddress::new(0, 9, 0), 0), 0xffff);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
    }

    #[test]
    fn qemu_pc_layout() {
        let mut c = qemu_pc();
        let before = c.snapshot();
        let found = enumerate(&mut c);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        assert_eq!(c.snapshot(), before, "every register restored");

        let summary: Vec<(String, u16, u16, &str)> = found
            .iter()
            .map(|f| {
                (
                    f.address.to_string(),
                    f.vendor_id,
                    f.device_id,
                    f.class_name(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("00:00.0".into(), 0x8086, 0x1237, "host bridge"),
                ("00:01.0".into(), 0x8086, 0x7000, "ISA bridge"),
                ("00:01.1".into(), 0x8086, 0x7010, "IDE controller"),
                ("00:01.3".into(), 0x8086, 0x7113, "other bridge"),
                ("00:02.0".into(), 0x1234, 0x1111, "VGA controller"),
                ("00:03.0".into(), 0x8086, 0x100e, "ethernet controller"),
            ]
        );
        let isa = &found[1];
        assert!(isa.multifunction);
        assert_eq!(isa.header_type, 0);
        assert!(!found[0].multifunction);

        let ide = &found[2];
        assert_eq!(ide.prog_if, 0x80);
        assert_eq!(
            ide.bar(4),
            Some(Bar::Io {
                port: 0xc040,
                size: 16
            })
        );
        assert_eq!(ide.bars.iter().flatten().count(), 1);

        let acpi = &found[3];
        assert_eq!(
            (acpi.revision, acpi.interrupt_line, acpi.interrupt_pin),
            (3, 9, 1)
        );
        assert_eq!(acpi.bars, [None; 6]);

        let vga = &found[4];
        assert_eq!(
            vga.bar(0),
            Some(Bar::Memory {
                base: 0xfd00_0000,
                size: 16 << 20,
                prefetchable: true,
                is_64bit: false
            })
        );
        assert_eq!(vga.bar(1), None);
        assert_eq!(
            vga.bar(2).map(|b| (b.address(), b.size())),
            Some((0xfebf_0000, 4096))
        );

        let e1000 = &found[5];
        assert_eq!(
            e1000.bar(0),
            Some(Bar::Memory {
                base: 0xfebc_0000,
                size: 128 << 10,
                prefetchable: false,
                is_64bit: false
            })
        );
        assert_eq!(
            e1000.bar(1),
            Some(Bar::Io {
                port: 0xc000,
                size: 64
            })
        );
        assert_eq!(e1000.bar(2), None);
        assert_eq!(e1000.bar(6), None);
        assert_eq!((e1000.interrupt_line, e1000.interrupt_pin), (11, 1));
        assert_eq!(
            e1000.to_string(),
            "00:03.0 8086:100e ethernet controller (02.00.00 rev 03) irq 11"
        );
        assert_eq!(
            e1000.bar(0).unwrap().to_string(),
            "mem 0xfebc0000 size 0x20000 32-bit"
        );
        assert_eq!(e1000.bar(1).unwrap().to_string(), "io 0xc000 size 0x40");
        assert_eq!(
            vga.bar(0).unwrap().to_string(),
            "mem 0xfd000000 size 0x1000000 32-bit prefetchable"
        );
    }

    #[test]
    fn bridges_and_multifunction() {
        let mut c = FakeConfig::default()
            .with(0, 0, 0, FakeFunction::new(0x8086, 0x29c0, 0x06, 0x00, 0, 0))
            // Bridge to bus 1, with a 64-bit BAR spanning both bridge BARs.
            .with(
                0,
                4,
                0,
                bridge(1)
                    .command(0x0007, 0)
                    .mem64(0, 0xfe00_0000, 0x1000, false),
            )
            // Multifunction device with gaps: functions 0, 2, 7.
            .with(
                0,
                5,
                0,
                FakeFunction::new(0x1af4, 0x1000, 0x02, 0x00, 0, 0x80),
            )
            .with(
                0,
                5,
                2,
                FakeFunction::new(0x1af4, 0x1001, 0x01, 0x00, 0, 0x00),
            )
            .with(
                0,
                5,
                7,
                FakeFunction::new(0x1af4, 0x1002, 0x04, 0x01, 0, 0x00),
            )
            // Single-function device that (mis)answers on function 1 too.
            .with(
                0,
                6,
                0,
                FakeFunction::new(0x10ec, 0x8139, 0x02, 0x00, 0, 0x00),
            )
            .with(
                0,
                6,
                1,
                FakeFunction::new(0x10ec, 0x8139, 0x02, 0x00, 0, 0x00),
            )
            // Behind the bridge: a device with a >4 GiB 64-bit BAR and a 16-bit I/O BAR.
            .with(
                1,
                0,
                0,
                FakeFunction::new(0x8086, 0x10d3, 0x02, 0x00, 0, 0x00)
                    .command(0x0406, 0)
                    .mem64(0, 0x8_0000_0000, 8 << 30, true)
                    .io(2, 0xe000, 32, true)
                    .mem64(4, 0xfebf_0000, 0x4000, false),
            )
            // Nested bridge 01:1f.0 -> bus 2, and a bridge pointing back to bus 0 (loop).
            .with(1, 31, 0, bridge(2))
            .with(
                2,
                0,
                0,
                FakeFunction::new(0x1b36, 0x000d, 0x0c, 0x03, 0x30, 0),
            )
            .with(2, 1, 0, bridge(0));
        let before = c.snapshot();
        let found = enumerate(&mut c);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        assert_eq!(c.snapshot(), before);
        let addrs: Vec<String> = found.iter().map(|f| f.address.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "00:00.0", "00:04.0", "00:05.0", "00:05.2", "00:05.7", "00:06.0", "01:00.0",
                "01:1f.0", "02:00.0", "02:01.0"
            ]
        );
        let br = &found[1];
        assert!(br.is_bridge());
        assert_eq!(br.class_name(), "PCI bridge");
        assert_eq!(
            br.bars,
            [
                Some(Bar::Memory {
                    base: 0xfe00_0000,
                    size: 0x1000,
                    prefetchable: false,
                    is_64bit: true
                }),
                None,
                None,
                None,
                None,
                None
            ]
        );
        let nic = &found[6];
        assert_eq!(
            nic.bar(0),
            Some(Bar::Memory {
                base: 0x8_0000_0000,
                size: 8 << 30,
                prefetchable: true,
                is_64bit: true
            })
        );
        assert_eq!(nic.bar(1), None, "upper half of the 64-bit BAR");
        assert_eq!(
            nic.bar(2),
            Some(Bar::Io {
                port: 0xe000,
                size: 32
            })
        );
        assert_eq!(
            nic.bar(4),
            Some(Bar::Memory {
                base: 0xfebf_0000,
                size: 0x4000,
                prefetchable: false,
                is_64bit: true
            })
        );
        assert_eq!(nic.bar(5), None);
        assert_eq!(found[8].class_name(), "USB controller");
        assert_eq!(found[4].class_name(), "audio device");
    }

    #[test]
    fn empty_bus() {
        let mut c = FakeConfig::default();
        assert!(enumerate(&mut c).is_empty());
        // 32 devices on bus 0, one vendor-id read each.
        assert_eq!(c.reads, 32);
    }

    #[test]
    fn command_helpers() {
        let mut c = qemu_pc();
        let a = PciAddress::new(0, 3, 0);
        assert_eq!(
            read_command(&mut c, a),
            Command::IO_SPACE | Command::MEMORY_SPACE | Command::BUS_MASTER | Command::SERR
        );
        let cmd = disable_bus_master(&mut c, a);
        assert!(!cmd.contains(Command::BUS_MASTER));
        assert_eq!(read_command(&mut c, a), cmd);
        assert!(cmd.contains(Command::IO_SPACE | Command::SERR));
        let cmd = enable_bus_master(&mut c, a);
        assert!(cmd.contains(Command::BUS_MASTER | Command::MEMORY_SPACE | Command::IO_SPACE));
        let cmd = update_command(&mut c, a, Command::INTERRUPT_DISABLE, Command::IO_SPACE);
        assert_eq!(read_command(&mut c, a), cmd);
        assert!(cmd.contains(Command::INTERRUPT_DISABLE) && !cmd.contains(Command::IO_SPACE));
        // The RW1C "received master abort" status bit survived all of that.
        assert_eq!(read_u16(&mut c, a, offset::STATUS), 0x2010);
        // And the fake really does implement RW1C, so the check above can fail.
        c.write_u32(a, offset::COMMAND, 0x2000_0000);
        assert_eq!(read_u16(&mut c, a, offset::STATUS), 0x0010);
    }

    #[test]
    fn sizing_disables_decoding() {
        // The fake flags any all-ones BAR write while decoding is on; check that
        // it would.
        let mut c = qemu_pc();
        let a = PciAddress::new(0, 3, 0);
        c.write_u32(a, offset::BAR0, u32::MAX);
        assert_eq!(c.violations.len(), 1);
        // enumerate() itself never triggers it, even with decoding enabled.
        let mut c = qemu_pc();
        enumerate(&mut c);
        assert!(c.violations.is_empty());
    }

    #[test]
    fn capability_list() {
        let mut c = qemu_pc();
        let a = PciAddress::new(0, 3, 0);
        {
            let f = c.functions.get_mut(&a).unwrap();
            f.regs[0x34 / 4] = 0xdc;
            f.regs[0xdc / 4] = 0x0022_e401; // PM, next 0xe4
            f.regs[0xe4 / 4] = 0x0000_0007; // PCI-X, end
        }
        assert_eq!(capabilities(&mut c, a), [(0x01, 0xdc), (0x07, 0xe4)]);
        // No capabilities bit -> empty.
        assert!(capabilities(&mut c, PciAddress::new(0, 2, 0)).is_empty());
        // A loop terminates.
        c.functions.get_mut(&a).unwrap().regs[0xe4 / 4] = 0xdc07;
        assert_eq!(capabilities(&mut c, a).len(), 48);
    }

    #[test]
    fn class_names() {
        assert_eq!(class_name(0x06, 0x00), "host bridge");
        assert_eq!(class_name(0x06, 0x01), "ISA bridge");
        assert_eq!(class_name(0x01, 0x01), "IDE controller");
        assert_eq!(class_name(0x02, 0x00), "ethernet controller");
        assert_eq!(class_name(0x03, 0x00), "VGA controller");
        assert_eq!(class_name(0x04, 0x01), "audio device");
        assert_eq!(class_name(0x06, 0x04), "PCI bridge");
        assert_eq!(class_name(0x06, 0x80), "other bridge");
        assert_eq!(class_name(0xff, 0x00), "other");
        assert_eq!(class_name(0x12, 0x34), "other");
    }

    use deterministic_rng::XorShift;

    /// Random functions with random BAR layouts: every BAR is decoded to what
    /// was configured and every register is restored.
    #[test]
    fn random_bar_layouts() {
        for seed in 1..=300u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut f = FakeFunction::new(0x1234, seed as u16, 0x02, 0x00, 0, 0)
                .command(rng.below(0x800) as u16, rng.below(0x10000) as u16);
            let mut expected = [None; 6];
            let mut i = 0;
            while i < 6 {
                match rng.below(4) {
                    0 => i += 1,
                    1 => {
                        let size = 1u32 << (4 + rng.below(28));
                        let base = (rng.next() as u32) & !(size - 1);
                        let prefetchable = rng.below(2) == 1;
                        f = f.mem32(i, base, size, prefetchable);
                        expected[i] = Some(Bar::Memory {
                            base: u64::from(base),
                            size: u64::from(size),
                            prefetchable,
                            is_64bit: false,
                        });
                        i += 1;
                    }
                    2 if i < 5 => {
                        let size = 1u64 << (4 + rng.below(40));
                        let base = rng.next() & !(size - 1);
                        let prefetchable = rng.below(2) == 1;
                        f = f.mem64(i, base, size, prefetchable);
                        expected[i] = Some(Bar::Memory {
                            base,
                            size,
                            prefetchable,
                            is_64bit: true,
                        });
                        i += 2;
                    }
                    _ => {
                        let size = 1u32 << (2 + rng.below(6));
                        let decode16 = rng.below(2) == 1;
                        let port = (rng.next() as u32 & if decode16 { 0xffff } else { u32::MAX })
                            & !(size - 1)
                            & IO_MASK;
                        f = f.io(i, port, size, decode16);
                        expected[i] = Some(Bar::Io { port, size });
                        i += 1;
                    }
                }
            }
            let bus = rng.below(2) as u8;
            let device = rng.below(32) as u8;
            let mut c = FakeConfig::default().with(bus, device, 0, f);
            if bus == 1 {
                c = c.with(0, (device + 1) % 32, 0, bridge(1));
            }
            let before = c.snapshot();
            let found = enumerate(&mut c);
            assert!(c.violations.is_empty(), "seed {seed}: {:?}", c.violations);
            assert_eq!(c.snapshot(), before, "seed {seed}");
            let func = found
                .iter()
                .find(|x| x.address == PciAddress::new(bus, device, 0))
                .unwrap_or_else(|| panic!("seed {seed}: not found"));
            assert_eq!(func.bars, expected, "seed {seed}");
        }
    }

    #[test]
    fn config_space_through_mut_ref() {
        let mut c = qemu_pc();
        let mut r = &mut c;
        assert_eq!(enumerate(&mut r).len(), 6);
    }
}
