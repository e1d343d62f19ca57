//! `e1000`: a driver for the Intel 82540EM gigabit Ethernet controller
//! (QEMU's `e1000`, PCI 8086:100e), isolated like every extension.
//!
//! At init it claims the first 82540EM, maps its registers (BAR0), resets
//! it, reads its MAC address from the EEPROM (checksum verified; the
//! receive address registers as a fall-back), allocates the receive and
//! transmit descriptor rings and their buffers in DMA memory, turns bus
//! mastering on, registers on the function's (shared, level-triggered)
//! interrupt line and registers one network device, `e1000-0`. The kernel
//! then drives it through the network entries:
//! - `network-open` programs fresh rings and starts the receiver, the
//!   transmitter and the device's interrupts; `network-stop` stops them;
//! - `network-poll` hands up to `budget` received frames to the kernel
//!   (`deliver-packet` each, or `deliver-packets` in batches of at most
//!   4096 bytes) and reclaims finished transmissions;
//! - `network-transmit` and `network-transmit-batch` queue frames
//!   (`no-resources`, or fewer taken, when the ring is full);
//! - `network-statistics` and `network-mac-address` answer from counters
//!   and the address read at init.
//!
//! Register fields, descriptor layouts, EEPROM decoding and the ring
//! arithmetic are in the host-tested crate `e1000-registers`
//! (`extensions/e1000/registers`); this file only talks to the hardware.
//!
//! Invariants:
//! - No `unsafe`: registers and DMA memory are reached through the checked
//!   `Mmio` and `DmaBuffer` of `extension-api`.
//! - Init resets the device (CTRL.RST) before using it and builds its own
//!   rings, and init and `network-open` write every register the driver
//!   relies on (QEMU's model only clears CTRL.RST, it resets nothing): an
//!   instance never depends on what a killed one left in the device. The
//!   device's interrupts stay disabled (IMC) until `network-open`, so
//!   nothing fires into a half-built instance.
//!
//! QEMU's model holds reception back for one second after every write of
//! RCTL (frames wait in QEMU's queue meanwhile), so the first frame after
//! `network-open` — after a restart too — arrives up to a second late.
//! - The `interrupt` entry runs in interrupt context, possibly while a
//!   thread is inside the driver: it only reads ICR (which clears the
//!   causes and deasserts the line) and records the causes in an atomic.
//!   It takes no lock and always answers keep-masked = false.
//! - Each ring's state is behind its own `spin::Mutex`, and the ring's tail
//!   register (RDT, TDT) is written only under it. No caller spins on a
//!   lock: poll takes them with `try_lock` (a concurrent poll is already
//!   harvesting); transmit, open and stop retry briefly, yielding, and then
//!   answer `no-resources`. The `interrupt` entry takes none.
//!   Counters are atomics, read without locks.
//! - The device only ever holds descriptors that point into this
//!   instance's own DMA buffers, and the rings are (re)programmed only
//!   while the receiver and transmitter are disabled.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use e1000_registers::descriptor::{self, ReceiveWriteback};
use e1000_registers::{
    BUFFER_BYTES, MAX_FRAME_BYTES, MIN_FRAME_BYTES, MacAddress, ReceiveRing, Received, RingSize,
    TransmitRing, control, eeprom, interrupt, receive_control, register, status, transmit_control,
};
use extension_api::abi::frame_batch::{self, FrameBatchWriter};
use extension_api::kernel::{
    self, BarKind, DeviceClass, DeviceHandle, InterruptHandle, NetworkPollReply,
    NetworkStatisticsReply,
};
use extension_api::{DmaBuffer, Extension, InitContext, Level, Mmio, PciDevice, Status};

