//! Round trips through the generated code for `kernel.idl`: every service
//! from the generated extension-side function through the generated kernel
//! dispatch to a test `Services` implementation and back; every entry from
//! the generated kernel-side function through a transport and the generated
//! extension-side `dispatch` to a test `Entries` implementation and back.

use extension_abi::{
    ABI_VERSION, CallError, InitAnswer, InitArguments, MessageReader, MessageWriter, Status,
};
use idl_fixture::extension_api::with_kernel;
use idl_fixture::kernel_extension as ext;
use idl_fixture::kernel_kernel as kernel;
use std::cell::RefCell;
use std::rc::Rc;

/// A kernel that records every call it gets, with its typed arguments, and
/// answers values derived from them (so a reply that crossed wrongly shows).
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
}

impl Recorder {
    fn record(&mut self, call: String) -> Result<(), Status> {
        self.calls.push(call);
        Ok(())
    }
}

impl kernel::Services for Recorder {
    fn log(&mut self, level: kernel::Level, text: &str) -> Result<(), Status> {
        self.record(format!("log {level:?} {text}"))
    }
    fn panic(&mut self, text: &str) -> Result<(), Status> {
        self.record(format!("panic {text}"))?;
        Err(Status::Refused)
    }
    fn yield_now(&mut self) -> Result<(), Status> {
        self.record("yield".into())
    }
    fn sleep_ms(&mut self, milliseconds: u64) -> Result<(), Status> {
        self.record(format!("sleep {milliseconds}"))
    }
    fn null_service(&mut self) -> Result<(), Status> {
        self.record("null".into())
    }
    fn call_back(&mut self, operation: u64, argument: u64) -> Result<Status, Status> {
        self.record(format!("call-back {operation:#x} {argument}"))?;
        Ok(if argument == 0 {
            Status::Ok
        } else {
            Status::ExtensionFailed
        })
    }
    fn uptime_ms(&mut self) -> Result<u64, Status> {
        self.record("uptime-ms".into())?;
        Ok(123_456)
    }
    fn grant_memory(&mut self, pages: u64) -> Result<kernel::GrantMemoryReply, Status> {
        self.record(format!("grant {pages}"))?;
        if pages == 0 {
            return Err(Status::Refused);
        }
        Ok(kernel::GrantMemoryReply {
            handle: kernel::MemoryHandle(0x0123_4567_89ab_cdef),
            address: 0xffff_c000_0100_0000 + pages,
        })
    }
    fn release_memory(&mut self, handle: kernel::MemoryHandle) -> Result<(), Status> {
        self.record(format!("release-memory {:#x}", handle.0))
    }
    fn request_io_ports(
        &mut self,
        first: u16,
        count: u16,
    ) -> Result<kernel::IoPortsHandle, Status> {
        self.record(format!("ports {first:#x} {count}"))?;
        Ok(kernel::IoPortsHandle(
            u64::from(first) << 16 | u64::from(count),
        ))
    }
    fn release_io_ports(&mut self, handle: kernel::IoPortsHandle) -> Result<(), Status> {
        self.record(format!("release-ports {:#x}", handle.0))
    }
    fn request_interrupt(&mut self, line: u8) -> Result<kernel::InterruptHandle, Status> {
        self.record(format!("irq {line}"))?;
        if line >= 16 {
            return Err(Status::Refused);
        }
        Ok(kernel::InterruptHandle(u64::from(line) + 100))
    }
    fn free_interrupt(&mut self, handle: kernel::InterruptHandle) -> Result<(), Status> {
        self.record(format!("free-irq {}", handle.0))
    }
    fn start_timer(
        &mut self,
        milliseconds: u64,
        periodic: bool,
    ) -> Result<kernel::TimerHandle, Status> {
        self.record(format!("timer {milliseconds} {periodic}"))?;
        Ok(kernel::TimerHandle(milliseconds * 2 + u64::from(periodic)))
    }
    fn cancel_timer(&mut self, handle: kernel::TimerHandle) -> Result<(), Status> {
        self.record(format!("cancel {}", handle.0))
    }
    fn register_device(
        &mut self,
        class: kernel::DeviceClass,
        name: &str,
    ) -> Result<kernel::DeviceHandle, Status> {
        self.record(format!("device {} {name}", class.name()))?;
        Ok(kernel::DeviceHandle(
            u64::from(class.code()) << 8 | name.len() as u64,
        ))
    }
    fn unregister_device(&mut self, handle: kernel::DeviceHandle) -> Result<(), Status> {
        self.record(format!("unregister {:#x}", handle.0))
    }
    fn read_io_port(
        &mut self,
        ports: kernel::IoPortsHandle,
        offset: u16,
        width: kernel::AccessWidth,
    ) -> Result<u32, Status> {
        self.record(format!("in {:#x}+{offset} {}", ports.0, width.name()))?;
        Ok(0xab00_0000 | u32::from(offset) << 8 | u32::from(width.code()))
    }
    fn write_io_port(
        &mut self,
        ports: kernel::IoPortsHandle,
        offset: u16,
        width: kernel::AccessWidth,
        value: u32,
    ) -> Result<(), Status> {
        self.record(format!(
            "out {:#x}+{offset} {} {value:#x}",
            ports.0,
            width.name()
        ))
    }
    fn claim_pci_device(
        &mut self,
        vendor: u16,
        device: u16,
        index: u8,
    ) -> Result<kernel::ClaimPciDeviceReply, Status> {
        self.record(format!("claim {vendor:04x}:{device:04x} {index}"))?;
        if index > 0 {
            return Err(Status::Refused);
        }
        Ok(kernel::ClaimPciDeviceReply {
            handle: kernel::PciDeviceHandle(u64::from(vendor) << 16 | u64::from(device)),
            interrupt_line: 11,
        })
    }
    fn release_pci_device(&mut self, handle: kernel::PciDeviceHandle) -> Result<(), Status> {
        self.record(format!("release-pci {:#x}", handle.0))
    }
    fn read_pci_config(
        &mut self,
        device: kernel::PciDeviceHandle,
        offset: u8,
        width: kernel::AccessWidth,
    ) -> Result<u32, Status> {
        self.record(format!(
            "config-read {:#x} {offset:#x} {}",
            device.0,
            width.name()
        ))?;
        Ok(0x1234_0000 | u32::from(offset))
    }
    fn write_pci_config(
        &mut self,
        device: kernel::PciDeviceHandle,
        offset: u8,
        width: kernel::AccessWidth,
        value: u32,
    ) -> Result<(), Status> {
        self.record(format!(
            "config-write {:#x} {offset:#x} {} {value:#x}",
            device.0,
            width.name()
        ))?;
        if (0x10..0x28).contains(&offset) {
            return Err(Status::Refused);
        }
        Ok(())
    }
    fn read_pci_bar(
        &mut self,
        device: kernel::PciDeviceHandle,
        index: u8,
    ) -> Result<kernel::ReadPciBarReply, Status> {
        self.record(format!("bar {:#x} {index}", device.0))?;
        Ok(match index {
            0 => kernel::ReadPciBarReply {
                kind: kernel::BarKind::Memory,
                base: 0xfebc_0000,
                size: 0x2_0000,
            },
            1 => kernel::ReadPciBarReply {
                kind: kernel::BarKind::IoPorts,
                base: 0xc000,
                size: 0x40,
            },
            _ => kernel::ReadPciBarReply {
                kind: kernel::BarKind::Unused,
                base: 0,
                size: 0,
            },
        })
    }
    fn set_pci_bus_mastering(
        &mut self,
        device: kernel::PciDeviceHandle,
        enabled: bool,
    ) -> Result<(), Status> {
        self.record(format!("bus-master {:#x} {enabled}", device.0))
    }
    fn map_mmio(
        &mut self,
        device: kernel::PciDeviceHandle,
        bar: u8,
    ) -> Result<kernel::MapMmioReply, Status> {
        self.record(format!("map {:#x} {bar}", device.0))?;
        Ok(kernel::MapMmioReply {
            handle: kernel::MmioHandle(0x300 + u64::from(bar)),
            address: 0xffff_d000_0000_0000,
            length: 0x2_0000,
        })
    }
    fn unmap_mmio(&mut self, handle: kernel::MmioHandle) -> Result<(), Status> {
        self.record(format!("unmap {:#x}", handle.0))
    }
    fn allocate_dma(&mut self, bytes: u64) -> Result<kernel::AllocateDmaReply, Status> {
        self.record(format!("dma {bytes}"))?;
        if bytes > 256 * 1024 {
            return Err(Status::NoResources);
        }
        Ok(kernel::AllocateDmaReply {
            handle: kernel::DmaBufferHandle(0x100 + bytes),
            address: 0xffff_c000_2000_0000,
            physical: 0x0080_0000,
        })
    }
    fn free_dma(&mut self, handle: kernel::DmaBufferHandle) -> Result<(), Status> {
        self.record(format!("free-dma {:#x}", handle.0))
    }
    fn disable_interrupt(&mut self, handle: kernel::InterruptHandle) -> Result<(), Status> {
        self.record(format!("mask {}", handle.0))
    }
    fn enable_interrupt(&mut self, handle: kernel::InterruptHandle) -> Result<(), Status> {
        self.record(format!("unmask {}", handle.0))
    }
    fn acknowledge_interrupt(&mut self, handle: kernel::InterruptHandle) -> Result<(), Status> {
        self.record(format!("acknowledge {}", handle.0))
    }
    fn uptime_us(&mut self) -> Result<u64, Status> {
        self.record("uptime-us".into())?;
        Ok(123_456_789)
    }
    fn deliver_packet(&mut self, device: kernel::DeviceHandle, frame: &[u8]) -> Result<(), Status> {
        let checksum: u64 = frame.iter().map(|&byte| u64::from(byte)).sum();
        self.record(format!(
            "packet {:#x} {} bytes, sum {checksum}",
            device.0,
            frame.len()
        ))
    }
    fn period_finished(&mut self, device: kernel::DeviceHandle) -> Result<(), Status> {
        self.record(format!("period {:#x}", device.0))
    }
    fn deliver_packets(
        &mut self,
        device: kernel::DeviceHandle,
        count: u16,
        frames: &[u8],
    ) -> Result<(), Status> {
        self.record(format!(
            "packets {:#x} {count} in {} bytes",
            device.0,
            frames.len()
        ))
    }
    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<kernel::SocketHandle, Status> {
        self.record(format!("listen {port} {backlog}"))?;
        Ok(kernel::SocketHandle(0x1100))
    }
    fn tcp_accept(
        &mut self,
        listener: kernel::SocketHandle,
    ) -> Result<kernel::TcpAcceptReply, Status> {
        self.record(format!("accept {:#x}", listener.0))?;
        Ok(kernel::TcpAcceptReply {
            accepted: true,
            socket: kernel::SocketHandle(0x1101),
        })
    }
    fn tcp_receive(
        &mut self,
        socket: kernel::SocketHandle,
        length: u16,
        data: &mut [u8],
    ) -> Result<kernel::TcpReceiveReply, Status> {
        self.record(format!("receive {:#x} {length}", socket.0))?;
        data[..3].copy_from_slice(b"GET");
        Ok(kernel::TcpReceiveReply {
            state: kernel::ConnectionState::PeerClosed,
            data_length: 3,
        })
    }
    fn tcp_send(&mut self, socket: kernel::SocketHandle, data: &[u8]) -> Result<u16, Status> {
        self.record(format!("send {:#x} {} bytes", socket.0, data.len()))?;
        Ok(data.len() as u16)
    }
    fn tcp_close(&mut self, socket: kernel::SocketHandle) -> Result<(), Status> {
        self.record(format!("close {:#x}", socket.0))
    }
    fn null_service_with_data(&mut self, data: &[u8]) -> Result<(), Status> {
        self.record(format!(
            "null-with {} bytes, last {:?}",
            data.len(),
            data.last()
        ))
    }
}

