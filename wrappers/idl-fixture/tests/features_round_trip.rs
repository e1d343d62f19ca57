//! Every construct of the interface language through the generated code,
//! both ways: integers, booleans, statuses, enumerations of every width,
//! every handle kind, buffers with every length encoding, in, out and inout.

use extension_abi::{CallError, Status};
use idl_fixture::extension_api::with_kernel;
use idl_fixture::features_extension as ext;
use idl_fixture::features_kernel as kernel;
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Default)]
struct Kernel {
    seen: Vec<String>,
    overlong_blob: bool,
}

impl kernel::Services for Kernel {
    fn scalars(
        &mut self,
        a: u8,
        b: u16,
        c: u32,
        d: u64,
        flag: bool,
        toggle: bool,
    ) -> Result<kernel::ScalarsReply, Status> {
        self.seen
            .push(format!("scalars {a} {b} {c} {d} {flag} {toggle}"));
        Ok(kernel::ScalarsReply {
            c: c.wrapping_add(1),
            sum: u64::from(a) + u64::from(b) + u64::from(c) + d,
            toggle: !toggle,
        })
    }
    fn enums(
        &mut self,
        color: kernel::Color,
        mode: kernel::Mode,
        depth: kernel::Depth,
    ) -> Result<kernel::EnumsReply, Status> {
        self.seen
            .push(format!("enums {color:?} {mode:?} {depth:?}"));
        Ok(kernel::EnumsReply {
            mode: match mode {
                kernel::Mode::Fast => kernel::Mode::Slow,
                kernel::Mode::Slow => kernel::Mode::Fast,
            },
            wide: match depth {
                kernel::Depth::Deep => kernel::Wide::Huge,
                kernel::Depth::Shallow => kernel::Wide::Small,
            },
            echo: color,
        })
    }
    #[allow(clippy::too_many_arguments, reason = "the interface's shape")]
    fn handles(
        &mut self,
        memory: kernel::MemoryHandle,
        dma: kernel::DmaBufferHandle,
        ports: kernel::IoPortsHandle,
        mmio: kernel::MmioHandle,
        interrupt: kernel::InterruptHandle,
        deferred: kernel::DeferredCallHandle,
        packet: kernel::PacketHandle,
        block: kernel::BlockRequestHandle,
    ) -> Result<kernel::HandlesReply, Status> {
        self.seen.push(format!(
            "handles {} {} {} {} {} {} {} {}",
            memory.0, dma.0, ports.0, mmio.0, interrupt.0, deferred.0, packet.0, block.0
        ));
        Ok(kernel::HandlesReply {
            ports: kernel::IoPortsHandle(ports.0 + 1),
            timer: kernel::TimerHandle(u64::MAX),
            device: kernel::DeviceHandle(memory.0 + block.0),
        })
    }
    fn buffers(
        &mut self,
        small: &[u8],
        name: &str,
        big: &[u8],
        data: &mut [u8],
        more: &mut [u8],
    ) -> Result<kernel::BuffersReply, Status> {
        self.seen
            .push(format!("buffers {small:?} {name} {}", big.len()));
        assert_eq!((data.len(), more.len()), (64, 16));
        let reversed: Vec<u8> = small.iter().rev().copied().collect();
        data[..reversed.len()].copy_from_slice(&reversed);
        more[..name.len().min(16)].copy_from_slice(&name.as_bytes()[..name.len().min(16)]);
        Ok(kernel::BuffersReply {
            data_length: reversed.len(),
            more_length: name.len().min(16),
            count: big.iter().map(|&byte| u32::from(byte)).sum(),
        })
    }
    fn tail_text(&mut self, color: kernel::Color, line: &str) -> Result<(), Status> {
        self.seen.push(format!("tail {} {line}", color.name()));
        Ok(())
    }
    fn statuses(&mut self, status: Status) -> Result<Status, Status> {
        self.seen.push(format!("statuses {}", status.name()));
        Status::from_code(status as u64 + 1).ok_or(Status::Refused)
    }
    fn nothing(&mut self) -> Result<(), Status> {
        self.seen.push("nothing".into());
        Ok(())
    }
    #[allow(clippy::too_many_arguments, reason = "the interface's shape")]
    fn many_arguments(
        &mut self,
        a1: u8,
        a2: u8,
        a3: u8,
        a4: u8,
        a5: u8,
        a6: u8,
        a7: u8,
        a8: u8,
    ) -> Result<u64, Status> {
        Ok([a1, a2, a3, a4, a5, a6, a7, a8]
            .iter()
            .map(|&value| u64::from(value))
            .sum())
    }
    fn only_out(&mut self) -> Result<u32, Status> {
        Ok(0xdead_beef)
    }
    fn single_buffer_out(&mut self, blob: &mut [u8]) -> Result<usize, Status> {
        blob.fill(0x5a);
        Ok(if self.overlong_blob {
            blob.len() + 1
        } else {
            blob.len()
        })
    }
}

