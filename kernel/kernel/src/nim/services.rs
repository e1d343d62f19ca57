//! Kernel services an extension may call, and the kernel objects they hand
//! out (tracked per instance, under handles that carry its generation).
//!
//! Every service runs through the generated dispatch of `kernel.idl`
//! (`super::interface::kernel::dispatch`), which decodes and checks the
//! message; [`ServiceCall`] implements the services themselves.
//!
//! Invariants:
//! - An isolated caller's message is checked (it must lie in the caller's
//!   own region and fit [`MAX_MESSAGE_BYTES`]) and copied in before any
//!   service reads it, and copied back after.
//! - A failed check — a message outside the caller's region, a malformed
//!   message, or a handle that is not live, of the right kind and of the
//!   caller's generation — is a fault of the isolated extension
//!   (`wrapper-check-failed`, recovered under its policy), never a kernel
//!   fault. A well-formed request the kernel declines is answered with a
//!   status (`refused`, `no-resources`).
//! - Every object a service creates is recorded in the instance's object
//!   table before the service returns its handle; recovery releases what is
//!   recorded, in the table's release order.
//! - A service never returns into a dead instance: if the caller failed
//!   while the service ran (another thread faulted, or it was unloaded),
//!   the call is unwound instead.

use super::inject::{self, FailPoint};
use super::interface::{self, kernel as wrappers};
use super::xpc::{self, Crossing, XpcFrame};
use super::{EXTENSIONS, SLOTS, Slot, domain, interrupt_lines};
use crate::arch::percpu::this_cpu;
use crate::memory::paging::{self, PageRights};
use crate::sched::sync::IrqSpinlock;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use device_table::{Device, DeviceError, DeviceId};
use extension_abi::validate::{
    access_fits, config_write_is_protected, port_range_is_valid, range_is_inside, ranges_overlap,
};
use extension_abi::{MAX_MESSAGE_BYTES, Status};
use object_tracker::{ObjectHandle, ObjectKind};
use pci_config::PciAddress;
use restart_policy::FaultKind;
use wrappers::{
    AccessWidth, AllocateDmaReply, BarKind, ClaimPciDeviceReply, DeviceClass, DeviceHandle,
    DmaBufferHandle, GrantMemoryReply, InterruptHandle, IoPortsHandle, Level, MapMmioReply,
    MemoryHandle, MmioHandle, PciDeviceHandle, ReadPciBarReply, SocketHandle, TimerHandle,
};

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
        /// Its pending expiry (cancelled when the timer is released).
        expiry: Option<crate::time::TimerId>,
    },
    /// A device registered in the device table.
    Device {
        /// Its id there.
        id: DeviceId,
        /// The kernel's face of it.
        device: Arc<ExtensionDevice>,
    },
    /// A claimed PCI function.
    PciDevice {
        /// Where it is.
        address: PciAddress,
        /// Its index in the boot-time enumeration.
        index: usize,
    },
    /// A BAR mapped uncached into the instance's region.
    Mmio {
        /// First address.
        address: u64,
        /// Pages.
        pages: u64,
    },
    /// A physically contiguous DMA buffer mapped in the instance's region.
    DmaBuffer {
        /// First address.
        address: u64,
        /// Physical address of the first byte.
        physical: u64,
        /// Pages.
        pages: u64,
    },
    /// A TCP socket of the kernel's network stack.
    Socket {
        /// Its id in the stack's socket table.
        id: crate::net::SocketId,
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
            TrackedObject::PciDevice { .. } => ObjectKind::PciDevice,
            TrackedObject::Mmio { .. } => ObjectKind::MmioRegion,
            TrackedObject::DmaBuffer { .. } => ObjectKind::DmaBuffer,
            TrackedObject::Socket { .. } => ObjectKind::Socket,
        }
    }
}

/// Ports the kernel keeps for itself (never granted): the devices it
/// drives, and the platform's controls whose misuse would stop the machine
/// or take devices from under other drivers (reset, power, SMI, interrupt
/// routing, hot-plug).
pub const KERNEL_PORTS: [(u16, u16); 12] = [
    (0x20, 2),       // master PIC
    (0x40, 4),       // PIT
    (0x60, 5),       // keyboard controller (and its reset command)
    (0x92, 1),       // system control port A: bit 0 resets the machine
    (0xa0, 2),       // slave PIC
    (0xb2, 2),       // APM control: a write raises an SMI
    (0xf4, 4),       // isa-debug-exit
    (0x3f8, 8),      // COM1 (the console)
    (0x4d0, 2),      // ELCR: edge/level trigger of the ISA lines
    (0x600, 0x40),   // ACPI PM registers (0x604: power off)
    (0xae00, 0x200), // QEMU's ACPI PCI/CPU hot-plug and GPE registers
    (0xcf8, 8),      // PCI configuration (0xcf9: reset control)
];
/// ISA lines the kernel keeps (timer, cascade, console).
pub const KERNEL_LINES: [u8; 3] = [0, 2, 4];
/// PCI class code of bridges (never claimed by an extension).
const PCI_CLASS_BRIDGE: u8 = 0x06;
/// Most call-backs (service `call-back`) nested on one CPU's call chain.
/// Each level holds about 9 KiB of kernel stack (a kernel → extension call
/// and an extension → kernel service, each with message buffers; the
/// service dispatch reserves room for the largest reply, 4 KiB), so three
/// levels and an interrupt that calls an extension on top fit a 64 KiB
/// thread stack with room to spare; unbounded nesting overflowed it.
pub const MAX_NESTED_CALL_BACKS: usize = 3;
/// Largest DMA buffer, in pages (256 KiB).
const MAX_DMA_PAGES: u64 = 64;
/// Frames kept per network device until the network stack takes them.
const RECEIVE_QUEUE_FRAMES: usize = 256;

/// Granted port ranges: (first, count, slot).
static PORT_GRANTS: IrqSpinlock<Vec<(u16, u16, Slot)>> = IrqSpinlock::new(Vec::new());
/// Claimed PCI functions: (index in the enumeration, slot).
static PCI_CLAIMS: IrqSpinlock<Vec<(usize, Slot)>> = IrqSpinlock::new(Vec::new());