/// Intel's PCI vendor id.
const VENDOR_INTEL: u16 = 0x8086;
/// The 82540EM's PCI device id (QEMU's `e1000`).
const DEVICE_82540EM: u16 = 0x100e;
/// The memory BAR holding the registers (128 KiB).
const REGISTERS_BAR: u8 = 0;
/// The network device this driver registers.
const DEVICE_NAME: &str = "e1000-0";
/// Receive descriptors (each with a [`BUFFER_BYTES`] buffer).
const RECEIVE_DESCRIPTORS: u16 = 64;
/// Transmit descriptors (each with a [`BUFFER_BYTES`] buffer).
const TRANSMIT_DESCRIPTORS: u16 = 64;
/// PCI configuration: the command register.
const PCI_COMMAND: u8 = 0x04;
/// PCI command bit: the function answers memory accesses (its BARs).
const PCI_COMMAND_MEMORY_SPACE: u16 = 1 << 1;
/// The most the interrupt line number may be to be requested (ISA lines;
/// 255 means the function has none).
const LAST_INTERRUPT_LINE: u8 = 15;
/// Checks of CTRL.RST after a reset, 1 ms apart, before giving up.
const RESET_CHECKS: u32 = 50;
/// Reads of EERD while waiting for one EEPROM word.
const EEPROM_READ_CHECKS: u32 = 10_000;
/// Attempts to take a ring's lock (yielding between them) before a
/// transmit, open or stop answers `no-resources`.
const LOCK_ATTEMPTS: u32 = 100;
/// Receive descriptors handed back between two writes of RDT within one
/// poll, so that a large budget keeps the device supplied.
const RECEIVE_TAIL_BATCH: u16 = 16;
/// The largest batch `deliver-packets` carries.
const DELIVER_BATCH_BYTES: usize = 4096;

/// One descriptor ring in DMA memory: the descriptors, and one buffer of
/// [`BUFFER_BYTES`] per descriptor (descriptor `i` always points at buffer
/// `i`).
struct RingMemory {
    descriptors: DmaBuffer,
    buffers: DmaBuffer,
}

impl RingMemory {
    fn allocate(size: RingSize) -> Result<RingMemory, Status> {
        Ok(RingMemory {
            descriptors: DmaBuffer::allocate(size.bytes())?,
            buffers: DmaBuffer::allocate(usize::from(size.get()) * BUFFER_BYTES)?,
        })
    }

    fn descriptor_offset(index: u16) -> usize {
        usize::from(index) * descriptor::BYTES
    }

    fn buffer_offset(index: u16) -> usize {
        usize::from(index) * BUFFER_BYTES
    }

    /// Physical address of the descriptors (for RDBAL/RDBAH, TDBAL/TDBAH).
    fn descriptors_physical(&self) -> Result<u64, Status> {
        self.descriptors.physical_address(0)
    }

    /// Physical address of buffer `index`.
    fn buffer_physical(&self, index: u16) -> Result<u64, Status> {
        self.buffers.physical_address(Self::buffer_offset(index))
    }

    fn write_descriptor(&self, index: u16, words: [u32; 4]) -> Result<(), Status> {
        let offset = Self::descriptor_offset(index);
        for (word_index, word) in words.into_iter().enumerate() {
            self.descriptors.write_u32(offset + word_index * 4, word)?;
        }
        Ok(())
    }

    fn read_descriptor_word(&self, index: u16, word: usize) -> Result<u32, Status> {
        self.descriptors
            .read_u32(Self::descriptor_offset(index) + word * 4)
    }

    /// What the device wrote back into receive descriptor `index` (status
    /// read first: the length is valid once the status says done).
    fn receive_writeback(&self, index: u16) -> Result<ReceiveWriteback, Status> {
        let status_word = self.read_descriptor_word(index, descriptor::STATUS_WORD)?;
        let length_word = self.read_descriptor_word(index, descriptor::LENGTH_WORD)?;
        Ok(ReceiveWriteback::decode(length_word, status_word))
    }
}

/// The receive side: the ring's state and memory.
struct ReceiveState {
    ring: ReceiveRing,
    memory: RingMemory,
}

/// The transmit side: the ring's state and memory.
struct TransmitState {
    ring: TransmitRing,
    memory: RingMemory,
}

