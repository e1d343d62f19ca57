//! The fault-injection engine (issue 6, part 1) on the real extensions:
//! dry-run plans of `crashtest` are deterministic and leave its text
//! alone; armed mutations under crashtest's workload end recovered or
//! without effect, never in a kernel crash (isolated); activation is
//! recorded through the planted breakpoints; a restart (or a recovery)
//! gives pristine text; `clear` takes unexecuted patches back; and each
//! fail point fires as its knobs say.
//!
//! Every test leaves the extensions as it found them: running isolated,
//! holding no objects, nothing injected (generations may have grown).

use super::{RECOVERY_TIMEOUT_MS, generation};
use crate::nim::inject::{self, FailPoint};
use crate::nim::interface::crashtest;
use crate::nim::recovery::wait_for_recovery;
use crate::nim::{self, EXTENSIONS, Mode, SLOTS, Slot, State};
use crate::{ensure, kernel_test, println, sched, time};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use extension_abi::interfaces::kernel::SERVICES;
use extension_abi::{CallError, Status};
use extension_image::{ImageLimits, SegmentRights};
use fault_injection::{InjectionSpec, MutationType, PlannedPatch, parse_words};

/// The generated wrappers of `hostile.idl`, kernel side.
#[allow(dead_code)]
mod hostile {
    include!("../../../../wrappers/generated/hostile_kernel_side.rs");
}

/// Rounds of the checksum workload per call.
const CHECKSUM_ROUNDS: u64 = 1_000;
/// How long the workload of a mutated crashtest may take (it takes a few
/// milliseconds) before the instance is failed as hung.
const WORKLOAD_DEADLINE_MS: u64 = 5_000;

/// The slot of bundled extension `name`, running isolated with the
/// `always` restart policy (waiting for a recovery, or loading it, if
/// needed).
fn running(name: &str) -> Result<Slot, String> {
    let slot = super::running_in(name, Mode::Isolated)?;
    nim::set_policy(slot, restart_policy::RestartPolicy::Always);
    Ok(slot)
}

/// Clears every injection of `slot` and restarts it (pristine text, no
/// objects held).
fn reset(slot: Slot) -> Result<(), String> {
    inject::clear(slot);
    let name = EXTENSIONS.lock()[slot]
        .as_ref()
        .map(|record| record.name.clone())
        .unwrap_or_default();
    let slot = running(&name)?;
    nim::restart(slot).map_err(|e| format!("restarting {name}: {e}"))?;
    ensure!(
        text_is_pristine(slot)?,
        "{name}'s text differs from its image after a restart"
    );
    Ok(())
}

fn spec(text: &str) -> Result<InjectionSpec, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    parse_words(&words).map_err(|e| format!("`{text}`: {e}"))
}

fn transport(slot: Slot) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> {
    nim::interface::transport(slot, generation(slot), State::Running)
}

