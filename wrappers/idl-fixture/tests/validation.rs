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
    fn register_device(&mut self, name: &str) -> Result<kernel::DeviceHandle, Status> {
        assert!(name.len() <= 31);
        self.called().map(|()| kernel::DeviceHandle(6))
    }
    fn unregister_device(&mut self, _: kernel::DeviceHandle) -> Result<(), Status> {
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
    assert_eq!(run(18, &[0; 16]), (Status::UnknownOperation, false));
    assert_eq!(run(u64::MAX, &[]), (Status::UnknownOperation, false));
    // Too short for the request.
    assert_eq!(run(service::SLEEP, &[0; 7]), REFUSED_UNCALLED);
    assert_eq!(run(service::LOG, &[]), REFUSED_UNCALLED);
    assert_eq!(run(service::RELEASE_MEMORY, &[1, 2, 3]), REFUSED_UNCALLED);
    // Too short for the reply: refused before anything is granted.
    assert_eq!(
        run(service::GRANT_MEMORY, &1u64.to_le_bytes()),
        REFUSED_UNCALLED
    );
    assert_eq!(run(service::REQUEST_INTERRUPT, &[5]), REFUSED_UNCALLED);
    assert_eq!(run(service::UPTIME, &[0; 7]), REFUSED_UNCALLED);
    // Enumeration codes and booleans out of range.
    assert_eq!(run(service::LOG, &[0, b'x']), REFUSED_UNCALLED);
    assert_eq!(run(service::LOG, &[6, b'x']), REFUSED_UNCALLED);
    let mut timer = [0u8; 9];
    timer[8] = 2;
    assert_eq!(run(service::START_TIMER, &timer), REFUSED_UNCALLED);
    // Text: not UTF-8, or too long.
    assert_eq!(run(service::LOG, &[3, 0xff, 0xfe]), REFUSED_UNCALLED);
    let mut long = vec![3u8];
    long.extend([b'x'; 256]);
    assert_eq!(run(service::LOG, &long), REFUSED_UNCALLED);
    assert_eq!(run(service::PANIC, &[0xc3]), REFUSED_UNCALLED);
    // Length prefixes: over the maximum, or past the end of the message.
    let mut device = [0u8; 40];
    device[0] = 32;
    assert_eq!(run(service::REGISTER_DEVICE, &device), REFUSED_UNCALLED);
    assert_eq!(
        run(service::REGISTER_DEVICE, &[9, b'a', b'b', 0, 0, 0, 0, 0]),
        REFUSED_UNCALLED
    );
    // And the well-formed versions are accepted.
    assert_eq!(run(service::SLEEP, &[0; 8]), (Status::Ok, true));
    assert_eq!(run(service::LOG, &[3, b'o', b'k']), (Status::Ok, true));
    assert_eq!(run(service::LOG, &[5]), (Status::Ok, true));
    timer[8] = 1;
    assert_eq!(run(service::START_TIMER, &timer), (Status::Ok, true));
    assert_eq!(
        run(service::REGISTER_DEVICE, &[2, b'a', b'b', 0, 0, 0, 0, 0]),
        (Status::Ok, true)
    );
    // Trailing bytes (the padding of a shared buffer) are allowed.
    assert_eq!(run(service::SLEEP, &[0; 64]), (Status::Ok, true));
    // The implementation's own refusal passes through.
    assert_eq!(
        run(service::RELEASE_MEMORY, &[0; 8]),
        (Status::Refused, true)
    );
}

#[test]
fn random_service_messages_never_panic_and_bad_ones_have_no_effect() {
    let mut random = XorShift::new(0x5e41_1ce5);
    let mut outcomes = [0usize; 7];
    for case in 0..50_000 {
        let service = random.below(20);
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
    use kernel::CallError;
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
    assert!(CallError::ExtensionFailed.is_extension_failure());
    assert!(!CallError::BadReply.is_extension_failure());
    assert_eq!(CallError::ExtensionFailed.status(), Status::ExtensionFailed);
    assert_eq!(CallError::BadReply.status(), Status::BadMessage);
    assert_eq!(
        CallError::Status(Status::NoResources).status(),
        Status::NoResources
    );
    assert_eq!(
        CallError::ExtensionFailed.to_string(),
        "the extension failed"
    );
}

#[test]
fn random_replies_never_panic() {
    let mut random = XorShift::new(0x00ca_11e7);
    for _ in 0..20_000 {
        let status = Status::from_code(random.below(7)).unwrap();
        let length = random.below(80) as usize;
        let fill = random.next();
        let fill_message = |message: &mut [u8]| {
            for (index, byte) in message.iter_mut().enumerate() {
                *byte = (fill >> (index % 8 * 8)) as u8 & if fill & 1 == 0 { 1 } else { 0xff };
            }
        };
        // Each interface's kernel side has its own CallError.
        let mut transport = |_: u64, message: &mut [u8]| {
            fill_message(message);
            Ok((status, length))
        };
        let mut crashtest_transport = |_: u64, message: &mut [u8]| {
            fill_message(message);
            Ok((status, length))
        };
        let init = kernel::init(&mut transport, 1, 2, 3, 4, 5);
        if let Ok(reply) = init {
            assert_eq!(status, Status::Ok);
            assert!((5..=32).contains(&length));
            let _ = reply.implements_crash;
        }
        let status_reply = crashtest_kernel::status(&mut crashtest_transport);
        if status_reply.is_ok() {
            assert!(length >= 40);
        }
    }
}

/// The extension side's entry dispatch on random input: never panics, and
/// never claims a reply longer than the message.
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
    }
    let mut random = XorShift::new(0x000e_77e5);
    for _ in 0..20_000 {
        let operation = match random.below(3) {
            0 => random.below(8),
            1 => 0x100 + random.below(8),
            _ => random.next(),
        };
        let length = random.below(64) as usize;
        let mut message: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
        let (status, reply) = ext::dispatch(operation, &mut message, &Quiet);
        assert!(reply <= message.len());
        if status != Status::Ok {
            assert_eq!(reply, 0);
        }
        let (status, reply) = crashtest_extension::dispatch(operation, &mut message, &Counter);
        assert!(reply <= message.len());
        if status == Status::Ok {
            assert!(reply == 8 || reply == 40, "{operation:#x}");
        }
    }
}