/// Runs `body` against a kernel made of the generated dispatch and a
/// [`Recorder`]; returns what `body` returned and the calls recorded.
fn with_recorder<R>(body: impl FnOnce() -> R) -> (R, Vec<String>) {
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let kernel_side = Rc::clone(&recorder);
    let result = with_kernel(
        move |service, message| kernel::dispatch(service, message, &mut *kernel_side.borrow_mut()),
        body,
    );
    let calls = recorder.borrow().calls.clone();
    (result, calls)
}

#[test]
fn the_first_services_round_trip() {
    let (results, calls) = with_recorder(|| {
        vec![
            format!("{:x?}", ext::log(ext::Level::Warn, "disk 3 is hot")),
            format!("{:x?}", ext::panic("boom")),
            format!("{:x?}", ext::yield_now()),
            format!("{:x?}", ext::sleep_ms(250)),
            format!("{:x?}", ext::null_service()),
            format!("{:x?}", ext::call_back(0x102, 0)),
            format!("{:x?}", ext::call_back(0x102, 1)),
            format!("{:x?}", ext::uptime_ms()),
            format!("{:x?}", ext::grant_memory(3)),
            format!("{:x?}", ext::grant_memory(0)),
            format!("{:x?}", ext::release_memory(ext::MemoryHandle(0xfeed))),
            format!("{:x?}", ext::request_io_ports(0x510, 4)),
            format!("{:x?}", ext::release_io_ports(ext::IoPortsHandle(7))),
            format!("{:x?}", ext::request_interrupt(5)),
            format!("{:x?}", ext::request_interrupt(16)),
            format!("{:x?}", ext::free_interrupt(ext::InterruptHandle(105))),
            format!("{:x?}", ext::start_timer(50, true)),
            format!("{:x?}", ext::cancel_timer(ext::TimerHandle(101))),
            format!(
                "{:x?}",
                ext::register_device(ext::DeviceClass::Block, "crashtest0")
            ),
            format!("{:x?}", ext::unregister_device(ext::DeviceHandle(10))),
        ]
    });
    assert_eq!(
        results,
        vec![
            "Ok(())",
            "Err(Refused)",
            "Ok(())",
            "Ok(())",
            "Ok(())",
            "Ok(Ok)",
            "Ok(ExtensionFailed)",
            "Ok(1e240)",
            "Ok(GrantMemoryReply { handle: MemoryHandle(123456789abcdef), address: ffffc00001000003 })",
            "Err(Refused)",
            "Ok(())",
            "Ok(IoPortsHandle(5100004))",
            "Ok(())",
            "Ok(InterruptHandle(69))",
            "Err(Refused)",
            "Ok(())",
            "Ok(TimerHandle(65))",
            "Ok(())",
            "Ok(DeviceHandle(20a))",
            "Ok(())",
        ]
    );
    assert_eq!(
        calls,
        vec![
            "log Warn disk 3 is hot",
            "panic boom",
            "yield",
            "sleep 250",
            "null",
            "call-back 0x102 0",
            "call-back 0x102 1",
            "uptime-ms",
            "grant 3",
            "grant 0",
            "release-memory 0xfeed",
            "ports 0x510 4",
            "release-ports 0x7",
            "irq 5",
            "irq 16",
            "free-irq 105",
            "timer 50 true",
            "cancel 101",
            "device block crashtest0",
            "unregister 0xa",
        ]
    );
}

