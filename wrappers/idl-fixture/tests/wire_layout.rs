//! The bytes on the wire, written out by hand from the rules of
//! docs/wrappers.md: what the generated extension side sends for every
//! kernel service and how it reads the reply, and what the generated
//! kernel side sends for every entry operation and how it reads the reply.
//! (The hand-written code these bytes used to be compared with is being
//! replaced by the generated code; the layout itself is the ABI.)
//!
//! Values are little-endian, in declaration order; the caller's message is
//! as long as the larger of the request and the largest reply, zero-padded;
//! a tail buffer runs to the end of the request.

use extension_abi::{CallError, Status};
use idl_fixture::extension_api::with_kernel;
use idl_fixture::kernel_extension as ext;
use idl_fixture::kernel_kernel as kernel;
use std::cell::RefCell;
use std::rc::Rc;

/// A handle whose eight bytes are all different: 08 07 06 05 04 03 02 01.
const H: u64 = 0x0102_0304_0506_0708;
const HB: [u8; 8] = [8, 7, 6, 5, 4, 3, 2, 1];

/// `parts` joined.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Calls `call` against a kernel that records the service number and the
/// request and answers `reply` (written over the start of the message).
fn exchange<R>(reply: &[u8], call: impl FnOnce() -> R) -> (R, u64, Vec<u8>) {
    let seen = Rc::new(RefCell::new(None));
    let log = Rc::clone(&seen);
    let reply = reply.to_vec();
    let result = with_kernel(
        move |service, message| {
            *log.borrow_mut() = Some((service, message.to_vec()));
            assert!(reply.len() <= message.len(), "the reply fits the message");
            message[..reply.len()].copy_from_slice(&reply);
            Status::Ok
        },
        call,
    );
    let (service, request) = seen.borrow_mut().take().expect("the kernel was called");
    (result, service, request)
}

/// Asserts the service number and the exact request, and returns the
/// result.
fn sent<R: core::fmt::Debug>(
    (result, service, request): (R, u64, Vec<u8>),
    number: u64,
    expected: &[u8],
) -> R {
    assert_eq!(service, number, "service number");
    assert_eq!(
        request, expected,
        "request of service {number} ({result:?})"
    );
    result
}

