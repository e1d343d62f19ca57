//! The shell's `ext` command: list, load, unload, restart, crash, faults
//! and policy of extensions, and `ext call`, a workload for fault-injection
//! campaigns that calls crashtest's own operations.
//!
//! Invariant: every bad argument prints one line saying what was expected;
//! nothing here can stop the kernel except `ext crash` on a native
//! extension (which is the point of native mode).

use super::{Mode, NimError};
use crate::println;
use extension_abi::CrashKind;

/// Usage text of `ext`.
pub const USAGE: &str = "ext list | load NAME [native|isolated] | unload NAME | restart NAME | crash NAME KIND | faults [NAME] | policy NAME POLICY | call crashtest checksum SEED ROUNDS CALLS | call crashtest increment";

/// Usage of `ext call` (the operations it knows).
const CALL_USAGE: &str =
    "ext call crashtest checksum SEED ROUNDS CALLS | ext call crashtest increment";

/// Most rounds of one `ext call crashtest checksum` call.
const MAX_CHECKSUM_ROUNDS: u64 = 1_000_000;
/// Most calls of one `ext call crashtest checksum`.
const MAX_CHECKSUM_CALLS: u64 = 100_000;

fn slot_of(name: &str) -> Option<super::Slot> {
    let slot = super::find(name);
    if slot.is_none() {
        println!("ext: no extension named `{name}` is loaded (see `ext list`)");
    }
    slot
}

fn report(result: Result<(), NimError>, done: &str) {
    match result {
        Ok(()) => println!("{done}"),
        Err(error) => println!("ext: {error}"),
    }
}

/// Runs `ext ARGUMENTS...`.
pub fn run(arguments: &[&str]) {
    match arguments {
        [] | ["list"] => list(),
        ["load", name] | ["load", name, "isolated"] => report(
            super::load(name, Mode::Isolated).map(|_| ()),
            "loaded (isolated)",
        ),
        ["load", name, "native"] => report(
            super::load(name, Mode::Native).map(|_| ()),
            "loaded (native)",
        ),
        ["load", _, mode] => println!("ext: unknown mode `{mode}` (native or isolated)"),
        ["unload", name] => {
            if let Some(slot) = slot_of(name) {
                report(super::unload(slot), "unloaded");
            }
        }
        ["restart", name] => {
            if let Some(slot) = slot_of(name) {
                report(super::restart(slot), "restarted");
            }
        }
        ["crash", name, kind] => crash(name, kind),
        ["call", rest @ ..] => call(rest),
        ["faults"] => {
            for summary in super::list() {
                faults(summary.slot, &summary.name);
            }
        }
        ["faults", name] => {
            if let Some(slot) = slot_of(name) {
                faults(slot, name);
            }
        }
        ["policy", name, text] => match (slot_of(name), restart_policy::parse_policy(text)) {
            (Some(slot), Ok(policy)) => {
                super::set_policy(slot, policy);
                println!("{name}: policy {policy}");
            }
            (_, Err(error)) => println!("ext: {error}"),
            (None, _) => {}
        },
        _ => println!("usage: {USAGE}"),
    }
}

fn list() {
    let summaries = super::list();
    if summaries.is_empty() {
        println!(
            "no extensions (bundled: {})",
            super::bundled_names().join(", ")
        );
        return;
    }
    println!(
        "NAME             MODE      STATE       GENERATION  RESTARTS  FAULTS  OBJECTS  POLICY"
    );
    for summary in summaries {
        println!(
            "{:<16} {:<9} {:<11} {:>10}  {:>8}  {:>6}  {:>7}  {}",
            summary.name,
            summary.mode.name(),
            summary.state.name(),
            summary.generation,
            summary.restarts,
            summary.faults,
            summary.objects,
            summary.policy
        );
    }
}

fn crash(name: &str, kind: &str) {
    let Some(kind) = CrashKind::from_name(kind) else {
        let names: alloc::vec::Vec<&str> = CrashKind::ALL.iter().map(|kind| kind.name()).collect();
        println!(
            "ext: unknown crash kind `{kind}`; one of: {}",
            names.join(", ")
        );
        return;
    };
    let Some(slot) = slot_of(name) else {
        return;
    };
    let generation = super::SLOTS[slot]
        .generation
        .load(core::sync::atomic::Ordering::Acquire);
    match super::crash::crash(slot, kind) {
        Ok(()) => {
            let state = super::recovery::wait_for_recovery(slot, generation, 5000);
            let now = super::SLOTS[slot]
                .generation
                .load(core::sync::atomic::Ordering::Acquire);
            match super::faults(slot).last() {
                Some(record) if record.generation == generation => println!(
                    "{name}: {} ({}); now {} as generation {now}",
                    record.kind,
                    match record.time_to_recover_us {
                        Some(us) => alloc::format!("recovered in {us} us"),
                        None => alloc::string::String::from("not restarted"),
                    },
                    state.name()
                ),
                _ => println!("{name}: failed; now {} as generation {now}", state.name()),
            }
        }
        Err(error) => println!("ext: {error}"),
    }
}

