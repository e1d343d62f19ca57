//! Crashes on command: the code behind every [`CrashKind`], shared by the
//! kernel (which runs it inside any extension's domain, on that extension's
//! stack and page tables) and by the extension runtime (which runs it in the
//! extension's own code, for extensions that crash themselves).
//!
//! Invariants:
//! - [`trigger`] never returns: every kind ends in a CPU exception, a call
//!   of the caller's `panic` function, or an endless loop (the watchdog's
//!   business).
//! - Nothing here allocates or takes a lock, so it behaves the same in any
//!   protection domain.
//! - Built for x86_64 only (the crashes are machine instructions).
#![no_std]

use core::arch::asm;
pub use extension_abi::{BAD_RETURN_ADDRESS, CrashKind};

/// Read-only data written by [`CrashKind::WriteOwnRodata`]: lives in the
/// read-only segment of whatever image links this crate.
static READ_ONLY_TARGET: [u64; 1] = [0x0123_4567_89ab_cdef];

/// Makes `kind` happen here and now. `target` is the address the
/// `write-*` kinds write to (the caller looks it up: some kernel text, a
/// kernel static, a kernel heap block, another domain's data; for
/// `write-own-rodata`, 0 means this image's own read-only static); the
/// other kinds ignore it. `panic` is called for [`CrashKind::Panic`].
pub fn trigger(kind: CrashKind, target: u64, panic: fn() -> !) -> ! {
    match kind {
        CrashKind::NullDereference => {
            // SAFETY: deliberately unsound: reads address 0, which is never
            // mapped, to raise a page fault. That is the point of this kind.
            let value = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
            core::hint::black_box(value);
        }
        CrashKind::WriteKernelText
        | CrashKind::WriteKernelData
        | CrashKind::WriteKernelHeap
        | CrashKind::WriteOtherDomain => {
            // SAFETY: deliberately unsound: a wild write to `target`, which
            // must fault inside a protection domain (the point of the test);
            // natively it corrupts the kernel, as in Linux.
            unsafe { core::ptr::write_volatile(target as *mut u64, 0x0bad_0bad_0bad_0bad) };
        }
        CrashKind::WriteOwnRodata => {
            let address = match target {
                0 => core::ptr::addr_of!(READ_ONLY_TARGET) as *mut u64,
                given => given as *mut u64,
            };
            // SAFETY: deliberately unsound: writes a read-only static, which
            // is mapped without write permission, to raise a page fault.
            unsafe { core::ptr::write_volatile(core::hint::black_box(address), 0) };
        }
        CrashKind::InvalidOpcode => {
            // SAFETY: `ud2` raises #UD; it touches no memory.
            unsafe { asm!("ud2", options(nomem, nostack)) };
        }
        CrashKind::DivideError => {
            // SAFETY: divides by a zero register to raise #DE; registers are
            // declared clobbered, no memory is touched.
            unsafe {
                asm!(
                    "xor edx, edx",
                    "mov eax, 1",
                    "div ecx",
                    in("ecx") 0u32,
                    out("eax") _,
                    out("edx") _,
                    options(nomem, nostack)
                )
            };
        }
        CrashKind::StackOverflow => {
            core::hint::black_box(recurse(core::hint::black_box(1)));
        }
        CrashKind::BadReturnAddress => {
            // SAFETY: deliberately unsound: pushes an address that is never
            // mapped and returns through it, like a smashed return address.
            unsafe { asm!("push {0}", "ret", in(reg) BAD_RETURN_ADDRESS, options(noreturn)) };
        }
        CrashKind::Panic => panic(),
        CrashKind::LoopInterruptsOn => {
            // SAFETY: enabling interrupts has no memory effect; the loop is
            // meant to hang with interrupts on.
            unsafe { asm!("sti", options(nomem, nostack)) };
            loop {
                core::hint::spin_loop();
            }
        }
        CrashKind::LoopInterruptsOff => {
            // SAFETY: disabling interrupts has no memory effect; the loop is
            // meant to hang with interrupts off (only an NMI gets in).
            unsafe { asm!("cli", options(nomem, nostack)) };
            loop {
                core::hint::spin_loop();
            }
        }
    }
    // Every arm above faults; if one did not (e.g. natively, a wild write
    // that landed in writable memory), say so with a panic.
    panic()
}

/// Endless recursion with a 1 KiB frame each, so the guard page is hit
/// after a few calls rather than after many small ones.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [depth; 128];
    core::hint::black_box(&mut frame);
    frame[(depth % 128) as usize] + recurse(core::hint::black_box(depth + 1))
}
