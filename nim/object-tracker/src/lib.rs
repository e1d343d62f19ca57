//! Per-domain tables of the kernel objects an isolated extension holds, with
//! handles that detect staleness and forgery.
//!
//! One [`ObjectTable`] belongs to one extension (one protection domain). The
//! wrappers record every object that crosses into the extension, give the
//! extension an [`ObjectHandle`] (a `u64` on the wire), and look the object
//! up again when the handle comes back. On recovery,
//! [`ObjectTable::drain_for_release`] hands every object back in a safe
//! release order and starts a new generation.
//!
//! Handle encoding (bit 0 = least significant):
//!
//! | bits   | field                                          |
//! |--------|------------------------------------------------|
//! | 0–15   | slot index (at most 65,536 live objects)        |
//! | 16–23  | slot sequence, advanced each time a slot is freed |
//! | 24–29  | [`ObjectKind`] code                            |
//! | 30–39  | generation modulo 1,024                        |
//! | 40–55  | [`ExtensionId`]                                |
//! | 56–63  | CRC-8 (polynomial 0x07, initial 0xFF) of bits 0–55 |
//!
//! Invariants:
//! - A handle is accepted only if its check byte matches, its extension is
//!   the table's, its generation is the table's current one (mod 1,024), its
//!   slot holds a live object with the same sequence, and the kind asked for
//!   is the kind it was issued for. Any single flipped bit makes a handle
//!   fail the check byte, so it never resolves to another object.
//! - After [`ObjectTable::drain_for_release`] every handle issued before it
//!   is [`HandleError::Stale`] (until the 10-bit generation wraps, 1,024
//!   recoveries later, and then only if slot and sequence also match).
//! - A freed slot is reused only when at least [`FREE_SLOTS_BEFORE_REUSE`]
//!   slots are free (or no fresh slot is left), oldest-freed first, with its
//!   sequence advanced; so a removed object's handle can alias a new object
//!   only after its slot has been reused 256 times.
//! - `len()` and `count_of()` always equal the number of live objects.
//! - `0` and `u64::MAX` are never valid handles.
//! - Nothing here panics on any handle value.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;
use hashbrown::HashMap;

/// Identifies an extension (its protection domain) in the isolation manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtensionId(pub u16);

/// How many times an extension's objects have been released (one per
/// recovery). Wraps around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Generation(pub u32);

impl Generation {
    /// The generation after this one (wrapping).
    pub fn next(self) -> Generation {
        Generation(self.0.wrapping_add(1))
    }