#[test]
fn service_requests_and_replies_byte_for_byte() {
    let z = |count: usize| vec![0u8; count];

    // 1 log: level u8, text tail; no reply, so no padding.
    let r = exchange(&[], || ext::log(ext::Level::Warn, "hi"));
    assert_eq!(sent(r, 1, &[2, b'h', b'i']), Ok(()));
    // 2 panic: text tail.
    let r = exchange(&[], || ext::panic("no"));
    assert_eq!(sent(r, 2, b"no"), Ok(()));
    // 3 yield-now, 5 null-service: empty.
    assert_eq!(sent(exchange(&[], ext::yield_now), 3, &[]), Ok(()));
    assert_eq!(sent(exchange(&[], ext::null_service), 5, &[]), Ok(()));
    // 4 sleep-ms: u64.
    let r = exchange(&[], || ext::sleep_ms(0x1234));
    assert_eq!(sent(r, 4, &[0x34, 0x12, 0, 0, 0, 0, 0, 0]), Ok(()));
    // 6 call-back: u64, u64; status as u64.
    let r = exchange(&[3, 0, 0, 0, 0, 0, 0, 0], || ext::call_back(0x101, H));
    let request = cat(&[&[1, 1, 0, 0, 0, 0, 0, 0], &HB]);
    assert_eq!(sent(r, 6, &request), Ok(Status::Refused));
    // 7 uptime-ms: nothing; u64 (the message is the reply's 8 bytes).
    let r = exchange(&HB, ext::uptime_ms);
    assert_eq!(sent(r, 7, &z(8)), Ok(H));
    // 8 grant-memory: u64 padded to the 16-byte reply; handle, address.
    let reply = cat(&[&HB, &[0, 0x10, 0, 0, 0, 0xc0, 0xff, 0xff]]);
    let r = exchange(&reply, || ext::grant_memory(2));
    assert_eq!(
        sent(r, 8, &cat(&[&[2], &z(15)])),
        Ok(ext::GrantMemoryReply {
            handle: ext::MemoryHandle(H),
            address: 0xffff_c000_0000_1000,
        })
    );
    // 9, 11, 13, 15, 17, 21, 27, 29-32, 35: a handle alone.
    let r = exchange(&[], || ext::release_memory(ext::MemoryHandle(H)));
    assert_eq!(sent(r, 9, &HB), Ok(()));
    let r = exchange(&[], || ext::release_io_ports(ext::IoPortsHandle(H)));
    assert_eq!(sent(r, 11, &HB), Ok(()));
    let r = exchange(&[], || ext::free_interrupt(ext::InterruptHandle(H)));
    assert_eq!(sent(r, 13, &HB), Ok(()));
    let r = exchange(&[], || ext::cancel_timer(ext::TimerHandle(H)));
    assert_eq!(sent(r, 15, &HB), Ok(()));
    let r = exchange(&[], || ext::unregister_device(ext::DeviceHandle(H)));
    assert_eq!(sent(r, 17, &HB), Ok(()));
    let r = exchange(&[], || ext::release_pci_device(ext::PciDeviceHandle(H)));
    assert_eq!(sent(r, 21, &HB), Ok(()));
    let r = exchange(&[], || ext::unmap_mmio(ext::MmioHandle(H)));
    assert_eq!(sent(r, 27, &HB), Ok(()));
    let r = exchange(&[], || ext::free_dma(ext::DmaBufferHandle(H)));
    assert_eq!(sent(r, 29, &HB), Ok(()));
    let r = exchange(&[], || ext::disable_interrupt(ext::InterruptHandle(H)));
    assert_eq!(sent(r, 30, &HB), Ok(()));
    let r = exchange(&[], || ext::enable_interrupt(ext::InterruptHandle(H)));
    assert_eq!(sent(r, 31, &HB), Ok(()));
    let r = exchange(&[], || ext::acknowledge_interrupt(ext::InterruptHandle(H)));
    assert_eq!(sent(r, 32, &HB), Ok(()));
    let r = exchange(&[], || ext::period_finished(ext::DeviceHandle(H)));
    assert_eq!(sent(r, 35, &HB), Ok(()));
    // 10 request-io-ports: u16, u16 padded to 8; handle.
    let r = exchange(&HB, || ext::request_io_ports(0x03f8, 8));
    assert_eq!(
        sent(r, 10, &[0xf8, 0x03, 8, 0, 0, 0, 0, 0]),
        Ok(ext::IoPortsHandle(H))
    );
    // 12 request-interrupt: u8 padded to 8; handle.
    let r = exchange(&HB, || ext::request_interrupt(11));
    assert_eq!(
        sent(r, 12, &[11, 0, 0, 0, 0, 0, 0, 0]),
        Ok(ext::InterruptHandle(H))
    );
    // 14 start-timer: u64, bool (9 bytes, the reply is 8); handle.
    let r = exchange(&HB, || ext::start_timer(1000, true));
    assert_eq!(
        sent(r, 14, &[0xe8, 0x03, 0, 0, 0, 0, 0, 0, 1]),
        Ok(ext::TimerHandle(H))
    );
    // 16 register-device: class u8, name with a u8 prefix, padded to the
    // 8-byte reply ("rtc": 1 + 1 + 3 = 5 bytes, then 3 zeros); handle.
    let r = exchange(&HB, || {
        ext::register_device(ext::DeviceClass::Character, "rtc")
    });
    assert_eq!(
        sent(r, 16, &[1, 3, b'r', b't', b'c', 0, 0, 0]),
        Ok(ext::DeviceHandle(H))
    );
    // A longer name is not padded.
    let r = exchange(&HB, || {
        ext::register_device(ext::DeviceClass::Network, "eth-0")
    });
    assert_eq!(
        sent(r, 16, &[3, 5, b'e', b't', b'h', b'-', b'0', 0]),
        Ok(ext::DeviceHandle(H))
    );
    let r = exchange(&HB, || {
        ext::register_device(ext::DeviceClass::Sound, "speaker")
    });
    assert_eq!(
        sent(r, 16, &cat(&[&[4, 7], b"speaker"])),
        Ok(ext::DeviceHandle(H))
    );
    // 18 read-io-port: handle, u16, width u8 (11 bytes); u32.
    let r = exchange(&[0x78, 0x56, 0x34, 0x12], || {
        ext::read_io_port(ext::IoPortsHandle(H), 0x0102, ext::AccessWidth::DoubleWord)
    });
    assert_eq!(sent(r, 18, &cat(&[&HB, &[2, 1, 4]])), Ok(0x1234_5678));
    // 19 write-io-port: handle, u16, width, u32.
    let r = exchange(&[], || {
        ext::write_io_port(ext::IoPortsHandle(H), 5, ext::AccessWidth::Word, 0xaabb)
    });
    assert_eq!(
        sent(r, 19, &cat(&[&HB, &[5, 0, 2, 0xbb, 0xaa, 0, 0]])),
        Ok(())
    );
    // 20 claim-pci-device: u16, u16, u8 (5, padded to the 9-byte reply);
    // handle, u8.
    let r = exchange(&cat(&[&HB, &[10]]), || {
        ext::claim_pci_device(0x8086, 0x100e, 1)
    });
    assert_eq!(
        sent(r, 20, &[0x86, 0x80, 0x0e, 0x10, 1, 0, 0, 0, 0]),
        Ok(ext::ClaimPciDeviceReply {
            handle: ext::PciDeviceHandle(H),
            interrupt_line: 10,
        })
    );
    // 22 read-pci-config: handle, u8, width (10 bytes); u32.
    let r = exchange(&[0x86, 0x80, 0x0e, 0x10], || {
        ext::read_pci_config(ext::PciDeviceHandle(H), 0, ext::AccessWidth::DoubleWord)
    });
    assert_eq!(sent(r, 22, &cat(&[&HB, &[0, 4]])), Ok(0x100e_8086));
    // 23 write-pci-config: handle, u8, width, u32.
    let r = exchange(&[], || {
        ext::write_pci_config(ext::PciDeviceHandle(H), 4, ext::AccessWidth::Byte, 7)
    });
    assert_eq!(sent(r, 23, &cat(&[&HB, &[4, 1, 7, 0, 0, 0]])), Ok(()));
    // 24 read-pci-bar: handle, u8 (9, padded to the 17-byte reply); kind
    // u8, base u64, size u64.
    let reply = cat(&[
        &[2],
        &[0, 0, 0xbc, 0xfe, 0, 0, 0, 0],
        &[0, 0, 2, 0, 0, 0, 0, 0],
    ]);
    let r = exchange(&reply, || ext::read_pci_bar(ext::PciDeviceHandle(H), 3));
    assert_eq!(
        sent(r, 24, &cat(&[&HB, &[3], &z(8)])),
        Ok(ext::ReadPciBarReply {
            kind: ext::BarKind::Memory,
            base: 0xfebc_0000,
            size: 0x2_0000,
        })
    );
    // 25 set-pci-bus-mastering: handle, bool.
    let r = exchange(&[], || {
        ext::set_pci_bus_mastering(ext::PciDeviceHandle(H), true)
    });
    assert_eq!(sent(r, 25, &cat(&[&HB, &[1]])), Ok(()));
    // 26 map-mmio: handle, u8 (padded to the 24-byte reply); handle,
    // address, length.
    let reply = cat(&[
        &HB,
        &[0, 0, 0, 0, 0, 0xd0, 0xff, 0xff],
        &[0, 0x10, 0, 0, 0, 0, 0, 0],
    ]);
    let r = exchange(&reply, || ext::map_mmio(ext::PciDeviceHandle(H), 1));
    assert_eq!(
        sent(r, 26, &cat(&[&HB, &[1], &z(15)])),
        Ok(ext::MapMmioReply {
            handle: ext::MmioHandle(H),
            address: 0xffff_d000_0000_0000,
            length: 0x1000,
        })
    );
    // 28 allocate-dma: u64 (padded to 24); handle, address, physical.
    let reply = cat(&[
        &HB,
        &[0, 0, 0, 0, 0, 0xc0, 0xff, 0xff],
        &[0, 0, 0x80, 0, 0, 0, 0, 0],
    ]);
    let r = exchange(&reply, || ext::allocate_dma(0x2000));
    assert_eq!(
        sent(r, 28, &cat(&[&[0, 0x20], &z(22)])),
        Ok(ext::AllocateDmaReply {
            handle: ext::DmaBufferHandle(H),
            address: 0xffff_c000_0000_0000,
            physical: 0x80_0000,
        })
    );
    // 33 uptime-us: nothing; u64.
    let r = exchange(&HB, ext::uptime_us);
    assert_eq!(sent(r, 33, &z(8)), Ok(H));
    // 34 deliver-packet: handle, frame tail (no prefix, no padding).
    let r = exchange(&[], || {
        ext::deliver_packet(ext::DeviceHandle(H), &[0xaa, 0xbb, 0xcc])
    });
    assert_eq!(sent(r, 34, &cat(&[&HB, &[0xaa, 0xbb, 0xcc]])), Ok(()));
    let frame = [0x55u8; 1514];
    let r = exchange(&[], || ext::deliver_packet(ext::DeviceHandle(H), &frame));
    assert_eq!(sent(r, 34, &cat(&[&HB, &frame])), Ok(()));
    // 36 null-service-with-data: data tail, whatever buffer it was built in.
    let r = exchange(&[], || ext::null_service_with_data(&[1, 2]));
    assert_eq!(sent(r, 36, &[1, 2]), Ok(()));
    let r = exchange(&[], || ext::null_service_with_data(&[]));
    assert_eq!(sent(r, 36, &[]), Ok(()));
    let data = [0x33u8; 4096];
    let r = exchange(&[], || ext::null_service_with_data(&data));
    assert_eq!(sent(r, 36, &data), Ok(()));
}

