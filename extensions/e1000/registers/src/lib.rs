//! The `e1000` extension's hardware-free logic, tested on the host with
//! plain `cargo test`: the Intel 8254x (82540EM, QEMU's `e1000`) register
//! offsets and bit fields the driver uses, the legacy receive and transmit
//! descriptor layouts, EEPROM reads through EERD and the EEPROM checksum,
//! MAC address conversions, and the ring index arithmetic of both
//! descriptor rings (head, tail, free counts, wrap-around).
//!
//! The driver (`extensions/e1000/src/main.rs`) only adds the accesses: MMIO
//! reads and writes of the registers and of the descriptors in DMA memory.
//!
//! Invariants:
//! - A [`RingSize`] is always a descriptor count the hardware accepts (a
//!   multiple of 8, so the ring's byte length is a multiple of 128, from 8
//!   to [`RingSize::MAX`]); every ring index this crate hands out is below
//!   it.
//! - A [`TransmitRing`] never has more than `size - 1` descriptors in
//!   flight (a full ring's tail stops one short of its head, so
//!   `head == tail` always means empty), and completes them in the order
//!   it claimed them.
//! - A [`ReceiveRing`] keeps the descriptor just before
//!   [`ReceiveRing::next_to_check`] back from the hardware: its
//!   [`ReceiveRing::tail`] is always that descriptor's index, so the
//!   hardware never writes the descriptor the driver reads next before the
//!   driver has handed the previous one back.
//! - [`ReceiveRing::take`] yields a [`Received::Frame`] only for a single
//!   descriptor that holds a whole, error-free frame of 1 to
//!   [`MAX_FRAME_BYTES`] bytes; everything else is dropped with a reason,
//!   including every descriptor of a frame that spans several.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// The largest Ethernet frame handed over or sent, without the frame check
/// sequence (1500 bytes of payload and a 14-byte header; the kernel's
/// `deliver-packet` limit).
pub const MAX_FRAME_BYTES: usize = 1514;
/// The smallest frame the driver transmits: an Ethernet header (the device
/// pads short frames to 60 bytes itself, see [`transmit_control::PAD_SHORT_PACKETS`]).
pub const MIN_FRAME_BYTES: usize = 14;
/// Bytes of one receive or transmit buffer: the receive control register's
/// buffer size field is left at 2048 ([`receive_control::BUFFER_SIZE_2048`]),
/// which holds any frame of [`MAX_FRAME_BYTES`] plus the frame check sequence.
pub const BUFFER_BYTES: usize = 2048;

/// Register offsets in BAR0 (memory-mapped, 32-bit registers), as named in
/// the 8254x family's developer's manual.
pub mod register {
    /// CTRL: device control (reset, link set-up).
    pub const CONTROL: usize = 0x0000;
    /// STATUS: device status (link up, duplex, speed).
    pub const STATUS: usize = 0x0008;
    /// EERD: EEPROM read (start a word read, then poll for done).
    pub const EEPROM_READ: usize = 0x0014;
    /// ICR: interrupt cause read; reading it clears every cause and
    /// deasserts the interrupt line.
    pub const INTERRUPT_CAUSE_READ: usize = 0x00c0;
    /// ITR: interrupt throttling: the least interval between two
    /// interrupts, in units of 256 ns (0: no throttling).
    pub const INTERRUPT_THROTTLING: usize = 0x00c4;
    /// IMS: interrupt mask set (a 1 bit enables that cause).
    pub const INTERRUPT_MASK_SET: usize = 0x00d0;
    /// IMC: interrupt mask clear (a 1 bit disables that cause).
    pub const INTERRUPT_MASK_CLEAR: usize = 0x00d8;
    /// RCTL: receive control.
    pub const RECEIVE_CONTROL: usize = 0x0100;
    /// TCTL: transmit control.
    pub const TRANSMIT_CONTROL: usize = 0x0400;
    /// TIPG: transmit inter-packet gap.
    pub const TRANSMIT_INTER_PACKET_GAP: usize = 0x0410;
    /// RDBAL: receive descriptor ring base, low 32 bits (16-byte aligned).
    pub const RECEIVE_BASE_LOW: usize = 0x2800;
    /// RDBAH: receive descriptor ring base, high 32 bits.
    pub const RECEIVE_BASE_HIGH: usize = 0x2804;
    /// RDLEN: receive descriptor ring length in bytes (a multiple of 128).
    pub const RECEIVE_LENGTH: usize = 0x2808;
    /// RDH: receive descriptor head (the next descriptor the device fills).
    pub const RECEIVE_HEAD: usize = 0x2810;
    /// RDT: receive descriptor tail (the device fills up to, not
    /// including, this descriptor).
    pub const RECEIVE_TAIL: usize = 0x2818;
    /// RDTR: receive delay timer (0: interrupt at once).
    pub const RECEIVE_DELAY_TIMER: usize = 0x2820;
    /// TDBAL: transmit descriptor ring base, low 32 bits.
    pub const TRANSMIT_BASE_LOW: usize = 0x3800;
    /// TDBAH: transmit descriptor ring base, high 32 bits.
    pub const TRANSMIT_BASE_HIGH: usize = 0x3804;
    /// TDLEN: transmit descriptor ring length in bytes (a multiple of 128).
    pub const TRANSMIT_LENGTH: usize = 0x3808;
    /// TDH: transmit descriptor head (the next descriptor the device sends).
    pub const TRANSMIT_HEAD: usize = 0x3810;
    /// TDT: transmit descriptor tail (one past the last descriptor queued).
    pub const TRANSMIT_TAIL: usize = 0x3818;
    /// TIDV: transmit interrupt delay (0: none).
    pub const TRANSMIT_INTERRUPT_DELAY: usize = 0x3820;
    /// MPC: missed packets count (frames lost for lack of a receive
    /// descriptor or FIFO room); cleared by reading.
    pub const MISSED_PACKETS: usize = 0x4010;
    /// MTA: the first of [`MULTICAST_TABLE_ENTRIES`] multicast table
    /// array registers.
    pub const MULTICAST_TABLE: usize = 0x5200;
    /// Registers in the multicast table array.
    pub const MULTICAST_TABLE_ENTRIES: usize = 128;
    /// RAL0: receive address 0, low 32 bits (MAC bytes 0 to 3).
    pub const RECEIVE_ADDRESS_LOW: usize = 0x5400;
    /// RAH0: receive address 0, high bits (MAC bytes 4 and 5, and the
    /// address-valid bit).
    pub const RECEIVE_ADDRESS_HIGH: usize = 0x5404;
}