    fn encoded(self) -> u64 {
        u64::from(self.0) & GENERATION_MASK
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! object_kinds {
    ($($(#[$doc:meta])* $name:ident = $code:literal, release $rank:literal, $text:literal;)*) => {
        /// The kinds of kernel object an extension can hold.
        ///
        /// Codes are stable (they appear in handles); add new kinds with new
        /// codes below 64.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum ObjectKind {
            $($(#[$doc])* $name = $code,)*
        }

        impl ObjectKind {
            /// Every kind, in code order.
            pub const ALL: &'static [ObjectKind] = &[$(ObjectKind::$name,)*];

            /// The kind with this handle code.
            pub fn from_code(code: u8) -> Option<ObjectKind> {
                match code {
                    $($code => Some(ObjectKind::$name),)*
                    _ => None,
                }
            }

            /// Position in the recovery release order (0 is released first).
            ///
            /// Order: IRQ registrations, PCI functions (bus mastering off:
            /// no more DMA), timers, deferred calls, device registrations,
            /// in-flight packet and block buffers, DMA buffers, MMIO
            /// regions, I/O port ranges, memory. Sources of
            /// new calls into the dead extension go first; the memory those
            /// calls might still touch goes last.
            pub fn release_rank(self) -> u8 {
                match self {
                    $(ObjectKind::$name => $rank,)*
                }
            }

            /// Short kebab-case name.
            pub fn name(self) -> &'static str {
                match self {
                    $(ObjectKind::$name => $text,)*
                }
            }
        }
    };
}

object_kinds! {
    /// Kernel memory granted to the extension (heap pages, stacks).
    Memory = 0, release 10, "memory";
    /// A DMA-capable buffer.
    DmaBuffer = 1, release 7, "dma-buffer";
    /// A granted range of I/O ports.
    IoPortRange = 2, release 9, "io-port-range";
    /// A granted memory-mapped I/O region.
    MmioRegion = 3, release 8, "mmio-region";
    /// An interrupt handler registration.
    IrqRegistration = 4, release 0, "irq-registration";
    /// A pending or periodic timer.
    Timer = 5, release 2, "timer";
    /// A device registered with a kernel device class.
    DeviceRegistration = 6, release 4, "device-registration";
    /// Queued deferred (batched) call work.
    DeferredCall = 7, release 3, "deferred-call";
    /// A network packet buffer in flight.
    PacketBuffer = 8, release 5, "packet-buffer";
    /// A block I/O request in flight.
    BlockRequest = 9, release 6, "block-request";
    /// A claimed PCI function (released with bus mastering off, before any
    /// DMA buffer it could still write is freed).
    PciDevice = 10, release 1, "pci-device";
    /// A TCP socket (listener or connection) of the kernel's network stack
    /// (closed last: closing it touches no device or extension memory).
    Socket = 11, release 11, "socket";
}

const KIND_COUNT: usize = 12;

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const SLOT_BITS: u32 = 16;
const SEQUENCE_SHIFT: u32 = 16;
const KIND_SHIFT: u32 = 24;
const KIND_MASK: u64 = 0x3f;
const GENERATION_SHIFT: u32 = 30;
const GENERATION_MASK: u64 = 0x3ff;
const EXTENSION_SHIFT: u32 = 40;
const CHECK_SHIFT: u32 = 56;
const PAYLOAD_MASK: u64 = (1 << CHECK_SHIFT) - 1;

/// Most objects one table can hold at once.
pub const MAX_LIVE_OBJECTS: usize = 1 << SLOT_BITS;

/// A freed slot is not reused while fewer than this many slots are free
/// (unless no fresh slot is left), to delay sequence wrap-around.
pub const FREE_SLOTS_BEFORE_REUSE: usize = 1024;

/// CRC-8 with polynomial x^8 + x^2 + x + 1 and initial value 0xFF over the
/// 7 payload bytes. The non-zero initial value makes the all-zero `u64` an
/// invalid handle.
fn check_byte(payload: u64) -> u8 {
    let mut crc: u8 = 0xff;
    for byte in payload.to_le_bytes().iter().take(7) {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// An opaque reference to one tracked object, valid for one extension and
/// one generation. Crosses the domain boundary as a `u64`
/// ([`to_bits`](Self::to_bits) / [`from_bits`](Self::from_bits)); every use
/// re-validates it, so any `u64` may be turned into a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectHandle(u64);

/// The fields of a handle whose check byte and kind code are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandleFields {
    /// The extension it was issued to.
    pub extension: ExtensionId,
    /// Its generation modulo 1,024.
    pub generation_modulo_1024: u16,
    /// The kind it was issued for.
    pub kind: ObjectKind,
    /// Slot index.
    pub slot: u16,
    /// Slot sequence.
    pub sequence: u8,
}

impl ObjectHandle {
    fn encode(fields: HandleFields) -> ObjectHandle {
        let payload = u64::from(fields.slot)
            | u64::from(fields.sequence) << SEQUENCE_SHIFT
            | u64::from(fields.kind as u8) << KIND_SHIFT
            | (u64::from(fields.generation_modulo_1024) & GENERATION_MASK) << GENERATION_SHIFT
            | u64::from(fields.extension.0) << EXTENSION_SHIFT;
        ObjectHandle(payload | u64::from(check_byte(payload)) << CHECK_SHIFT)
    }

    /// The wire form.
    pub fn to_bits(self) -> u64 {
        self.0
    }

    /// A handle from its wire form; not validated until used.
    pub fn from_bits(bits: u64) -> ObjectHandle {
        ObjectHandle(bits)
    }

    /// Decode the fields if the check byte and kind code are valid
    /// (says nothing about whether the object is live).
    pub fn decode(self) -> Result<HandleFields, HandleError> {
        let payload = self.0 & PAYLOAD_MASK;
        let check = (self.0 >> CHECK_SHIFT) as u8;
        if check != check_byte(payload) {
            return Err(HandleError::Forged);
        }
        let kind = ObjectKind::from_code(((payload >> KIND_SHIFT) & KIND_MASK) as u8)
            .ok_or(HandleError::Forged)?;
        Ok(HandleFields {
            extension: ExtensionId((payload >> EXTENSION_SHIFT) as u16),
            generation_modulo_1024: ((payload >> GENERATION_SHIFT) & GENERATION_MASK) as u16,
            kind,
            slot: payload as u16,
            sequence: (payload >> SEQUENCE_SHIFT) as u8,
        })
    }
}

impl fmt::Display for ObjectHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Ok(fields) => write!(
                f,
                "{} handle {:#018x} (extension {}, slot {}.{})",
                fields.kind, self.0, fields.extension.0, fields.slot, fields.sequence
            ),
            Err(_) => write!(f, "invalid handle {:#018x}", self.0),
        }
    }
}

/// Why a handle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandleError {
    /// The bits do not form a handle (bad check byte or kind code), belong
    /// to another extension, or disagree with the object they name.
    Forged,
    /// The handle was valid once: it is from an earlier generation, or its
    /// object was removed (possibly replaced by a newer one in that slot).
    Stale,
    /// The handle names a live object of another kind.
    WrongKind {
        /// The kind the caller asked for.
        expected: ObjectKind,
        /// The kind the handle was issued for.
        found: ObjectKind,
    },
    /// Well-formed for this extension and generation, but its slot was never
    /// issued.
    NotFound,
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Forged => {
                f.write_str("forged handle: it was not issued to this extension")
            }
            HandleError::Stale => f.write_str(
                "stale handle: its object was released or belongs to an earlier generation",
            ),
            HandleError::WrongKind { expected, found } => {
                write!(f, "wrong handle kind: expected {expected}, found {found}")
            }
            HandleError::NotFound => f.write_str("no object was ever issued for this handle"),
        }
    }
}

