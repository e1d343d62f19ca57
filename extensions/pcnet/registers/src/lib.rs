//! The `pcnet` extension's hardware-free logic, tested on the host with
//! plain `cargo test`: the AMD Am79C970A (PCnet-PCI II) register map and
//! bit fields, the 32-bit initialisation block and ring descriptors of
//! software style 2 (with their two's-complement buffer byte counts), the
//! ring index arithmetic and the layout of the driver's DMA memory.
//!
//! The driver (`extensions/pcnet/src/main.rs`) adds only the accesses: I/O
//! ports and DMA memory, through the kernel.
//!
//! Names follow the datasheet (AMD publication 19436): CSR*n* is control
//! and status register *n*, reached by writing *n* to the register address
//! port (RAP) and then accessing the register data port (RDP); BCR*n* is
//! bus configuration register *n*, reached the same way through the bus
//! configuration data port (BDP).
//!
//! Invariants:
//! - Every encoder either produces a value the datasheet allows or refuses
//!   (`None`): buffer byte counts 1 to 4095, ring lengths that are powers of
//!   two from 1 to 512, device addresses below 4 GiB.
//! - Decoders accept any word (the device, or a fault, may leave anything
//!   in memory) and never panic.
//! - Ring indices handed out are always below the ring's length, and a
//!   transmit ring never hands out a descriptor the device still owns.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// Offsets in the function's I/O space (BAR0).
pub mod port {
    /// Bytes of I/O space the function decodes.
    pub const SPACE_BYTES: u16 = 0x20;
    /// The address PROM: 16 bytes, the station (MAC) address in the first
    /// six. Read with byte accesses while in word I/O mode.
    pub const ADDRESS_PROM: u16 = 0x00;

    /// Register ports in word I/O mode (16-bit accesses), the mode after a
    /// reset.
    pub mod word {
        /// RDP: the CSR selected by the RAP.
        pub const REGISTER_DATA: u16 = 0x10;
        /// RAP: selects a CSR or BCR.
        pub const REGISTER_ADDRESS: u16 = 0x12;
        /// Reading it resets the controller (S_RESET).
        pub const RESET: u16 = 0x14;
        /// BDP: the BCR selected by the RAP.
        pub const BUS_CONFIGURATION_DATA: u16 = 0x16;
    }

    /// Register ports in double-word I/O mode (DWIO, 32-bit accesses),
    /// entered by a 32-bit write to the RDP.
    pub mod double_word {
        /// RDP: the CSR selected by the RAP.
        pub const REGISTER_DATA: u16 = 0x10;
        /// RAP: selects a CSR or BCR.
        pub const REGISTER_ADDRESS: u16 = 0x14;
        /// Reading it resets the controller (S_RESET).
        pub const RESET: u16 = 0x18;
        /// BDP: the BCR selected by the RAP.
        pub const BUS_CONFIGURATION_DATA: u16 = 0x1c;
    }
}

/// Control and status register numbers (written to the RAP).
pub mod csr {
    /// CSR0: controller status (see [`crate::status`]).
    pub const STATUS: u32 = 0;
    /// CSR1: bits 15-0 of the initialisation block's address.
    pub const INITIALIZATION_ADDRESS_LOW: u32 = 1;
    /// CSR2: bits 31-16 of the initialisation block's address.
    pub const INITIALIZATION_ADDRESS_HIGH: u32 = 2;
    /// CSR3: interrupt masks and deferral control (see
    /// [`crate::interrupt_masks`]).
    pub const INTERRUPT_MASKS: u32 = 3;
    /// CSR58: software style (mirrors BCR20).
    pub const SOFTWARE_STYLE: u32 = 58;
    /// CSR88: chip id, low half.
    pub const CHIP_ID_LOW: u32 = 88;
    /// CSR89: chip id, high half.
    pub const CHIP_ID_HIGH: u32 = 89;
}

/// Bus configuration register numbers (written to the RAP).
pub mod bcr {
    /// BCR4: link status LED (see [`crate::link_status`]).
    pub const LINK_STATUS: u32 = 4;
    /// BCR20: software style (see [`crate::software_style`]).
    pub const SOFTWARE_STYLE: u32 = 20;
}