/// CTRL bits.
pub mod control {
    /// FD: full duplex.
    pub const FULL_DUPLEX: u32 = 1 << 0;
    /// LRST: link reset (held, the link stays down).
    pub const LINK_RESET: u32 = 1 << 3;
    /// ASDE: auto-speed detection.
    pub const AUTO_SPEED_DETECTION: u32 = 1 << 5;
    /// SLU: set link up.
    pub const SET_LINK_UP: u32 = 1 << 6;
    /// ILOS: invert loss-of-signal.
    pub const INVERT_LOSS_OF_SIGNAL: u32 = 1 << 7;
    /// RST: device reset; self-clearing, every register returns to its
    /// power-on value.
    pub const DEVICE_RESET: u32 = 1 << 26;
    /// VME: VLAN mode (tag handling).
    pub const VLAN_MODE: u32 = 1 << 30;
    /// PHY_RST: PHY reset (held).
    pub const PHY_RESET: u32 = 1 << 31;

    /// CTRL after reset, with the link brought up: `current` with set-link-up
    /// and auto-speed detection on, and the device, link and PHY resets,
    /// the inverted loss-of-signal and VLAN mode off.
    pub const fn link_up(current: u32) -> u32 {
        (current | SET_LINK_UP | AUTO_SPEED_DETECTION)
            & !(DEVICE_RESET | LINK_RESET | PHY_RESET | INVERT_LOSS_OF_SIGNAL | VLAN_MODE)
    }
}

/// STATUS bits.
pub mod status {
    /// FD: the link is full duplex.
    pub const FULL_DUPLEX: u32 = 1 << 0;
    /// LU: the link is up.
    pub const LINK_UP: u32 = 1 << 1;

    /// Is the link up, by a STATUS value?
    pub const fn link_is_up(status: u32) -> bool {
        status & LINK_UP != 0
    }
}

/// Interrupt causes (the same bits in ICR, ICS, IMS and IMC).
pub mod interrupt {
    /// TXDW: a transmit descriptor was written back.
    pub const TRANSMIT_DESCRIPTOR_WRITTEN_BACK: u32 = 1 << 0;
    /// TXQE: the transmit queue is empty.
    pub const TRANSMIT_QUEUE_EMPTY: u32 = 1 << 1;
    /// LSC: the link status changed.
    pub const LINK_STATUS_CHANGE: u32 = 1 << 2;
    /// RXSEQ: receive sequence error.
    pub const RECEIVE_SEQUENCE_ERROR: u32 = 1 << 3;
    /// RXDMT0: free receive descriptors fell to the minimum threshold.
    pub const RECEIVE_DESCRIPTORS_LOW: u32 = 1 << 4;
    /// RXO: receive overrun (a frame was lost).
    pub const RECEIVE_OVERRUN: u32 = 1 << 6;
    /// RXT0: receiver timer: frames were received.
    pub const RECEIVE_TIMER: u32 = 1 << 7;
    /// ITR value: at least 50 µs between interrupts (195 × 256 ns), so at
    /// most about 20,000 interrupts a second however fast frames arrive;
    /// each costs a crossing into the driver and a poll.
    pub const THROTTLING_INTERVAL: u32 = 195;
    /// Every cause (written to IMC to disable all).
    pub const ALL: u32 = u32::MAX;
    /// The causes the driver enables: receive events and link changes.
    /// Finished transmissions are reclaimed by polling and by the next
    /// transmit, without an interrupt each.
    pub const ENABLED: u32 = LINK_STATUS_CHANGE
        | RECEIVE_SEQUENCE_ERROR
        | RECEIVE_DESCRIPTORS_LOW
        | RECEIVE_OVERRUN
        | RECEIVE_TIMER;
}

