//! Kernel services an extension may call, and the kernel objects they hand
//! out (tracked per instance, under handles that carry its generation).
//!
//! Invariants:
//! - An isolated caller's message is checked (it must lie in the caller's
//!   own region and fit [`MAX_MESSAGE_BYTES`]) and copied in before any
//!   service reads it, and copied back after; a bad message is a fault of
//!   the extension (`wrapper-check-failed`), never a kernel fault.
//! - Every object a service creates is recorded in the instance's object
//!   table before the service returns its handle; recovery releases what is
//!   recorded, in the table's release order.
//! - A service never returns into a dead instance: if the caller failed
//!   while the service ran (another thread faulted, or it was unloaded),
//!   the call is unwound instead.

use super::xpc::{self, Crossing, XpcFrame};
use super::{EXTENSIONS, SLOTS, Slot, domain};
use crate::arch::percpu::this_cpu;
use crate::sched::sync::IrqSpinlock;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use device_table::{Device, DeviceClass, DeviceId};
use extension_abi::{MAX_MESSAGE_BYTES, MessageReader, MessageWriter, Status, operation, service};
use object_tracker::{ObjectHandle, ObjectKind};
use restart_policy::FaultKind;

/// A kernel object held by an extension instance.
#[derive(Debug)]
pub enum TrackedObject {
    /// Granted pages, mapped writable in the instance's region.
    Memory {
        /// First address.
        address: u64,
        /// Pages.
        pages: u64,
    },
    /// Reserved I/O ports.
    IoPorts {
        /// First port.
        first: u16,
        /// Number of ports.
        count: u16,
    },
    /// An interrupt handler registration.
    Interrupt {
        /// ISA line.
        line: u8,
    },
    /// A timer (fires while the handle is in the table).
    Timer {
        /// Period or delay in milliseconds.
        milliseconds: u64,
        /// Re-armed after each expiry?
        periodic: bool,
    },
    /// A device registered in the device table.
    Device {
        /// Its id there.
        id: DeviceId,
    },
}

impl TrackedObject {
    /// The object's kind (for handles and release order).
    pub fn kind(&self) -> ObjectKind {
        match self {
            TrackedObject::Memory { .. } => ObjectKind::Memory,
            TrackedObject::IoPorts { .. } => ObjectKind::IoPortRange,
            TrackedObject::Interrupt { .. } => ObjectKind::IrqRegistration,
            TrackedObject::Timer { .. } => ObjectKind::Timer,
            TrackedObject::Device { .. } => ObjectKind::DeviceRegistration,
        }
    }
}

/// Ports the kernel keeps for itself (never granted).
const KERNEL_PORTS: [(u16, u16); 8] = [
    (0x20, 2),  // master PIC
    (0x40, 4),  // PIT
    (0x60, 5),  // keyboard controller
    (0xa0, 2),  // slave PIC
    (0xf4, 4),  // isa-debug-exit
    (0x3f8, 8), // COM1 (the console)
    (0x604, 1), // ACPI power off
    (0xcf8, 8), // PCI configuration
];
/// ISA lines the kernel keeps (timer, cascade, console).
const KERNEL_LINES: [u8; 3] = [0, 2, 4];

/// Which instance handles each ISA interrupt line.
static INTERRUPT_OWNERS: IrqSpinlock<[Option<(Slot, u32)>; 16]> = IrqSpinlock::new([None; 16]);
/// Granted port ranges: (first, count, slot).
static PORT_GRANTS: IrqSpinlock<Vec<(u16, u16, Slot)>> = IrqSpinlock::new(Vec::new());

/// Service calls handled.
pub static SERVICE_CALLS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Who is calling: the innermost kernel → extension frame.
fn caller() -> Option<(Slot, u32)> {
    let frame = xpc::innermost_call()?;
    Some((usize::from(frame.slot), frame.generation))
}