/// CSR0 bits.
pub mod status {
    /// INIT: read the initialisation block (write 1).
    pub const INIT: u16 = 1 << 0;
    /// STRT: start receiving and transmitting (write 1).
    pub const START: u16 = 1 << 1;
    /// STOP: stop all activity and reset the ring pointers (write 1; set
    /// after a reset).
    pub const STOP: u16 = 1 << 2;
    /// TDMD: look at the transmit ring now (write 1).
    pub const TRANSMIT_DEMAND: u16 = 1 << 3;
    /// TXON: the transmitter is on (read only).
    pub const TRANSMIT_ON: u16 = 1 << 4;
    /// RXON: the receiver is on (read only).
    pub const RECEIVE_ON: u16 = 1 << 5;
    /// IENA: drive the INTA pin when a cause is set (read and write; every
    /// write of CSR0 sets it to the value written).
    pub const INTERRUPT_ENABLE: u16 = 1 << 6;
    /// INTR: some unmasked cause is set (read only).
    pub const INTERRUPT_FLAG: u16 = 1 << 7;
    /// IDON: the initialisation block was read (write 1 to clear).
    pub const INITIALIZATION_DONE: u16 = 1 << 8;
    /// TINT: a transmit descriptor was finished (write 1 to clear).
    pub const TRANSMIT_INTERRUPT: u16 = 1 << 9;
    /// RINT: a receive descriptor was filled (write 1 to clear).
    pub const RECEIVE_INTERRUPT: u16 = 1 << 10;
    /// MERR: a DMA transfer failed (write 1 to clear).
    pub const MEMORY_ERROR: u16 = 1 << 11;
    /// MISS: a frame was lost, no receive descriptor was free (write 1 to
    /// clear).
    pub const MISSED_FRAME: u16 = 1 << 12;
    /// CERR: collision error, or no carrier (write 1 to clear).
    pub const COLLISION_ERROR: u16 = 1 << 13;
    /// BABL: the transmitter ran too long (write 1 to clear).
    pub const BABBLE: u16 = 1 << 14;
    /// ERR: one of BABL, CERR, MISS, MERR is set (read only).
    pub const ERROR: u16 = 1 << 15;

    /// The causes CSR0 latches; writing 1 to one clears it.
    pub const LATCHED_CAUSES: u16 = INITIALIZATION_DONE
        | TRANSMIT_INTERRUPT
        | RECEIVE_INTERRUPT
        | MEMORY_ERROR
        | MISSED_FRAME
        | COLLISION_ERROR
        | BABBLE;
    /// The latched causes that are errors no descriptor reports: a
    /// collision error (CERR) comes with a failed transmit descriptor,
    /// which is counted instead.
    pub const ERROR_CAUSES: u16 = MEMORY_ERROR | MISSED_FRAME | BABBLE;

    /// The CSR0 value that clears exactly the causes latched in `status`
    /// and leaves interrupts enabled or not. It never sets INIT, STRT,
    /// STOP or TDMD.
    pub fn acknowledgement(status: u16, interrupts_enabled: bool) -> u16 {
        let enable = if interrupts_enabled {
            INTERRUPT_ENABLE
        } else {
            0
        };
        (status & LATCHED_CAUSES) | enable
    }

    /// How many of [`ERROR_CAUSES`] `status` has latched.
    pub fn error_count(status: u16) -> u32 {
        (status & ERROR_CAUSES).count_ones()
    }

    /// Is the controller stopped (the state after a reset)?
    pub fn is_stopped(status: u16) -> bool {
        status & STOP != 0
    }
}

/// CSR3 bits.
pub mod interrupt_masks {
    /// IDONM: initialisation done does not interrupt.
    pub const INITIALIZATION_DONE: u16 = 1 << 8;
}

/// BCR20 (and CSR58) fields.
pub mod software_style {
    /// SWSTYLE 2, "PCnet-PCI": 32-bit initialisation block and 16-byte
    /// descriptors.
    pub const PCNET_PCI: u16 = 2;
    /// The SWSTYLE field.
    pub const STYLE_MASK: u16 = 0x00ff;
    /// SSIZE32: the controller uses 32-bit structures (read only; set by
    /// the style).
    pub const SIZE_32_BITS: u16 = 1 << 8;

    /// Does a read of BCR20 or CSR58 say software style 2 is in effect?
    pub fn is_pcnet_pci(value: u16) -> bool {
        value & STYLE_MASK == PCNET_PCI && value & SIZE_32_BITS != 0
    }
}

