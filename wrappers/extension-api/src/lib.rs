//! The safe API an extension (driver) is written against, and the runtime
//! that connects an extension image to the kernel.
//!
//! An extension crate is `#![no_std]`, `#![no_main]` and
//! `#![forbid(unsafe_code)]`; it implements [`Extension`] (and, for the
//! entry operations it answers, the generated [`kernel::Entries`]) and
//! names its type in [`extension!`], which emits the image's entry point,
//! panic handler and state.
//!
//! - [`kernel`] is generated from `wrappers/interface/kernel.idl`: one safe
//!   function per kernel service (`kernel::grant_memory`, ...), the
//!   `Entries` trait and the typed handles. Adding a service means editing
//!   the interface file only.
//! - The rest is a thin layer over it: formatted logging, and device
//!   access types ([`IoPorts`], [`Mmio`], [`DmaBuffer`], [`PciDevice`])
//!   that check every offset against the grant they stand for.
//!
//! Invariants:
//! - All `unsafe` an extension needs lives in this crate: in the runtime
//!   (turning the kernel's message pointer into a slice, calling the kernel
//!   service entry), in [`device`] (volatile access to mapped device and
//!   DMA memory, bounds-checked first) and in [`deliberate_fault`] (crashes
//!   and hostile calls on command, for tests).
//! - Until the kernel has run `init`, every kernel call fails with
//!   [`Status::NotRunning`] instead of jumping through a null pointer.
//! - The extension's heap is the region the kernel granted at init; an
//!   allocation beyond it fails (the allocator reports out of memory).
#![no_std]

pub mod deliberate_fault;
pub mod device;
mod runtime;
mod services;
mod text;

/// The generated wrappers of `kernel.idl`, extension side.
pub mod kernel {
    use crate as extension_api;
    include!("../../generated/kernel_extension_side.rs");
}

pub use device::{DmaBuffer, IoPorts, Mmio, PciDevice};
pub use extension_abi as abi;
pub use extension_abi::{CrashKind, MessageReader, MessageWriter, Status};
pub use kernel::{DeviceClass, DeviceHandle, Entries, Level};
pub use runtime::{InitContext, dispatch, kernel_call, report_panic};
pub use services::*;
pub use text::TextCursor;

/// What an extension implements. One value is created by [`Extension::init`]
/// per load of the image and shared by every thread that calls in, so
/// mutable state needs interior mutability (atomics, `spin::Mutex`).
///
/// The kernel's entry operations (interrupt, timer, device classes, ...)
/// arrive through the generated [`kernel::Entries`] methods; operations
/// from [`abi::EXTENSION_SPECIFIC`] up go to [`Extension::handle_specific`].
pub trait Extension: kernel::Entries + Sync + Sized + 'static {
    /// Set the extension up; runs once per load, before any other call.
    fn init(context: &InitContext) -> Result<Self, Status>;

    /// Handles an operation of the extension's own (numbered from
    /// [`abi::EXTENSION_SPECIFIC`]); `message` holds the request and takes
    /// the reply. Returns the status and the reply's length. An extension
    /// with its own interface file passes this to its generated
    /// `dispatch`.
    fn handle_specific(&self, operation: u64, message: &mut [u8]) -> (Status, usize) {
        let _ = (operation, message);
        (Status::UnknownOperation, 0)
    }

    /// Does this extension carry out the `crash` entry itself (in its own
    /// code)? If not, the kernel crashes it from the outside.
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
/// impl extension_api::Entries for Hello {}
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