impl core::error::Error for HandleError {}

/// The table already holds [`MAX_LIVE_OBJECTS`] objects; the object is
/// handed back so the caller can release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFull<T> {
    /// The kind that could not be recorded.
    pub kind: ObjectKind,
    /// The object that could not be recorded.
    pub object: T,
}

impl<T> fmt::Display for TableFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "object table full ({MAX_LIVE_OBJECTS} live objects); cannot record a {}",
            self.kind
        )
    }
}

#[derive(Debug)]
struct Entry<T> {
    sequence: u8,
    kind: ObjectKind,
    acquisition_order: u64,
    object: T,
}

/// The objects held by one extension, keyed by slot (a `hashbrown` map, so
/// memory follows the number of live objects).
#[derive(Debug)]
pub struct ObjectTable<T> {
    extension: ExtensionId,
    generation: Generation,
    live: HashMap<u16, Entry<T>>,
    /// Freed slots with the sequence their next object will get, oldest first.
    free_slots: VecDeque<(u16, u8)>,
    /// Slots `0..slots_issued` have been used at least once.
    slots_issued: usize,
    counts: [usize; KIND_COUNT],
    next_acquisition_order: u64,
}

impl<T> ObjectTable<T> {
    /// An empty table for `extension`, at generation 0.
    pub fn new(extension: ExtensionId) -> Self {
        Self::with_generation(extension, Generation::default())
    }

    /// An empty table for `extension` starting at `generation` (e.g. when
    /// the isolation manager numbers instances itself).
    pub fn with_generation(extension: ExtensionId, generation: Generation) -> Self {
        ObjectTable {
            extension,
            generation,
            live: HashMap::new(),
            free_slots: VecDeque::new(),
            slots_issued: 0,
            counts: [0; KIND_COUNT],
            next_acquisition_order: 0,
        }
    }

    /// The extension this table belongs to.
    pub fn extension(&self) -> ExtensionId {
        self.extension
    }

    /// The current generation; handles from other generations are stale.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Record `object` and return a handle for it.
    pub fn insert(&mut self, kind: ObjectKind, object: T) -> Result<ObjectHandle, TableFull<T>> {
        let reuse = self.free_slots.len() >= FREE_SLOTS_BEFORE_REUSE
            || self.slots_issued >= MAX_LIVE_OBJECTS;
        let (slot, sequence) = if reuse {
            match self.free_slots.pop_front() {
                Some(free) => free,
                None => return Err(TableFull { kind, object }),
            }
        } else {
            let Ok(slot) = u16::try_from(self.slots_issued) else {
                return Err(TableFull { kind, object });
            };
            self.slots_issued += 1;
            (slot, 0)
        };
        let acquisition_order = self.next_acquisition_order;
        self.next_acquisition_order = self.next_acquisition_order.wrapping_add(1);
        self.live.insert(
            slot,
            Entry {
                sequence,
                kind,
                acquisition_order,
                object,
            },
        );
        self.counts[usize::from(kind as u8)] += 1;
        Ok(ObjectHandle::encode(HandleFields {
            extension: self.extension,
            generation_modulo_1024: self.generation.encoded() as u16,
            kind,
            slot,
            sequence,
        }))
    }