/// RCTL bits.
pub mod receive_control {
    /// EN: the receiver is enabled.
    pub const ENABLE: u32 = 1 << 1;
    /// SBP: store bad packets.
    pub const STORE_BAD_PACKETS: u32 = 1 << 2;
    /// UPE: unicast promiscuous.
    pub const UNICAST_PROMISCUOUS: u32 = 1 << 3;
    /// MPE: multicast promiscuous.
    pub const MULTICAST_PROMISCUOUS: u32 = 1 << 4;
    /// LPE: long packets (over 1522 bytes) accepted.
    pub const LONG_PACKETS: u32 = 1 << 5;
    /// BAM: broadcasts accepted.
    pub const BROADCAST_ACCEPT: u32 = 1 << 15;
    /// BSIZE field at bits 16-17 with BSEX clear: 2048-byte buffers.
    pub const BUFFER_SIZE_2048: u32 = 0 << 16;
    /// SECRC: strip the Ethernet CRC from received frames (the length
    /// then excludes the frame check sequence).
    pub const STRIP_CRC: u32 = 1 << 26;

    /// RCTL of a running receiver: enabled, our address and broadcasts
    /// (no promiscuous modes, no long or bad packets), 2048-byte buffers,
    /// CRC stripped.
    pub const RUNNING: u32 = ENABLE | BROADCAST_ACCEPT | BUFFER_SIZE_2048 | STRIP_CRC;
}

/// TCTL bits and the transmit inter-packet gap.
pub mod transmit_control {
    /// EN: the transmitter is enabled.
    pub const ENABLE: u32 = 1 << 1;
    /// PSP: pad short packets to 64 bytes (with the CRC).
    pub const PAD_SHORT_PACKETS: u32 = 1 << 3;
    /// CT field (bits 4-11): collision threshold, the manual's
    /// recommended 15 retries.
    pub const COLLISION_THRESHOLD: u32 = 0x0f << 4;
    /// COLD field (bits 12-21): collision distance, 64 byte times for a
    /// full-duplex link.
    pub const COLLISION_DISTANCE_FULL_DUPLEX: u32 = 0x40 << 12;
    /// RTLC: retransmit on late collision.
    pub const RETRANSMIT_ON_LATE_COLLISION: u32 = 1 << 24;

    /// TCTL of a running transmitter.
    pub const RUNNING: u32 =
        ENABLE | PAD_SHORT_PACKETS | COLLISION_THRESHOLD | COLLISION_DISTANCE_FULL_DUPLEX;

    /// TIPG for a copper link (IEEE 802.3 gaps): IPGT 10, IPGR1 8, IPGR2 6.
    pub const INTER_PACKET_GAP: u32 = 10 | (8 << 10) | (6 << 20);
}

/// Reading the EEPROM one 16-bit word at a time through EERD (the 82540's
/// layout: start bit 0, done bit 4, word address at bits 8-15, data at
/// bits 16-31), and its checksum.
pub mod eeprom {
    /// START: begin a read of the word in the address field.
    pub const START: u32 = 1 << 0;
    /// DONE: the read finished; the data field is valid.
    pub const DONE: u32 = 1 << 4;
    /// Shift of the word address field.
    pub const ADDRESS_SHIFT: u32 = 8;
    /// Shift of the data field.
    pub const DATA_SHIFT: u32 = 16;
    /// Words covered by the checksum (0x00 to 0x3f; word 0x3f makes the
    /// sum come out right).
    pub const CHECKSUMMED_WORDS: usize = 0x40;
    /// What the checksummed words add up to (modulo 2^16) in a valid image.
    pub const CHECKSUM_TARGET: u16 = 0xbaba;
    /// Word address of the MAC address (three words, bytes in order, low
    /// byte first).
    pub const MAC_ADDRESS_WORD: u8 = 0x00;

    /// The EERD value that starts a read of `word`.
    pub const fn read_request(word: u8) -> u32 {
        ((word as u32) << ADDRESS_SHIFT) | START
    }

    /// The word an EERD value holds, once its read of `word` is done (None
    /// while it is not, or if it answers for another word).
    pub const fn read_result(eerd: u32, word: u8) -> Option<u16> {
        let address = ((eerd >> ADDRESS_SHIFT) & 0xff) as u8;
        if eerd & DONE == 0 || address != word {
            return None;
        }
        Some((eerd >> DATA_SHIFT) as u16)
    }

    /// Do the checksummed words add up to [`CHECKSUM_TARGET`]?
    pub fn checksum_is_valid(words: &[u16; CHECKSUMMED_WORDS]) -> bool {
        words.iter().fold(0u16, |sum, &word| sum.wrapping_add(word)) == CHECKSUM_TARGET
    }
}

/// An Ethernet (MAC) address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacAddress(pub [u8; 6]);

/// RAH's address-valid bit: the receive address is used for filtering.
pub const RECEIVE_ADDRESS_VALID: u32 = 1 << 31;

impl MacAddress {
    /// The address in the EEPROM's first three words (each low byte first).
    pub const fn from_eeprom_words(words: [u16; 3]) -> MacAddress {
        let [a, b] = words[0].to_le_bytes();
        let [c, d] = words[1].to_le_bytes();
        let [e, f] = words[2].to_le_bytes();
        MacAddress([a, b, c, d, e, f])
    }

    /// The address in receive address registers RAL0/RAH0, if RAH0 marks it
    /// valid.
    pub const fn from_receive_address(low: u32, high: u32) -> Option<MacAddress> {
        if high & RECEIVE_ADDRESS_VALID == 0 {
            return None;
        }
        let [a, b, c, d] = low.to_le_bytes();
        let [e, f, _, _] = high.to_le_bytes();
        Some(MacAddress([a, b, c, d, e, f]))
    }

