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

extern crate self as extension_abi;

mod crash;
pub mod frame_batch;
pub mod interface_items;
pub mod layout;
mod message;
pub mod validate;

pub use crash::{BAD_RETURN_ADDRESS, CrashKind};
pub use message::{MessageError, MessageReader, MessageWriter};

/// Version of this contract; an image states the version it was built for
/// in its answer to [`operation::INIT`].
pub const ABI_VERSION: u32 = 3;

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

/// The interfaces' common items, generated from `wrappers/interface/*.idl`
/// (numbers, enumerations, typed handles, reply structures, operation
/// tables). Each side's wrappers (`wrappers/generated/*_side.rs`) re-export
/// them.
pub mod interfaces {
    /// `wrappers/interface/kernel.idl`: the kernel services and the entry
    /// operations every extension has.
    pub mod kernel {
        include!("../../../wrappers/generated/kernel_common.rs");
    }
    /// `wrappers/interface/crashtest.idl`: the `crashtest` extension's own
    /// operations.
    pub mod crashtest {
        include!("../../../wrappers/generated/crashtest_common.rs");
    }
    /// `wrappers/interface/hostile.idl`: the `hostile` test extension's own
    /// operations.
    pub mod hostile {
        include!("../../../wrappers/generated/hostile_common.rs");
    }
}

/// The `crashtest` extension's own operations (from `crashtest.idl`).
pub use interfaces::crashtest::operation as crashtest_operation;
/// The `hostile` extension's own operations (from `hostile.idl`).
pub use interfaces::hostile::operation as hostile_operation;
/// Entry operation numbers the kernel calls (from `kernel.idl`).
pub use interfaces::kernel::operation;
/// Kernel service numbers (from `kernel.idl`).
pub use interfaces::kernel::service;

/// First operation number free for an extension's own operations (the
/// numbers below are the kernel's entry operations).
pub const EXTENSION_SPECIFIC: u64 = 0x100;

/// Why a call into an extension gave no answer (the kernel's side of every
/// generated entry wrapper returns it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The extension failed during the call (a fault, a panic, a hang or a
    /// failed check); it is being recovered.
    ExtensionFailed,
    /// The extension is not running (stopped, recovering or given up).
    NotRunning,
    /// The extension answered with this status instead of `Status::Ok`.
    Status(Status),
    /// The extension's reply is too short or holds a value the interface
    /// does not allow.
    BadReply,
    /// An argument exceeds its declared limit (a buffer longer than its
    /// maximum); nothing was called.
    BadArgument,
}

impl CallError {
    /// Did the extension fail (rather than answer)?
    pub fn is_extension_failure(self) -> bool {
        matches!(self, CallError::ExtensionFailed)
    }

    /// The status code that stands for this error.
    pub fn status(self) -> Status {
        match self {
            CallError::ExtensionFailed => Status::ExtensionFailed,
            CallError::NotRunning => Status::NotRunning,
            CallError::Status(status) => status,
            CallError::BadReply | CallError::BadArgument => Status::BadMessage,
        }
    }
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CallError::ExtensionFailed => f.write_str("the extension failed"),
            CallError::NotRunning => f.write_str("the extension is not running"),
            CallError::Status(status) => write!(f, "the extension answered {}", status.name()),
            CallError::BadReply => f.write_str("the extension's reply is malformed"),
            CallError::BadArgument => f.write_str("an argument exceeds its limit"),
        }
    }
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