/// BCR4 fields.
pub mod link_status {
    /// LEDOUT: the signals the register selects are active (read only).
    pub const LED_OUT: u16 = 1 << 15;
    /// LNKSTE: link status is one of the selected signals.
    pub const LINK_STATUS_ENABLE: u16 = 1 << 6;

    /// Is the link up, by a read of BCR4 whose link-status selection is
    /// on?
    pub fn link_is_up(value: u16) -> bool {
        value & LED_OUT != 0 && value & LINK_STATUS_ENABLE != 0
    }

    /// The BCR4 value that keeps the other selections and adds the link
    /// status (LEDOUT is read only and written as 0).
    pub fn with_link_status(value: u16) -> u16 {
        (value & !LED_OUT) | LINK_STATUS_ENABLE
    }
}

/// The part number of an Am79C970A (bits 27-12 of the chip id).
pub const AM79C970A_PART_NUMBER: u16 = 0x2621;

/// The part number in the chip id read from CSR88 (`low`) and CSR89
/// (`high`).
pub fn part_number(low: u16, high: u16) -> u16 {
    let id = (u32::from(high) << 16) | u32::from(low);
    ((id >> 12) & 0xffff) as u16
}

/// Can `address` (from the address PROM) be the station address: not all
/// zeros, not all ones, not a group (multicast) address?
pub fn is_usable_station_address(address: &[u8; 6]) -> bool {
    *address != [0; 6] && *address != [0xff; 6] && address[0] & 1 == 0
}

/// A physical address as the device's 32-bit bus address, if it fits.
pub fn device_address(physical: u64) -> Option<u32> {
    u32::try_from(physical).ok()
}

/// Ethernet frame sizes (without the frame check sequence).
pub mod frame {
    /// Destination, source and type.
    pub const HEADER_BYTES: usize = 14;
    /// The shortest frame on the wire; shorter ones are padded with zeros.
    pub const MINIMUM_BYTES: usize = 60;
    /// The longest frame the kernel's interface carries.
    pub const MAXIMUM_BYTES: usize = 1514;
    /// The frame check sequence the device appends (and counts on receive).
    pub const CHECK_SEQUENCE_BYTES: usize = 4;

    /// Can a frame of `length` bytes be sent?
    pub fn is_sendable(length: usize) -> bool {
        (HEADER_BYTES..=MAXIMUM_BYTES).contains(&length)
    }

    /// The length a frame of `length` bytes goes out with (padded to the
    /// minimum).
    pub fn padded_length(length: usize) -> usize {
        length.max(MINIMUM_BYTES)
    }
}

/// Descriptor fields (software style 2: four 32-bit words per descriptor;
/// word 0 the buffer's address, word 1 flags and the buffer byte count,
/// word 2 the message byte count or transmit errors, word 3 free for the
/// driver).
pub mod descriptor {
    /// Bytes per descriptor; descriptors and rings are 16-byte aligned.
    pub const BYTES: usize = 16;
    /// Word 1, OWN: the device owns the descriptor.
    pub const OWNED_BY_DEVICE: u32 = 1 << 31;
    /// Word 1, ERR: the frame had an error (the other bits say which).
    pub const ERROR: u32 = 1 << 30;
    /// Word 1, STP: the buffer holds the start of a frame.
    pub const START_OF_FRAME: u32 = 1 << 25;
    /// Word 1, ENP: the buffer holds the end of a frame.
    pub const END_OF_FRAME: u32 = 1 << 24;
    /// Word 1, bits 15-12: must be ones.
    pub const ONES: u32 = 0xf000;
    /// Word 1, BCNT: the buffer byte count, negated (two's complement).
    pub const BYTE_COUNT_MASK: u32 = 0x0fff;
    /// Word 2 of a receive descriptor, MCNT: bytes received (with the
    /// frame check sequence).
    pub const MESSAGE_BYTE_COUNT_MASK: u32 = 0x0fff;
    /// The largest buffer a descriptor can describe.
    pub const MAXIMUM_BUFFER_BYTES: usize = 4095;

    /// Word 1's BCNT and ones for a buffer of `bytes` (1 to 4095): the
    /// byte count as a 12-bit two's complement.
    pub fn encode_buffer_byte_count(bytes: usize) -> Option<u32> {
        if !(1..=MAXIMUM_BUFFER_BYTES).contains(&bytes) {
            return None;
        }
        let negated = (0x1000 - bytes as u32) & BYTE_COUNT_MASK;
        Some(ONES | negated)
    }