/// Service calls handled.
pub static SERVICE_CALLS: AtomicU64 = AtomicU64::new(0);
/// Failed wrapper checks (each one a fault of an isolated extension).
pub static FAILED_CHECKS: AtomicU64 = AtomicU64::new(0);

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
    // The caller broke the contract: its fault, recorded as such; the
    // return path then unwinds the call.
    let fail = |failure: Failure| {
        let kind = failure.kind();
        if kind == FaultKind::WrapperCheckFailed {
            FAILED_CHECKS.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "nim: {} generation {generation}: wrapper check failed in service {service}: {}",
                extension_name(slot),
                failure.reason()
            );
        }
        failure.count();
        let return_address = crate::arch::fixup::probe_read_u64(extension_stack).unwrap_or(0);
        // A panic's message is no faulting address.
        let address = (failure != Failure::Panicked).then_some(message);
        super::fault::extension_failed_in_service(slot, generation, kind, return_address, address);
        Status::Refused
    };
    let in_region = range_is_inside(
        message,
        length,
        domain::region_base(slot),
        paging::EXTENSION_REGION_SIZE,
    );
    if length > MAX_MESSAGE_BYTES as u64 || (length > 0 && !in_region) {
        return fail(Failure::MessageOutsideRegion);
    }
    let length = length as usize;
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
        return fail(Failure::MessageNotMapped);
    }
    let (status, failure) = run_service(slot, generation, service, copy);
    if let Some(failure) = failure {
        return fail(failure);
    }
    // Only the reply goes back (a service without one copies nothing).
    let reply = length.min(largest_reply(service));
    let reply = inject::copy_overrun(slot, copy, reply);
    if reply > 0 {
        // SAFETY: the destination was checked to lie in the caller's region;
        // the probe turns an unmapped or read-only page into an error.
        let written = unsafe {
            crate::arch::fixup::probe_copy(message as *mut u8, copy.as_ptr() as u64, reply)
        };
        // A message the caller may read but not write (its own text or
        // read-only data) cannot take the reply: the caller would carry on
        // without it (and without the handle of what the service made,
        // which recovery now releases).
        if written.is_err() && SLOTS[slot].is_usable(generation) {
            return fail(Failure::ReplyNotWritable);
        }
    }
    status
}

/// The largest reply of kernel service `service`, in bytes (0 for an
/// unknown one).
fn largest_reply(service: u64) -> usize {
    let by_position = usize::try_from(service.wrapping_sub(1))
        .ok()
        .and_then(|index| wrappers::SERVICES.get(index))
        .filter(|info| info.number == service);
    by_position
        .or_else(|| {
            wrappers::SERVICES
                .iter()
                .find(|info| info.number == service)
        })
        .map_or(0, |info| info.max_reply_bytes)
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
    let (status, failure) = run_service(slot, generation, service, bytes);
    inject::copy_overrun(slot, bytes, largest_reply(service));
    match failure {
        // Native mode has no recovery: a panic stops the kernel, as it
        // would in an unisolated kernel.
        Some(Failure::Panicked) => panic!("extension in slot {slot} (native) panicked"),
        Some(failure) => {
            FAILED_CHECKS.fetch_add(1, Ordering::Relaxed);
            failure.count();
            log::warn!(
                "nim: {} (native): wrapper check failed in service {service}: {}",
                extension_name(slot),
                failure.reason()
            );
            match failure {
                Failure::MalformedMessage => Status::BadMessage as u64,
                _ => Status::Refused as u64,
            }
        }
        None => status as u64,
    }
}

/// Why a service call ends the calling instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The extension reported a panic.
    Panicked,
    /// The message does not lie inside the caller's region, or is longer
    /// than `MAX_MESSAGE_BYTES`.
    MessageOutsideRegion,
    /// The message lies in the caller's region but is not mapped there.
    MessageNotMapped,
    /// The reply could not be written back (the message is read-only).
    ReplyNotWritable,
    /// The message does not decode (the generated checks refused it).
    MalformedMessage,
    /// A handle is not live, not of the right kind, or of another
    /// generation.
    BadHandle,
    /// An offset or length reaches outside the object it names.
    OutOfRange,
}

/// Failures seen, by [`Failure`] (for tests and statistics).
static FAILURES: [AtomicU64; Failure::ALL.len()] =
    [const { AtomicU64::new(0) }; Failure::ALL.len()];

impl Failure {
    /// Every failure.
    pub const ALL: [Failure; 7] = [
        Failure::Panicked,
        Failure::MessageOutsideRegion,
        Failure::MessageNotMapped,
        Failure::ReplyNotWritable,
        Failure::MalformedMessage,
        Failure::BadHandle,
        Failure::OutOfRange,
    ];

    /// How many service calls failed this way since boot.
    pub fn seen(self) -> u64 {
        FAILURES[self as usize].load(Ordering::Relaxed)
    }

    fn count(self) {
        FAILURES[self as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn kind(self) -> FaultKind {
        match self {
            Failure::Panicked => FaultKind::Panic,
            _ => FaultKind::WrapperCheckFailed,
        }
    }

    /// Why, in words.
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Panicked => "panicked",
            Failure::MessageOutsideRegion => "the message is not inside the caller's region",
            Failure::MessageNotMapped => "the message is not mapped",
            Failure::ReplyNotWritable => "the reply cannot be written to the message",
            Failure::MalformedMessage => "malformed message",
            Failure::BadHandle => "a handle that is stale, forged or of the wrong kind",
            Failure::OutOfRange => "an offset or length outside its object",
        }
    }
}

