//! The isolation manager (issue 3's "done when"): recovery from every crash
//! kind in both test extensions, synchronised page tables and domain
//! rights, 1,000 create/destroy cycles, nested calls, several threads
//! inside one extension, interrupts taken inside an extension, object
//! tracking and release, and refusal of malformed images.
//!
//! Every test leaves the extensions as it found them (running isolated,
//! holding no objects; generations may have grown) and restores what it
//! changes, because the other tests run after it in the same boot. Slots
//! are looked up by name ([`running`]), never assumed.

use super::{RECOVERY_TIMEOUT_MS, generation};
use crate::memory::paging::{self, PageRights};
use crate::memory::{frames, heap};
use crate::nim::recovery::wait_for_recovery;
use crate::nim::{self, EXTENSIONS, Mode, NimError, SLOTS, Slot, State, WATCHDOG_MS};
use crate::{ensure, interrupts, kernel_test, sched, time};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use extension_abi::{CrashKind, Status, crashtest_operation as op, operation, service};

/// The slot of bundled extension `name`, running isolated (see
/// [`super::running_in`]).
fn running(name: &str) -> Result<Slot, String> {
    super::running_in(name, Mode::Isolated)
}

/// Watchdog bound while the loop kinds run (the default is 250 ms).
const TEST_WATCHDOG_MS: u64 = 50;
/// The `template` extension's one operation (answers its call count).
const TEMPLATE_COUNT: u64 = extension_abi::EXTENSION_SPECIFIC;

fn encode(arguments: &[u64]) -> Vec<u8> {
    arguments
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// Calls `operation` of `slot` with `arguments`; expects `Ok` and
/// `replies` words back.
fn call(slot: Slot, operation: u64, arguments: &[u64], replies: usize) -> Result<Vec<u64>, String> {
    let mut reply = alloc::vec![0u8; replies * 8];
    let (status, length) = nim::call(slot, operation, &encode(arguments), &mut reply)
        .map_err(|e| format!("operation {operation:#x}: {e}"))?;
    ensure!(
        status == Status::Ok,
        "operation {operation:#x} answered {}",
        status.name()
    );
    ensure!(
        length == replies * 8,
        "operation {operation:#x} replied {length} bytes, expected {}",
        replies * 8
    );
    Ok(reply
        .chunks_exact(8)
        .map(|word| u64::from_le_bytes(word.try_into().unwrap_or([0; 8])))
        .collect())
}

fn call1(slot: Slot, operation: u64, arguments: &[u64]) -> Result<u64, String> {
    Ok(call(slot, operation, arguments, 1)?[0])
}

/// Free frames and heap bytes in use.
fn memory_use() -> (usize, usize) {
    (frames::free_count(), heap::stats().1)
}

/// Sets the watchdog bound; the old one comes back when this is dropped
/// (also when the test fails early).
struct WatchdogBound(u64);

impl WatchdogBound {
    fn set(milliseconds: u64) -> Self {
        Self(WATCHDOG_MS.swap(milliseconds, Ordering::Relaxed))
    }
}

impl Drop for WatchdogBound {
    fn drop(&mut self) {
        WATCHDOG_MS.store(self.0, Ordering::Relaxed);
    }
}

/// How a crash-test subject shows that its state is fresh and works.
#[derive(Clone, Copy)]
struct Subject {
    name: &'static str,
    /// Adds one to a per-instance counter and answers it.
    counter: u64,
    /// Offers `CHECKSUM` (crashtest only).
    checksum: bool,
}

const CRASHTEST: Subject = Subject {
    name: "crashtest",
    counter: op::INCREMENT,
    checksum: true,
};
const TEMPLATE: Subject = Subject {
    name: "template",
    counter: TEMPLATE_COUNT,
    checksum: false,
};

/// Waits until the recovery thread is idle (blocked on its wait queue).
/// `wait_for_recovery` returns as soon as the new instance runs, which
/// can be before the recovery thread has dropped its temporaries (the
/// validated image, the name it logs): a heap check must wait for this.
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

/// Waits for the recovery of instance `failed` of `slot` and checks its
/// fault record says `expected_fault`.
fn check_recovered(slot: Slot, failed: u32, expected_fault: &str) -> Result<(), String> {
    let state = wait_for_recovery(slot, failed, RECOVERY_TIMEOUT_MS);
    wait_for_recovery_thread()?;
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
        record.generation == failed,
        "the last fault record is of generation {}, not {failed}",
        record.generation
    );
    ensure!(
        usize::from(record.extension) == slot,
        "the fault record names extension {}, not slot {slot}",
        record.extension
    );
    let kind = record.kind.to_string();
    ensure!(
        kind == expected_fault,
        "recorded as {kind}, expected {expected_fault}"
    );
    ensure!(
        record.time_to_recover_us.is_some(),
        "the fault record has no recovery time"
    );
    Ok(())
}

