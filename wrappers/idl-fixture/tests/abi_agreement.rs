//! The generated types agree with the crates that define the same things
//! by hand: the object tracker's kind codes, `extension_abi::CrashKind`,
//! the crashtest workloads. (The numbers themselves are pinned in
//! `abi.rs`: `extension_abi::service`/`operation` are the generated modules,
//! so comparing with them would compare a file with itself.)

use extension_abi::{CallError, CrashKind, Status, crashtest_operation};
use idl_fixture::{crashtest_extension, crashtest_kernel, features_kernel, kernel_kernel};
use object_tracker::ObjectKind;

#[test]
fn handle_kind_codes_are_the_object_trackers() {
    // kernel.idl uses eight kinds; the feature fixture the other three.
    let generated = [
        (kernel_kernel::MemoryHandle::KIND_CODE, "memory"),
        (kernel_kernel::DmaBufferHandle::KIND_CODE, "dma-buffer"),
        (kernel_kernel::IoPortsHandle::KIND_CODE, "io-port-range"),
        (kernel_kernel::MmioHandle::KIND_CODE, "mmio-region"),
        (
            kernel_kernel::InterruptHandle::KIND_CODE,
            "irq-registration",
        ),
        (kernel_kernel::TimerHandle::KIND_CODE, "timer"),
        (
            kernel_kernel::DeviceHandle::KIND_CODE,
            "device-registration",
        ),
        (
            features_kernel::DeferredCallHandle::KIND_CODE,
            "deferred-call",
        ),
        (features_kernel::PacketHandle::KIND_CODE, "packet-buffer"),
        (
            features_kernel::BlockRequestHandle::KIND_CODE,
            "block-request",
        ),
        (kernel_kernel::PciDeviceHandle::KIND_CODE, "pci-device"),
        (kernel_kernel::SocketHandle::KIND_CODE, "socket"),
    ];
    assert_eq!(
        generated.len(),
        ObjectKind::ALL.len(),
        "every kind is covered"
    );
    for (code, name) in generated {
        let kind = ObjectKind::from_code(code).unwrap_or_else(|| panic!("no kind {code}"));
        assert_eq!(kind.name(), name, "code {code}");
    }
    // The generator's own table agrees too, kind for kind.
    assert_eq!(idl::ast::HandleKind::ALL.len(), ObjectKind::ALL.len());
    for kind in idl::ast::HandleKind::ALL {
        let tracked = ObjectKind::from_code(kind.tracker_code()).expect("a tracker kind");
        assert_eq!(tracked.name(), kind.tracker_name());
    }
    assert_eq!(
        idl::ast::HandleKind::from_name("pci-device").map(|kind| kind.tracker_code()),
        Some(10)
    );
}

/// The generated `crash-kind` and the hand-written `extension_abi::CrashKind`
/// (which also carries the shell names and expected faults) have the same
/// values, codes and variant names. Their `name()`s differ on purpose: the
/// interface spells the kinds out (`null-dereference`), the shell
/// abbreviates (`null-deref`).
#[test]
fn crash_kinds_are_extension_abis() {
    let generated = kernel_kernel::CrashKind::ALL;
    assert_eq!(generated.len(), CrashKind::ALL.len());
    for (generated, abi) in generated.iter().zip(CrashKind::ALL) {
        assert_eq!(generated.code(), *abi as u32);
        assert_eq!(format!("{generated:?}"), format!("{abi:?}"));
        assert_eq!(
            CrashKind::from_code(generated.code()),
            Some(*abi),
            "{generated:?}"
        );
    }
    assert_eq!(kernel_kernel::CrashKind::from_code(13), None);
    assert_eq!(CrashKind::from_code(13), None);
}

/// An extension behaving like `extensions/crashtest` for its own
/// operations, behind the generated entry trait.
struct Crashtest {
    counter: core::cell::Cell<u64>,
    /// The arguments `release` (service, handle) and
    /// `call-kernel-with-data` (count, bytes) were called with.
    calls: core::cell::RefCell<Vec<(u64, u64)>>,
}

impl Crashtest {
    fn new() -> Self {
        Self {
            counter: core::cell::Cell::new(0),
            calls: core::cell::RefCell::new(Vec::new()),
        }
    }
}

impl crashtest_extension::Entries for Crashtest {
    fn increment(&self) -> Result<u64, Status> {
        self.counter.set(self.counter.get() + 1);
        Ok(self.counter.get())
    }
    fn checksum(&self, seed: u64, rounds: u64) -> Result<u64, Status> {
        Ok(extension_abi::checksum(seed, rounds))
    }
    fn nest(&self, depth: u64) -> Result<u64, Status> {
        Ok(depth)
    }
    fn status(&self) -> Result<crashtest_extension::StatusReply, Status> {
        Ok(crashtest_extension::StatusReply {
            generation: 2,
            counter: self.counter.get(),
            timer_expiries: 3,
            interrupts: 4,
            objects_held: 5,
        })
    }
    fn handles(&self) -> Result<crashtest_extension::HandlesReply, Status> {
        Ok(crashtest_extension::HandlesReply {
            memory: 0x11,
            io_ports: 0x22,
            interrupt: 0,
            timer: 0x44,
            device: u64::MAX,
        })
    }
    fn call_kernel_with_data(&self, count: u64, bytes: u16) -> Result<(), Status> {
        if bytes > 4096 {
            return Err(Status::Refused);
        }
        self.calls.borrow_mut().push((count, u64::from(bytes)));
        Ok(())
    }
    fn release(&self, service: u64, handle: u64) -> Result<Status, Status> {
        self.calls.borrow_mut().push((service, handle));
        // What the kernel's release service would answer: a forged handle
        // is refused.
        Ok(if handle == 0xbad {
            Status::Refused
        } else {
            Status::Ok
        })
    }
}

