//! The extensions themselves: one generic test that covers every extension
//! in the boot image (so a crate made by `cargo xtask new-extension` is
//! tested the moment it exists), and the `rtc` driver's tests through the
//! kernel's device table, as any client of `rtc0` sees it.
//!
//! Like the other NIM tests, each leaves every extension running isolated
//! (generations may have grown) and restores the restart policies it
//! changes. Slots are looked up by name, never assumed.

use super::{RECOVERY_TIMEOUT_MS, generation};
use crate::memory::{frames, heap};
use crate::nim::recovery::wait_for_recovery;
use crate::nim::{self, Mode, SLOTS, Slot, State};
use crate::{ensure, kernel_test, sched, time};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use device_table::{Device, DeviceError, DeviceId};
use extension_abi::{CrashKind, Status, operation};
use restart_policy::RestartPolicy;

/// The slot of bundled extension `name`, running isolated (see
/// [`super::running_in`]).
fn running(name: &str) -> Result<Slot, String> {
    super::running_in(name, Mode::Isolated)
}

/// `rtc`'s control request: seconds since the Unix epoch.
const RTC_UNIX_SECONDS: u32 = 1;
/// Length of `rtc0`'s text, `YYYY-MM-DD HH:MM:SS\n`.
const RTC_TEXT_LEN: usize = 20;

/// The restart policy of `slot`; set back to it when dropped (also when
/// the test fails early).
struct PolicyGuard {
    slot: Slot,
    policy: RestartPolicy,
}

impl PolicyGuard {
    fn set(slot: Slot, policy: RestartPolicy) -> Result<Self, String> {
        let old = nim::list()
            .into_iter()
            .find(|summary| summary.slot == slot)
            .map(|summary| summary.policy)
            .ok_or_else(|| format!("slot {slot} is not listed"))?;
        nim::set_policy(slot, policy);
        Ok(Self { slot, policy: old })
    }
}

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        nim::set_policy(self.slot, self.policy);
    }
}

fn objects_of(slot: Slot) -> usize {
    nim::list()
        .iter()
        .find(|summary| summary.slot == slot)
        .map_or(usize::MAX, |summary| summary.objects)
}

/// The names in the device table, sorted.
fn device_names() -> Vec<String> {
    let mut names: Vec<String> = crate::devices::list()
        .into_iter()
        .map(|device| device.name)
        .collect();
    names.sort();
    names
}

/// Waits until the recovery thread is idle: `wait_for_recovery` returns as
/// soon as the new instance runs, possibly before the recovery thread has
/// dropped its temporaries, which a heap check must wait for.
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

/// Crashes `slot` with `kind` (through `nim::crash::crash`, as `ext crash`
/// does) and checks the recovery: running isolated again as the next
/// generation, with a fault record of the failed generation, of kind
/// `kind.expected_fault()`, with a recovery time; answering the null
/// operation; no XPC frame left on this thread.
fn crash_and_check_recovery(name: &str, slot: Slot, kind: CrashKind) -> Result<(), String> {
    let failed = generation(slot);
    let crashed = nim::crash::crash(slot, kind);
    ensure!(
        crashed == Ok(()),
        "{name}: crash {kind} returned {crashed:?}"
    );
    let state = wait_for_recovery(slot, failed, RECOVERY_TIMEOUT_MS);
    wait_for_recovery_thread()?;
    ensure!(
        state == State::Running && SLOTS[slot].is_isolated(),
        "{name}: {} after {kind}, not running isolated",
        state.name()
    );
    ensure!(
        generation(slot) == failed + 1,
        "{name}: generation {} after the failure of generation {failed}",
        generation(slot)
    );
    let record = nim::faults(slot)
        .last()
        .copied()
        .ok_or_else(|| format!("{name}: no fault record after {kind}"))?;
    ensure!(
        record.generation == failed && usize::from(record.extension) == slot,
        "{name}: the last fault record is of extension {} generation {}, not {slot} generation {failed}",
        record.extension,
        record.generation
    );
    let recorded = record.kind.to_string();
    ensure!(
        recorded == kind.expected_fault(),
        "{name}: {kind} recorded as {recorded}, expected {}",
        kind.expected_fault()
    );
    ensure!(
        record.time_to_recover_us.is_some(),
        "{name}: the fault record has no recovery time"
    );
    let null = nim::call(slot, operation::NULL, &[], &mut []);
    ensure!(
        null == Ok((Status::Ok, 0)),
        "{name}: the null operation after the recovery answered {null:?}"
    );
    ensure!(
        nim::services::current_depth() == 0,
        "{name}: {} XPC frames left on this thread",
        nim::services::current_depth()
    );
    Ok(())
}