/// The isolated extensions' service entry (reached through
/// `kernel_service_trampoline` on the thread's kernel stack, with the
/// kernel's page tables). Returns with interrupts disabled (the trampoline
/// restores the extension's flags).
#[unsafe(no_mangle)]
extern "C" fn kernel_service_dispatch(
    service: u64,
    message: u64,
    length: u64,
    extension_stack: u64,
) -> u64 {
    let Some(call) = xpc::innermost_call() else {
        // Not inside an extension: nothing to return to safely but here.
        crate::arch::disable_interrupts();
        return Status::Refused as u64;
    };
    let slot = usize::from(call.slot);
    let generation = call.generation;
    let status = {
        let mut frame = XpcFrame::new(Crossing::ExtensionToKernel, call.slot, generation, 0);
        frame.extension_stack_pointer = extension_stack;
        xpc::enter_service(&mut frame);
        let status = isolated_service(slot, generation, service, message, length, extension_stack);
        xpc::leave_service(&frame);
        status
    };
    crate::arch::disable_interrupts();
    if !SLOTS[slot].is_usable(generation) {
        // The instance died while the service ran: never return into it.
        let call = xpc::innermost_call().expect("the call is still innermost");
        xpc::unwind_current_call(call);
    }
    status as u64
}

fn isolated_service(
    slot: Slot,
    generation: u32,
    service: u64,
    message: u64,
    length: u64,
    extension_stack: u64,
) -> Status {
    SERVICE_CALLS.fetch_add(1, Ordering::Relaxed);
    let region = domain::region_base(slot);
    let length = length as usize;
    // The caller broke the contract: its fault, recorded as such; the
    // return path then unwinds the call.
    let refuse = |kind: FaultKind, address: Option<u64>| {
        let return_address = crate::arch::fixup::probe_read_u64(extension_stack).unwrap_or(0);
        super::fault::extension_failed_in_service(slot, generation, kind, return_address, address);
        Status::Refused
    };
    let in_region = message >= region
        && message
            .checked_add(length as u64)
            .is_some_and(|end| end <= region + crate::memory::paging::EXTENSION_REGION_SIZE);
    if length > MAX_MESSAGE_BYTES || (length > 0 && !in_region) {
        return refuse(FaultKind::WrapperCheckFailed, Some(message));
    }
    // Small messages use a small buffer (zeroing 4 KiB per call would
    // dominate a null service call).
    let mut small = [0u8; 64];
    let mut large;
    let copy: &mut [u8] = if length <= small.len() {
        &mut small[..length]
    } else {
        large = [0u8; MAX_MESSAGE_BYTES];
        &mut large[..length]
    };
    let copied = match length {
        0 => true,
        // SAFETY: `copy` is a local buffer of exactly `length` bytes; the
        // probe reports a fault on the source instead of crashing.
        _ => unsafe { crate::arch::fixup::probe_copy(copy.as_mut_ptr(), message, length) }.is_ok(),
    };
    if !copied {
        return refuse(FaultKind::WrapperCheckFailed, Some(message));
    }
    if service == service::PANIC {
        let text = core::str::from_utf8(copy).unwrap_or("(not UTF-8)");
        log::warn!("nim: slot {slot} generation {generation} panicked: {text}");
        return refuse(FaultKind::Panic, None);
    }
    let status = dispatch(slot, generation, service, copy);
    if length > 0 {
        // SAFETY: the destination was checked to lie in the caller's region;
        // the probe turns an unmapped page into an error.
        let _ = unsafe {
            crate::arch::fixup::probe_copy(message as *mut u8, copy.as_ptr() as u64, length)
        };
    }
    status
}

/// The native extensions' service entry: a direct call, message in place.
pub extern "C" fn native_service_entry(service: u64, message: *mut u8, length: u64) -> u64 {
    let Some((slot, generation)) = caller() else {
        return Status::Refused as u64;
    };
    SERVICE_CALLS.fetch_add(1, Ordering::Relaxed);
    if length as usize > MAX_MESSAGE_BYTES || (message.is_null() && length > 0) {
        return Status::BadMessage as u64;
    }
    let bytes: &mut [u8] = match length {
        0 => &mut [],
        // SAFETY: native mode trusts the extension like kernel code (as in
        // an unisolated kernel): it passes a buffer of `length` bytes.
        _ => unsafe { core::slice::from_raw_parts_mut(message, length as usize) },
    };
    if service == service::PANIC {
        let text = core::str::from_utf8(bytes).unwrap_or("(not UTF-8)");
        panic!("extension in slot {slot} (native) panicked: {text}");
    }
    dispatch(slot, generation, service, bytes) as u64
}

fn reply_u64(message: &mut [u8], value: u64) -> Status {
    match MessageWriter::new(message).put_u64(value) {
        Ok(()) => Status::Ok,
        Err(_) => Status::BadMessage,
    }
}

