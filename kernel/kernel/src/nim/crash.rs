//! Crashes on command inside any extension (`ext crash NAME KIND`): the
//! kernel runs the crash code itself, inside the extension's domain, on the
//! extension's stack and page tables (an XPC whose target is a kernel
//! routine instead of the extension's entry). Extensions that implement
//! crashes themselves (`crashtest`) are asked to crash in their own code.

use super::{EXTENSIONS, NimError, SLOTS, Slot, State, Target};
use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};
use extension_abi::{CrashKind, MessageReader, service};

/// Kernel data that `write-kernel-data` aims at.
static KERNEL_DATA_TARGET: AtomicU64 = AtomicU64::new(0);
/// A kernel heap block that `write-kernel-heap` aims at.
static KERNEL_HEAP_TARGET: AtomicU64 = AtomicU64::new(0);

/// Allocates the heap target.
pub fn init() {
    let block = Box::leak(Box::new([0u64; 8]));
    KERNEL_HEAP_TARGET.store(block.as_ptr() as u64, Ordering::Relaxed);
}

/// The address a `write-*` kind writes to, for an extension in `slot`.
pub fn target_address(kind: CrashKind, slot: Slot, own_rodata: bool) -> u64 {
    match kind {
        CrashKind::WriteKernelText => crate::arch::halt as *const () as u64,
        CrashKind::WriteKernelData => core::ptr::addr_of!(KERNEL_DATA_TARGET) as u64,
        CrashKind::WriteKernelHeap => KERNEL_HEAP_TARGET.load(Ordering::Relaxed),
        CrashKind::WriteOtherDomain => other_domain_address(slot),
        CrashKind::WriteOwnRodata if own_rodata => EXTENSIONS.lock()[slot]
            .as_ref()
            .and_then(|record| record.memory.as_ref().map(|memory| memory.rodata_address))
            .unwrap_or(0),
        _ => 0,
    }
}

/// The heap of another loaded extension, or (with none) the base of an
/// unused region, which is not writable from this domain either.
fn other_domain_address(slot: Slot) -> u64 {
    let extensions = EXTENSIONS.lock();
    for (other, record) in extensions.iter().enumerate() {
        if other != slot
            && let Some(memory) = record.as_ref().and_then(|record| record.memory.as_ref())
        {
            return memory.heap_base();
        }
    }
    let unused = (0..super::MAX_EXTENSIONS)
        .find(|&other| other != slot && extensions[other].is_none())
        .unwrap_or((slot + 1) % super::MAX_EXTENSIONS);
    super::domain::region_base(unused)
}

fn panic_through_service() -> ! {
    let mut text = *b"deliberate panic (crash kind `panic`, run by the kernel)";
    // SAFETY: the kernel service entry has the KernelServiceEntry signature;
    // inside a domain it is the trampoline, natively the direct entry.
    unsafe {
        let entry = CURRENT_SERVICE_ENTRY.load(Ordering::Relaxed);
        let function: extern "C" fn(u64, *mut u8, u64) -> u64 =
            core::mem::transmute(entry as usize);
        function(service::PANIC, text.as_mut_ptr(), text.len() as u64);
    }
    loop {
        core::hint::spin_loop();
    }
}

/// The service entry the crash routine uses (set before each crash call).
static CURRENT_SERVICE_ENTRY: AtomicU64 = AtomicU64::new(0);

/// The kernel routine run inside the domain (ExtensionEntry signature).
extern "C" fn crash_routine(operation: u64, message: *mut u8, length: u64) -> u64 {
    let _ = operation;
    let mut bytes = [0u8; 12];
    if length >= 12 {
        // SAFETY: the NIM placed a 12-byte crash request at `message` in
        // this domain's stack (readable here).
        unsafe { core::ptr::copy_nonoverlapping(message, bytes.as_mut_ptr(), 12) };
    }
    let mut reader = MessageReader::new(&bytes);
    let kind = reader.u32().ok().and_then(CrashKind::from_code);
    let target = reader.u64().unwrap_or(0);
    match kind {
        Some(kind) => deliberate_fault::trigger(kind, target, panic_through_service),
        None => extension_abi::Status::BadMessage as u64,
    }
}

/// Makes `kind` happen inside the extension in `slot`. Returns once the
/// call came back (normally as failed).
pub fn crash(slot: Slot, kind: CrashKind) -> Result<(), NimError> {
    let state = &SLOTS[slot];
    if state.state() != State::Running {
        return Err(NimError::NotRunning(state.state()));
    }
    let implements_crash = EXTENSIONS.lock()[slot]
        .as_ref()
        .is_some_and(|record| record.implements_crash);
    let target = match implements_crash {
        true => Target::Extension,
        false => Target::KernelRoutine(crash_routine as *const () as u64),
    };
    let address = target_address(kind, slot, !implements_crash);
    let Some(code) = super::interface::kernel::CrashKind::from_code(kind as u32) else {
        return Err(NimError::Refused(extension_abi::Status::BadMessage));
    };
    CURRENT_SERVICE_ENTRY.store(
        match state.is_isolated() {
            true => super::xpc::kernel_service_trampoline as *const () as u64,
            false => super::services::native_service_entry as *const () as u64,
        },
        Ordering::Relaxed,
    );
    let generation = state.generation.load(Ordering::Acquire);
    let mut transport = super::interface::transport_to(slot, generation, State::Running, target);
    match super::interface::kernel::crash(&mut transport, code, address) {
        Err(extension_abi::CallError::ExtensionFailed) => Ok(()),
        Ok(()) => Err(NimError::Refused(extension_abi::Status::Ok)),
        Err(error) => Err(super::interface::nim_error(error, state.state())),
    }
}
