//! Round trips through the generated code for `kernel.idl`: the extension
//! side encodes, the kernel side decodes and answers, the extension side
//! decodes the answer; and the same for entry operations the other way.

use extension_abi::{InitAnswer, InitArguments, MessageReader, MessageWriter, Status};
use idl_fixture::extension_api::with_kernel;
use idl_fixture::kernel_extension as ext;
use idl_fixture::kernel_kernel as kernel;
use std::cell::RefCell;
use std::rc::Rc;

/// A kernel that records every call it gets, with its typed arguments.
#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
}

impl kernel::Services for Recorder {
    fn log(&mut self, level: kernel::Level, text: &str) -> Result<(), Status> {
        self.calls.push(format!("log {level:?} {text}"));
        Ok(())
    }
    fn panic(&mut self, text: &str) -> Result<(), Status> {
        self.calls.push(format!("panic {text}"));
        Err(Status::Refused)
    }
    fn yield_now(&mut self) -> Result<(), Status> {
        self.calls.push("yield".into());
        Ok(())
    }
    fn sleep_ms(&mut self, milliseconds: u64) -> Result<(), Status> {
        self.calls.push(format!("sleep {milliseconds}"));
        Ok(())
    }
    fn null_service(&mut self) -> Result<(), Status> {
        self.calls.push("null".into());
        Ok(())
    }
    fn call_back(&mut self, operation: u64, argument: u64) -> Result<Status, Status> {
        self.calls
            .push(format!("call-back {operation:#x} {argument}"));
        Ok(if argument == 0 {
            Status::Ok
        } else {
            Status::ExtensionFailed
        })
    }
    fn uptime_ms(&mut self) -> Result<u64, Status> {
        self.calls.push("uptime".into());
        Ok(123_456)
    }
    fn grant_memory(&mut self, pages: u64) -> Result<kernel::GrantMemoryReply, Status> {
        self.calls.push(format!("grant {pages}"));
        if pages == 0 {
            return Err(Status::Refused);
        }
        Ok(kernel::GrantMemoryReply {
            handle: kernel::MemoryHandle(0x0123_4567_89ab_cdef),
            address: 0xffff_c000_0100_0000 + pages,
        })
    }
    fn release_memory(&mut self, handle: kernel::MemoryHandle) -> Result<(), Status> {
        self.calls.push(format!("release-memory {:#x}", handle.0));
        Ok(())
    }
    fn request_io_ports(
        &mut self,
        first: u16,
        count: u16,
    ) -> Result<kernel::IoPortsHandle, Status> {
        self.calls.push(format!("ports {first:#x} {count}"));
        Ok(kernel::IoPortsHandle(
            u64::from(first) << 16 | u64::from(count),
        ))
    }
    fn release_io_ports(&mut self, handle: kernel::IoPortsHandle) -> Result<(), Status> {
        self.calls.push(format!("release-ports {:#x}", handle.0));
        Ok(())
    }
    fn request_interrupt(&mut self, line: u8) -> Result<kernel::InterruptHandle, Status> {
        self.calls.push(format!("irq {line}"));
        if line >= 16 {
            return Err(Status::Refused);
        }
        Ok(kernel::InterruptHandle(u64::from(line) + 100))
    }
    fn free_interrupt(&mut self, handle: kernel::InterruptHandle) -> Result<(), Status> {
        self.calls.push(format!("free-irq {}", handle.0));
        Ok(())
    }
    fn start_timer(
        &mut self,
        milliseconds: u64,
        periodic: bool,
    ) -> Result<kernel::TimerHandle, Status> {
        self.calls.push(format!("timer {milliseconds} {periodic}"));
        Ok(kernel::TimerHandle(milliseconds * 2 + u64::from(periodic)))
    }
    fn cancel_timer(&mut self, handle: kernel::TimerHandle) -> Result<(), Status> {
        self.calls.push(format!("cancel {}", handle.0));
        Ok(())
    }
    fn register_device(&mut self, name: &str) -> Result<kernel::DeviceHandle, Status> {
        self.calls.push(format!("device {name}"));
        Ok(kernel::DeviceHandle(name.len() as u64))
    }
    fn unregister_device(&mut self, handle: kernel::DeviceHandle) -> Result<(), Status> {
        self.calls.push(format!("unregister {}", handle.0));
        Ok(())
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
fn every_service_round_trips() {
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
            format!("{:x?}", ext::register_device("crashtest0")),
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
            "Ok(DeviceHandle(a))",
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
            "uptime",
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
            "device crashtest0",
            "unregister 10",
        ]
    );
}

#[test]
fn oversized_arguments_are_refused_before_the_kernel_is_called() {
    let (results, calls) = with_recorder(|| {
        (
            ext::register_device(&"n".repeat(32)),
            ext::log(ext::Level::Info, &"x".repeat(256)),
            ext::register_device(&"n".repeat(31)).map(|handle| handle.0),
        )
    });
    assert_eq!(results.0, Err(Status::BadMessage));
    assert_eq!(results.1, Err(Status::BadMessage));
    assert_eq!(results.2, Ok(31));
    assert_eq!(calls, vec![format!("device {}", "n".repeat(31))]);
}

#[test]
fn without_a_kernel_every_call_says_not_running() {
    assert_eq!(ext::uptime_ms(), Err(Status::NotRunning));
    assert_eq!(ext::yield_now(), Err(Status::NotRunning));
}

