//! `httpd`: the smallest useful extension, and the starting point for
//! new ones (`cargo xtask new-extension NAME` copies it). It registers a
//! character device named after the crate with a `0` ([`DEVICE_NAME`]):
//! reading it returns a greeting with the instance's generation, writing to
//! it counts the bytes, and control request 1 answers that count. It also
//! answers operation `EXTENSION_SPECIFIC` (0x100) with the number of calls
//! so far.
//!
//! Invariants: no `unsafe`; state is atomic (several threads may call in at
//! once).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, Ordering};
use extension_api::abi::EXTENSION_SPECIFIC;
use extension_api::kernel::{self, DeviceClass, DeviceHandle};
use extension_api::{Extension, InitContext, Level, Status, TextCursor};

/// The character device's name: the package name and `0`. Taken from the
/// package, not written out, so that a copy made by `cargo xtask
/// new-extension` registers its own name (the copy's renaming replaces
/// whole words only, and a name followed by a digit is not one).
const DEVICE_NAME: &str = concat!(env!("CARGO_PKG_NAME"), "0");

/// Control request: how many bytes were written so far.
const CONTROL_BYTES_WRITTEN: u32 = 1;

/// The extension's state: one instance per load.
struct Httpd {
    generation: u32,
    calls: AtomicU64,
    bytes_written: AtomicU64,
}

impl Extension for Httpd {
    fn init(context: &InitContext) -> Result<Self, Status> {
        kernel::register_device(DeviceClass::Character, DEVICE_NAME)?;
        extension_api::log(
            Level::Debug,
            format_args!("generation {} up", context.generation),
        );
        Ok(Httpd {
            generation: context.generation,
            calls: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
        })
    }

    fn handle_specific(&self, operation: u64, message: &mut [u8]) -> (Status, usize) {
        match operation {
            EXTENSION_SPECIFIC => {
                let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
                match message.get_mut(..8) {
                    Some(reply) => {
                        reply.copy_from_slice(&calls.to_le_bytes());
                        (Status::Ok, 8)
                    }
                    None => (Status::BadMessage, 0),
                }
            }
            _ => (Status::UnknownOperation, 0),
        }
    }
}

/// The kernel's entry operations `httpd` answers: its character device.
impl kernel::Entries for Httpd {
    fn character_read(
        &self,
        _device: DeviceHandle,
        length: u16,
        data: &mut [u8],
    ) -> Result<usize, Status> {
        let limit = usize::from(length).min(data.len());
        let mut cursor = TextCursor::new(&mut data[..limit]);
        let _ = writeln!(cursor, "hello from httpd, generation {}", self.generation);
        Ok(cursor.len())
    }

    fn character_write(&self, _device: DeviceHandle, data: &[u8]) -> Result<u16, Status> {
        self.bytes_written
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(data.len() as u16)
    }

    fn character_control(
        &self,
        _device: DeviceHandle,
        request: u32,
        _argument: u64,
    ) -> Result<u64, Status> {
        match request {
            CONTROL_BYTES_WRITTEN => Ok(self.bytes_written.load(Ordering::Relaxed)),
            _ => Err(Status::Refused),
        }
    }
}

extension_api::extension!(Httpd);