/// One crash of `kind` and its recovery, with every check of issue 3.
fn crash_cycle(subject: Subject, kind: CrashKind) -> Result<(), String> {
    let slot = running(subject.name)?;
    // State that a restart must throw away: the counter is above 0.
    call1(slot, subject.counter, &[])?;
    let counter = call1(slot, subject.counter, &[])?;
    ensure!(counter >= 2, "counter at {counter} after two increments");
    let failed = generation(slot);
    let crashed = nim::crash::crash(slot, kind);
    ensure!(crashed == Ok(()), "crash returned {crashed:?}");
    // We are still running: the kernel survived. Now the extension.
    check_recovered(slot, failed, kind.expected_fault())?;
    let counter = call1(slot, subject.counter, &[])?;
    ensure!(
        counter == 1,
        "state not fresh: the counter answered {counter} after the restart"
    );
    if subject.checksum {
        let sum = call1(slot, op::CHECKSUM, &[0x5eed, 1000])?;
        let expected = extension_abi::checksum(0x5eed, 1000);
        ensure!(sum == expected, "checksum {sum:#x}, expected {expected:#x}");
    }
    let null = nim::call(slot, operation::NULL, &[], &mut []);
    ensure!(
        null == Ok((Status::Ok, 0)),
        "null call after the restart: {null:?}"
    );
    ensure!(
        nim::services::current_depth() == 0,
        "XPC frames left on this thread: {}",
        nim::services::current_depth()
    );
    Ok(())
}

/// Every crash kind, isolated, in `subject`; each cycle must return every
/// frame and heap byte. A warm-up cycle first lets lazily grown
/// structures (timer and sleeper trees, the heap itself) reach their
/// size; the fault log holds up to 64 records but reserves them all when
/// the extension is first loaded, so it does not grow.
fn recover_every_kind(subject: Subject) -> Result<(), String> {
    let _bound = WatchdogBound::set(TEST_WATCHDOG_MS);
    let slot = running(subject.name)?;
    nim::set_policy(slot, restart_policy::RestartPolicy::Always);
    crash_cycle(subject, CrashKind::NullDereference)
        .map_err(|e| format!("warm-up null-deref: {e}"))?;
    // The first sleep of a boot allocates the scheduler's sleeper tree; the
    // warm-up cycle may not have slept (if the recovery was done first).
    sched::sleep_ms(1).map_err(|e| format!("sleep: {e}"))?;
    ensure!(
        CrashKind::ALL.len() == 13,
        "{} crash kinds, expected 13",
        CrashKind::ALL.len()
    );
    let start = time::uptime_us();
    for &kind in CrashKind::ALL {
        let (frames_before, heap_before) = memory_use();
        crash_cycle(subject, kind).map_err(|e| format!("{} {kind}: {e}", subject.name))?;
        let (frames_after, heap_after) = memory_use();
        ensure!(
            frames_after == frames_before,
            "{} {kind}: {} frames leaked",
            subject.name,
            frames_before as i64 - frames_after as i64
        );
        ensure!(
            heap_after == heap_before,
            "{} {kind}: {} heap bytes leaked",
            subject.name,
            heap_after as i64 - heap_before as i64
        );
    }
    crate::println!(
        "ktest: {}: 13 crash kinds recovered in {} ms",
        subject.name,
        (time::uptime_us() - start) / 1000
    );
    Ok(())
}

kernel_test!(every_crash_kind_is_recovered_in_crashtest {
    recover_every_kind(CRASHTEST)
});

kernel_test!(every_crash_kind_is_recovered_in_template {
    recover_every_kind(TEMPLATE)
});