/// An extension implementing the generated entry trait.
#[derive(Default)]
struct Extension {
    seen: RefCell<Vec<String>>,
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
        self.seen.borrow_mut().push(format!(
            "init {abi_version} {generation} {kernel_service_entry:#x} {heap_base:#x} {heap_size}"
        ));
        Ok(ext::InitReply {
            abi_version: 1,
            implements_crash: true,
        })
    }
    fn crash(&self, kind: ext::CrashKind, target: u64) -> Result<(), Status> {
        self.seen
            .borrow_mut()
            .push(format!("crash {} {target:#x}", kind.name()));
        Ok(())
    }
    fn interrupt(&self, line: u8) -> Result<(), Status> {
        self.seen.borrow_mut().push(format!("interrupt {line}"));
        Ok(())
    }
    fn timer(&self, timer: ext::TimerHandle) -> Result<(), Status> {
        self.seen.borrow_mut().push(format!("timer {:#x}", timer.0));
        Ok(())
    }
    // `null` and `call-kernel-null` keep the default: unknown operation.
}

fn transport_to(
    extension: &Extension,
) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), kernel::CallError> + '_ {
    |operation, message| Ok(ext::dispatch(operation, message, extension))
}

#[test]
fn every_entry_round_trips() {
    let extension = Extension::default();
    let mut transport = transport_to(&extension);
    let answer = kernel::init(
        &mut transport,
        1,
        7,
        0xffff_8000_0000_1000,
        0xffff_c000_4000_0000,
        65536,
    );
    assert_eq!(
        answer,
        Ok(kernel::InitReply {
            abi_version: 1,
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
    assert_eq!(kernel::interrupt(&mut transport, 5), Ok(()));
    assert_eq!(
        kernel::timer(&mut transport, kernel::TimerHandle(0xabc)),
        Ok(())
    );
    // Operations the extension does not implement answer UnknownOperation.
    assert_eq!(
        kernel::null(&mut transport),
        Err(kernel::CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        kernel::call_kernel_null(&mut transport, 3),
        Err(kernel::CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        *extension.seen.borrow(),
        vec![
            "init 1 7 0xffff800000001000 0xffffc00040000000 65536",
            "crash write-kernel-heap 0xdead0000",
            "interrupt 5",
            "timer 0xabc",
        ]
    );
}

/// The generated `init` speaks `extension_abi::InitArguments` and
/// `InitAnswer`, the hand-written layout the kernel and runtime use today.
#[test]
fn init_uses_the_abi_layout_of_init_arguments_and_answer() {
    let arguments = InitArguments {
        abi_version: 1,
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
            abi_version: 1,
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
            abi_version: 1,
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
            abi_version: 1,
            implements_crash: true
        })
    );
}

/// The kernel builds these requests by hand today (nim/crash.rs,
/// nim/services.rs): the generated calls send the same bytes.
#[test]
fn entry_requests_are_the_bytes_the_kernel_sends_today() {
    let mut sent: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut transport = |operation: u64, message: &mut [u8]| {
        sent.push((operation, message.to_vec()));
        Ok((Status::Ok, 0))
    };
    kernel::crash(&mut transport, kernel::CrashKind::Panic, 0x7e57_dead_0000).unwrap();
    kernel::interrupt(&mut transport, 7).unwrap();
    kernel::timer(&mut transport, kernel::TimerHandle(0x1122_3344_5566_7788)).unwrap();
    kernel::null(&mut transport).unwrap();
    kernel::call_kernel_null(&mut transport, 1).unwrap();
    let mut crash = [0u8; 12];
    crash[..4].copy_from_slice(&(extension_abi::CrashKind::Panic as u32).to_le_bytes());
    crash[4..].copy_from_slice(&0x7e57_dead_0000u64.to_le_bytes());
    assert_eq!(
        sent,
        vec![
            (extension_abi::operation::CRASH, crash.to_vec()),
            (extension_abi::operation::INTERRUPT, vec![7]),
            (
                extension_abi::operation::TIMER,
                0x1122_3344_5566_7788u64.to_le_bytes().to_vec()
            ),
            (extension_abi::operation::NULL, vec![]),
            (
                extension_abi::operation::CALL_KERNEL_NULL,
                1u64.to_le_bytes().to_vec()
            ),
        ]
    );
}

#[test]
fn the_tables_describe_the_interface() {
    assert_eq!(kernel::SERVICES.len(), 17);
    assert_eq!(ext::ENTRIES.len(), 6);
    assert_eq!(
        format!("{:?}", kernel::SERVICES),
        format!("{:?}", ext::SERVICES)
    );
    let register = kernel::SERVICES
        .iter()
        .find(|info| info.number == extension_abi::service::REGISTER_DEVICE)
        .unwrap();
    assert_eq!(register.name, "register-device");
    assert!(!register.idempotent);
    assert_eq!(
        (register.max_request_bytes, register.max_reply_bytes),
        (32, 8)
    );
    assert_eq!(register.arguments[0].ownership, Some("copied-in"));
    assert_eq!(register.arguments[1].wire_type, "handle<device>");
    let numbers: Vec<u64> = kernel::SERVICES.iter().map(|info| info.number).collect();
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "number order"
    );
    assert!(
        kernel::ENTRIES
            .iter()
            .any(|info| info.name == "init" && info.idempotent)
    );
    for info in kernel::SERVICES.iter().chain(kernel::ENTRIES) {
        assert!(
            info.max_request_bytes.max(info.max_reply_bytes) <= extension_abi::MAX_MESSAGE_BYTES
        );
    }
}