#[test]
fn malformed_service_replies_are_bad_messages() {
    // A bar kind that is not one.
    let reply = cat(&[&[3], &[0; 16]]);
    let r = exchange(&reply, || ext::read_pci_bar(ext::PciDeviceHandle(1), 0));
    assert_eq!(r.0, Err(Status::BadMessage));
    // A status code that is not one.
    let r = exchange(&[7, 0, 0, 0, 0, 0, 0, 0], || ext::call_back(2, 0));
    assert_eq!(r.0, Err(Status::BadMessage));
    // A kernel status other than Ok is the error, whatever the message.
    let result = with_kernel(|_, _| Status::NoResources, || ext::allocate_dma(1));
    assert_eq!(result, Err(Status::NoResources));
}

/// Records each entry request the kernel side sends; answers `Ok` with
/// `reply` written over the message.
struct Recorded {
    sent: Vec<(u64, Vec<u8>)>,
}

impl Recorded {
    fn transport<'a>(
        &'a mut self,
        reply: &'a [u8],
    ) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> + 'a {
        move |operation, message| {
            self.sent.push((operation, message.to_vec()));
            message[..reply.len()].copy_from_slice(reply);
            Ok((Status::Ok, reply.len()))
        }
    }

    /// The one request sent since the last call.
    fn last(&mut self) -> (u64, Vec<u8>) {
        assert_eq!(self.sent.len(), 1);
        self.sent.pop().unwrap()
    }
}

