//! The runtime: the entry-point dispatcher, the kernel call, the heap and
//! the panic path.

use crate::Extension;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use extension_abi::{
    ABI_VERSION, InitAnswer, InitArguments, KernelServiceEntry, MAX_MESSAGE_BYTES, MessageReader,
    MessageWriter, Status, operation,
};
use linked_list_allocator::LockedHeap;

static KERNEL_SERVICE_ENTRY: AtomicU64 = AtomicU64::new(0);
static GENERATION: AtomicU32 = AtomicU32::new(0);

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// What the extension learns at init.
#[derive(Clone, Copy, Debug)]
pub struct InitContext {
    /// This instance's generation (0 on first load, +1 per restart).
    pub generation: u32,
    /// Bytes of heap available to `alloc`.
    pub heap_size: u64,
}

/// The generation of the running instance.
pub fn generation() -> u32 {
    GENERATION.load(Ordering::Relaxed)
}

/// Calls kernel service `service` with `message` (arguments in, results
/// out, in place). Returns the status the kernel answered.
pub fn kernel_call(service: u64, message: &mut [u8]) -> Status {
    raw_kernel_call(service, message.as_mut_ptr() as u64, message.len() as u64)
}

/// Calls kernel service `service` with the message at `address`, `length`
/// bytes long (not checked here: the kernel checks it).
pub(crate) fn raw_kernel_call(service: u64, address: u64, length: u64) -> Status {
    let entry = KERNEL_SERVICE_ENTRY.load(Ordering::Acquire);
    if entry == 0 {
        return Status::NotRunning;
    }
    // SAFETY: `entry` is the kernel service entry the kernel handed over in
    // INIT (checked non-zero above) and has the `KernelServiceEntry`
    // signature by the ABI contract. The kernel treats the message as
    // untrusted: it checks the range lies in this extension's memory and
    // copies it with fault-tolerant probes, so no value of `address` and
    // `length` is unsound on this side (a `kernel_call` passes an
    // exclusively borrowed buffer).
    let code = unsafe {
        let function: KernelServiceEntry = core::mem::transmute(entry as usize);
        function(service, address as *mut u8, length)
    };
    Status::from_code(code).unwrap_or(Status::BadMessage)
}

/// The entry-point dispatcher behind [`crate::extension!`].
///
/// # Safety
/// `message` must be null or point to `message_len` bytes of writable
/// memory that nothing else uses during the call (the kernel's promise in
/// the ABI contract of `ExtensionEntry`).
pub unsafe fn dispatch<E: Extension>(
    state: &spin::Once<E>,
    operation: u64,
    message: *mut u8,
    message_len: u64,
) -> u64 {
    if message.is_null() || message_len as usize > MAX_MESSAGE_BYTES {
        return Status::BadMessage as u64;
    }
    // SAFETY: the caller's contract (see above); null and oversized
    // buffers were refused.
    let message = unsafe { core::slice::from_raw_parts_mut(message, message_len as usize) };
    let (status, reply_length) = match operation {
        operation::INIT => (init::<E>(state, message), InitAnswer::ENCODED_LEN),
        _ => match state.get() {
            None => (Status::NotRunning, 0),
            Some(extension) => handle(extension, operation, message),
        },
    };
    extension_abi::pack_return(status, reply_length)
}

fn init<E: Extension>(state: &spin::Once<E>, message: &mut [u8]) -> Status {
    let Ok(arguments) = InitArguments::decode(&mut MessageReader::new(message)) else {
        return Status::BadMessage;
    };
    if state.get().is_some() {
        return Status::Refused;
    }
    if arguments.heap_size > 0 {
        // SAFETY: the kernel granted [heap_base, heap_base + heap_size) to
        // this instance alone, mapped writable and zeroed, and INIT runs once
        // per instance (checked above), so the heap is initialised once.
        unsafe {
            HEAP.lock()
                .init(arguments.heap_base as *mut u8, arguments.heap_size as usize)
        };
    }
    GENERATION.store(arguments.generation, Ordering::Relaxed);
    KERNEL_SERVICE_ENTRY.store(arguments.kernel_service_entry, Ordering::Release);
    let context = InitContext {
        generation: arguments.generation,
        heap_size: arguments.heap_size,
    };
    let extension = match <E as Extension>::init(&context) {
        Ok(extension) => extension,
        Err(status) => return status,
    };
    state.call_once(|| extension);
    let answer = InitAnswer {
        abi_version: ABI_VERSION,
        implements_crash: E::IMPLEMENTS_CRASH,
    };
    match answer.encode(&mut MessageWriter::new(message)) {
        Ok(()) => Status::Ok,
        Err(_) => Status::BadMessage,
    }
}

fn handle<E: Extension>(extension: &E, operation: u64, message: &mut [u8]) -> (Status, usize) {
    match operation {
        operation::NULL => (Status::Ok, 0),
        operation::CALL_KERNEL_NULL => {
            let Ok(count) = MessageReader::new(message).u64() else {
                return (Status::BadMessage, 0);
            };
            for _ in 0..count {
                if let Err(status) = crate::kernel::null_service() {
                    return (status, 0);
                }
            }
            (Status::Ok, 0)
        }
        operation if operation >= extension_abi::EXTENSION_SPECIFIC => {
            extension.handle_specific(operation, message)
        }
        _ => crate::kernel::dispatch(operation, message, extension),
    }
}

/// The panic path: tell the kernel (which ends this instance); never returns.
pub fn report_panic(information: &core::panic::PanicInfo<'_>) -> ! {
    let mut buffer = [0u8; 200];
    let mut text = crate::TextCursor::new(&mut buffer);
    let _ = write!(text, "{}", information.message());
    if let Some(location) = information.location() {
        let _ = write!(text, " at {}:{}", location.file(), location.line());
    }
    let _ = crate::kernel::panic(text.text());
    // The kernel never returns from PANIC; if it did (no kernel yet), stop.
    loop {
        core::hint::spin_loop();
    }
}