/// Runs inside a protection domain (a `Target::KernelRoutine`): reads the
/// `u64` at the address in the request and replies with it. If the domain
/// cannot read it, the read faults and the instance fails.
extern "C" fn read_in_domain(_operation: u64, message: *mut u8, length: u64) -> u64 {
    if length < 8 {
        return extension_abi::pack_return(Status::BadMessage, 0);
    }
    // SAFETY: the NIM placed the 8-byte request at `message`, on a stack
    // of this domain (writable here); the address read is the test's.
    unsafe {
        let address = (message as *const u64).read_unaligned();
        let value = (address as *const u64).read_volatile();
        (message as *mut u64).write_unaligned(value);
    }
    extension_abi::pack_return(Status::Ok, 8)
}

/// Reads `address` from inside the domain of `slot`.
fn read_from_domain(slot: Slot, address: u64) -> Result<u64, String> {
    let mut reply = [0u8; 8];
    let result = nim::call_target(
        slot,
        generation(slot),
        State::Running,
        nim::Target::KernelRoutine(read_in_domain as *const () as u64),
        extension_abi::EXTENSION_SPECIFIC,
        &address.to_le_bytes(),
        &mut reply,
    );
    match result {
        Ok((Status::Ok, 8)) => Ok(u64::from_le_bytes(reply)),
        other => Err(format!("reading {address:#x} inside the domain: {other:?}")),
    }
}

fn heap_of(slot: Slot) -> Result<u64, String> {
    EXTENSIONS.lock()[slot]
        .as_ref()
        .and_then(|record| record.memory.as_ref().map(|memory| memory.heap_base()))
        .ok_or_else(|| format!("slot {slot} has no memory"))
}

kernel_test!(domains_see_new_kernel_mappings_at_once {
    static KERNEL_DATA: AtomicU64 = AtomicU64::new(0x0dd5_0dd5);
    let slot = running("crashtest")?;
    let other = running("template")?;
    let root = SLOTS[slot].root.load(Ordering::Acquire);
    ensure!(root != 0 && root != paging::kernel_root(), "crashtest has no domain root ({root:#x})");
    let generation_before = generation(slot);
    // A new kernel page in a fresh 1 GiB scratch range (so new lower-level
    // tables too), mapped after the domain was made, with nothing else done.
    let page = super::scratch_region();
    paging::map_new_pages(page, 1, PageRights::WRITE).map_err(|e| format!("map: {e:?}"))?;
    // SAFETY: the page was just mapped for this test.
    unsafe { (page as *mut u64).write_volatile(0x5eed_cafe) };
    let kernel_view = paging::translate(page).ok_or("the new page is not mapped for the kernel")?;
    ensure!(kernel_view.rights.contains(PageRights::WRITE), "the kernel cannot write its new page");
    let in_domain = paging::rights_in(root, page);
    let seen = read_from_domain(slot, page);
    // SAFETY: as above.
    unsafe { (page as *mut u64).write_volatile(0x5eed_f00d) };
    let seen_again = read_from_domain(slot, page);
    paging::unmap_and_free_pages(page, 1);
    let after_unmap = paging::rights_in(root, page);
    let rights = in_domain.ok_or("the domain does not see the new kernel page")?;
    ensure!(!rights.contains(PageRights::WRITE), "the new kernel page is writable in the domain ({rights:?})");
    ensure!(seen? == 0x5eed_cafe, "the domain read something else from the new page");
    ensure!(seen_again? == 0x5eed_f00d, "the domain does not see the kernel's later write");
    ensure!(after_unmap.is_none(), "the domain still sees the page after the kernel unmapped it ({after_unmap:?})");
    ensure!(generation(slot) == generation_before, "crashtest failed while reading");

    // Kernel data: readable, not writable, in the domain; writable for the kernel.
    let data = core::ptr::addr_of!(KERNEL_DATA) as u64;
    ensure!(read_from_domain(slot, data)? == 0x0dd5_0dd5, "the domain reads kernel data wrong");
    let data_rights = paging::rights_in(root, data).ok_or("kernel data unmapped in the domain")?;
    ensure!(!data_rights.contains(PageRights::WRITE), "kernel data writable in the domain");
    ensure!(paging::translate(data).is_some_and(|t| t.rights.contains(PageRights::WRITE)), "kernel data not writable for the kernel");
    let text = crate::arch::halt as *const () as u64;
    let text_rights = paging::rights_in(root, text).ok_or("kernel text unmapped in the domain")?;
    ensure!(!text_rights.contains(PageRights::WRITE), "kernel text writable in the domain");
    // Its own region: writable.
    let own_heap = heap_of(slot)?;
    ensure!(nim::domain::region_of(own_heap) == Some(slot), "crashtest's heap is not in region {slot}");
    let own = paging::rights_in(root, own_heap).ok_or("crashtest's heap unmapped in its domain")?;
    ensure!(own.contains(PageRights::WRITE), "crashtest's heap not writable in its own domain ({own:?})");
    // Another extension's region: not writable.
    let other_heap = heap_of(other)?;
    ensure!(nim::domain::region_of(other_heap) == Some(other), "template's heap is not in region {other}");
    let foreign = paging::rights_in(root, other_heap);
    ensure!(foreign.is_none_or(|r| !r.contains(PageRights::WRITE)), "template's heap writable in crashtest's domain ({foreign:?})");
    let other_root = SLOTS[other].root.load(Ordering::Acquire);
    let template_own = paging::rights_in(other_root, other_heap);
    ensure!(template_own.is_some_and(|r| r.contains(PageRights::WRITE)), "template's heap not writable in its own domain ({template_own:?})");
    Ok(())
});

