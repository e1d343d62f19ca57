//! The binary contract between the kernel and extension images: the entry
//! point's signature, operation and service numbers, status codes, the
//! deliberate-crash kinds, and the byte layout of the messages that cross.
//!
//! Invariants:
//! - Every number here is part of the image ABI: changing one means bumping
//!   [`ABI_VERSION`], and the loader refuses images built for another version.
//! - Messages are little-endian byte strings read and written only through
//!   [`MessageReader`] and [`MessageWriter`], which never panic: a short or
//!   malformed message is an error value, whoever produced it.
//! - Nothing here depends on the kernel or on an extension; both sides and
//!   the host tests share this one definition.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod crash;
mod message;

pub use crash::{BAD_RETURN_ADDRESS, CrashKind};
pub use message::{MessageError, MessageReader, MessageWriter};

/// Version of this contract; an image states the version it was built for
/// in its answer to [`operation::INIT`].
pub const ABI_VERSION: u32 = 1;

/// Largest message that crosses in one call, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096 + 256;

/// The extension's entry point (the image's ELF entry, `_start`):
/// `extern "C" fn(operation: u64, message: *mut u8, message_len: u64) -> u64`.
///
/// The kernel calls it for every operation; `message` points into the
/// extension's own writable memory and holds the arguments on entry and the
/// results on return. The return value is a [`Status`] code in the low 32
/// bits and the number of reply bytes written in the high 32 bits (see
/// [`pack_return`]).
pub type ExtensionEntry = extern "C" fn(operation: u64, message: *mut u8, message_len: u64) -> u64;

/// The kernel's service entry, handed to the extension in the init message:
/// `extern "C" fn(service: u64, message: *mut u8, message_len: u64) -> u64`.
pub type KernelServiceEntry =
    extern "C" fn(service: u64, message: *mut u8, message_len: u64) -> u64;

/// Packs an entry point's return value: status and reply length.
pub fn pack_return(status: Status, reply_length: usize) -> u64 {
    status as u64 | ((reply_length as u64) << 32)
}

/// Splits an entry point's return value into its status code and reply
/// length (see [`pack_return`]).
pub fn unpack_return(value: u64) -> (u64, usize) {
    (value & 0xffff_ffff, (value >> 32) as usize)
}

/// Operations the kernel calls on an extension (its entry points).
pub mod operation {
    /// Initialise. Message in: [`crate::InitArguments`]; out: [`crate::InitAnswer`].
    pub const INIT: u64 = 0;
    /// Run a deliberate crash of the given kind. Message in: `u32`
    /// [`crate::CrashKind`] code, `u64` target address for the `write-*`
    /// kinds (0 for `write-own-rodata` means the image's own read-only data). Only extensions that implement crashes
    /// on their own answer it; the kernel can crash any extension without it.
    pub const CRASH: u64 = 1;
    /// A call that does nothing (the XPC benchmark's unit).
    pub const NULL: u64 = 2;
    /// Call the kernel's null service N times. Message in: `u64` N.
    pub const CALL_KERNEL_NULL: u64 = 3;
    /// Interrupt handler: message in: `u8` line.
    pub const INTERRUPT: u64 = 4;
    /// Timer expiry: message in: `u64` timer handle.
    pub const TIMER: u64 = 5;
    /// First operation number free for an extension's own operations.
    pub const EXTENSION_SPECIFIC: u64 = 0x100;
}

/// Services an extension may call in the kernel.
pub mod service {
    /// Write a log line. Message: `u8` level (1 error .. 5 trace), then UTF-8 text.
    pub const LOG: u64 = 1;
    /// The extension panicked; never returns. Message: UTF-8 text.
    pub const PANIC: u64 = 2;
    /// Give up the CPU to other threads.
    pub const YIELD: u64 = 3;
    /// Sleep. Message: `u64` milliseconds.
    pub const SLEEP: u64 = 4;
    /// Does nothing (the XPC benchmark's unit).
    pub const NULL: u64 = 5;
    /// Ask the kernel to call this extension's operation back (nested XPC).
    /// Message in: `u64` operation, `u64` argument; out: `u64` status of the
    /// nested call.
    pub const CALL_BACK: u64 = 6;
    /// Milliseconds since boot. Message out: `u64`.
    pub const UPTIME: u64 = 7;
    /// Grant zeroed memory. Message in: `u64` pages; out: `u64` handle, `u64` address.
    pub const GRANT_MEMORY: u64 = 8;
    /// Return granted memory. Message in: `u64` handle.
    pub const RELEASE_MEMORY: u64 = 9;
    /// Reserve I/O ports. Message in: `u16` first port, `u16` count; out: `u64` handle.
    pub const REQUEST_IO_PORTS: u64 = 10;
    /// Release I/O ports. Message in: `u64` handle.
    pub const RELEASE_IO_PORTS: u64 = 11;
    /// Register an interrupt handler ([`crate::operation::INTERRUPT`] is
    /// called). Message in: `u8` line; out: `u64` handle.
    pub const REQUEST_INTERRUPT: u64 = 12;
    /// Unregister an interrupt handler. Message in: `u64` handle.
    pub const FREE_INTERRUPT: u64 = 13;
    /// Start a timer ([`crate::operation::TIMER`] is called). Message in:
    /// `u64` milliseconds, `u8` periodic (0/1); out: `u64` handle.
    pub const START_TIMER: u64 = 14;
    /// Cancel a timer. Message in: `u64` handle.
    pub const CANCEL_TIMER: u64 = 15;
    /// Register a character device. Message in: `u8` name length, the UTF-8
    /// name (padded to at least 8 bytes); out: `u64` handle.
    pub const REGISTER_DEVICE: u64 = 16;
    /// Unregister a device. Message in: `u64` handle.
    pub const UNREGISTER_DEVICE: u64 = 17;
}