/// Runs one service for instance `slot`/`generation` on a kernel copy of
/// its message.
fn dispatch(slot: Slot, generation: u32, service: u64, message: &mut [u8]) -> Status {
    let mut reader = MessageReader::new(message);
    match service {
        service::NULL => Status::Ok,
        service::LOG => {
            let Ok(level) = reader.u8() else {
                return Status::BadMessage;
            };
            let text = core::str::from_utf8(reader.rest()).unwrap_or("(not UTF-8)");
            let level = match level {
                1 => log::Level::Error,
                2 => log::Level::Warn,
                3 => log::Level::Info,
                4 => log::Level::Debug,
                _ => log::Level::Trace,
            };
            let name = extension_name(slot);
            log::log!(target: "extension", level, "{name}: {text}");
            Status::Ok
        }
        service::YIELD => {
            if crate::sched::sync::may_block() {
                crate::sched::yield_now();
            }
            Status::Ok
        }
        service::SLEEP => {
            let Ok(milliseconds) = reader.u64() else {
                return Status::BadMessage;
            };
            match crate::sched::sleep_ms(milliseconds.min(60_000)) {
                Ok(()) => Status::Ok,
                Err(_) => Status::Refused,
            }
        }
        service::UPTIME => reply_u64(message, crate::time::uptime_us() / 1000),
        service::CALL_BACK => {
            let (Ok(operation), Ok(argument)) = (reader.u64(), reader.u64()) else {
                return Status::BadMessage;
            };
            if operation < extension_abi::operation::EXTENSION_SPECIFIC
                && operation != extension_abi::operation::NULL
            {
                return Status::Refused;
            }
            let state = SLOTS[slot].state();
            let result = super::call_target(
                slot,
                generation,
                state,
                super::Target::Extension,
                operation,
                &argument.to_le_bytes(),
                &mut [0u8; 8],
            );
            let status = match result {
                Ok((status, _)) => status,
                Err(super::NimError::ExtensionFailed) => Status::ExtensionFailed,
                Err(_) => Status::NotRunning,
            };
            reply_u64(message, status as u64)
        }
        service::GRANT_MEMORY => grant_memory(slot, generation, &mut reader).map_or_else(
            |status| status,
            |(handle, address)| {
                let mut writer = MessageWriter::new(message);
                match (writer.put_u64(handle.to_bits()), writer.put_u64(address)) {
                    (Ok(()), Ok(())) => Status::Ok,
                    _ => Status::BadMessage,
                }
            },
        ),
        service::REQUEST_IO_PORTS => {
            let (Ok(first), Ok(count)) = (reader.u16(), reader.u16()) else {
                return Status::BadMessage;
            };
            match request_ports(slot, first, count) {
                Ok(handle) => reply_u64(message, handle.to_bits()),
                Err(status) => status,
            }
        }
        service::REQUEST_INTERRUPT => {
            let Ok(line) = reader.u8() else {
                return Status::BadMessage;
            };
            match request_interrupt(slot, generation, line) {
                Ok(handle) => reply_u64(message, handle.to_bits()),
                Err(status) => status,
            }
        }
        service::START_TIMER => {
            let (Ok(milliseconds), Ok(periodic)) = (reader.u64(), reader.u8()) else {
                return Status::BadMessage;
            };
            match start_timer(slot, generation, milliseconds, periodic != 0) {
                Ok(handle) => reply_u64(message, handle.to_bits()),
                Err(status) => status,
            }
        }
        service::REGISTER_DEVICE => {
            let Ok(length) = reader.u8() else {
                return Status::BadMessage;
            };
            let Ok(name) = reader.bytes(usize::from(length)) else {
                return Status::BadMessage;
            };
            let Ok(name) = core::str::from_utf8(name) else {
                return Status::BadMessage;
            };
            match register_device(slot, generation, name) {
                Ok(handle) => reply_u64(message, handle.to_bits()),
                Err(status) => status,
            }
        }
        service::RELEASE_MEMORY
        | service::RELEASE_IO_PORTS
        | service::FREE_INTERRUPT
        | service::CANCEL_TIMER
        | service::UNREGISTER_DEVICE => {
            let Ok(bits) = reader.u64() else {
                return Status::BadMessage;
            };
            let kind = match service {
                service::RELEASE_MEMORY => ObjectKind::Memory,
                service::RELEASE_IO_PORTS => ObjectKind::IoPortRange,
                service::FREE_INTERRUPT => ObjectKind::IrqRegistration,
                service::CANCEL_TIMER => ObjectKind::Timer,
                _ => ObjectKind::DeviceRegistration,
            };
            let object = {
                let mut extensions = EXTENSIONS.lock();
                let Some(record) = extensions[slot].as_mut() else {
                    return Status::Refused;
                };
                record.objects.remove(ObjectHandle::from_bits(bits), kind)
            };
            match object {
                Ok(object) => {
                    release_object(slot, object);
                    Status::Ok
                }
                Err(_) => Status::Refused,
            }
        }
        _ => Status::UnknownOperation,
    }
}

