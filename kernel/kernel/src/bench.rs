//! In-kernel benchmarks, run by `cargo xtask bench` (kernel command line
//! `bench=NAME`). Results are printed as machine-readable lines:
//! `bench-result name=N mode=M iterations=I median=X minimum=Y` (X and Y
//! in TSC ticks per call, or per the unit the name says), then
//! `bench-done`, and the kernel exits QEMU with status 33.
//!
//! Invariants: every measurement is taken side by side in one boot (native
//! and isolated instances of the same image); a failed measurement prints
//! `bench-error ...` and the kernel exits with status 35.

use crate::arch::{self, QemuExit};
use crate::nim::{self, Mode};
use crate::println;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use extension_abi::{CrashKind, Status, operation};

/// Samples per measurement (the median is over these).
const SAMPLES: u64 = 101;

fn report(name: &str, mode: &str, iterations: u64, mut per_call: Vec<u64>) {
    per_call.sort_unstable();
    let median = per_call[per_call.len() / 2];
    let minimum = per_call[0];
    println!(
        "bench-result name={name} mode={mode} iterations={iterations} median={median} minimum={minimum}"
    );
}

fn fail(message: core::fmt::Arguments<'_>) -> ! {
    println!("bench-error {message}");
    arch::exit_qemu(QemuExit::TestsFailed)
}

/// Times `body` (which performs `calls` calls) `SAMPLES` times; returns
/// ticks per call for each sample.
fn sample(calls: u64, mut body: impl FnMut()) -> Vec<u64> {
    (0..SAMPLES)
        .map(|_| {
            let start = arch::read_timestamp();
            body();
            (arch::read_timestamp() - start) / calls
        })
        .collect()
}

#[inline(never)]
extern "C" fn direct_target(operation: u64, message: *mut u8, length: u64) -> u64 {
    core::hint::black_box((operation, message, length));
    0
}

/// Runs benchmark `name` and exits QEMU.
pub fn run(name: &str, iterations: Option<u64>) -> ! {
    match name {
        "xpc" => xpc(iterations.unwrap_or(20_000)),
        "recovery" => recovery(iterations.unwrap_or(10_000)),
        other => fail(format_args!("unknown benchmark `{other}` (xpc, recovery)")),
    }
    println!("bench-done");
    arch::exit_qemu(QemuExit::Success)
}

fn load_pair() -> (nim::Slot, nim::Slot) {
    let isolated = nim::find("crashtest").unwrap_or_else(|| {
        fail(format_args!(
            "crashtest is not loaded (was the bundle built?)"
        ))
    });
    let image =
        nim::bundled_image("crashtest").unwrap_or_else(|| fail(format_args!("no crashtest image")));
    let native = match nim::find("crashtest-native") {
        Some(slot) => slot,
        None => nim::load_image("crashtest-native", image, Mode::Native)
            .unwrap_or_else(|error| fail(format_args!("loading crashtest natively: {error}"))),
    };
    (isolated, native)
}

fn call_ok(slot: nim::Slot, operation: u64, request: &[u8]) {
    match nim::call(slot, operation, request, &mut []) {
        Ok((Status::Ok, _)) => {}
        other => fail(format_args!(
            "call {operation:#x} into slot {slot}: {other:?}"
        )),
    }
}

fn xpc(iterations: u64) {
    let calls = (iterations / SAMPLES).max(1);
    let total = calls * SAMPLES;
    let (isolated, native) = load_pair();
    // Warm up caches and lazily built state.
    for slot in [isolated, native] {
        call_ok(slot, operation::NULL, &[]);
        call_ok(slot, operation::CALL_KERNEL_NULL, &1u64.to_le_bytes());
    }
    let function: extern "C" fn(u64, *mut u8, u64) -> u64 = core::hint::black_box(direct_target);
    let direct = sample(calls, || {
        for _ in 0..calls {
            core::hint::black_box(function(operation::NULL, core::ptr::null_mut(), 0));
        }
    });
    report("direct_call", "native", total, direct);
    for (slot, mode) in [(native, "native"), (isolated, "isolated")] {
        let kernel_to_extension = sample(calls, || {
            for _ in 0..calls {
                call_ok(slot, operation::NULL, &[]);
            }
        });
        report("xpc_kernel_to_ext", mode, total, kernel_to_extension);
    }
    for (slot, mode) in [(native, "native"), (isolated, "isolated")] {
        let count = calls.to_le_bytes();
        let extension_to_kernel =
            sample(calls, || call_ok(slot, operation::CALL_KERNEL_NULL, &count));
        report("xpc_ext_to_kernel", mode, total, extension_to_kernel);
    }
    wrapper_costs(calls, native, isolated);
}

