//! `pcnet`: a driver for the AMD PCnet-PCI II (Am79C970A) Ethernet
//! controller, QEMU's `-device pcnet` (PCI 1022:2000), isolated like every
//! extension. It registers one network device, `pcnet-0`.
//!
//! At init it claims the PCI function, reserves its 32 I/O ports (BAR0),
//! resets the controller, reads the station (MAC) address from the address
//! PROM, switches to double-word I/O and software style 2 (32-bit
//! structures), builds the initialisation block and the receive and
//! transmit rings in one DMA buffer, turns bus mastering on, has the
//! controller read the block (CSR0 INIT, then IDON), requests the
//! function's interrupt line and registers `pcnet-0`. `network-open`
//! starts the controller (STRT, IENA); `network-poll` hands received frames
//! to the kernel (`deliver-packet`, or `deliver-packets` in batches) and
//! reclaims sent ones; `network-transmit` and `network-transmit-batch` fill
//! the transmit ring. The register and descriptor encodings, the ring
//! arithmetic and the DMA layout are in the host-tested crate
//! `pcnet-registers` (`extensions/pcnet/registers`); this file only does
//! the accesses.
//!
//! Invariants:
//! - No `unsafe`.
//! - Every register access (a RAP write, then an RDP or BDP access) and
//!   every ring update happens under the `hardware` lock, so accesses of
//!   two threads never interleave. The `interrupt` entry, which runs in
//!   interrupt context, possibly while a thread holds that lock between a
//!   RAP write and an RDP access, touches neither the lock nor a register:
//!   it only records that an interrupt is pending.
//! - The line is left masked (`keep-masked`) only while the controller may
//!   drive it (IENA on); the next `network-poll` (or `network-stop`)
//!   clears CSR0's causes, then acknowledges the interrupt, which unmasks
//!   the line.
//! - The controller is reset before bus mastering is turned on, and every
//!   instance builds fresh rings: a previous instance's rings (freed by the
//!   kernel) are never reached by DMA.
//! - The driver writes a descriptor's OWN word last, and reads a
//!   descriptor's other words only while the controller does not own it.
//! - Counters are atomics, outside the lock.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use extension_api::abi::frame_batch::{self, FrameBatchWriter};
use extension_api::kernel::{
    self, BarKind, DeviceClass, DeviceHandle, InterruptHandle, NetworkPollReply,
    NetworkStatisticsReply,
};
use extension_api::{DmaBuffer, Extension, InitContext, IoPorts, Level, PciDevice, Status};
use pcnet_registers::{
    DmaLayout, InitializationBlock, ReceiveRing, Received, TransmitRing, Transmitted, bcr, csr,
    frame, interrupt_masks, link_status, port, software_style, status,
};

/// AMD's PCI vendor id.
const VENDOR_AMD: u16 = 0x1022;
/// The PCnet-PCI family's device id (the Am79C970A among them).
const DEVICE_PCNET_PCI: u16 = 0x2000;
/// The network device this driver registers.
const DEVICE_NAME: &str = "pcnet-0";
/// Receive descriptors (and buffers).
const RECEIVE_RING_LENGTH: usize = 32;
/// Transmit descriptors (and buffers).
const TRANSMIT_RING_LENGTH: usize = 32;
/// Bytes per buffer: a whole frame and its check sequence, 16-byte aligned.
const BUFFER_BYTES: usize = 1536;
/// PCI configuration: the command register, and its I/O-space enable bit.
const PCI_COMMAND: u8 = 0x04;
const PCI_COMMAND_IO_SPACE: u16 = 1 << 0;
/// Reads of CSR0 while waiting for IDON (1 ms apart).
const INITIALIZATION_ATTEMPTS: u32 = 100;
/// Attempts at the hardware lock, with a yield between two (the holder
/// is a preempted thread, which the yield lets run).
const LOCK_ATTEMPTS: u32 = 1000;
/// The largest batch `deliver-packets` takes.
const DELIVERY_BATCH_BYTES: usize = 4096;
/// Zeros to pad short frames with.
const PADDING: [u8; frame::MINIMUM_BYTES] = [0; frame::MINIMUM_BYTES];