/// Runs one service for instance `slot`/`generation` on a kernel copy of
/// its message (or, native, the message itself): the status to answer, or
/// why the instance must fail instead.
fn run_service(
    slot: Slot,
    generation: u32,
    service: u64,
    message: &mut [u8],
) -> (Status, Option<Failure>) {
    let mut call = ServiceCall {
        slot,
        generation,
        failure: None,
    };
    let status = wrappers::dispatch(service, message, &mut call);
    let failure = match (call.failure, status) {
        (Some(failure), _) => Some(failure),
        (None, Status::BadMessage) => Some(Failure::MalformedMessage),
        (None, _) => None,
    };
    (status, failure)
}

/// One service call of one instance: implements the generated `Services`.
/// Implementations never answer `Status::BadMessage` themselves (the
/// dispatch's own answer for a malformed message); a failed check sets
/// `failure`.
struct ServiceCall {
    slot: Slot,
    generation: u32,
    failure: Option<Failure>,
}

impl ServiceCall {
    /// Records a failed check; the answer is irrelevant (the call unwinds).
    fn fail(&mut self, failure: Failure) -> Status {
        self.failure.get_or_insert(failure);
        Status::Refused
    }

    /// Takes the object `bits` names out of the table (it must be live, of
    /// `kind` and of this generation).
    fn take(&mut self, bits: u64, kind: ObjectKind) -> Result<TrackedObject, Status> {
        let object = {
            let mut extensions = EXTENSIONS.lock();
            let Some(record) = extensions[self.slot].as_mut() else {
                return Err(Status::NotRunning);
            };
            record.objects.remove(ObjectHandle::from_bits(bits), kind)
        };
        object.map_err(|_| self.fail(Failure::BadHandle))
    }

    /// Looks the object `bits` names up and applies `read` to it.
    fn with<R>(
        &mut self,
        bits: u64,
        kind: ObjectKind,
        read: impl FnOnce(&TrackedObject) -> Option<R>,
    ) -> Result<R, Status> {
        let found = {
            let extensions = EXTENSIONS.lock();
            let Some(record) = extensions[self.slot].as_ref() else {
                return Err(Status::NotRunning);
            };
            record
                .objects
                .get(ObjectHandle::from_bits(bits), kind)
                .ok()
                .and_then(read)
        };
        found.ok_or_else(|| self.fail(Failure::BadHandle))
    }

    fn release(&mut self, bits: u64, kind: ObjectKind) -> Result<(), Status> {
        let object = self.take(bits, kind)?;
        release_object(self.slot, object);
        Ok(())
    }

    fn io_ports(&mut self, handle: IoPortsHandle) -> Result<(u16, u16), Status> {
        self.with(handle.0, ObjectKind::IoPortRange, |object| match object {
            TrackedObject::IoPorts { first, count } => Some((*first, *count)),
            _ => None,
        })
    }

    fn pci(&mut self, handle: PciDeviceHandle) -> Result<(PciAddress, usize), Status> {
        self.with(handle.0, ObjectKind::PciDevice, |object| match object {
            TrackedObject::PciDevice { address, index } => Some((*address, *index)),
            _ => None,
        })
    }

    fn line(&mut self, handle: InterruptHandle) -> Result<u8, Status> {
        self.with(
            handle.0,
            ObjectKind::IrqRegistration,
            |object| match object {
                TrackedObject::Interrupt { line } => Some(*line),
                _ => None,
            },
        )
    }

    fn socket(&mut self, handle: SocketHandle) -> Result<crate::net::SocketId, Status> {
        self.with(handle.0, ObjectKind::Socket, |object| match object {
            TrackedObject::Socket { id } => Some(*id),
            _ => None,
        })
    }

    /// Puts a socket the stack made for this instance into its table (and
    /// closes it if the table refuses it).
    fn track_socket(&mut self, id: crate::net::SocketId) -> Result<SocketHandle, Status> {
        let handle = track(self.slot, TrackedObject::Socket { id })?;
        crate::net::set_owner_handle(id, handle.to_bits());
        Ok(SocketHandle(handle.to_bits()))
    }

    fn device(&mut self, handle: DeviceHandle) -> Result<Arc<ExtensionDevice>, Status> {
        self.with(
            handle.0,
            ObjectKind::DeviceRegistration,
            |object| match object {
                TrackedObject::Device { device, .. } => Some(device.clone()),
                _ => None,
            },
        )
    }

    /// Reserves `pages` pages (and a guard page) of the instance's grant
    /// area.
    fn grant_area(&self, pages: u64) -> Result<u64, Status> {
        let region = domain::region_base(self.slot);
        let limit = region + domain::GRANTS_OFFSET + domain::MAX_GRANT_PAGES * 4096;
        // Advance only when the grant fits: recovery unmaps everything up
        // to `grant_next`, so refused requests must not push it on (each
        // would add pages for recovery to walk).
        SLOTS[self.slot]
            .grant_next
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |next| {
                (next + pages * 4096 <= limit).then_some(next + (pages + 1) * 4096)
            })
            .map_err(|_| Status::NoResources)
    }
}

/// Checks that an access of `width` at `offset` fits `size` bytes and is
/// aligned to its width.
fn width_fits(offset: u64, width: AccessWidth, size: u64) -> bool {
    access_fits(offset, u64::from(width.code()), size)
}

impl wrappers::Services for ServiceCall {
    fn log(&mut self, level: Level, text: &str) -> Result<(), Status> {
        let level = match level {
            Level::Error => log::Level::Error,
            Level::Warn => log::Level::Warn,
            Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
            Level::Trace => log::Level::Trace,
        };
        let name = extension_name(self.slot);
        log::log!(target: "extension", level, "{name}: {text}");
        Ok(())
    }

    fn panic(&mut self, text: &str) -> Result<(), Status> {
        log::warn!(
            "nim: {} generation {} panicked: {text}",
            extension_name(self.slot),
            self.generation
        );
        Err(self.fail(Failure::Panicked))
    }

    fn yield_now(&mut self) -> Result<(), Status> {
        if crate::sched::sync::may_block() {
            crate::sched::yield_now();
        }
        Ok(())
    }

    fn sleep_ms(&mut self, milliseconds: u64) -> Result<(), Status> {
        crate::sched::sleep_ms(milliseconds.min(60_000)).map_err(|_| Status::Refused)
    }