/// One extension through the generic checks (see the test below).
fn check_extension(name: &str) -> Result<(), String> {
    let slot = running(name)?;
    let _policy = PolicyGuard::set(slot, RestartPolicy::Always)?;
    let null = nim::call(slot, operation::NULL, &[], &mut []);
    ensure!(
        null == Ok((Status::Ok, 0)),
        "{name}: the null operation answered {null:?}"
    );
    // The first crash puts the extension into a fresh instance (whatever it
    // held before) and lets lazily grown kernel structures reach their
    // size; the second is measured.
    crash_and_check_recovery(name, slot, CrashKind::Panic)
        .map_err(|e| format!("{e} (first crash)"))?;
    sched::sleep_ms(1).map_err(|e| format!("sleep: {e}"))?;
    let objects = objects_of(slot);
    let devices = device_names();
    let (frames_before, heap_before) = (frames::free_count(), heap::stats().1);
    crash_and_check_recovery(name, slot, CrashKind::Panic)?;
    let (frames_after, heap_after) = (frames::free_count(), heap::stats().1);
    ensure!(
        frames_after == frames_before,
        "{name}: {} frames leaked by a crash and recovery",
        frames_before as i64 - frames_after as i64
    );
    ensure!(
        heap_after == heap_before,
        "{name}: {} heap bytes leaked by a crash and recovery",
        heap_after as i64 - heap_before as i64
    );
    ensure!(
        objects_of(slot) == objects,
        "{name}: a fresh instance holds {} objects, the previous fresh one held {objects}",
        objects_of(slot)
    );
    ensure!(
        device_names() == devices,
        "{name}: the device table changed across the recovery: {:?} before, {:?} after",
        devices,
        device_names()
    );
    Ok(())
}

kernel_test!(every_bundled_extension_answers_and_recovers_from_a_panic {
    let names = nim::bundled_names();
    ensure!(!names.is_empty(), "the boot image bundles no extension");
    for name in &names {
        check_extension(name)?;
    }
    crate::println!(
        "ktest: {} bundled extension(s) answered null and recovered from a panic without leaks: {}",
        names.len(),
        names.join(", ")
    );
    Ok(())
});

// --- rtc -------------------------------------------------------------------

/// `rtc0`, opened through the device table; closed when dropped.
struct OpenDevice {
    id: DeviceId,
    device: Arc<dyn Device>,
}

impl OpenDevice {
    fn open(name: &str) -> Result<Self, String> {
        let (id, device) =
            crate::devices::open(name).map_err(|e| format!("opening {name}: {e}"))?;
        Ok(Self { id, device })
    }

    /// One read of `rtc0`: its text, checked and parsed.
    fn read_time(&self) -> Result<Time, String> {
        let mut buffer = [0u8; 64];
        let count = self
            .device
            .read(&mut buffer)
            .map_err(|e| format!("reading rtc0: {e}"))?;
        Time::parse(&buffer[..count])
    }
}

impl Drop for OpenDevice {
    fn drop(&mut self) {
        // A device of a failed instance is already gone from the table.
        let _ = crate::devices::close(self.id);
    }
}