    /// The buffer size word 1 describes (a BCNT of 0 means 4096 bytes).
    pub fn decode_buffer_byte_count(word: u32) -> usize {
        match (word & BYTE_COUNT_MASK) as usize {
            0 => 4096,
            negated => 0x1000 - negated,
        }
    }
}

/// A receive descriptor handed to the device: its buffer at device
/// address `buffer`, `bytes` long. Words 0 to 3; write word 1 (which holds
/// OWN) last.
pub fn receive_descriptor(buffer: u32, bytes: usize) -> Option<[u32; 4]> {
    let count = descriptor::encode_buffer_byte_count(bytes)?;
    Some([buffer, descriptor::OWNED_BY_DEVICE | count, 0, 0])
}

/// What a receive descriptor says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// The device still owns it: nothing received yet.
    OwnedByDevice,
    /// A whole frame of `length` bytes (without the frame check sequence)
    /// is in the buffer.
    Frame {
        /// Bytes of the frame.
        length: usize,
    },
    /// The device gave it back with an error, a frame spread over several
    /// buffers, or an impossible length: drop it and return the buffer.
    Damaged,
}

/// Decodes a receive descriptor's word 1 (`flags`) and word 2
/// (`message`), for a buffer of `buffer_bytes`.
pub fn decode_received(flags: u32, message: u32, buffer_bytes: usize) -> Received {
    use descriptor::*;
    if flags & OWNED_BY_DEVICE != 0 {
        return Received::OwnedByDevice;
    }
    let whole = START_OF_FRAME | END_OF_FRAME;
    if flags & ERROR != 0 || flags & whole != whole {
        return Received::Damaged;
    }
    let received = (message & MESSAGE_BYTE_COUNT_MASK) as usize;
    if received > buffer_bytes {
        return Received::Damaged;
    }
    match received.checked_sub(frame::CHECK_SEQUENCE_BYTES) {
        Some(length) if (frame::HEADER_BYTES..=frame::MAXIMUM_BYTES).contains(&length) => {
            Received::Frame { length }
        }
        _ => Received::Damaged,
    }
}

/// A transmit descriptor handed to the device: one frame of `length`
/// bytes (its whole buffer) at device address `buffer`. Words 0 to 3;
/// write word 1 (which holds OWN) last.
pub fn transmit_descriptor(buffer: u32, length: usize) -> Option<[u32; 4]> {
    let count = descriptor::encode_buffer_byte_count(length)?;
    let flags =
        descriptor::OWNED_BY_DEVICE | descriptor::START_OF_FRAME | descriptor::END_OF_FRAME | count;
    Some([buffer, flags, 0, 0])
}

/// What a transmit descriptor the driver handed over says now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transmitted {
    /// The device still owns it.
    OwnedByDevice,
    /// Sent: `length` bytes went out (padding included).
    Sent {
        /// Bytes sent.
        length: usize,
    },
    /// The device gave up on it (no carrier, collisions, underflow, ...).
    Failed,
}

/// Decodes word 1 of a transmit descriptor the driver handed over.
pub fn decode_transmitted(flags: u32) -> Transmitted {
    if flags & descriptor::OWNED_BY_DEVICE != 0 {
        Transmitted::OwnedByDevice
    } else if flags & descriptor::ERROR != 0 {
        Transmitted::Failed
    } else {
        Transmitted::Sent {
            length: descriptor::decode_buffer_byte_count(flags),
        }
    }
}

/// The longest ring the device supports.
pub const MAXIMUM_RING_LENGTH: usize = 512;

/// The 4-bit code of a ring length in the initialisation block (its
/// base-2 logarithm), for powers of two from 1 to 512.
pub fn ring_length_code(length: usize) -> Option<u32> {
    (length.is_power_of_two() && length <= MAXIMUM_RING_LENGTH).then(|| length.trailing_zeros())
}

/// The initialisation block of software style 2 (28 bytes, seven 32-bit
/// words), which CSR0 INIT makes the device read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitializationBlock {
    /// The mode (CSR15): 0 for normal operation.
    pub mode: u16,
    /// Receive descriptors (a power of two, 1 to 512).
    pub receive_ring_length: usize,
    /// Transmit descriptors (a power of two, 1 to 512).
    pub transmit_ring_length: usize,
    /// The station (MAC) address the device answers to.
    pub station_address: [u8; 6],
    /// The logical address filter for group addresses (0: none).
    pub logical_address_filter: u64,
    /// Device address of the receive ring (16-byte aligned).
    pub receive_ring: u32,
    /// Device address of the transmit ring (16-byte aligned).
    pub transmit_ring: u32,
}

