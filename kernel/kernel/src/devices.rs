//! The kernel's device table (devices by class with open/close/read/write/
//! control) and the first character device: the serial console.
//!
//! Invariant: device methods are called outside the table's lock (they may
//! block), through an `Arc` taken under it.

use crate::sched::sync::IrqSpinlock;
use alloc::sync::Arc;
use alloc::vec::Vec;
use device_table::{Device, DeviceClass, DeviceError, DeviceId, DeviceInfo, DeviceTable};

static TABLE: IrqSpinlock<Option<DeviceTable>> = IrqSpinlock::new(None);

/// The serial console as a character device.
pub struct SerialConsole;

impl Device for SerialConsole {
    fn class(&self) -> DeviceClass {
        DeviceClass::Character
    }

    fn read(&self, buffer: &mut [u8]) -> Result<usize, DeviceError> {
        crate::console::read(buffer).map_err(|_| DeviceError::WouldBlock)
    }

    fn write(&self, data: &[u8]) -> Result<usize, DeviceError> {
        match core::str::from_utf8(data) {
            Ok(text) => crate::print!("{text}"),
            Err(_) => {
                for &byte in data {
                    crate::print!("{}", byte as char);
                }
            }
        }
        Ok(data.len())
    }
}

/// Creates the table and registers the serial console as `serial0`.
pub fn init() {
    let mut table = DeviceTable::new();
    let name = table.next_name("serial");
    table
        .register(&name, Arc::new(SerialConsole))
        .expect("first device registers");
    *TABLE.lock() = Some(table);
}

/// Registers a device under `prefix` + the next free number.
pub fn register(prefix: &str, device: Arc<dyn Device>) -> Result<DeviceId, DeviceError> {
    let mut guard = TABLE.lock();
    let table = guard.as_mut().ok_or(DeviceError::NotFound)?;
    let name = table.next_name(prefix);
    table.register(&name, device)
}

/// Registers a device under exactly `name` (refused if the name is taken).
pub fn register_named(name: &str, device: Arc<dyn Device>) -> Result<DeviceId, DeviceError> {
    let mut guard = TABLE.lock();
    let table = guard.as_mut().ok_or(DeviceError::NotFound)?;
    table.register(name, device)
}

/// Opens a device by name.
pub fn open(name: &str) -> Result<(DeviceId, Arc<dyn Device>), DeviceError> {
    let (id, device) = {
        let mut guard = TABLE.lock();
        let table = guard.as_mut().ok_or(DeviceError::NotFound)?;
        let id = table.lookup(name).ok_or(DeviceError::NotFound)?;
        let device = table.get(id)?;
        table.note_open(id)?;
        (id, device)
    };
    if let Err(error) = device.open() {
        close_bookkeeping(id);
        return Err(error);
    }
    Ok((id, device))
}

fn close_bookkeeping(id: DeviceId) {
    if let Some(table) = TABLE.lock().as_mut() {
        let _ = table.note_close(id);
    }
}

/// Closes a device opened with [`open`].
pub fn close(id: DeviceId) -> Result<(), DeviceError> {
    let device = TABLE
        .lock()
        .as_ref()
        .ok_or(DeviceError::NotFound)?
        .get(id)?;
    let result = device.close();
    close_bookkeeping(id);
    result
}

/// Every registered device.
pub fn list() -> Vec<DeviceInfo> {
    TABLE
        .lock()
        .as_ref()
        .map(DeviceTable::list)
        .unwrap_or_default()
}

/// Removes device `id` even if it is open (its driver is gone).
pub fn force_unregister(id: DeviceId) -> Result<(), DeviceError> {
    let mut guard = TABLE.lock();
    let table = guard.as_mut().ok_or(DeviceError::NotFound)?;
    table.force_unregister(id).map(|_| ())
}
