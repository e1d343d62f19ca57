//! Issue 4, "Validation": the `hostile` test extension calls every kernel
//! service the way a buggy or malicious driver could, and each call ends
//! the way `wrappers/interface/kernel.idl` specifies:
//!
//! | what the extension passes | outcome |
//! |---|---|
//! | a message outside its region, over the largest message, or whose end wraps | fault: message outside the region |
//! | a message in its region that is not mapped | fault: message not mapped |
//! | a message it may only read, to a service with a reply | fault: reply not writable |
//! | a malformed message (short, bad enumeration code, bool 2, not UTF-8, a length over its maximum or past the message) | fault: malformed message |
//! | a stale, released, forged, another extension's or wrongly typed handle | fault: bad handle |
//! | an offset or index outside its object | fault: out of range |
//! | a well-formed request the kernel declines | a status (`refused`, `no-resources`, `unknown-operation`), no fault |
//!
//! Every fault is recorded as `wrapper-check-failed` and recovered: a new
//! generation runs. The counters of `nim::services::Failure` show which
//! check failed, so a case cannot pass by failing for another reason. The
//! cases come from the generated service table (`SERVICES`) and the
//! message model `extension_abi::layout`, so a new service is covered
//! without editing this file (and a test fails if one is not). After each
//! group the kernel is alive, hostile runs again, crashtest still answers,
//! and no frame, heap byte or pending timer leaked.

use super::{RECOVERY_TIMEOUT_MS, generation};
use crate::memory::paging::{self, EXTENSION_REGION_SIZE, PageRights};
use crate::memory::{frames, heap};
use crate::nim::recovery::wait_for_recovery;
use crate::nim::services::{self, Failure};
use crate::nim::{self, EXTENSIONS, Mode, SLOTS, Slot, State, domain};
use crate::{ensure, kernel_test, sched, time};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use extension_abi::interfaces::kernel::{BarKind, OperationInfo, SERVICES};
use extension_abi::layout::{Fill, Layout};
use extension_abi::{CallError, MAX_MESSAGE_BYTES, Status, crashtest_operation, operation};

/// The slot of bundled extension `name`, running isolated (see
/// [`super::running_in`]).
fn running(name: &str) -> Result<Slot, String> {
    super::running_in(name, Mode::Isolated)
}

/// The generated wrappers of `hostile.idl`, kernel side.
#[allow(dead_code)]
mod wrappers {
    include!("../../../../wrappers/generated/hostile_kernel_side.rs");
}

/// Short names for the message checks, for the tables below.
const OUTSIDE: Failure = Failure::MessageOutsideRegion;
const UNMAPPED: Failure = Failure::MessageNotMapped;
/// QEMU's standard VGA.
const VGA: (u16, u16) = (0x1234, 0x1111);
/// What `acquire` holds (see `extensions/hostile`).
const ACQUIRED_PORT: u16 = 0x82;
const ACQUIRED_LINE: u8 = 3;
/// The handle kinds `acquire` gives, in `handles` order (the device kind
/// three times: character, network, sound).
const KINDS: [&str; 11] = [
    "memory",
    "io-ports",
    "interrupt",
    "timer",
    "device",
    "device",
    "device",
    "dma-buffer",
    "pci-device",
    "mmio",
    "socket",
];

// ---------------------------------------------------------------------------
// The extensions under test.
// ---------------------------------------------------------------------------

/// Waits until the recovery thread is idle (it may still be dropping its
/// temporaries when the new instance already runs).
fn wait_for_recovery_thread() -> Result<(), String> {
    let deadline = time::ticks() + time::ms_to_ticks(RECOVERY_TIMEOUT_MS);
    loop {
        let idle = sched::threads().iter().any(|thread| {
            thread.name == "nim-recovery" && thread.state == sched::ThreadState::Blocked
        });
        if idle {
            return Ok(());
        }
        ensure!(
            time::ticks() < deadline,
            "the recovery thread is still busy after {RECOVERY_TIMEOUT_MS} ms"
        );
        sched::sleep_ms(1).map_err(|e| format!("sleep: {e}"))?;
    }
}

/// Waits for the recovery of instance `failed` of `slot`; its fault record
/// must say `expected`.
fn check_recovered(slot: Slot, failed: u32, expected: &str) -> Result<(), String> {
    let state = wait_for_recovery(slot, failed, RECOVERY_TIMEOUT_MS);
    ensure!(
        state == State::Running,
        "not running again after {RECOVERY_TIMEOUT_MS} ms but {}",
        state.name()
    );
    ensure!(
        generation(slot) == failed + 1,
        "generation {} after the failure of generation {failed}",
        generation(slot)
    );
    let record = nim::faults(slot).last().copied().ok_or("no fault record")?;
    ensure!(
        record.generation == failed && usize::from(record.extension) == slot,
        "the last fault record is of slot {} generation {}, not slot {slot} generation {failed}",
        record.extension,
        record.generation
    );
    let kind = record.kind.to_string();
    ensure!(kind == expected, "recorded as {kind}, expected {expected}");
    Ok(())
}

/// Free frames, heap bytes in use, pending timers.
fn resources() -> (usize, usize, usize) {
    (
        frames::free_count(),
        heap::stats().1,
        time::pending_timers(),
    )
}

/// Is ISA interrupt `line` masked at the PIC?
fn line_masked(line: u8) -> bool {
    let port = if line < 8 { 0x21 } else { 0xa1 };
    // SAFETY: reading a PIC's data port returns its mask register (OCW1);
    // it has no side effect.
    let mask: u8 = unsafe { x86_64::instructions::port::Port::new(port).read() };
    mask & (1 << (line % 8)) != 0
}

fn objects_of(slot: Slot) -> usize {
    nim::list()
        .iter()
        .find(|summary| summary.slot == slot)
        .map_or(usize::MAX, |summary| summary.objects)
}

/// The live handles `acquire` took, in [`KINDS`] order.
#[derive(Clone, Copy, Debug)]
struct Handles([u64; 11]);

impl Handles {
    /// The first handle of `kind`.
    fn of(&self, kind: &str) -> Result<u64, String> {
        KINDS
            .iter()
            .position(|&k| k == kind)
            .map(|index| self.0[index])
            .ok_or_else(|| format!("hostile holds no handle of kind {kind}"))
    }

    fn character(&self) -> u64 {
        self.0[4]
    }
    fn network(&self) -> u64 {
        self.0[5]
    }
    fn sound(&self) -> u64 {
        self.0[6]
    }
}

/// The hostile extension.
#[derive(Clone, Copy)]
struct Hostile {
    slot: Slot,
}

impl Hostile {
    fn up() -> Result<Hostile, String> {
        let slot = running("hostile")?;
        nim::set_policy(slot, restart_policy::RestartPolicy::Always);
        Ok(Hostile { slot })
    }

    fn generation(self) -> u32 {
        generation(self.slot)
    }

