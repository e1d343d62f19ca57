//! The ABI of `kernel.idl` and `crashtest.idl`, pinned with literal values:
//! every number and name, the idempotence, and the largest request and
//! reply of every operation, worked out by hand from the wire rules of
//! docs/wrappers.md (u8 1, u16 2, u32 4, u64 8, bool 1, status 8, handle 8,
//! an enumeration its integer type, a buffer its maximum plus its length
//! prefix; a tail has none; the request is the `in` and `inout` values, the
//! reply the `inout` and `out` values).
//!
//! `extension_abi::service`/`operation` are the generated modules
//! themselves, so nothing else compares them with an independent source:
//! renumbering, renaming or resizing an operation must fail here, and then
//! means an ABI change (bump `extension_abi::ABI_VERSION`, update this
//! table on purpose).

use extension_abi::interfaces::{crashtest, kernel};
use extension_abi::{crashtest_operation, operation, service};

/// One operation as the interface must declare it.
struct Pin {
    number: u64,
    /// The generated constant (`service::*`, `operation::*`).
    constant: u64,
    name: &'static str,
    idempotent: bool,
    max_request: usize,
    max_reply: usize,
}

const fn pin(
    number: u64,
    constant: u64,
    name: &'static str,
    idempotent: bool,
    max_request: usize,
    max_reply: usize,
) -> Pin {
    Pin {
        number,
        constant,
        name,
        idempotent,
        max_request,
        max_reply,
    }
}

const I: bool = true;
const N: bool = false;

/// Kernel services: (number, constant, name, idempotent, largest request,
/// largest reply).
const SERVICES: &[Pin] = &[
    // level u8 + text<255> tail.
    pin(1, service::LOG, "log", N, 256, 0),
    pin(2, service::PANIC, "panic", N, 255, 0),
    pin(3, service::YIELD_NOW, "yield-now", I, 0, 0),
    pin(4, service::SLEEP_MS, "sleep-ms", I, 8, 0),
    pin(5, service::NULL_SERVICE, "null-service", I, 0, 0),
    // operation u64 + argument u64; status.
    pin(6, service::CALL_BACK, "call-back", N, 16, 8),
    pin(7, service::UPTIME_MS, "uptime-ms", I, 0, 8),
    // pages; handle + address.
    pin(8, service::GRANT_MEMORY, "grant-memory", N, 8, 16),
    pin(9, service::RELEASE_MEMORY, "release-memory", N, 8, 0),
    // first u16 + count u16; handle.
    pin(10, service::REQUEST_IO_PORTS, "request-io-ports", N, 4, 8),
    pin(11, service::RELEASE_IO_PORTS, "release-io-ports", N, 8, 0),
    pin(12, service::REQUEST_INTERRUPT, "request-interrupt", N, 1, 8),
    pin(13, service::FREE_INTERRUPT, "free-interrupt", N, 8, 0),
    // milliseconds u64 + periodic bool; handle.
    pin(14, service::START_TIMER, "start-timer", N, 9, 8),
    pin(15, service::CANCEL_TIMER, "cancel-timer", N, 8, 0),
    // class u8 + (u8 prefix + 31); handle.
    pin(16, service::REGISTER_DEVICE, "register-device", N, 33, 8),
    pin(17, service::UNREGISTER_DEVICE, "unregister-device", N, 8, 0),
    // handle + offset u16 + width u8; value u32.
    pin(18, service::READ_IO_PORT, "read-io-port", I, 11, 4),
    // handle + offset u16 + width u8 + value u32.
    pin(19, service::WRITE_IO_PORT, "write-io-port", N, 15, 0),
    // vendor u16 + device u16 + index u8; handle + interrupt line u8.
    pin(20, service::CLAIM_PCI_DEVICE, "claim-pci-device", N, 5, 9),
    pin(
        21,
        service::RELEASE_PCI_DEVICE,
        "release-pci-device",
        N,
        8,
        0,
    ),
    // handle + offset u8 + width u8; value u32.
    pin(22, service::READ_PCI_CONFIG, "read-pci-config", I, 10, 4),
    // handle + offset u8 + width u8 + value u32.
    pin(23, service::WRITE_PCI_CONFIG, "write-pci-config", N, 14, 0),
    // handle + index u8; kind u8 + base u64 + size u64.
    pin(24, service::READ_PCI_BAR, "read-pci-bar", I, 9, 17),
    // handle + enabled bool.
    pin(
        25,
        service::SET_PCI_BUS_MASTERING,
        "set-pci-bus-mastering",
        N,
        9,
        0,
    ),
    // handle + bar u8; handle + address + length.
    pin(26, service::MAP_MMIO, "map-mmio", N, 9, 24),
    pin(27, service::UNMAP_MMIO, "unmap-mmio", N, 8, 0),
    // bytes u64; handle + address + physical.
    pin(28, service::ALLOCATE_DMA, "allocate-dma", N, 8, 24),
    pin(29, service::FREE_DMA, "free-dma", N, 8, 0),
    pin(30, service::DISABLE_INTERRUPT, "disable-interrupt", I, 8, 0),
    pin(31, service::ENABLE_INTERRUPT, "enable-interrupt", I, 8, 0),
    pin(
        32,
        service::ACKNOWLEDGE_INTERRUPT,
        "acknowledge-interrupt",
        I,
        8,
        0,
    ),
    pin(33, service::UPTIME_US, "uptime-us", I, 0, 8),
    // handle + frame bytes<1514> tail.
    pin(34, service::DELIVER_PACKET, "deliver-packet", N, 1522, 0),
    pin(35, service::PERIOD_FINISHED, "period-finished", N, 8, 0),
    // data bytes<4096> tail.
    pin(
        36,
        service::NULL_SERVICE_WITH_DATA,
        "null-service-with-data",
        I,
        4096,
        0,
    ),
    // handle + count u16 + frames bytes<4096> tail.
    pin(37, service::DELIVER_PACKETS, "deliver-packets", N, 4106, 0),
    // port u16 + backlog u8; handle.
    pin(38, service::TCP_LISTEN, "tcp-listen", N, 3, 8),
    // handle; accepted bool + handle.
    pin(39, service::TCP_ACCEPT, "tcp-accept", N, 8, 9),
    // handle + length u16; state u8 + (u16 prefix + 4096).
    pin(40, service::TCP_RECEIVE, "tcp-receive", N, 10, 4099),
    // handle + (u16 prefix + 4096); accepted u16.
    pin(41, service::TCP_SEND, "tcp-send", N, 4106, 2),
    pin(42, service::TCP_CLOSE, "tcp-close", N, 8, 0),
];