/// Operations of the `crashtest` test extension (used by the kernel's
/// tests and benchmarks).
pub mod crashtest_operation {
    use crate::operation::EXTENSION_SPECIFIC;
    /// Add one to the instance's counter; out: `u64` new value.
    pub const INCREMENT: u64 = EXTENSION_SPECIFIC;
    /// A checksum workload. In: `u64` seed, `u64` rounds; out: `u64` sum.
    pub const CHECKSUM: u64 = EXTENSION_SPECIFIC + 1;
    /// Nest: in `u64` depth; calls back into itself through the kernel
    /// until depth 0; out: `u64` deepest depth reached. The depth is the
    /// low 32 bits; bits 32..40, when not 0, are a [`crate::CrashKind`]
    /// code + 1 to crash with at depth 0 (for kinds that need no target
    /// address), so a fault in the innermost level can be tested.
    pub const NEST: u64 = EXTENSION_SPECIFIC + 2;
    /// In `u64` rounds: yield to other threads that many times while
    /// counted as inside the extension; out: `u64` most threads seen inside
    /// at once so far.
    pub const YIELD_INSIDE: u64 = EXTENSION_SPECIFIC + 3;
    /// Out: `u64` generation, `u64` counter, `u64` timer expiries, `u64`
    /// interrupts, `u64` objects held.
    pub const STATUS: u64 = EXTENSION_SPECIFIC + 4;
    /// Acquire one object of every tracked kind (memory, ports, interrupt,
    /// timer, device); out: `u64` objects now held.
    pub const ACQUIRE_OBJECTS: u64 = EXTENSION_SPECIFIC + 5;
    /// Out: five `u64` handles of the objects held (0: none), in the order
    /// memory, I/O ports, interrupt, timer, device.
    pub const HANDLES: u64 = EXTENSION_SPECIFIC + 6;
    /// In: `u64` release service number (`RELEASE_MEMORY`,
    /// `RELEASE_IO_PORTS`, `FREE_INTERRUPT`, `CANCEL_TIMER` or
    /// `UNREGISTER_DEVICE`), `u64` handle: passes the handle to that service
    /// as given (stale and forged ones too: the kernel must refuse them);
    /// out: `u64` the service's status code. The instance's own list of
    /// handles is left alone.
    pub const RELEASE: u64 = EXTENSION_SPECIFIC + 7;
}

/// Checksum used by `crashtest`'s [`crashtest_operation::CHECKSUM`] (the
/// kernel recomputes it to check the answer).
pub fn checksum(seed: u64, rounds: u64) -> u64 {
    let mut state = seed | 1;
    let mut sum = 0u64;
    for _ in 0..rounds {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        sum = sum.wrapping_add(state).rotate_left(5);
    }
    sum
}

/// Status codes returned across the boundary (both directions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// The operation or service number is not known.
    UnknownOperation = 1,
    /// The message is too short, too long or malformed.
    BadMessage = 2,
    /// An argument was refused (bad handle, out-of-range value, ...).
    Refused = 3,
    /// Out of memory or another resource.
    NoResources = 4,
    /// The extension failed during the call (set by the kernel only).
    ExtensionFailed = 5,
    /// The extension is not running (stopped, recovering or given up).
    NotRunning = 6,
}