/// A decimal or `0x` hexadecimal number.
fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// How long `ext call` waits for the extension's answers.
const CALL_DEADLINE_MS: u64 = 10_000;

/// `ext call crashtest ...`: crashtest's `checksum` operation called CALLS
/// times (each answer compared with the kernel's own
/// `extension_abi::checksum`), or its `increment` operation once, from a
/// thread of their own. Without an answer within [`CALL_DEADLINE_MS`] the
/// instance is failed as hung and recovered. The answers are the contract
/// of the campaign runner's crashtest workload
/// (`docs/fault-injection-campaigns.md`).
fn call(arguments: &[&str]) {
    use super::interface::{crashtest, transport};
    let parsed = match arguments {
        ["crashtest", "checksum", seed, rounds, calls] => {
            match (number(seed), number(rounds), number(calls)) {
                (Some(seed), Some(rounds), Some(calls))
                    if rounds <= MAX_CHECKSUM_ROUNDS
                        && (1..=MAX_CHECKSUM_CALLS).contains(&calls) =>
                {
                    Some(Some((seed, rounds, calls)))
                }
                _ => {
                    println!(
                        "ext: call crashtest checksum SEED ROUNDS CALLS expects numbers, ROUNDS at most {MAX_CHECKSUM_ROUNDS}, CALLS from 1 to {MAX_CHECKSUM_CALLS}"
                    );
                    return;
                }
            }
        }
        ["crashtest", "increment"] => Some(None),
        [name, ..] if *name != "crashtest" => {
            println!("ext: `ext call` knows crashtest's operations only: {CALL_USAGE}");
            return;
        }
        _ => None,
    };
    let Some(checksum) = parsed else {
        println!("ext: usage: {CALL_USAGE}");
        return;
    };
    let Some(slot) = slot_of("crashtest") else {
        return;
    };
    let generation = super::SLOTS[slot]
        .generation
        .load(core::sync::atomic::Ordering::Acquire);
    let answer = super::inject::with_deadline(CALL_DEADLINE_MS, move || {
        let mut transport = transport(slot, generation, super::State::Running);
        match checksum {
            None => match crashtest::increment(&mut transport) {
                Ok(counter) => alloc::format!("crashtest: counter={counter}"),
                Err(error) => alloc::format!("crashtest: call failed: {error}"),
            },
            Some((seed, rounds, calls)) => {
                let expected = extension_abi::checksum(seed, rounds);
                for call in 0..calls {
                    match crashtest::checksum(&mut transport, seed, rounds) {
                        Ok(value) if value == expected => {}
                        Ok(value) => {
                            return alloc::format!(
                                "crashtest: checksum mismatch at call {call}: {value:#x} != {expected:#x}"
                            );
                        }
                        Err(error) => return alloc::format!("crashtest: call failed: {error}"),
                    }
                }
                alloc::format!(
                    "crashtest: checksum seed={seed} rounds={rounds} calls={calls} value={expected:#x}"
                )
            }
        }
    });
    match answer {
        Some(line) => println!("{line}"),
        None => {
            // Hung in a loop that keeps calling the kernel (which resets the
            // watchdog at each crossing): the instance is failed as hung, so
            // recovery unwinds the caller at its next return from the
            // kernel and restarts the extension.
            let state = super::inject::fail_as_hung(slot, generation);
            println!(
                "crashtest: call failed: no answer within {} s; failed as hung, now {} as generation {}",
                CALL_DEADLINE_MS / 1000,
                state.name(),
                super::SLOTS[slot]
                    .generation
                    .load(core::sync::atomic::Ordering::Acquire)
            );
        }
    }
}

fn faults(slot: super::Slot, name: &str) {
    let records = super::faults(slot);
    if records.is_empty() {
        println!("{name}: no faults");
    }
    for record in records {
        println!("{name}: {record}");
    }
}