/// Counters of the interface (`network-statistics`).
#[derive(Default)]
struct Counters {
    received_packets: AtomicU64,
    received_bytes: AtomicU64,
    sent_packets: AtomicU64,
    sent_bytes: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }
}

/// The controller's registers in double-word I/O mode. Remembers which
/// register the RAP selects, so repeated accesses to one register skip the
/// select (each port access is a crossing into the kernel).
struct Registers {
    ports: IoPorts,
    selected: Option<u32>,
}

impl Registers {
    fn select(&mut self, register: u32) -> Result<(), Status> {
        if self.selected != Some(register) {
            // Unknown until the write is known to have happened.
            self.selected = None;
            self.ports
                .write_u32(port::double_word::REGISTER_ADDRESS, register)?;
            self.selected = Some(register);
        }
        Ok(())
    }

    fn read_csr(&mut self, register: u32) -> Result<u16, Status> {
        self.select(register)?;
        Ok(self.ports.read_u32(port::double_word::REGISTER_DATA)? as u16)
    }

    fn write_csr(&mut self, register: u32, value: u16) -> Result<(), Status> {
        self.select(register)?;
        self.ports
            .write_u32(port::double_word::REGISTER_DATA, u32::from(value))
    }

    fn read_bcr(&mut self, register: u32) -> Result<u16, Status> {
        self.select(register)?;
        Ok(self
            .ports
            .read_u32(port::double_word::BUS_CONFIGURATION_DATA)? as u16)
    }

    fn write_bcr(&mut self, register: u32, value: u16) -> Result<(), Status> {
        self.select(register)?;
        self.ports
            .write_u32(port::double_word::BUS_CONFIGURATION_DATA, u32::from(value))
    }
}

/// Resets the controller, whichever I/O mode a previous instance left it
/// in, checks it stopped, reads the station address from the address PROM
/// (byte reads, allowed in word mode only) and switches to double-word
/// I/O.
fn reset_and_read_station_address(ports: &IoPorts) -> Result<[u8; 6], Status> {
    // In double-word mode the 32-bit read of its reset port resets (and
    // leaves double-word mode); in word mode that read does nothing and the
    // 16-bit read resets.
    ports.read_u32(port::double_word::RESET)?;
    ports.read_u16(port::word::RESET)?;
    ports.write_u16(port::word::REGISTER_ADDRESS, csr::STATUS as u16)?;
    let after_reset = ports.read_u16(port::word::REGISTER_DATA)?;
    if after_reset != status::STOP {
        extension_api::log(
            Level::Error,
            format_args!("CSR0 reads {after_reset:#06x} after a reset, not STOP"),
        );
        return Err(Status::NoResources);
    }
    let mut address = [0u8; 6];
    for (offset, byte) in (port::ADDRESS_PROM..).zip(address.iter_mut()) {
        *byte = ports.read_u8(offset)?;
    }
    // A 32-bit write to the RDP enters double-word mode (it writes CSR0 =
    // 0, which changes nothing in a stopped controller).
    ports.write_u32(port::double_word::REGISTER_DATA, 0)?;
    Ok(address)
}

/// Everything behind the lock: the registers, the DMA memory and the
/// rings' state.
struct Hardware {
    registers: Registers,
    pci: PciDevice,
    memory: DmaBuffer,
    layout: DmaLayout,
    receive: ReceiveRing,
    transmit: TransmitRing,
    station_address: [u8; 6],
    /// Has the controller an interrupt line (else it is only polled)?
    has_interrupt_line: bool,
    /// Started (STRT) and not stopped since.
    running: bool,
    /// Stopped since the last INIT: open must rebuild the rings first.
    needs_initialization: bool,
}

impl Hardware {
    /// The device's (32-bit) address of byte `offset` of the DMA memory.
    fn device_address(&self, offset: usize) -> Result<u32, Status> {
        pcnet_registers::device_address(self.memory.physical_address(offset)?)
            .ok_or(Status::NoResources)
    }

    /// Writes a descriptor, word 1 (the one with OWN) last.
    fn write_descriptor(&self, offset: usize, words: [u32; 4]) -> Result<(), Status> {
        for word in [0, 2, 3, 1] {
            self.memory.write_u32(offset + 4 * word, words[word])?;
        }
        Ok(())
    }

