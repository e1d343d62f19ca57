//! The generated checks: a malformed message never reaches an
//! implementation (and never panics), an implementation's answer is checked
//! before it is encoded, and a call into an extension reports how it
//! failed.

use deterministic_rng::XorShift;
use extension_abi::Status;
use idl_fixture::kernel_extension as ext;
use idl_fixture::kernel_kernel as kernel;
use idl_fixture::{crashtest_extension, crashtest_kernel};

/// A kernel that counts calls and checks the arguments it is handed are
/// within what the interface allows.
#[derive(Default)]
struct Strict {
    calls: usize,
}

impl Strict {
    fn called(&mut self) -> Result<(), Status> {
        self.calls += 1;
        Ok(())
    }
}

impl kernel::Services for Strict {
    fn log(&mut self, level: kernel::Level, text: &str) -> Result<(), Status> {
        assert!(kernel::Level::ALL.contains(&level));
        assert!(text.len() <= 255);
        self.called()
    }
    fn panic(&mut self, text: &str) -> Result<(), Status> {
        assert!(text.len() <= 255);
        self.called()
    }
    fn yield_now(&mut self) -> Result<(), Status> {
        self.called()
    }
    fn sleep_ms(&mut self, _: u64) -> Result<(), Status> {
        self.called()
    }
    fn null_service(&mut self) -> Result<(), Status> {
        self.called()
    }
    fn call_back(&mut self, _: u64, _: u64) -> Result<Status, Status> {
        self.called().map(|()| Status::Ok)
    }
    fn uptime_ms(&mut self) -> Result<u64, Status> {
        self.called().map(|()| 1)
    }
    fn grant_memory(&mut self, _: u64) -> Result<kernel::GrantMemoryReply, Status> {
        self.called().map(|()| kernel::GrantMemoryReply {
            handle: kernel::MemoryHandle(1),
            address: 2,
        })
    }
    fn release_memory(&mut self, _: kernel::MemoryHandle) -> Result<(), Status> {
        self.called()?;
        Err(Status::Refused)
    }
    fn request_io_ports(&mut self, _: u16, _: u16) -> Result<kernel::IoPortsHandle, Status> {
        self.called().map(|()| kernel::IoPortsHandle(3))
    }
    fn release_io_ports(&mut self, _: kernel::IoPortsHandle) -> Result<(), Status> {
        self.called()
    }
    fn request_interrupt(&mut self, _: u8) -> Result<kernel::InterruptHandle, Status> {
        self.called().map(|()| kernel::InterruptHandle(4))
    }
    fn free_interrupt(&mut self, _: kernel::InterruptHandle) -> Result<(), Status> {
        self.called()
    }
    fn start_timer(&mut self, _: u64, _: bool) -> Result<kernel::TimerHandle, Status> {
        self.called().map(|()| kernel::TimerHandle(5))
    }
    fn cancel_timer(&mut self, _: kernel::TimerHandle) -> Result<(), Status> {
        self.called()
    }
    fn register_device(
        &mut self,
        class: kernel::DeviceClass,
        name: &str,
    ) -> Result<kernel::DeviceHandle, Status> {
        assert!(kernel::DeviceClass::ALL.contains(&class));
        assert!(name.len() <= 31);
        self.called().map(|()| kernel::DeviceHandle(6))
    }
    fn unregister_device(&mut self, _: kernel::DeviceHandle) -> Result<(), Status> {
        self.called()
    }
    fn read_io_port(
        &mut self,
        _: kernel::IoPortsHandle,
        _: u16,
        width: kernel::AccessWidth,
    ) -> Result<u32, Status> {
        assert!(kernel::AccessWidth::ALL.contains(&width));
        self.called().map(|()| 7)
    }
    fn write_io_port(
        &mut self,
        _: kernel::IoPortsHandle,
        _: u16,
        width: kernel::AccessWidth,
        _: u32,
    ) -> Result<(), Status> {
        assert!(kernel::AccessWidth::ALL.contains(&width));
        self.called()
    }
    fn claim_pci_device(
        &mut self,
        _: u16,
        _: u16,
        _: u8,
    ) -> Result<kernel::ClaimPciDeviceReply, Status> {
        self.called().map(|()| kernel::ClaimPciDeviceReply {
            handle: kernel::PciDeviceHandle(8),
            interrupt_line: 9,
        })
    }
    fn release_pci_device(&mut self, _: kernel::PciDeviceHandle) -> Result<(), Status> {
        self.called()
    }
    fn read_pci_config(
        &mut self,
        _: kernel::PciDeviceHandle,
        _: u8,
        width: kernel::AccessWidth,
    ) -> Result<u32, Status> {
        assert!(kernel::AccessWidth::ALL.contains(&width));
        self.called().map(|()| 10)
    }
    fn write_pci_config(
        &mut self,
        _: kernel::PciDeviceHandle,
        _: u8,
        width: kernel::AccessWidth,
        _: u32,
    ) -> Result<(), Status> {
        assert!(kernel::AccessWidth::ALL.contains(&width));
        self.called()
    }
    fn read_pci_bar(
        &mut self,
        _: kernel::PciDeviceHandle,
        _: u8,
    ) -> Result<kernel::ReadPciBarReply, Status> {
        self.called().map(|()| kernel::ReadPciBarReply {
            kind: kernel::BarKind::Memory,
            base: 11,
            size: 12,
        })
    }
    fn set_pci_bus_mastering(&mut self, _: kernel::PciDeviceHandle, _: bool) -> Result<(), Status> {
        self.called()
    }
    fn map_mmio(
        &mut self,
        _: kernel::PciDeviceHandle,
        _: u8,
    ) -> Result<kernel::MapMmioReply, Status> {
        self.called().map(|()| kernel::MapMmioReply {
            handle: kernel::MmioHandle(13),
            address: 14,
            length: 15,
        })
    }
    fn unmap_mmio(&mut self, _: kernel::MmioHandle) -> Result<(), Status> {
        self.called()
    }
    fn allocate_dma(&mut self, _: u64) -> Result<kernel::AllocateDmaReply, Status> {
        self.called().map(|()| kernel::AllocateDmaReply {
            handle: kernel::DmaBufferHandle(16),
            address: 17,
            physical: 18,
        })
    }
    fn free_dma(&mut self, _: kernel::DmaBufferHandle) -> Result<(), Status> {
        self.called()
    }
    fn disable_interrupt(&mut self, _: kernel::InterruptHandle) -> Result<(), Status> {
        self.called()
    }
    fn enable_interrupt(&mut self, _: kernel::InterruptHandle) -> Result<(), Status> {
        self.called()
    }
    fn acknowledge_interrupt(&mut self, _: kernel::InterruptHandle) -> Result<(), Status> {
        self.called()
    }
    fn uptime_us(&mut self) -> Result<u64, Status> {
        self.called().map(|()| 19)
    }
    fn deliver_packet(&mut self, _: kernel::DeviceHandle, frame: &[u8]) -> Result<(), Status> {
        assert!(frame.len() <= 1514);
        self.called()
    }
    fn period_finished(&mut self, _: kernel::DeviceHandle) -> Result<(), Status> {
        self.called()
    }
    fn deliver_packets(
        &mut self,
        _: kernel::DeviceHandle,
        _: u16,
        frames: &[u8],
    ) -> Result<(), Status> {
        assert!(frames.len() <= 4096);
        self.called()
    }
    fn tcp_listen(&mut self, _: u16, _: u8) -> Result<kernel::SocketHandle, Status> {
        self.called().map(|()| kernel::SocketHandle(1))
    }
    fn tcp_accept(&mut self, _: kernel::SocketHandle) -> Result<kernel::TcpAcceptReply, Status> {
        self.called().map(|()| kernel::TcpAcceptReply {
            accepted: false,
            socket: kernel::SocketHandle(0),
        })
    }
    fn tcp_receive(
        &mut self,
        _: kernel::SocketHandle,
        length: u16,
        data: &mut [u8],
    ) -> Result<kernel::TcpReceiveReply, Status> {
        assert!(data.len() >= usize::from(length));
        self.called().map(|()| kernel::TcpReceiveReply {
            state: kernel::ConnectionState::Open,
            data_length: 0,
        })
    }
    fn tcp_send(&mut self, _: kernel::SocketHandle, data: &[u8]) -> Result<u16, Status> {
        assert!(data.len() <= 4096);
        self.called().map(|()| 0)
    }
    fn tcp_close(&mut self, _: kernel::SocketHandle) -> Result<(), Status> {
        self.called()
    }
    fn null_service_with_data(&mut self, data: &[u8]) -> Result<(), Status> {
        assert!(data.len() <= 4096);
        self.called()
    }
}

