//! Why an isolated trial ended in a system failure (`kernel-crash` or
//! `hang`): an automatic first classification from the injected faults and
//! the serial log, and explanations a person attaches afterwards
//! (`DIR/explanations.txt`), both shown in `report.md`.
//!
//! The issue's bar: in isolated mode no trial may end in `kernel-crash` for
//! a fault that stays inside the extension's own behaviour. Some mutations
//! leave it by construction: mutated code runs in ring 0, so a mutation that
//! makes a software interrupt (`int N` enters kernel vector N directly) or a
//! privileged instruction (`hlt`, `cli`, `out`, `wrmsr`, `mov cr3`, ...)
//! acts on the processor's kernel state, which page tables cannot contain
//! (docs/isolation.md, "Known limits"). Every other cause is inside the
//! extension's behaviour and, in an isolated trial, points at a kernel bug
//! or a missing containment: it needs an explanation.
//!
//! Invariants:
//! - [`automatic_cause`] is a pure function of the trial's record and log.
//! - A cause is one line `TAG: text`; the tags are [`CauseTag`]'s.
//! - `explanations.txt` is read leniently: `#` comments and blank lines are
//!   skipped, every other line is `TRIAL-ID TEXT`; a malformed line is
//!   reported, not fatal.

use std::collections::BTreeMap;
use std::path::Path;

use super::classify::Outcome;
use super::faults::Layer;
use super::record::FaultRecord;
use super::trial::{Mode, TrialSpec};

/// The classes of causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CauseTag {
    /// A mutation made a software interrupt (`int N`, `int1`, `int3`).
    SoftwareInterrupt,
    /// A mutation made a privileged instruction.
    PrivilegedInstruction,
    /// The kernel panicked (an assertion in kernel code).
    KernelPanic,
    /// The kernel faulted in its own code or data.
    KernelFault,
    /// The kernel stopped without a report, or QEMU ended.
    KernelStopped,
    /// The shell stopped answering.
    NoAnswer,
    /// None of the above.
    Unexplained,
}

impl CauseTag {
    /// Every tag, in report order.
    pub const ALL: [CauseTag; 7] = [
        CauseTag::SoftwareInterrupt,
        CauseTag::PrivilegedInstruction,
        CauseTag::KernelPanic,
        CauseTag::KernelFault,
        CauseTag::KernelStopped,
        CauseTag::NoAnswer,
        CauseTag::Unexplained,
    ];

    /// The tag's spelling in a cause line.
    pub fn name(self) -> &'static str {
        match self {
            CauseTag::SoftwareInterrupt => "software-interrupt",
            CauseTag::PrivilegedInstruction => "privileged-instruction",
            CauseTag::KernelPanic => "kernel-panic",
            CauseTag::KernelFault => "kernel-fault",
            CauseTag::KernelStopped => "kernel-stopped",
            CauseTag::NoAnswer => "no-answer",
            CauseTag::Unexplained => "unexplained",
        }
    }

    /// The tag of a cause line.
    pub fn of(cause: &str) -> CauseTag {
        let tag = cause.split(':').next().unwrap_or_default();
        CauseTag::ALL
            .into_iter()
            .find(|t| t.name() == tag)
            .unwrap_or(CauseTag::Unexplained)
    }

    /// Whether a fault of this class leaves the extension's own behaviour
    /// (ring-0 code acting on the processor's kernel state, which isolation
    /// by page tables does not claim to contain).
    pub fn leaves_the_extension(self) -> bool {
        matches!(
            self,
            CauseTag::SoftwareInterrupt | CauseTag::PrivilegedInstruction
        )
    }
}

/// Instructions that only the kernel should run (ring 0), by mnemonic.
const PRIVILEGED: [&str; 34] = [
    "hlt", "cli", "sti", "in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd", "lgdt",
    "lidt", "lldt", "ltr", "lmsw", "clts", "invd", "wbinvd", "invlpg", "wrmsr", "rdmsr", "swapgs",
    "sysret", "sysretq", "sysexit", "iret", "iretd", "iretq", "popf", "popfq", "xsetbv", "monitor",
    "mwait",
];