/// Entry operations of every extension.
const ENTRIES: &[Pin] = &[
    // abi u32 + generation u32 + entry, heap base, heap size u64; abi u32 +
    // implements-crash bool.
    pin(0, operation::INIT, "init", I, 32, 5),
    // kind u32 + target u64.
    pin(1, operation::CRASH, "crash", N, 12, 0),
    pin(2, operation::NULL, "null", I, 0, 0),
    pin(3, operation::CALL_KERNEL_NULL, "call-kernel-null", I, 8, 0),
    // line u8; keep-masked bool.
    pin(4, operation::INTERRUPT, "interrupt", N, 1, 1),
    pin(5, operation::TIMER, "timer", N, 8, 0),
    pin(6, operation::REMOVE, "remove", I, 0, 0),
    // data bytes<4096> tail.
    pin(7, operation::NULL_WITH_DATA, "null-with-data", I, 4096, 0),
    // handle + length u16; data bytes<4096> tail.
    pin(
        0x10,
        operation::CHARACTER_READ,
        "character-read",
        N,
        10,
        4096,
    ),
    // handle + (u16 prefix + 4096); accepted u16.
    pin(
        0x11,
        operation::CHARACTER_WRITE,
        "character-write",
        N,
        4106,
        2,
    ),
    // handle + request u32 + argument u64; answer u64.
    pin(
        0x12,
        operation::CHARACTER_CONTROL,
        "character-control",
        N,
        20,
        8,
    ),
    // handle; sectors u64 + sector size u32.
    pin(0x20, operation::BLOCK_CAPACITY, "block-capacity", I, 8, 12),
    // handle + operation u8 + sector u64 + sectors u16 + (u16 prefix +
    // 4096); read data bytes<4096> tail.
    pin(0x21, operation::BLOCK_SUBMIT, "block-submit", N, 4117, 4096),
    pin(0x30, operation::NETWORK_OPEN, "network-open", I, 8, 0),
    pin(0x31, operation::NETWORK_STOP, "network-stop", I, 8, 0),
    // handle + frame bytes<1514> tail.
    pin(
        0x32,
        operation::NETWORK_TRANSMIT,
        "network-transmit",
        N,
        1522,
        0,
    ),
    // handle; five u64 + link-up bool.
    pin(
        0x33,
        operation::NETWORK_STATISTICS,
        "network-statistics",
        I,
        8,
        41,
    ),
    // handle; address bytes<6> tail.
    pin(
        0x34,
        operation::NETWORK_MAC_ADDRESS,
        "network-mac-address",
        I,
        8,
        6,
    ),
    // handle + budget u16 + batch bool; delivered u16 + more bool.
    pin(0x35, operation::NETWORK_POLL, "network-poll", N, 11, 3),
    // handle + count u16 + (u16 prefix + 4096); sent u16.
    pin(
        0x36,
        operation::NETWORK_TRANSMIT_BATCH,
        "network-transmit-batch",
        N,
        4108,
        2,
    ),
    // handle + rate u32 + channels u8 + bits u8.
    pin(0x40, operation::SOUND_OPEN, "sound-open", N, 14, 0),
    // handle + samples bytes<4096> tail.
    pin(
        0x41,
        operation::SOUND_PLAY_PERIOD,
        "sound-play-period",
        N,
        4104,
        0,
    ),
    pin(0x42, operation::SOUND_STOP, "sound-stop", I, 8, 0),
    // handle + socket events u8.
    pin(0x50, operation::SOCKET_EVENT, "socket-event", N, 9, 0),
];