    /// The (RAL0, RAH0) values that make this the device's receive address,
    /// marked valid.
    pub const fn receive_address(&self) -> (u32, u32) {
        let [a, b, c, d, e, f] = self.0;
        (
            u32::from_le_bytes([a, b, c, d]),
            u32::from_le_bytes([e, f, 0, 0]) | RECEIVE_ADDRESS_VALID,
        )
    }

    /// Can this be a station's own address: not all zeros and not a group
    /// (multicast or broadcast) address?
    pub const fn is_station_address(&self) -> bool {
        let [a, b, c, d, e, f] = self.0;
        let all_zero = a | b | c | d | e | f == 0;
        !all_zero && a & 1 == 0
    }
}

impl core::fmt::Display for MacAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The legacy descriptor layouts, as four little-endian 32-bit words each
/// (the driver writes and reads DMA memory 32 bits at a time).
pub mod descriptor {
    /// Bytes of one descriptor (receive or transmit).
    pub const BYTES: usize = 16;
    /// Index of the word holding the length (and, for transmit, the
    /// command).
    pub const LENGTH_WORD: usize = 2;
    /// Index of the word holding the status (and, for receive, the errors).
    pub const STATUS_WORD: usize = 3;

    /// Receive status: DD, the device is done with the descriptor.
    pub const RECEIVE_DONE: u8 = 1 << 0;
    /// Receive status: EOP, the descriptor holds the end of a frame.
    pub const RECEIVE_END_OF_PACKET: u8 = 1 << 1;
    /// Receive errors: CE, CRC or alignment error.
    pub const RECEIVE_CRC_ERROR: u8 = 1 << 0;
    /// Receive errors: SE, symbol error.
    pub const RECEIVE_SYMBOL_ERROR: u8 = 1 << 1;
    /// Receive errors: SEQ, sequence error.
    pub const RECEIVE_SEQUENCE_ERROR: u8 = 1 << 2;
    /// Receive errors: CXE, carrier extension error.
    pub const RECEIVE_CARRIER_EXTENSION_ERROR: u8 = 1 << 4;
    /// Receive errors: RXE, data error.
    pub const RECEIVE_DATA_ERROR: u8 = 1 << 7;
    /// The receive errors that spoil the frame itself (the TCP/UDP and IP
    /// checksum errors, bits 5 and 6, are left to the network stack,
    /// which checks checksums itself).
    pub const RECEIVE_FRAME_ERRORS: u8 = RECEIVE_CRC_ERROR
        | RECEIVE_SYMBOL_ERROR
        | RECEIVE_SEQUENCE_ERROR
        | RECEIVE_CARRIER_EXTENSION_ERROR
        | RECEIVE_DATA_ERROR;

    /// Transmit command: EOP, the descriptor ends the frame.
    pub const TRANSMIT_END_OF_PACKET: u8 = 1 << 0;
    /// Transmit command: IFCS, insert the frame check sequence.
    pub const TRANSMIT_INSERT_CRC: u8 = 1 << 1;
    /// Transmit command: RS, report status (write DD back when sent).
    pub const TRANSMIT_REPORT_STATUS: u8 = 1 << 3;
    /// The command of a whole frame in one descriptor: end of packet,
    /// CRC inserted, status reported.
    pub const TRANSMIT_WHOLE_FRAME: u8 =
        TRANSMIT_END_OF_PACKET | TRANSMIT_INSERT_CRC | TRANSMIT_REPORT_STATUS;
    /// Transmit status: DD, the device is done with the descriptor.
    pub const TRANSMIT_DONE: u8 = 1 << 0;
    /// Transmit status: EC, excess collisions (the frame was not sent).
    pub const TRANSMIT_EXCESS_COLLISIONS: u8 = 1 << 1;
    /// Transmit status: LC, late collision.
    pub const TRANSMIT_LATE_COLLISION: u8 = 1 << 2;

    const fn split(physical: u64) -> (u32, u32) {
        (physical as u32, (physical >> 32) as u32)
    }

    /// A receive descriptor handed to the device: the buffer's physical
    /// address, every written-back field cleared.
    pub const fn receive(buffer_physical: u64) -> [u32; 4] {
        let (low, high) = split(buffer_physical);
        [low, high, 0, 0]
    }

    /// A transmit descriptor for a whole frame of `length` bytes at
    /// `buffer_physical` (legacy format: length, checksum offset 0,
    /// command; status, checksum start and special cleared).
    pub const fn transmit(buffer_physical: u64, length: u16) -> [u32; 4] {
        let (low, high) = split(buffer_physical);
        [
            low,
            high,
            length as u32 | ((TRANSMIT_WHOLE_FRAME as u32) << 24),
            0,
        ]
    }

