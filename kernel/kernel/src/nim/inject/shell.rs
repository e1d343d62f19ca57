//! The `inject` shell command and the `inject=` kernel command-line
//! option: the protocol the campaign runner (`cargo xtask inject`) parses.
//!
//! ```text
//! inject EXTENSION TYPES [seed=S] [count=K] [dry-run] [probability=P] [interval=N] [times=N] [nth=N]
//!   inject patch I type=T address=0xADDR site=SYMBOL+0xOFF old=HEX new=HEX before="INSN" after="INSN"
//!   inject armed EXTENSION patches=N          (inject planned EXTENSION patches=N with dry-run)
//!   inject fail-point EXTENSION TYPE armed
//!   inject crash EXTENSION KIND               (then the usual `ext crash` output)
//! inject status EXTENSION
//!   inject activated I yes|no
//!   inject fired TYPE N
//!   inject status end
//! inject clear EXTENSION
//!   inject cleared EXTENSION
//! any refusal: inject: error: MESSAGE        (one line; nothing applied)
//! ```
//!
//! Invariant: a refused command applies nothing: code mutations are
//! planned in full before anything is armed, and arming is all-or-nothing.

use super::{InjectError, slot_of};
use crate::println;
use core::fmt::Display;
use fault_injection::{InjectionSpec, PatchLine, parse_command_line_value, parse_words};

fn error(message: impl Display) {
    println!("inject: error: {message}");
}

/// Runs `inject ARGUMENTS...`.
pub fn run(arguments: &[&str]) {
    match arguments {
        ["status", name] => status(name),
        ["clear", name] => clear(name),
        _ => match parse_words(arguments) {
            Ok(spec) => apply(&spec),
            Err(refusal) => error(refusal),
        },
    }
}

/// Applies `spec` and prints the protocol lines.
pub fn apply(spec: &InjectionSpec) {
    if let Err(refusal) = try_apply(spec) {
        error(refusal);
    }
}

fn try_apply(spec: &InjectionSpec) -> Result<(), InjectError> {
    let name = spec.extension.as_str();
    let slot = slot_of(name)?;
    if let Some(kind) = spec.crash {
        println!("inject crash {name} {kind}");
        super::super::shell_commands::run(&["crash", name, kind.name()]);
        return Ok(());
    }
    let planned = match spec.mutations.is_empty() {
        true => None,
        false => Some(super::plan(slot, spec)?),
    };
    if let Some((generation, patches)) = planned {
        if spec.dry_run {
            let first = super::next_patch_index(slot, generation);
            for (index, patch) in patches.iter().enumerate() {
                println!(
                    "{}",
                    PatchLine {
                        index: first + index,
                        patch
                    }
                );
            }
            println!("inject planned {name} patches={}", patches.len());
            return Ok(());
        }
        let armed = super::arm_patches(slot, generation, patches)?;
        for (index, patch) in &armed {
            println!(
                "{}",
                PatchLine {
                    index: *index,
                    patch
                }
            );
        }
        println!("inject armed {name} patches={}", armed.len());
    }
    for &kind in &spec.fail_points {
        super::arm_fail_point(slot, kind, spec.knobs, spec.seed);
        println!("inject fail-point {name} {kind} armed");
    }
    Ok(())
}

fn status(name: &str) {
    let slot = match slot_of(name) {
        Ok(slot) => slot,
        Err(refusal) => return error(refusal),
    };
    let status = super::status(slot);
    for (index, activated) in status.patches {
        println!(
            "inject activated {index} {}",
            if activated { "yes" } else { "no" }
        );
    }
    for (kind, fired) in status.fail_points {
        println!("inject fired {kind} {fired}");
    }
    println!("inject status end");
}

fn clear(name: &str) {
    match slot_of(name) {
        Ok(slot) => {
            super::clear(slot);
            println!("inject cleared {name}");
        }
        Err(refusal) => error(refusal),
    }
}

/// Applies every `inject=EXTENSION:TYPES[:OPTION]...` word of the kernel
/// command line (after the NIM loaded the boot extensions), printing the
/// same lines as the shell command.
pub fn apply_command_line(command_line: &str) {
    for word in command_line.split_ascii_whitespace() {
        let Some(value) = word.strip_prefix("inject=") else {
            continue;
        };
        match parse_command_line_value(value) {
            Ok(spec) => apply(&spec),
            Err(refusal) => error(refusal),
        }
    }
}