/// The `crashtest` extension's own operations.
const CRASHTEST_ENTRIES: &[Pin] = &[
    pin(0x100, crashtest_operation::INCREMENT, "increment", N, 0, 8),
    // seed + rounds; sum.
    pin(0x101, crashtest_operation::CHECKSUM, "checksum", I, 16, 8),
    pin(0x102, crashtest_operation::NEST, "nest", I, 8, 8),
    pin(
        0x103,
        crashtest_operation::YIELD_INSIDE,
        "yield-inside",
        I,
        8,
        8,
    ),
    // five u64.
    pin(0x104, crashtest_operation::STATUS, "status", I, 0, 40),
    pin(
        0x105,
        crashtest_operation::ACQUIRE_OBJECTS,
        "acquire-objects",
        N,
        0,
        8,
    ),
    // five u64.
    pin(0x106, crashtest_operation::HANDLES, "handles", I, 0, 40),
    // service u64 + handle u64; status.
    pin(0x107, crashtest_operation::RELEASE, "release", N, 16, 8),
    // count u64 + bytes u16.
    pin(
        0x108,
        crashtest_operation::CALL_KERNEL_WITH_DATA,
        "call-kernel-with-data",
        I,
        10,
        0,
    ),
    pin(
        0x109,
        crashtest_operation::CALL_KERNEL_TRACKED,
        "call-kernel-tracked",
        N,
        8,
        0,
    ),
];

/// The generated table `table` declares exactly the operations `pins`, in
/// that order.
fn check(what: &str, table: &[kernel::OperationInfo], pins: &[Pin]) {
    let names: Vec<&str> = table.iter().map(|info| info.name).collect();
    let pinned: Vec<&str> = pins.iter().map(|pin| pin.name).collect();
    assert_eq!(names, pinned, "{what}: the operations and their order");
    for (info, pin) in table.iter().zip(pins) {
        let name = pin.name;
        assert_eq!(info.number, pin.number, "{what} `{name}`: number");
        assert_eq!(pin.constant, pin.number, "{what} `{name}`: constant");
        assert_eq!(
            info.idempotent, pin.idempotent,
            "{what} `{name}`: idempotence"
        );
        assert_eq!(
            (info.max_request_bytes, info.max_reply_bytes),
            (pin.max_request, pin.max_reply),
            "{what} `{name}`: largest request and reply"
        );
        assert!(
            info.max_request_bytes.max(info.max_reply_bytes) <= extension_abi::MAX_MESSAGE_BYTES,
            "{what} `{name}` cannot cross"
        );
    }
}

#[test]
fn kernel_services_are_pinned() {
    check("service", kernel::SERVICES, SERVICES);
}

#[test]
fn kernel_entries_are_pinned() {
    check("entry", kernel::ENTRIES, ENTRIES);
    // The kernel's entries stay below the extensions' own numbers.
    assert!(
        ENTRIES
            .iter()
            .all(|pin| pin.number < extension_abi::EXTENSION_SPECIFIC)
    );
    assert_eq!(extension_abi::EXTENSION_SPECIFIC, 0x100);
}

#[test]
fn crashtest_entries_are_pinned() {
    // The two interfaces' tables have the same shape but are different
    // types: compare through the fields.
    let table: Vec<kernel::OperationInfo> = crashtest::ENTRIES
        .iter()
        .map(|info| kernel::OperationInfo {
            number: info.number,
            name: info.name,
            idempotent: info.idempotent,
            max_request_bytes: info.max_request_bytes,
            max_reply_bytes: info.max_reply_bytes,
            arguments: &[],
        })
        .collect();
    check("crashtest entry", &table, CRASHTEST_ENTRIES);
    assert!(crashtest::SERVICES.is_empty());
    assert!(
        CRASHTEST_ENTRIES
            .iter()
            .all(|pin| pin.number >= extension_abi::EXTENSION_SPECIFIC)
    );
}

