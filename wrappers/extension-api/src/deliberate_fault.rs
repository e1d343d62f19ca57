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