/// Dispatches `message` to a fresh [`Strict`]; the status and whether the
/// implementation was called.
fn run(service: u64, message: &[u8]) -> (Status, bool) {
    let mut strict = Strict::default();
    let mut copy = message.to_vec();
    let status = kernel::dispatch(service, &mut copy, &mut strict);
    (status, strict.calls > 0)
}

const REFUSED_UNCALLED: (Status, bool) = (Status::BadMessage, false);

#[test]
fn malformed_service_messages_never_reach_the_implementation() {
    use extension_abi::service;
    // Unknown numbers.
    assert_eq!(run(0, &[]), (Status::UnknownOperation, false));
    assert_eq!(run(43, &[0; 64]), (Status::UnknownOperation, false));
    assert_eq!(run(0x100, &[0; 64]), (Status::UnknownOperation, false));
    assert_eq!(run(u64::MAX, &[]), (Status::UnknownOperation, false));
    // Too short for the request.
    assert_eq!(run(service::SLEEP_MS, &[0; 7]), REFUSED_UNCALLED);
    assert_eq!(run(service::LOG, &[]), REFUSED_UNCALLED);
    assert_eq!(run(service::RELEASE_MEMORY, &[1, 2, 3]), REFUSED_UNCALLED);
    assert_eq!(run(service::WRITE_IO_PORT, &[1; 14]), REFUSED_UNCALLED);
    assert_eq!(run(service::WRITE_PCI_CONFIG, &[1; 13]), REFUSED_UNCALLED);
    assert_eq!(
        run(service::SET_PCI_BUS_MASTERING, &[1; 8]),
        REFUSED_UNCALLED
    );
    assert_eq!(run(service::DELIVER_PACKET, &[0; 7]), REFUSED_UNCALLED);
    assert_eq!(run(service::PERIOD_FINISHED, &[0; 7]), REFUSED_UNCALLED);
    // Long enough for the request but too short for the reply: refused
    // before anything is granted, claimed or mapped.
    assert_eq!(
        run(service::GRANT_MEMORY, &1u64.to_le_bytes()),
        REFUSED_UNCALLED
    );
    assert_eq!(run(service::REQUEST_INTERRUPT, &[5]), REFUSED_UNCALLED);
    assert_eq!(run(service::UPTIME_MS, &[0; 7]), REFUSED_UNCALLED);
    assert_eq!(run(service::UPTIME_US, &[0; 7]), REFUSED_UNCALLED);
    assert_eq!(
        run(
            service::CLAIM_PCI_DEVICE,
            &[0x86, 0x80, 0x0e, 0x10, 0, 0, 0, 0]
        ),
        REFUSED_UNCALLED
    );
    assert_eq!(run(service::READ_PCI_BAR, &[0; 16]), REFUSED_UNCALLED);
    let mut map = [0u8; 23];
    map[8] = 2;
    assert_eq!(run(service::MAP_MMIO, &map), REFUSED_UNCALLED);
    assert_eq!(run(service::ALLOCATE_DMA, &[0; 23]), REFUSED_UNCALLED);
    // Enumeration codes and booleans out of range.
    assert_eq!(run(service::LOG, &[0, b'x']), REFUSED_UNCALLED);
    assert_eq!(run(service::LOG, &[6, b'x']), REFUSED_UNCALLED);
    let mut timer = [0u8; 9];
    timer[8] = 2;
    assert_eq!(run(service::START_TIMER, &timer), REFUSED_UNCALLED);
    let mut bus_master = [0u8; 9];
    bus_master[8] = 0xff;
    assert_eq!(
        run(service::SET_PCI_BUS_MASTERING, &bus_master),
        REFUSED_UNCALLED
    );
    for class in [0u8, 5, 0xff] {
        assert_eq!(
            run(service::REGISTER_DEVICE, &[class, 1, b'a', 0, 0, 0, 0, 0]),
            REFUSED_UNCALLED,
            "class {class}"
        );
    }
    // Access widths are 1, 2 or 4 bytes: 0, 3 and 8 are not widths.
    for width in [0u8, 3, 8] {
        let mut read = [0u8; 11];
        read[10] = width;
        assert_eq!(run(service::READ_IO_PORT, &read), REFUSED_UNCALLED);
        let mut write = [0u8; 15];
        write[10] = width;
        assert_eq!(run(service::WRITE_IO_PORT, &write), REFUSED_UNCALLED);
        let mut config = [0u8; 14];
        config[9] = width;
        assert_eq!(run(service::READ_PCI_CONFIG, &config), REFUSED_UNCALLED);
        assert_eq!(run(service::WRITE_PCI_CONFIG, &config), REFUSED_UNCALLED);
    }
    // Text: not UTF-8, or too long.
    assert_eq!(run(service::LOG, &[3, 0xff, 0xfe]), REFUSED_UNCALLED);
    let mut long = vec![3u8];
    long.extend([b'x'; 256]);
    assert_eq!(run(service::LOG, &long), REFUSED_UNCALLED);
    assert_eq!(run(service::PANIC, &[0xc3]), REFUSED_UNCALLED);
    assert_eq!(
        run(service::REGISTER_DEVICE, &[1, 2, 0xc3, 0x28, 0, 0, 0, 0]),
        REFUSED_UNCALLED
    );
    // Length prefixes: over the maximum, or past the end of the message.
    let mut device = [0u8; 40];
    device[0] = 1;
    device[1] = 32;
    assert_eq!(run(service::REGISTER_DEVICE, &device), REFUSED_UNCALLED);
    assert_eq!(
        run(service::REGISTER_DEVICE, &[1, 9, b'a', b'b', 0, 0, 0, 0]),
        REFUSED_UNCALLED
    );
    // A tail over its maximum.
    assert_eq!(
        run(service::DELIVER_PACKET, &[0; 8 + 1515]),
        REFUSED_UNCALLED
    );
    assert_eq!(
        run(service::NULL_SERVICE_WITH_DATA, &[0; 4097]),
        REFUSED_UNCALLED
    );
    // And the well-formed versions are accepted.
    assert_eq!(run(service::SLEEP_MS, &[0; 8]), (Status::Ok, true));
    assert_eq!(run(service::LOG, &[3, b'o', b'k']), (Status::Ok, true));
    assert_eq!(run(service::LOG, &[5]), (Status::Ok, true));
    timer[8] = 1;
    assert_eq!(run(service::START_TIMER, &timer), (Status::Ok, true));
    bus_master[8] = 1;
    assert_eq!(
        run(service::SET_PCI_BUS_MASTERING, &bus_master),
        (Status::Ok, true)
    );
    assert_eq!(
        run(service::REGISTER_DEVICE, &[4, 2, b'a', b'b', 0, 0, 0, 0]),
        (Status::Ok, true)
    );
    for width in [1u8, 2, 4] {
        let mut write = [0u8; 15];
        write[10] = width;
        assert_eq!(run(service::WRITE_IO_PORT, &write), (Status::Ok, true));
    }
    assert_eq!(run(service::MAP_MMIO, &[0; 24]), (Status::Ok, true));
    assert_eq!(
        run(service::DELIVER_PACKET, &[0; 8 + 1514]),
        (Status::Ok, true)
    );
    assert_eq!(run(service::DELIVER_PACKET, &[0; 8]), (Status::Ok, true));
    assert_eq!(
        run(service::NULL_SERVICE_WITH_DATA, &[0; 4096]),
        (Status::Ok, true)
    );
    assert_eq!(
        run(service::NULL_SERVICE_WITH_DATA, &[]),
        (Status::Ok, true)
    );
    // Trailing bytes (the padding of a shared buffer) are allowed.
    assert_eq!(run(service::SLEEP_MS, &[0; 64]), (Status::Ok, true));
    // The implementation's own refusal passes through.
    assert_eq!(
        run(service::RELEASE_MEMORY, &[0; 8]),
        (Status::Refused, true)
    );
}