    /// Hands receive descriptor `index` (back) to the controller.
    fn give_receive_descriptor(&self, index: usize) -> Result<(), Status> {
        let buffer = self.device_address(self.layout.receive_buffer(index))?;
        let words =
            pcnet_registers::receive_descriptor(buffer, BUFFER_BYTES).ok_or(Status::Refused)?;
        self.write_descriptor(self.layout.receive_descriptor(index), words)
    }

    /// Builds fresh rings (every receive descriptor the controller's,
    /// every transmit descriptor the driver's) and the initialisation
    /// block. The controller must be stopped.
    fn build_rings(&mut self) -> Result<(), Status> {
        for index in 0..RECEIVE_RING_LENGTH {
            self.give_receive_descriptor(index)?;
        }
        for index in 0..TRANSMIT_RING_LENGTH {
            self.write_descriptor(self.layout.transmit_descriptor(index), [0; 4])?;
        }
        self.receive.reset();
        self.transmit.reset();
        let block = InitializationBlock {
            mode: 0,
            receive_ring_length: RECEIVE_RING_LENGTH,
            transmit_ring_length: TRANSMIT_RING_LENGTH,
            station_address: self.station_address,
            logical_address_filter: 0,
            receive_ring: self.device_address(self.layout.receive_ring())?,
            transmit_ring: self.device_address(self.layout.transmit_ring())?,
        };
        let words = block.encode().ok_or(Status::Refused)?;
        for (index, word) in words.into_iter().enumerate() {
            self.memory
                .write_u32(self.layout.initialization_block() + 4 * index, word)?;
        }
        Ok(())
    }

    /// Stops the controller, builds fresh rings and has the controller
    /// read the initialisation block (INIT, wait for IDON, clear it).
    /// Frames in flight are lost (counted as errors).
    fn initialize(&mut self, counters: &Counters) -> Result<(), Status> {
        self.stop()?;
        Counters::add(&counters.errors, self.transmit.in_flight() as u64);
        self.build_rings()?;
        let block = self.device_address(self.layout.initialization_block())?;
        self.registers
            .write_csr(csr::INITIALIZATION_ADDRESS_LOW, block as u16)?;
        self.registers
            .write_csr(csr::INITIALIZATION_ADDRESS_HIGH, (block >> 16) as u16)?;
        self.registers.write_csr(csr::STATUS, status::INIT)?;
        let registers = &mut self.registers;
        let done = pcnet_registers::wait_until(
            INITIALIZATION_ATTEMPTS,
            || registers.read_csr(csr::STATUS),
            |value| value & status::INITIALIZATION_DONE != 0,
            || {
                let _ = kernel::sleep_ms(1);
            },
        )?;
        let Some(value) = done else {
            extension_api::log(
                Level::Error,
                format_args!("the controller did not read its initialisation block"),
            );
            return Err(Status::NoResources);
        };
        self.registers
            .write_csr(csr::STATUS, status::acknowledgement(value, false))?;
        self.needs_initialization = false;
        Ok(())
    }

    /// Is IENA on (or to be kept on by a CSR0 write)?
    fn interrupts_enabled(&self) -> bool {
        self.running && self.has_interrupt_line
    }

    /// Starts receiving and transmitting (STRT), with interrupts if the
    /// controller has a line.
    fn start(&mut self) -> Result<(), Status> {
        self.running = true;
        let enable = if self.interrupts_enabled() {
            status::INTERRUPT_ENABLE
        } else {
            0
        };
        let started = self
            .registers
            .write_csr(csr::STATUS, status::START | enable);
        self.running = started.is_ok();
        started
    }

    /// Stops all activity (STOP also clears IENA and every cause).
    fn stop(&mut self) -> Result<(), Status> {
        self.running = false;
        self.needs_initialization = true;
        self.registers.write_csr(csr::STATUS, status::STOP)
    }

    /// Clears the interrupt causes CSR0 latched (keeping IENA as it is)
    /// and counts the errors among them.
    fn clear_interrupt_causes(&mut self, counters: &Counters) -> Result<(), Status> {
        let value = self.registers.read_csr(csr::STATUS)?;
        let acknowledgement = status::acknowledgement(value, self.interrupts_enabled());
        self.registers.write_csr(csr::STATUS, acknowledgement)?;
        Counters::add(&counters.errors, u64::from(status::error_count(value)));
        Ok(())
    }