impl Status {
    /// The status for a raw code, if it is one.
    pub fn from_code(code: u64) -> Option<Status> {
        Some(match code {
            0 => Status::Ok,
            1 => Status::UnknownOperation,
            2 => Status::BadMessage,
            3 => Status::Refused,
            4 => Status::NoResources,
            5 => Status::ExtensionFailed,
            6 => Status::NotRunning,
            _ => return None,
        })
    }

    /// Short kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::UnknownOperation => "unknown-operation",
            Status::BadMessage => "bad-message",
            Status::Refused => "refused",
            Status::NoResources => "no-resources",
            Status::ExtensionFailed => "extension-failed",
            Status::NotRunning => "not-running",
        }
    }
}

/// What the kernel tells an extension in [`operation::INIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitArguments {
    /// [`ABI_VERSION`] of the kernel.
    pub abi_version: u32,
    /// The instance's generation (0 for the first load, +1 per restart).
    pub generation: u32,
    /// Address of the kernel service entry ([`KernelServiceEntry`]).
    pub kernel_service_entry: u64,
    /// Start of the extension's heap (writable, zeroed).
    pub heap_base: u64,
    /// Size of the heap in bytes.
    pub heap_size: u64,
}

impl InitArguments {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 4 + 4 + 8 + 8 + 8;

    /// Writes the arguments to `writer`.
    pub fn encode(&self, writer: &mut MessageWriter<'_>) -> Result<(), MessageError> {
        writer.put_u32(self.abi_version)?;
        writer.put_u32(self.generation)?;
        writer.put_u64(self.kernel_service_entry)?;
        writer.put_u64(self.heap_base)?;
        writer.put_u64(self.heap_size)
    }

    /// Reads the arguments from `reader`.
    pub fn decode(reader: &mut MessageReader<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            abi_version: reader.u32()?,
            generation: reader.u32()?,
            kernel_service_entry: reader.u64()?,
            heap_base: reader.u64()?,
            heap_size: reader.u64()?,
        })
    }
}

/// What an extension answers to [`operation::INIT`] (written over the
/// arguments in the same message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitAnswer {
    /// [`ABI_VERSION`] the image was built for.
    pub abi_version: u32,
    /// Does the extension implement [`operation::CRASH`] itself?
    pub implements_crash: bool,
}

impl InitAnswer {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 4 + 1;

    /// Writes the answer to `writer`.
    pub fn encode(&self, writer: &mut MessageWriter<'_>) -> Result<(), MessageError> {
        writer.put_u32(self.abi_version)?;
        writer.put_u8(u8::from(self.implements_crash))
    }

    /// Reads the answer from `reader`.
    pub fn decode(reader: &mut MessageReader<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            abi_version: reader.u32()?,
            implements_crash: reader.u8()? != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_arguments_round_trip() {
        let arguments = InitArguments {
            abi_version: ABI_VERSION,
            generation: 7,
            kernel_service_entry: 0xffff_8000_1234_5678,
            heap_base: 0xffff_c000_0010_0000,
            heap_size: 1 << 20,
        };
        let mut buffer = [0u8; InitArguments::ENCODED_LEN];
        arguments
            .encode(&mut MessageWriter::new(&mut buffer))
            .unwrap();
        let decoded = InitArguments::decode(&mut MessageReader::new(&buffer)).unwrap();
        assert_eq!(decoded, arguments);
    }

    #[test]
    fn init_arguments_refuse_a_short_message() {
        let buffer = [0u8; InitArguments::ENCODED_LEN - 1];
        assert_eq!(
            InitArguments::decode(&mut MessageReader::new(&buffer)),
            Err(MessageError::TooShort)
        );
    }

    #[test]
    fn init_answer_round_trip() {
        for implements_crash in [false, true] {
            let answer = InitAnswer {
                abi_version: 3,
                implements_crash,
            };
            let mut buffer = [0u8; 16];
            answer.encode(&mut MessageWriter::new(&mut buffer)).unwrap();
            assert_eq!(
                InitAnswer::decode(&mut MessageReader::new(&buffer)),
                Ok(answer)
            );
        }
    }

    #[test]
    fn return_values_pack_status_and_length() {
        let value = pack_return(Status::Refused, 4096);
        assert_eq!(unpack_return(value), (Status::Refused as u64, 4096));
        assert_eq!(unpack_return(pack_return(Status::Ok, 0)), (0, 0));
    }

    #[test]
    fn status_codes_round_trip_and_unknown_codes_are_none() {
        for code in 0..=6 {
            let status = Status::from_code(code).unwrap();
            assert_eq!(status as u64, code);
            assert!(!status.name().is_empty());
        }
        assert_eq!(Status::from_code(7), None);
        assert_eq!(Status::from_code(u64::MAX), None);
    }
}