/// The first instruction of `text` (`INSN; INSN; ...`) that is a software
/// interrupt or a privileged instruction, with its tag.
fn dangerous_instruction(text: &str) -> Option<(CauseTag, String)> {
    for instruction in text.split("; ").map(str::trim) {
        let mut words = instruction.split_whitespace();
        let mnemonic = words.next().unwrap_or_default();
        let operand = words.next().unwrap_or_default();
        let is_interrupt = matches!(mnemonic, "int" | "int1" | "int3" | "into");
        if is_interrupt {
            return Some((CauseTag::SoftwareInterrupt, instruction.to_string()));
        }
        let control_register = mnemonic == "mov"
            && (operand.starts_with("cr")
                || operand.starts_with("dr")
                || instruction.contains(", cr")
                || instruction.contains(", dr"));
        if PRIVILEGED.contains(&mnemonic) || control_register {
            return Some((CauseTag::PrivilegedInstruction, instruction.to_string()));
        }
    }
    None
}

/// The first cause suggested for an isolated trial that ended in
/// `kernel-crash` or `hang` (`None` for any other trial).
///
/// `activated` lists the patch indices the kernel reported as executed
/// (empty when unknown: then every patch is considered).
pub fn automatic_cause(
    spec: &TrialSpec,
    outcome: Outcome,
    faults: &[FaultRecord],
    activated: &[usize],
    log: &str,
    detail: &str,
) -> Option<String> {
    if spec.mode != Mode::Isolated || !outcome.is_system_failure() {
        return None;
    }
    if spec.fault.layer == Layer::CodeMutation {
        for (index, fault) in faults.iter().enumerate() {
            if !activated.is_empty() && !activated.contains(&index) {
                continue;
            }
            let Some(after) = &fault.after else { continue };
            if let Some((tag, instruction)) = dangerous_instruction(after) {
                let before = fault.before.as_deref().unwrap_or("?");
                let site = fault.site.as_deref().unwrap_or("?");
                let why = match tag {
                    CauseTag::SoftwareInterrupt => {
                        "in ring 0 it enters a kernel interrupt vector directly, which page tables cannot contain"
                    }
                    _ => {
                        "in ring 0 it acts on the processor's kernel state, which page tables cannot contain"
                    }
                };
                return Some(format!(
                    "{}: patch {index} at {site} turned `{before}` into `{instruction}`; {why}",
                    tag.name()
                ));
            }
        }
    }
    let fatal = log.lines().map(str::trim).find(|l| {
        l.starts_with("KERNEL PANIC") || l.starts_with("EXCEPTION:") || *l == "kernel stopped"
    });
    if let Some(line) = fatal {
        let tag = if line.starts_with("KERNEL PANIC") {
            CauseTag::KernelPanic
        } else if line.starts_with("EXCEPTION:") {
            CauseTag::KernelFault
        } else {
            CauseTag::KernelStopped
        };
        let rip = log
            .lines()
            .map(str::trim)
            .find(|l| l.contains("rip"))
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        return Some(format!(
            "{}: {line}{rip}; the kernel itself failed on what the extension did: a kernel bug or a missing containment to find",
            tag.name()
        ));
    }
    Some(match outcome {
        Outcome::Hang => format!(
            "{}: {detail}; the shell waited on a call into the extension or on the kernel",
            CauseTag::NoAnswer.name()
        ),
        _ => format!(
            "{}: {detail}; no fatal report in the log",
            CauseTag::KernelStopped.name()
        ),
    })
}