#[test]
fn port_io_services_round_trip() {
    let ports = ext::IoPortsHandle(0x0510_0004);
    let (results, calls) = with_recorder(|| {
        (
            ext::read_io_port(ports, 3, ext::AccessWidth::Byte),
            ext::read_io_port(ports, 0x102, ext::AccessWidth::DoubleWord),
            ext::write_io_port(ports, 2, ext::AccessWidth::Word, 0xbeef),
        )
    });
    assert_eq!(results, (Ok(0xab00_0301), Ok(0xab01_0204), Ok(())));
    assert_eq!(
        calls,
        [
            "in 0x5100004+3 byte",
            "in 0x5100004+258 double-word",
            "out 0x5100004+2 word 0xbeef",
        ]
    );
}

#[test]
fn pci_services_round_trip() {
    let device = ext::PciDeviceHandle(0x8086_100e);
    let (results, calls) = with_recorder(|| {
        assert_eq!(
            ext::claim_pci_device(0x8086, 0x100e, 0),
            Ok(ext::ClaimPciDeviceReply {
                handle: device,
                interrupt_line: 11,
            })
        );
        assert_eq!(
            ext::claim_pci_device(0x8086, 0x100e, 1),
            Err(Status::Refused)
        );
        assert_eq!(
            ext::read_pci_config(device, 0x3c, ext::AccessWidth::Byte),
            Ok(0x1234_003c)
        );
        assert_eq!(
            ext::write_pci_config(device, 0x04, ext::AccessWidth::Word, 0x0107),
            Ok(())
        );
        assert_eq!(
            ext::write_pci_config(device, 0x10, ext::AccessWidth::DoubleWord, u32::MAX),
            Err(Status::Refused)
        );
        assert_eq!(
            ext::read_pci_bar(device, 0),
            Ok(ext::ReadPciBarReply {
                kind: ext::BarKind::Memory,
                base: 0xfebc_0000,
                size: 0x2_0000,
            })
        );
        assert_eq!(
            ext::read_pci_bar(device, 1),
            Ok(ext::ReadPciBarReply {
                kind: ext::BarKind::IoPorts,
                base: 0xc000,
                size: 0x40,
            })
        );
        assert_eq!(
            ext::read_pci_bar(device, 5),
            Ok(ext::ReadPciBarReply {
                kind: ext::BarKind::Unused,
                base: 0,
                size: 0,
            })
        );
        assert_eq!(ext::set_pci_bus_mastering(device, true), Ok(()));
        assert_eq!(ext::set_pci_bus_mastering(device, false), Ok(()));
        assert_eq!(ext::release_pci_device(device), Ok(()));
    });
    assert_eq!(results, ());
    assert_eq!(
        calls,
        [
            "claim 8086:100e 0",
            "claim 8086:100e 1",
            "config-read 0x8086100e 0x3c byte",
            "config-write 0x8086100e 0x4 word 0x107",
            "config-write 0x8086100e 0x10 double-word 0xffffffff",
            "bar 0x8086100e 0",
            "bar 0x8086100e 1",
            "bar 0x8086100e 5",
            "bus-master 0x8086100e true",
            "bus-master 0x8086100e false",
            "release-pci 0x8086100e",
        ]
    );
}

