//! A device table in the spirit of Xinu's `devtab` and Linux's
//! `file_operations`: named devices of a class, each behind the [`Device`]
//! trait (open/close/read/write/control).
//!
//! [`DeviceTable`] is a plain data structure: the kernel wraps it in a lock,
//! copies out an `Arc<dyn Device>` with [`DeviceTable::get`], drops the lock and
//! only then calls the device (which may be an isolated driver behind an XPC
//! that can block, fail or be restarted).
//!
//! # Invariants
//!
//! - Names are unique among registered devices, 1..=[`MAX_NAME_LEN`] bytes of
//!   printable, non-space ASCII (so the shell can split on whitespace).
//! - A [`DeviceId`] is a slot index plus a generation. Unregistering bumps the
//!   slot's generation, so an id held from before is refused with
//!   [`DeviceError::NotFound`] even after the slot is reused. A slot whose
//!   generation would wrap is retired and never reused.
//! - `open_count` counts `note_open` minus `note_close`; it never underflows
//!   (`note_close` on a closed device is [`DeviceError::NotOpen`]).
//! - A device that is open cannot be unregistered ([`DeviceError::Busy`]);
//!   recovery code that must remove it anyway uses
//!   [`DeviceTable::force_unregister`], or swaps in a fresh driver instance
//!   under the same id with [`DeviceTable::replace`].
//! - [`DeviceTable::list`] reports devices in registration order, independent
//!   of slot reuse.
//! - The table never calls a device method except `class()`, once, inside
//!   `register` and `replace`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

/// Longest accepted device name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// The class of a device, which decides which kernel layer sits on top of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceClass {
    /// Byte stream (serial port, console, loopback).
    Character,
    /// Block device (disk).
    Block,
    /// Network interface.
    Network,
    /// Sound card.
    Sound,
}

impl fmt::Display for DeviceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            DeviceClass::Character => "character",
            DeviceClass::Block => "block",
            DeviceClass::Network => "network",
            DeviceClass::Sound => "sound",
        })
    }
}

/// Errors of the table and of device operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// No such device (unknown name, or stale id).
    NotFound,
    /// A device with this name is already registered.
    NameTaken,
    /// The device does not implement this operation.
    NotSupported,
    /// The device is not open.
    NotOpen,
    /// The device is in use (e.g. unregistering an open device).
    Busy,
    /// The operation would block and the caller asked it not to.
    WouldBlock,
    /// An argument is invalid (bad name, bad request, ...).
    InvalidArgument,
    /// The device reported an I/O error.
    Io,
    /// The driver behind the device failed (used by the isolation manager).
    Failed,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceError::NotFound => "no such device",
            DeviceError::NameTaken => "device name already taken",
            DeviceError::NotSupported => "operation not supported",
            DeviceError::NotOpen => "device not open",
            DeviceError::Busy => "device busy",
            DeviceError::WouldBlock => "operation would block",
            DeviceError::InvalidArgument => "invalid argument",
            DeviceError::Io => "I/O error",
            DeviceError::Failed => "driver failed",
        })
    }
}

impl core::error::Error for DeviceError {}

/// The operations a device offers. Unimplemented operations default to
/// [`DeviceError::NotSupported`]; `open` and `close` default to success.
pub trait Device: Send + Sync {
    /// The device's class. Must be cheap and constant.
    fn class(&self) -> DeviceClass;

    /// Called when a client opens the device.
    fn open(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    /// Called when a client closes the device.
    fn close(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    /// Reads into `buffer`, returning the number of bytes read.
    fn read(&self, buffer: &mut [u8]) -> Result<usize, DeviceError> {
        let _ = buffer;
        Err(DeviceError::NotSupported)
    }

    /// Writes `data`, returning the number of bytes accepted.
    fn write(&self, data: &[u8]) -> Result<usize, DeviceError> {
        let _ = data;
        Err(DeviceError::NotSupported)
    }

    /// Device-specific control request (like `ioctl`).
    fn control(&self, request: u32, argument: u64) -> Result<u64, DeviceError> {
        let _ = (request, argument);
        Err(DeviceError::NotSupported)
    }
}

/// Handle to a registered device: slot index plus generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId {
    index: u32,
    generation: u32,
}

impl DeviceId {
    /// The slot index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The slot generation at registration time.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Packs the id into a `u64` (generation in the high half), e.g. to pass it
    /// across a domain boundary.
    pub fn to_raw(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// Unpacks an id made by [`DeviceId::to_raw`]. Any value is accepted; the
    /// table refuses ids it did not issue.
    pub fn from_raw(raw: u64) -> Self {
        Self {
            index: raw as u32,
            generation: (raw >> 32) as u32,
        }
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.index, self.generation)
    }
}

/// A snapshot of one registered device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its id.
    pub id: DeviceId,
    /// Its name.
    pub name: String,
    /// Its class.
    pub class: DeviceClass,
    /// How many opens are outstanding.
    pub open_count: u32,
}