/// Explanations attached by hand: `DIR/explanations.txt`, one
/// `TRIAL-ID TEXT` per line. Returns the explanations and the problems
/// found (malformed lines).
pub fn read_explanations(path: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return (out, problems);
    };
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(char::is_whitespace) {
            Some((id, explanation))
                if TrialSpec::parse_id(id).is_ok() && !explanation.trim().is_empty() =>
            {
                out.insert(id.to_string(), explanation.trim().to_string());
            }
            _ => problems.push(format!(
                "{}:{}: expected `TRIAL-ID EXPLANATION`",
                path.display(),
                number + 1
            )),
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(fault: &str, mode: Mode) -> TrialSpec {
        TrialSpec {
            extension: "e1000".into(),
            mode,
            fault: crate::inject::faults::find(fault).unwrap(),
            seed: 1,
            count: 5,
            knobs: Default::default(),
        }
    }

    fn patch(before: &str, after: &str) -> FaultRecord {
        FaultRecord {
            fault_type: "text".into(),
            site: Some("f+0x10".into()),
            before: Some(before.into()),
            after: Some(after.into()),
            ..FaultRecord::default()
        }
    }

    #[test]
    fn only_isolated_system_failures_get_a_cause() {
        let text = spec("text", Mode::Isolated);
        assert!(automatic_cause(&text, Outcome::Recovered, &[], &[], "", "").is_none());
        let native = spec("text", Mode::Native);
        assert!(automatic_cause(&native, Outcome::KernelCrash, &[], &[], "", "").is_none());
        assert!(automatic_cause(&text, Outcome::Hang, &[], &[], "", "x").is_some());
    }

    #[test]
    fn mutations_into_interrupts_and_privileged_instructions_leave_the_extension() {
        let text = spec("text", Mode::Isolated);
        let faults = [
            patch("mov eax, 1", "mov eax, 3"),
            patch("mov [rdi], eax", "int 0x89"),
        ];
        let cause = automatic_cause(&text, Outcome::KernelCrash, &faults, &[], "", "").unwrap();
        assert!(
            cause.starts_with(
                "software-interrupt: patch 1 at f+0x10 turned `mov [rdi], eax` into `int 0x89`"
            ),
            "{cause}"
        );
        assert!(CauseTag::of(&cause).leaves_the_extension());
        // An activated list that leaves patch 1 out: it did not run.
        let cause = automatic_cause(
            &text,
            Outcome::KernelCrash,
            &faults,
            &[0],
            "EXCEPTION: x",
            "",
        )
        .unwrap();
        assert_eq!(CauseTag::of(&cause), CauseTag::KernelFault, "{cause}");
        assert!(!CauseTag::of(&cause).leaves_the_extension());
        for after in [
            "hlt",
            "cli",
            "out dx, al",
            "mov cr3, rax",
            "wrmsr",
            "add al, 1; in al, dx",
        ] {
            let faults = [patch("nop", after)];
            let cause = automatic_cause(&text, Outcome::KernelCrash, &faults, &[], "", "").unwrap();
            assert_eq!(
                CauseTag::of(&cause),
                CauseTag::PrivilegedInstruction,
                "{after}: {cause}"
            );
        }
        for after in ["inc eax", "mov rax, [rdi+0x8]", "(bad)", "ins_or_not eax"] {
            assert!(dangerous_instruction(after).is_none(), "{after}");
        }
    }

    #[test]
    fn the_log_tells_kernel_panics_faults_and_silence_apart() {
        let panic = spec("panic", Mode::Isolated);
        let log = "x\nKERNEL PANIC in kernel thread `shell` (id 1): panicked at a.rs:1:2\n";
        let cause = automatic_cause(&panic, Outcome::KernelCrash, &[], &[], log, "").unwrap();
        assert!(cause.starts_with("kernel-panic: KERNEL PANIC"), "{cause}");
        let log = "EXCEPTION: page fault (#PF, vector 14) in kernel thread `network` (id 2)\n  rip 0xffffffff80001234\n";
        let cause = automatic_cause(&panic, Outcome::KernelCrash, &[], &[], log, "").unwrap();
        assert!(
            cause.starts_with("kernel-fault: EXCEPTION: page fault")
                && cause.contains("rip 0xffffffff80001234"),
            "{cause}"
        );
        let cause = automatic_cause(
            &panic,
            Outcome::Hang,
            &[],
            &[],
            "",
            "`ext list`: no answer within 20 s",
        )
        .unwrap();
        assert!(cause.starts_with("no-answer: `ext list`"), "{cause}");
        let cause = automatic_cause(
            &panic,
            Outcome::KernelCrash,
            &[],
            &[],
            "",
            "QEMU ended with status 0",
        )
        .unwrap();
        assert_eq!(CauseTag::of(&cause), CauseTag::KernelStopped);
        assert_eq!(CauseTag::of("whatever"), CauseTag::Unexplained);
    }

    #[test]
    fn explanations_are_read_by_trial_id() {
        let path = std::env::temp_dir().join(format!("explanations-{}.txt", std::process::id()));
        std::fs::write(
            &path,
            "# comment\n\ne1000:isolated:text:7:5 a wild write through a pointer into kernel memory\nnot-an-id text\ncrashtest:isolated:nop:1:5\n",
        )
        .unwrap();
        let (explanations, problems) = read_explanations(&path);
        assert_eq!(
            explanations
                .get("e1000:isolated:text:7:5")
                .map(String::as_str),
            Some("a wild write through a pointer into kernel memory")
        );
        assert_eq!(explanations.len(), 1);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].ends_with(":4: expected `TRIAL-ID EXPLANATION`"));
        let _ = std::fs::remove_file(path);
        assert!(read_explanations(Path::new("/no/such/file")).0.is_empty());
    }
}