/// What a generated wrapper adds to a null call: checking and copying a
/// small (16 B) and a 4 KiB argument, both directions, and tracking an
/// object (a request and a release of one I/O port: two calls per round).
fn wrapper_costs(calls: u64, native: nim::Slot, isolated: nim::Slot) {
    use crate::nim::interface::{self, crashtest, kernel};
    let total = calls * SAMPLES;
    let small = [0x5au8; 16];
    let large = [0x5au8; 4096];
    for (slot, mode) in [(native, "native"), (isolated, "isolated")] {
        let generation = nim::SLOTS[slot].generation.load(Ordering::Acquire);
        let mut transport = interface::transport(slot, generation, nim::State::Running);
        for (name, data) in [
            ("wrapper_kernel_to_ext_16b", &small[..]),
            ("wrapper_kernel_to_ext_4k", &large[..]),
        ] {
            if let Err(error) = kernel::null_with_data(&mut transport, data) {
                fail(format_args!("{name} ({mode}): {error}"));
            }
            let ticks = sample(calls, || {
                for _ in 0..calls {
                    let _ = core::hint::black_box(kernel::null_with_data(&mut transport, data));
                }
            });
            report(name, mode, total, ticks);
        }
        for (name, bytes) in [
            ("wrapper_ext_to_kernel_16b", small.len() as u16),
            ("wrapper_ext_to_kernel_4k", large.len() as u16),
        ] {
            if let Err(error) = crashtest::call_kernel_with_data(&mut transport, 1, bytes) {
                fail(format_args!("{name} ({mode}): {error}"));
            }
            let ticks = sample(calls, || {
                if let Err(error) = crashtest::call_kernel_with_data(&mut transport, calls, bytes) {
                    fail(format_args!("{name} ({mode}): {error}"));
                }
            });
            report(name, mode, total, ticks);
        }
        if let Err(error) = crashtest::call_kernel_tracked(&mut transport, 1) {
            fail(format_args!(
                "wrapper_ext_to_kernel_tracked ({mode}): {error}"
            ));
        }
        let ticks = sample(calls, || {
            if let Err(error) = crashtest::call_kernel_tracked(&mut transport, calls) {
                fail(format_args!(
                    "wrapper_ext_to_kernel_tracked ({mode}): {error}"
                ));
            }
        });
        report("wrapper_ext_to_kernel_tracked", mode, total, ticks);
    }
}

/// Crash-and-recover cycles in one boot: mixed kinds over both bundled
/// extensions; checks for leaks and reports the time per recovery.
fn recovery(cycles: u64) {
    let names = ["crashtest", "template"];
    let slots: Vec<nim::Slot> = names
        .iter()
        .map(|name| nim::find(name).unwrap_or_else(|| fail(format_args!("{name} is not loaded"))))
        .collect();
    let previous_watchdog = nim::WATCHDOG_MS.swap(5, Ordering::Relaxed);
    let cycle = |index: u64| {
        let slot = slots[(index % 2) as usize];
        let kind = CrashKind::ALL[(index / 2 % CrashKind::ALL.len() as u64) as usize];
        let generation = nim::SLOTS[slot].generation.load(Ordering::Acquire);
        if let Err(error) = nim::crash::crash(slot, kind) {
            fail(format_args!("cycle {index}: crash {kind}: {error}"));
        }
        let state = nim::recovery::wait_for_recovery(slot, generation, 5000);
        if state != nim::State::Running {
            fail(format_args!(
                "cycle {index}: {kind}: extension {} after the crash",
                state.name()
            ));
        }
    };
    // Warm-up: every kind several times on each extension, past the fault
    // logs' capacity (64 records each), so bounded structures are full.
    let warm_up = 2 * CrashKind::ALL.len() as u64 * 6;
    for index in 0..warm_up {
        cycle(index);
    }
    let mut per_cycle = Vec::with_capacity(cycles as usize);
    let (free_before, _, _) = crate::memory::frames::counts();
    let (heap_size_before, heap_before) = crate::memory::heap::stats();
    let recoveries_before = nim::recovery::RECOVERIES.load(Ordering::Relaxed);
    let microseconds_before = nim::recovery::RECOVERY_MICROSECONDS.load(Ordering::Relaxed);
    let started = arch::read_timestamp();
    for index in 0..cycles {
        let start = arch::read_timestamp();
        cycle(warm_up + index);
        per_cycle.push(arch::read_timestamp() - start);
        if (index + 1) % 1000 == 0 {
            println!("bench-progress recovery {}/{cycles}", index + 1);
        }
    }
    let elapsed_us = crate::time::timestamp_delta_us(arch::read_timestamp() - started);
    let (free_after, _, _) = crate::memory::frames::counts();
    let (heap_size_after, heap_after) = crate::memory::heap::stats();
    nim::WATCHDOG_MS.store(previous_watchdog, Ordering::Relaxed);
    let recoveries = nim::recovery::RECOVERIES.load(Ordering::Relaxed) - recoveries_before;
    let microseconds =
        nim::recovery::RECOVERY_MICROSECONDS.load(Ordering::Relaxed) - microseconds_before;
    // Frames the heap grew by are not a leak of recovery.
    let heap_growth_frames = (heap_size_after.saturating_sub(heap_size_before) / 4096) as i64;
    let frames_leaked = free_before as i64 - free_after as i64 - heap_growth_frames;
    report("crash_recover_cycle", "isolated", cycles, per_cycle);
    println!(
        "bench-summary recovery cycles={cycles} recoveries={recoveries} mean_recovery_us={} wall_ms={} frames_leaked={} heap_bytes_leaked={}",
        microseconds / recoveries.max(1),
        elapsed_us / 1000,
        frames_leaked,
        heap_after as i64 - heap_before as i64
    );
    // Still responsive: a call into each extension works.
    for slot in slots {
        call_ok(slot, operation::NULL, &[]);
    }
    if frames_leaked > 0 || heap_after > heap_before {
        fail(format_args!(
            "leak: {frames_leaked} frames, {} heap bytes",
            heap_after as i64 - heap_before as i64
        ));
    }
}