#[test]
fn mmio_and_dma_services_round_trip() {
    let (results, calls) = with_recorder(|| {
        (
            ext::map_mmio(ext::PciDeviceHandle(0x77), 2),
            ext::unmap_mmio(ext::MmioHandle(0x302)),
            ext::allocate_dma(8192),
            ext::allocate_dma(256 * 1024 + 1),
            ext::free_dma(ext::DmaBufferHandle(0x2100)),
        )
    });
    assert_eq!(
        results,
        (
            Ok(ext::MapMmioReply {
                handle: ext::MmioHandle(0x302),
                address: 0xffff_d000_0000_0000,
                length: 0x2_0000,
            }),
            Ok(()),
            Ok(ext::AllocateDmaReply {
                handle: ext::DmaBufferHandle(0x2100),
                address: 0xffff_c000_2000_0000,
                physical: 0x0080_0000,
            }),
            Err(Status::NoResources),
            Ok(()),
        )
    );
    assert_eq!(
        calls,
        [
            "map 0x77 2",
            "unmap 0x302",
            "dma 8192",
            "dma 262145",
            "free-dma 0x2100",
        ]
    );
}

#[test]
fn interrupt_clock_and_device_class_services_round_trip() {
    let line = ext::InterruptHandle(105);
    let frame: Vec<u8> = (0..1514u32).map(|index| index as u8).collect();
    let (results, calls) = with_recorder(|| {
        (
            ext::disable_interrupt(line),
            ext::enable_interrupt(line),
            ext::acknowledge_interrupt(line),
            ext::uptime_us(),
            ext::deliver_packet(ext::DeviceHandle(0x301), &frame),
            ext::deliver_packet(ext::DeviceHandle(0x301), &[]),
            ext::period_finished(ext::DeviceHandle(0x401)),
        )
    });
    assert_eq!(
        results,
        (
            Ok(()),
            Ok(()),
            Ok(()),
            Ok(123_456_789),
            Ok(()),
            Ok(()),
            Ok(())
        )
    );
    let sum: u64 = frame.iter().map(|&byte| u64::from(byte)).sum();
    assert_eq!(
        calls,
        [
            "mask 105".to_string(),
            "unmask 105".to_string(),
            "acknowledge 105".to_string(),
            "uptime-us".to_string(),
            format!("packet 0x301 1514 bytes, sum {sum}"),
            "packet 0x301 0 bytes, sum 0".to_string(),
            "period 0x401".to_string(),
        ]
    );
}