    /// The fields the device writes back into a receive descriptor.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ReceiveWriteback {
        /// Bytes of the frame in this descriptor's buffer.
        pub length: u16,
        /// Status bits (DD, EOP, ...).
        pub status: u8,
        /// Error bits (valid with EOP).
        pub errors: u8,
    }

    impl ReceiveWriteback {
        /// Decodes words 2 (length, checksum) and 3 (status, errors,
        /// special) of a receive descriptor.
        pub const fn decode(length_word: u32, status_word: u32) -> ReceiveWriteback {
            ReceiveWriteback {
                length: length_word as u16,
                status: status_word as u8,
                errors: (status_word >> 8) as u8,
            }
        }

        /// Is the device done with the descriptor?
        pub const fn is_done(&self) -> bool {
            self.status & RECEIVE_DONE != 0
        }

        /// Does it hold the end of a frame?
        pub const fn is_end_of_packet(&self) -> bool {
            self.status & RECEIVE_END_OF_PACKET != 0
        }

        /// The errors that spoil the frame (see [`RECEIVE_FRAME_ERRORS`]).
        pub const fn frame_errors(&self) -> u8 {
            self.errors & RECEIVE_FRAME_ERRORS
        }
    }

    /// Is a transmit descriptor done, by its status word (word 3)?
    pub const fn transmit_is_done(status_word: u32) -> bool {
        status_word as u8 & TRANSMIT_DONE != 0
    }

    /// Did a done transmit descriptor's frame fail (excess or late
    /// collisions), by its status word?
    pub const fn transmit_failed(status_word: u32) -> bool {
        status_word as u8 & (TRANSMIT_EXCESS_COLLISIONS | TRANSMIT_LATE_COLLISION) != 0
    }

    /// The frame length of a transmit descriptor, by its length word
    /// (word 2; the device does not write it back).
    pub const fn transmit_length(length_word: u32) -> u16 {
        length_word as u16
    }
}

/// A descriptor count the hardware accepts for a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSize(u16);

impl RingSize {
    /// The largest ring this driver builds.
    pub const MAX: u16 = 4096;

    /// `descriptors` if it is a multiple of 8 from 8 to [`RingSize::MAX`].
    pub const fn new(descriptors: u16) -> Option<RingSize> {
        if descriptors >= 8 && descriptors <= Self::MAX && descriptors.is_multiple_of(8) {
            Some(RingSize(descriptors))
        } else {
            None
        }
    }

    /// The descriptor count.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The ring's length in bytes (RDLEN / TDLEN).
    pub const fn bytes(self) -> usize {
        self.0 as usize * descriptor::BYTES
    }

    /// The index after `index`, wrapping at the end of the ring.
    pub const fn next(self, index: u16) -> u16 {
        if index + 1 == self.0 { 0 } else { index + 1 }
    }

    /// The index before `index`, wrapping at the start of the ring.
    pub const fn previous(self, index: u16) -> u16 {
        if index == 0 { self.0 - 1 } else { index - 1 }
    }

    /// How many steps forward from `from` to `to` (both indices of the
    /// ring).
    pub const fn distance(self, from: u16, to: u16) -> u16 {
        if to >= from {
            to - from
        } else {
            self.0 - from + to
        }
    }
}

/// The driver's view of the transmit ring: which descriptors it queued
/// and the device has not yet been seen to finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransmitRing {
    size: RingSize,
    /// The next descriptor to fill; the value of TDT.
    next_to_use: u16,
    /// The oldest descriptor queued and not yet reclaimed.
    next_to_clean: u16,
}

impl TransmitRing {
    /// An empty ring (TDH = TDT = 0).
    pub const fn new(size: RingSize) -> TransmitRing {
        TransmitRing {
            size,
            next_to_use: 0,
            next_to_clean: 0,
        }
    }

    /// The ring's size.
    pub const fn size(&self) -> RingSize {
        self.size
    }

    /// Descriptors queued and not yet reclaimed.
    pub const fn in_flight(&self) -> u16 {
        self.size.distance(self.next_to_clean, self.next_to_use)
    }

    /// Descriptors that may still be claimed (one always stays unused, so
    /// that a full ring's tail never reaches its head).
    pub const fn free(&self) -> u16 {
        self.size.get() - 1 - self.in_flight()
    }

    /// Claims the next descriptor to fill, or None if the ring is full.
    /// The caller fills it, then writes [`TransmitRing::tail`] to TDT.
    pub fn claim(&mut self) -> Option<u16> {
        if self.free() == 0 {
            return None;
        }
        let index = self.next_to_use;
        self.next_to_use = self.size.next(index);
        Some(index)
    }

    /// The value for TDT: one past the last descriptor claimed.
    pub const fn tail(&self) -> u16 {
        self.next_to_use
    }

    /// The oldest descriptor in flight (the next to check for done).
    pub const fn oldest_in_flight(&self) -> Option<u16> {
        if self.in_flight() == 0 {
            None
        } else {
            Some(self.next_to_clean)
        }
    }

    /// Reclaims the oldest descriptor in flight (the caller saw it done);
    /// returns its index, or None if nothing is in flight.
    pub fn complete_oldest(&mut self) -> Option<u16> {
        let index = self.oldest_in_flight()?;
        self.next_to_clean = self.size.next(index);
        Some(index)
    }
}

/// Why a received descriptor was dropped instead of delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The device reported errors (the [`descriptor::RECEIVE_FRAME_ERRORS`] bits).
    FrameErrors(u8),
    /// Part of a frame that spans several descriptors (longer than a
    /// buffer; never expected with long packets off).
    Fragment,
    /// A frame of no bytes.
    Empty,
    /// A frame longer than [`MAX_FRAME_BYTES`] (e.g. a VLAN-tagged full
    /// frame), which the kernel does not take.
    TooLong(u16),
}