/// Counters since init (atomics: read by statistics without locks).
#[derive(Default)]
struct Counters {
    received_packets: AtomicU64,
    received_bytes: AtomicU64,
    sent_packets: AtomicU64,
    sent_bytes: AtomicU64,
    /// Received descriptors dropped (device errors, fragments, lengths).
    receive_errors: AtomicU64,
    /// Frames the kernel refused (its receive queue was full).
    delivery_failures: AtomicU64,
    /// Transmissions the device reported failed (collisions).
    transmit_errors: AtomicU64,
    /// Frames the device missed (MPC, accumulated: it clears on read).
    missed_packets: AtomicU64,
    /// Interrupts that had a cause of this device.
    interrupts: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    fn errors(&self) -> u64 {
        [
            &self.receive_errors,
            &self.delivery_failures,
            &self.transmit_errors,
            &self.missed_packets,
        ]
        .iter()
        .map(|counter| counter.load(Ordering::Relaxed))
        .sum()
    }
}

/// The extension's state: one instance per load.
struct E1000 {
    /// BAR0, mapped uncached.
    registers: Mmio,
    /// The claimed PCI function.
    pci: PciDevice,
    /// The interrupt registration, if the function has a usable line.
    interrupt: Option<InterruptHandle>,
    /// `e1000-0`'s registration.
    device: DeviceHandle,
    /// The station address, read at init.
    mac: MacAddress,
    receive: spin::Mutex<ReceiveState>,
    transmit: spin::Mutex<TransmitState>,
    /// Interrupt causes (ICR bits) recorded by the `interrupt` entry and
    /// not yet seen by a poll.
    pending_causes: AtomicU32,
    /// Between `network-open` and `network-stop`.
    is_open: AtomicBool,
    counters: Counters,
}

fn log(level: Level, arguments: core::fmt::Arguments<'_>) {
    extension_api::log(level, arguments);
}

/// Resets the device and brings its link up, with every interrupt
/// disabled and acknowledged.
fn reset_device(registers: &Mmio) -> Result<(), Status> {
    registers.write_u32(register::INTERRUPT_MASK_CLEAR, interrupt::ALL)?;
    registers.write_u32(register::RECEIVE_CONTROL, 0)?;
    registers.write_u32(register::TRANSMIT_CONTROL, 0)?;
    let before = registers.read_u32(register::CONTROL)?;
    registers.write_u32(register::CONTROL, before | control::DEVICE_RESET)?;
    let mut checks = 0;
    while registers.read_u32(register::CONTROL)? & control::DEVICE_RESET != 0 {
        checks += 1;
        if checks >= RESET_CHECKS {
            log(
                Level::Error,
                format_args!("the device did not leave reset within {RESET_CHECKS} ms"),
            );
            return Err(Status::NoResources);
        }
        let _ = kernel::sleep_ms(1);
    }
    // The reset re-enables nothing, but a cause may have been latched.
    registers.write_u32(register::INTERRUPT_MASK_CLEAR, interrupt::ALL)?;
    registers.read_u32(register::INTERRUPT_CAUSE_READ)?;
    let current = registers.read_u32(register::CONTROL)?;
    registers.write_u32(register::CONTROL, control::link_up(current))?;
    Ok(())
}

