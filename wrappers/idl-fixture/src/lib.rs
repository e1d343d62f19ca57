//! Compiles the code the `idl` generator emits against the real
//! `extension-abi` crate, so that a generated file that does not build (or
//! that clippy refuses) fails the workspace build, and gives the host tests
//! in `tests/` the generated modules to exercise.
//!
//! Every module here includes one checked-in generated file: the outputs
//! for the real interfaces (`wrappers/generated/`) and for the feature
//! fixture (`wrappers/idl/tests/snapshots/`). The `idl` crate's snapshot
//! test keeps those files equal to what the generator emits now.
//!
//! Each interface has three files: the common one (numbers, enumerations,
//! handle types, reply structures, tables) and the two sides, which
//! `pub use` it. The real interfaces' common files are compiled into
//! `extension_abi::interfaces` (where the sides find them by default); they
//! are re-exported here under the same names as the fixture's, whose common
//! file is included in [`features_common`] (its sides were generated with
//! `common_path = "crate::features_common"`).
//!
//! The extension side calls the kernel through `extension_api::kernel_call`;
//! on the host that is [`extension_api::kernel_call`] below, which hands the
//! message to whatever "kernel" the test installed.

pub mod extension_api {
    //! A host stand-in for the extension API's kernel call: the message
    //! goes to the kernel closure the current test installed on this
    //! thread.

    use core::cell::RefCell;
    use extension_abi::Status;

    /// A kernel: takes the service number and the message (in place) and
    /// answers a status.
    pub type Kernel = Box<dyn FnMut(u64, &mut [u8]) -> Status>;

    std::thread_local! {
        static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
    }

    /// Runs `body` with `kernel` answering every kernel call made on this
    /// thread; the previous kernel (if any) is put back afterwards.
    pub fn with_kernel<R>(
        kernel: impl FnMut(u64, &mut [u8]) -> Status + 'static,
        body: impl FnOnce() -> R,
    ) -> R {
        let previous = KERNEL.with(|slot| slot.borrow_mut().replace(Box::new(kernel)));
        let result = body();
        KERNEL.with(|slot| *slot.borrow_mut() = previous);
        result
    }

    /// The call the generated extension side makes: `NotRunning` when no
    /// kernel is installed (as the real runtime before `init`).
    pub fn kernel_call(service: u64, message: &mut [u8]) -> Status {
        KERNEL.with(|slot| match slot.borrow_mut().as_mut() {
            Some(kernel) => kernel(service, message),
            None => Status::NotRunning,
        })
    }
}

/// `wrappers/interface/kernel.idl`, common file (compiled in
/// `extension_abi::interfaces::kernel`).
pub use extension_abi::interfaces::kernel as kernel_common;

/// `wrappers/interface/kernel.idl`, extension side.
pub mod kernel_extension {
    use crate::extension_api;
    include!("../../generated/kernel_extension_side.rs");
}

/// `wrappers/interface/kernel.idl`, kernel side.
pub mod kernel_kernel {
    include!("../../generated/kernel_kernel_side.rs");
}

/// `wrappers/interface/crashtest.idl`, common file (compiled in
/// `extension_abi::interfaces::crashtest`).
pub use extension_abi::interfaces::crashtest as crashtest_common;

/// `wrappers/interface/crashtest.idl`, extension side.
pub mod crashtest_extension {
    include!("../../generated/crashtest_extension_side.rs");
}

/// `wrappers/interface/crashtest.idl`, kernel side.
pub mod crashtest_kernel {
    include!("../../generated/crashtest_kernel_side.rs");
}

/// The feature fixture (`wrappers/idl/tests/fixtures/features.idl`),
/// common file: what both of its sides `pub use`.
pub mod features_common {
    include!("../../idl/tests/snapshots/features_common.rs");
}

/// The feature fixture, extension side.
pub mod features_extension {
    use crate::extension_api;
    include!("../../idl/tests/snapshots/features_extension_side.rs");
}

/// The feature fixture, kernel side.
pub mod features_kernel {
    include!("../../idl/tests/snapshots/features_kernel_side.rs");
}