    fn null_service(&mut self) -> Result<(), Status> {
        Ok(())
    }

    fn null_service_with_data(&mut self, data: &[u8]) -> Result<(), Status> {
        core::hint::black_box(data);
        Ok(())
    }

    fn call_back(&mut self, operation: u64, argument: u64) -> Result<Status, Status> {
        if operation < extension_abi::EXTENSION_SPECIFIC && operation != wrappers::operation::NULL {
            return Err(Status::Refused);
        }
        // This service's own frame counts: one call-back in progress is 1.
        if service_depth() > MAX_NESTED_CALL_BACKS {
            return Err(Status::NoResources);
        }
        let state = SLOTS[self.slot].state();
        let result = super::call_target(
            self.slot,
            self.generation,
            state,
            super::Target::Extension,
            operation,
            &argument.to_le_bytes(),
            &mut [0u8; 8],
        );
        Ok(match result {
            Ok((status, _)) => status,
            Err(super::NimError::ExtensionFailed) => Status::ExtensionFailed,
            Err(_) => Status::NotRunning,
        })
    }

    fn uptime_ms(&mut self) -> Result<u64, Status> {
        Ok(crate::time::uptime_us() / 1000)
    }

    fn uptime_us(&mut self) -> Result<u64, Status> {
        Ok(crate::time::uptime_us())
    }

    fn grant_memory(&mut self, pages: u64) -> Result<GrantMemoryReply, Status> {
        if inject::fail_point(self.slot, FailPoint::Allocation) {
            return Err(Status::NoResources);
        }
        if pages == 0 || pages > 1024 {
            return Err(Status::Refused);
        }
        let address = self.grant_area(pages)?;
        paging::map_new_pages(address, pages as usize, PageRights::WRITE)
            .map_err(|_| Status::NoResources)?;
        let handle = track(self.slot, TrackedObject::Memory { address, pages })?;
        Ok(GrantMemoryReply {
            handle: MemoryHandle(handle.to_bits()),
            address,
        })
    }

    fn release_memory(&mut self, handle: MemoryHandle) -> Result<(), Status> {
        self.release(handle.0, ObjectKind::Memory)
    }

    fn request_io_ports(&mut self, first: u16, count: u16) -> Result<IoPortsHandle, Status> {
        if !port_range_is_valid(first, count) {
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
            grants.push((first, count, self.slot));
        }
        let handle = track(self.slot, TrackedObject::IoPorts { first, count })?;
        Ok(IoPortsHandle(handle.to_bits()))
    }

    fn release_io_ports(&mut self, handle: IoPortsHandle) -> Result<(), Status> {
        self.release(handle.0, ObjectKind::IoPortRange)
    }

    fn read_io_port(
        &mut self,
        ports: IoPortsHandle,
        offset: u16,
        width: AccessWidth,
    ) -> Result<u32, Status> {
        let (first, count) = self.io_ports(ports)?;
        if !width_fits(u64::from(offset), width, u64::from(count)) {
            return Err(self.fail(Failure::OutOfRange));
        }
        Ok(inject::device_read(
            self.slot,
            width.code(),
            crate::arch::port_read(first + offset, width.code()),
        ))
    }

    fn write_io_port(
        &mut self,
        ports: IoPortsHandle,
        offset: u16,
        width: AccessWidth,
        value: u32,
    ) -> Result<(), Status> {
        let (first, count) = self.io_ports(ports)?;
        if !width_fits(u64::from(offset), width, u64::from(count)) {
            return Err(self.fail(Failure::OutOfRange));
        }
        crate::arch::port_write(first + offset, width.code(), value);
        Ok(())
    }

    fn request_interrupt(&mut self, line: u8) -> Result<InterruptHandle, Status> {
        if line >= 16 || KERNEL_LINES.contains(&line) {
            return Err(Status::Refused);
        }
        // A PCI function's INTx line is level-triggered and may be shared
        // (PIIX routes several functions' pins to one PIC line).
        let pci_line = crate::pci::devices()
            .iter()
            .any(|function| function.interrupt_line == line && function.interrupt_pin != 0);
        if pci_line {
            crate::interrupts::set_line_level_triggered(line);
        }
        interrupt_lines::register(line, self.slot, self.generation, pci_line)
            .map_err(|_| Status::Refused)?;
        // The instance's PCI functions on this line may interrupt now.
        for (index, owner) in PCI_CLAIMS.lock().iter() {
            if *owner == self.slot
                && let Some(function) = crate::pci::devices().get(*index)
                && function.interrupt_line == line
            {
                crate::pci::set_interrupt_disabled(function.address, false);
            }
        }
        let handle = track(self.slot, TrackedObject::Interrupt { line })?;
        Ok(InterruptHandle(handle.to_bits()))
    }

    fn free_interrupt(&mut self, handle: InterruptHandle) -> Result<(), Status> {
        self.release(handle.0, ObjectKind::IrqRegistration)
    }

    fn disable_interrupt(&mut self, handle: InterruptHandle) -> Result<(), Status> {
        let line = self.line(handle)?;
        interrupt_lines::set_wants_masked(line, self.slot, true);
        Ok(())
    }

    fn enable_interrupt(&mut self, handle: InterruptHandle) -> Result<(), Status> {
        let line = self.line(handle)?;
        interrupt_lines::set_wants_masked(line, self.slot, false);
        Ok(())
    }

    fn acknowledge_interrupt(&mut self, handle: InterruptHandle) -> Result<(), Status> {
        self.enable_interrupt(handle)
    }

    fn start_timer(&mut self, milliseconds: u64, periodic: bool) -> Result<TimerHandle, Status> {
        if milliseconds == 0 || milliseconds > 3_600_000 {
            return Err(Status::Refused);
        }
        let handle = track(
            self.slot,
            TrackedObject::Timer {
                milliseconds,
                periodic,
                expiry: None,
            },
        )?;
        arm_timer(self.slot, self.generation, handle, milliseconds);
        Ok(TimerHandle(handle.to_bits()))
    }