kernel_test!(a_thousand_loads_and_unloads_return_every_frame_and_root {
    const CYCLES: u32 = 1_000;
    let slot = running("template")?;
    // Warm-up: the first cycle may grow kernel structures once.
    nim::unload(slot).map_err(|e| format!("warm-up unload: {e}"))?;
    let reloaded = nim::load("template", Mode::Isolated).map_err(|e| format!("warm-up load: {e}"))?;
    ensure!(reloaded == slot, "template reloaded into slot {reloaded}, not {slot}");
    let (frames_before, heap_before) = memory_use();
    let roots_before = paging::domain_roots();
    let generation_before = generation(slot);
    let start = time::uptime_us();
    for cycle in 0..CYCLES {
        let unloaded = if cycle % 2 == 0 {
            nim::unload(slot)
        } else {
            // Every other cycle through restart (unload + load in one).
            nim::restart(slot).and_then(|()| nim::unload(slot))
        };
        unloaded.map_err(|e| format!("cycle {cycle}: unload: {e}"))?;
        ensure!(SLOTS[slot].state() == State::Stopped, "cycle {cycle}: {} after unload", SLOTS[slot].state().name());
        ensure!(paging::domain_roots() == roots_before - 1, "cycle {cycle}: {} domain roots after unload, expected {}", paging::domain_roots(), roots_before - 1);
        let loaded = nim::load("template", Mode::Isolated).map_err(|e| format!("cycle {cycle}: load: {e}"))?;
        ensure!(loaded == slot, "cycle {cycle}: loaded into slot {loaded}");
        ensure!(paging::domain_roots() == roots_before, "cycle {cycle}: {} domain roots after load, expected {roots_before}", paging::domain_roots());
    }
    let elapsed_ms = (time::uptime_us() - start) / 1000;
    let (frames_after, heap_after) = memory_use();
    let expected_generation = generation_before + CYCLES + CYCLES / 2;
    ensure!(generation(slot) == expected_generation, "generation {} after {CYCLES} cycles, expected {expected_generation}", generation(slot));
    ensure!(paging::domain_roots() == roots_before, "{} domain roots, expected {roots_before}", paging::domain_roots());
    ensure!(frames_after == frames_before, "{} frames leaked over {CYCLES} cycles", frames_before as i64 - frames_after as i64);
    ensure!(heap_after == heap_before, "{} heap bytes leaked over {CYCLES} cycles", heap_after as i64 - heap_before as i64);
    ensure!(call1(slot, TEMPLATE_COUNT, &[])? == 1, "the last instance is not fresh");
    crate::println!("ktest: {CYCLES} unload/load cycles ({} instances) in {elapsed_ms} ms", CYCLES + CYCLES / 2);
    Ok(())
});