fn with_features_kernel<R>(overlong_blob: bool, body: impl FnOnce() -> R) -> (R, Vec<String>) {
    let state = Rc::new(RefCell::new(Kernel {
        seen: Vec::new(),
        overlong_blob,
    }));
    let kernel_side = Rc::clone(&state);
    let result = with_kernel(
        move |service, message| kernel::dispatch(service, message, &mut *kernel_side.borrow_mut()),
        body,
    );
    let seen = state.borrow().seen.clone();
    (result, seen)
}

#[test]
fn scalars_enums_and_statuses_round_trip() {
    let d = u64::MAX - (0xff + 0xffff + u64::from(u32::MAX));
    let ((scalars, enums, statuses, last_status, many, only), seen) =
        with_features_kernel(false, || {
            (
                ext::scalars(0xff, 0xffff, u32::MAX, d, true, false),
                ext::enums(ext::Color::Blue, ext::Mode::Fast, ext::Depth::Deep),
                ext::statuses(Status::Refused),
                ext::statuses(Status::NotRunning),
                ext::many_arguments(1, 2, 3, 4, 5, 6, 7, 8),
                ext::only_out(),
            )
        });
    assert_eq!(
        scalars,
        Ok(ext::ScalarsReply {
            c: 0,
            sum: u64::MAX,
            toggle: true
        })
    );
    assert_eq!(
        enums,
        Ok(ext::EnumsReply {
            mode: ext::Mode::Slow,
            wide: ext::Wide::Huge,
            echo: ext::Color::Blue
        })
    );
    assert_eq!(statuses, Ok(Status::NoResources));
    assert_eq!(last_status, Err(Status::Refused));
    assert_eq!(many, Ok(36));
    assert_eq!(only, Ok(0xdead_beef));
    assert_eq!(
        seen,
        vec![
            format!("scalars 255 65535 4294967295 {d} true false"),
            "enums Blue Fast Deep".to_string(),
            "statuses refused".to_string(),
            "statuses not-running".to_string(),
        ]
    );
}

#[test]
fn every_handle_kind_round_trips() {
    let (reply, seen) = with_features_kernel(false, || {
        ext::handles(
            ext::MemoryHandle(1),
            ext::DmaBufferHandle(2),
            ext::IoPortsHandle(3),
            ext::MmioHandle(4),
            ext::InterruptHandle(5),
            ext::DeferredCallHandle(6),
            ext::PacketHandle(7),
            ext::BlockRequestHandle(u64::MAX - 1),
        )
    });
    assert_eq!(
        reply,
        Ok(ext::HandlesReply {
            ports: ext::IoPortsHandle(4),
            timer: ext::TimerHandle(u64::MAX),
            device: ext::DeviceHandle(u64::MAX),
        })
    );
    assert_eq!(
        seen,
        vec![format!("handles 1 2 3 4 5 6 7 {}", u64::MAX - 1)]
    );
}

