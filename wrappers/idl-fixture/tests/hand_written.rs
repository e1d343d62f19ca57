//! The generated extension side against the hand-written one
//! (`wrappers/extension-api/src/services.rs`, compiled here unchanged with a
//! host stand-in for its runtime): for every service both send the same
//! bytes, in a buffer of the same length, and read the same answer; and the
//! generated kernel side decodes what the hand-written functions send.

use extension_abi::Status;
use idl_fixture::extension_api::with_kernel;
use idl_fixture::kernel_extension as generated;
use std::cell::RefCell;
use std::rc::Rc;

/// The host stand-in for `extension_api`'s runtime module: what
/// `services.rs` imports from it.
mod runtime {
    pub use idl_fixture::extension_api::kernel_call;

    /// The instance's generation (none on the host).
    pub fn generation() -> u32 {
        0
    }

    /// The same fixed-capacity text buffer as the runtime's (copied from
    /// `wrappers/extension-api/src/runtime.rs`: keep the two alike).
    pub(crate) struct FixedText<const N: usize> {
        pub(crate) bytes: [u8; N],
        pub(crate) length: usize,
    }

    impl<const N: usize> FixedText<N> {
        pub(crate) const fn new() -> Self {
            Self {
                bytes: [0; N],
                length: 0,
            }
        }
    }

    impl<const N: usize> core::fmt::Write for FixedText<N> {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            for character in text.chars() {
                let mut encoded = [0u8; 4];
                let encoded = character.encode_utf8(&mut encoded).as_bytes();
                if self.length + encoded.len() > N {
                    break;
                }
                self.bytes[self.length..self.length + encoded.len()].copy_from_slice(encoded);
                self.length += encoded.len();
            }
            Ok(())
        }
    }
}

#[allow(
    dead_code,
    unused_imports,
    reason = "only the service functions are compared"
)]
#[path = "../../extension-api/src/services.rs"]
mod hand_written;

/// One kernel call as the kernel saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    service: u64,
    request: Vec<u8>,
}

/// Runs `body` with a kernel that records each request and answers with
/// `reply` written over the message (as far as it fits) and `status`.
fn record<R>(status: Status, reply: &[u8], body: impl FnOnce() -> R) -> (R, Vec<Seen>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    let reply = reply.to_vec();
    let result = with_kernel(
        move |service, message| {
            log.borrow_mut().push(Seen {
                service,
                request: message.to_vec(),
            });
            let length = reply.len().min(message.len());
            message[..length].copy_from_slice(&reply[..length]);
            status
        },
        body,
    );
    let seen = seen.borrow().clone();
    (result, seen)
}

/// Asserts both versions send the same requests and give the same
/// (debug-formatted) result, for a kernel answering `status` and `reply`.
fn same(
    status: Status,
    reply: &[u8],
    hand: impl FnOnce() -> String,
    generated: impl FnOnce() -> String,
) -> String {
    let (hand_result, hand_seen) = record(status, reply, hand);
    let (generated_result, generated_seen) = record(status, reply, generated);
    assert_eq!(hand_seen.len(), 1, "one call each");
    assert_eq!(hand_seen, generated_seen, "the wire differs");
    assert_eq!(hand_result, generated_result, "the results differ");
    hand_result
}

/// `Status` for a hand-written `-> Status` function, from the generated
/// `-> Result<(), Status>`.
fn as_status(result: Result<(), Status>) -> Status {
    result.err().unwrap_or(Status::Ok)
}