kernel_test!(nested_calls_go_three_deep_and_unwind_from_the_innermost {
    let slot = running("crashtest")?;
    ensure!(nim::services::current_depth() == 0, "XPC frames on this thread before the call");
    let deepest = call1(slot, op::NEST, &[3])?;
    ensure!(deepest == 3, "NEST 3 answered {deepest}");
    ensure!(nim::services::current_depth() == 0, "{} XPC frames left after nesting", nim::services::current_depth());
    // A fault at depth 0, below three kernel → extension → kernel levels:
    // every level must unwind, and the outermost caller gets the error.
    for kind in [CrashKind::InvalidOpcode, CrashKind::Panic, CrashKind::NullDereference] {
        let failed = generation(slot);
        let word = ((kind as u64 + 1) << 32) | 3;
        let result = nim::call(slot, op::NEST, &word.to_le_bytes(), &mut [0u8; 8]);
        ensure!(result == Err(NimError::ExtensionFailed), "{kind} at depth 0: the outer call returned {result:?}");
        ensure!(nim::services::current_depth() == 0, "{kind}: {} XPC frames left after unwinding", nim::services::current_depth());
        check_recovered(slot, failed, kind.expected_fault()).map_err(|e| format!("{kind} at depth 0: {e}"))?;
        let deepest = call1(slot, op::NEST, &[3])?;
        ensure!(deepest == 3, "after {kind}: NEST 3 answered {deepest}");
    }
    Ok(())
});

/// Runs `threads` threads calling `YIELD_INSIDE` with `rounds` each in a
/// fresh crashtest; returns what each answered.
fn threads_inside(threads: usize, rounds: u64) -> Result<Vec<u64>, String> {
    let slot = running("crashtest")?;
    // A fresh instance: its "most inside at once" starts at 0.
    nim::restart(slot).map_err(|e| format!("restart: {e}"))?;
    let mut handles = Vec::new();
    for _ in 0..threads {
        handles.push(
            sched::spawn("nim-inside", move || {
                let mut reply = [0u8; 8];
                match nim::call(slot, op::YIELD_INSIDE, &rounds.to_le_bytes(), &mut reply) {
                    Ok((Status::Ok, 8)) => u64::from_le_bytes(reply) as i32,
                    Ok(_) => -1,
                    Err(_) => -2,
                }
            })
            .map_err(|e| format!("spawn: {e:?}"))?,
        );
    }
    let mut answers = Vec::new();
    for handle in handles {
        let code = handle.join().map_err(|e| format!("join: {e}"))?;
        ensure!(
            code >= 0,
            "a thread's call failed ({})",
            if code == -1 {
                "bad answer"
            } else {
                "NIM error"
            }
        );
        answers.push(code as u64);
    }
    ensure!(
        SLOTS[slot].state() == State::Running,
        "crashtest is {} after the threads",
        SLOTS[slot].state().name()
    );
    Ok(answers)
}

kernel_test!(several_threads_run_inside_one_extension_at_once {
    let answers = threads_inside(3, 20)?;
    let most = answers.iter().copied().max().unwrap_or(0);
    crate::println!("ktest: 3 callers: {answers:?} inside at once");
    ensure!(most >= 2, "at most {most} thread(s) inside at once (answers {answers:?})");
    ensure!(most <= 3, "{most} threads inside at once with 3 callers");
    // More callers than the domain has thread stacks: the extra ones wait
    // for a stack, and all still succeed.
    let answers = threads_inside(nim::domain::THREAD_STACKS + 2, 20)?;
    let most = answers.iter().copied().max().unwrap_or(0);
    ensure!(most >= 2, "at most {most} thread(s) inside at once with {} callers", nim::domain::THREAD_STACKS + 2);
    ensure!(most as usize <= nim::domain::THREAD_STACKS, "{most} threads inside at once with {} stacks", nim::domain::THREAD_STACKS);
    Ok(())
});