#[test]
fn buffers_with_every_length_encoding_round_trip() {
    let big: Vec<u8> = (0..1000u32).map(|value| value as u8).collect();
    let expected_count: u32 = big.iter().map(|&byte| u32::from(byte)).sum();
    let (results, seen) = with_features_kernel(false, || {
        let mut data = [0u8; 64];
        let mut more = [0u8; 16];
        let reply = ext::buffers(
            &[1, 2, 3],
            "a name longer than sixteen bytes",
            &big,
            &mut data,
            &mut more,
        );
        let tail = ext::tail_text(ext::Color::Green, "the rest of the message");
        let empty = ext::tail_text(ext::Color::Red, "");
        (reply, data, more, tail, empty)
    });
    let (reply, data, more, tail, empty) = results;
    assert_eq!(
        reply,
        Ok(ext::BuffersReply {
            data_length: 3,
            more_length: 16,
            count: expected_count
        })
    );
    assert_eq!(&data[..3], &[3, 2, 1]);
    assert_eq!(&more, b"a name longer th");
    assert_eq!((tail, empty), (Ok(()), Ok(())));
    assert_eq!(
        seen,
        vec![
            "buffers [1, 2, 3] a name longer than sixteen bytes 1000",
            "tail green the rest of the message",
            "tail red ",
        ]
    );
}

#[test]
fn buffer_limits_are_enforced_on_both_sides() {
    let ((too_long, no_room, overlong_ok), seen) = with_features_kernel(false, || {
        let mut data = [0u8; 64];
        let mut more = [0u8; 16];
        let too_long = ext::buffers(&[0; 9], "", &[], &mut data, &mut more);
        // The caller's out buffer is smaller than the reply: refused.
        let mut tiny = [0u8; 2];
        let no_room = ext::buffers(&[1, 2, 3], "", &[], &mut tiny, &mut more);
        let mut blob = [0u8; 20];
        let overlong_ok = ext::single_buffer_out(&mut blob);
        (too_long, no_room, overlong_ok)
    });
    assert_eq!(too_long, Err(Status::BadMessage));
    assert_eq!(no_room, Err(Status::BadMessage));
    assert_eq!(overlong_ok, Ok(20));
    assert_eq!(seen.len(), 1, "the oversized request never left: {seen:?}");
    // An implementation claiming more bytes than its buffer holds is
    // refused by the dispatch, not encoded.
    let (overlong, _) = with_features_kernel(true, || ext::single_buffer_out(&mut [0u8; 20]));
    assert_eq!(overlong, Err(Status::BadMessage));
    // Text over its maximum, and a tail text that is not UTF-8, are refused.
    let (long_text, _) =
        with_features_kernel(false, || ext::tail_text(ext::Color::Red, &"z".repeat(101)));
    assert_eq!(long_text, Err(Status::BadMessage));
    let mut not_text = vec![1u8, 0xff];
    let mut state = Kernel::default();
    assert_eq!(
        kernel::dispatch(kernel::service::TAIL_TEXT, &mut not_text, &mut state),
        Status::BadMessage
    );
    assert!(state.seen.is_empty());
}

struct Extension {
    seen: RefCell<Vec<String>>,
}

impl ext::Entries for Extension {
    fn entry_scalars(
        &self,
        a: u8,
        b: u16,
        flag: bool,
        color: ext::Color,
    ) -> Result<ext::EntryScalarsReply, Status> {
        self.seen
            .borrow_mut()
            .push(format!("scalars {a} {b} {flag} {color:?}"));
        Ok(ext::EntryScalarsReply {
            b: b.rotate_left(8),
            status: if flag { Status::Refused } else { Status::Ok },
            wide: ext::Wide::Huge,
        })
    }
    fn entry_buffers(
        &self,
        request: &[u8],
        label: &str,
        answer: &mut [u8],
    ) -> Result<ext::EntryBuffersReply, Status> {
        self.seen
            .borrow_mut()
            .push(format!("buffers {request:?} {label}"));
        let text = format!("{label}:{}", request.len());
        answer[..text.len()].copy_from_slice(text.as_bytes());
        Ok(ext::EntryBuffersReply {
            header: 0x1234_5678,
            answer_length: text.len(),
        })
    }
    fn entry_tail_in(&self, payload: &[u8]) -> Result<(), Status> {
        self.seen
            .borrow_mut()
            .push(format!("tail {}", payload.len()));
        if payload.is_empty() {
            Err(Status::Refused)
        } else {
            Ok(())
        }
    }
    fn entry_nothing(&self) -> Result<(), Status> {
        self.seen.borrow_mut().push("nothing".into());
        Ok(())
    }
    fn entry_handles(&self, timer: ext::TimerHandle) -> Result<ext::MemoryHandle, Status> {
        Ok(ext::MemoryHandle(!timer.0))
    }
    fn entry_single_buffer_out(&self, blob: &mut [u8]) -> Result<usize, Status> {
        blob[..4].copy_from_slice(b"blob");
        Ok(4)
    }
    // `entry-many` keeps the default.
}