    fn cancel_timer(&mut self, handle: TimerHandle) -> Result<(), Status> {
        self.release(handle.0, ObjectKind::Timer)
    }

    fn register_device(&mut self, class: DeviceClass, name: &str) -> Result<DeviceHandle, Status> {
        if !extension_image::bundle::is_valid_name(name) {
            return Err(Status::Refused);
        }
        let device = Arc::new(ExtensionDevice {
            slot: self.slot,
            generation: self.generation,
            name: String::from(name),
            class,
            handle: AtomicU64::new(0),
            received: IrqSpinlock::new(VecDeque::new()),
            frames_dropped: AtomicU64::new(0),
            periods_finished: AtomicU64::new(0),
        });
        let id = crate::devices::register_named(name, device.clone() as Arc<dyn Device>)
            .map_err(|_| Status::Refused)?;
        let handle = track(
            self.slot,
            TrackedObject::Device {
                id,
                device: device.clone(),
            },
        )?;
        device.handle.store(handle.to_bits(), Ordering::Release);
        Ok(DeviceHandle(handle.to_bits()))
    }

    fn unregister_device(&mut self, handle: DeviceHandle) -> Result<(), Status> {
        self.release(handle.0, ObjectKind::DeviceRegistration)
    }

    fn claim_pci_device(
        &mut self,
        vendor: u16,
        device: u16,
        index: u8,
    ) -> Result<ClaimPciDeviceReply, Status> {
        let (position, function) = crate::pci::devices()
            .iter()
            .enumerate()
            .filter(|(_, function)| function.vendor_id == vendor && function.device_id == device)
            .nth(usize::from(index))
            .ok_or(Status::Refused)?;
        // Bridges (class 6: the host bridge, the ISA bridge, the power
        // management function) configure the platform itself — memory
        // decoding, interrupt routing, the ACPI registers' address — and
        // stay the kernel's.
        if function.class == PCI_CLASS_BRIDGE {
            return Err(Status::Refused);
        }
        {
            let mut claims = PCI_CLAIMS.lock();
            if claims.iter().any(|&(claimed, _)| claimed == position) {
                return Err(Status::Refused);
            }
            claims.push((position, self.slot));
        }
        let handle = track(
            self.slot,
            TrackedObject::PciDevice {
                address: function.address,
                index: position,
            },
        )?;
        // INTx stays disabled (as a previous driver's release left it)
        // until the driver registers the function's line, after its reset.
        Ok(ClaimPciDeviceReply {
            handle: PciDeviceHandle(handle.to_bits()),
            interrupt_line: function.interrupt_line,
        })
    }

    fn release_pci_device(&mut self, handle: PciDeviceHandle) -> Result<(), Status> {
        self.release(handle.0, ObjectKind::PciDevice)
    }

    fn read_pci_config(
        &mut self,
        device: PciDeviceHandle,
        offset: u8,
        width: AccessWidth,
    ) -> Result<u32, Status> {
        let (address, _) = self.pci(device)?;
        if !width_fits(u64::from(offset), width, 256) {
            return Err(self.fail(Failure::OutOfRange));
        }
        Ok(inject::device_read(
            self.slot,
            width.code(),
            crate::pci::read_config(address, offset, width.code()),
        ))
    }

    fn write_pci_config(
        &mut self,
        device: PciDeviceHandle,
        offset: u8,
        width: AccessWidth,
        value: u32,
    ) -> Result<(), Status> {
        let (address, _) = self.pci(device)?;
        if !width_fits(u64::from(offset), width, 256) {
            return Err(self.fail(Failure::OutOfRange));
        }
        // Base address registers (0x10..0x28) and the ROM register
        // (0x30..0x34) stay the kernel's.
        if config_write_is_protected(offset, width.code()) {
            return Err(Status::Refused);
        }
        crate::pci::write_config(address, offset, width.code(), value);
        Ok(())
    }

    fn read_pci_bar(
        &mut self,
        device: PciDeviceHandle,
        index: u8,
    ) -> Result<ReadPciBarReply, Status> {
        let (_, position) = self.pci(device)?;
        if index > 5 {
            return Err(self.fail(Failure::OutOfRange));
        }
        let bar = crate::pci::devices()
            .get(position)
            .and_then(|function| function.bar(usize::from(index)));
        Ok(match bar {
            Some(bar) => ReadPciBarReply {
                kind: if bar.is_memory() {
                    BarKind::Memory
                } else {
                    BarKind::IoPorts
                },
                base: bar.address(),
                size: bar.size(),
            },
            None => ReadPciBarReply {
                kind: BarKind::Unused,
                base: 0,
                size: 0,
            },
        })
    }

    fn set_pci_bus_mastering(
        &mut self,
        device: PciDeviceHandle,
        enabled: bool,
    ) -> Result<(), Status> {
        let (address, _) = self.pci(device)?;
        crate::pci::set_bus_mastering(address, enabled);
        Ok(())
    }

    fn map_mmio(&mut self, device: PciDeviceHandle, bar: u8) -> Result<MapMmioReply, Status> {
        let (_, position) = self.pci(device)?;
        if bar > 5 {
            return Err(self.fail(Failure::OutOfRange));
        }
        let bar = crate::pci::devices()
            .get(position)
            .and_then(|function| function.bar(usize::from(bar)))
            .filter(|bar| bar.is_memory() && bar.size() > 0)
            .ok_or(Status::Refused)?;
        let (physical, length) = (bar.address(), bar.size());
        if !physical.is_multiple_of(4096) || length > 64 << 20 {
            return Err(Status::Refused);
        }
        let pages = length.div_ceil(4096);
        let address = self.grant_area(pages)?;
        for page in 0..pages {
            let mapped = paging::map(
                address + page * 4096,
                physical + page * 4096,
                PageRights::WRITE | PageRights::UNCACHED,
            );
            if mapped.is_err() {
                unmap_device_pages(address, page);
                return Err(Status::NoResources);
            }
        }
        let handle = track(self.slot, TrackedObject::Mmio { address, pages })?;
        Ok(MapMmioReply {
            handle: MmioHandle(handle.to_bits()),
            address,
            length,
        })
    }