#[test]
fn the_abi_version_is_the_one_these_pins_describe() {
    assert_eq!(extension_abi::ABI_VERSION, 3);
}

/// The enumerations' wire codes.
#[test]
fn enumeration_codes_are_pinned() {
    /// (code, name) of every value of a generated enumeration.
    macro_rules! codes {
        ($enumeration:ty) => {
            <$enumeration>::ALL
                .iter()
                .map(|value| (u64::from(value.code()), value.name()))
                .collect::<Vec<(u64, &str)>>()
        };
    }
    assert_eq!(
        codes!(kernel::Level),
        [
            (1, "error"),
            (2, "warn"),
            (3, "info"),
            (4, "debug"),
            (5, "trace")
        ]
    );
    assert_eq!(
        codes!(kernel::AccessWidth),
        [(1, "byte"), (2, "word"), (4, "double-word")]
    );
    assert_eq!(
        codes!(kernel::DeviceClass),
        [(1, "character"), (2, "block"), (3, "network"), (4, "sound")]
    );
    assert_eq!(
        codes!(kernel::BarKind),
        [(0, "unused"), (1, "io-ports"), (2, "memory")]
    );
    assert_eq!(
        codes!(kernel::BlockOperation),
        [(1, "read"), (2, "write"), (3, "flush")]
    );
    assert_eq!(
        codes!(kernel::CrashKind),
        [
            (0, "null-dereference"),
            (1, "write-kernel-text"),
            (2, "write-kernel-data"),
            (3, "write-kernel-heap"),
            (4, "write-other-domain"),
            (5, "write-own-rodata"),
            (6, "invalid-opcode"),
            (7, "divide-error"),
            (8, "stack-overflow"),
            (9, "bad-return-address"),
            (10, "panic"),
            (11, "loop-interrupts-on"),
            (12, "loop-interrupts-off")
        ]
    );
    // Unlisted codes are refused.
    assert_eq!(kernel::Level::from_code(0), None);
    assert_eq!(kernel::AccessWidth::from_code(3), None);
    assert_eq!(kernel::DeviceClass::from_code(5), None);
    assert_eq!(kernel::BarKind::from_code(3), None);
    assert_eq!(kernel::BlockOperation::from_code(0), None);
    assert_eq!(kernel::CrashKind::from_code(13), None);
}

/// The typed handles' object-tracker codes (`abi_agreement.rs` checks them
/// against the tracker itself).
#[test]
fn handle_kind_codes_are_pinned() {
    assert_eq!(kernel::MemoryHandle::KIND_CODE, 0);
    assert_eq!(kernel::DmaBufferHandle::KIND_CODE, 1);
    assert_eq!(kernel::IoPortsHandle::KIND_CODE, 2);
    assert_eq!(kernel::MmioHandle::KIND_CODE, 3);
    assert_eq!(kernel::InterruptHandle::KIND_CODE, 4);
    assert_eq!(kernel::TimerHandle::KIND_CODE, 5);
    assert_eq!(kernel::DeviceHandle::KIND_CODE, 6);
    assert_eq!(kernel::PciDeviceHandle::KIND_CODE, 10);
}

/// Every argument of `register-device` and `block-submit`, as tabled (the
/// ownership is what later wrappers will map and transfer by).
#[test]
fn argument_tables_are_pinned_for_buffers() {
    let describe = |table: &[kernel::OperationInfo], number: u64| -> Vec<String> {
        let info = table
            .iter()
            .find(|info| info.number == number)
            .expect("tabled");
        info.arguments
            .iter()
            .map(|argument| {
                format!(
                    "{} {} {} {}",
                    argument.direction,
                    argument.name,
                    argument.wire_type,
                    argument.ownership.unwrap_or("-")
                )
            })
            .collect()
    };
    assert_eq!(
        describe(kernel::SERVICES, 16),
        [
            "in class device-class -",
            "in name text<31> copied-in",
            "out handle handle<device> -"
        ]
    );
    assert_eq!(
        describe(kernel::ENTRIES, 0x21),
        [
            "in device handle<device> -",
            "in operation block-operation -",
            "in sector u64 -",
            "in sectors u16 -",
            "in write-data bytes<4096> copied-in",
            "out read-data bytes<4096> copied-out"
        ]
    );
    assert_eq!(
        describe(kernel::ENTRIES, 0),
        [
            "inout abi-version u32 -",
            "in generation u32 -",
            "in kernel-service-entry u64 -",
            "in heap-base u64 -",
            "in heap-size u64 -",
            "out implements-crash bool -"
        ]
    );
}