/// A date and time as `rtc0` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Time {
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn month_days(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Time {
    /// Parses `YYYY-MM-DD HH:MM:SS\n` and checks every field's range.
    fn parse(bytes: &[u8]) -> Result<Time, String> {
        let shown = String::from_utf8_lossy(bytes);
        ensure!(
            bytes.len() == RTC_TEXT_LEN,
            "rtc0 answered {} bytes {shown:?}, expected {RTC_TEXT_LEN}",
            bytes.len()
        );
        for (index, &byte) in bytes.iter().enumerate() {
            let expected = match index {
                4 | 7 => Some(b'-'),
                10 => Some(b' '),
                13 | 16 => Some(b':'),
                19 => Some(b'\n'),
                _ => None,
            };
            let good = match expected {
                Some(separator) => byte == separator,
                None => byte.is_ascii_digit(),
            };
            ensure!(good, "rtc0 answered {shown:?}: byte {index} is wrong");
        }
        let number = |range: core::ops::Range<usize>| {
            bytes[range]
                .iter()
                .fold(0u64, |value, &digit| value * 10 + u64::from(digit - b'0'))
        };
        let time = Time {
            year: number(0..4),
            month: number(5..7),
            day: number(8..10),
            hour: number(11..13),
            minute: number(14..16),
            second: number(17..19),
        };
        ensure!(
            (1..=12).contains(&time.month)
                && time.day >= 1
                && time.day <= month_days(time.year, time.month)
                && time.hour < 24
                && time.minute < 60
                && time.second < 60,
            "rtc0 answered an impossible time {shown:?}"
        );
        Ok(time)
    }

    /// Seconds since 1970-01-01, counted day by day (independently of
    /// the driver's era arithmetic).
    fn unix_seconds(&self) -> u64 {
        let mut days = 0;
        for year in 1970..self.year {
            days += if is_leap(year) { 366 } else { 365 };
        }
        for month in 1..self.month {
            days += month_days(self.year, month);
        }
        days += self.day - 1;
        ((days * 24 + self.hour) * 60 + self.minute) * 60 + self.second
    }
}

kernel_test!(rtc0_reads_the_date_and_its_unix_seconds_agree {
    running("rtc")?;
    let rtc0 = OpenDevice::open("rtc0")?;
    let first = rtc0.read_time()?;
    let seconds = rtc0
        .device
        .control(RTC_UNIX_SECONDS, 0)
        .map_err(|e| format!("control {RTC_UNIX_SECONDS}: {e}"))?;
    let second = rtc0.read_time()?;
    // QEMU sets its clock from the host's (UTC).
    ensure!(first.year >= 2025, "rtc0 says the year is {} ({first:?})", first.year);
    let (from, to) = (first.unix_seconds(), second.unix_seconds());
    ensure!(
        from <= seconds && seconds <= to,
        "control {RTC_UNIX_SECONDS} answered {seconds}, outside the texts read around it ({first:?} = {from}, {second:?} = {to})"
    );
    ensure!(to - from <= 2, "two reads in a row are {} s apart", to - from);
    // Short reads get the start of the text; other requests are refused,
    // writes unsupported.
    let mut short = [0u8; 4];
    let count = rtc0.device.read(&mut short).map_err(|e| format!("short read: {e}"))?;
    ensure!(
        count == 4 && short.iter().all(u8::is_ascii_digit),
        "a 4-byte read answered {:?}",
        &short[..count]
    );
    let other = rtc0.device.control(99, 0);
    ensure!(other == Err(DeviceError::InvalidArgument), "control 99 answered {other:?}");
    let write = rtc0.device.write(b"2000-01-01 00:00:00\n");
    ensure!(write == Err(DeviceError::NotSupported), "a write answered {write:?}");
    // The clock runs: 1.1 s later it is 1 to 3 s later (the clock counts
    // host time, the sleep guest time; they drift a little under TCG).
    sched::sleep_ms(1100).map_err(|e| format!("sleep: {e}"))?;
    let later = rtc0.read_time()?;
    let elapsed = later.unix_seconds() as i64 - to as i64;
    ensure!(
        (1..=3).contains(&elapsed),
        "after 1.1 s rtc0 moved {elapsed} s ({second:?} -> {later:?})"
    );
    crate::println!(
        "ktest: rtc0 read {}-{:02}-{:02} {:02}:{:02}:{:02}, Unix seconds {seconds}; {elapsed} s later after a 1.1 s sleep",
        first.year,
        first.month,
        first.day,
        first.hour,
        first.minute,
        first.second
    );
    Ok(())
});

kernel_test!(rtc_recovers_from_a_null_dereference_and_rtc0_works_again {
    let slot = running("rtc")?;
    let _policy = PolicyGuard::set(slot, RestartPolicy::Always)?;
    let objects = objects_of(slot);
    ensure!(objects == 2, "rtc holds {objects} objects, expected 2 (its ports and rtc0)");
    let old = OpenDevice::open("rtc0")?;
    let before = old.read_time()?;
    crash_and_check_recovery("rtc", slot, CrashKind::NullDereference)?;
    // A client of the dead instance gets an error, never the new instance.
    let stale = old.device.read(&mut [0u8; 64]);
    ensure!(stale.is_err(), "a read through the failed instance's rtc0 answered {stale:?}");
    drop(old);
    // The new instance registered rtc0 again, and it works.
    let named = crate::devices::list().iter().filter(|device| device.name == "rtc0").count();
    ensure!(named == 1, "{named} devices named rtc0 after the recovery");
    ensure!(objects_of(slot) == objects, "the new rtc holds {} objects, not {objects}", objects_of(slot));
    let rtc0 = OpenDevice::open("rtc0").map_err(|e| format!("after the recovery: {e}"))?;
    let after = rtc0.read_time()?;
    let seconds = rtc0
        .device
        .control(RTC_UNIX_SECONDS, 0)
        .map_err(|e| format!("control {RTC_UNIX_SECONDS} after the recovery: {e}"))?;
    ensure!(
        after.unix_seconds() >= before.unix_seconds() && seconds >= after.unix_seconds(),
        "the clock went back across the recovery: {before:?}, then {after:?} and {seconds}"
    );
    Ok(())
});
