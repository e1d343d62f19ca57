//! The message model (`extension_abi::layout`) against the generated
//! kernel dispatch of `kernel.idl`, for every service in the table: the
//! model's valid messages reach the implementation with the handle where
//! the model put it, and every malformation it makes is refused with
//! `BadMessage` before the implementation runs. The kernel's hostile tests
//! build their messages with this model, so this is what makes their
//! "malformed" and "bad handle" cases mean what they say.
//!
//! (Random messages are covered by `wrappers/idl-fixture`; these are the
//! structured, per-argument ones.)

use deterministic_rng::XorShift;
use extension_abi::interfaces::kernel::{ENTRIES, SERVICES};
use extension_abi::layout::{Layout, Malformation, Shape};
use extension_abi::{MAX_MESSAGE_BYTES, Status};

#[allow(dead_code, reason = "the entry functions are not used here")]
mod kernel_side {
    include!("../../../wrappers/generated/kernel_kernel_side.rs");
}

use kernel_side::*;

/// Records which service ran and the handle it was given.
#[derive(Default)]
struct Recorder {
    calls: Vec<(&'static str, Option<u64>)>,
}

impl Recorder {
    fn ran(&mut self, name: &'static str, handle: Option<u64>) -> Result<(), Status> {
        self.calls.push((name, handle));
        Ok(())
    }
}

impl Services for Recorder {
    fn log(&mut self, _: Level, _: &str) -> Result<(), Status> {
        self.ran("log", None)
    }
    fn panic(&mut self, _: &str) -> Result<(), Status> {
        self.ran("panic", None)
    }
    fn yield_now(&mut self) -> Result<(), Status> {
        self.ran("yield-now", None)
    }
    fn sleep_ms(&mut self, _: u64) -> Result<(), Status> {
        self.ran("sleep-ms", None)
    }
    fn null_service(&mut self) -> Result<(), Status> {
        self.ran("null-service", None)
    }
    fn call_back(&mut self, _: u64, _: u64) -> Result<Status, Status> {
        self.ran("call-back", None).map(|()| Status::Ok)
    }
    fn uptime_ms(&mut self) -> Result<u64, Status> {
        self.ran("uptime-ms", None).map(|()| 0)
    }
    fn grant_memory(&mut self, _: u64) -> Result<GrantMemoryReply, Status> {
        self.ran("grant-memory", None).map(|()| GrantMemoryReply {
            handle: MemoryHandle(0),
            address: 0,
        })
    }
    fn release_memory(&mut self, handle: MemoryHandle) -> Result<(), Status> {
        self.ran("release-memory", Some(handle.0))
    }
    fn request_io_ports(&mut self, _: u16, _: u16) -> Result<IoPortsHandle, Status> {
        self.ran("request-io-ports", None)
            .map(|()| IoPortsHandle(0))
    }
    fn release_io_ports(&mut self, handle: IoPortsHandle) -> Result<(), Status> {
        self.ran("release-io-ports", Some(handle.0))
    }
    fn request_interrupt(&mut self, _: u8) -> Result<InterruptHandle, Status> {
        self.ran("request-interrupt", None)
            .map(|()| InterruptHandle(0))
    }
    fn free_interrupt(&mut self, handle: InterruptHandle) -> Result<(), Status> {
        self.ran("free-interrupt", Some(handle.0))
    }
    fn start_timer(&mut self, _: u64, _: bool) -> Result<TimerHandle, Status> {
        self.ran("start-timer", None).map(|()| TimerHandle(0))
    }
    fn cancel_timer(&mut self, handle: TimerHandle) -> Result<(), Status> {
        self.ran("cancel-timer", Some(handle.0))
    }
    fn register_device(&mut self, _: DeviceClass, _: &str) -> Result<DeviceHandle, Status> {
        self.ran("register-device", None).map(|()| DeviceHandle(0))
    }
    fn unregister_device(&mut self, handle: DeviceHandle) -> Result<(), Status> {
        self.ran("unregister-device", Some(handle.0))
    }
    fn read_io_port(
        &mut self,
        ports: IoPortsHandle,
        _: u16,
        _: AccessWidth,
    ) -> Result<u32, Status> {
        self.ran("read-io-port", Some(ports.0)).map(|()| 0)
    }
    fn write_io_port(
        &mut self,
        ports: IoPortsHandle,
        _: u16,
        _: AccessWidth,
        _: u32,
    ) -> Result<(), Status> {
        self.ran("write-io-port", Some(ports.0))
    }
    fn claim_pci_device(&mut self, _: u16, _: u16, _: u8) -> Result<ClaimPciDeviceReply, Status> {
        self.ran("claim-pci-device", None)
            .map(|()| ClaimPciDeviceReply {
                handle: PciDeviceHandle(0),
                interrupt_line: 0,
            })
    }
    fn release_pci_device(&mut self, handle: PciDeviceHandle) -> Result<(), Status> {
        self.ran("release-pci-device", Some(handle.0))
    }
    fn read_pci_config(
        &mut self,
        device: PciDeviceHandle,
        _: u8,
        _: AccessWidth,
    ) -> Result<u32, Status> {
        self.ran("read-pci-config", Some(device.0)).map(|()| 0)
    }
    fn write_pci_config(
        &mut self,
        device: PciDeviceHandle,
        _: u8,
        _: AccessWidth,
        _: u32,
    ) -> Result<(), Status> {
        self.ran("write-pci-config", Some(device.0))
    }
    fn read_pci_bar(&mut self, device: PciDeviceHandle, _: u8) -> Result<ReadPciBarReply, Status> {
        self.ran("read-pci-bar", Some(device.0))
            .map(|()| ReadPciBarReply {
                kind: BarKind::Unused,
                base: 0,
                size: 0,
            })
    }
    fn set_pci_bus_mastering(&mut self, device: PciDeviceHandle, _: bool) -> Result<(), Status> {
        self.ran("set-pci-bus-mastering", Some(device.0))
    }
    fn map_mmio(&mut self, device: PciDeviceHandle, _: u8) -> Result<MapMmioReply, Status> {
        self.ran("map-mmio", Some(device.0)).map(|()| MapMmioReply {
            handle: MmioHandle(0),
            address: 0,
            length: 0,
        })
    }
    fn unmap_mmio(&mut self, handle: MmioHandle) -> Result<(), Status> {
        self.ran("unmap-mmio", Some(handle.0))
    }
    fn allocate_dma(&mut self, _: u64) -> Result<AllocateDmaReply, Status> {
        self.ran("allocate-dma", None).map(|()| AllocateDmaReply {
            handle: DmaBufferHandle(0),
            address: 0,
            physical: 0,
        })
    }
    fn free_dma(&mut self, handle: DmaBufferHandle) -> Result<(), Status> {
        self.ran("free-dma", Some(handle.0))
    }
    fn disable_interrupt(&mut self, handle: InterruptHandle) -> Result<(), Status> {
        self.ran("disable-interrupt", Some(handle.0))
    }
    fn enable_interrupt(&mut self, handle: InterruptHandle) -> Result<(), Status> {
        self.ran("enable-interrupt", Some(handle.0))
    }
    fn acknowledge_interrupt(&mut self, handle: InterruptHandle) -> Result<(), Status> {
        self.ran("acknowledge-interrupt", Some(handle.0))
    }
    fn uptime_us(&mut self) -> Result<u64, Status> {
        self.ran("uptime-us", None).map(|()| 0)
    }
    fn deliver_packet(&mut self, device: DeviceHandle, _: &[u8]) -> Result<(), Status> {
        self.ran("deliver-packet", Some(device.0))
    }
    fn period_finished(&mut self, device: DeviceHandle) -> Result<(), Status> {
        self.ran("period-finished", Some(device.0))
    }
    fn deliver_packets(&mut self, device: DeviceHandle, _: u16, _: &[u8]) -> Result<(), Status> {
        self.ran("deliver-packets", Some(device.0))
    }
    fn tcp_listen(&mut self, _: u16, _: u8) -> Result<SocketHandle, Status> {
        self.ran("tcp-listen", None).map(|()| SocketHandle(0))
    }
    fn tcp_accept(&mut self, listener: SocketHandle) -> Result<TcpAcceptReply, Status> {
        self.ran("tcp-accept", Some(listener.0))
            .map(|()| TcpAcceptReply {
                accepted: false,
                socket: SocketHandle(0),
            })
    }
    fn tcp_receive(
        &mut self,
        socket: SocketHandle,
        _: u16,
        _: &mut [u8],
    ) -> Result<TcpReceiveReply, Status> {
        self.ran("tcp-receive", Some(socket.0))
            .map(|()| TcpReceiveReply {
                state: ConnectionState::Closed,
                data_length: 0,
            })
    }
    fn tcp_send(&mut self, socket: SocketHandle, _: &[u8]) -> Result<u16, Status> {
        self.ran("tcp-send", Some(socket.0)).map(|()| 0)
    }
    fn tcp_close(&mut self, socket: SocketHandle) -> Result<(), Status> {
        self.ran("tcp-close", Some(socket.0))
    }
    fn null_service_with_data(&mut self, _: &[u8]) -> Result<(), Status> {
        self.ran("null-service-with-data", None)
    }
}

/// Runs `service` on a copy of `message`: its status and what ran.
fn run(service: u64, message: &[u8]) -> (Status, Vec<(&'static str, Option<u64>)>) {
    let mut copy = message.to_vec();
    let mut recorder = Recorder::default();
    let status = dispatch(service, &mut copy, &mut recorder);
    (status, recorder.calls)
}

#[test]
fn every_operation_of_the_table_has_a_layout_that_matches_its_sizes() {
    for info in SERVICES.iter().chain(ENTRIES) {
        let layout = Layout::of_kernel(info).unwrap_or_else(|error| {
            panic!("{}: no layout ({error:?})", info.name);
        });
        assert!(
            layout.min_request() <= layout.max_request(),
            "{}",
            info.name
        );
        assert!(layout.max_request() <= MAX_MESSAGE_BYTES, "{}", info.name);
    }
    // Spot checks of the inferred length encodings.
    let register = SERVICES
        .iter()
        .find(|s| s.name == "register-device")
        .unwrap();
    let layout = Layout::of_kernel(register).unwrap();
    assert!(matches!(
        layout.request().nth(1).unwrap().shape,
        Shape::Buffer {
            max: 31,
            prefix: 1,
            text: true
        }
    ));
    let log = SERVICES.iter().find(|s| s.name == "log").unwrap();
    let layout = Layout::of_kernel(log).unwrap();
    assert!(matches!(
        layout.request().nth(1).unwrap().shape,
        Shape::Buffer {
            max: 255,
            prefix: 0,
            text: true
        }
    ));
    assert_eq!(layout.min_request(), 1);
}

#[test]
fn valid_messages_reach_the_implementation_with_the_handle_in_place() {
    let mut rng = XorShift::new(0x1a_7001);
    for info in SERVICES {
        let layout = Layout::of_kernel(info).unwrap();
        for _ in 0..64 {
            let handle = rng.next();
            let mut message = vec![0u8; MAX_MESSAGE_BYTES];
            let length = layout.write_valid(&mut message, handle).unwrap();
            assert_eq!(
                length,
                layout.min_request().max(layout.max_reply()),
                "{}: the valid message's length",
                info.name
            );
            let (status, calls) = run(info.number, &message[..length]);
            assert_eq!(status, Status::Ok, "{}: a valid message", info.name);
            let expected = layout.takes_handle(None).then_some(handle);
            assert_eq!(calls, [(info.name, expected)], "{}", info.name);
        }
    }
}

#[test]
fn every_malformation_is_refused_before_the_implementation_runs() {
    let mut cases = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for info in SERVICES {
        let layout = Layout::of_kernel(info).unwrap();
        for malformation in layout.malformations() {
            let mut message = vec![0u8; MAX_MESSAGE_BYTES + 1];
            let length = layout
                .write_malformed(malformation, &mut message, 0x1234)
                .unwrap_or_else(|| panic!("{}: cannot write {malformation:?}", info.name));
            assert!(
                length <= MAX_MESSAGE_BYTES,
                "{}: {malformation:?}",
                info.name
            );
            let (status, calls) = run(info.number, &message[..length]);
            assert_eq!(
                (status, calls.len()),
                (Status::BadMessage, 0),
                "{} with {} ({malformation:?}): {} bytes {:02x?}",
                info.name,
                malformation.name(),
                length,
                &message[..length.min(48)]
            );
            cases += 1;
            kinds.insert(malformation.name());
        }
    }
    // Every kind of malformation the interface allows occurs somewhere.
    for kind in [
        Malformation::TooShortForRequest,
        Malformation::TooShortForReply,
        Malformation::BadEnumCode(0),
        Malformation::BadBool(0),
        Malformation::NotUtf8(0),
        Malformation::LengthOverMax(0),
        Malformation::LengthBeyondMessage(0),
    ] {
        assert!(kinds.contains(kind.name()), "no service is {}", kind.name());
    }
    assert!(cases >= 40, "only {cases} malformed messages");
}

/// Random single-byte corruptions of valid messages: the dispatch either
/// refuses them (and runs nothing) or runs exactly the service, and a
/// corrupted enumeration or bool byte is always refused.
#[test]
fn corrupted_valid_messages_are_refused_or_run_exactly_once() {
    let mut rng = XorShift::new(0x1a_7002);
    for info in SERVICES {
        let layout = Layout::of_kernel(info).unwrap();
        let mut valid = vec![0u8; MAX_MESSAGE_BYTES];
        let length = layout.write_valid(&mut valid, 7).unwrap();
        if length == 0 {
            continue;
        }
        // Where each fixed request value starts (buffers are empty).
        let mut offsets = Vec::new();
        let mut position = 0;
        for value in layout.request() {
            offsets.push((position, value.shape));
            position += match value.shape {
                Shape::Buffer { prefix, .. } => prefix,
                shape => shape.fixed_size().unwrap(),
            };
        }
        for _ in 0..2_000 {
            let mut message = valid[..length].to_vec();
            let index = rng.below(length as u64) as usize;
            let byte = rng.next() as u8;
            message[index] = byte;
            let (status, calls) = run(info.number, &message);
            match status {
                Status::BadMessage => assert!(calls.is_empty(), "{}", info.name),
                Status::Ok => assert_eq!(calls.len(), 1, "{}", info.name),
                other => panic!("{}: {other:?}", info.name),
            }
            for &(start, shape) in &offsets {
                let refused = match shape {
                    Shape::Bool => index == start && byte > 1,
                    Shape::Enum(e) if e.width == 1 => {
                        index == start && !(e.is_valid)(u64::from(byte))
                    }
                    _ => false,
                };
                if refused {
                    assert_eq!(
                        status,
                        Status::BadMessage,
                        "{}: byte {index} = {byte}",
                        info.name
                    );
                }
            }
        }
    }
}