#[test]
fn entries_round_trip() {
    let extension = Extension {
        seen: RefCell::new(Vec::new()),
    };
    let mut transport =
        |operation: u64, message: &mut [u8]| Ok(ext::dispatch(operation, message, &extension));
    assert_eq!(
        kernel::entry_scalars(&mut transport, 7, 0x1234, true, kernel::Color::Green),
        Ok(kernel::EntryScalarsReply {
            b: 0x3412,
            status: Status::Refused,
            wide: kernel::Wide::Huge
        })
    );
    let mut answer = [0u8; 40];
    assert_eq!(
        kernel::entry_buffers(&mut transport, &[9; 32], "label", &mut answer),
        Ok(kernel::EntryBuffersReply {
            header: 0x1234_5678,
            answer_length: 8
        })
    );
    assert_eq!(&answer[..8], b"label:32");
    assert_eq!(kernel::entry_tail_in(&mut transport, &[1; 512]), Ok(()));
    assert_eq!(
        kernel::entry_tail_in(&mut transport, &[]),
        Err(CallError::Status(Status::Refused))
    );
    assert_eq!(
        kernel::entry_tail_in(&mut transport, &[1; 513]),
        Err(CallError::BadArgument)
    );
    assert_eq!(kernel::entry_nothing(&mut transport), Ok(()));
    assert_eq!(
        kernel::entry_handles(&mut transport, kernel::TimerHandle(0)),
        Ok(kernel::MemoryHandle(u64::MAX))
    );
    let mut blob = [0u8; 20];
    assert_eq!(
        kernel::entry_single_buffer_out(&mut transport, &mut blob),
        Ok(4)
    );
    assert_eq!(&blob[..4], b"blob");
    assert_eq!(
        kernel::entry_many(&mut transport, 1, 2, 3, 4, 5, 6, 7),
        Err(CallError::Status(Status::UnknownOperation))
    );
    assert_eq!(
        *extension.seen.borrow(),
        vec![
            "scalars 7 4660 true Green",
            "buffers [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9] label",
            "tail 512",
            "tail 0",
            "nothing",
        ]
    );
}

#[test]
fn enumerations_know_their_codes_and_names() {
    assert_eq!(
        ext::Color::ALL,
        &[ext::Color::Red, ext::Color::Green, ext::Color::Blue]
    );
    assert_eq!(ext::Color::from_code(0xff), Some(ext::Color::Blue));
    assert_eq!(ext::Color::from_code(0), None);
    assert_eq!(ext::Mode::Fast.code(), 0x1234);
    assert_eq!(ext::Depth::from_code(u32::MAX), Some(ext::Depth::Deep));
    assert_eq!(ext::Wide::Huge.code(), u64::MAX);
    assert_eq!(ext::Wide::Huge.name(), "huge");
    let info = kernel::SERVICES
        .iter()
        .find(|info| info.name == "buffers")
        .unwrap();
    let ownerships: Vec<Option<&str>> = info
        .arguments
        .iter()
        .map(|argument| argument.ownership)
        .collect();
    assert_eq!(
        ownerships,
        vec![
            Some("copied-in"),
            Some("borrowed"),
            Some("transferred"),
            Some("copied-out"),
            Some("transferred"),
            None
        ]
    );
    assert_eq!(info.max_request_bytes, 1 + 8 + 2 + 300 + 4 + 1000);
    assert_eq!(info.max_reply_bytes, 1 + 64 + 2 + 16 + 4);
}