#[test]
fn entry_requests_and_replies_byte_for_byte() {
    let mut r = Recorded { sent: Vec::new() };
    let device = kernel::DeviceHandle(H);

    // 0 init: u32, u32, u64, u64, u64; u32, bool.
    let answer = kernel::init(&mut r.transport(&[2, 0, 0, 0, 1]), 2, 3, 4, 5, 6);
    assert_eq!(
        answer,
        Ok(kernel::InitReply {
            abi_version: 2,
            implements_crash: true
        })
    );
    let mut init = vec![2, 0, 0, 0, 3, 0, 0, 0];
    for value in [4u8, 5, 6] {
        init.extend([value, 0, 0, 0, 0, 0, 0, 0]);
    }
    assert_eq!(r.last(), (0, init));
    // 1 crash: kind u32, target u64.
    kernel::crash(&mut r.transport(&[]), kernel::CrashKind::Panic, H).unwrap();
    assert_eq!(r.last(), (1, cat(&[&[10, 0, 0, 0], &HB])));
    // 2 null, 6 remove: empty.
    kernel::null(&mut r.transport(&[])).unwrap();
    assert_eq!(r.last(), (2, vec![]));
    kernel::remove(&mut r.transport(&[])).unwrap();
    assert_eq!(r.last(), (6, vec![]));
    // 3 call-kernel-null: u64.
    kernel::call_kernel_null(&mut r.transport(&[]), 1).unwrap();
    assert_eq!(r.last(), (3, vec![1, 0, 0, 0, 0, 0, 0, 0]));
    // 4 interrupt: u8; keep-masked bool.
    assert_eq!(kernel::interrupt(&mut r.transport(&[1]), 7), Ok(true));
    assert_eq!(r.last(), (4, vec![7]));
    assert_eq!(kernel::interrupt(&mut r.transport(&[0]), 7), Ok(false));
    assert_eq!(r.last(), (4, vec![7]));
    // 5 timer: handle.
    kernel::timer(&mut r.transport(&[]), kernel::TimerHandle(H)).unwrap();
    assert_eq!(r.last(), (5, HB.to_vec()));
    // 7 null-with-data: data tail.
    kernel::null_with_data(&mut r.transport(&[]), &[5, 6, 7]).unwrap();
    assert_eq!(r.last(), (7, vec![5, 6, 7]));
    kernel::null_with_data(&mut r.transport(&[]), &[9; 100]).unwrap();
    assert_eq!(r.last(), (7, vec![9; 100]));
    // 0x10 character-read: handle, u16, padded to the 4096-byte reply;
    // data tail.
    let mut data = [0u8; 8];
    assert_eq!(
        kernel::character_read(&mut r.transport(b"abc"), device, 8, &mut data),
        Ok(3)
    );
    assert_eq!(&data[..3], b"abc");
    let mut request = cat(&[&HB, &[8, 0]]);
    request.resize(4096, 0);
    assert_eq!(r.last(), (0x10, request));
    // 0x11 character-write: handle, data with a u16 prefix; u16.
    assert_eq!(
        kernel::character_write(&mut r.transport(&[2, 1]), device, b"hey"),
        Ok(0x0102)
    );
    assert_eq!(r.last(), (0x11, cat(&[&HB, &[3, 0], b"hey"])));
    assert_eq!(
        kernel::character_write(&mut r.transport(&[0, 1]), device, &[0xab; 300]),
        Ok(0x0100)
    );
    assert_eq!(r.last(), (0x11, cat(&[&HB, &[0x2c, 1], &[0xab; 300]])));
    // 0x12 character-control: handle, u32, u64; u64.
    assert_eq!(
        kernel::character_control(&mut r.transport(&HB), device, 0x5401, 9),
        Ok(H)
    );
    assert_eq!(
        r.last(),
        (
            0x12,
            cat(&[&HB, &[1, 0x54, 0, 0], &[9, 0, 0, 0, 0, 0, 0, 0]])
        )
    );
    // 0x20 block-capacity: handle, padded to the 12-byte reply; u64, u32.
    let reply = cat(&[&HB, &[0, 2, 0, 0]]);
    assert_eq!(
        kernel::block_capacity(&mut r.transport(&reply), device),
        Ok(kernel::BlockCapacityReply {
            sectors: H,
            sector_size: 512
        })
    );
    assert_eq!(r.last(), (0x20, cat(&[&HB, &[0; 4]])));
    // 0x21 block-submit: handle, operation u8, sector u64, sectors u16,
    // write data with a u16 prefix, padded to the 4096-byte reply; read
    // data tail.
    let mut read = [0u8; 4];
    assert_eq!(
        kernel::block_submit(
            &mut r.transport(&[9, 8]),
            device,
            kernel::BlockOperation::Write,
            0x0a0b,
            1,
            &[0xee, 0xff],
            &mut read,
        ),
        Ok(2)
    );
    assert_eq!(read, [9, 8, 0, 0]);
    let mut request = cat(&[
        &HB,
        &[2],
        &[0x0b, 0x0a, 0, 0, 0, 0, 0, 0],
        &[1, 0],
        &[2, 0, 0xee, 0xff],
    ]);
    request.resize(4096, 0);
    assert_eq!(r.last(), (0x21, request));
    // With 4096 bytes of data the request (4117) is longer than the reply.
    kernel::block_submit(
        &mut r.transport(&[]),
        device,
        kernel::BlockOperation::Write,
        0,
        8,
        &[0x11; 4096],
        &mut [],
    )
    .unwrap();
    let (operation, request) = r.last();
    assert_eq!((operation, request.len()), (0x21, 4117));
    assert_eq!(request[19..21], [0x00, 0x10]);
    // 0x30 network-open, 0x31 network-stop, 0x42 sound-stop: a handle.
    kernel::network_open(&mut r.transport(&[]), device).unwrap();
    assert_eq!(r.last(), (0x30, HB.to_vec()));
    kernel::network_stop(&mut r.transport(&[]), device).unwrap();
    assert_eq!(r.last(), (0x31, HB.to_vec()));
    kernel::sound_stop(&mut r.transport(&[]), device).unwrap();
    assert_eq!(r.last(), (0x42, HB.to_vec()));
    // 0x32 network-transmit: handle, frame tail.
    kernel::network_transmit(&mut r.transport(&[]), device, &[1, 2, 3]).unwrap();
    assert_eq!(r.last(), (0x32, cat(&[&HB, &[1, 2, 3]])));
    // 0x33 network-statistics: handle, padded to the 41-byte reply; five
    // u64 and a bool.
    let mut reply = Vec::new();
    for value in 1u8..=5 {
        reply.extend([value, 0, 0, 0, 0, 0, 0, 0]);
    }
    reply.push(1);
    assert_eq!(
        kernel::network_statistics(&mut r.transport(&reply), device),
        Ok(kernel::NetworkStatisticsReply {
            received_packets: 1,
            sent_packets: 2,
            received_bytes: 3,
            sent_bytes: 4,
            errors: 5,
            link_up: true,
        })
    );
    assert_eq!(r.last(), (0x33, cat(&[&HB, &[0; 33]])));
    // 0x34 network-mac-address: handle (8 bytes, more than the 6-byte
    // reply); address tail.
    let mut mac = [0u8; 6];
    assert_eq!(
        kernel::network_mac_address(
            &mut r.transport(&[2, 0, 0, 0xab, 0xcd, 0xef]),
            device,
            &mut mac
        ),
        Ok(6)
    );
    assert_eq!(mac, [2, 0, 0, 0xab, 0xcd, 0xef]);
    assert_eq!(r.last(), (0x34, HB.to_vec()));
    // 0x40 sound-open: handle, u32, u8, u8.
    kernel::sound_open(&mut r.transport(&[]), device, 48_000, 2, 16).unwrap();
    assert_eq!(r.last(), (0x40, cat(&[&HB, &[0x80, 0xbb, 0, 0], &[2, 16]])));
    // 0x41 sound-play-period: handle, samples tail.
    kernel::sound_play_period(&mut r.transport(&[]), device, &[7; 5]).unwrap();
    assert_eq!(r.last(), (0x41, cat(&[&HB, &[7; 5]])));
}