/// `null-service-with-data` sends a small request from a small buffer and
/// a large one from a large buffer: both arrive whole.
#[test]
fn the_data_service_round_trips_small_and_large() {
    let sizes = [0usize, 1, 63, 64, 65, 4095, 4096];
    let (results, calls) = with_recorder(|| {
        sizes
            .iter()
            .map(|&size| {
                let data: Vec<u8> = (0..size).map(|index| (index % 255) as u8 + 1).collect();
                ext::null_service_with_data(&data)
            })
            .collect::<Vec<_>>()
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let expected: Vec<String> = sizes
        .iter()
        .map(|&size| {
            let last = size.checked_sub(1).map(|index| (index % 255) as u8 + 1);
            format!("null-with {size} bytes, last {last:?}")
        })
        .collect();
    assert_eq!(calls, expected);
    let (result, calls) = with_recorder(|| ext::null_service_with_data(&[0; 4097]));
    assert_eq!(result, Err(Status::BadMessage));
    assert!(calls.is_empty());
}

#[test]
fn oversized_arguments_are_refused_before_the_kernel_is_called() {
    let (results, calls) = with_recorder(|| {
        (
            ext::register_device(ext::DeviceClass::Character, &"n".repeat(32)),
            ext::log(ext::Level::Info, &"x".repeat(256)),
            ext::panic(&"p".repeat(256)),
            ext::deliver_packet(ext::DeviceHandle(1), &[0; 1515]),
            ext::register_device(ext::DeviceClass::Sound, &"n".repeat(31)).map(|handle| handle.0),
        )
    });
    assert_eq!(results.0, Err(Status::BadMessage));
    assert_eq!(results.1, Err(Status::BadMessage));
    assert_eq!(results.2, Err(Status::BadMessage));
    assert_eq!(results.3, Err(Status::BadMessage));
    assert_eq!(results.4, Ok(0x41f));
    assert_eq!(calls, vec![format!("device sound {}", "n".repeat(31))]);
}

#[test]
fn without_a_kernel_every_call_says_not_running() {
    assert_eq!(ext::uptime_ms(), Err(Status::NotRunning));
    assert_eq!(ext::yield_now(), Err(Status::NotRunning));
    assert_eq!(ext::claim_pci_device(1, 2, 0), Err(Status::NotRunning));
}

/// An extension implementing the generated entry trait (all but `null` and
/// `call-kernel-null`, which keep the default).
#[derive(Default)]
struct Extension {
    seen: RefCell<Vec<String>>,
}

impl Extension {
    fn saw(&self, what: String) {
        self.seen.borrow_mut().push(what);
    }
}

impl ext::Entries for Extension {
    fn init(
        &self,
        abi_version: u32,
        generation: u32,
        kernel_service_entry: u64,
        heap_base: u64,
        heap_size: u64,
    ) -> Result<ext::InitReply, Status> {
        self.saw(format!(
            "init {abi_version} {generation} {kernel_service_entry:#x} {heap_base:#x} {heap_size}"
        ));
        Ok(ext::InitReply {
            abi_version: ABI_VERSION,
            implements_crash: true,
        })
    }
    fn crash(&self, kind: ext::CrashKind, target: u64) -> Result<(), Status> {
        self.saw(format!("crash {} {target:#x}", kind.name()));
        Ok(())
    }
    fn interrupt(&self, line: u8) -> Result<bool, Status> {
        self.saw(format!("interrupt {line}"));
        // Odd lines stay masked until acknowledged.
        Ok(line % 2 == 1)
    }
    fn timer(&self, timer: ext::TimerHandle) -> Result<(), Status> {
        self.saw(format!("timer {:#x}", timer.0));
        Ok(())
    }
    fn remove(&self) -> Result<(), Status> {
        self.saw("remove".into());
        Ok(())
    }
    fn character_read(
        &self,
        device: ext::DeviceHandle,
        length: u16,
        data: &mut [u8],
    ) -> Result<usize, Status> {
        self.saw(format!("read {:#x} {length}", device.0));
        let count = usize::from(length).min(data.len());
        for (index, byte) in data[..count].iter_mut().enumerate() {
            *byte = (index * 7) as u8;
        }
        Ok(count)
    }
    fn character_write(&self, device: ext::DeviceHandle, data: &[u8]) -> Result<u16, Status> {
        self.saw(format!(
            "write {:#x} {} bytes ending {:?}",
            device.0,
            data.len(),
            data.last()
        ));
        // A slow device takes at most 100 bytes at a time.
        Ok(data.len().min(100) as u16)
    }
    fn character_control(
        &self,
        device: ext::DeviceHandle,
        request: u32,
        argument: u64,
    ) -> Result<u64, Status> {
        self.saw(format!(
            "control {:#x} {request:#x} {argument:#x}",
            device.0
        ));
        if request == 0xdead {
            return Err(Status::Refused);
        }
        Ok(argument ^ u64::from(request))
    }
    fn block_capacity(&self, device: ext::DeviceHandle) -> Result<ext::BlockCapacityReply, Status> {
        self.saw(format!("capacity {:#x}", device.0));
        Ok(ext::BlockCapacityReply {
            sectors: 0x1_0000_0000,
            sector_size: 512,
        })
    }
    fn block_submit(
        &self,
        device: ext::DeviceHandle,
        operation: ext::BlockOperation,
        sector: u64,
        sectors: u16,
        write_data: &[u8],
        read_data: &mut [u8],
    ) -> Result<usize, Status> {
        self.saw(format!(
            "block {:#x} {} {sector} {sectors} {} bytes",
            device.0,
            operation.name(),
            write_data.len()
        ));
        match operation {
            ext::BlockOperation::Read => {
                let length = usize::from(sectors) * 512;
                let data = read_data.get_mut(..length).ok_or(Status::Refused)?;
                data.fill(sector as u8);
                Ok(length)
            }
            ext::BlockOperation::Write | ext::BlockOperation::Flush => Ok(0),
        }
    }
    fn network_open(&self, device: ext::DeviceHandle) -> Result<(), Status> {
        self.saw(format!("open {:#x}", device.0));
        Ok(())
    }
    fn network_stop(&self, device: ext::DeviceHandle) -> Result<(), Status> {
        self.saw(format!("stop {:#x}", device.0));
        Ok(())
    }
    fn network_transmit(&self, device: ext::DeviceHandle, frame: &[u8]) -> Result<(), Status> {
        self.saw(format!(
            "transmit {:#x} {} bytes starting {:?}",
            device.0,
            frame.len(),
            frame.first()
        ));
        if frame.len() < 14 {
            return Err(Status::Refused);
        }
        Ok(())
    }
    fn network_statistics(
        &self,
        device: ext::DeviceHandle,
    ) -> Result<ext::NetworkStatisticsReply, Status> {
        self.saw(format!("statistics {:#x}", device.0));
        Ok(ext::NetworkStatisticsReply {
            received_packets: 1,
            sent_packets: 2,
            received_bytes: 3,
            sent_bytes: 4,
            errors: 5,
            link_up: true,
        })
    }
    fn network_mac_address(
        &self,
        device: ext::DeviceHandle,
        address: &mut [u8],
    ) -> Result<usize, Status> {
        self.saw(format!("mac {:#x}", device.0));
        address.copy_from_slice(&[0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        Ok(6)
    }
    fn sound_open(
        &self,
        device: ext::DeviceHandle,
        sample_rate: u32,
        channels: u8,
        bits: u8,
    ) -> Result<(), Status> {
        self.saw(format!(
            "sound-open {:#x} {sample_rate} {channels} {bits}",
            device.0
        ));
        if channels > 2 {
            return Err(Status::Refused);
        }
        Ok(())
    }
    fn sound_play_period(&self, device: ext::DeviceHandle, samples: &[u8]) -> Result<(), Status> {
        self.saw(format!("play {:#x} {} bytes", device.0, samples.len()));
        Ok(())
    }
    fn sound_stop(&self, device: ext::DeviceHandle) -> Result<(), Status> {
        self.saw(format!("sound-stop {:#x}", device.0));
        Ok(())
    }
    fn null_with_data(&self, data: &[u8]) -> Result<(), Status> {
        self.saw(format!("null-with {} bytes", data.len()));
        Ok(())
    }
}

fn transport_to(
    extension: &Extension,
) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> + '_ {
    |operation, message| Ok(ext::dispatch(operation, message, extension))
}

#[test]
fn the_common_entries_round_trip() {
    let extension = Extension::default();
    let mut transport = transport_to(&extension);
    assert_eq!(
        kernel::init(
            &mut transport,
            ABI_VERSION,
            7,
            0xffff_8000_0000_1000,
            0xffff_c000_4000_0000,
            65536,
        ),
        Ok(kernel::InitReply {
            abi_version: ABI_VERSION,
            implements_crash: true
        })
    );
    assert_eq!(
        kernel::crash(
            &mut transport,
            kernel::CrashKind::WriteKernelHeap,
            0xdead_0000
        ),
        Ok(())
    );
    // The reply says whether to keep the line masked.
    assert_eq!(kernel::interrupt(&mut transport, 4), Ok(false));
    assert_eq!(kernel::interrupt(&mut transport, 5), Ok(true));
    assert_eq!(
        kernel::timer(&mut transport, kernel::TimerHandle(0xabc)),
        Ok(())
    );
    assert_eq!(kernel::remove(&mut transport), Ok(()));
    assert_eq!(kernel::null_with_data(&mut transport, &[]), Ok(()));
    assert_eq!(kernel::null_with_data(&mut transport, &[1; 64]), Ok(()));
    assert_eq!(kernel::null_with_data(&mut transport, &[1; 65]), Ok(()));
    assert_eq!(kernel::null_with_data(&mut transport, &[2; 4096]), Ok(()));
    assert_eq!(
        kernel::null_with_data(&mut transport, &[2; 4097]),
        Err(CallError::BadArgument)
    );
    // Operations the extension does not implement answer UnknownOperation.
    assert_eq!(
        kernel::null(&mut transport),
        Err(CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        kernel::call_kernel_null(&mut transport, 3),
        Err(CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        *extension.seen.borrow(),
        vec![
            "init 3 7 0xffff800000001000 0xffffc00040000000 65536",
            "crash write-kernel-heap 0xdead0000",
            "interrupt 4",
            "interrupt 5",
            "timer 0xabc",
            "remove",
            "null-with 0 bytes",
            "null-with 64 bytes",
            "null-with 65 bytes",
            "null-with 4096 bytes",
        ]
    );
}

#[test]
fn character_entries_round_trip() {
    let extension = Extension::default();
    let mut transport = transport_to(&extension);
    let device = kernel::DeviceHandle(0x101);
    // Read: the bytes land in the caller's buffer, their count returned.
    let mut data = [0xffu8; 16];
    assert_eq!(
        kernel::character_read(&mut transport, device, 5, &mut data),
        Ok(5)
    );
    assert_eq!(data[..6], [0, 7, 14, 21, 28, 0xff]);
    let mut full = vec![0u8; 4096];
    assert_eq!(
        kernel::character_read(&mut transport, device, 4096, &mut full),
        Ok(4096)
    );
    assert_eq!(full[4095], (4095 * 7) as u8);
    // A reply that does not fit the caller's buffer is a bad reply.
    let mut small = [0u8; 4];
    assert_eq!(
        kernel::character_read(&mut transport, device, 10, &mut small),
        Err(CallError::BadReply)
    );
    // Write: prefix-u16 data, an accepted count back.
    assert_eq!(
        kernel::character_write(&mut transport, device, b"hello"),
        Ok(5)
    );
    assert_eq!(
        kernel::character_write(&mut transport, device, &[9; 4096]),
        Ok(100)
    );
    assert_eq!(kernel::character_write(&mut transport, device, &[]), Ok(0));
    assert_eq!(
        kernel::character_write(&mut transport, device, &[0; 4097]),
        Err(CallError::BadArgument)
    );
    // Control.
    assert_eq!(
        kernel::character_control(&mut transport, device, 0x5401, 0xff00),
        Ok(0xff00 ^ 0x5401)
    );
    assert_eq!(
        kernel::character_control(&mut transport, device, 0xdead, 0),
        Err(CallError::Status(Status::Refused))
    );
    assert_eq!(
        *extension.seen.borrow(),
        [
            "read 0x101 5",
            "read 0x101 4096",
            "read 0x101 10",
            "write 0x101 5 bytes ending Some(111)",
            "write 0x101 4096 bytes ending Some(9)",
            "write 0x101 0 bytes ending None",
            "control 0x101 0x5401 0xff00",
            "control 0x101 0xdead 0x0",
        ]
    );
}

#[test]
fn block_entries_round_trip() {
    let extension = Extension::default();
    let mut transport = transport_to(&extension);
    let device = kernel::DeviceHandle(0x202);
    assert_eq!(
        kernel::block_capacity(&mut transport, device),
        Ok(kernel::BlockCapacityReply {
            sectors: 0x1_0000_0000,
            sector_size: 512
        })
    );
    let mut read = vec![0u8; 4096];
    assert_eq!(
        kernel::block_submit(
            &mut transport,
            device,
            kernel::BlockOperation::Read,
            0x42,
            8,
            &[],
            &mut read
        ),
        Ok(4096)
    );
    assert!(read.iter().all(|&byte| byte == 0x42));
    // A read longer than the reply buffer is refused by the extension.
    assert_eq!(
        kernel::block_submit(
            &mut transport,
            device,
            kernel::BlockOperation::Read,
            0,
            9,
            &[],
            &mut read
        ),
        Err(CallError::Status(Status::Refused))
    );
    let sector = vec![0x5a; 512];
    assert_eq!(
        kernel::block_submit(
            &mut transport,
            device,
            kernel::BlockOperation::Write,
            7,
            1,
            &sector,
            &mut []
        ),
        Ok(0)
    );
    assert_eq!(
        kernel::block_submit(
            &mut transport,
            device,
            kernel::BlockOperation::Write,
            7,
            8,
            &[1; 4096],
            &mut []
        ),
        Ok(0)
    );
    assert_eq!(
        kernel::block_submit(
            &mut transport,
            device,
            kernel::BlockOperation::Flush,
            0,
            0,
            &[],
            &mut []
        ),
        Ok(0)
    );
    assert_eq!(
        kernel::block_submit(
            &mut transport,
            device,
            kernel::BlockOperation::Write,
            0,
            9,
            &[0; 4097],
            &mut []
        ),
        Err(CallError::BadArgument)
    );
    assert_eq!(
        *extension.seen.borrow(),
        [
            "capacity 0x202",
            "block 0x202 read 66 8 0 bytes",
            "block 0x202 read 0 9 0 bytes",
            "block 0x202 write 7 1 512 bytes",
            "block 0x202 write 7 8 4096 bytes",
            "block 0x202 flush 0 0 0 bytes",
        ]
    );
}

#[test]
fn network_entries_round_trip() {
    let extension = Extension::default();
    let mut transport = transport_to(&extension);
    let device = kernel::DeviceHandle(0x303);
    assert_eq!(kernel::network_open(&mut transport, device), Ok(()));
    let frame: Vec<u8> = (0..1514u32).map(|index| (index % 251) as u8 + 1).collect();
    assert_eq!(
        kernel::network_transmit(&mut transport, device, &frame),
        Ok(())
    );
    assert_eq!(
        kernel::network_transmit(&mut transport, device, &frame[..13]),
        Err(CallError::Status(Status::Refused))
    );
    assert_eq!(
        kernel::network_transmit(&mut transport, device, &[0; 1515]),
        Err(CallError::BadArgument)
    );
    assert_eq!(
        kernel::network_statistics(&mut transport, device),
        Ok(kernel::NetworkStatisticsReply {
            received_packets: 1,
            sent_packets: 2,
            received_bytes: 3,
            sent_bytes: 4,
            errors: 5,
            link_up: true,
        })
    );
    let mut mac = [0u8; 6];
    assert_eq!(
        kernel::network_mac_address(&mut transport, device, &mut mac),
        Ok(6)
    );
    assert_eq!(mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    assert_eq!(kernel::network_stop(&mut transport, device), Ok(()));
    assert_eq!(
        *extension.seen.borrow(),
        [
            "open 0x303",
            "transmit 0x303 1514 bytes starting Some(1)",
            "transmit 0x303 13 bytes starting Some(1)",
            "statistics 0x303",
            "mac 0x303",
            "stop 0x303",
        ]
    );
}

#[test]
fn sound_entries_round_trip() {
    let extension = Extension::default();
    let mut transport = transport_to(&extension);
    let device = kernel::DeviceHandle(0x404);
    assert_eq!(
        kernel::sound_open(&mut transport, device, 44_100, 2, 16),
        Ok(())
    );
    assert_eq!(
        kernel::sound_open(&mut transport, device, 8_000, 6, 8),
        Err(CallError::Status(Status::Refused))
    );
    assert_eq!(
        kernel::sound_play_period(&mut transport, device, &[0x80; 4096]),
        Ok(())
    );
    assert_eq!(
        kernel::sound_play_period(&mut transport, device, &[0; 4097]),
        Err(CallError::BadArgument)
    );
    assert_eq!(kernel::sound_stop(&mut transport, device), Ok(()));
    assert_eq!(
        *extension.seen.borrow(),
        [
            "sound-open 0x404 44100 2 16",
            "sound-open 0x404 8000 6 8",
            "play 0x404 4096 bytes",
            "sound-stop 0x404",
        ]
    );
}

/// An extension that implements nothing: every entry answers the trait's
/// default, `UnknownOperation`, and the kernel side reports it as such.
#[test]
fn unimplemented_entries_answer_unknown_operation() {
    struct Nothing;
    impl ext::Entries for Nothing {}
    let mut transport =
        |operation: u64, message: &mut [u8]| Ok(ext::dispatch(operation, message, &Nothing));
    let unknown = Err(CallError::Status(Status::UnknownOperation));
    let device = kernel::DeviceHandle(1);
    assert_eq!(kernel::remove(&mut transport), unknown);
    assert_eq!(
        kernel::character_read(&mut transport, device, 1, &mut [0; 1]),
        Err(CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        kernel::block_capacity(&mut transport, device),
        Err(CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(kernel::network_open(&mut transport, device), unknown);
    assert_eq!(kernel::sound_stop(&mut transport, device), unknown);
    assert_eq!(
        kernel::interrupt(&mut transport, 1),
        Err(CallError::Status(Status::UnknownOperation))
    );
    // And a number no interface declares.
    let mut message = [0u8; 8];
    assert_eq!(
        ext::dispatch(0x7f, &mut message, &Nothing),
        (Status::UnknownOperation, 0)
    );
}

/// The generated `init` speaks `extension_abi::InitArguments` and
/// `InitAnswer`, the hand-written layout the kernel and runtime use.
#[test]
fn init_uses_the_abi_layout_of_init_arguments_and_answer() {
    let arguments = InitArguments {
        abi_version: ABI_VERSION,
        generation: 9,
        kernel_service_entry: 0xffff_8000_0012_3456,
        heap_base: 0xffff_c000_4000_0000,
        heap_size: 1 << 18,
    };
    let mut checked = false;
    let mut transport = |operation: u64, message: &mut [u8]| {
        assert_eq!(operation, extension_abi::operation::INIT);
        assert_eq!(message.len(), InitArguments::ENCODED_LEN);
        assert_eq!(
            InitArguments::decode(&mut MessageReader::new(message)),
            Ok(arguments)
        );
        checked = true;
        let answer = InitAnswer {
            abi_version: ABI_VERSION,
            implements_crash: false,
        };
        answer.encode(&mut MessageWriter::new(message)).unwrap();
        Ok((Status::Ok, InitAnswer::ENCODED_LEN))
    };
    let reply = kernel::init(
        &mut transport,
        arguments.abi_version,
        arguments.generation,
        arguments.kernel_service_entry,
        arguments.heap_base,
        arguments.heap_size,
    );
    assert!(checked);
    assert_eq!(
        reply,
        Ok(kernel::InitReply {
            abi_version: ABI_VERSION,
            implements_crash: false
        })
    );
    // And the generated extension side answers what InitAnswer decodes.
    let extension = Extension::default();
    let mut message = [0u8; InitArguments::ENCODED_LEN];
    arguments
        .encode(&mut MessageWriter::new(&mut message))
        .unwrap();
    let (status, length) = ext::dispatch(extension_abi::operation::INIT, &mut message, &extension);
    assert_eq!((status, length), (Status::Ok, InitAnswer::ENCODED_LEN));
    assert_eq!(
        InitAnswer::decode(&mut MessageReader::new(&message[..length])),
        Ok(InitAnswer {
            abi_version: ABI_VERSION,
            implements_crash: true
        })
    );
    assert_eq!(
        *extension.seen.borrow(),
        ["init 3 9 0xffff800000123456 0xffffc00040000000 262144"]
    );
}

#[test]
fn both_sides_see_the_same_tables() {
    // The sides re-export one common module: the same items, of the same
    // types (this would not compile with a copy per side).
    let services: &[extension_abi::interfaces::kernel::OperationInfo] = kernel::SERVICES;
    assert_eq!(services, ext::SERVICES);
    assert_eq!(kernel::ENTRIES, ext::ENTRIES);
    assert_eq!(kernel::SERVICES.len(), 42);
    assert_eq!(kernel::ENTRIES.len(), 24);
    let numbers: Vec<u64> = kernel::SERVICES.iter().map(|info| info.number).collect();
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "number order"
    );
    // The typed values are one type on both sides.
    let handle: ext::DeviceHandle = kernel::DeviceHandle(3);
    assert_eq!(handle, extension_abi::interfaces::kernel::DeviceHandle(3));
}