    fn transport(self) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> {
        nim::interface::transport(self.slot, self.generation(), State::Running)
    }

    /// Service `service` with the message at `address`, `length` bytes.
    fn raw(self, service: u64, address: u64, length: u64) -> Result<Status, CallError> {
        wrappers::raw_call(&mut self.transport(), service, address, length)
    }

    /// Service `service` with `message` in a heap buffer of `length` bytes.
    fn send_padded(
        self,
        service: u64,
        message: &[u8],
        length: usize,
    ) -> Result<(Status, Vec<u8>), CallError> {
        let mut answer = [0u8; 64];
        let reply = wrappers::send(
            &mut self.transport(),
            service,
            length as u64,
            message,
            &mut answer,
        )?;
        Ok((reply.status, answer[..reply.answer_length].to_vec()))
    }

    /// Service `service` with exactly `message`.
    fn send(self, service: u64, message: &[u8]) -> Result<(Status, Vec<u8>), CallError> {
        self.send_padded(service, message, message.len())
    }

    /// Acquires one object of every kind; their handles.
    fn acquire(self) -> Result<Handles, String> {
        let held = wrappers::acquire(&mut self.transport()).map_err(|e| format!("acquire: {e}"))?;
        ensure!(held == 11, "hostile holds {held} objects, expected 11");
        let h = wrappers::handles(&mut self.transport()).map_err(|e| format!("handles: {e}"))?;
        let handles = Handles([
            h.memory,
            h.io_ports,
            h.interrupt,
            h.timer,
            h.character,
            h.network,
            h.sound,
            h.dma_buffer,
            h.pci_device,
            h.mmio,
            h.socket,
        ]);
        ensure!(
            handles.0.iter().all(|&handle| handle != 0),
            "missing handles {handles:?}"
        );
        Ok(handles)
    }

    fn release_all(self) -> Result<u64, String> {
        wrappers::release_all(&mut self.transport()).map_err(|e| format!("release-all: {e}"))
    }

    /// The address of a zeroed read-only message in its own image.
    fn read_only_zeros(self) -> Result<(u64, u64), String> {
        let reply = wrappers::read_only_zeros(&mut self.transport())
            .map_err(|e| format!("read-only-zeros: {e}"))?;
        Ok((reply.address, reply.length))
    }
}

/// The service named `name`.
fn service_named(name: &str) -> Result<&'static OperationInfo, String> {
    SERVICES
        .iter()
        .find(|info| info.name == name)
        .ok_or_else(|| format!("no service {name} in the table"))
}

fn layout(info: &OperationInfo) -> Result<Layout, String> {
    Layout::of_kernel(info).map_err(|e| format!("{}: no layout: {e:?}", info.name))
}

/// A well-formed request of service `name` (padded to its reply): `handle`
/// in every handle, the named values as given, the rest their defaults.
fn request(name: &str, handle: u64, values: &[(&str, Fill<'_>)]) -> Result<Vec<u8>, String> {
    let info = service_named(name)?;
    let layout = layout(info)?;
    for (value, _) in values {
        ensure!(
            layout.request().any(|v| v.name == *value),
            "{name} has no request value {value}"
        );
    }
    let mut message = vec![0u8; MAX_MESSAGE_BYTES];
    let length = layout
        .write_with(&mut message, handle, |_, value| {
            values
                .iter()
                .find(|(name, _)| *name == value.name)
                .map(|(_, fill)| *fill)
        })
        .ok_or_else(|| format!("{name}: the values do not fit the message"))?;
    message.truncate(length);
    Ok(message)
}

// ---------------------------------------------------------------------------
// Outcomes.
// ---------------------------------------------------------------------------

/// What a hostile call must end in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The extension fails: a failed check of this kind, recovered.
    Fault(Failure),
    /// The kernel answers this status; nothing fails.
    Answer(Status),
}

/// Cases run in a group, by outcome.
#[derive(Default)]
struct Tally {
    faults: [usize; Failure::ALL.len()],
    answers: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.faults.iter().sum::<usize>() + self.answers
    }
}

impl core::fmt::Display for Tally {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} cases:", self.total())?;
        for (failure, count) in Failure::ALL.iter().zip(self.faults) {
            if count > 0 {
                write!(f, " {count} × {},", failure.reason())?;
            }
        }
        write!(f, " {} answered without a fault", self.answers)
    }
}

fn failures_seen() -> [u64; Failure::ALL.len()] {
    Failure::ALL.map(Failure::seen)
}

fn index_of(failure: Failure) -> usize {
    Failure::ALL.iter().position(|&f| f == failure).unwrap_or(0)
}

/// Runs `call` against hostile and checks it ends in `expected`: for a
/// fault, the extension failed the call, exactly one check of the expected
/// kind failed, and a new generation runs; for an answer, the status is the
/// expected one, no check failed and the same instance still runs.
fn expect(
    h: Hostile,
    tally: &mut Tally,
    expected: Outcome,
    what: impl Fn() -> String,
    call: impl FnOnce(Hostile) -> Result<Status, CallError>,
) -> Result<(), String> {
    let failed = h.generation();
    let before = failures_seen();
    let result = call(h);
    let after = failures_seen();
    let grew: Vec<&str> = Failure::ALL
        .iter()
        .zip(before.iter().zip(after))
        .filter(|(_, (before, after))| *after != **before)
        .map(|(failure, _)| failure.reason())
        .collect();
    match expected {
        Outcome::Fault(failure) => {
            ensure!(
                result == Err(CallError::ExtensionFailed),
                "{}: {result:?}, expected the extension to fail ({})",
                what(),
                failure.reason()
            );
            let fault = match failure {
                Failure::Panicked => "panic",
                _ => "wrapper-check-failed",
            };
            check_recovered(h.slot, failed, fault).map_err(|e| format!("{}: {e}", what()))?;
            let index = index_of(failure);
            ensure!(
                after[index] == before[index] + 1 && grew.len() == 1,
                "{}: failed checks {grew:?}, expected one `{}`",
                what(),
                failure.reason()
            );
            tally.faults[index] += 1;
        }
        Outcome::Answer(status) => {
            ensure!(
                result == Ok(status),
                "{}: {result:?}, expected {}",
                what(),
                status.name()
            );
            ensure!(
                grew.is_empty(),
                "{}: checks failed {grew:?} with no fault expected",
                what()
            );
            ensure!(
                h.generation() == failed && SLOTS[h.slot].state() == State::Running,
                "{}: hostile generation {failed} did not survive",
                what()
            );
            tally.answers += 1;
        }
    }
    Ok(())
}