/// Words in an [`InitializationBlock`].
pub const INITIALIZATION_BLOCK_WORDS: usize = 7;

impl InitializationBlock {
    /// The block's seven little-endian words, or `None` if a ring length
    /// is not a power of two up to 512 or a ring is not 16-byte aligned.
    pub fn encode(&self) -> Option<[u32; INITIALIZATION_BLOCK_WORDS]> {
        let receive = ring_length_code(self.receive_ring_length)?;
        let transmit = ring_length_code(self.transmit_ring_length)?;
        let aligned = |address: u32| (address as usize).is_multiple_of(descriptor::BYTES);
        if !aligned(self.receive_ring) || !aligned(self.transmit_ring) {
            return None;
        }
        let mac = self.station_address;
        Some([
            u32::from(self.mode) | (receive << 20) | (transmit << 28),
            u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
            u32::from_le_bytes([mac[4], mac[5], 0, 0]),
            self.logical_address_filter as u32,
            (self.logical_address_filter >> 32) as u32,
            self.receive_ring,
            self.transmit_ring,
        ])
    }
}

/// Where the driver keeps things in its one DMA buffer: the
/// initialisation block at offset 0, then the receive and the transmit
/// descriptors (16-byte aligned), then, from the next page, one buffer per
/// receive descriptor and one per transmit descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaLayout {
    receive_ring_length: usize,
    transmit_ring_length: usize,
    buffer_bytes: usize,
}

/// Bytes reserved for the initialisation block (28, rounded up to the
/// descriptors' alignment).
const INITIALIZATION_BLOCK_SPACE: usize = 32;
/// Page size: buffers start on a page.
const PAGE_BYTES: usize = 4096;

impl DmaLayout {
    /// A layout for rings of these lengths (powers of two, 1 to 512) and
    /// buffers of `buffer_bytes` (a multiple of 16 that holds a whole
    /// frame with its check sequence, at most 4095).
    pub fn new(
        receive_ring_length: usize,
        transmit_ring_length: usize,
        buffer_bytes: usize,
    ) -> Option<DmaLayout> {
        ring_length_code(receive_ring_length)?;
        ring_length_code(transmit_ring_length)?;
        let holds_a_frame = buffer_bytes >= frame::MAXIMUM_BYTES + frame::CHECK_SEQUENCE_BYTES;
        if !holds_a_frame
            || buffer_bytes > descriptor::MAXIMUM_BUFFER_BYTES
            || !buffer_bytes.is_multiple_of(descriptor::BYTES)
        {
            return None;
        }
        Some(DmaLayout {
            receive_ring_length,
            transmit_ring_length,
            buffer_bytes,
        })
    }

    /// Receive descriptors.
    pub fn receive_ring_length(&self) -> usize {
        self.receive_ring_length
    }

    /// Transmit descriptors.
    pub fn transmit_ring_length(&self) -> usize {
        self.transmit_ring_length
    }

    /// Bytes per buffer.
    pub fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    /// Offset of the initialisation block.
    pub fn initialization_block(&self) -> usize {
        0
    }

    /// Offset of the receive ring (its descriptor 0).
    pub fn receive_ring(&self) -> usize {
        INITIALIZATION_BLOCK_SPACE
    }

    /// Offset of the transmit ring (its descriptor 0).
    pub fn transmit_ring(&self) -> usize {
        self.receive_ring() + self.receive_ring_length * descriptor::BYTES
    }

    /// Offset of receive descriptor `index` (taken modulo the ring).
    pub fn receive_descriptor(&self, index: usize) -> usize {
        self.receive_ring() + (index % self.receive_ring_length) * descriptor::BYTES
    }

    /// Offset of transmit descriptor `index` (taken modulo the ring).
    pub fn transmit_descriptor(&self, index: usize) -> usize {
        self.transmit_ring() + (index % self.transmit_ring_length) * descriptor::BYTES
    }

    fn buffers(&self) -> usize {
        let descriptors_end = self.transmit_ring() + self.transmit_ring_length * descriptor::BYTES;
        descriptors_end.div_ceil(PAGE_BYTES) * PAGE_BYTES
    }

