//! The safe API an extension (driver) is written against, and the runtime
//! that connects an extension image to the kernel.
//!
//! An extension crate is `#![no_std]`, `#![no_main]` and
//! `#![forbid(unsafe_code)]`; it implements [`Extension`] and names its type
//! in [`extension!`], which emits the image's entry point, panic handler and
//! state. Every call into the kernel goes through [`kernel_call`], the only
//! function here that leaves the extension.
//!
//! Invariants:
//! - All `unsafe` an extension needs lives in this crate, in the runtime
//!   (turning the kernel's message pointer into a slice, calling the kernel
//!   service entry) and in [`deliberate_fault`] (crashes on command).
//! - Until the kernel has run [`abi::operation::INIT`], every kernel call
//!   fails with [`Status::NotRunning`] instead of jumping through a null
//!   pointer.
//! - The extension's heap is the region the kernel granted at init; an
//!   allocation beyond it fails (the allocator reports out of memory).
#![no_std]

pub mod deliberate_fault;
mod runtime;
mod services;

pub use extension_abi as abi;
pub use extension_abi::{CrashKind, MessageReader, MessageWriter, Status};
pub use runtime::{InitContext, dispatch, kernel_call, report_panic};
pub use services::*;

/// What an extension implements. One value is created by [`Extension::init`]
/// per load of the image and shared by every thread that calls in, so
/// mutable state needs interior mutability (atomics, `spin::Mutex`).
pub trait Extension: Sync + Sized + 'static {
    /// Set the extension up; runs once per load, before any other call.
    fn init(context: &InitContext) -> Result<Self, Status>;

    /// Handle one operation from the kernel. `request` holds the arguments;
    /// write results into `reply` (which may alias nothing else). Returns
    /// the status and the number of reply bytes written.
    fn handle(
        &self,
        operation: u64,
        request: &mut MessageReader<'_>,
        reply: &mut MessageWriter<'_>,
    ) -> Status {
        let _ = (operation, request, reply);
        Status::UnknownOperation
    }

    /// Does this extension carry out [`abi::operation::CRASH`] itself (in its
    /// own code)? If not, the kernel crashes it from the outside.
    const IMPLEMENTS_CRASH: bool = false;
}

/// Declares the extension's type: emits the image's entry point (`_start`),
/// its panic handler and the storage for its state.
///
/// ```ignore
/// #![no_std]
/// #![no_main]
/// #![forbid(unsafe_code)]
/// struct Hello;
/// impl extension_api::Extension for Hello {
///     fn init(_: &extension_api::InitContext) -> Result<Self, extension_api::Status> {
///         extension_api::log_info("hello");
///         Ok(Hello)
///     }
/// }
/// extension_api::extension!(Hello);
/// ```
#[macro_export]
macro_rules! extension {
    ($extension:ty) => {
        static EXTENSION_STATE: $crate::runtime_support::Once<$extension> =
            $crate::runtime_support::Once::new();

        /// The image's entry point: the kernel calls every operation here.
        #[unsafe(no_mangle)]
        extern "C" fn _start(operation: u64, message: *mut u8, message_len: u64) -> u64 {
            // SAFETY: only the kernel calls the entry point, and it passes a
            // message buffer in this extension's memory (the image ABI).
            unsafe {
                $crate::dispatch::<$extension>(&EXTENSION_STATE, operation, message, message_len)
            }
        }

        #[panic_handler]
        fn panic(information: &core::panic::PanicInfo<'_>) -> ! {
            $crate::report_panic(information)
        }
    };
}

/// Items the [`extension!`] macro expands to; not part of the API.
#[doc(hidden)]
pub mod runtime_support {
    pub use spin::Once;
}