/// Runs one group of cases on a fresh hostile, then checks the kernel and
/// the other extensions are fine and nothing leaked.
fn group(
    name: &str,
    body: impl FnOnce(Hostile, &mut Tally) -> Result<(), String>,
) -> Result<(), String> {
    let h = Hostile::up()?;
    let crashtest = running("crashtest")?;
    // Warm-up: one fault and recovery, one acquire and release, so that
    // lazily grown structures have their size before the baseline.
    let mut warm_up = Tally::default();
    expect(
        h,
        &mut warm_up,
        Outcome::Fault(Failure::MessageOutsideRegion),
        || "warm-up".into(),
        |h| h.raw(SERVICES[0].number, 0, 8),
    )?;
    h.acquire()?;
    nim::restart(h.slot).map_err(|e| format!("restart: {e}"))?;
    sched::sleep_ms(1).map_err(|e| format!("sleep: {e}"))?;
    wait_for_recovery_thread()?;
    let before = resources();
    let start = time::uptime_us();
    let mut tally = Tally::default();
    body(h, &mut tally)?;
    let elapsed_ms = (time::uptime_us() - start) / 1000;
    // Leave hostile fresh (a restart releases whatever it holds).
    let h = Hostile::up()?;
    nim::restart(h.slot).map_err(|e| format!("restart: {e}"))?;
    wait_for_recovery_thread()?;
    let after = resources();
    ensure!(
        after.0 == before.0,
        "{name}: {} frames leaked",
        before.0 as i64 - after.0 as i64
    );
    ensure!(
        after.1 == before.1,
        "{name}: {} heap bytes leaked",
        after.1 as i64 - before.1 as i64
    );
    ensure!(
        after.2 == before.2,
        "{name}: {} timers left pending",
        after.2 as i64 - before.2 as i64
    );
    // The other extensions carry on.
    let mut reply = [0u8; 8];
    let answer = nim::call(
        crashtest,
        crashtest_operation::CHECKSUM,
        &[1u64.to_le_bytes(), 100u64.to_le_bytes()].concat(),
        &mut reply,
    );
    ensure!(
        answer == Ok((Status::Ok, 8))
            && u64::from_le_bytes(reply) == extension_abi::checksum(1, 100),
        "{name}: crashtest answers {answer:?} afterwards"
    );
    crate::println!("ktest: hostile: {name}: {tally} in {elapsed_ms} ms");
    Ok(())
}

// ---------------------------------------------------------------------------
// (a), (b): where the message is and how long it is.
// ---------------------------------------------------------------------------

/// The heap base of `slot`.
fn heap_of(slot: Slot) -> Result<u64, String> {
    EXTENSIONS.lock()[slot]
        .as_ref()
        .and_then(|record| record.memory.as_ref().map(|memory| memory.heap_base()))
        .ok_or_else(|| format!("slot {slot} has no memory"))
}

kernel_test!(a_message_outside_the_callers_domain_fails_it { outside_the_domain() });

fn outside_the_domain() -> Result<(), String> {
    static KERNEL_DATA: u64 = 0x5eed;
    group("messages outside the domain", |h, tally| {
        let other = heap_of(running("crashtest")?)?;
        let kernel_heap = Box::new([0u8; 64]);
        let region = domain::region_base(h.slot);
        let heap_end = region + domain::HEAP_OFFSET + domain::HEAP_PAGES * 4096;
        let stack_guard = domain::stack_top(region, 0) - domain::STACK_STRIDE;
        ensure!(
            domain::in_stack_guard(region, stack_guard),
            "{stack_guard:#x} is not a stack guard"
        );
        let places: [(&str, u64, u64, Failure); 12] = [
            ("another extension's heap", other, 16, OUTSIDE),
            (
                "kernel text",
                crate::arch::halt as *const () as u64,
                16,
                OUTSIDE,
            ),
            (
                "kernel data",
                core::ptr::addr_of!(KERNEL_DATA) as u64,
                8,
                OUTSIDE,
            ),
            ("the kernel heap", kernel_heap.as_ptr() as u64, 64, OUTSIDE),
            ("null", 0, 8, OUTSIDE),
            ("identity-mapped RAM", 0x10_0000, 64, OUTSIDE),
            ("a non-canonical address", 0x0000_8000_0000_0000, 8, OUTSIDE),
            (
                "the last bytes of the address space",
                u64::MAX - 7,
                8,
                OUTSIDE,
            ),
            (
                "the next region",
                region + EXTENSION_REGION_SIZE,
                16,
                OUTSIDE,
            ),
            ("its region, past its heap", heap_end, 16, UNMAPPED),
            ("its region, a stack guard page", stack_guard, 16, UNMAPPED),
            (
                "its region, its empty grant area",
                region + domain::GRANTS_OFFSET,
                16,
                UNMAPPED,
            ),
        ];
        for info in SERVICES {
            for &(place, address, length, failure) in &places {
                expect(
                    h,
                    tally,
                    Outcome::Fault(failure),
                    || {
                        format!(
                            "{} with a message in {place} ({address:#x}, {length})",
                            info.name
                        )
                    },
                    |h| h.raw(info.number, address, length),
                )?;
            }
        }
        // Its own read-only data: readable, so the request is read; a reply
        // cannot be written. Compared with the same bytes well placed.
        let (zeros, size) = h.read_only_zeros()?;
        let root = SLOTS[h.slot].root.load(Ordering::Acquire);
        let rights = paging::rights_in(root, zeros).ok_or("the read-only message is not mapped")?;
        ensure!(
            !rights.contains(PageRights::WRITE),
            "the read-only message is writable ({rights:?})"
        );
        let mut replies = 0;
        for info in SERVICES {
            let layout = layout(info)?;
            let length = layout.min_request().max(layout.max_reply()).max(8);
            ensure!(
                length as u64 <= size,
                "{}: {length} bytes exceed the read-only message",
                info.name
            );
            let mut probe = Tally::default();
            let baseline_generation = h.generation();
            let before = failures_seen();
            let baseline = h.send(info.number, &vec![0u8; length]);
            let after = failures_seen();
            let well_placed = match baseline {
                Ok((status, _)) => Outcome::Answer(status),
                Err(CallError::ExtensionFailed) => {
                    let failure = Failure::ALL
                        .iter()
                        .zip(before.iter().zip(after))
                        .find(|(_, (before, after))| after != *before)
                        .map(|(failure, _)| *failure)
                        .ok_or_else(|| {
                            format!("{}: zeros failed hostile without a failed check", info.name)
                        })?;
                    let fault = if failure == Failure::Panicked {
                        "panic"
                    } else {
                        "wrapper-check-failed"
                    };
                    check_recovered(h.slot, baseline_generation, fault)?;
                    Outcome::Fault(failure)
                }
                Err(e) => return Err(format!("{}: zeros well placed: {e}", info.name)),
            };
            let expected = match well_placed {
                Outcome::Answer(_) if layout.max_reply() > 0 => {
                    replies += 1;
                    Outcome::Fault(Failure::ReplyNotWritable)
                }
                other => other,
            };
            expect(
                h,
                &mut probe,
                expected,
                || {
                    format!(
                        "{} with {length} zeros in its read-only data (well placed: {well_placed:?})",
                        info.name
                    )
                },
                |h| h.raw(info.number, zeros, length as u64),
            )?;
            for (total, count) in tally.faults.iter_mut().zip(probe.faults) {
                *total += count;
            }
            tally.answers += probe.answers;
        }
        ensure!(
            replies >= 5,
            "only {replies} services answered zeros with a reply to write"
        );
        drop(kernel_heap);
        Ok(())
    })
}