/// For every service, the shortest message it accepts is the larger of its
/// request and its largest reply (for a service without buffers, exactly
/// its table's sizes): one byte less is refused before the implementation
/// runs.
#[test]
fn every_service_refuses_a_message_one_byte_short() {
    for info in kernel::SERVICES {
        let name = info.name;
        // 1 is a valid code of every enumeration in a request here, `true`,
        // and a length prefix of one byte.
        let accepts = |length: usize| {
            let mut strict = Strict::default();
            let mut message = vec![1u8; length];
            let status = kernel::dispatch(info.number, &mut message, &mut strict);
            assert_eq!(
                status == Status::BadMessage,
                strict.calls == 0,
                "`{name}` with {length} bytes: {status:?}"
            );
            status != Status::BadMessage
        };
        let shortest = (0..=extension_abi::MAX_MESSAGE_BYTES)
            .find(|&length| accepts(length))
            .unwrap_or_else(|| panic!("`{name}` accepts no short message"));
        if shortest > 0 {
            assert!(!accepts(shortest - 1));
        }
        let has_buffer = info.arguments.iter().any(|argument| {
            argument.wire_type.starts_with("bytes<") || argument.wire_type.starts_with("text<")
        });
        let largest = info.max_request_bytes.max(info.max_reply_bytes);
        if has_buffer {
            assert!(
                (info.max_reply_bytes..=largest).contains(&shortest),
                "`{name}`: {shortest}"
            );
        } else {
            assert_eq!(shortest, largest, "`{name}`");
        }
    }
}