    /// Is the link up (BCR4)?
    fn link_is_up(&mut self) -> Result<bool, Status> {
        let value = self.registers.read_bcr(bcr::LINK_STATUS)?;
        Ok(link_status::link_is_up(value))
    }

    /// What the receive descriptor the controller fills next says.
    fn next_received(&self) -> Result<Received, Status> {
        let offset = self.layout.receive_descriptor(self.receive.next());
        let flags = self.memory.read_u32(offset + 4)?;
        let message = self.memory.read_u32(offset + 8)?;
        Ok(pcnet_registers::decode_received(
            flags,
            message,
            BUFFER_BYTES,
        ))
    }

    /// Moves received frames into `batch`, in order, while the budget
    /// (`budget` frames) lasts and they fit, and gives their descriptors
    /// back; damaged descriptors are given back and counted. Answers
    /// whether a frame is still waiting.
    fn harvest(
        &mut self,
        budget: usize,
        batch: &mut FrameBatchWriter<'_>,
        counters: &Counters,
    ) -> Result<bool, Status> {
        let mut frame = [0u8; frame::MAXIMUM_BYTES];
        while usize::from(batch.count()) < budget {
            let index = self.receive.next();
            match self.next_received()? {
                Received::OwnedByDevice => return Ok(false),
                Received::Frame { length } => {
                    if !batch.fits(length) {
                        return Ok(true);
                    }
                    self.memory
                        .read_bytes(self.layout.receive_buffer(index), &mut frame[..length])?;
                    batch.push(&frame[..length]);
                    Counters::add(&counters.received_packets, 1);
                    Counters::add(&counters.received_bytes, length as u64);
                }
                Received::Damaged => Counters::add(&counters.errors, 1),
            }
            self.give_receive_descriptor(index)?;
            self.receive.advance();
        }
        Ok(self.next_received()? != Received::OwnedByDevice)
    }

    /// Takes back the transmit descriptors the controller finished, oldest
    /// first, and counts them.
    fn reclaim_transmitted(&mut self, counters: &Counters) -> Result<(), Status> {
        while let Some(index) = self.transmit.oldest_in_flight() {
            let flags = self
                .memory
                .read_u32(self.layout.transmit_descriptor(index) + 4)?;
            match pcnet_registers::decode_transmitted(flags) {
                Transmitted::OwnedByDevice => break,
                Transmitted::Sent { length } => {
                    Counters::add(&counters.sent_packets, 1);
                    Counters::add(&counters.sent_bytes, length as u64);
                }
                Transmitted::Failed => Counters::add(&counters.errors, 1),
            }
            self.transmit.mark_reclaimed();
        }
        Ok(())
    }

    /// Puts one frame (its length checked by the caller) on the transmit
    /// ring, padded to the minimum; `NoResources` if the ring is full. The
    /// controller looks at it at its next poll, or at once after
    /// [`Self::demand_transmit`].
    fn queue_frame(&mut self, data: &[u8], counters: &Counters) -> Result<(), Status> {
        if !self.running {
            return Err(Status::Refused);
        }
        self.reclaim_transmitted(counters)?;
        let index = self.transmit.next_free().ok_or(Status::NoResources)?;
        let buffer = self.layout.transmit_buffer(index);
        self.memory.write_bytes(buffer, data)?;
        let length = frame::padded_length(data.len());
        self.memory
            .write_bytes(buffer + data.len(), &PADDING[..length - data.len()])?;
        let words = pcnet_registers::transmit_descriptor(self.device_address(buffer)?, length)
            .ok_or(Status::Refused)?;
        self.write_descriptor(self.layout.transmit_descriptor(index), words)?;
        self.transmit.mark_filled();
        Ok(())
    }

    /// Has the controller look at the transmit ring now (TDMD).
    fn demand_transmit(&mut self) -> Result<(), Status> {
        let enable = if self.interrupts_enabled() {
            status::INTERRUPT_ENABLE
        } else {
            0
        };
        self.registers
            .write_csr(csr::STATUS, status::TRANSMIT_DEMAND | enable)
    }
}