#[test]
fn crashtest_round_trips_with_the_layout_the_kernel_reads() {
    let extension = Crashtest::new();
    let mut transport = |operation: u64, message: &mut [u8]| {
        Ok(crashtest_extension::dispatch(
            operation, message, &extension,
        ))
    };
    assert_eq!(crashtest_kernel::increment(&mut transport), Ok(1));
    assert_eq!(crashtest_kernel::increment(&mut transport), Ok(2));
    assert_eq!(
        crashtest_kernel::checksum(&mut transport, 42, 1000),
        Ok(extension_abi::checksum(42, 1000))
    );
    assert_eq!(crashtest_kernel::nest(&mut transport, 3), Ok(3));
    assert_eq!(
        crashtest_kernel::status(&mut transport),
        Ok(crashtest_kernel::StatusReply {
            generation: 2,
            counter: 2,
            timer_expiries: 3,
            interrupts: 4,
            objects_held: 5
        })
    );
    assert_eq!(
        crashtest_kernel::handles(&mut transport),
        Ok(crashtest_kernel::HandlesReply {
            memory: 0x11,
            io_ports: 0x22,
            interrupt: 0,
            timer: 0x44,
            device: u64::MAX,
        })
    );
    assert_eq!(
        crashtest_kernel::release(&mut transport, extension_abi::service::RELEASE_MEMORY, 0x11),
        Ok(Status::Ok)
    );
    assert_eq!(
        crashtest_kernel::release(&mut transport, extension_abi::service::CANCEL_TIMER, 0xbad),
        Ok(Status::Refused)
    );
    assert_eq!(
        crashtest_kernel::call_kernel_with_data(&mut transport, 1000, 4096),
        Ok(())
    );
    assert_eq!(
        crashtest_kernel::call_kernel_with_data(&mut transport, 1, 4097),
        Err(CallError::Status(Status::Refused))
    );
    // Not implemented: the trait's default.
    assert_eq!(
        crashtest_kernel::yield_inside(&mut transport, 1),
        Err(CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        crashtest_kernel::acquire_objects(&mut transport),
        Err(CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        crashtest_kernel::call_kernel_tracked(&mut transport, 10),
        Err(CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        *extension.calls.borrow(),
        [(9, 0x11), (15, 0xbad), (1000, 4096)]
    );
}

/// The kernel's tests read the replies as little-endian `u64`s in
/// declaration order (as `extensions/crashtest` writes them).
#[test]
fn crashtest_replies_are_little_endian_u64s_in_order() {
    let extension = Crashtest::new();
    let u64s = |bytes: &[u8]| -> Vec<u64> {
        bytes
            .chunks(8)
            .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap()))
            .collect()
    };
    let mut message = [0u8; 40];
    let (status, length) =
        crashtest_extension::dispatch(crashtest_operation::STATUS, &mut message, &extension);
    assert_eq!((status, length), (Status::Ok, 40));
    assert_eq!(u64s(&message), [2, 0, 3, 4, 5]);
    let mut message = [0u8; 40];
    let (status, length) =
        crashtest_extension::dispatch(crashtest_operation::HANDLES, &mut message, &extension);
    assert_eq!((status, length), (Status::Ok, 40));
    assert_eq!(u64s(&message), [0x11, 0x22, 0, 0x44, u64::MAX]);
    // CHECKSUM's request is seed then rounds.
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&7u64.to_le_bytes());
    message[8..].copy_from_slice(&9u64.to_le_bytes());
    let (status, length) =
        crashtest_extension::dispatch(crashtest_operation::CHECKSUM, &mut message, &extension);
    assert_eq!((status, length), (Status::Ok, 8));
    assert_eq!(message[..8], extension_abi::checksum(7, 9).to_le_bytes());
    // RELEASE's request is the service then the handle; the reply the
    // status's code as a u64.
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&13u64.to_le_bytes());
    message[8..].copy_from_slice(&0xbadu64.to_le_bytes());
    let (status, length) =
        crashtest_extension::dispatch(crashtest_operation::RELEASE, &mut message, &extension);
    assert_eq!((status, length), (Status::Ok, 8));
    assert_eq!(message[..8], (Status::Refused as u64).to_le_bytes());
    assert_eq!(*extension.calls.borrow(), [(13, 0xbad)]);
    // The kernel side refuses a status code that is not one.
    let mut transport = |_: u64, message: &mut [u8]| {
        message[..8].copy_from_slice(&7u64.to_le_bytes());
        Ok((Status::Ok, 8))
    };
    assert_eq!(
        crashtest_kernel::release(&mut transport, 9, 1),
        Err(CallError::BadReply)
    );
}