#[test]
fn random_service_messages_never_panic_and_bad_ones_have_no_effect() {
    let mut random = XorShift::new(0x5e41_1ce5);
    let mut outcomes = [0usize; 7];
    for case in 0..50_000 {
        // Every service number, some unknown ones.
        let service = random.below(40);
        let length = random.below(48) as usize;
        let mut message: Vec<u8> = (0..length)
            .map(|_| match random.below(3) {
                0 => random.below(8) as u8,
                _ => random.next() as u8,
            })
            .collect();
        let mut strict = Strict::default();
        let status = kernel::dispatch(service, &mut message, &mut strict);
        outcomes[status as usize] += 1;
        match status {
            Status::Ok => assert_eq!(strict.calls, 1, "case {case}"),
            Status::BadMessage | Status::UnknownOperation => {
                assert_eq!(
                    strict.calls, 0,
                    "case {case}: service {service} {message:?}"
                );
            }
            Status::Refused => assert_eq!(service, extension_abi::service::RELEASE_MEMORY),
            other => panic!("case {case}: unexpected {other:?}"),
        }
        assert_eq!(message.len(), length, "the message never changes length");
    }
    // The generator must have produced every outcome, or this tests little.
    for status in [
        Status::Ok,
        Status::BadMessage,
        Status::UnknownOperation,
        Status::Refused,
    ] {
        assert!(outcomes[status as usize] > 100, "{outcomes:?}");
    }
}