fn extension_name(slot: Slot) -> alloc::string::String {
    EXTENSIONS.lock()[slot]
        .as_ref()
        .map(|record| record.name.clone())
        .unwrap_or_default()
}

fn track(slot: Slot, object: TrackedObject) -> Result<ObjectHandle, TrackedObject> {
    let kind = object.kind();
    let mut extensions = EXTENSIONS.lock();
    match extensions[slot].as_mut() {
        Some(record) => record
            .objects
            .insert(kind, object)
            .map_err(|full| full.object),
        None => Err(object),
    }
}

fn grant_memory(
    slot: Slot,
    _generation: u32,
    reader: &mut MessageReader<'_>,
) -> Result<(ObjectHandle, u64), Status> {
    let pages = reader.u64().map_err(|_| Status::BadMessage)?;
    if pages == 0 || pages > 1024 {
        return Err(Status::Refused);
    }
    let state = &SLOTS[slot];
    let region = domain::region_base(slot);
    let limit = region + domain::GRANTS_OFFSET + domain::MAX_GRANT_PAGES * 4096;
    // One guard page after each grant.
    let address = state
        .grant_next
        .fetch_add((pages + 1) * 4096, Ordering::AcqRel);
    if address + pages * 4096 > limit {
        return Err(Status::NoResources);
    }
    crate::memory::paging::map_new_pages(
        address,
        pages as usize,
        crate::memory::paging::PageRights::WRITE,
    )
    .map_err(|_| Status::NoResources)?;
    match track(slot, TrackedObject::Memory { address, pages }) {
        Ok(handle) => Ok((handle, address)),
        Err(object) => {
            release_object(slot, object);
            Err(Status::NoResources)
        }
    }
}

fn ranges_overlap(first: u16, count: u16, other_first: u16, other_count: u16) -> bool {
    let (start, end) = (u32::from(first), u32::from(first) + u32::from(count));
    let (other_start, other_end) = (
        u32::from(other_first),
        u32::from(other_first) + u32::from(other_count),
    );
    start < other_end && other_start < end
}

fn request_ports(slot: Slot, first: u16, count: u16) -> Result<ObjectHandle, Status> {
    if count == 0 || u32::from(first) + u32::from(count) > 0x1_0000 {
        return Err(Status::Refused);
    }
    if KERNEL_PORTS
        .iter()
        .any(|&(start, length)| ranges_overlap(first, count, start, length))
    {
        return Err(Status::Refused);
    }
    {
        let mut grants = PORT_GRANTS.lock();
        if grants
            .iter()
            .any(|&(start, length, _)| ranges_overlap(first, count, start, length))
        {
            return Err(Status::Refused);
        }
        grants.push((first, count, slot));
    }
    track(slot, TrackedObject::IoPorts { first, count }).map_err(|object| {
        release_object(slot, object);
        Status::NoResources
    })
}

fn request_interrupt(slot: Slot, generation: u32, line: u8) -> Result<ObjectHandle, Status> {
    if line >= 16 || KERNEL_LINES.contains(&line) {
        return Err(Status::Refused);
    }
    {
        let mut owners = INTERRUPT_OWNERS.lock();
        if owners[usize::from(line)].is_some() {
            return Err(Status::Refused);
        }
        owners[usize::from(line)] = Some((slot, generation));
    }
    crate::interrupts::set_line_masked(line, false);
    track(slot, TrackedObject::Interrupt { line }).map_err(|object| {
        release_object(slot, object);
        Status::NoResources
    })
}

/// A device interrupt on `line`: calls the owning extension's handler
/// (from interrupt context, on its interrupt stack). Returns whether an
/// extension owns the line.
pub fn on_device_interrupt(line: u8) -> bool {
    let owner = INTERRUPT_OWNERS.lock()[usize::from(line) & 15];
    let Some((slot, generation)) = owner else {
        return false;
    };
    let _ = super::call_target(
        slot,
        generation,
        super::State::Running,
        super::Target::Extension,
        operation::INTERRUPT,
        &[line],
        &mut [],
    );
    true
}