/// The extension's state: one instance per load.
struct Pcnet {
    hardware: spin::Mutex<Hardware>,
    station_address: [u8; 6],
    device: DeviceHandle,
    interrupt: Option<InterruptHandle>,
    /// The controller may drive the line (IENA is on): interrupts are
    /// deferred to `network-poll` and the line kept masked until then.
    interrupts_enabled: AtomicBool,
    /// An interrupt was deferred and not acknowledged yet.
    interrupt_pending: AtomicBool,
    /// The link state last read.
    link_up: AtomicBool,
    counters: Counters,
}

impl Pcnet {
    /// Runs `work` under the hardware lock. A holder can be a preempted
    /// thread, so a busy lock is retried with a yield in between (spinning
    /// would also count as a hang); `NoResources` if it stays busy.
    fn with_hardware<R>(
        &self,
        work: impl FnOnce(&mut Hardware) -> Result<R, Status>,
    ) -> Result<R, Status> {
        for _ in 0..LOCK_ATTEMPTS {
            if let Some(mut hardware) = self.hardware.try_lock() {
                return work(&mut hardware);
            }
            let _ = kernel::yield_now();
        }
        Err(Status::NoResources)
    }

    fn check_device(&self, device: DeviceHandle) -> Result<(), Status> {
        if device == self.device {
            Ok(())
        } else {
            Err(Status::Refused)
        }
    }

    /// Unmasks the line if an interrupt was deferred; called after the
    /// causes were cleared (or the controller stopped).
    fn acknowledge_pending_interrupt(&self) -> Result<(), Status> {
        match self.interrupt {
            Some(handle) if self.interrupt_pending.swap(false, Ordering::AcqRel) => {
                kernel::acknowledge_interrupt(handle)
            }
            _ => Ok(()),
        }
    }

    /// Hands up to `budget` received frames to the kernel, in batches of
    /// what fits one `deliver-packets` (delivered one by one unless
    /// `batched`).
    fn deliver_received(&self, budget: usize, batched: bool) -> Result<NetworkPollReply, Status> {
        let mut harvested = 0usize;
        let mut delivered = 0u16;
        let mut buffer = [0u8; DELIVERY_BATCH_BYTES];
        let more = loop {
            let mut writer = FrameBatchWriter::new(&mut buffer);
            let waiting = self.with_hardware(|hardware| {
                hardware.harvest(budget - harvested, &mut writer, &self.counters)
            })?;
            harvested += usize::from(writer.count());
            delivered += self.deliver(&writer, batched);
            if !waiting || harvested >= budget || writer.is_empty() {
                break waiting;
            }
        };
        Ok(NetworkPollReply { delivered, more })
    }

    /// Hands a batch of frames to the kernel; answers how many it took.
    fn deliver(&self, batch: &FrameBatchWriter<'_>, batched: bool) -> u16 {
        if batch.is_empty() {
            return 0;
        }
        if batched {
            return match kernel::deliver_packets(self.device, batch.count(), batch.bytes()) {
                Ok(()) => batch.count(),
                Err(_) => 0,
            };
        }
        let mut taken = 0;
        for frame in frame_batch::frames(batch.bytes(), batch.count()).flatten() {
            if kernel::deliver_packet(self.device, frame).is_ok() {
                taken += 1;
            }
        }
        taken
    }
}

