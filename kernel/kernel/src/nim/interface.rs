//! The generated wrappers, kernel side (`wrappers/generated/*_kernel_side.rs`,
//! from `wrappers/interface/*.idl`), and the transport that carries their
//! kernel → extension calls over XPC.
//!
//! Invariant: every call the kernel makes into an extension's entry
//! operations, and every kernel service an extension calls, goes through
//! these modules: arguments are encoded and checked by generated code only.

use super::{NimError, Slot, State, Target};
use extension_abi::{CallError, Status};

/// `kernel.idl`: the `Services` trait and its checking `dispatch`, and one
/// typed function per entry operation. (Some entry functions are for device
/// classes the kernel does not drive yet.)
#[allow(dead_code)]
pub mod kernel {
    include!("../../../../wrappers/generated/kernel_kernel_side.rs");
}

/// `crashtest.idl`: the `crashtest` extension's own operations.
#[allow(dead_code)]
pub mod crashtest {
    include!("../../../../wrappers/generated/crashtest_kernel_side.rs");
}

/// The transport of the generated entry functions: calls `slot`'s instance
/// `generation` (which must be in `required` state) with the message in
/// place.
pub fn transport(
    slot: Slot,
    generation: u32,
    required: State,
) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> {
    transport_to(slot, generation, required, Target::Extension)
}

/// [`transport`] to any target (a kernel routine run inside the domain,
/// for crashes).
pub(crate) fn transport_to(
    slot: Slot,
    generation: u32,
    required: State,
    target: Target,
) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> {
    move |operation, message| {
        super::call_in_place(slot, generation, required, target, operation, message)
            .map_err(call_error)
    }
}

/// The wrappers' view of a failed call.
pub fn call_error(error: NimError) -> CallError {
    match error {
        NimError::ExtensionFailed => CallError::ExtensionFailed,
        NimError::Refused(status) => CallError::Status(status),
        NimError::Busy | NimError::OutOfMemory | NimError::NoFreeSlot => {
            CallError::Status(Status::NoResources)
        }
        _ => CallError::NotRunning,
    }
}

/// The NIM's view of a failed wrapped call.
pub fn nim_error(error: CallError, state: State) -> NimError {
    match error {
        CallError::ExtensionFailed => NimError::ExtensionFailed,
        CallError::NotRunning => NimError::NotRunning(state),
        CallError::Status(status) => NimError::Refused(status),
        CallError::BadReply | CallError::BadArgument => NimError::Refused(Status::BadMessage),
    }
}