struct Entry {
    name: String,
    device: Arc<dyn Device>,
    class: DeviceClass,
    open_count: u32,
    /// Registration sequence number, for `list` order.
    seq: u64,
}

struct Slot {
    generation: u32,
    /// Set when the generation is exhausted; the slot is never reused.
    retired: bool,
    entry: Option<Entry>,
}

/// The table of registered devices. See the crate documentation.
pub struct DeviceTable {
    slots: Vec<Slot>,
    next_seq: u64,
}

impl Default for DeviceTable {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for DeviceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.list()).finish()
    }
}

/// Checks a device name against the rules in the crate documentation.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.bytes().all(|b| b.is_ascii_graphic())
}

impl DeviceTable {
    /// An empty table (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            slots: Vec::new(),
            next_seq: 0,
        }
    }

    /// Number of registered devices.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.entry.is_some()).count()
    }

    /// True if no device is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, id: DeviceId) -> Result<&Entry, DeviceError> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_ref())
            .ok_or(DeviceError::NotFound)
    }

    fn entry_mut(&mut self, id: DeviceId) -> Result<&mut Entry, DeviceError> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.entry.as_mut())
            .ok_or(DeviceError::NotFound)
    }

    /// Registers `device` under `name`, calling `device.class()` once.
    ///
    /// Errors: [`DeviceError::InvalidArgument`] for a name breaking the rules
    /// (empty, longer than [`MAX_NAME_LEN`], whitespace or non-printable
    /// bytes), [`DeviceError::NameTaken`] if the name is in use. The lowest free
    /// slot is reused.
    pub fn register(
        &mut self,
        name: &str,
        device: Arc<dyn Device>,
    ) -> Result<DeviceId, DeviceError> {
        if !is_valid_name(name) {
            return Err(DeviceError::InvalidArgument);
        }
        if self.lookup(name).is_some() {
            return Err(DeviceError::NameTaken);
        }
        let entry = Entry {
            name: String::from(name),
            class: device.class(),
            device,
            open_count: 0,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let index = match self
            .slots
            .iter()
            .position(|s| s.entry.is_none() && !s.retired)
        {
            Some(index) => index,
            None => {
                let index = self.slots.len();
                if u32::try_from(index).is_err() {
                    return Err(DeviceError::Busy);
                }
                self.slots.push(Slot {
                    generation: 0,
                    retired: false,
                    entry: None,
                });
                index
            }
        };
        let slot = &mut self.slots[index];
        slot.entry = Some(entry);
        Ok(DeviceId {
            index: index as u32,
            generation: slot.generation,
        })
    }

    fn remove(&mut self, id: DeviceId) -> Arc<dyn Device> {
        let slot = &mut self.slots[id.index as usize];
        let entry = slot.entry.take().expect("checked by caller");
        match slot.generation.checked_add(1) {
            Some(g) => slot.generation = g,
            None => slot.retired = true,
        }
        entry.device
    }

    /// Removes a device and returns it. Refused with [`DeviceError::Busy`]
    /// while the device is open (open_count > 0); [`DeviceError::NotFound`] for
    /// an unknown or stale id. Afterwards the id is stale.
    pub fn unregister(&mut self, id: DeviceId) -> Result<Arc<dyn Device>, DeviceError> {
        if self.entry(id)?.open_count > 0 {
            return Err(DeviceError::Busy);
        }
        Ok(self.remove(id))
    }

    /// Removes a device even if it is open (for recovery when its driver died
    /// for good); returns it with the number of opens that were outstanding.
    /// Clients holding the id get [`DeviceError::NotFound`] from then on.
    pub fn force_unregister(
        &mut self,
        id: DeviceId,
    ) -> Result<(Arc<dyn Device>, u32), DeviceError> {
        let open_count = self.entry(id)?.open_count;
        Ok((self.remove(id), open_count))
    }

    /// Swaps the object behind `id` (e.g. a restarted driver instance), keeping
    /// the id, name and open count, and returns the old object. The new
    /// device must have the same class ([`DeviceError::InvalidArgument`]
    /// otherwise).
    pub fn replace(
        &mut self,
        id: DeviceId,
        device: Arc<dyn Device>,
    ) -> Result<Arc<dyn Device>, DeviceError> {
        let entry = self.entry_mut(id)?;
        if device.class() != entry.class {
            return Err(DeviceError::InvalidArgument);
        }
        Ok(core::mem::replace(&mut entry.device, device))
    }

    /// The id of the device registered under `name`.
    pub fn lookup(&self, name: &str) -> Option<DeviceId> {
        self.slots.iter().enumerate().find_map(|(index, slot)| {
            slot.entry
                .as_ref()
                .filter(|e| e.name == name)
                .map(|_| DeviceId {
                    index: index as u32,
                    generation: slot.generation,
                })
        })
    }

    /// The device behind `id` (a new reference; call it outside the lock).
    pub fn get(&self, id: DeviceId) -> Result<Arc<dyn Device>, DeviceError> {
        self.entry(id).map(|e| e.device.clone())
    }

    /// A snapshot of one device.
    pub fn info(&self, id: DeviceId) -> Result<DeviceInfo, DeviceError> {
        self.entry(id).map(|e| DeviceInfo {
            id,
            name: e.name.clone(),
            class: e.class,
            open_count: e.open_count,
        })
    }

    /// Records one more open (bookkeeping only: the caller calls
    /// `device.open()` outside the lock, and `note_close` if that fails).
    /// [`DeviceError::Busy`] if the count would overflow.
    pub fn note_open(&mut self, id: DeviceId) -> Result<(), DeviceError> {
        let entry = self.entry_mut(id)?;
        entry.open_count = entry.open_count.checked_add(1).ok_or(DeviceError::Busy)?;
        Ok(())
    }

    /// Records one close; [`DeviceError::NotOpen`] if the device is not open.
    pub fn note_close(&mut self, id: DeviceId) -> Result<(), DeviceError> {
        let entry = self.entry_mut(id)?;
        entry.open_count = entry
            .open_count
            .checked_sub(1)
            .ok_or(DeviceError::NotOpen)?;
        Ok(())
    }

    /// All registered devices, in registration order.
    pub fn list(&self) -> Vec<DeviceInfo> {
        let mut entries: Vec<(u64, DeviceInfo)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                let e = slot.entry.as_ref()?;
                Some((
                    e.seq,
                    DeviceInfo {
                        id: DeviceId {
                            index: index as u32,
                            generation: slot.generation,
                        },
                        name: e.name.clone(),
                        class: e.class,
                        open_count: e.open_count,
                    },
                ))
            })
            .collect();
        entries.sort_unstable_by_key(|(seq, _)| *seq);
        entries.into_iter().map(|(_, info)| info).collect()
    }

    /// The first free name `prefix0`, `prefix1`, ... (the lowest unused number,
    /// so a number is reused after its device is unregistered).
    pub fn next_name(&self, prefix: &str) -> String {
        (0u64..)
            .map(|n| alloc::format!("{prefix}{n}"))
            .find(|name| self.lookup(name).is_none())
            .expect("finitely many devices")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, VecDeque};
    use std::string::ToString;
    use std::sync::Mutex;
    use std::vec;

    /// A character device that reads back what was written.
    struct Loopback {
        buffer: Mutex<VecDeque<u8>>,
        capacity: usize,
    }

    impl Loopback {
        fn new(capacity: usize) -> Arc<Self> {
            Arc::new(Self {
                buffer: Mutex::new(VecDeque::new()),
                capacity,
            })
        }
    }

    const LOOPBACK_AVAILABLE: u32 = 1;

    impl Device for Loopback {
        fn class(&self) -> DeviceClass {
            DeviceClass::Character
        }
        fn read(&self, out: &mut [u8]) -> Result<usize, DeviceError> {
            let mut b = self.buffer.lock().unwrap();
            if b.is_empty() {
                return Err(DeviceError::WouldBlock);
            }
            let n = out.len().min(b.len());
            for (dst, src) in out.iter_mut().zip(b.drain(..n)) {
                *dst = src;
            }
            Ok(n)
        }
        fn write(&self, data: &[u8]) -> Result<usize, DeviceError> {
            let mut b = self.buffer.lock().unwrap();
            let n = data.len().min(self.capacity - b.len());
            if n == 0 && !data.is_empty() {
                return Err(DeviceError::WouldBlock);
            }
            b.extend(&data[..n]);
            Ok(n)
        }
        fn control(&self, request: u32, _argument: u64) -> Result<u64, DeviceError> {
            match request {
                LOOPBACK_AVAILABLE => Ok(self.buffer.lock().unwrap().len() as u64),
                _ => Err(DeviceError::InvalidArgument),
            }
        }
    }

    /// A device that implements nothing but its class.
    struct Bare(DeviceClass);
    impl Device for Bare {
        fn class(&self) -> DeviceClass {
            self.0
        }
    }

    /// A device whose driver has died.
    struct Dead;
    impl Device for Dead {
        fn class(&self) -> DeviceClass {
            DeviceClass::Network
        }
        fn open(&self) -> Result<(), DeviceError> {
            Err(DeviceError::Failed)
        }
        fn write(&self, _: &[u8]) -> Result<usize, DeviceError> {
            Err(DeviceError::Failed)
        }
    }

    #[test]
    fn displays() {
        assert_eq!(DeviceClass::Character.to_string(), "character");
        assert_eq!(DeviceClass::Block.to_string(), "block");
        assert_eq!(DeviceClass::Network.to_string(), "network");
        assert_eq!(DeviceClass::Sound.to_string(), "sound");
        assert_eq!(DeviceError::Failed.to_string(), "driver failed");
        assert_eq!(DeviceError::NotFound.to_string(), "no such device");
        let id = DeviceId {
            index: 3,
            generation: 7,
        };
        assert_eq!(id.to_string(), "3.7");
        assert_eq!(DeviceId::from_raw(id.to_raw()), id);
        assert_eq!(id.to_raw(), (7 << 32) | 3);
    }

    #[test]
    fn loopback_through_table() {
        // The kernel pattern: lock, get Arc, unlock, call.
        let table = Mutex::new(DeviceTable::new());
        let id = table
            .lock()
            .unwrap()
            .register("loop0", Loopback::new(8))
            .unwrap();
        let dev = {
            let mut t = table.lock().unwrap();
            t.note_open(id).unwrap();
            t.get(id).unwrap()
        };
        dev.open().unwrap();
        assert_eq!(dev.class(), DeviceClass::Character);
        assert_eq!(dev.write(b"hello world"), Ok(8));
        assert_eq!(dev.write(b"!"), Err(DeviceError::WouldBlock));
        assert_eq!(dev.control(LOOPBACK_AVAILABLE, 0), Ok(8));
        assert_eq!(dev.control(99, 0), Err(DeviceError::InvalidArgument));
        let mut buf = [0u8; 5];
        assert_eq!(dev.read(&mut buf), Ok(5));
        assert_eq!(&buf, b"hello");
        assert_eq!(dev.read(&mut buf), Ok(3));
        assert_eq!(&buf[..3], b" wo");
        assert_eq!(dev.read(&mut buf), Err(DeviceError::WouldBlock));
        let info = table.lock().unwrap().info(id).unwrap();
        assert_eq!(info.open_count, 1);
        assert_eq!(info.name, "loop0");
        dev.close().unwrap();
        table.lock().unwrap().note_close(id).unwrap();
    }

    #[test]
    fn default_operations() {
        let d = Bare(DeviceClass::Block);
        assert_eq!(d.open(), Ok(()));
        assert_eq!(d.close(), Ok(()));
        assert_eq!(d.read(&mut [0; 4]), Err(DeviceError::NotSupported));
        assert_eq!(d.write(b"x"), Err(DeviceError::NotSupported));
        assert_eq!(d.control(1, 2), Err(DeviceError::NotSupported));
        assert_eq!(Dead.open(), Err(DeviceError::Failed));
    }

    #[test]
    fn name_rules_and_collisions() {
        let mut t = DeviceTable::new();
        let a = t.register("serial0", Loopback::new(4)).unwrap();
        assert_eq!(
            t.register("serial0", Arc::new(Bare(DeviceClass::Block)))
                .unwrap_err(),
            DeviceError::NameTaken
        );
        for bad in ["", "has space", "tab\t", "é", "x\n"] {
            assert_eq!(
                t.register(bad, Arc::new(Bare(DeviceClass::Sound)))
                    .unwrap_err(),
                DeviceError::InvalidArgument,
                "{bad:?}"
            );
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            t.register(&long, Arc::new(Bare(DeviceClass::Sound)))
                .unwrap_err(),
            DeviceError::InvalidArgument
        );
        assert!(
            t.register(&long[1..], Arc::new(Bare(DeviceClass::Sound)))
                .is_ok()
        );
        assert_eq!(t.lookup("serial0"), Some(a));
        assert_eq!(t.lookup("serial1"), None);
        assert_eq!(t.len(), 2);
        // After unregistering, the name is free again.
        t.unregister(a).unwrap();
        assert_eq!(t.lookup("serial0"), None);
        assert!(t.register("serial0", Loopback::new(4)).is_ok());
    }

    #[test]
    fn stale_id_after_slot_reuse() {
        let mut t = DeviceTable::new();
        let old = t.register("eth0", Arc::new(Dead)).unwrap();
        let other = t
            .register("disk0", Arc::new(Bare(DeviceClass::Block)))
            .unwrap();
        t.unregister(old).unwrap();
        assert_eq!(t.get(old).err(), Some(DeviceError::NotFound));
        let new = t
            .register("eth0", Arc::new(Bare(DeviceClass::Network)))
            .unwrap();
        assert_eq!(new.index(), old.index(), "slot reused");
        assert_ne!(new.generation(), old.generation());
        assert_eq!(t.get(old).err(), Some(DeviceError::NotFound));
        assert_eq!(t.note_open(old), Err(DeviceError::NotFound));
        assert_eq!(t.note_close(old), Err(DeviceError::NotFound));
        assert_eq!(t.unregister(old).err(), Some(DeviceError::NotFound));
        assert_eq!(t.info(old).err(), Some(DeviceError::NotFound));
        assert!(t.get(new).is_ok());
        assert!(t.get(other).is_ok());
        assert_eq!(t.lookup("eth0"), Some(new));
        // Forged ids are refused too.
        assert_eq!(
            t.get(DeviceId::from_raw(99)).err(),
            Some(DeviceError::NotFound)
        );
    }

    #[test]
    fn open_close_bookkeeping_and_busy_unregister() {
        let mut t = DeviceTable::new();
        let id = t
            .register("snd0", Arc::new(Bare(DeviceClass::Sound)))
            .unwrap();
        assert_eq!(t.note_close(id), Err(DeviceError::NotOpen));
        t.note_open(id).unwrap();
        t.note_open(id).unwrap();
        assert_eq!(t.info(id).unwrap().open_count, 2);
        assert_eq!(t.unregister(id).err(), Some(DeviceError::Busy));
        t.note_close(id).unwrap();
        assert_eq!(t.unregister(id).err(), Some(DeviceError::Busy));
        t.note_close(id).unwrap();
        assert_eq!(t.note_close(id), Err(DeviceError::NotOpen));
        let dev = t.unregister(id).unwrap();
        assert_eq!(dev.class(), DeviceClass::Sound);
        assert!(t.is_empty());
    }

    #[test]
    fn force_unregister_and_replace() {
        let mut t = DeviceTable::new();
        let id = t.register("eth0", Arc::new(Dead)).unwrap();
        t.note_open(id).unwrap();
        // A restarted driver takes over the same id; clients keep their handle.
        let old = t.replace(id, Arc::new(Bare(DeviceClass::Network))).unwrap();
        assert_eq!(old.write(b"x"), Err(DeviceError::Failed));
        assert_eq!(
            t.get(id).unwrap().write(b"x"),
            Err(DeviceError::NotSupported)
        );
        assert_eq!(t.info(id).unwrap().open_count, 1);
        assert_eq!(
            t.replace(id, Loopback::new(1)).err(),
            Some(DeviceError::InvalidArgument),
            "class must match"
        );
        let (_, opens) = t.force_unregister(id).unwrap();
        assert_eq!(opens, 1);
        assert_eq!(t.get(id).err(), Some(DeviceError::NotFound));
        assert_eq!(t.force_unregister(id).err(), Some(DeviceError::NotFound));
    }

    #[test]
    fn list_in_registration_order_and_next_name() {
        let mut t = DeviceTable::new();
        assert_eq!(t.next_name("serial"), "serial0");
        let s0 = t
            .register(&t.next_name("serial"), Loopback::new(1))
            .unwrap();
        assert_eq!(t.next_name("serial"), "serial1");
        t.register(&t.next_name("serial"), Loopback::new(1))
            .unwrap();
        t.register("disk0", Arc::new(Bare(DeviceClass::Block)))
            .unwrap();
        assert_eq!(t.next_name("serial"), "serial2");
        assert_eq!(t.next_name("disk"), "disk1");
        t.unregister(s0).unwrap();
        assert_eq!(t.next_name("serial"), "serial0", "lowest free number");
        // serial0 re-registered into slot 0 but lists last.
        let again = t.register("serial0", Loopback::new(1)).unwrap();
        assert_eq!(again.index(), 0);
        let names: Vec<String> = t.list().into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["serial1", "disk0", "serial0"]);
        let classes: Vec<DeviceClass> = t.list().into_iter().map(|i| i.class).collect();
        assert_eq!(
            classes,
            [
                DeviceClass::Character,
                DeviceClass::Block,
                DeviceClass::Character
            ]
        );
        assert_eq!(t.list()[2].id, again);
    }

    #[test]
    fn generation_exhaustion_retires_slot() {
        let mut t = DeviceTable::new();
        let id = t.register("a", Arc::new(Bare(DeviceClass::Sound))).unwrap();
        t.slots[0].generation = u32::MAX;
        let id = DeviceId {
            generation: u32::MAX,
            ..id
        };
        t.unregister(id).unwrap();
        let next = t.register("a", Arc::new(Bare(DeviceClass::Sound))).unwrap();
        assert_eq!(next.index(), 1, "retired slot is not reused");
        assert_eq!(t.get(id).err(), Some(DeviceError::NotFound));
    }

    use deterministic_rng::XorShift;

    /// Random register/unregister/open/close against a model keyed by name;
    /// every id ever issued is kept and checked for staleness.
    #[test]
    fn random_operations_match_model() {
        for seed in 1..=50u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
            let mut t = DeviceTable::new();
            // name -> (id, open count, registration order)
            let mut model: BTreeMap<String, (DeviceId, u32, u64)> = BTreeMap::new();
            let mut dead_ids = vec![];
            let mut order = 0u64;
            for _ in 0..500 {
                let name = std::format!("dev{}", rng.next() % 8);
                match rng.next() % 5 {
                    0 | 1 => {
                        let r = t.register(&name, Arc::new(Bare(DeviceClass::Block)));
                        match model.entry(name) {
                            std::collections::btree_map::Entry::Occupied(_) => {
                                assert_eq!(r.err(), Some(DeviceError::NameTaken));
                            }
                            std::collections::btree_map::Entry::Vacant(slot) => {
                                let id = r.unwrap();
                                assert!(!dead_ids.contains(&id), "seed {seed}: id reissued");
                                slot.insert((id, 0, order));
                                order += 1;
                            }
                        }
                    }
                    2 => match model.get(&name).copied() {
                        Some((id, opens, _)) => {
                            let r = t.unregister(id);
                            if opens > 0 {
                                assert_eq!(r.err(), Some(DeviceError::Busy));
                            } else {
                                r.unwrap();
                                model.remove(&name);
                                dead_ids.push(id);
                            }
                        }
                        None => assert_eq!(t.lookup(&name), None),
                    },
                    3 => {
                        if let Some((id, opens, _)) = model.get_mut(&name) {
                            t.note_open(*id).unwrap();
                            *opens += 1;
                        }
                    }
                    _ => {
                        if let Some((id, opens, _)) = model.get_mut(&name) {
                            let r = t.note_close(*id);
                            if *opens == 0 {
                                assert_eq!(r, Err(DeviceError::NotOpen));
                            } else {
                                r.unwrap();
                                *opens -= 1;
                            }
                        }
                    }
                }
                for id in &dead_ids {
                    assert_eq!(t.get(*id).err(), Some(DeviceError::NotFound));
                }
                let mut expected: Vec<_> = model.iter().collect();
                expected.sort_by_key(|(_, (_, _, o))| *o);
                let listed = t.list();
                assert_eq!(listed.len(), expected.len(), "seed {seed}");
                for (info, (name, (id, opens, _))) in listed.iter().zip(expected) {
                    assert_eq!(&info.name, name);
                    assert_eq!(info.id, *id);
                    assert_eq!(info.open_count, *opens);
                    assert_eq!(t.lookup(name), Some(*id));
                }
            }
        }
    }
}
