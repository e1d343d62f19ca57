//! Crashes on command, for test extensions that fail in their own code
//! (see the `deliberate-fault` crate for what each kind does).

use extension_abi::CrashKind;

fn panic_on_purpose() -> ! {
    panic!("deliberate panic (crash kind `panic`)")
}

/// Makes `kind` happen in this extension's own code and on its own stack.
/// `target` is the address the `write-*` kinds write to (the kernel supplies
/// it with the crash request).
pub fn trigger(kind: CrashKind, target: u64) -> ! {
    deliberate_fault::trigger(kind, target, panic_on_purpose)
}

/// Calls kernel service `service` with a message at any `address` and of
/// any `length` — pointers outside the extension's domain, kernel
/// addresses, lengths that overflow — bypassing every check this crate
/// makes, as a buggy or hostile extension could. For the hostile test
/// extension: the kernel must survive each such call and fail the caller
/// (`wrapper-check-failed`) instead.
pub fn raw_kernel_call(service: u64, address: u64, length: u64) -> crate::Status {
    crate::runtime::raw_kernel_call(service, address, length)
}