    /// Validate `handle` for `kind` and return its slot.
    fn resolve(&self, handle: ObjectHandle, kind: ObjectKind) -> Result<u16, HandleError> {
        let fields = handle.decode()?;
        if fields.extension != self.extension {
            return Err(HandleError::Forged);
        }
        if u64::from(fields.generation_modulo_1024) != self.generation.encoded() {
            return Err(HandleError::Stale);
        }
        match self.live.get(&fields.slot) {
            Some(entry) if entry.sequence == fields.sequence => {
                if entry.kind != fields.kind {
                    Err(HandleError::Forged)
                } else if fields.kind != kind {
                    Err(HandleError::WrongKind {
                        expected: kind,
                        found: fields.kind,
                    })
                } else {
                    Ok(fields.slot)
                }
            }
            Some(_) => Err(HandleError::Stale),
            None if usize::from(fields.slot) < self.slots_issued => Err(HandleError::Stale),
            None => Err(HandleError::NotFound),
        }
    }

    /// The object `handle` names, if it is live and of `kind`.
    pub fn get(&self, handle: ObjectHandle, kind: ObjectKind) -> Result<&T, HandleError> {
        let slot = self.resolve(handle, kind)?;
        self.live
            .get(&slot)
            .map(|entry| &entry.object)
            .ok_or(HandleError::NotFound)
    }

    /// Mutable access to the object `handle` names, if live and of `kind`.
    pub fn get_mut(
        &mut self,
        handle: ObjectHandle,
        kind: ObjectKind,
    ) -> Result<&mut T, HandleError> {
        let slot = self.resolve(handle, kind)?;
        self.live
            .get_mut(&slot)
            .map(|entry| &mut entry.object)
            .ok_or(HandleError::NotFound)
    }

    /// Stop tracking the object `handle` names and return it; the handle
    /// (and every copy of it) becomes stale.
    pub fn remove(&mut self, handle: ObjectHandle, kind: ObjectKind) -> Result<T, HandleError> {
        let slot = self.resolve(handle, kind)?;
        let entry = self.live.remove(&slot).ok_or(HandleError::NotFound)?;
        self.retire(slot, &entry);
        Ok(entry.object)
    }

    fn retire(&mut self, slot: u16, entry: &Entry<T>) {
        self.free_slots
            .push_back((slot, entry.sequence.wrapping_add(1)));
        let count = &mut self.counts[usize::from(entry.kind as u8)];
        *count = count.saturating_sub(1);
    }

    /// Live objects.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no object is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Live objects of `kind`.
    pub fn count_of(&self, kind: ObjectKind) -> usize {
        self.counts[usize::from(kind as u8)]
    }

    /// Every live object with its kind and handle, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectHandle, ObjectKind, &T)> + '_ {
        self.live.iter().map(|(slot, entry)| {
            (
                ObjectHandle::encode(HandleFields {
                    extension: self.extension,
                    generation_modulo_1024: self.generation.encoded() as u16,
                    kind: entry.kind,
                    slot: *slot,
                    sequence: entry.sequence,
                }),
                entry.kind,
                &entry.object,
            )
        })
    }

    /// Recovery: take every object out, in release order, and start a new
    /// generation so every outstanding handle becomes [`HandleError::Stale`].
    ///
    /// Objects come out ordered by [`ObjectKind::release_rank`] (IRQ
    /// registrations first, memory last); within one kind, newest first
    /// (the reverse of acquisition, like unwinding).
    pub fn drain_for_release(&mut self) -> Vec<(ObjectKind, T)> {
        let mut drained: Vec<(u16, Entry<T>)> = self.live.drain().collect();
        drained.sort_unstable_by_key(|(_, entry)| {
            (
                entry.kind.release_rank(),
                core::cmp::Reverse(entry.acquisition_order),
            )
        });
        for (slot, entry) in &drained {
            self.retire(*slot, entry);
        }
        self.generation = self.generation.next();
        drained
            .into_iter()
            .map(|(_, entry)| (entry.kind, entry.object))
            .collect()
    }
}