    /// Offset of the buffer of receive descriptor `index` (modulo the
    /// ring).
    pub fn receive_buffer(&self, index: usize) -> usize {
        self.buffers() + (index % self.receive_ring_length) * self.buffer_bytes
    }

    /// Offset of the buffer of transmit descriptor `index` (modulo the
    /// ring).
    pub fn transmit_buffer(&self, index: usize) -> usize {
        self.buffers()
            + (self.receive_ring_length + index % self.transmit_ring_length) * self.buffer_bytes
    }

    /// Bytes the whole layout needs.
    pub fn total_bytes(&self) -> usize {
        self.buffers() + (self.receive_ring_length + self.transmit_ring_length) * self.buffer_bytes
    }
}

/// The receive ring as the driver walks it: the device fills descriptors
/// in order, the driver takes them back in the same order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveRing {
    length: usize,
    next: usize,
}

impl ReceiveRing {
    /// A ring of `length` descriptors (a power of two, 1 to 512), starting
    /// at descriptor 0 (where the device starts after INIT).
    pub fn new(length: usize) -> Option<ReceiveRing> {
        ring_length_code(length)?;
        Some(ReceiveRing { length, next: 0 })
    }

    /// The descriptor the device fills next.
    pub fn next(&self) -> usize {
        self.next
    }

    /// Moves on to the following descriptor.
    pub fn advance(&mut self) {
        self.next = (self.next + 1) % self.length;
    }

    /// Back to descriptor 0 (after INIT).
    pub fn reset(&mut self) {
        self.next = 0;
    }
}

/// The transmit ring as the driver fills and reclaims it: frames are
/// handed to the device at the fill end and reclaimed, once the device has
/// given their descriptors back, from the other end, in order.
///
/// The counters run freely (wrapping); a ring length divides 2^32, so the
/// index of a counter is the counter modulo the length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransmitRing {
    length: usize,
    filled: u32,
    reclaimed: u32,
}

impl TransmitRing {
    /// A ring of `length` descriptors (a power of two, 1 to 512), empty,
    /// starting at descriptor 0 (where the device starts after INIT).
    pub fn new(length: usize) -> Option<TransmitRing> {
        ring_length_code(length)?;
        Some(TransmitRing {
            length,
            filled: 0,
            reclaimed: 0,
        })
    }

    fn index(&self, counter: u32) -> usize {
        counter as usize % self.length
    }

    /// Frames handed to the device and not reclaimed yet.
    pub fn in_flight(&self) -> usize {
        self.filled.wrapping_sub(self.reclaimed) as usize
    }

    /// Does every descriptor hold a frame?
    pub fn is_full(&self) -> bool {
        self.in_flight() >= self.length
    }

    /// Is no frame in flight?
    pub fn is_empty(&self) -> bool {
        self.in_flight() == 0
    }

    /// The descriptor to fill next, unless the ring is full.
    pub fn next_free(&self) -> Option<usize> {
        (!self.is_full()).then(|| self.index(self.filled))
    }

    /// The descriptor from [`Self::next_free`] now holds a frame.
    pub fn mark_filled(&mut self) {
        if !self.is_full() {
            self.filled = self.filled.wrapping_add(1);
        }
    }

    /// The oldest descriptor in flight, if any.
    pub fn oldest_in_flight(&self) -> Option<usize> {
        (!self.is_empty()).then(|| self.index(self.reclaimed))
    }

    /// The descriptor from [`Self::oldest_in_flight`] is done.
    pub fn mark_reclaimed(&mut self) {
        if !self.is_empty() {
            self.reclaimed = self.reclaimed.wrapping_add(1);
        }
    }

    /// Empty again, from descriptor 0 (after INIT).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.reclaimed = 0;
    }
}

/// Reads a value until `done` accepts it, at most `attempts` times,
/// calling `pause` between two reads. Returns the accepted value, or
/// `None` if none was; a failed read ends the wait with its error.
pub fn wait_until<T: Copy, E>(
    attempts: u32,
    mut read: impl FnMut() -> Result<T, E>,
    done: impl Fn(T) -> bool,
    mut pause: impl FnMut(),
) -> Result<Option<T>, E> {
    for attempt in 0..attempts {
        if attempt > 0 {
            pause();
        }
        let value = read()?;
        if done(value) {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