impl Extension for Pcnet {
    fn init(context: &InitContext) -> Result<Self, Status> {
        let pci = PciDevice::claim(VENDOR_AMD, DEVICE_PCNET_PCI, 0)?;
        let bar = pci.bar(0)?;
        let first_port = u16::try_from(bar.base).map_err(|_| Status::Refused)?;
        if bar.kind != BarKind::IoPorts || bar.size < u64::from(port::SPACE_BYTES) {
            return Err(Status::Refused);
        }
        let command = pci.read_config_u16(PCI_COMMAND)?;
        if command & PCI_COMMAND_IO_SPACE == 0 {
            pci.write_config_u16(PCI_COMMAND, command | PCI_COMMAND_IO_SPACE)?;
        }
        let ports = IoPorts::request(first_port, port::SPACE_BYTES)?;
        let station_address = reset_and_read_station_address(&ports)?;
        if !pcnet_registers::is_usable_station_address(&station_address) {
            return Err(Status::NoResources);
        }
        let mut registers = Registers {
            ports,
            selected: None,
        };
        // Double-word mode works if CSR0 reads STOP through it.
        let stopped = registers.read_csr(csr::STATUS)?;
        if stopped != status::STOP {
            return Err(Status::NoResources);
        }
        let part = pcnet_registers::part_number(
            registers.read_csr(csr::CHIP_ID_LOW)?,
            registers.read_csr(csr::CHIP_ID_HIGH)?,
        );
        registers.write_bcr(bcr::SOFTWARE_STYLE, software_style::PCNET_PCI)?;
        if !software_style::is_pcnet_pci(registers.read_csr(csr::SOFTWARE_STYLE)?) {
            return Err(Status::NoResources);
        }
        let link = registers.read_bcr(bcr::LINK_STATUS)?;
        registers.write_bcr(bcr::LINK_STATUS, link_status::with_link_status(link))?;
        registers.write_csr(csr::INTERRUPT_MASKS, interrupt_masks::INITIALIZATION_DONE)?;

        let layout = DmaLayout::new(RECEIVE_RING_LENGTH, TRANSMIT_RING_LENGTH, BUFFER_BYTES)
            .ok_or(Status::Refused)?;
        let memory = DmaBuffer::allocate(layout.total_bytes())?;
        // The controller is reset and stopped: only now may it reach memory.
        pci.set_bus_mastering(true)?;
        let line = pci.interrupt_line();
        let mut hardware = Hardware {
            registers,
            pci,
            memory,
            layout,
            receive: ReceiveRing::new(RECEIVE_RING_LENGTH).ok_or(Status::Refused)?,
            transmit: TransmitRing::new(TRANSMIT_RING_LENGTH).ok_or(Status::Refused)?,
            station_address,
            has_interrupt_line: false,
            running: false,
            needs_initialization: true,
        };
        // The controller addresses 32 bits: the whole buffer must lie below
        // 4 GiB.
        hardware.device_address(layout.total_bytes() - 1)?;
        let counters = Counters::default();
        hardware.initialize(&counters)?;
        let link_up = hardware.link_is_up()?;
        // A line the kernel can route (1 to 15; 255, or 0, the timer's,
        // means none): without one the controller is only polled.
        let interrupt = if (1..16).contains(&line) {
            Some(kernel::request_interrupt(line)?)
        } else {
            None
        };
        hardware.has_interrupt_line = interrupt.is_some();
        let device = kernel::register_device(DeviceClass::Network, DEVICE_NAME)?;
        let [a, b, c, d, e, f] = station_address;
        extension_api::log(
            Level::Debug,
            format_args!(
                "generation {}: {DEVICE_NAME} is part {part:#06x} at ports {first_port:#x}, \
                 line {line}, address {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}, link {}",
                context.generation,
                if link_up { "up" } else { "down" }
            ),
        );
        Ok(Pcnet {
            hardware: spin::Mutex::new(hardware),
            station_address,
            device,
            interrupt,
            interrupts_enabled: AtomicBool::new(false),
            interrupt_pending: AtomicBool::new(false),
            link_up: AtomicBool::new(link_up),
            counters,
        })
    }
}

/// The kernel's entry operations `pcnet` answers: its interrupt, its
/// network device, and `remove`.
impl kernel::Entries for Pcnet {
    fn interrupt(&self, _line: u8) -> Result<bool, Status> {
        // Interrupt context: atomics only (see the invariants). While IENA
        // is off the controller does not drive the (shared) line.
        if !self.interrupts_enabled.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.interrupt_pending.store(true, Ordering::Release);
        Ok(true)
    }

    fn remove(&self) -> Result<(), Status> {
        self.with_hardware(|hardware| {
            hardware.stop()?;
            hardware.pci.set_bus_mastering(false)
        })?;
        self.interrupts_enabled.store(false, Ordering::Release);
        self.acknowledge_pending_interrupt()
    }