fn u64s(values: &[u64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

#[test]
fn every_service_sends_the_same_bytes_and_reads_the_same_answer() {
    use hand_written::Handle;
    for status in [Status::Ok, Status::Refused, Status::NoResources] {
        let answer = u64s(&[0x0102_0304_0506_0708, 0xffff_c001_0000_0000]);
        let text = |value: &dyn core::fmt::Debug| format!("{value:?}");
        same(
            status,
            &[],
            || text(&hand_written::yield_now()),
            || text(&as_status(generated::yield_now())),
        );
        same(
            status,
            &[],
            || text(&hand_written::sleep_ms(1234)),
            || text(&as_status(generated::sleep_ms(1234))),
        );
        same(
            status,
            &[],
            || text(&hand_written::null_service()),
            || text(&as_status(generated::null_service())),
        );
        same(
            status,
            &answer,
            || text(&hand_written::uptime_ms()),
            || text(&generated::uptime_ms()),
        );
        same(
            status,
            &u64s(&[Status::ExtensionFailed as u64]),
            || text(&hand_written::call_back(0x102, 9)),
            || text(&generated::call_back(0x102, 9)),
        );
        same(
            status,
            &answer,
            || text(&hand_written::grant_memory(4).map(|memory| (memory.handle.0, memory.address))),
            || text(&generated::grant_memory(4).map(|memory| (memory.handle.0, memory.address))),
        );
        same(
            status,
            &answer,
            || text(&hand_written::request_io_ports(0x510, 4).map(|handle| handle.0)),
            || text(&generated::request_io_ports(0x510, 4).map(|handle| handle.0)),
        );
        same(
            status,
            &answer,
            || text(&hand_written::request_interrupt(5).map(|handle| handle.0)),
            || text(&generated::request_interrupt(5).map(|handle| handle.0)),
        );
        for periodic in [false, true] {
            same(
                status,
                &answer,
                || text(&hand_written::start_timer(50, periodic).map(|handle| handle.0)),
                || text(&generated::start_timer(50, periodic).map(|handle| handle.0)),
            );
        }
        // Short names are padded to the 8-byte reply, long ones are not.
        for name in ["", "rtc", "crashtest0", "a-name-of-exactly-thirty-one-ch"] {
            same(
                status,
                &answer,
                || text(&hand_written::register_device(name).map(|handle| handle.0)),
                || text(&generated::register_device(name).map(|handle| handle.0)),
            );
        }
        let handle = 0x00ab_cdef_0123_4567;
        same(
            status,
            &[],
            || text(&hand_written::release_memory(Handle(handle))),
            || {
                text(&as_status(generated::release_memory(
                    generated::MemoryHandle(handle),
                )))
            },
        );
        same(
            status,
            &[],
            || text(&hand_written::release_io_ports(Handle(handle))),
            || {
                text(&as_status(generated::release_io_ports(
                    generated::IoPortsHandle(handle),
                )))
            },
        );
        same(
            status,
            &[],
            || text(&hand_written::free_interrupt(Handle(handle))),
            || {
                text(&as_status(generated::free_interrupt(
                    generated::InterruptHandle(handle),
                )))
            },
        );
        same(
            status,
            &[],
            || text(&hand_written::cancel_timer(Handle(handle))),
            || {
                text(&as_status(generated::cancel_timer(generated::TimerHandle(
                    handle,
                ))))
            },
        );
        same(
            status,
            &[],
            || text(&hand_written::unregister_device(Handle(handle))),
            || {
                text(&as_status(generated::unregister_device(
                    generated::DeviceHandle(handle),
                )))
            },
        );
    }
}

#[test]
fn log_lines_are_the_same_bytes() {
    let levels = [
        (hand_written::Level::Error, generated::Level::Error),
        (hand_written::Level::Warn, generated::Level::Warn),
        (hand_written::Level::Info, generated::Level::Info),
        (hand_written::Level::Debug, generated::Level::Debug),
        (hand_written::Level::Trace, generated::Level::Trace),
    ];
    for (hand, generated_level) in levels {
        assert_eq!(hand as u8, generated_level.code());
        for line in ["", "disk 3 is hot", "ünïcödé", &"x".repeat(255)] {
            same(
                Status::Ok,
                &[],
                || {
                    hand_written::log(hand, format_args!("{line}"));
                    String::new()
                },
                || {
                    let _ = generated::log(generated_level, line);
                    String::new()
                },
            );
        }
    }
}

/// Where the two differ, on purpose: the hand-written `log` cuts a line
/// longer than 255 bytes, the generated one refuses it (the caller cuts).
#[test]
fn an_overlong_log_line_is_cut_by_hand_and_refused_generated() {
    let line = "y".repeat(300);
    let ((), hand_seen) = record(Status::Ok, &[], || {
        hand_written::log(hand_written::Level::Info, format_args!("{line}"));
    });
    assert_eq!(hand_seen[0].request.len(), 256);
    let (result, generated_seen) = record(Status::Ok, &[], || {
        generated::log(generated::Level::Info, &line)
    });
    assert_eq!(result, Err(Status::BadMessage));
    assert!(generated_seen.is_empty());
}

#[test]
fn an_overlong_device_name_is_refused_by_both_without_a_call() {
    let name = "n".repeat(32);
    let (hand, hand_seen) = record(Status::Ok, &[], || hand_written::register_device(&name));
    let (generated_result, generated_seen) =
        record(Status::Ok, &[], || generated::register_device(&name));
    assert_eq!(hand.map(|handle| handle.0), Err(Status::BadMessage));
    assert_eq!(
        generated_result.map(|handle| handle.0),
        Err(Status::BadMessage)
    );
    assert!(hand_seen.is_empty() && generated_seen.is_empty());
}

/// The generated kernel side decodes what the hand-written extension side
/// sends (into the typed values the hand-written kernel decodes by hand).
#[test]
fn the_generated_kernel_side_decodes_hand_written_messages() {
    use idl_fixture::kernel_kernel as kernel;
    struct Capture(Vec<String>);
    impl kernel::Services for Capture {
        fn log(&mut self, level: kernel::Level, text: &str) -> Result<(), Status> {
            self.0.push(format!("log {} {text}", level.name()));
            Ok(())
        }
        fn panic(&mut self, text: &str) -> Result<(), Status> {
            self.0.push(format!("panic {text}"));
            Ok(())
        }
        fn yield_now(&mut self) -> Result<(), Status> {
            self.0.push("yield".into());
            Ok(())
        }
        fn sleep_ms(&mut self, milliseconds: u64) -> Result<(), Status> {
            self.0.push(format!("sleep {milliseconds}"));
            Ok(())
        }
        fn null_service(&mut self) -> Result<(), Status> {
            self.0.push("null".into());
            Ok(())
        }
        fn call_back(&mut self, operation: u64, argument: u64) -> Result<Status, Status> {
            self.0.push(format!("call-back {operation:#x} {argument}"));
            Ok(Status::Ok)
        }
        fn uptime_ms(&mut self) -> Result<u64, Status> {
            Ok(77)
        }
        fn grant_memory(&mut self, pages: u64) -> Result<kernel::GrantMemoryReply, Status> {
            self.0.push(format!("grant {pages}"));
            Ok(kernel::GrantMemoryReply {
                handle: kernel::MemoryHandle(1),
                address: 0x1000,
            })
        }
        fn release_memory(&mut self, handle: kernel::MemoryHandle) -> Result<(), Status> {
            self.0.push(format!("release-memory {}", handle.0));
            Ok(())
        }
        fn request_io_ports(
            &mut self,
            first: u16,
            count: u16,
        ) -> Result<kernel::IoPortsHandle, Status> {
            self.0.push(format!("ports {first:#x} {count}"));
            Ok(kernel::IoPortsHandle(2))
        }
        fn release_io_ports(&mut self, handle: kernel::IoPortsHandle) -> Result<(), Status> {
            self.0.push(format!("release-ports {}", handle.0));
            Ok(())
        }
        fn request_interrupt(&mut self, line: u8) -> Result<kernel::InterruptHandle, Status> {
            self.0.push(format!("irq {line}"));
            Ok(kernel::InterruptHandle(3))
        }
        fn free_interrupt(&mut self, handle: kernel::InterruptHandle) -> Result<(), Status> {
            self.0.push(format!("free-irq {}", handle.0));
            Ok(())
        }
        fn start_timer(
            &mut self,
            milliseconds: u64,
            periodic: bool,
        ) -> Result<kernel::TimerHandle, Status> {
            self.0.push(format!("timer {milliseconds} {periodic}"));
            Ok(kernel::TimerHandle(4))
        }
        fn cancel_timer(&mut self, handle: kernel::TimerHandle) -> Result<(), Status> {
            self.0.push(format!("cancel {}", handle.0));
            Ok(())
        }
        fn register_device(&mut self, name: &str) -> Result<kernel::DeviceHandle, Status> {
            self.0.push(format!("device {name}"));
            Ok(kernel::DeviceHandle(5))
        }
        fn unregister_device(&mut self, handle: kernel::DeviceHandle) -> Result<(), Status> {
            self.0.push(format!("unregister {}", handle.0));
            Ok(())
        }
    }
    let capture = Rc::new(RefCell::new(Capture(Vec::new())));
    let kernel_side = Rc::clone(&capture);
    let results = with_kernel(
        move |service, message| kernel::dispatch(service, message, &mut *kernel_side.borrow_mut()),
        || {
            use hand_written::Handle;
            hand_written::log(hand_written::Level::Debug, format_args!("up {}", 3));
            let _ = hand_written::yield_now();
            let _ = hand_written::sleep_ms(9);
            let _ = hand_written::null_service();
            let back = hand_written::call_back(0x100, 2);
            let uptime = hand_written::uptime_ms();
            let memory =
                hand_written::grant_memory(2).map(|memory| (memory.handle.0, memory.address));
            let _ = hand_written::release_memory(Handle(1));
            let ports = hand_written::request_io_ports(0x510, 4).map(|handle| handle.0);
            let _ = hand_written::release_io_ports(Handle(2));
            let irq = hand_written::request_interrupt(5).map(|handle| handle.0);
            let _ = hand_written::free_interrupt(Handle(3));
            let timer = hand_written::start_timer(50, true).map(|handle| handle.0);
            let _ = hand_written::cancel_timer(Handle(4));
            let device = hand_written::register_device("rtc").map(|handle| handle.0);
            let _ = hand_written::unregister_device(Handle(5));
            format!("{back:?} {uptime:?} {memory:?} {ports:?} {irq:?} {timer:?} {device:?}")
        },
    );
    assert_eq!(
        results,
        "Ok(Ok) Ok(77) Ok((1, 4096)) Ok(2) Ok(3) Ok(4) Ok(5)"
    );
    assert_eq!(
        capture.borrow().0,
        vec![
            "log debug up 3",
            "yield",
            "sleep 9",
            "null",
            "call-back 0x100 2",
            "grant 2",
            "release-memory 1",
            "ports 0x510 4",
            "release-ports 2",
            "irq 5",
            "free-irq 3",
            "timer 50 true",
            "cancel 4",
            "device rtc",
            "unregister 5",
        ]
    );
}