/// An executable segment of an image: its image offset and bytes.
type CodeSegment = (u64, &'static [u8]);

/// The load address of `slot`'s instance and its image's executable
/// segments.
fn image_text(slot: Slot) -> Result<(u64, Vec<CodeSegment>), String> {
    let extensions = EXTENSIONS.lock();
    let record = extensions[slot].as_ref().ok_or("no record")?;
    let region = record
        .memory
        .as_ref()
        .map(|memory| memory.region)
        .ok_or("not loaded")?;
    let image = record.image;
    drop(extensions);
    let validated = extension_image::validate(image, &ImageLimits::default())
        .map_err(|e| format!("image: {e}"))?;
    let segments = validated
        .segments()
        .iter()
        .filter(|segment| segment.rights == SegmentRights::ReadExecute)
        .map(|segment| {
            (
                segment.virtual_offset,
                validated.segment_file_bytes(segment),
            )
        })
        .collect();
    Ok((region, segments))
}

/// Is `slot`'s loaded text byte for byte its image's?
fn text_is_pristine(slot: Slot) -> Result<bool, String> {
    let (region, segments) = image_text(slot)?;
    for (offset, bytes) in segments {
        // SAFETY: the instance is running (callers hold it so), and its
        // text is mapped readable at region + offset for `bytes.len()`
        // bytes (the loader copied exactly these segments there).
        let loaded =
            unsafe { core::slice::from_raw_parts((region + offset) as *const u8, bytes.len()) };
        if loaded != bytes {
            return Ok(false);
        }
    }
    Ok(true)
}

/// crashtest's workload: three increments (the counter must step by one)
/// and three checksums (compared with the kernel's own).
fn workload(slot: Slot, seed: u64) -> Result<(), String> {
    let mut previous = None;
    for round in 0..3 {
        let counter =
            crashtest::increment(&mut transport(slot)).map_err(|e| format!("increment: {e}"))?;
        if let Some(previous) = previous {
            ensure!(
                counter == previous + 1,
                "counter went from {previous} to {counter}"
            );
        }
        previous = Some(counter);
        let sum = crashtest::checksum(&mut transport(slot), seed + round, CHECKSUM_ROUNDS)
            .map_err(|e| format!("checksum: {e}"))?;
        ensure!(
            sum == extension_abi::checksum(seed + round, CHECKSUM_ROUNDS),
            "wrong checksum"
        );
    }
    Ok(())
}

kernel_test!(dry_run_plans_of_crashtest_are_deterministic_per_type_and_touch_nothing {
    let slot = running("crashtest")?;
    let before = generation(slot);
    let records = inject::status(slot).patches;
    for mutation in MutationType::ALL {
        let spec = spec(&format!("crashtest {mutation} seed=11 count=4 dry-run"))?;
        let first = inject::plan(slot, &spec);
        let second = inject::plan(slot, &spec);
        ensure!(first == second, "{mutation}: two plans of one seed differ");
        if mutation == MutationType::Irq {
            // Safe Rust extensions never touch the interrupt flag.
            match first {
                Err(error) => ensure!(error.to_string().contains("no site"), "irq: {error}"),
                Ok((_, patches)) => println!("ktest: irq has {} sites in crashtest", patches.len()),
            }
            continue;
        }
        let (_, patches) = first.map_err(|e| format!("{mutation}: {e}"))?;
        ensure!(patches.len() == 4, "{mutation}: {} patches planned", patches.len());
        for patch in &patches {
            ensure!(patch.mutation == mutation, "{mutation}: a {} patch", patch.mutation);
            ensure!(patch.old.len() == patch.new.len() && patch.old != patch.new, "{mutation}: bad patch {patch:?}");
            ensure!(patch.site.is_some(), "{mutation}: no symbol for {:#x}", patch.address);
            // SAFETY: the planned instruction lies in crashtest's running text.
            let live = unsafe { core::slice::from_raw_parts(patch.address as *const u8, patch.old.len()) };
            ensure!(live == patch.old.as_slice(), "{mutation}: old bytes are not the live ones at {:#x}", patch.address);
        }
    }
    let seeds: Vec<Vec<PlannedPatch>> = (0..4)
        .map(|seed| spec(&format!("crashtest all seed={seed} count=15 dry-run")).and_then(|spec| inject::plan(slot, &spec).map(|(_, patches)| patches).map_err(|e| e.to_string())))
        .collect::<Result<_, _>>()?;
    ensure!(seeds.windows(2).all(|pair| pair[0] != pair[1]), "two seeds gave the same plan");
    ensure!(text_is_pristine(slot)?, "a dry run changed the text");
    ensure!(inject::status(slot).patches == records, "a dry run armed patches");
    ensure!(generation(slot) == before, "crashtest restarted during dry runs");
    Ok(())
});

/// A patch whose new bytes are `new` at the first instruction of the
/// crashtest function whose symbol contains `function`.
fn patch_at_function(
    slot: Slot,
    function: &str,
    new: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<PlannedPatch, String> {
    let (region, _) = image_text(slot)?;
    let image = nim::bundled_image("crashtest").ok_or("no crashtest image")?;
    let text = fault_injection::ExtensionText::from_image(image).map_err(|e| e.to_string())?;
    let symbol = text
        .functions()
        .iter()
        .find(|symbol| symbol.name.contains(function) && !symbol.runtime)
        .ok_or_else(|| format!("no function {function} in crashtest"))?
        .clone();
    let address = region + symbol.offset;
    // SAFETY: the function's first bytes lie in crashtest's running text.
    let bytes = unsafe { core::slice::from_raw_parts(address as *const u8, 16) };
    let length = fault_injection::mutation::instruction_length(bytes, address)
        .ok_or_else(|| format!("{function} does not start with an instruction"))?;
    let old = bytes[..length].to_vec();
    Ok(PlannedPatch {
        mutation: MutationType::Nop,
        offset: symbol.offset,
        address,
        site: Some((symbol.name, 0)),
        new: new(&old),
        old,
        before: String::new(),
        after: String::new(),
    })
}

kernel_test!(activation_is_recorded_and_clear_takes_unexecuted_patches_back {
    let slot = running("crashtest")?;
    let generation = generation(slot);
    // Identity patches (new bytes = old bytes): arming plants the
    // breakpoint, activation writes the instruction back as it was.
    let executed = patch_at_function(slot, "9interface8dispatch", |old| old.to_vec())?;
    let idle = patch_at_function(slot, "Entries$GT$7release", |old| old.to_vec())?;
    let activations = inject::ACTIVATIONS.load(Ordering::Relaxed);
    let armed = inject::arm_patches(slot, generation, vec![executed.clone(), idle.clone()])
        .map_err(|e| format!("arming: {e}"))?;
    ensure!(armed.len() == 2, "{} patches armed", armed.len());
    ensure!(!text_is_pristine(slot)?, "no breakpoint planted");
    // SAFETY: the address lies in crashtest's running text.
    let planted = unsafe { *(executed.address as *const u8) };
    ensure!(planted == 0xcc, "the patched instruction starts with {planted:#x}, not int3");
    workload(slot, 5)?;
    ensure!(SLOTS[slot].generation.load(Ordering::Acquire) == generation, "crashtest restarted: the breakpoint was a fault");
    let status = inject::status(slot);
    ensure!(status.patches == [(armed[0].0, true), (armed[1].0, false)], "status {:?}", status.patches);
    ensure!(inject::ACTIVATIONS.load(Ordering::Relaxed) == activations + 1, "activations counted wrongly");
    inject::clear(slot);
    ensure!(text_is_pristine(slot)?, "clear left a breakpoint (or the activation wrote other bytes)");
    ensure!(inject::status(slot).patches == [(armed[0].0, true)], "clear removed an executed patch");
    workload(slot, 6)?;
    reset(slot)
});

kernel_test!(a_new_injection_forgets_the_patch_records_of_earlier_instances {
    let slot = running("crashtest")?;
    let executed = patch_at_function(slot, "9interface8dispatch", |old| old.to_vec())?;
    inject::arm_patches(slot, generation(slot), vec![executed]).map_err(|e| format!("arming: {e}"))?;
    workload(slot, 11)?;
    inject::clear(slot);
    ensure!(inject::status(slot).patches.len() == 1, "the executed patch is not recorded after clear");
    nim::restart(slot).map_err(|e| format!("restart: {e}"))?;
    ensure!(inject::status(slot).patches.len() == 1, "a restart dropped the old instance's records");
    // A fail point armed in the new instance starts a new record: the
    // status no longer speaks of the old instance's patches.
    inject::arm_fail_point(slot, FailPoint::Allocation, fault_injection::Knobs::default(), 1);
    let status = inject::status(slot);
    ensure!(status.patches.is_empty(), "old patch records reported with a new fail point: {:?}", status.patches);
    ensure!(status.fail_points == [(FailPoint::Allocation, 0)], "fail points {:?}", status.fail_points);
    reset(slot)
});

kernel_test!(an_unplanted_breakpoint_in_an_isolated_extension_is_its_fault {
    let slot = running("crashtest")?;
    let failed = generation(slot);
    // The mutation itself is an int3: once activated it is no planted
    // breakpoint any more, and the extension fails on it.
    let patch = patch_at_function(slot, "9interface8dispatch", |old| {
        let mut new = old.to_vec();
        new[0] = 0xcc;
        new
    })?;
    ensure!(patch.new != patch.old, "dispatch starts with int3");
    inject::arm_patches(slot, failed, vec![patch.clone()]).map_err(|e| format!("arming: {e}"))?;
    let result = crashtest::increment(&mut transport(slot));
    ensure!(result == Err(CallError::ExtensionFailed), "increment answered {result:?}");
    let state = wait_for_recovery(slot, failed, RECOVERY_TIMEOUT_MS);
    ensure!(state == State::Running && generation(slot) == failed + 1, "not recovered: {}", state.name());
    let record = nim::faults(slot).last().copied().ok_or("no fault record")?;
    ensure!(record.kind.to_string() == "exception-3", "recorded as {}", record.kind);
    ensure!(record.instruction_pointer == patch.address + 1, "fault at {:#x}, patch at {:#x}", record.instruction_pointer, patch.address);
    ensure!(inject::status(slot).patches.first().is_some_and(|&(_, activated)| activated), "not activated");
    ensure!(text_is_pristine(slot)?, "the recovered instance's text is not pristine");
    workload(slot, 7)?;
    reset(slot)
});

kernel_test!(a_restart_or_a_recovery_gives_pristine_text {
    let slot = running("crashtest")?;
    let text_spec = spec("crashtest text seed=3 count=20")?;
    let (planned_generation, patches) = inject::plan(slot, &text_spec).map_err(|e| e.to_string())?;
    inject::arm_patches(slot, planned_generation, patches.clone()).map_err(|e| e.to_string())?;
    ensure!(!text_is_pristine(slot)?, "arming changed nothing");
    nim::restart(slot).map_err(|e| format!("restart: {e}"))?;
    ensure!(text_is_pristine(slot)?, "patches survived `ext restart`");
    ensure!(inject::status(slot).patches.len() == 20, "the old instance's records are gone");
    // A plan for the new instance ignores the old one's patches.
    let (_, again) = inject::plan(slot, &text_spec).map_err(|e| e.to_string())?;
    ensure!(again.iter().zip(&patches).all(|(a, b)| a.offset == b.offset && a.new == b.new), "a restart changed the plan of one seed");
    // Recovery after a fault reloads pristine text as well.
    let (armed_generation, patches) = inject::plan(slot, &spec("crashtest nop,branch seed=9 count=10")?).map_err(|e| e.to_string())?;
    inject::arm_patches(slot, armed_generation, patches).map_err(|e| e.to_string())?;
    ensure!(inject::status(slot).patches.len() == 10, "the dead instance's records were not dropped");
    nim::crash::crash(slot, extension_abi::CrashKind::Panic).map_err(|e| format!("crash: {e}"))?;
    let state = wait_for_recovery(slot, armed_generation, RECOVERY_TIMEOUT_MS);
    ensure!(state == State::Running, "not recovered: {}", state.name());
    ensure!(text_is_pristine(slot)?, "patches survived a recovery");
    workload(slot, 8)?;
    reset(slot)
});

kernel_test!(armed_mutations_under_the_workload_never_crash_the_kernel {
    let seeds = 1..=10u64;
    let (mut activated, mut armed, mut failed_trials, mut hung_trials) = (0, 0, 0, 0);
    for seed in seeds {
        let slot = running("crashtest")?;
        let before = generation(slot);
        let (planned, patches) = inject::plan(slot, &spec(&format!("crashtest all seed={seed} count=15"))?).map_err(|e| e.to_string())?;
        let count = inject::arm_patches(slot, planned, patches).map_err(|e| e.to_string())?.len();
        armed += count;
        // A mutation may leave crashtest looping while it keeps calling the
        // kernel (the watchdog counts from the last crossing): past the
        // deadline the instance is failed as hung, as `ext call` does.
        let outcome = match inject::with_deadline(WORKLOAD_DEADLINE_MS, move || workload(slot, seed)) {
            Some(outcome) => outcome,
            None => {
                hung_trials += 1;
                let state = inject::fail_as_hung(slot, generation(slot));
                Err(format!("no answer within {WORKLOAD_DEADLINE_MS} ms: failed as hung, {}", state.name()))
            }
        };
        let ran = inject::status(slot).patches.iter().filter(|(_, yes)| *yes).count();
        activated += ran;
        // Wait out a failure; the kernel must get here whatever happened.
        let state = match SLOTS[slot].state() {
            State::Running if generation(slot) == before => State::Running,
            _ => wait_for_recovery(slot, before, RECOVERY_TIMEOUT_MS),
        };
        if generation(slot) != before {
            failed_trials += 1;
        }
        println!(
            "ktest: seed {seed}: {ran}/{count} activated, workload {}, now {} as generation {}",
            match &outcome { Ok(()) => String::from("correct"), Err(reason) => reason.clone() },
            state.name(),
            generation(slot)
        );
        ensure!(state == State::Running, "seed {seed}: crashtest {} after the trial", state.name());
        reset(slot)?;
        workload(slot, seed).map_err(|e| format!("seed {seed}: after the restart: {e}"))?;
    }
    println!("ktest: {activated} of {armed} patches activated; {failed_trials} trials recovered ({hung_trials} failed as hung)");
    ensure!(activated > 0, "the workload ran none of {armed} patches");
    Ok(())
});

// ---------------------------------------------------------------------------
// Fail points.
// ---------------------------------------------------------------------------

fn hostile_transport(
    slot: Slot,
) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> {
    transport(slot)
}

fn fired(slot: Slot, kind: FailPoint) -> u64 {
    inject::status(slot)
        .fail_points
        .iter()
        .find(|(armed, _)| *armed == kind)
        .map_or(u64::MAX, |(_, fired)| *fired)
}

fn arm(text: &str) -> Result<Slot, String> {
    let spec = spec(text)?;
    let slot = running(&spec.extension)?;
    for &kind in &spec.fail_points {
        inject::arm_fail_point(slot, kind, spec.knobs, spec.seed);
    }
    Ok(slot)
}

fn service_number(name: &str) -> Result<u64, String> {
    SERVICES
        .iter()
        .find(|info| info.name == name)
        .map(|info| info.number)
        .ok_or_else(|| format!("no service {name}"))
}

kernel_test!(fail_point_dma_nth_2_fails_the_second_allocation_only {
    let slot = arm("hostile dma nth=2")?;
    let mut results = Vec::new();
    for _ in 0..4 {
        results.push(hostile::check_dma(&mut hostile_transport(slot), 4096).map(|reply| reply.length));
    }
    let expected = [Ok(4096), Err(CallError::Status(Status::NoResources)), Ok(4096), Ok(4096)];
    ensure!(results == expected, "allocations answered {results:?}");
    ensure!(fired(slot, FailPoint::Dma) == 1, "fired {} times", fired(slot, FailPoint::Dma));
    reset(slot)
});

kernel_test!(fail_point_alloc_with_times_fails_that_many_grants {
    let slot = arm("hostile alloc times=2")?;
    let grant = service_number("grant-memory")?;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let mut answer = [0u8; 64];
        let reply = hostile::send(&mut hostile_transport(slot), grant, 16, &1u64.to_le_bytes(), &mut answer)
            .map_err(|e| format!("send: {e}"))?;
        statuses.push(reply.status);
    }
    ensure!(statuses == [Status::NoResources, Status::NoResources, Status::Ok], "grants answered {statuses:?}");
    ensure!(fired(slot, FailPoint::Allocation) == 2, "fired {}", fired(slot, FailPoint::Allocation));
    reset(slot)
});

kernel_test!(fail_points_read_ones_and_read_garbage_change_device_reads {
    let slot = running("hostile")?;
    let read = |slot| hostile::check_port(&mut hostile_transport(slot), 0x81, 0x5a).map_err(|e| format!("check-port: {e}"));
    ensure!(read(slot)? == 0x5a, "the port does not read back without a fault");
    arm("hostile read-ones")?;
    ensure!(read(slot)? == 0xff, "read-ones: not all ones");
    let vga = hostile::probe_vga(&mut hostile_transport(slot)).map_err(|e| format!("probe-vga: {e}"))?;
    ensure!(vga.ids == u32::MAX, "read-ones: configuration dword 0 is {:#x}", vga.ids);
    inject::clear(slot);
    arm("hostile read-garbage nth=1 seed=5")?;
    let garbage = read(slot)?;
    ensure!(garbage != 0x5a, "read-garbage nth=1: the first read was the real value");
    ensure!(read(slot)? == 0x5a, "read-garbage nth=1: the second read was not the real value");
    ensure!(fired(slot, FailPoint::ReadGarbage) == 1, "fired {}", fired(slot, FailPoint::ReadGarbage));
    reset(slot)
});

kernel_test!(fail_point_copy_overrun_writes_past_the_reply_inside_the_buffer {
    let slot = arm("hostile copy-overrun nth=1 seed=2")?;
    let uptime = service_number("uptime-ms")?;
    let mut tails = Vec::new();
    for _ in 0..2 {
        let mut answer = [0u8; 64];
        let reply = hostile::send(&mut hostile_transport(slot), uptime, 64, &[], &mut answer)
            .map_err(|e| format!("send: {e}"))?;
        ensure!(reply.status == Status::Ok && reply.answer_length == 64, "uptime answered {:?}", reply.status);
        tails.push(answer[8..].iter().any(|&byte| byte != 0));
    }
    ensure!(tails == [true, false], "bytes past the reply written: {tails:?}");
    ensure!(fired(slot, FailPoint::CopyOverrun) == 1, "fired {}", fired(slot, FailPoint::CopyOverrun));
    reset(slot)
});

/// crashtest holding its objects (an interrupt on line 5, a 50 ms timer).
fn crashtest_with_objects() -> Result<Slot, String> {
    let slot = running("crashtest")?;
    let held = crashtest::acquire_objects(&mut transport(slot))
        .map_err(|e| format!("acquire-objects: {e}"))?;
    ensure!(held == 5, "crashtest holds {held} objects");
    Ok(slot)
}

fn crashtest_status(slot: Slot) -> Result<crashtest::StatusReply, String> {
    crashtest::status(&mut transport(slot)).map_err(|e| format!("status: {e}"))
}

kernel_test!(fail_point_lost_irq_drops_a_device_interrupt {
    let slot = crashtest_with_objects()?;
    arm("crashtest lost-irq nth=1")?;
    let before = crashtest_status(slot)?.interrupts;
    for _ in 0..2 {
        crate::nim::services::on_device_interrupt(5);
    }
    let delivered = crashtest_status(slot)?.interrupts - before;
    ensure!(delivered == 1, "{delivered} of 2 interrupts delivered with lost-irq nth=1");
    ensure!(fired(slot, FailPoint::LostInterrupt) == 1, "fired {}", fired(slot, FailPoint::LostInterrupt));
    reset(slot)
});

kernel_test!(fail_point_spurious_irq_calls_the_interrupt_entry_without_a_device {
    let slot = crashtest_with_objects()?;
    let before = crashtest_status(slot)?.interrupts;
    arm("crashtest spurious-irq times=3")?;
    sched::sleep_ms(inject::SPURIOUS_PERIOD_MS * 10).map_err(|e| format!("sleep: {e}"))?;
    let spurious = crashtest_status(slot)?.interrupts - before;
    ensure!(spurious == 3, "{spurious} spurious interrupts with times=3");
    ensure!(fired(slot, FailPoint::SpuriousInterrupt) == 3, "fired {}", fired(slot, FailPoint::SpuriousInterrupt));
    let timers = time::pending_timers();
    inject::clear(slot);
    ensure!(time::pending_timers() < timers, "clear left the spurious-irq timer pending");
    reset(slot)
});

kernel_test!(fail_point_timer_never_swallows_expiries {
    let slot = crashtest_with_objects()?;
    arm("crashtest timer-never")?;
    let before = crashtest_status(slot)?.timer_expiries;
    sched::sleep_ms(300).map_err(|e| format!("sleep: {e}"))?;
    let during = crashtest_status(slot)?.timer_expiries;
    ensure!(during == before, "{} expiries reached crashtest", during - before);
    ensure!(fired(slot, FailPoint::TimerNever) >= 4, "swallowed only {}", fired(slot, FailPoint::TimerNever));
    inject::clear(slot);
    sched::sleep_ms(200).map_err(|e| format!("sleep: {e}"))?;
    ensure!(crashtest_status(slot)?.timer_expiries > during, "the timer did not come back after clear");
    reset(slot)
});

kernel_test!(the_shell_and_the_command_line_refuse_bad_specs_without_applying_anything {
    let slot = running("crashtest")?;
    // Start from nothing recorded (earlier tests leave records of patches
    // that ran in instances since restarted).
    let (planned, patches) = inject::plan(slot, &spec("crashtest nop seed=1 count=1")?).map_err(|e| e.to_string())?;
    inject::arm_patches(slot, planned, patches).map_err(|e| e.to_string())?;
    inject::clear(slot);
    ensure!(inject::status(slot).patches.is_empty(), "clear kept an unexecuted patch");
    // The protocol's error paths, through the same code the shell runs.
    for words in [
        &["crashtest", "bogus"][..],
        &["crashtest", "nop", "count=0"],
        &["crashtest", "irq"],
        &["nothere", "nop"],
        &["crashtest", "dma", "nth=2", "times=1"],
    ] {
        inject::shell::run(words);
    }
    inject::shell::apply_command_line("log=info inject=crashtest:bogus inject=nothere:nop");
    ensure!(inject::status(slot).patches.is_empty() && inject::status(slot).fail_points.is_empty(), "a refused spec applied something");
    ensure!(text_is_pristine(slot)?, "a refused spec changed the text");
    inject::shell::apply_command_line("inject=crashtest:dma:nth=3 inject=crashtest:nop:seed=2:count=2");
    let status = inject::status(slot);
    ensure!(status.patches.len() == 2 && status.fail_points == [(FailPoint::Dma, 0)], "the command line armed {} patches, {:?}", status.patches.len(), status.fail_points);
    reset(slot)
});