/// What one done receive descriptor held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A whole frame of `length` bytes in descriptor `index`'s buffer.
    Frame {
        /// The descriptor.
        index: u16,
        /// Bytes of the frame.
        length: u16,
    },
    /// Descriptor `index` is dropped.
    Dropped {
        /// The descriptor.
        index: u16,
        /// Why.
        reason: DropReason,
    },
}

impl Received {
    /// The descriptor it came from (to hand back to the device).
    pub const fn index(&self) -> u16 {
        match *self {
            Received::Frame { index, .. } | Received::Dropped { index, .. } => index,
        }
    }
}

/// The driver's view of the receive ring: the next descriptor to check,
/// and whether it is skipping the rest of a frame that spans descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveRing {
    size: RingSize,
    next_to_check: u16,
    discarding: bool,
}

impl ReceiveRing {
    /// A fresh ring: every descriptor but the last is the device's
    /// (RDH = 0, RDT = [`ReceiveRing::tail`] = size - 1).
    pub const fn new(size: RingSize) -> ReceiveRing {
        ReceiveRing {
            size,
            next_to_check: 0,
            discarding: false,
        }
    }

    /// The ring's size.
    pub const fn size(&self) -> RingSize {
        self.size
    }

    /// The next descriptor the device fills and the driver checks.
    pub const fn next_to_check(&self) -> u16 {
        self.next_to_check
    }

    /// The value for RDT: the descriptor before the next to check, held
    /// back; every other descriptor not yet checked is the device's.
    pub const fn tail(&self) -> u16 {
        self.size.previous(self.next_to_check)
    }