fn start_timer(
    slot: Slot,
    generation: u32,
    milliseconds: u64,
    periodic: bool,
) -> Result<ObjectHandle, Status> {
    if milliseconds == 0 || milliseconds > 3_600_000 {
        return Err(Status::Refused);
    }
    let handle = track(
        slot,
        TrackedObject::Timer {
            milliseconds,
            periodic,
        },
    )
    .map_err(|_| Status::NoResources)?;
    arm_timer(slot, generation, handle, milliseconds);
    Ok(handle)
}

fn arm_timer(slot: Slot, generation: u32, handle: ObjectHandle, milliseconds: u64) {
    crate::time::call_after(milliseconds, move || on_timer(slot, generation, handle));
}

/// A timer expired (interrupt context): if it is still held, call the
/// extension's timer operation and re-arm periodic ones.
fn on_timer(slot: Slot, generation: u32, handle: ObjectHandle) {
    if !SLOTS[slot].is_alive(generation) {
        return;
    }
    let timer = {
        let extensions = EXTENSIONS.lock();
        extensions[slot].as_ref().and_then(|record| {
            match record.objects.get(handle, ObjectKind::Timer) {
                Ok(TrackedObject::Timer {
                    milliseconds,
                    periodic,
                }) => Some((*milliseconds, *periodic)),
                _ => None,
            }
        })
    };
    let Some((milliseconds, periodic)) = timer else {
        return;
    };
    if periodic {
        arm_timer(slot, generation, handle, milliseconds);
    }
    let _ = super::call_target(
        slot,
        generation,
        super::State::Running,
        super::Target::Extension,
        operation::TIMER,
        &handle.to_bits().to_le_bytes(),
        &mut [],
    );
}

/// The kernel's face of a device an extension registered.
struct ExtensionDevice;

impl Device for ExtensionDevice {
    fn class(&self) -> DeviceClass {
        DeviceClass::Character
    }
}

fn register_device(slot: Slot, _generation: u32, name: &str) -> Result<ObjectHandle, Status> {
    if !extension_image::bundle::is_valid_name(name) {
        return Err(Status::Refused);
    }
    let id = crate::devices::register_named(name, Arc::new(ExtensionDevice))
        .map_err(|_| Status::Refused)?;
    track(slot, TrackedObject::Device { id }).map_err(|object| {
        release_object(slot, object);
        Status::NoResources
    })
}

/// Gives a tracked object back to the kernel.
pub fn release_object(slot: Slot, object: TrackedObject) {
    match object {
        TrackedObject::Memory { address, pages } => {
            crate::memory::paging::unmap_and_free_pages(address, pages as usize);
        }
        TrackedObject::IoPorts { first, count } => {
            PORT_GRANTS.lock().retain(|&(start, length, owner)| {
                !(start == first && length == count && owner == slot)
            });
        }
        TrackedObject::Interrupt { line } => {
            crate::interrupts::set_line_masked(line, true);
            INTERRUPT_OWNERS.lock()[usize::from(line)] = None;
        }
        TrackedObject::Timer { .. } => {
            // The pending expiry finds the handle gone and does nothing.
        }
        TrackedObject::Device { id } => {
            let _ = crate::devices::force_unregister(id);
        }
    }
}

/// Masks every interrupt line `slot` owns (the first step of recovery:
/// stop the device from calling into the dead instance).
pub fn mask_interrupts_of(slot: Slot) {
    let owners = INTERRUPT_OWNERS.lock();
    for (line, owner) in owners.iter().enumerate() {
        if owner.is_some_and(|(owner, _)| owner == slot) {
            crate::interrupts::set_line_masked(line as u8, true);
        }
    }
}

/// Kernel → extension frames use this to check the per-CPU chain is sane
/// (for tests).
pub fn current_depth() -> usize {
    let mut depth = 0;
    let mut address = this_cpu().xpc.innermost_frame.load(Ordering::Relaxed);
    while address != 0 && depth < 1000 {
        depth += 1;
        // SAFETY: the chain links live frames on this thread's kernel stack.
        address = unsafe { (*(address as *const XpcFrame)).previous };
    }
    depth
}