/// One EEPROM word through EERD, or None if the read never finishes.
fn read_eeprom_word(registers: &Mmio, word: u8) -> Result<Option<u16>, Status> {
    registers.write_u32(register::EEPROM_READ, eeprom::read_request(word))?;
    for _ in 0..EEPROM_READ_CHECKS {
        if let Some(value) = eeprom::read_result(registers.read_u32(register::EEPROM_READ)?, word) {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// The MAC address in the EEPROM, if the EEPROM reads, its checksum is
/// right and the address is a station address.
fn mac_from_eeprom(registers: &Mmio) -> Result<Option<MacAddress>, Status> {
    let mut words = [0u16; eeprom::CHECKSUMMED_WORDS];
    for (index, word) in words.iter_mut().enumerate() {
        match read_eeprom_word(registers, index as u8)? {
            Some(value) => *word = value,
            None => {
                log(
                    Level::Warn,
                    format_args!("EEPROM word {index:#x} did not read"),
                );
                return Ok(None);
            }
        }
    }
    if !eeprom::checksum_is_valid(&words) {
        log(Level::Warn, format_args!("the EEPROM checksum is wrong"));
        return Ok(None);
    }
    let first = usize::from(eeprom::MAC_ADDRESS_WORD);
    let mac = MacAddress::from_eeprom_words([words[first], words[first + 1], words[first + 2]]);
    Ok(mac.is_station_address().then_some(mac))
}

/// The station address: from the EEPROM, else from receive address 0
/// (which the device loads from the EEPROM at reset).
fn read_mac(registers: &Mmio) -> Result<MacAddress, Status> {
    if let Some(mac) = mac_from_eeprom(registers)? {
        return Ok(mac);
    }
    let low = registers.read_u32(register::RECEIVE_ADDRESS_LOW)?;
    let high = registers.read_u32(register::RECEIVE_ADDRESS_HIGH)?;
    MacAddress::from_receive_address(low, high)
        .filter(MacAddress::is_station_address)
        .ok_or_else(|| {
            log(
                Level::Error,
                format_args!("no valid MAC address (RAL0 {low:#x}, RAH0 {high:#x})"),
            );
            Status::Refused
        })
}

/// Accepts frames for `mac` and broadcasts only: receive address 0 is
/// `mac`, the multicast table is empty.
fn program_address_filter(registers: &Mmio, mac: MacAddress) -> Result<(), Status> {
    let (low, high) = mac.receive_address();
    registers.write_u32(register::RECEIVE_ADDRESS_LOW, low)?;
    registers.write_u32(register::RECEIVE_ADDRESS_HIGH, high)?;
    for entry in 0..register::MULTICAST_TABLE_ENTRIES {
        registers.write_u32(register::MULTICAST_TABLE + entry * 4, 0)?;
    }
    Ok(())
}

/// Registers for the function's interrupt line; None (polling only) if it
/// has none or the kernel declines.
fn request_interrupt(line: u8) -> Option<InterruptHandle> {
    if line > LAST_INTERRUPT_LINE {
        log(
            Level::Warn,
            format_args!("no interrupt line ({line}); polling only"),
        );
        return None;
    }
    match kernel::request_interrupt(line) {
        Ok(handle) => Some(handle),
        Err(status) => {
            log(
                Level::Warn,
                format_args!("interrupt line {line} refused ({status:?}); polling only"),
            );
            None
        }
    }
}

/// Takes `lock`, yielding while another thread holds it; `no-resources`
/// if it stays taken (never spins for long: the holder may be preempted).
fn lock_yielding<T>(lock: &spin::Mutex<T>) -> Result<spin::MutexGuard<'_, T>, Status> {
    for _ in 0..LOCK_ATTEMPTS {
        if let Some(guard) = lock.try_lock() {
            return Ok(guard);
        }
        let _ = kernel::yield_now();
    }
    Err(Status::NoResources)
}

fn frame_length_is_valid(length: usize) -> bool {
    (MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&length)
}

impl E1000 {
    fn read(&self, offset: usize) -> Result<u32, Status> {
        self.registers.read_u32(offset)
    }

    fn write(&self, offset: usize, value: u32) -> Result<(), Status> {
        self.registers.write_u32(offset, value)
    }

    /// Refuses every device but ours.
    fn check_device(&self, device: DeviceHandle) -> Result<(), Status> {
        if device == self.device {
            Ok(())
        } else {
            Err(Status::Refused)
        }
    }

    /// Refuses to send on a stopped (or never opened) interface. (Not
    /// `not-running`: the kernel reads that as "the instance is gone".)
    fn check_open(&self) -> Result<(), Status> {
        if self.is_open.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(Status::Refused)
        }
    }

    /// Stops the receiver, the transmitter and the device's interrupts.
    fn quiesce(&self) -> Result<(), Status> {
        self.write(register::INTERRUPT_MASK_CLEAR, interrupt::ALL)?;
        self.write(register::RECEIVE_CONTROL, 0)?;
        self.write(register::TRANSMIT_CONTROL, 0)?;
        Ok(())
    }

    /// Gives every receive descriptor its buffer and programs the ring:
    /// all descriptors but the last are the device's.
    fn program_receive_ring(&self, receive: &mut ReceiveState) -> Result<(), Status> {
        let size = receive.ring.size();
        for index in 0..size.get() {
            let physical = receive.memory.buffer_physical(index)?;
            receive
                .memory
                .write_descriptor(index, descriptor::receive(physical))?;
        }
        receive.ring = ReceiveRing::new(size);
        let base = receive.memory.descriptors_physical()?;
        self.write(register::RECEIVE_BASE_LOW, base as u32)?;
        self.write(register::RECEIVE_BASE_HIGH, (base >> 32) as u32)?;
        self.write(register::RECEIVE_LENGTH, size.bytes() as u32)?;
        self.write(register::RECEIVE_HEAD, 0)?;
        self.write(register::RECEIVE_TAIL, u32::from(receive.ring.tail()))?;
        self.write(register::RECEIVE_DELAY_TIMER, 0)?;
        Ok(())
    }

    /// Clears every transmit descriptor and programs the empty ring.
    fn program_transmit_ring(&self, transmit: &mut TransmitState) -> Result<(), Status> {
        let size = transmit.ring.size();
        for index in 0..size.get() {
            transmit.memory.write_descriptor(index, [0; 4])?;
        }
        transmit.ring = TransmitRing::new(size);
        let base = transmit.memory.descriptors_physical()?;
        self.write(register::TRANSMIT_BASE_LOW, base as u32)?;
        self.write(register::TRANSMIT_BASE_HIGH, (base >> 32) as u32)?;
        self.write(register::TRANSMIT_LENGTH, size.bytes() as u32)?;
        self.write(register::TRANSMIT_HEAD, 0)?;
        self.write(register::TRANSMIT_TAIL, u32::from(transmit.ring.tail()))?;
        self.write(register::TRANSMIT_INTERRUPT_DELAY, 0)?;
        Ok(())
    }

    /// Reclaims the transmit descriptors the device is done with, oldest
    /// first, counting what they sent.
    fn reclaim_transmitted(&self, transmit: &mut TransmitState) -> Result<(), Status> {
        while let Some(index) = transmit.ring.oldest_in_flight() {
            let status_word = transmit
                .memory
                .read_descriptor_word(index, descriptor::STATUS_WORD)?;
            if !descriptor::transmit_is_done(status_word) {
                break;
            }
            if descriptor::transmit_failed(status_word) {
                Counters::add(&self.counters.transmit_errors, 1);
            } else {
                let length_word = transmit
                    .memory
                    .read_descriptor_word(index, descriptor::LENGTH_WORD)?;
                Counters::add(&self.counters.sent_packets, 1);
                Counters::add(
                    &self.counters.sent_bytes,
                    u64::from(descriptor::transmit_length(length_word)),
                );
            }
            transmit.ring.complete_oldest();
        }
        Ok(())
    }

    /// Queues `frame` (length already checked) in the next free
    /// descriptor; false if the ring is full even after reclaiming. The
    /// caller writes TDT.
    fn queue_frame(&self, transmit: &mut TransmitState, frame: &[u8]) -> Result<bool, Status> {
        if transmit.ring.free() == 0 {
            self.reclaim_transmitted(transmit)?;
        }
        let Some(index) = transmit.ring.claim() else {
            return Ok(false);
        };
        let physical = transmit.memory.buffer_physical(index)?;
        transmit
            .memory
            .buffers
            .write_bytes(RingMemory::buffer_offset(index), frame)?;
        transmit
            .memory
            .write_descriptor(index, descriptor::transmit(physical, frame.len() as u16))?;
        Ok(true)
    }

    /// Hands one frame to the kernel; counts it as received, or as a
    /// delivery failure if the kernel refused it.
    fn deliver_one(&self, frame: &[u8]) -> bool {
        match kernel::deliver_packet(self.device, frame) {
            Ok(()) => {
                Counters::add(&self.counters.received_packets, 1);
                Counters::add(&self.counters.received_bytes, frame.len() as u64);
                true
            }
            Err(_) => {
                Counters::add(&self.counters.delivery_failures, 1);
                false
            }
        }
    }

    /// Hands a batch to the kernel and empties it; how many frames went.
    fn deliver_batch(&self, batch: &mut FrameBatchWriter<'_>, bytes: &mut u64) -> u16 {
        if batch.is_empty() {
            return 0;
        }
        let count = batch.count();
        let delivered = match kernel::deliver_packets(self.device, count, batch.bytes()) {
            Ok(()) => {
                Counters::add(&self.counters.received_packets, u64::from(count));
                Counters::add(&self.counters.received_bytes, *bytes);
                count
            }
            Err(_) => {
                Counters::add(&self.counters.delivery_failures, u64::from(count));
                0
            }
        };
        batch.clear();
        *bytes = 0;
        delivered
    }

    /// The receive half of a poll: harvests at most `budget` frames.
    fn harvest(
        &self,
        receive: &mut ReceiveState,
        budget: u16,
        batch: bool,
    ) -> Result<NetworkPollReply, Status> {
        let mut batch_buffer = [0u8; DELIVER_BATCH_BYTES];
        let mut pending = FrameBatchWriter::new(&mut batch_buffer);
        let mut pending_bytes = 0u64;
        let mut frame_buffer = [0u8; MAX_FRAME_BYTES];
        let (mut harvested, mut delivered) = (0u16, 0u16);
        let mut handed_back = 0u16;
        // Dropped descriptors do not count against the budget, but a
        // stream of them must not keep the poll going forever.
        let mut descriptors_left = u32::from(budget) + u32::from(receive.ring.size().get());
        while harvested < budget && descriptors_left > 0 {
            descriptors_left -= 1;
            let writeback = receive
                .memory
                .receive_writeback(receive.ring.next_to_check())?;
            let Some(received) = receive.ring.take(writeback) else {
                break;
            };
            match received {
                Received::Frame { index, length } => {
                    let frame = &mut frame_buffer[..usize::from(length)];
                    receive
                        .memory
                        .buffers
                        .read_bytes(RingMemory::buffer_offset(index), frame)?;
                    harvested += 1;
                    if batch {
                        if !pending.fits(frame.len()) {
                            delivered += self.deliver_batch(&mut pending, &mut pending_bytes);
                        }
                        pending.push(frame);
                        pending_bytes += u64::from(length);
                    } else if self.deliver_one(frame) {
                        delivered += 1;
                    }
                }
                Received::Dropped { .. } => Counters::add(&self.counters.receive_errors, 1),
            }
            // The frame is copied out: the descriptor goes back.
            let index = received.index();
            let physical = receive.memory.buffer_physical(index)?;
            receive
                .memory
                .write_descriptor(index, descriptor::receive(physical))?;
            handed_back += 1;
            if handed_back >= RECEIVE_TAIL_BATCH {
                self.write(register::RECEIVE_TAIL, u32::from(receive.ring.tail()))?;
                handed_back = 0;
            }
        }
        if handed_back > 0 {
            self.write(register::RECEIVE_TAIL, u32::from(receive.ring.tail()))?;
        }
        delivered += self.deliver_batch(&mut pending, &mut pending_bytes);
        let more = receive
            .memory
            .receive_writeback(receive.ring.next_to_check())?
            .is_done();
        Ok(NetworkPollReply { delivered, more })
    }
}

impl Extension for E1000 {
    fn init(context: &InitContext) -> Result<Self, Status> {
        let pci = PciDevice::claim(VENDOR_INTEL, DEVICE_82540EM, 0)?;
        let bar = pci.bar(REGISTERS_BAR)?;
        if bar.kind != BarKind::Memory {
            log(
                Level::Error,
                format_args!("BAR{REGISTERS_BAR} does not decode memory ({:?})", bar.kind),
            );
            return Err(Status::Refused);
        }
        let command = pci.read_config_u16(PCI_COMMAND)?;
        pci.write_config_u16(PCI_COMMAND, command | PCI_COMMAND_MEMORY_SPACE)?;
        let registers = pci.map_bar(REGISTERS_BAR)?;
        reset_device(&registers)?;
        let mac = read_mac(&registers)?;
        program_address_filter(&registers, mac)?;
        let receive_size = RingSize::new(RECEIVE_DESCRIPTORS).ok_or(Status::Refused)?;
        let transmit_size = RingSize::new(TRANSMIT_DESCRIPTORS).ok_or(Status::Refused)?;
        let receive = ReceiveState {
            ring: ReceiveRing::new(receive_size),
            memory: RingMemory::allocate(receive_size)?,
        };
        let transmit = TransmitState {
            ring: TransmitRing::new(transmit_size),
            memory: RingMemory::allocate(transmit_size)?,
        };
        // The receiver and transmitter stay off until `network-open`.
        pci.set_bus_mastering(true)?;
        let interrupt = request_interrupt(pci.interrupt_line());
        let device = kernel::register_device(DeviceClass::Network, DEVICE_NAME)?;
        let link = status::link_is_up(registers.read_u32(register::STATUS)?);
        log(
            Level::Debug,
            format_args!(
                "generation {}: {DEVICE_NAME} at {:#x}, MAC {mac}, link {}, interrupt line {}",
                context.generation,
                bar.base,
                if link { "up" } else { "down" },
                pci.interrupt_line()
            ),
        );
        Ok(E1000 {
            registers,
            pci,
            interrupt,
            device,
            mac,
            receive: spin::Mutex::new(receive),
            transmit: spin::Mutex::new(transmit),
            pending_causes: AtomicU32::new(0),
            is_open: AtomicBool::new(false),
            counters: Counters::default(),
        })
    }
}

/// The kernel's entry operations `e1000` answers: its interrupt and the
/// network device class.
impl kernel::Entries for E1000 {
    fn interrupt(&self, _line: u8) -> Result<bool, Status> {
        // The line is shared: a zero cause is another device's interrupt.
        if let Ok(causes) = self.read(register::INTERRUPT_CAUSE_READ)
            && causes != 0
        {
            self.pending_causes.fetch_or(causes, Ordering::AcqRel);
            Counters::add(&self.counters.interrupts, 1);
        }
        Ok(false)
    }

    fn remove(&self) -> Result<(), Status> {
        self.is_open.store(false, Ordering::Release);
        self.quiesce()?;
        self.write(register::CONTROL, control::DEVICE_RESET)?;
        self.pci.set_bus_mastering(false)
    }

    fn network_open(&self, device: DeviceHandle) -> Result<(), Status> {
        self.check_device(device)?;
        {
            let mut receive = lock_yielding(&self.receive)?;
            let mut transmit = lock_yielding(&self.transmit)?;
            self.quiesce()?;
            self.program_receive_ring(&mut receive)?;
            self.program_transmit_ring(&mut transmit)?;
            self.write(
                register::TRANSMIT_INTER_PACKET_GAP,
                transmit_control::INTER_PACKET_GAP,
            )?;
            self.write(register::TRANSMIT_CONTROL, transmit_control::RUNNING)?;
            self.write(register::RECEIVE_CONTROL, receive_control::RUNNING)?;
        }
        self.read(register::INTERRUPT_CAUSE_READ)?;
        self.write(
            register::INTERRUPT_THROTTLING,
            interrupt::THROTTLING_INTERVAL,
        )?;
        self.pending_causes.store(0, Ordering::Release);
        self.is_open.store(true, Ordering::Release);
        self.write(register::INTERRUPT_MASK_SET, interrupt::ENABLED)?;
        // An interrupt of the line's other device during our init found
        // this instance not yet running, and the kernel masked the line
        // for us: unmask it.
        if let Some(handle) = self.interrupt {
            kernel::acknowledge_interrupt(handle)?;
        }
        Ok(())
    }

    fn network_stop(&self, device: DeviceHandle) -> Result<(), Status> {
        self.check_device(device)?;
        self.is_open.store(false, Ordering::Release);
        let _receive = lock_yielding(&self.receive)?;
        let _transmit = lock_yielding(&self.transmit)?;
        self.quiesce()
    }

    fn network_transmit(&self, device: DeviceHandle, frame: &[u8]) -> Result<(), Status> {
        self.check_device(device)?;
        if !frame_length_is_valid(frame.len()) {
            return Err(Status::Refused);
        }
        self.check_open()?;
        let mut transmit = lock_yielding(&self.transmit)?;
        if !self.queue_frame(&mut transmit, frame)? {
            return Err(Status::NoResources);
        }
        self.write(register::TRANSMIT_TAIL, u32::from(transmit.ring.tail()))
    }

    fn network_transmit_batch(
        &self,
        device: DeviceHandle,
        count: u16,
        frames: &[u8],
    ) -> Result<u16, Status> {
        self.check_device(device)?;
        self.check_open()?;
        let mut transmit = lock_yielding(&self.transmit)?;
        let mut sent = 0u16;
        for frame in frame_batch::frames(frames, count) {
            let Ok(frame) = frame else { break };
            if !frame_length_is_valid(frame.len()) || !self.queue_frame(&mut transmit, frame)? {
                break;
            }
            sent += 1;
        }
        if sent > 0 {
            self.write(register::TRANSMIT_TAIL, u32::from(transmit.ring.tail()))?;
        } else if count > 0 && transmit.ring.free() > 0 {
            // Nothing was taken although there was room: the first frame
            // is malformed.
            return Err(Status::Refused);
        }
        Ok(sent)
    }

    fn network_statistics(&self, device: DeviceHandle) -> Result<NetworkStatisticsReply, Status> {
        self.check_device(device)?;
        if let Some(mut transmit) = self.transmit.try_lock() {
            self.reclaim_transmitted(&mut transmit)?;
        }
        let missed = self.read(register::MISSED_PACKETS)?;
        Counters::add(&self.counters.missed_packets, u64::from(missed));
        let counters = &self.counters;
        Ok(NetworkStatisticsReply {
            received_packets: counters.received_packets.load(Ordering::Relaxed),
            sent_packets: counters.sent_packets.load(Ordering::Relaxed),
            received_bytes: counters.received_bytes.load(Ordering::Relaxed),
            sent_bytes: counters.sent_bytes.load(Ordering::Relaxed),
            errors: counters.errors(),
            link_up: status::link_is_up(self.read(register::STATUS)?),
        })
    }

    fn network_mac_address(
        &self,
        device: DeviceHandle,
        address: &mut [u8],
    ) -> Result<usize, Status> {
        self.check_device(device)?;
        let count = address.len().min(self.mac.0.len());
        address[..count].copy_from_slice(&self.mac.0[..count]);
        Ok(count)
    }

    fn network_poll(
        &self,
        device: DeviceHandle,
        budget: u16,
        batch: bool,
    ) -> Result<NetworkPollReply, Status> {
        self.check_device(device)?;
        let idle = NetworkPollReply {
            delivered: 0,
            more: false,
        };
        // The causes only said "poll soon"; the descriptors tell the rest.
        self.pending_causes.swap(0, Ordering::AcqRel);
        if !self.is_open.load(Ordering::Acquire) {
            return Ok(idle);
        }
        if let Some(mut transmit) = self.transmit.try_lock() {
            self.reclaim_transmitted(&mut transmit)?;
        }
        // Another thread's poll is harvesting already.
        let Some(mut receive) = self.receive.try_lock() else {
            return Ok(idle);
        };
        self.harvest(&mut receive, budget, batch)
    }
}

extension_api::extension!(E1000);