#[test]
fn an_implementation_answer_that_does_not_fit_is_refused() {
    // The kernel answers into the caller's message: a message exactly the
    // reply's size works, the request alone does not.
    let mut message = 3u64.to_le_bytes().to_vec();
    message.extend([0u8; 8]);
    assert_eq!(
        kernel::dispatch(
            extension_abi::service::GRANT_MEMORY,
            &mut message,
            &mut Strict::default()
        ),
        Status::Ok
    );
    assert_eq!(&message[..8], &1u64.to_le_bytes());
    assert_eq!(&message[8..], &2u64.to_le_bytes());
}

#[test]
fn entry_call_failures_say_what_happened() {
    use extension_abi::CallError;
    let answer = |result: Result<(Status, usize), CallError>| move |_: u64, _: &mut [u8]| result;
    assert_eq!(
        kernel::null(&mut answer(Err(CallError::ExtensionFailed))),
        Err(CallError::ExtensionFailed)
    );
    assert_eq!(
        kernel::null(&mut answer(Err(CallError::NotRunning))),
        Err(CallError::NotRunning)
    );
    assert_eq!(
        kernel::null(&mut answer(Ok((Status::ExtensionFailed, 0)))),
        Err(CallError::ExtensionFailed)
    );
    assert_eq!(
        kernel::null(&mut answer(Ok((Status::NotRunning, 0)))),
        Err(CallError::NotRunning)
    );
    assert_eq!(
        kernel::interrupt(&mut answer(Ok((Status::Refused, 0))), 3),
        Err(CallError::Status(Status::Refused))
    );
    // A reply longer than the message, or too short for its values.
    assert_eq!(
        kernel::interrupt(&mut answer(Ok((Status::Ok, 2))), 3),
        Err(CallError::BadReply)
    );
    assert_eq!(
        kernel::init(&mut answer(Ok((Status::Ok, 4))), 1, 0, 0, 0, 0),
        Err(CallError::BadReply)
    );
    // A bool that is not 0 or 1.
    let mut bad_bool = |_: u64, message: &mut [u8]| {
        message[..5].copy_from_slice(&[1, 0, 0, 0, 2]);
        Ok((Status::Ok, 5))
    };
    assert_eq!(
        kernel::init(&mut bad_bool, 1, 0, 0, 0, 0),
        Err(CallError::BadReply)
    );
    let mut masked = |_: u64, message: &mut [u8]| {
        message[0] = 2;
        Ok((Status::Ok, 1))
    };
    assert_eq!(kernel::interrupt(&mut masked, 3), Err(CallError::BadReply));
    let mut link = |_: u64, message: &mut [u8]| {
        message[40] = 7;
        Ok((Status::Ok, 41))
    };
    assert_eq!(
        kernel::network_statistics(&mut link, kernel::DeviceHandle(1)),
        Err(CallError::BadReply)
    );
    // A tail reply claimed longer than the message.
    assert_eq!(
        kernel::character_read(
            &mut answer(Ok((Status::Ok, 4097))),
            kernel::DeviceHandle(1),
            1,
            &mut [0; 4096]
        ),
        Err(CallError::BadReply)
    );
    // A tail reply longer than its maximum (6) though within the message.
    assert_eq!(
        kernel::network_mac_address(
            &mut answer(Ok((Status::Ok, 7))),
            kernel::DeviceHandle(1),
            &mut [0; 8]
        ),
        Err(CallError::BadReply)
    );
}

