//! The generated types agree with the crates that define the same things
//! by hand: object-tracker kind codes, `extension_abi::CrashKind`, the
//! crashtest operation numbers and workloads.

use extension_abi::{CrashKind, Status, crashtest_operation};
use idl_fixture::{crashtest_extension, crashtest_kernel, kernel_extension, kernel_kernel};
use object_tracker::ObjectKind;

#[test]
fn handle_kind_codes_are_the_object_trackers() {
    let generated = [
        (kernel_kernel::MemoryHandle::KIND_CODE, "memory"),
        (kernel_kernel::IoPortsHandle::KIND_CODE, "io-port-range"),
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
            idl_fixture::features_kernel::DmaBufferHandle::KIND_CODE,
            "dma-buffer",
        ),
        (
            idl_fixture::features_kernel::MmioHandle::KIND_CODE,
            "mmio-region",
        ),
        (
            idl_fixture::features_kernel::DeferredCallHandle::KIND_CODE,
            "deferred-call",
        ),
        (
            idl_fixture::features_kernel::PacketHandle::KIND_CODE,
            "packet-buffer",
        ),
        (
            idl_fixture::features_kernel::BlockRequestHandle::KIND_CODE,
            "block-request",
        ),
    ];
    assert_eq!(
        generated.len(),
        ObjectKind::ALL.len(),
        "every kind is covered"
    );
    for (code, name) in generated {
        let kind = ObjectKind::from_code(code).unwrap_or_else(|| panic!("no kind {code}"));
        assert_eq!(kind.name(), name);
    }
    // The generator's own table agrees too.
    for kind in idl::ast::HandleKind::ALL {
        let tracked = ObjectKind::from_code(kind.tracker_code()).expect("a tracker kind");
        assert_eq!(tracked.name(), kind.tracker_name());
    }
}

#[test]
fn crash_kinds_are_extension_abis() {
    assert_eq!(kernel_kernel::CrashKind::ALL.len(), CrashKind::ALL.len());
    for (generated, abi) in kernel_kernel::CrashKind::ALL.iter().zip(CrashKind::ALL) {
        assert_eq!(generated.code(), *abi as u32);
        assert_eq!(format!("{generated:?}"), format!("{abi:?}"));
    }
    assert_eq!(kernel_extension::CrashKind::from_code(13), None);
}

#[test]
fn status_and_level_codes() {
    for code in 1..=5u8 {
        let level = kernel_kernel::Level::from_code(code).unwrap();
        assert_eq!(level.code(), code);
    }
    assert_eq!(kernel_kernel::Level::from_code(0), None);
    assert_eq!(kernel_kernel::Level::from_code(6), None);
}

#[test]
fn crashtest_numbers_are_extension_abis() {
    assert_eq!(
        crashtest_kernel::operation::INCREMENT,
        crashtest_operation::INCREMENT
    );
    assert_eq!(
        crashtest_kernel::operation::CHECKSUM,
        crashtest_operation::CHECKSUM
    );
    assert_eq!(crashtest_kernel::operation::NEST, crashtest_operation::NEST);
    assert_eq!(
        crashtest_kernel::operation::YIELD_INSIDE,
        crashtest_operation::YIELD_INSIDE
    );
    assert_eq!(
        crashtest_kernel::operation::STATUS,
        crashtest_operation::STATUS
    );
    assert_eq!(
        crashtest_kernel::operation::ACQUIRE_OBJECTS,
        crashtest_operation::ACQUIRE_OBJECTS
    );
    assert_eq!(crashtest_extension::ENTRIES.len(), 6);
}

/// An extension behaving like `extensions/crashtest` for its own
/// operations, behind the generated entry trait.
struct Crashtest {
    counter: core::cell::Cell<u64>,
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
}

#[test]
fn crashtest_round_trips_with_the_layout_the_kernel_reads() {
    let extension = Crashtest {
        counter: core::cell::Cell::new(0),
    };
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
        crashtest_kernel::yield_inside(&mut transport, 1),
        Err(crashtest_kernel::CallError::Status(
            Status::UnknownOperation
        ))
    );
    // The kernel's tests read STATUS as five little-endian u64s (as
    // `extensions/crashtest` writes them).
    let mut message = [0u8; 40];
    let (status, length) =
        crashtest_extension::dispatch(crashtest_operation::STATUS, &mut message, &extension);
    assert_eq!((status, length), (Status::Ok, 40));
    let values: Vec<u64> = message
        .chunks(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap()))
        .collect();
    assert_eq!(values, vec![2, 2, 3, 4, 5]);
    // CHECKSUM's request is seed then rounds.
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&7u64.to_le_bytes());
    message[8..].copy_from_slice(&9u64.to_le_bytes());
    let (status, length) =
        crashtest_extension::dispatch(crashtest_operation::CHECKSUM, &mut message, &extension);
    assert_eq!((status, length), (Status::Ok, 8));
    assert_eq!(message[..8], extension_abi::checksum(7, 9).to_le_bytes());
}