    fn unmap_mmio(&mut self, handle: MmioHandle) -> Result<(), Status> {
        self.release(handle.0, ObjectKind::MmioRegion)
    }

    fn allocate_dma(&mut self, bytes: u64) -> Result<AllocateDmaReply, Status> {
        if inject::fail_point(self.slot, FailPoint::Dma) {
            return Err(Status::NoResources);
        }
        let pages = bytes.div_ceil(4096);
        if pages == 0 || pages > MAX_DMA_PAGES {
            return Err(Status::Refused);
        }
        let address = self.grant_area(pages)?;
        let physical = crate::memory::frames::allocate_contiguous_zeroed(pages as usize)
            .ok_or(Status::NoResources)?;
        for page in 0..pages {
            if paging::map(
                address + page * 4096,
                physical + page * 4096,
                PageRights::WRITE,
            )
            .is_err()
            {
                unmap_device_pages(address, page);
                crate::memory::frames::free_contiguous(physical, pages as usize);
                return Err(Status::NoResources);
            }
        }
        let handle = track(
            self.slot,
            TrackedObject::DmaBuffer {
                address,
                physical,
                pages,
            },
        )?;
        Ok(AllocateDmaReply {
            handle: DmaBufferHandle(handle.to_bits()),
            address,
            physical,
        })
    }

    fn free_dma(&mut self, handle: DmaBufferHandle) -> Result<(), Status> {
        self.release(handle.0, ObjectKind::DmaBuffer)
    }

    fn deliver_packet(&mut self, device: DeviceHandle, frame: &[u8]) -> Result<(), Status> {
        let device = self.device(device)?;
        if device.class != DeviceClass::Network {
            return Err(Status::Refused);
        }
        let mut queue = device.received.lock();
        if queue.len() >= RECEIVE_QUEUE_FRAMES {
            device.frames_dropped.fetch_add(1, Ordering::Relaxed);
            return Err(Status::NoResources);
        }
        queue.push_back(frame.to_vec());
        Ok(())
    }