kernel_test!(a_length_that_overflows_or_runs_past_the_region_fails_the_caller { overflowing_lengths() });

fn overflowing_lengths() -> Result<(), String> {
    group("lengths", |h, tally| {
        let region = domain::region_base(h.slot);
        let heap = region + domain::HEAP_OFFSET;
        let heap_end = heap + domain::HEAP_PAGES * 4096;
        let cases: [(&str, u64, u64, Failure); 7] = [
            ("length u64::MAX", heap, u64::MAX, OUTSIDE),
            (
                "an end that wraps past zero",
                region + 0x1000,
                u64::MAX - 0xfff,
                OUTSIDE,
            ),
            ("length 2^63", heap, 1 << 63, OUTSIDE),
            (
                "one byte over the largest message",
                heap,
                MAX_MESSAGE_BYTES as u64 + 1,
                OUTSIDE,
            ),
            (
                "a message past the end of its region",
                region + EXTENSION_REGION_SIZE - 8,
                16,
                OUTSIDE,
            ),
            (
                "a message from before its region into it",
                region - 8,
                16,
                OUTSIDE,
            ),
            (
                "a message past the end of its heap",
                heap_end - 8,
                64,
                UNMAPPED,
            ),
        ];
        for info in SERVICES {
            for &(case, address, length, failure) in &cases {
                expect(
                    h,
                    tally,
                    Outcome::Fault(failure),
                    || format!("{} with {case} ({address:#x}, {length:#x})", info.name),
                    |h| h.raw(info.number, address, length),
                )?;
            }
            // Well placed on its heap, one byte longer than any message.
            let message = vec![0u8; 16];
            expect(
                h,
                tally,
                Outcome::Fault(Failure::MessageOutsideRegion),
                || {
                    format!(
                        "{} with a heap buffer of {} bytes",
                        info.name,
                        MAX_MESSAGE_BYTES + 1
                    )
                },
                |h| {
                    h.send_padded(info.number, &message, MAX_MESSAGE_BYTES + 1)
                        .map(|(status, _)| status)
                },
            )?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// (c): malformed messages.
// ---------------------------------------------------------------------------

kernel_test!(a_malformed_message_fails_the_caller { malformed_messages() });

fn malformed_messages() -> Result<(), String> {
    group("malformed messages", |h, tally| {
        let mut without = Vec::new();
        for info in SERVICES {
            let layout = layout(info)?;
            let mut any = false;
            for malformation in layout.malformations() {
                any = true;
                let mut message = vec![0u8; MAX_MESSAGE_BYTES + 1];
                // A live-looking handle is irrelevant: the dispatch refuses
                // the message before any handle is looked up.
                let length = layout
                    .write_malformed(malformation, &mut message, 0)
                    .ok_or_else(|| format!("{}: cannot write {malformation:?}", info.name))?;
                message.truncate(length);
                expect(
                    h,
                    tally,
                    Outcome::Fault(Failure::MalformedMessage),
                    || {
                        format!(
                            "{} with {} ({malformation:?}, {length} bytes)",
                            info.name,
                            malformation.name()
                        )
                    },
                    |h| h.send(info.number, &message).map(|(status, _)| status),
                )?;
            }
            if !any {
                without.push(info.name);
            }
        }
        // Only services without request values or reply have no malformed
        // message (trailing bytes are ignored).
        for name in &without {
            let layout = layout(service_named(name)?)?;
            ensure!(
                layout.request().count() == 0 && layout.max_reply() == 0,
                "{name} has values but no malformation was made"
            );
        }
        // A well-formed panic is a panic, not a failed check.
        let text = b"hostile: a deliberate panic";
        expect(
            h,
            tally,
            Outcome::Fault(Failure::Panicked),
            || "panic with valid text".into(),
            |h| {
                h.send(extension_abi::service::PANIC, text)
                    .map(|(status, _)| status)
            },
        )?;
        crate::println!("ktest: hostile: no malformed message exists for {without:?}");
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// (d): handles.
// ---------------------------------------------------------------------------

/// The kind of the first handle `info` takes, if any.
fn handle_kind(info: &OperationInfo) -> Option<&'static str> {
    info.arguments.iter().find_map(|argument| {
        (argument.direction != "out")
            .then(|| {
                argument
                    .wire_type
                    .strip_prefix("handle<")?
                    .strip_suffix('>')
            })
            .flatten()
    })
}

/// A way to forge a handle from a live one.
type Forgery = (&'static str, fn(u64) -> u64);

/// A well-formed request of `info` with `bits` in every handle.
fn with_handle(info: &OperationInfo, bits: u64) -> Result<Vec<u8>, String> {
    let layout = layout(info)?;
    let mut message = vec![0u8; MAX_MESSAGE_BYTES];
    let length = layout
        .write_valid(&mut message, bits)
        .ok_or_else(|| format!("{}: no valid message", info.name))?;
    message.truncate(length);
    Ok(message)
}

/// crashtest's live handles by kind (memory, I/O ports, interrupt, timer,
/// device).
fn crashtest_handles() -> Result<Vec<(&'static str, u64)>, String> {
    let slot = running("crashtest")?;
    let mut reply = [0u8; 8];
    nim::call(slot, crashtest_operation::ACQUIRE_OBJECTS, &[], &mut reply)
        .map_err(|e| format!("crashtest acquire: {e}"))?;
    let mut handles = [0u8; 40];
    nim::call(slot, crashtest_operation::HANDLES, &[], &mut handles)
        .map_err(|e| format!("crashtest handles: {e}"))?;
    let kinds = ["memory", "io-ports", "interrupt", "timer", "device"];
    Ok(kinds
        .iter()
        .zip(handles.chunks_exact(8))
        .map(|(&kind, bits)| (kind, u64::from_le_bytes(bits.try_into().unwrap_or([0; 8]))))
        .collect())
}

kernel_test!(a_stale_forged_foreign_or_wrongly_typed_handle_fails_the_caller { bad_handles() });

fn bad_handles() -> Result<(), String> {
    group("handles", |h, tally| {
        let with_handles: Vec<(&OperationInfo, &str)> = SERVICES
            .iter()
            .filter_map(|info| Some((info, handle_kind(info)?)))
            .collect();
        // Coverage: every handle kind a service takes is one hostile holds.
        for (info, kind) in &with_handles {
            ensure!(
                KINDS.contains(kind),
                "{} takes handle<{kind}>, which hostile cannot acquire",
                info.name
            );
        }
        ensure!(
            with_handles.len() >= 20,
            "only {} services take a handle",
            with_handles.len()
        );
        let foreign = crashtest_handles()?;
        for &(info, kind) in &with_handles {
            let case = |what: &str, bits: u64| {
                format!("{} with {what} handle<{kind}> {bits:#x}", info.name)
            };
            // Stale: from the previous instance.
            let old = h.acquire()?;
            nim::restart(h.slot).map_err(|e| format!("restart: {e}"))?;
            let bits = old.of(kind)?;
            let message = with_handle(info, bits)?;
            expect(
                h,
                tally,
                Outcome::Fault(Failure::BadHandle),
                || case("a stale", bits),
                |h| h.send(info.number, &message).map(|(status, _)| status),
            )?;
            // Released by this instance.
            let live = h.acquire()?;
            h.release_all()?;
            let bits = live.of(kind)?;
            let message = with_handle(info, bits)?;
            expect(
                h,
                tally,
                Outcome::Fault(Failure::BadHandle),
                || case("a released", bits),
                |h| h.send(info.number, &message).map(|(status, _)| status),
            )?;
            // Forged from a live one, or made up.
            let forgeries: [Forgery; 7] = [
                ("a bit-flipped", |live| live ^ 1),
                ("a check-byte-flipped", |live| live ^ (1 << 60)),
                ("a generation-flipped", |live| live ^ (1 << 30)),
                ("an extension-flipped", |live| live ^ (1 << 40)),
                ("a zero", |_| 0),
                ("an all-ones", |_| u64::MAX),
                ("a made-up", |_| 0x1234_5678_9abc_def0),
            ];
            for (what, forge) in forgeries {
                let bits = forge(h.acquire()?.of(kind)?);
                let message = with_handle(info, bits)?;
                expect(
                    h,
                    tally,
                    Outcome::Fault(Failure::BadHandle),
                    || case(what, bits),
                    |h| h.send(info.number, &message).map(|(status, _)| status),
                )?;
            }
            // Another extension's live handle (of the same kind if it has one).
            let bits = foreign
                .iter()
                .find(|(foreign_kind, _)| *foreign_kind == kind)
                .or(foreign.first())
                .map(|(_, bits)| *bits)
                .ok_or("crashtest has no handles")?;
            h.acquire()?;
            let message = with_handle(info, bits)?;
            expect(
                h,
                tally,
                Outcome::Fault(Failure::BadHandle),
                || case("crashtest's", bits),
                |h| h.send(info.number, &message).map(|(status, _)| status),
            )?;
            // A live handle of every other kind.
            for (index, other) in KINDS.iter().enumerate() {
                if *other == kind {
                    continue;
                }
                let bits = h.acquire()?.0[index];
                let message = with_handle(info, bits)?;
                expect(
                    h,
                    tally,
                    Outcome::Fault(Failure::BadHandle),
                    || case(&format!("a live {other} handle for a"), bits),
                    |h| h.send(info.number, &message).map(|(status, _)| status),
                )?;
            }
        }
        // Leave crashtest holding nothing.
        nim::restart(running("crashtest")?).map_err(|e| format!("restart crashtest: {e}"))?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Offsets outside their object.
// ---------------------------------------------------------------------------

kernel_test!(an_offset_outside_its_object_fails_the_caller { out_of_range_offsets() });

fn out_of_range_offsets() -> Result<(), String> {
    group("offsets", |h, tally| {
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            [(&'static str, u64); 2],
        );
        // (service, handle kind, what, values)
        let cases: [Case; 11] = [
            (
                "read-io-port",
                "io-ports",
                "offset 1 of 1 port",
                [("offset", 1), ("width", 1)],
            ),
            (
                "read-io-port",
                "io-ports",
                "a word of 1 port",
                [("offset", 0), ("width", 2)],
            ),
            (
                "write-io-port",
                "io-ports",
                "offset 0xffff",
                [("offset", 0xffff), ("width", 1)],
            ),
            (
                "write-io-port",
                "io-ports",
                "a double word of 1 port",
                [("offset", 0), ("width", 4)],
            ),
            (
                "read-pci-config",
                "pci-device",
                "a misaligned double word",
                [("offset", 2), ("width", 4)],
            ),
            (
                "read-pci-config",
                "pci-device",
                "a double word at 254",
                [("offset", 254), ("width", 4)],
            ),
            (
                "write-pci-config",
                "pci-device",
                "a misaligned word",
                [("offset", 0x41), ("width", 2)],
            ),
            (
                "read-pci-bar",
                "pci-device",
                "BAR 6",
                [("index", 6), ("index", 6)],
            ),
            (
                "read-pci-bar",
                "pci-device",
                "BAR 255",
                [("index", 255), ("index", 255)],
            ),
            ("map-mmio", "pci-device", "BAR 6", [("bar", 6), ("bar", 6)]),
            (
                "map-mmio",
                "pci-device",
                "BAR 255",
                [("bar", 255), ("bar", 255)],
            ),
        ];
        for (name, kind, what, values) in cases {
            let handles = h.acquire()?;
            let fills = values.map(|(value, number)| (value, Fill::Number(number)));
            let message = request(name, handles.of(kind)?, &fills)?;
            expect(
                h,
                tally,
                Outcome::Fault(Failure::OutOfRange),
                || format!("{name} with {what}"),
                |h| {
                    h.send(service_named(name).map(|i| i.number).unwrap_or(0), &message)
                        .map(|(status, _)| status)
                },
            )?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// (e): well-formed requests the kernel declines.
// ---------------------------------------------------------------------------

kernel_test!(a_declined_request_is_answered_without_a_fault { declined_requests() });

fn declined_requests() -> Result<(), String> {
    // A first pass, checked but not counted for leaks: the first refusal
    // of each kind grows kernel tables once (the same pass again leaks
    // nothing, which the measured pass shows).
    let mut first_pass = Tally::default();
    declined_requests_pass(Hostile::up()?, &mut first_pass)?;
    group("declined requests", declined_requests_pass)
}

fn declined_requests_pass(h: Hostile, tally: &mut Tally) -> Result<(), String> {
    let handles = h.acquire()?;
    let crashtest = crashtest_handles()?;
    ensure!(!crashtest.is_empty(), "crashtest holds nothing");
    let objects = objects_of(h.slot);
    let mut declined = |name: &str,
                        handle: u64,
                        values: &[(&str, Fill<'_>)],
                        status: Status|
     -> Result<(), String> {
        let info = service_named(name)?;
        let message = request(name, handle, values)?;
        expect(
            h,
            tally,
            Outcome::Answer(status),
            || format!("{name} {values:?} (handle {handle:#x})"),
            |h| h.send(info.number, &message).map(|(status, _)| status),
        )?;
        ensure!(
            objects_of(h.slot) == objects,
            "{name} {values:?}: hostile now holds {} objects, not {objects}",
            objects_of(h.slot)
        );
        Ok(())
    };
    let n = Fill::Number;
    // Ports the kernel keeps: the first and last of each range, and a
    // range over each; ports another extension (crashtest: 0x510) or
    // hostile itself holds; empty and wrapping ranges.
    for &(first, count) in &services::KERNEL_PORTS {
        let last = u64::from(first) + u64::from(count) - 1;
        declined(
            "request-io-ports",
            0,
            &[("first", n(u64::from(first))), ("count", n(1))],
            Status::Refused,
        )?;
        declined(
            "request-io-ports",
            0,
            &[("first", n(last)), ("count", n(1))],
            Status::Refused,
        )?;
        declined(
            "request-io-ports",
            0,
            &[("first", n(u64::from(first) - 1)), ("count", n(2))],
            Status::Refused,
        )?;
    }
    for (first, count) in [
        (0x510, 1),
        (u64::from(ACQUIRED_PORT), 1),
        (0x100, 0),
        (0xffff, 2),
        (0, 0xffff),
    ] {
        declined(
            "request-io-ports",
            0,
            &[("first", n(first)), ("count", n(count))],
            Status::Refused,
        )?;
    }
    // Lines the kernel keeps, lines that do not exist, lines held.
    for &line in &services::KERNEL_LINES {
        declined(
            "request-interrupt",
            0,
            &[("line", n(u64::from(line)))],
            Status::Refused,
        )?;
    }
    for line in [16, 255, 5, u64::from(ACQUIRED_LINE)] {
        declined(
            "request-interrupt",
            0,
            &[("line", n(line))],
            Status::Refused,
        )?;
    }
    // Memory: no pages, too many.
    for pages in [0, 1025, u64::MAX] {
        declined("grant-memory", 0, &[("pages", n(pages))], Status::Refused)?;
    }
    for bytes in [0, 256 * 1024 + 1, u64::MAX] {
        declined("allocate-dma", 0, &[("bytes", n(bytes))], Status::Refused)?;
    }
    for milliseconds in [0, 3_600_001, u64::MAX] {
        declined(
            "start-timer",
            0,
            &[("milliseconds", n(milliseconds))],
            Status::Refused,
        )?;
    }
    // Device names: invalid, taken (its own, crashtest's, the console's).
    let taken = crate::devices::list()
        .first()
        .map(|device| device.name.clone())
        .ok_or("no devices")?;
    for name in [
        "",
        "bad name",
        "UPPER",
        "dots.not.allowed",
        "hostile0",
        "crashtest0",
        taken.as_str(),
    ] {
        declined(
            "register-device",
            0,
            &[("class", n(1)), ("name", Fill::Bytes(name.as_bytes()))],
            Status::Refused,
        )?;
    }
    // PCI: no such function, the VGA while held, every bridge.
    for (vendor, device, index) in [(0xffff, 0xffff, 0), (VGA.0, VGA.1, 1), (VGA.0, VGA.1, 0)]
        .map(|(v, d, i)| (u64::from(v), u64::from(d), i))
    {
        declined(
            "claim-pci-device",
            0,
            &[
                ("vendor", n(vendor)),
                ("device", n(device)),
                ("index", n(index)),
            ],
            Status::Refused,
        )?;
    }
    let bridges: Vec<(u16, u16)> = crate::pci::devices()
        .iter()
        .filter(|function| function.class == 0x06)
        .map(|function| (function.vendor_id, function.device_id))
        .collect();
    ensure!(!bridges.is_empty(), "no PCI bridge on this machine");
    for (vendor, device) in &bridges {
        declined(
            "claim-pci-device",
            0,
            &[
                ("vendor", n(u64::from(*vendor))),
                ("device", n(u64::from(*device))),
            ],
            Status::Refused,
        )?;
    }
    // Configuration writes to the BARs and the ROM register, every
    // aligned offset and width.
    let pci = handles.of("pci-device")?;
    let mut protected = 0;
    for offset in 0x10u64..0x34 {
        for width in [1u64, 2, 4] {
            let touches =
                extension_abi::validate::config_write_is_protected(offset as u8, width as u8);
            if offset % width == 0 && touches {
                protected += 1;
                declined(
                    "write-pci-config",
                    pci,
                    &[
                        ("offset", n(offset)),
                        ("width", n(width)),
                        ("value", n(0xffff_ffff)),
                    ],
                    Status::Refused,
                )?;
            }
        }
    }
    ensure!(
        protected == 28 + 14 + 7,
        "{protected} protected configuration writes"
    );
    // MMIO of a BAR that decodes nothing.
    for bar in [1, 3, 4, 5] {
        declined("map-mmio", pci, &[("bar", n(bar))], Status::Refused)?;
    }
    // Device-class services on a device of another class.
    declined(
        "deliver-packet",
        handles.character(),
        &[("frame", Fill::Bytes(&[0; 60]))],
        Status::Refused,
    )?;
    declined(
        "deliver-packet",
        handles.sound(),
        &[("frame", Fill::Bytes(&[0; 60]))],
        Status::Refused,
    )?;
    declined("period-finished", handles.character(), &[], Status::Refused)?;
    declined("period-finished", handles.network(), &[], Status::Refused)?;
    // Call-backs of kernel-only entry operations.
    for target in [
        operation::INIT,
        operation::CRASH,
        operation::INTERRUPT,
        operation::TIMER,
        0xff,
    ] {
        declined("call-back", 0, &[("operation", n(target))], Status::Refused)?;
    }
    // And a harmless one.
    declined("sleep-ms", 0, &[("milliseconds", n(0))], Status::Ok)?;
    // Unknown service numbers.
    let next = SERVICES.iter().map(|info| info.number).max().unwrap_or(0) + 1;
    for number in [0, next, 1000, u64::MAX] {
        expect(
            h,
            tally,
            Outcome::Answer(Status::UnknownOperation),
            || format!("service {number}"),
            |h| h.send(number, &[0u8; 16]).map(|(status, _)| status),
        )?;
    }
    // crashtest keeps what it holds.
    nim::restart(running("crashtest")?).map_err(|e| format!("restart crashtest: {e}"))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Nesting, grant exhaustion.
// ---------------------------------------------------------------------------

kernel_test!(nested_call_backs_stop_at_the_limit_on_any_thread { nested_call_backs() });

fn nested_call_backs() -> Result<(), String> {
    // Warm-up: the first threads spawned may grow the scheduler's tables.
    for _ in 0..2 {
        sched::spawn("hostile-warm-up", || 0)
            .map_err(|e| format!("spawn: {e:?}"))?
            .join()
            .map_err(|e| format!("join: {e}"))?;
    }
    group("nested call-backs", |h, tally| {
        // From this thread and from a fresh kernel thread (64 KiB stack).
        for on_thread in [false, true] {
            let slot = h.slot;
            let generation = h.generation();
            let run = move || {
                wrappers::recurse(&mut nim::interface::transport(
                    slot,
                    generation,
                    State::Running,
                ))
            };
            let reply = if on_thread {
                let answer = alloc::sync::Arc::new(spin::Mutex::new(None));
                let shared = answer.clone();
                let thread = sched::spawn("hostile-recurse", move || {
                    *shared.lock() = Some(run());
                    0
                })
                .map_err(|e| format!("spawn: {e:?}"))?;
                thread.join().map_err(|e| format!("join: {e}"))?;
                answer.lock().take().ok_or("the thread left no answer")?
            } else {
                run()
            };
            let reply = reply.map_err(|e| format!("recurse: {e}"))?;
            ensure!(
                reply.deepest == services::MAX_NESTED_CALL_BACKS as u64,
                "recursion reached level {}, expected {}",
                reply.deepest,
                services::MAX_NESTED_CALL_BACKS
            );
            ensure!(
                reply.refusal == Status::NoResources,
                "the deepest call-back was answered {}",
                reply.refusal.name()
            );
            ensure!(
                h.generation() == generation,
                "hostile failed while recursing"
            );
            ensure!(
                nim::services::current_depth() == 0,
                "XPC frames left on this thread"
            );
            tally.answers += 1;
        }
        Ok(())
    })
}

kernel_test!(refused_grants_leave_recovery_nothing_more_to_walk { grant_exhaustion() });

fn grant_exhaustion() -> Result<(), String> {
    group("grant area exhaustion", |h, tally| {
        let grant = |pages: u64| request("grant-memory", 0, &[("pages", Fill::Number(pages))]);
        let grants_start = domain::region_base(h.slot) + domain::GRANTS_OFFSET;
        let limit = grants_start + domain::MAX_GRANT_PAGES * 4096;
        // Fill the grant area, 4 MiB at a time and then smaller, returning
        // each grant (the area's addresses are not reused).
        let mut rounds = 0;
        for pages in [1024, 256, 64, 16, 4, 1] {
            loop {
                let (status, answer) = h
                    .send(service_named("grant-memory")?.number, &grant(pages)?)
                    .map_err(|e| format!("grant: {e}"))?;
                if status == Status::NoResources {
                    break;
                }
                ensure!(
                    status == Status::Ok && rounds < 64,
                    "grant round {rounds}: {}",
                    status.name()
                );
                let handle = u64::from_le_bytes(answer[..8].try_into().unwrap_or([0; 8]));
                let release = request("release-memory", handle, &[])?;
                let (status, _) = h
                    .send(service_named("release-memory")?.number, &release)
                    .map_err(|e| format!("release: {e}"))?;
                ensure!(status == Status::Ok, "release: {}", status.name());
                rounds += 1;
            }
        }
        ensure!(rounds >= 15, "the grant area held only {rounds} grants");
        let next = SLOTS[h.slot].grant_next.load(Ordering::Acquire);
        ensure!(
            next <= limit + 4096,
            "grant_next {:#x} beyond the limit {limit:#x}",
            next
        );
        // A thousand refused requests move nothing.
        for attempt in 0..1000 {
            let (status, _) = h
                .send(
                    service_named("grant-memory")?.number,
                    &grant(1 + attempt % 1024)?,
                )
                .map_err(|e| format!("grant: {e}"))?;
            ensure!(
                status == Status::NoResources,
                "refused grant {attempt}: {}",
                status.name()
            );
        }
        tally.answers += 1000;
        let after = SLOTS[h.slot].grant_next.load(Ordering::Acquire);
        ensure!(
            after == next,
            "refused grants moved grant_next from {next:#x} to {after:#x}"
        );
        // Recovery walks the area once, quickly.
        expect(
            h,
            tally,
            Outcome::Fault(Failure::MessageOutsideRegion),
            || "a fault after exhausting grants".into(),
            |h| h.raw(extension_abi::service::NULL_SERVICE, 0, 8),
        )?;
        let record = nim::faults(h.slot)
            .last()
            .copied()
            .ok_or("no fault record")?;
        let recovered_us = record.time_to_recover_us.ok_or("no recovery time")?;
        ensure!(recovered_us < 500_000, "recovery took {recovered_us} µs");
        crate::println!(
            "ktest: hostile: {rounds} grants filled the area; recovery after 1000 refusals: {recovered_us} µs"
        );
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// The positive paths the refusals are measured against.
// ---------------------------------------------------------------------------

kernel_test!(the_vga_is_claimed_probed_through_mmio_released_and_claimed_again { vga() });

fn vga() -> Result<(), String> {
    group("VGA", |h, tally| {
        let function = crate::pci::find(VGA.0, VGA.1).ok_or("no VGA on this machine")?;
        let bar = function.bar(2).ok_or("the VGA has no BAR 2")?;
        let reply =
            wrappers::probe_vga(&mut h.transport()).map_err(|e| format!("probe-vga: {e}"))?;
        ensure!(
            reply.ids == (u32::from(VGA.1) << 16 | u32::from(VGA.0)),
            "configuration dword 0 is {:#x}",
            reply.ids
        );
        ensure!(
            reply.bar2_kind == BarKind::Memory.code(),
            "BAR 2 kind {}",
            reply.bar2_kind
        );
        ensure!(
            reply.bar2_base == bar.address() && reply.bar2_size == 4096,
            "BAR 2 at {:#x} size {:#x}",
            reply.bar2_base,
            reply.bar2_size
        );
        ensure!(
            reply.mmio_length == 4096,
            "MMIO mapping of {} bytes",
            reply.mmio_length
        );
        ensure!(
            (0xb0c0..=0xb0c5).contains(&reply.dispi_id),
            "DISPI ID register {:#x}",
            reply.dispi_id
        );
        ensure!(
            reply.command_on & 4 != 0,
            "bus mastering not on: command {:#x}",
            reply.command_on
        );
        ensure!(
            reply.command_off & 4 == 0,
            "bus mastering not off: command {:#x}",
            reply.command_off
        );
        ensure!(
            reply.second_claim == Status::Refused,
            "a second claim answered {}",
            reply.second_claim.name()
        );
        ensure!(
            reply.reclaimed,
            "the VGA could not be claimed again after its release"
        );
        ensure!(
            crate::pci::read_config(function.address, 4, 2) & 4 == 0,
            "bus mastering left on"
        );
        ensure!(
            objects_of(h.slot) == 0,
            "hostile holds {} objects after the probe",
            objects_of(h.slot)
        );
        tally.answers += 1;
        crate::println!(
            "ktest: hostile: VGA DISPI id {:#x}, BAR 2 at {:#x}",
            reply.dispi_id,
            reply.bar2_base
        );
        Ok(())
    })
}

kernel_test!(dma_buffers_are_page_aligned_zeroed_writable_and_returned { dma_buffers() });

fn dma_buffers() -> Result<(), String> {
    group("DMA buffers", |h, tally| {
        for bytes in [1u64, 4096, 4097, 65536, 256 * 1024] {
            let frames_before = frames::free_count();
            let reply = wrappers::check_dma(&mut h.transport(), bytes)
                .map_err(|e| format!("check-dma {bytes}: {e}"))?;
            ensure!(
                reply.physical.is_multiple_of(4096),
                "{bytes} bytes: physical {:#x} not page aligned",
                reply.physical
            );
            ensure!(
                reply.length == bytes.div_ceil(4096) * 4096,
                "{bytes} bytes: a buffer of {}",
                reply.length
            );
            ensure!(reply.zeroed, "{bytes} bytes: not zeroed");
            ensure!(reply.writable, "{bytes} bytes: a pattern did not read back");
            ensure!(
                frames::free_count() == frames_before,
                "{bytes} bytes: {} frames not returned",
                frames_before as i64 - frames::free_count() as i64
            );
            tally.answers += 1;
        }
        Ok(())
    })
}

kernel_test!(io_ports_are_read_and_written_through_a_reservation { io_ports() });

fn io_ports() -> Result<(), String> {
    group("I/O ports", |h, tally| {
        // The ISA DMA page register of channel 2 (floppy): a latch that
        // reads back what was written, unused here.
        for value in [0x5a, 0xa5, 0x01] {
            let read = wrappers::check_port(&mut h.transport(), 0x81, value)
                .map_err(|e| format!("check-port: {e}"))?;
            ensure!(
                read == value,
                "port 0x81 read {read:#x} after writing {value:#x}"
            );
            tally.answers += 1;
        }
        ensure!(objects_of(h.slot) == 0, "the reservation was not released");
        Ok(())
    })
}

kernel_test!(network_frames_and_sound_periods_reach_the_kernel { network_and_sound() });

fn network_and_sound() -> Result<(), String> {
    group("network and sound devices", |h, tally| {
        h.acquire()?;
        let devices = services::devices_of(h.slot);
        let class = |class| {
            devices
                .iter()
                .find(|device| device_table::Device::class(&***device) == class)
                .cloned()
        };
        let network = class(device_table::DeviceClass::Network).ok_or("no network device")?;
        let sound = class(device_table::DeviceClass::Sound).ok_or("no sound device")?;
        ensure!(
            network.take_received_frame().is_none(),
            "a frame before any was delivered"
        );
        let frames: Vec<Vec<u8>> = [60usize, 1514, 14]
            .iter()
            .enumerate()
            .map(|(index, &length)| (0..length).map(|byte| (byte * 7 + index) as u8).collect())
            .collect();
        for frame in &frames {
            wrappers::deliver(&mut h.transport(), frame).map_err(|e| format!("deliver: {e}"))?;
        }
        for (index, frame) in frames.iter().enumerate() {
            let received = network
                .take_received_frame()
                .ok_or_else(|| format!("frame {index} did not arrive"))?;
            ensure!(
                &received == frame,
                "frame {index} arrived changed ({} bytes)",
                received.len()
            );
        }
        ensure!(
            network.take_received_frame().is_none(),
            "an extra frame arrived"
        );
        let periods = sound.periods_finished();
        for _ in 0..3 {
            wrappers::period(&mut h.transport()).map_err(|e| format!("period: {e}"))?;
        }
        ensure!(
            sound.periods_finished() == periods + 3,
            "{} periods counted, expected {}",
            sound.periods_finished(),
            periods + 3
        );
        tally.answers += frames.len() + 3;
        drop(devices);
        drop(network);
        drop(sound);
        Ok(())
    })
}

kernel_test!(interrupt_lines_are_masked_and_unmasked_on_request { interrupt_lines() });

fn interrupt_lines() -> Result<(), String> {
    group("interrupt lines", |h, tally| {
        let handles = h.acquire()?;
        let line = handles.of("interrupt")?;
        ensure!(
            !line_masked(ACQUIRED_LINE),
            "line {ACQUIRED_LINE} masked after it was requested"
        );
        let mut call = |name: &str, masked: bool| -> Result<(), String> {
            let message = request(name, line, &[])?;
            expect(
                h,
                tally,
                Outcome::Answer(Status::Ok),
                || name.into(),
                |h| {
                    h.send(service_named(name).map(|i| i.number).unwrap_or(0), &message)
                        .map(|(status, _)| status)
                },
            )?;
            ensure!(
                line_masked(ACQUIRED_LINE) == masked,
                "after {name}: masked {}",
                !masked
            );
            Ok(())
        };
        call("disable-interrupt", true)?;
        call("enable-interrupt", false)?;
        call("disable-interrupt", true)?;
        call("acknowledge-interrupt", false)?;
        h.release_all()?;
        ensure!(
            line_masked(ACQUIRED_LINE),
            "line {ACQUIRED_LINE} unmasked after it was freed"
        );
        Ok(())
    })
}

kernel_test!(cancelled_and_orphaned_timers_leave_nothing_pending { timers() });

fn timers() -> Result<(), String> {
    group("timers", |h, tally| {
        let pending = time::pending_timers();
        let start = service_named("start-timer")?.number;
        let cancel = service_named("cancel-timer")?.number;
        // Starting and cancelling an hour-long timer, a hundred times.
        for round in 0..100 {
            let message = request(
                "start-timer",
                0,
                &[("milliseconds", Fill::Number(3_600_000))],
            )?;
            let (status, answer) = h.send(start, &message).map_err(|e| format!("start: {e}"))?;
            ensure!(
                status == Status::Ok,
                "start-timer round {round}: {}",
                status.name()
            );
            let handle = u64::from_le_bytes(answer[..8].try_into().unwrap_or([0; 8]));
            let (status, _) = h
                .send(cancel, &request("cancel-timer", handle, &[])?)
                .map_err(|e| format!("cancel: {e}"))?;
            ensure!(
                status == Status::Ok,
                "cancel-timer round {round}: {}",
                status.name()
            );
            tally.answers += 2;
        }
        ensure!(
            time::pending_timers() == pending,
            "{} timers pending after 100 cancelled, expected {pending}",
            time::pending_timers()
        );
        // A timer held by an instance that fails: recovery cancels it.
        h.acquire()?;
        ensure!(
            time::pending_timers() == pending + 1,
            "acquire left {} timers pending",
            time::pending_timers()
        );
        expect(
            h,
            tally,
            Outcome::Fault(Failure::MessageOutsideRegion),
            || "a fault while holding a timer".into(),
            |h| h.raw(extension_abi::service::NULL_SERVICE, 0, 8),
        )?;
        ensure!(
            time::pending_timers() == pending,
            "{} timers pending after the recovery, expected {pending}",
            time::pending_timers()
        );
        Ok(())
    })
}