/// The generated calls map every status an extension (or the transport)
/// answers to the `extension_abi::CallError` that stands for it, so the
/// kernel can turn a failed call back into the same status.
#[test]
fn every_answered_status_maps_to_the_call_error_that_stands_for_it() {
    use extension_abi::CallError;
    for code in 1..=6 {
        let status = Status::from_code(code).unwrap();
        let mut transport = move |_: u64, _: &mut [u8]| Ok((status, 0));
        let error = kernel::remove(&mut transport).unwrap_err();
        assert_eq!(error.status(), status, "{status:?}");
        assert_eq!(
            error.is_extension_failure(),
            status == Status::ExtensionFailed
        );
        assert_eq!(
            crashtest_kernel::increment(&mut transport).unwrap_err(),
            error
        );
    }
    // Errors of the transport itself pass through unchanged.
    for error in [
        CallError::ExtensionFailed,
        CallError::NotRunning,
        CallError::BadReply,
    ] {
        let mut transport = move |_: u64, _: &mut [u8]| Err(error);
        assert_eq!(kernel::remove(&mut transport), Err(error));
    }
}

#[test]
fn random_replies_never_panic() {
    let mut random = XorShift::new(0x00ca_11e7);
    let mut accepted = [0usize; 6];
    for _ in 0..20_000 {
        let status = Status::from_code(random.below(7)).unwrap();
        let length = match random.below(4) {
            0 => random.below(4200) as usize,
            _ => random.below(80) as usize,
        };
        let fill = random.next();
        let mut transport = |_: u64, message: &mut [u8]| {
            for (index, byte) in message.iter_mut().enumerate() {
                *byte = (fill >> (index % 8 * 8)) as u8 & if fill & 1 == 0 { 1 } else { 0xff };
            }
            Ok((status, length))
        };
        let device = kernel::DeviceHandle(1);
        // Whatever is accepted was a successful answer of a length the
        // message holds and the reply needs.
        let mut check = |which: usize, ok: bool, needed: usize, most: usize| {
            if ok {
                assert_eq!(status, Status::Ok);
                assert!((needed..=most).contains(&length), "{which}: {length}");
                accepted[which] += 1;
            }
        };
        check(
            0,
            kernel::init(&mut transport, 1, 2, 3, 4, 5).is_ok(),
            5,
            32,
        );
        check(1, kernel::interrupt(&mut transport, 1).is_ok(), 1, 1);
        check(2, crashtest_kernel::status(&mut transport).is_ok(), 40, 40);
        check(
            3,
            kernel::network_statistics(&mut transport, device).is_ok(),
            41,
            41,
        );
        let mut data = [0u8; 100];
        let read = kernel::character_read(&mut transport, device, 100, &mut data);
        check(4, read.is_ok(), 0, 100);
        if let Ok(count) = read {
            assert_eq!(count, length);
        }
        check(
            5,
            kernel::block_capacity(&mut transport, device).is_ok(),
            12,
            12,
        );
    }
    // Every call was accepted sometimes, or this tests little.
    assert!(accepted.iter().all(|&count| count > 0), "{accepted:?}");
}