kernel_test!(interrupts_inside_an_extension_are_handled_and_return_to_it {
    let slot = running("crashtest")?;
    let failed_before = generation(slot);
    // Find a checksum long enough to span at least 20 timer ticks.
    let mut rounds: u64 = 1 << 14;
    let (ticks, irqs) = loop {
        let irqs_before = interrupts::IRQ_COUNTS[0].load(Ordering::Relaxed);
        let ticks_before = time::ticks();
        let sum = call1(slot, op::CHECKSUM, &[rounds, rounds])?;
        let ticks = time::ticks() - ticks_before;
        let irqs = interrupts::IRQ_COUNTS[0].load(Ordering::Relaxed) - irqs_before;
        ensure!(sum == extension_abi::checksum(rounds, rounds), "wrong checksum for {rounds} rounds after {irqs} timer interrupts");
        if ticks >= 20 {
            break (ticks, irqs);
        }
        ensure!(rounds < 1 << 34, "{rounds} rounds still take only {ticks} ticks");
        rounds *= 2;
    };
    ensure!(irqs >= 20, "only {irqs} timer interrupts during a {ticks}-tick call");
    // Again with another thread ready to run: the timer preempts the
    // caller inside the extension, runs the other thread on the kernel's
    // page tables, and must come back into the domain.
    let stop = Arc::new(AtomicBool::new(false));
    let spins = Arc::new(AtomicU64::new(0));
    let (spinner_stop, spinner_spins) = (stop.clone(), spins.clone());
    let spinner = sched::spawn("nim-spinner", move || {
        while !spinner_stop.load(Ordering::Relaxed) {
            spinner_spins.fetch_add(1, Ordering::Relaxed);
        }
        0
    })
    .map_err(|e| format!("spawn: {e:?}"))?;
    sched::yield_now();
    let spins_before = spins.load(Ordering::Relaxed);
    let switches_before = sched::CONTEXT_SWITCHES.load(Ordering::Relaxed);
    let result = call1(slot, op::CHECKSUM, &[7, rounds]);
    let switches = sched::CONTEXT_SWITCHES.load(Ordering::Relaxed) - switches_before;
    let spun = spins.load(Ordering::Relaxed) - spins_before;
    stop.store(true, Ordering::Relaxed);
    spinner.join().map_err(|e| format!("join: {e}"))?;
    let sum = result?;
    ensure!(sum == extension_abi::checksum(7, rounds), "wrong checksum after preemption inside the extension");
    ensure!(switches >= 2 && spun > 0, "the call was not preempted ({switches} switches, {spun} spins)");
    ensure!(generation(slot) == failed_before && SLOTS[slot].state() == State::Running, "crashtest failed during the calls");
    crate::println!("ktest: checksum of {rounds} rounds: {ticks} ticks, {irqs} timer interrupts; preempted: {switches} switches");
    Ok(())
});

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

fn devices_named(name: &str) -> usize {
    crate::devices::list()
        .iter()
        .filter(|device| device.name == name)
        .count()
}

/// The release services, in crashtest's handle order (memory, ports,
/// interrupt, timer, device).
const RELEASES: [u64; 5] = [
    service::RELEASE_MEMORY,
    service::RELEASE_IO_PORTS,
    service::FREE_INTERRUPT,
    service::CANCEL_TIMER,
    service::UNREGISTER_DEVICE,
];

fn release(slot: Slot, service: u64, handle: u64) -> Result<Status, String> {
    let code = call1(slot, op::RELEASE, &[service, handle])?;
    Status::from_code(code).ok_or_else(|| format!("release answered code {code}"))
}

fn timer_expiries(slot: Slot) -> Result<u64, String> {
    Ok(call(slot, op::STATUS, &[], 5)?[2])
}

/// Acquires crashtest's five objects and checks they are live.
fn acquire_all(slot: Slot, timers_before: usize) -> Result<[u64; 5], String> {
    let held = call1(slot, op::ACQUIRE_OBJECTS, &[])?;
    ensure!(held == 5, "crashtest holds {held} objects, expected 5");
    ensure!(
        objects_of(slot) == 5,
        "nim::list shows {} objects for crashtest",
        objects_of(slot)
    );
    ensure!(
        devices_named("crashtest0") == 1,
        "{} devices named crashtest0",
        devices_named("crashtest0")
    );
    ensure!(
        !line_masked(5),
        "IRQ 5 still masked after crashtest registered it"
    );
    ensure!(
        time::pending_timers() == timers_before + 1,
        "{} pending timers, expected {}",
        time::pending_timers(),
        timers_before + 1
    );
    let handles = call(slot, op::HANDLES, &[], 5)?;
    ensure!(
        handles.iter().all(|&handle| handle != 0),
        "missing handles {handles:?}"
    );
    Ok([handles[0], handles[1], handles[2], handles[3], handles[4]])
}