    fn network_open(&self, device: DeviceHandle) -> Result<(), Status> {
        self.check_device(device)?;
        self.with_hardware(|hardware| {
            if hardware.running {
                return Ok(());
            }
            if hardware.needs_initialization {
                hardware.initialize(&self.counters)?;
            }
            // Before IENA: an interrupt from now on is deferred.
            self.interrupts_enabled
                .store(hardware.has_interrupt_line, Ordering::Release);
            hardware.start().inspect_err(|_| {
                self.interrupts_enabled.store(false, Ordering::Release);
            })
        })?;
        // The line may have been left masked by an interrupt that came in
        // while this instance was still starting (the kernel masks a line
        // whose handler cannot answer); acknowledging unmasks it.
        if let Some(handle) = self.interrupt {
            self.interrupt_pending.store(false, Ordering::Release);
            kernel::acknowledge_interrupt(handle)?;
        }
        Ok(())
    }

    fn network_stop(&self, device: DeviceHandle) -> Result<(), Status> {
        self.check_device(device)?;
        self.with_hardware(|hardware| hardware.stop())?;
        // After STOP: the controller no longer drives the line.
        self.interrupts_enabled.store(false, Ordering::Release);
        self.acknowledge_pending_interrupt()
    }

    fn network_transmit(&self, device: DeviceHandle, data: &[u8]) -> Result<(), Status> {
        self.check_device(device)?;
        if !frame::is_sendable(data.len()) {
            return Err(Status::Refused);
        }
        self.with_hardware(|hardware| {
            hardware.queue_frame(data, &self.counters)?;
            hardware.demand_transmit()
        })
    }

    fn network_transmit_batch(
        &self,
        device: DeviceHandle,
        count: u16,
        frames: &[u8],
    ) -> Result<u16, Status> {
        self.check_device(device)?;
        // The whole batch is checked before any frame goes out.
        frame_batch::validate(frames, count).map_err(|_| Status::BadMessage)?;
        if frame_batch::frames(frames, count)
            .flatten()
            .any(|data| !frame::is_sendable(data.len()))
        {
            return Err(Status::Refused);
        }
        self.with_hardware(|hardware| {
            let mut sent = 0u16;
            for data in frame_batch::frames(frames, count).flatten() {
                match hardware.queue_frame(data, &self.counters) {
                    Ok(()) => sent += 1,
                    Err(Status::NoResources) => break,
                    Err(status) => return Err(status),
                }
            }
            if sent > 0 {
                hardware.demand_transmit()?;
            }
            Ok(sent)
        })
    }

    fn network_statistics(&self, device: DeviceHandle) -> Result<NetworkStatisticsReply, Status> {
        self.check_device(device)?;
        // A busy lock leaves the link state as last read.
        if let Ok(up) = self.with_hardware(|hardware| hardware.link_is_up()) {
            self.link_up.store(up, Ordering::Relaxed);
        }
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Ok(NetworkStatisticsReply {
            received_packets: read(&self.counters.received_packets),
            sent_packets: read(&self.counters.sent_packets),
            received_bytes: read(&self.counters.received_bytes),
            sent_bytes: read(&self.counters.sent_bytes),
            errors: read(&self.counters.errors),
            link_up: self.link_up.load(Ordering::Relaxed),
        })
    }

    fn network_mac_address(
        &self,
        device: DeviceHandle,
        address: &mut [u8],
    ) -> Result<usize, Status> {
        self.check_device(device)?;
        let length = self.station_address.len().min(address.len());
        address[..length].copy_from_slice(&self.station_address[..length]);
        Ok(length)
    }

    fn network_poll(
        &self,
        device: DeviceHandle,
        budget: u16,
        batch: bool,
    ) -> Result<NetworkPollReply, Status> {
        self.check_device(device)?;
        // Clear the causes first: a frame that arrives from now on raises
        // a new interrupt, which the next poll handles.
        let deferred = self.interrupt_pending.load(Ordering::Acquire);
        if deferred {
            self.with_hardware(|hardware| hardware.clear_interrupt_causes(&self.counters))?;
        }
        let ready = self.with_hardware(|hardware| {
            hardware.reclaim_transmitted(&self.counters)?;
            Ok(hardware.next_received()? != Received::OwnedByDevice)
        })?;
        let reply = if ready && budget > 0 {
            self.deliver_received(usize::from(budget), batch)?
        } else {
            NetworkPollReply {
                delivered: 0,
                more: ready,
            }
        };
        if deferred {
            self.acknowledge_pending_interrupt()?;
        }
        Ok(reply)
    }
}

extension_api::extension!(Pcnet);
