//! Safe functions for the kernel services (one per service number).

use crate::runtime::{FixedText, kernel_call};
use core::fmt::Write;
use extension_abi::{MessageReader, MessageWriter, Status, service};

pub use crate::runtime::generation;

/// Log levels, as the kernel's logger knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something looks wrong.
    Warn = 2,
    /// Normal operation.
    Info = 3,
    /// Details for developers.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

/// Writes a formatted log line through the kernel's logger (at most about
/// 250 bytes; longer lines are cut).
pub fn log(level: Level, arguments: core::fmt::Arguments<'_>) {
    let mut text = FixedText::<256>::new();
    let _ = text.write_char(level as u8 as char);
    let _ = text.write_fmt(arguments);
    let length = text.length;
    let _ = kernel_call(service::LOG, &mut text.bytes[..length]);
}

/// Logs a line at info level.
pub fn log_info(text: &str) {
    log(Level::Info, format_args!("{text}"));
}

/// Gives the CPU to other threads.
pub fn yield_now() -> Status {
    kernel_call(service::YIELD, &mut [])
}

/// Sleeps for `milliseconds`.
pub fn sleep_ms(milliseconds: u64) -> Status {
    kernel_call(service::SLEEP, &mut milliseconds.to_le_bytes())
}

/// Calls the kernel's null service (for benchmarks).
pub fn null_service() -> Status {
    kernel_call(service::NULL, &mut [])
}

/// Milliseconds since boot.
pub fn uptime_ms() -> Result<u64, Status> {
    let mut message = [0u8; 8];
    call_for_u64(service::UPTIME, &mut message)
}

/// Asks the kernel to call this extension's `operation` with `argument`
/// (a nested call: extension → kernel → extension). Returns the status of
/// the nested call.
pub fn call_back(operation: u64, argument: u64) -> Result<Status, Status> {
    let mut message = [0u8; 16];
    let mut writer = MessageWriter::new(&mut message);
    writer.put_u64(operation).map_err(|_| Status::BadMessage)?;
    writer.put_u64(argument).map_err(|_| Status::BadMessage)?;
    let status = kernel_call(service::CALL_BACK, &mut message);
    if status != Status::Ok {
        return Err(status);
    }
    let code = MessageReader::new(&message)
        .u64()
        .map_err(|_| Status::BadMessage)?;
    Status::from_code(code).ok_or(Status::BadMessage)
}

/// A kernel object this instance holds (memory, ports, interrupt, timer,
/// device). Handles carry the instance's generation: a handle kept across a
/// restart is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle(pub u64);

fn call_for_u64(service: u64, message: &mut [u8]) -> Result<u64, Status> {
    let status = kernel_call(service, message);
    if status != Status::Ok {
        return Err(status);
    }
    MessageReader::new(message)
        .u64()
        .map_err(|_| Status::BadMessage)
}

fn release(service: u64, handle: Handle) -> Status {
    kernel_call(service, &mut handle.0.to_le_bytes())
}

/// Granted memory: its handle and where it is mapped (writable, zeroed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantedMemory {
    /// The grant's handle.
    pub handle: Handle,
    /// Virtual address of the first byte.
    pub address: u64,
}

/// Asks for `pages` zeroed, writable 4 KiB pages.
pub fn grant_memory(pages: u64) -> Result<GrantedMemory, Status> {
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&pages.to_le_bytes());
    let status = kernel_call(service::GRANT_MEMORY, &mut message);
    if status != Status::Ok {
        return Err(status);
    }
    let mut reader = MessageReader::new(&message);
    let handle = reader.u64().map_err(|_| Status::BadMessage)?;
    let address = reader.u64().map_err(|_| Status::BadMessage)?;
    Ok(GrantedMemory {
        handle: Handle(handle),
        address,
    })
}

/// Returns granted memory.
pub fn release_memory(handle: Handle) -> Status {
    release(service::RELEASE_MEMORY, handle)
}

/// Reserves `count` I/O ports from `first`.
pub fn request_io_ports(first: u16, count: u16) -> Result<Handle, Status> {
    let mut message = [0u8; 8];
    message[..2].copy_from_slice(&first.to_le_bytes());
    message[2..4].copy_from_slice(&count.to_le_bytes());
    call_for_u64(service::REQUEST_IO_PORTS, &mut message).map(Handle)
}

/// Releases reserved I/O ports.
pub fn release_io_ports(handle: Handle) -> Status {
    release(service::RELEASE_IO_PORTS, handle)
}

/// Registers this extension's interrupt handler for `line` (ISA IRQ 0..15).
pub fn request_interrupt(line: u8) -> Result<Handle, Status> {
    let mut message = [0u8; 8];
    message[0] = line;
    call_for_u64(service::REQUEST_INTERRUPT, &mut message).map(Handle)
}

/// Unregisters an interrupt handler.
pub fn free_interrupt(handle: Handle) -> Status {
    release(service::FREE_INTERRUPT, handle)
}

/// Starts a one-shot or periodic timer of `milliseconds`.
pub fn start_timer(milliseconds: u64, periodic: bool) -> Result<Handle, Status> {
    let mut message = [0u8; 9];
    message[..8].copy_from_slice(&milliseconds.to_le_bytes());
    message[8] = u8::from(periodic);
    call_for_u64(service::START_TIMER, &mut message).map(Handle)
}

/// Cancels a timer.
pub fn cancel_timer(handle: Handle) -> Status {
    release(service::CANCEL_TIMER, handle)
}

/// Registers a character device called `name` (at most 31 bytes) in the
/// kernel's device table.
pub fn register_device(name: &str) -> Result<Handle, Status> {
    let bytes = name.as_bytes();
    let mut message = [0u8; 32];
    if bytes.len() >= message.len() {
        return Err(Status::BadMessage);
    }
    message[0] = bytes.len() as u8;
    message[1..=bytes.len()].copy_from_slice(bytes);
    let length = (bytes.len() + 1).max(8);
    let status = kernel_call(service::REGISTER_DEVICE, &mut message[..length]);
    if status != Status::Ok {
        return Err(status);
    }
    MessageReader::new(&message)
        .u64()
        .map(Handle)
        .map_err(|_| Status::BadMessage)
}

/// Unregisters a device.
pub fn unregister_device(handle: Handle) -> Status {
    release(service::UNREGISTER_DEVICE, handle)
}