/// The extension side's entry dispatch on random input: never panics,
/// never claims a reply longer than the message or than the operation's
/// largest reply, and answers nothing but a status when it fails.
#[test]
fn random_entry_messages_never_panic() {
    struct Quiet;
    impl ext::Entries for Quiet {
        fn init(&self, abi: u32, _: u32, _: u64, _: u64, _: u64) -> Result<ext::InitReply, Status> {
            Ok(ext::InitReply {
                abi_version: abi,
                implements_crash: false,
            })
        }
        fn crash(&self, _: ext::CrashKind, _: u64) -> Result<(), Status> {
            Ok(())
        }
        fn interrupt(&self, line: u8) -> Result<bool, Status> {
            Ok(line > 8)
        }
        fn character_read(
            &self,
            _: ext::DeviceHandle,
            length: u16,
            _: &mut [u8],
        ) -> Result<usize, Status> {
            // Claims whatever it was asked for, even beyond its buffer:
            // the dispatch must refuse that.
            Ok(usize::from(length))
        }
        fn character_write(&self, _: ext::DeviceHandle, data: &[u8]) -> Result<u16, Status> {
            Ok(data.len() as u16)
        }
        fn block_submit(
            &self,
            _: ext::DeviceHandle,
            _: ext::BlockOperation,
            _: u64,
            sectors: u16,
            _: &[u8],
            _: &mut [u8],
        ) -> Result<usize, Status> {
            Ok(usize::from(sectors) * 512)
        }
        fn network_statistics(
            &self,
            _: ext::DeviceHandle,
        ) -> Result<ext::NetworkStatisticsReply, Status> {
            Ok(ext::NetworkStatisticsReply {
                received_packets: 1,
                sent_packets: 2,
                received_bytes: 3,
                sent_bytes: 4,
                errors: 5,
                link_up: false,
            })
        }
        fn network_mac_address(
            &self,
            _: ext::DeviceHandle,
            address: &mut [u8],
        ) -> Result<usize, Status> {
            Ok(address.len())
        }
        fn network_transmit(&self, _: ext::DeviceHandle, frame: &[u8]) -> Result<(), Status> {
            assert!(frame.len() <= 1514);
            Ok(())
        }
        fn sound_play_period(&self, _: ext::DeviceHandle, samples: &[u8]) -> Result<(), Status> {
            assert!(samples.len() <= 4096);
            Ok(())
        }
    }
    struct Counter;
    impl crashtest_extension::Entries for Counter {
        fn status(&self) -> Result<crashtest_extension::StatusReply, Status> {
            Ok(crashtest_extension::StatusReply {
                generation: 1,
                counter: 2,
                timer_expiries: 3,
                interrupts: 4,
                objects_held: 5,
            })
        }
        fn checksum(&self, seed: u64, rounds: u64) -> Result<u64, Status> {
            Ok(extension_abi::checksum(seed, rounds % 64))
        }
        fn release(&self, _: u64, handle: u64) -> Result<Status, Status> {
            Ok(Status::from_code(handle % 8).unwrap_or(Status::Refused))
        }
    }
    let largest_reply = |table: &[extension_abi::interfaces::kernel::OperationInfo],
                         operation: u64| {
        table
            .iter()
            .find(|info| info.number == operation)
            .map(|info| info.max_reply_bytes)
    };
    let mut random = XorShift::new(0x000e_77e5);
    let mut successes = std::collections::BTreeMap::new();
    for _ in 0..20_000 {
        let operation = match random.below(4) {
            0 | 1 => ext::ENTRIES[random.below(ext::ENTRIES.len() as u64) as usize].number,
            2 => 0x100 + random.below(9),
            _ => random.next(),
        };
        // Long enough for the largest replies (4096) a third of the time;
        // mostly small bytes, so that codes and lengths are often valid.
        let length = match random.below(3) {
            0 => 4090 + random.below(40) as usize,
            1 => random.below(4200) as usize,
            _ => random.below(64) as usize,
        };
        let mut message: Vec<u8> = (0..length)
            .map(|_| match random.below(4) {
                0 => random.next() as u8,
                _ => random.below(3) as u8,
            })
            .collect();
        let (status, reply) = ext::dispatch(operation, &mut message, &Quiet);
        assert!(reply <= message.len());
        if status == Status::Ok {
            let most = largest_reply(ext::ENTRIES, operation).expect("a known entry");
            assert!(reply <= most, "{operation:#x}: {reply} > {most}");
            *successes.entry(operation).or_insert(0) += 1;
        } else {
            assert_eq!(reply, 0);
        }
        let (status, reply) = crashtest_extension::dispatch(operation, &mut message, &Counter);
        assert!(reply <= message.len());
        if status == Status::Ok {
            assert!(reply == 8 || reply == 40, "{operation:#x}");
            *successes.entry(operation).or_insert(0) += 1;
        } else {
            assert_eq!(reply, 0);
        }
    }
    // The implemented entries all succeeded at least once.
    for operation in [
        extension_abi::operation::INIT,
        extension_abi::operation::INTERRUPT,
        extension_abi::operation::CHARACTER_READ,
        extension_abi::operation::BLOCK_SUBMIT,
        extension_abi::operation::NETWORK_MAC_ADDRESS,
        extension_abi::operation::SOUND_PLAY_PERIOD,
        extension_abi::crashtest_operation::RELEASE,
    ] {
        assert!(
            successes.contains_key(&operation),
            "{operation:#x}: {successes:x?}"
        );
    }
}

/// An entry implementation that claims more reply bytes than its buffer
/// holds is refused by the dispatch, not trusted.
#[test]
fn an_entry_answer_beyond_its_buffer_is_refused() {
    struct Liar;
    impl ext::Entries for Liar {
        fn network_mac_address(&self, _: ext::DeviceHandle, _: &mut [u8]) -> Result<usize, Status> {
            Ok(7)
        }
        fn character_read(
            &self,
            _: ext::DeviceHandle,
            _: u16,
            _: &mut [u8],
        ) -> Result<usize, Status> {
            Ok(4097)
        }
    }
    let mut message = [0u8; 8];
    assert_eq!(
        ext::dispatch(
            extension_abi::operation::NETWORK_MAC_ADDRESS,
            &mut message,
            &Liar
        ),
        (Status::BadMessage, 0)
    );
    let mut message = vec![0u8; 4096];
    assert_eq!(
        ext::dispatch(
            extension_abi::operation::CHARACTER_READ,
            &mut message,
            &Liar
        ),
        (Status::BadMessage, 0)
    );
}