    /// Takes the next descriptor, whose written-back fields are
    /// `writeback`: None (nothing taken) if the device is not done with
    /// it; otherwise what it held, and the ring moves on. The caller
    /// hands the descriptor back (clears it, then writes
    /// [`ReceiveRing::tail`] to RDT) once it has copied the frame out.
    pub fn take(&mut self, writeback: descriptor::ReceiveWriteback) -> Option<Received> {
        if !writeback.is_done() {
            return None;
        }
        let index = self.next_to_check;
        self.next_to_check = self.size.next(index);
        let dropped = |reason| Some(Received::Dropped { index, reason });
        if !writeback.is_end_of_packet() {
            self.discarding = true;
            return dropped(DropReason::Fragment);
        }
        if self.discarding {
            self.discarding = false;
            return dropped(DropReason::Fragment);
        }
        if writeback.frame_errors() != 0 {
            return dropped(DropReason::FrameErrors(writeback.frame_errors()));
        }
        match usize::from(writeback.length) {
            0 => dropped(DropReason::Empty),
            length if length > MAX_FRAME_BYTES => dropped(DropReason::TooLong(writeback.length)),
            _ => Some(Received::Frame {
                index,
                length: writeback.length,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::descriptor::{self, ReceiveWriteback};
    use super::*;

    /// The little-endian bytes of four descriptor words.
    fn bytes_of(words: [u32; 4]) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    fn words_of(bytes: [u8; 16]) -> [u32; 4] {
        let mut words = [0u32; 4];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_le_bytes(chunk.try_into().unwrap());
        }
        words
    }

    fn done(length: u16, end_of_packet: bool, errors: u8) -> ReceiveWriteback {
        let mut status = descriptor::RECEIVE_DONE;
        if end_of_packet {
            status |= descriptor::RECEIVE_END_OF_PACKET;
        }
        ReceiveWriteback {
            length,
            status,
            errors,
        }
    }

    #[test]
    fn register_offsets_match_the_manual() {
        use register::*;
        let offsets = [
            (CONTROL, 0x0),
            (STATUS, 0x8),
            (EEPROM_READ, 0x14),
            (INTERRUPT_CAUSE_READ, 0xc0),
            (INTERRUPT_THROTTLING, 0xc4),
            (INTERRUPT_MASK_SET, 0xd0),
            (INTERRUPT_MASK_CLEAR, 0xd8),
            (RECEIVE_CONTROL, 0x100),
            (TRANSMIT_CONTROL, 0x400),
            (TRANSMIT_INTER_PACKET_GAP, 0x410),
            (RECEIVE_BASE_LOW, 0x2800),
            (RECEIVE_TAIL, 0x2818),
            (TRANSMIT_BASE_LOW, 0x3800),
            (TRANSMIT_TAIL, 0x3818),
            (MISSED_PACKETS, 0x4010),
            (MULTICAST_TABLE, 0x5200),
            (RECEIVE_ADDRESS_LOW, 0x5400),
            (RECEIVE_ADDRESS_HIGH, 0x5404),
        ];
        for (offset, expected) in offsets {
            assert_eq!(offset, expected);
            assert_eq!(offset % 4, 0, "32-bit registers are aligned");
        }
        // The ring registers of each direction sit in one block.
        assert_eq!(RECEIVE_BASE_HIGH - RECEIVE_BASE_LOW, 4);
        assert_eq!(RECEIVE_HEAD - RECEIVE_BASE_LOW, 0x10);
        assert_eq!(TRANSMIT_HEAD - TRANSMIT_BASE_LOW, 0x10);
        // The multicast table ends where the receive addresses begin.
        assert_eq!(MULTICAST_TABLE + MULTICAST_TABLE_ENTRIES * 4, 0x5400);
    }

    #[test]
    fn control_values_set_the_documented_fields() {
        assert_eq!(control::DEVICE_RESET, 0x0400_0000);
        // Whatever CTRL holds after reset, the link comes up and every
        // reset, inversion and VLAN mode is cleared.
        for current in [0, u32::MAX, 0x0014_0248] {
            let value = control::link_up(current);
            assert_ne!(value & control::SET_LINK_UP, 0);
            assert_ne!(value & control::AUTO_SPEED_DETECTION, 0);
            assert_eq!(
                value
                    & (control::DEVICE_RESET
                        | control::LINK_RESET
                        | control::PHY_RESET
                        | control::INVERT_LOSS_OF_SIGNAL
                        | control::VLAN_MODE),
                0
            );
            // Other fields are kept.
            assert_eq!(value & control::FULL_DUPLEX, current & control::FULL_DUPLEX);
        }
        assert_eq!(receive_control::RUNNING, 0x0400_8002);
        assert_eq!(transmit_control::RUNNING, 0x0004_00fa);
        assert_eq!(transmit_control::INTER_PACKET_GAP, 0x0060_200a);
        assert_eq!(interrupt::ENABLED, 0xdc);
        assert!(status::link_is_up(0x8008_0783));
        assert!(!status::link_is_up(0x8008_0781));
    }

    #[test]
    fn eeprom_reads_encode_and_decode_through_eerd() {
        assert_eq!(eeprom::read_request(0), 0x0001);
        assert_eq!(eeprom::read_request(2), 0x0201);
        assert_eq!(eeprom::read_request(0x3f), 0x3f01);
        // Not done yet, then done with data 0x5452 for word 1.
        assert_eq!(eeprom::read_result(0x0101, 1), None);
        assert_eq!(eeprom::read_result(0x5452_0111, 1), Some(0x5452));
        // A done read of another word is not this word's answer.
        assert_eq!(eeprom::read_result(0x5452_0211, 1), None);
    }

    #[test]
    fn eeprom_checksum_accepts_images_summing_to_0xbaba() {
        let mut words = [0u16; eeprom::CHECKSUMMED_WORDS];
        words[0] = 0x5452;
        words[1] = 0x1200;
        words[2] = 0x5634;
        assert!(!eeprom::checksum_is_valid(&words));
        let sum = words.iter().fold(0u16, |sum, &word| sum.wrapping_add(word));
        words[0x3f] = eeprom::CHECKSUM_TARGET.wrapping_sub(sum);
        assert!(eeprom::checksum_is_valid(&words));
        words[5] ^= 1;
        assert!(!eeprom::checksum_is_valid(&words));
    }

    #[test]
    fn mac_addresses_convert_between_eeprom_registers_and_text() {
        let qemu = MacAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(
            MacAddress::from_eeprom_words([0x5452, 0x1200, 0x5634]),
            qemu
        );
        let (low, high) = qemu.receive_address();
        assert_eq!(low, 0x1200_5452);
        assert_eq!(high, 0x8000_5634);
        assert_eq!(MacAddress::from_receive_address(low, high), Some(qemu));
        assert_eq!(
            MacAddress::from_receive_address(low, high & !RECEIVE_ADDRESS_VALID),
            None
        );
        assert_eq!(qemu.to_string(), "52:54:00:12:34:56");
        assert!(qemu.is_station_address());
        assert!(!MacAddress([0; 6]).is_station_address());
        assert!(!MacAddress([0xff; 6]).is_station_address());
        assert!(!MacAddress([0x01, 0x00, 0x5e, 0, 0, 1]).is_station_address());
    }

    #[test]
    fn descriptors_have_the_legacy_byte_layout() {
        let physical = 0x0000_0012_3456_7800u64;
        let receive = bytes_of(descriptor::receive(physical));
        assert_eq!(&receive[..8], &physical.to_le_bytes());
        assert_eq!(&receive[8..], &[0; 8], "written-back fields cleared");

        let transmit = bytes_of(descriptor::transmit(physical, 1514));
        assert_eq!(&transmit[..8], &physical.to_le_bytes());
        assert_eq!(&transmit[8..10], &1514u16.to_le_bytes(), "length");
        assert_eq!(transmit[10], 0, "checksum offset");
        assert_eq!(transmit[11], 0x0b, "command: EOP | IFCS | RS");
        assert_eq!(&transmit[12..], &[0; 4], "status, checksum start, special");
        assert_eq!(
            descriptor::transmit_length(descriptor::transmit(0, 60)[2]),
            60
        );

        // A written-back receive descriptor: length 98, checksum 0xbeef,
        // status DD | EOP, errors CE, special 0.
        let mut written = [0u8; 16];
        written[8..10].copy_from_slice(&98u16.to_le_bytes());
        written[10..12].copy_from_slice(&0xbeefu16.to_le_bytes());
        written[12] = 0x03;
        written[13] = 0x01;
        let words = words_of(written);
        let writeback = ReceiveWriteback::decode(
            words[descriptor::LENGTH_WORD],
            words[descriptor::STATUS_WORD],
        );
        assert_eq!(writeback, done(98, true, 0x01));
        assert!(writeback.is_done() && writeback.is_end_of_packet());
        assert_eq!(writeback.frame_errors(), 0x01);
        // Checksum errors are the stack's business, not frame errors.
        assert_eq!(done(60, true, 0x60).frame_errors(), 0);

        assert!(!descriptor::transmit_is_done(0));
        assert!(descriptor::transmit_is_done(0x01));
        assert!(!descriptor::transmit_failed(0x01));
        assert!(descriptor::transmit_failed(0x03));
        assert!(descriptor::transmit_failed(0x05));
    }

    #[test]
    fn ring_sizes_are_multiples_of_eight_up_to_the_maximum() {
        for refused in [0, 1, 7, 12, 4097, 4104, u16::MAX] {
            assert_eq!(RingSize::new(refused), None, "{refused}");
        }
        for accepted in [8, 16, 64, 256, 4096] {
            let size = RingSize::new(accepted).unwrap();
            assert_eq!(size.get(), accepted);
            assert_eq!(size.bytes() % 128, 0);
        }
        let size = RingSize::new(8).unwrap();
        assert_eq!(size.next(6), 7);
        assert_eq!(size.next(7), 0);
        assert_eq!(size.previous(0), 7);
        assert_eq!(size.previous(5), 4);
        assert_eq!(size.distance(2, 5), 3);
        assert_eq!(size.distance(6, 1), 3);
        assert_eq!(size.distance(4, 4), 0);
    }

    #[test]
    fn transmit_ring_fills_to_size_minus_one_and_reclaims_in_order_across_wraps() {
        let size = RingSize::new(8).unwrap();
        let mut ring = TransmitRing::new(size);
        assert_eq!((ring.in_flight(), ring.free(), ring.tail()), (0, 7, 0));
        assert_eq!(ring.oldest_in_flight(), None);
        assert_eq!(ring.complete_oldest(), None);
        let claimed: Vec<u16> = (0..7).map(|_| ring.claim().unwrap()).collect();
        assert_eq!(claimed, [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(ring.claim(), None, "a full ring keeps one descriptor free");
        assert_eq!((ring.in_flight(), ring.free(), ring.tail()), (7, 0, 7));
        // Reclaim three, claim five: the tail wraps past the end.
        for expected in 0..3 {
            assert_eq!(ring.oldest_in_flight(), Some(expected));
            assert_eq!(ring.complete_oldest(), Some(expected));
        }
        let claimed: Vec<u16> = core::iter::from_fn(|| ring.claim()).collect();
        assert_eq!(claimed, [7, 0, 1]);
        assert_eq!(ring.tail(), 2);
        assert_eq!((ring.in_flight(), ring.free()), (7, 0));
        // Many laps: every claim is completed once, in order, and the
        // head never overtakes the tail.
        let mut expected_completion = 3u16;
        for lap in 0..1000u32 {
            let take = (lap % 7) as u16 + 1;
            for _ in 0..take.min(ring.in_flight()) {
                assert_eq!(ring.complete_oldest(), Some(expected_completion));
                expected_completion = size.next(expected_completion);
            }
            while ring.claim().is_some() {}
            assert_eq!(ring.free(), 0);
            assert_eq!(size.next(ring.tail()), expected_completion);
        }
    }

    #[test]
    fn receive_ring_holds_back_one_descriptor_and_wraps() {
        let size = RingSize::new(8).unwrap();
        let mut ring = ReceiveRing::new(size);
        assert_eq!((ring.next_to_check(), ring.tail()), (0, 7));
        // Not done: nothing taken, nothing moves.
        assert_eq!(ring.take(ReceiveWriteback::decode(0, 0)), None);
        assert_eq!(ring.next_to_check(), 0);
        for lap in 0..3u16 {
            for index in 0..8u16 {
                let length = 60 + lap * 8 + index;
                assert_eq!(
                    ring.take(done(length, true, 0)),
                    Some(Received::Frame { index, length })
                );
                // The descriptor just taken is the one held back now.
                assert_eq!(ring.tail(), index);
                assert_eq!(ring.next_to_check(), size.next(index));
            }
        }
    }

    #[test]
    fn receive_ring_drops_errors_empty_long_and_split_frames() {
        let mut ring = ReceiveRing::new(RingSize::new(8).unwrap());
        let dropped = |index, reason| Some(Received::Dropped { index, reason });
        assert_eq!(
            ring.take(done(60, true, descriptor::RECEIVE_CRC_ERROR | 0x20)),
            dropped(0, DropReason::FrameErrors(descriptor::RECEIVE_CRC_ERROR))
        );
        assert_eq!(ring.take(done(0, true, 0)), dropped(1, DropReason::Empty));
        assert_eq!(
            ring.take(done(1518, true, 0)),
            dropped(2, DropReason::TooLong(1518))
        );
        // A frame over three descriptors: all three dropped, then a good
        // one comes through.
        assert_eq!(
            ring.take(done(2048, false, 0)),
            dropped(3, DropReason::Fragment)
        );
        assert_eq!(
            ring.take(done(2048, false, 0)),
            dropped(4, DropReason::Fragment)
        );
        assert_eq!(
            ring.take(done(100, true, 0)),
            dropped(5, DropReason::Fragment)
        );
        let frame = ring.take(done(1514, true, 0x60)).unwrap();
        assert_eq!(
            frame,
            Received::Frame {
                index: 6,
                length: 1514
            }
        );
        assert_eq!(frame.index(), 6);
        assert_eq!(
            ring.take(done(1, true, 0)),
            Some(Received::Frame {
                index: 7,
                length: 1
            })
        );
        assert_eq!(ring.next_to_check(), 0);
    }
}