/// Checks nothing of crashtest's objects is left (and returns the
/// device-table and timer state to the baseline).
fn check_released(
    slot: Slot,
    frames_baseline: usize,
    timers_before: usize,
    when: &str,
) -> Result<(), String> {
    ensure!(
        objects_of(slot) == 0,
        "{when}: nim::list shows {} objects",
        objects_of(slot)
    );
    ensure!(
        devices_named("crashtest0") == 0,
        "{when}: the device table still lists crashtest0"
    );
    ensure!(line_masked(5), "{when}: IRQ 5 not masked");
    // The periodic timer fires once more at most (finding its handle gone)
    // and is not re-armed.
    sched::sleep_ms(120).map_err(|e| format!("sleep: {e}"))?;
    ensure!(
        time::pending_timers() == timers_before,
        "{when}: {} pending timers, expected {timers_before} (the timer is still armed)",
        time::pending_timers()
    );
    ensure!(
        frames::free_count() == frames_baseline,
        "{when}: {} frames not returned",
        frames_baseline as i64 - frames::free_count() as i64
    );
    Ok(())
}

kernel_test!(tracked_objects_are_released_on_a_crash_and_bad_handles_fail_the_extension {
    let slot = running("crashtest")?;
    nim::restart(slot).map_err(|e| format!("restart: {e}"))?;
    // Warm-up: one acquire/release round grows what it grows.
    call1(slot, op::ACQUIRE_OBJECTS, &[])?;
    nim::restart(slot).map_err(|e| format!("restart: {e}"))?;
    ensure!(objects_of(slot) == 0, "a fresh crashtest holds {} objects", objects_of(slot));
    // The warm-up's timer fires once more (and is not re-armed).
    sched::sleep_ms(120).map_err(|e| format!("sleep: {e}"))?;
    let timers_before = time::pending_timers();
    let frames_baseline = frames::free_count();
    let old = acquire_all(slot, timers_before)?;
    sched::sleep_ms(120).map_err(|e| format!("sleep: {e}"))?;
    let expiries = timer_expiries(slot)?;
    ensure!(expiries >= 1, "the 50 ms timer did not fire in 120 ms");
    // Crash (in crashtest's own code); recovery releases everything.
    let failed = generation(slot);
    let crashed = nim::crash::crash(slot, CrashKind::NullDereference);
    ensure!(crashed == Ok(()), "crash returned {crashed:?}");
    check_recovered(slot, failed, "page-fault")?;
    check_released(slot, frames_baseline, timers_before, "after the crash")?;
    ensure!(timer_expiries(slot)? == 0, "the old timer called the new instance");
    // A fresh instance can take the same ports, IRQ and device name again.
    let new = acquire_all(slot, timers_before).map_err(|e| format!("re-acquiring: {e}"))?;
    // The real handle works, once.
    let status = release(slot, service::RELEASE_IO_PORTS, new[1])?;
    ensure!(status == Status::Ok, "releasing the live ports answered {}", status.name());
    ensure!(objects_of(slot) == 4, "{} objects after releasing the ports", objects_of(slot));
    // A bad handle is a failed wrapper check: a fault of the extension,
    // recovered like any other. Each kind of stale handle (of the dead
    // generation), the released one, and forged ones: a flipped bit, made-up
    // values, the wrong kind.
    let mut bad: Vec<(u64, u64, &str)> = RELEASES
        .iter()
        .zip(old.iter())
        .map(|(&service, &handle)| (service, handle, "stale"))
        .collect();
    bad.push((service::RELEASE_IO_PORTS, new[1], "released"));
    for (service, handle, what) in bad {
        let failed = generation(slot);
        let result = nim::call(slot, op::RELEASE, &encode(&[service, handle]), &mut [0u8; 8]);
        ensure!(
            matches!(result, Err(nim::NimError::ExtensionFailed)),
            "{what} handle {handle:#x} to service {service}: {result:?}, expected a failed extension"
        );
        check_recovered(slot, failed, "wrapper-check-failed")?;
        ensure!(objects_of(slot) == 0, "{} objects after recovering", objects_of(slot));
    }
    // Forged handles, made from the live ones of the current instance.
    type Forge = fn(&[u64]) -> u64;
    let forgeries: [(&str, Forge); 6] = [
        ("a flipped bit", |live| live[0] ^ 1),
        ("another extension's", |live| live[0] ^ (1 << 40)),
        ("zero", |_| 0),
        ("all ones", |_| u64::MAX),
        ("made up", |_| 0x1234_5678_9abc_def0),
        ("of the wrong kind", |live| live[4]),
    ];
    for (what, forge) in forgeries {
        let held = call1(slot, op::ACQUIRE_OBJECTS, &[])?;
        ensure!(held == 5, "crashtest holds {held} objects after re-acquiring");
        let live = call(slot, op::HANDLES, &[], 5)?;
        let handle = forge(&live);
        let failed = generation(slot);
        let result = nim::call(slot, op::RELEASE, &encode(&[service::RELEASE_MEMORY, handle]), &mut [0u8; 8]);
        ensure!(
            matches!(result, Err(nim::NimError::ExtensionFailed)),
            "a handle {what} ({handle:#x}): {result:?}, expected a failed extension"
        );
        check_recovered(slot, failed, "wrapper-check-failed")?;
        ensure!(objects_of(slot) == 0, "{} objects after recovering", objects_of(slot));
    }
    // Leave crashtest as found: a fresh instance holding nothing.
    nim::restart(slot).map_err(|e| format!("restart: {e}"))?;
    check_released(slot, frames_baseline, timers_before, "after the final restart")?;
    Ok(())
});