    fn deliver_packets(
        &mut self,
        device: DeviceHandle,
        count: u16,
        frames: &[u8],
    ) -> Result<(), Status> {
        let device = self.device(device)?;
        if device.class != DeviceClass::Network {
            return Err(Status::Refused);
        }
        // A malformed batch is a malformed message: nothing of it is queued.
        if extension_abi::frame_batch::validate(frames, count).is_err() {
            return Err(self.fail(Failure::MalformedMessage));
        }
        let mut queue = device.received.lock();
        for frame in extension_abi::frame_batch::frames(frames, count).flatten() {
            if queue.len() >= RECEIVE_QUEUE_FRAMES {
                device.frames_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            queue.push_back(frame.to_vec());
        }
        Ok(())
    }

    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<SocketHandle, Status> {
        if port == 0 || !(1..=16).contains(&backlog) {
            return Err(Status::Refused);
        }
        let owner = crate::net::SocketOwner {
            slot: self.slot,
            generation: self.generation,
            handle_bits: 0,
        };
        let id = crate::net::listen(port, usize::from(backlog), Some(owner))?;
        self.track_socket(id)
    }

    fn tcp_accept(&mut self, listener: SocketHandle) -> Result<wrappers::TcpAcceptReply, Status> {
        let listener = self.socket(listener)?;
        let owner = crate::net::SocketOwner {
            slot: self.slot,
            generation: self.generation,
            handle_bits: 0,
        };
        match crate::net::accept(listener, owner)? {
            None => Ok(wrappers::TcpAcceptReply {
                accepted: false,
                socket: SocketHandle(0),
            }),
            Some(id) => Ok(wrappers::TcpAcceptReply {
                accepted: true,
                socket: self.track_socket(id)?,
            }),
        }
    }

    fn tcp_receive(
        &mut self,
        socket: SocketHandle,
        length: u16,
        data: &mut [u8],
    ) -> Result<wrappers::TcpReceiveReply, Status> {
        let id = self.socket(socket)?;
        if length == 0 || usize::from(length) > data.len() {
            return Err(Status::Refused);
        }
        let (state, count) = crate::net::receive(id, &mut data[..usize::from(length)])?;
        Ok(wrappers::TcpReceiveReply {
            state,
            data_length: count,
        })
    }

    fn tcp_send(&mut self, socket: SocketHandle, data: &[u8]) -> Result<u16, Status> {
        let id = self.socket(socket)?;
        crate::net::send(id, data).map(|count| count as u16)
    }

    fn tcp_close(&mut self, socket: SocketHandle) -> Result<(), Status> {
        self.release(socket.0, ObjectKind::Socket)
    }

    fn period_finished(&mut self, device: DeviceHandle) -> Result<(), Status> {
        let device = self.device(device)?;
        if device.class != DeviceClass::Sound {
            return Err(Status::Refused);
        }
        device.periods_finished.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Unmaps `pages` pages of device memory or DMA buffer from `address`
/// without freeing the frames (the caller owns them).
fn unmap_device_pages(address: u64, pages: u64) {
    for page in 0..pages {
        let _ = paging::unmap(address + page * 4096);
    }
}

fn extension_name(slot: Slot) -> alloc::string::String {
    EXTENSIONS.lock()[slot]
        .as_ref()
        .map(|record| record.name.clone())
        .unwrap_or_default()
}

/// Records `object` in `slot`'s table; if that fails, releases it and
/// answers `NoResources`.
fn track(slot: Slot, object: TrackedObject) -> Result<ObjectHandle, Status> {
    let kind = object.kind();
    let refused = {
        let mut extensions = EXTENSIONS.lock();
        match extensions[slot].as_mut() {
            Some(record) => match record.objects.insert(kind, object) {
                Ok(handle) => return Ok(handle),
                Err(full) => full.object,
            },
            None => object,
        }
    };
    release_object(slot, refused);
    Err(Status::NoResources)
}

/// A device interrupt on `line`: calls the handler of every extension
/// registered on it (from interrupt context, on their interrupt stacks).
/// Returns whether any extension handles the line.
pub fn on_device_interrupt(line: u8) -> bool {
    let mut any = false;
    for (slot, generation) in interrupt_lines::handlers(line).into_iter().flatten() {
        any = true;
        if inject::lose_interrupt(slot, line) {
            continue;
        }
        let answer = wrappers::interrupt(
            &mut interface::transport(slot, generation, super::State::Running),
            line,
        );
        match answer {
            // The handler defers its work: the line stays masked until it
            // acknowledges.
            Ok(true) => interrupt_lines::set_wants_masked(line, slot, true),
            Ok(false) => {}
            // The handler failed: a level line would fire again at once,
            // so it stays masked until recovery has silenced the device and
            // released the line.
            Err(extension_abi::CallError::ExtensionFailed) => {
                interrupt_lines::set_wants_masked(line, slot, true)
            }
            // The instance is still loading (or going away): its device is
            // not asserting the line yet (INTx is enabled only when it
            // registers the line); another device on the line may be.
            Err(_) => {}
        }
        crate::net::on_driver_interrupt(slot);
    }
    any
}

/// Arms the next expiry of timer `handle` and records it in the timer's
/// object; if the timer was released meanwhile, the expiry is cancelled.
fn arm_timer(slot: Slot, generation: u32, handle: ObjectHandle, milliseconds: u64) {
    let interrupts = crate::arch::disable_interrupts();
    let expiry = crate::time::call_after(milliseconds, move || on_timer(slot, generation, handle));
    let recorded = {
        let mut extensions = EXTENSIONS.lock();
        match extensions[slot]
            .as_mut()
            .map(|record| record.objects.get_mut(handle, ObjectKind::Timer))
        {
            Some(Ok(TrackedObject::Timer {
                expiry: pending, ..
            })) => {
                *pending = Some(expiry);
                true
            }
            _ => false,
        }
    };
    if !recorded {
        crate::time::cancel(expiry);
    }
    crate::arch::restore_interrupts(interrupts);
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
                    ..
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
    if inject::fail_point(slot, FailPoint::TimerNever) {
        return;
    }
    let _ = wrappers::timer(
        &mut interface::transport(slot, generation, super::State::Running),
        TimerHandle(handle.to_bits()),
    );
}

/// The kernel's face of a device an extension registered: the device
/// table's operations become calls of the class's entry operations.
pub struct ExtensionDevice {
    slot: Slot,
    generation: u32,
    name: String,
    class: DeviceClass,
    /// The registration's handle (set right after it is tracked).
    handle: AtomicU64,
    /// Frames a network device delivered, oldest first.
    received: IrqSpinlock<VecDeque<Vec<u8>>>,
    /// Frames dropped because the queue was full.
    frames_dropped: AtomicU64,
    /// Periods a sound device reported played.
    periods_finished: AtomicU64,
}

impl ExtensionDevice {
    fn transport(
        &self,
    ) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), extension_abi::CallError> {
        interface::transport(self.slot, self.generation, super::State::Running)
    }

    fn handle(&self) -> DeviceHandle {
        DeviceHandle(self.handle.load(Ordering::Acquire))
    }

    /// The oldest frame a network device delivered, if any.
    pub fn take_received_frame(&self) -> Option<Vec<u8>> {
        self.received.lock().pop_front()
    }

    /// Periods a sound device reported played.
    pub fn periods_finished(&self) -> u64 {
        self.periods_finished.load(Ordering::Relaxed)
    }

    /// The name it was registered under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The slot of the instance that registered it.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// The generation of the instance that registered it.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Is the instance that registered it still running?
    pub fn is_live(&self) -> bool {
        SLOTS[self.slot].is_alive(self.generation)
    }

    /// Frames dropped because the receive queue was full.
    pub fn frames_dropped(&self) -> u64 {
        self.frames_dropped.load(Ordering::Relaxed)
    }

    /// Entry `network-open`.
    pub fn network_open(&self) -> Result<(), extension_abi::CallError> {
        wrappers::network_open(&mut self.transport(), self.handle())
    }

    /// Entry `network-poll`: frames delivered, and whether more wait.
    pub fn network_poll(
        &self,
        budget: u16,
        batch: bool,
    ) -> Result<wrappers::NetworkPollReply, extension_abi::CallError> {
        wrappers::network_poll(&mut self.transport(), self.handle(), budget, batch)
    }

    /// Entry `network-transmit`.
    pub fn network_transmit(&self, frame: &[u8]) -> Result<(), extension_abi::CallError> {
        wrappers::network_transmit(&mut self.transport(), self.handle(), frame)
    }

    /// Entry `network-transmit-batch`: how many frames the device took.
    pub fn network_transmit_batch(
        &self,
        count: u16,
        frames: &[u8],
    ) -> Result<u16, extension_abi::CallError> {
        wrappers::network_transmit_batch(&mut self.transport(), self.handle(), count, frames)
    }

    /// Entry `network-statistics`.
    pub fn network_statistics(
        &self,
    ) -> Result<wrappers::NetworkStatisticsReply, extension_abi::CallError> {
        wrappers::network_statistics(&mut self.transport(), self.handle())
    }

    /// Entry `network-mac-address`.
    pub fn network_mac_address(&self) -> Result<[u8; 6], extension_abi::CallError> {
        let mut address = [0u8; 6];
        let length =
            wrappers::network_mac_address(&mut self.transport(), self.handle(), &mut address)?;
        if length != 6 {
            return Err(extension_abi::CallError::Status(Status::BadMessage));
        }
        Ok(address)
    }
}

/// Calls entry `socket-event` of instance (`slot`, `generation`) for the
/// socket it holds as `handle_bits`.
pub fn socket_event(
    slot: Slot,
    generation: u32,
    handle_bits: u64,
    events: u8,
) -> Result<(), extension_abi::CallError> {
    wrappers::socket_event(
        &mut interface::transport(slot, generation, super::State::Running),
        SocketHandle(handle_bits),
        events,
    )
}

/// Every network device of a running instance, in slot order.
pub fn network_devices() -> Vec<Arc<ExtensionDevice>> {
    let extensions = EXTENSIONS.lock();
    extensions
        .iter()
        .flatten()
        .flat_map(|record| record.objects.iter())
        .filter_map(|(_, _, object)| match object {
            TrackedObject::Device { device, .. } if device.class == DeviceClass::Network => {
                Some(device.clone())
            }
            _ => None,
        })
        .filter(|device| device.is_live())
        .collect()
}

impl core::fmt::Debug for ExtensionDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExtensionDevice")
            .field("slot", &self.slot)
            .field("generation", &self.generation)
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

fn device_error(error: extension_abi::CallError) -> DeviceError {
    match error {
        extension_abi::CallError::Status(Status::UnknownOperation) => DeviceError::NotSupported,
        extension_abi::CallError::Status(Status::Refused)
        | extension_abi::CallError::BadArgument => DeviceError::InvalidArgument,
        extension_abi::CallError::NotRunning => DeviceError::NotFound,
        _ => DeviceError::Io,
    }
}

impl Device for ExtensionDevice {
    fn class(&self) -> device_table::DeviceClass {
        match self.class {
            DeviceClass::Character => device_table::DeviceClass::Character,
            DeviceClass::Block => device_table::DeviceClass::Block,
            DeviceClass::Network => device_table::DeviceClass::Network,
            DeviceClass::Sound => device_table::DeviceClass::Sound,
        }
    }

    fn read(&self, buffer: &mut [u8]) -> Result<usize, DeviceError> {
        if self.class != DeviceClass::Character {
            return Err(DeviceError::NotSupported);
        }
        let length = buffer.len().min(4096);
        wrappers::character_read(
            &mut self.transport(),
            self.handle(),
            length as u16,
            &mut buffer[..length],
        )
        .map_err(device_error)
    }

    fn write(&self, data: &[u8]) -> Result<usize, DeviceError> {
        if self.class != DeviceClass::Character {
            return Err(DeviceError::NotSupported);
        }
        let data = &data[..data.len().min(4096)];
        wrappers::character_write(&mut self.transport(), self.handle(), data)
            .map(usize::from)
            .map_err(device_error)
    }

    fn control(&self, request: u32, argument: u64) -> Result<u64, DeviceError> {
        if self.class != DeviceClass::Character {
            return Err(DeviceError::NotSupported);
        }
        wrappers::character_control(&mut self.transport(), self.handle(), request, argument)
            .map_err(device_error)
    }
}

/// Gives a tracked object back to the kernel.
pub fn release_object(slot: Slot, object: TrackedObject) {
    match object {
        TrackedObject::Memory { address, pages } => {
            paging::unmap_and_free_pages(address, pages as usize);
        }
        TrackedObject::IoPorts { first, count } => {
            PORT_GRANTS.lock().retain(|&(start, length, owner)| {
                !(start == first && length == count && owner == slot)
            });
        }
        TrackedObject::Interrupt { line } => {
            // A level line shared with other drivers is unmasked again once
            // this one is gone: first make this instance's PCI functions on
            // the line stop asserting it.
            for (index, owner) in PCI_CLAIMS.lock().iter() {
                let function = crate::pci::devices().get(*index);
                if *owner == slot
                    && let Some(function) = function
                    && function.interrupt_line == line
                {
                    crate::pci::set_interrupt_disabled(function.address, true);
                }
            }
            interrupt_lines::unregister(line, slot);
        }
        TrackedObject::Timer { expiry, .. } => {
            // Cancelled, so that starting and cancelling timers cannot pile
            // up expiries (each holds kernel heap until its deadline, up to
            // an hour away). One that already fired finds the handle gone.
            if let Some(expiry) = expiry {
                crate::time::cancel(expiry);
            }
        }
        TrackedObject::Device { id, .. } => {
            let _ = crate::devices::force_unregister(id);
        }
        TrackedObject::PciDevice { address, index } => {
            // No more DMA, and no more interrupts, from a device nobody
            // drives.
            crate::pci::set_bus_mastering(address, false);
            crate::pci::set_interrupt_disabled(address, true);
            PCI_CLAIMS
                .lock()
                .retain(|&(claimed, owner)| !(claimed == index && owner == slot));
        }
        TrackedObject::Mmio { address, pages } => unmap_device_pages(address, pages),
        TrackedObject::Socket { id } => crate::net::release(id),
        TrackedObject::DmaBuffer {
            address,
            physical,
            pages,
        } => {
            unmap_device_pages(address, pages);
            crate::memory::frames::free_contiguous(physical, pages as usize);
        }
    }
}

/// The devices instance `slot` has registered (the kernel's faces of
/// them), in handle order.
pub fn devices_of(slot: Slot) -> Vec<Arc<ExtensionDevice>> {
    EXTENSIONS.lock()[slot]
        .as_ref()
        .map(|record| {
            record
                .objects
                .iter()
                .filter_map(|(_, _, object)| match object {
                    TrackedObject::Device { device, .. } => Some(device.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Masks every interrupt line `slot` owns (the first step of recovery:
/// stop the device from calling into the dead instance).
pub fn mask_interrupts_of(slot: Slot) {
    interrupt_lines::mask_lines_of(slot);
}

/// Extension → kernel services in progress on this CPU's call chain (the
/// running one included).
fn service_depth() -> usize {
    let mut depth = 0;
    let mut address = this_cpu().xpc.innermost_frame.load(Ordering::Relaxed);
    for _ in 0..1000 {
        if address == 0 {
            break;
        }
        // SAFETY: the chain links live frames on this thread's kernel stack.
        let frame = unsafe { &*(address as *const XpcFrame) };
        if frame.crossing == Crossing::ExtensionToKernel {
            depth += 1;
        }
        address = frame.previous;
    }
    depth
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