/// `bytes` as a `&'static` image (leaked: a test-only, bounded loss).
fn leak(bytes: Vec<u8>) -> &'static [u8] {
    alloc::boxed::Box::leak(bytes.into_boxed_slice())
}

kernel_test!(malformed_images_are_refused_and_the_kernel_carries_on {
    let slot = running("crashtest")?;
    let image = EXTENSIONS.lock()[slot].as_ref().map(|record| record.image).ok_or("no crashtest record")?;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<u8> = (0..8192)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut bad_machine = image.to_vec();
    bad_machine[18] ^= 0xff; // e_machine
    let mut elf_header_only = image[..64].to_vec();
    elf_header_only.resize(64, 0);
    let cases: [(&str, &'static [u8]); 6] = [
        ("empty", &[]),
        ("truncated to half", &image[..image.len() / 2]),
        ("truncated to the ELF header", leak(elf_header_only)),
        ("random bytes", leak(random)),
        ("wrong machine", leak(bad_machine)),
        ("not an ELF file", b"#!/bin/sh\necho this is not an extension\n"),
    ];
    let slots_before = nim::list().len();
    let roots_before = paging::domain_roots();
    for (what, bytes) in cases {
        match nim::load_image("broken", bytes, Mode::Isolated) {
            Err(NimError::BadImage(reason)) => {
                ensure!(!reason.is_empty(), "{what}: refused without a reason");
            }
            other => return Err(format!("{what}: load_image answered {other:?}, expected BadImage")),
        }
    }
    let named = nim::load_image("no spaces allowed", image, Mode::Isolated);
    ensure!(matches!(named, Err(NimError::BadImage(_))), "a bad name was accepted: {named:?}");
    ensure!(nim::find("broken").is_none(), "a record was left for the refused image");
    ensure!(nim::list().len() == slots_before, "refused loads took a slot");
    ensure!(paging::domain_roots() == roots_before, "refused loads left a domain root");
    let unknown = nim::call_by_name("broken", operation::NULL, &[], &mut []);
    ensure!(unknown == Err(NimError::UnknownExtension("broken".into())), "calling the refused image: {unknown:?}");
    // The kernel and the loaded extensions carry on.
    let mut reply = [0u8; 8];
    let answer = nim::call_by_name("crashtest", op::CHECKSUM, &encode(&[1, 100]), &mut reply);
    ensure!(answer == Ok((Status::Ok, 8)), "crashtest after the refusals: {answer:?}");
    ensure!(u64::from_le_bytes(reply) == extension_abi::checksum(1, 100), "crashtest answers wrong after the refusals");
    let twin = nim::load_image("crashtest", image, Mode::Isolated);
    ensure!(twin == Err(NimError::AlreadyLoaded("crashtest".into())), "a second crashtest: {twin:?}");
    Ok(())
});
