//! Decoding of x86_64 exceptions into human-readable reports.
//!
//! Pure functions over the numbers a trap handler has in hand (vector, error
//! code, saved registers, CR2); nothing here touches hardware.
//!
//! # Invariants
//!
//! - Every function is total: any `u8` vector and any `u64` error code or RFLAGS
//!   value produces a description, never a panic.
//! - [`ExceptionReport`]'s `Display` output is a stable, line-oriented format
//!   that tests and QEMU scenarios match literally (see its documentation);
//!   every line ends with `\n`, and optional lines (error code, CR2) are either
//!   present in full or absent.
//! - The error-code line appears exactly when [`has_error_code`] is true for the
//!   vector, because only then did the CPU push one.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Vector number of #DE, divide error.
pub const DIVIDE_ERROR: u8 = 0;
/// Vector number of #DB, debug.
pub const DEBUG: u8 = 1;
/// Vector number of the non-maskable interrupt.
pub const NMI: u8 = 2;
/// Vector number of #BP, breakpoint (`int3`).
pub const BREAKPOINT: u8 = 3;
/// Vector number of #UD, invalid opcode.
pub const INVALID_OPCODE: u8 = 6;
/// Vector number of #DF, double fault.
pub const DOUBLE_FAULT: u8 = 8;
/// Vector number of #TS, invalid TSS.
pub const INVALID_TSS: u8 = 10;
/// Vector number of #NP, segment not present.
pub const SEGMENT_NOT_PRESENT: u8 = 11;
/// Vector number of #SS, stack-segment fault.
pub const STACK_SEGMENT_FAULT: u8 = 12;
/// Vector number of #GP, general protection fault.
pub const GENERAL_PROTECTION: u8 = 13;
/// Vector number of #PF, page fault.
pub const PAGE_FAULT: u8 = 14;
/// Vector number of #CP, control protection exception.
pub const CONTROL_PROTECTION: u8 = 21;
/// First vector that is not a CPU exception (external / software interrupts).
pub const FIRST_INTERRUPT: u8 = 32;

/// Name and mnemonic of each of the 32 exception vectors.
const EXCEPTIONS: [(&str, &str); 32] = [
    ("divide error", "#DE"),
    ("debug", "#DB"),
    ("non-maskable interrupt", "NMI"),
    ("breakpoint", "#BP"),
    ("overflow", "#OF"),
    ("bound range exceeded", "#BR"),
    ("invalid opcode", "#UD"),
    ("device not available", "#NM"),
    ("double fault", "#DF"),
    ("coprocessor segment overrun", ""),
    ("invalid TSS", "#TS"),
    ("segment not present", "#NP"),
    ("stack-segment fault", "#SS"),
    ("general protection", "#GP"),
    ("page fault", "#PF"),
    ("reserved", ""),
    ("x87 floating-point error", "#MF"),
    ("alignment check", "#AC"),
    ("machine check", "#MC"),
    ("SIMD floating-point exception", "#XM"),
    ("virtualization exception", "#VE"),
    ("control protection", "#CP"),
    ("reserved", ""),
    ("reserved", ""),
    ("reserved", ""),
    ("reserved", ""),
    ("reserved", ""),
    ("reserved", ""),
    ("hypervisor injection", "#HV"),
    ("VMM communication", "#VC"),
    ("security exception", "#SX"),
    ("reserved", ""),
];

/// Human-readable name of a vector: "page fault", "general protection",
/// "divide error", "double fault", ...; "reserved" for reserved exception
/// vectors and "interrupt" for 32..=255.
pub fn vector_name(vector: u8) -> &'static str {
    EXCEPTIONS
        .get(vector as usize)
        .map_or("interrupt", |&(name, _)| name)
}

/// Intel mnemonic of a vector: "#PF", "#GP", "#DE", "#DF", ... ("NMI" for
/// vector 2); the empty string for reserved vectors and interrupts.
pub fn vector_mnemonic(vector: u8) -> &'static str {
    EXCEPTIONS
        .get(vector as usize)
        .map_or("", |&(_, mnemonic)| mnemonic)
}

/// True if the CPU pushes an error code for this vector (8, 10-14, 17, 21,
/// 29, 30). Only meaningful for exceptions raised by the CPU itself; an `int n`
/// instruction never pushes one.
pub fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// True if the vector is one of the 32 architectural exception vectors.
pub fn is_exception(vector: u8) -> bool {
    vector < FIRST_INTERRUPT
}

bitflags::bitflags! {
    /// Bits of the page-fault (#PF) error code.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PageFaultError: u64 {
        /// 1: protection violation on a present page; 0: page not present.
        const PRESENT = 1;
        /// 1: the access was a write; 0: a read.
        const WRITE = 2;
        /// 1: the access came from CPL 3; 0: supervisor mode.
        const USER = 4;
        /// A reserved bit was set in a paging-structure entry.
        const RESERVED_BIT = 8;
        /// The access was an instruction fetch.
        const INSTRUCTION_FETCH = 16;
        /// Protection-key violation.
        const PROTECTION_KEY = 32;
        /// Shadow-stack access.
        const SHADOW_STACK = 64;
        /// SGX-specific access-control violation.
        const SGX = 1 << 15;
    }
}

/// Describes a #PF error code, e.g. `"not-present | write | supervisor |
/// data-access"` or `"protection-violation | read | supervisor |
/// instruction-fetch"`, followed by `"| reserved-bit"`, `"| protection-key"`,
/// `"| shadow-stack"`, `"| sgx"` when those bits are set.
pub fn describe_page_fault_error(code: u64) -> String {
    use alloc::string::ToString;
    ErrorCodeText::PageFault(code).to_string()
}

/// Describes a selector error code (#TS, #NP, #SS, #GP): `"GDT | index 3"`,
/// `"external | IDT | index 13"`, `"LDT | index 1"`; code 0 gives
/// `"no selector"`. Bit 0 is EXT, bit 1 IDT, bit 2 LDT (when not IDT), bits
/// 3..16 the index.
pub fn describe_selector_error(code: u64) -> String {
    use alloc::string::ToString;
    ErrorCodeText::Selector(code).to_string()
}

/// Describes a #CP (control protection) error code: "near-ret",
/// "far-ret/iret", "endbranch", "rstorssp", "setssbsy", plus "| enclave" when
/// bit 15 is set.
pub fn describe_control_protection_error(code: u64) -> String {
    use alloc::string::ToString;
    ErrorCodeText::ControlProtection(code).to_string()
}

/// An error code's description, formatted without allocating (the fatal
/// fault path must not depend on the heap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCodeText {
    /// A #PF error code.
    PageFault(u64),
    /// A selector error code (#TS, #NP, #SS, #GP).
    Selector(u64),
    /// A #CP error code.
    ControlProtection(u64),
    /// A #DF error code (architecturally zero).
    DoubleFault(u64),
}

impl fmt::Display for ErrorCodeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorCodeText::PageFault(code) => {
                let e = PageFaultError::from_bits_retain(code);
                let pick = |flag, yes: &'static str, no: &'static str| {
                    if e.contains(flag) { yes } else { no }
                };
                write!(
                    f,
                    "{} | {} | {} | {}",
                    pick(
                        PageFaultError::PRESENT,
                        "protection-violation",
                        "not-present"
                    ),
                    pick(PageFaultError::WRITE, "write", "read"),
                    pick(PageFaultError::USER, "user", "supervisor"),
                    pick(
                        PageFaultError::INSTRUCTION_FETCH,
                        "instruction-fetch",
                        "data-access"
                    ),
                )?;
                for (flag, name) in [
                    (PageFaultError::RESERVED_BIT, "reserved-bit"),
                    (PageFaultError::PROTECTION_KEY, "protection-key"),
                    (PageFaultError::SHADOW_STACK, "shadow-stack"),
                    (PageFaultError::SGX, "sgx"),
                ] {
                    if e.contains(flag) {
                        write!(f, " | {name}")?;
                    }
                }
                Ok(())
            }
            ErrorCodeText::Selector(0) => f.write_str("no selector"),
            ErrorCodeText::Selector(code) => {
                let table = if code & 2 != 0 {
                    "IDT"
                } else if code & 4 != 0 {
                    "LDT"
                } else {
                    "GDT"
                };
                let index = (code >> 3) & 0x1fff;
                let external = if code & 1 != 0 { "external | " } else { "" };
                write!(f, "{external}{table} | index {index}")
            }
            ErrorCodeText::ControlProtection(code) => {
                let kind = match code & 0x7fff {
                    1 => "near-ret",
                    2 => "far-ret/iret",
                    3 => "endbranch",
                    4 => "rstorssp",
                    5 => "setssbsy",
                    _ => "unknown",
                };
                f.write_str(kind)?;
                if code & (1 << 15) != 0 {
                    f.write_str(" | enclave")?;
                }
                Ok(())
            }
            ErrorCodeText::DoubleFault(0) => f.write_str("always zero"),
            ErrorCodeText::DoubleFault(_) => f.write_str("should be zero"),
        }
    }
}

/// RFLAGS bits and their names, highest bit first.
const RFLAGS_NAMES: [(u32, &str); 16] = [
    (21, "ID"),
    (20, "VIP"),
    (19, "VIF"),
    (18, "AC"),
    (17, "VM"),
    (16, "RF"),
    (14, "NT"),
    (11, "OF"),
    (10, "DF"),
    (9, "IF"),
    (8, "TF"),
    (7, "SF"),
    (6, "ZF"),
    (4, "AF"),
    (2, "PF"),
    (0, "CF"),
];

/// Names the set RFLAGS bits, highest first, separated by spaces, e.g.
/// `"IF ZF PF"` for 0x246; a non-zero I/O privilege level is shown
/// as `"IOPL=3"` (after NT). The always-one bit 1 and reserved bits are not
/// shown; no flags gives the empty string.
pub fn describe_rflags(rflags: u64) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (bit, name) in RFLAGS_NAMES {
        if bit == 11 {
            let iopl = (rflags >> 12) & 3;
            if iopl != 0 {
                parts.push(alloc::format!("IOPL={iopl}"));
            }
        }
        if rflags & (1 << bit) != 0 {
            parts.push(String::from(name));
        }
    }
    parts.join(" ")
}

/// Everything needed to print one exception report.
///
/// `Display` prints, with every line ending in `\n`:
///
/// ```text
/// EXCEPTION: page fault (#PF, vector 14) in <context>
///   error code: 0x2 (not-present | write | supervisor | data-access)
///   CR2 (fault address): 0x000000000dead000
///   RIP: 0xffffffff80001234  RSP: 0x0000000000123450  RFLAGS: 0x10046  CS: 0x8
/// ```
///
/// The error-code line appears only when [`has_error_code`] holds for the
/// vector: #PF codes are decoded with [`describe_page_fault_error`], #TS/#NP/
/// #SS/#GP with [`describe_selector_error`], #CP with
/// [`describe_control_protection_error`], #DF shows `(always zero)` (or
/// `(should be zero)` if it is not); other vectors show the bare hex value.
/// The CR2 line appears only when `cr2` is `Some`. Vectors without a mnemonic
/// print as `interrupt (vector 32)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionReport<'a> {
    /// Vector number (0-255).
    pub vector: u8,
    /// Error code pushed by the CPU (ignored if the vector has none).
    pub error_code: u64,
    /// Saved instruction pointer.
    pub rip: u64,
    /// Saved stack pointer.
    pub rsp: u64,
    /// Saved RFLAGS.
    pub rflags: u64,
    /// Saved code segment selector.
    pub cs: u64,
    /// CR2 (fault address), for page faults.
    pub cr2: Option<u64>,
    /// Where it happened, e.g. "kernel" or "extension e1000 (domain 2)".
    pub context: &'a str,
}

impl ExceptionReport<'_> {
    /// Text in parentheses after the error code, if any.
    fn error_code_detail(&self) -> Option<ErrorCodeText> {
        let code = self.error_code;
        match self.vector {
            PAGE_FAULT => Some(ErrorCodeText::PageFault(code)),
            INVALID_TSS | SEGMENT_NOT_PRESENT | STACK_SEGMENT_FAULT | GENERAL_PROTECTION => {
                Some(ErrorCodeText::Selector(code))
            }
            DOUBLE_FAULT => Some(ErrorCodeText::DoubleFault(code)),
            CONTROL_PROTECTION => Some(ErrorCodeText::ControlProtection(code)),
            _ => None,
        }
    }
}

impl fmt::Display for ExceptionReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = vector_name(self.vector);
        let mnemonic = vector_mnemonic(self.vector);
        if mnemonic.is_empty() {
            writeln!(
                f,
                "EXCEPTION: {name} (vector {}) in {}",
                self.vector, self.context
            )?;
        } else {
            writeln!(
                f,
                "EXCEPTION: {name} ({mnemonic}, vector {}) in {}",
                self.vector, self.context
            )?;
        }
        if has_error_code(self.vector) {
            match self.error_code_detail() {
                Some(detail) => writeln!(f, "  error code: {:#x} ({detail})", self.error_code)?,
                None => writeln!(f, "  error code: {:#x}", self.error_code)?,
            }
        }
        if let Some(cr2) = self.cr2 {
            writeln!(f, "  CR2 (fault address): {cr2:#018x}")?;
        }
        writeln!(
            f,
            "  RIP: {:#018x}  RSP: {:#018x}  RFLAGS: {:#x}  CS: {:#x}",
            self.rip, self.rsp, self.rflags, self.cs
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn report(vector: u8, error_code: u64, cr2: Option<u64>) -> ExceptionReport<'static> {
        ExceptionReport {
            vector,
            error_code,
            rip: 0xffff_ffff_8000_1234,
            rsp: 0x12_3450,
            rflags: 0x10046,
            cs: 0x8,
            cr2,
            context: "kernel",
        }
    }

    #[test]
    fn names_and_mnemonics() {
        assert_eq!(vector_name(0), "divide error");
        assert_eq!(vector_mnemonic(0), "#DE");
        assert_eq!(vector_name(8), "double fault");
        assert_eq!(vector_mnemonic(8), "#DF");
        assert_eq!(vector_name(13), "general protection");
        assert_eq!(vector_mnemonic(13), "#GP");
        assert_eq!(vector_name(14), "page fault");
        assert_eq!(vector_mnemonic(14), "#PF");
        assert_eq!(vector_name(6), "invalid opcode");
        assert_eq!(vector_mnemonic(6), "#UD");
        assert_eq!(vector_mnemonic(3), "#BP");
        assert_eq!(vector_mnemonic(2), "NMI");
        assert_eq!(vector_mnemonic(19), "#XM");
        assert_eq!(vector_mnemonic(21), "#CP");
        assert_eq!(vector_name(15), "reserved");
        assert_eq!(vector_mnemonic(15), "");
        for v in 32..=255u8 {
            assert_eq!(vector_name(v), "interrupt");
            assert_eq!(vector_mnemonic(v), "");
            assert!(!has_error_code(v));
            assert!(!is_exception(v));
        }
        for v in 0..32u8 {
            assert!(is_exception(v));
            assert!(!vector_name(v).is_empty());
            let m = vector_mnemonic(v);
            assert!(m.is_empty() || m.starts_with('#') || m == "NMI", "{v}: {m}");
        }
    }

    #[test]
    fn error_code_vectors() {
        let with: std::vec::Vec<u8> = (0..=255u8).filter(|&v| has_error_code(v)).collect();
        assert_eq!(with, [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
    }

    #[test]
    fn page_fault_codes() {
        assert_eq!(
            describe_page_fault_error(0x2),
            "not-present | write | supervisor | data-access"
        );
        assert_eq!(
            describe_page_fault_error(0x0),
            "not-present | read | supervisor | data-access"
        );
        assert_eq!(
            describe_page_fault_error(0x11),
            "protection-violation | read | supervisor | instruction-fetch"
        );
        assert_eq!(
            describe_page_fault_error(0x7),
            "protection-violation | write | user | data-access"
        );
        assert_eq!(
            describe_page_fault_error(0x8 | 0x20 | 0x40 | 0x8000 | 1),
            "protection-violation | read | supervisor | data-access | reserved-bit \
             | protection-key | shadow-stack | sgx"
        );
        // Unknown high bits are ignored rather than panicking.
        assert_eq!(
            describe_page_fault_error(0xffff_0000_0000_0000),
            "not-present | read | supervisor | data-access"
        );
        let flags = PageFaultError::from_bits_truncate(0x3);
        assert!(flags.contains(PageFaultError::PRESENT | PageFaultError::WRITE));
    }

    #[test]
    fn selector_codes() {
        assert_eq!(describe_selector_error(0), "no selector");
        assert_eq!(describe_selector_error(0x18), "GDT | index 3");
        assert_eq!(describe_selector_error(0x19), "external | GDT | index 3");
        assert_eq!(describe_selector_error((13 << 3) | 2), "IDT | index 13");
        assert_eq!(
            describe_selector_error((255 << 3) | 3),
            "external | IDT | index 255"
        );
        assert_eq!(describe_selector_error(0xc), "LDT | index 1");
        assert_eq!(describe_selector_error(0xfff8), "GDT | index 8191");
    }

    #[test]
    fn control_protection_codes() {
        assert_eq!(describe_control_protection_error(1), "near-ret");
        assert_eq!(describe_control_protection_error(3), "endbranch");
        assert_eq!(
            describe_control_protection_error(0x8002),
            "far-ret/iret | enclave"
        );
        assert_eq!(describe_control_protection_error(9), "unknown");
    }

    #[test]
    fn rflags() {
        assert_eq!(describe_rflags(0x246), "IF ZF PF");
        assert_eq!(describe_rflags(0x10046), "RF ZF PF");
        assert_eq!(describe_rflags(0x2), "");
        assert_eq!(describe_rflags(0), "");
        assert_eq!(describe_rflags(0x3202), "IOPL=3 IF");
        assert_eq!(
            describe_rflags(0x3f_7fd5 | 0x2),
            "ID VIP VIF AC VM RF NT IOPL=3 OF DF IF TF SF ZF AF PF CF"
        );
    }

    #[test]
    fn page_fault_report_exact() {
        let r = report(14, 0x2, Some(0xdead000));
        assert_eq!(
            r.to_string(),
            "EXCEPTION: page fault (#PF, vector 14) in kernel\n\
             \x20 error code: 0x2 (not-present | write | supervisor | data-access)\n\
             \x20 CR2 (fault address): 0x000000000dead000\n\
             \x20 RIP: 0xffffffff80001234  RSP: 0x0000000000123450  RFLAGS: 0x10046  CS: 0x8\n"
        );
    }

    #[test]
    fn general_protection_report() {
        let mut r = report(13, 0, None);
        r.context = "extension e1000 (domain 2)";
        assert_eq!(
            r.to_string(),
            "EXCEPTION: general protection (#GP, vector 13) in extension e1000 (domain 2)\n\
             \x20 error code: 0x0 (no selector)\n\
             \x20 RIP: 0xffffffff80001234  RSP: 0x0000000000123450  RFLAGS: 0x10046  CS: 0x8\n"
        );
        let r = report(13, 0x1a, None);
        assert!(
            r.to_string()
                .contains("  error code: 0x1a (IDT | index 3)\n")
        );
    }

    #[test]
    fn reports_without_error_code() {
        let r = report(0, 0xdead, None);
        let s = r.to_string();
        assert_eq!(
            s,
            "EXCEPTION: divide error (#DE, vector 0) in kernel\n\
             \x20 RIP: 0xffffffff80001234  RSP: 0x0000000000123450  RFLAGS: 0x10046  CS: 0x8\n"
        );
        let s = report(6, 0, None).to_string();
        assert!(s.starts_with("EXCEPTION: invalid opcode (#UD, vector 6) in kernel\n"));
        assert_eq!(s.lines().count(), 2);
        let s = report(40, 0, None).to_string();
        assert!(s.starts_with("EXCEPTION: interrupt (vector 40) in kernel\n"));
        assert!(!s.contains("error code"));
    }

    #[test]
    fn double_fault_and_plain_codes() {
        let s = report(8, 0, None).to_string();
        assert!(s.starts_with("EXCEPTION: double fault (#DF, vector 8) in kernel\n"));
        assert!(s.contains("\n  error code: 0x0 (always zero)\n"));
        let s = report(8, 4, None).to_string();
        assert!(s.contains("\n  error code: 0x4 (should be zero)\n"));
        let s = report(17, 0, None).to_string();
        assert!(s.contains("\n  error code: 0x0\n"));
        let s = report(12, 0x10, None).to_string();
        assert!(s.contains("\n  error code: 0x10 (GDT | index 2)\n"));
        let s = report(21, 1, None).to_string();
        assert!(s.contains("\n  error code: 0x1 (near-ret)\n"));
    }

    #[test]
    fn every_vector_formats_consistently() {
        for v in 0..=255u8 {
            for (code, cr2) in [(0, None), (u64::MAX, Some(u64::MAX)), (0x7, Some(0))] {
                let s = report(v, code, cr2).to_string();
                assert!(s.ends_with('\n'));
                let lines: std::vec::Vec<&str> = s.lines().collect();
                let expected = 2 + has_error_code(v) as usize + cr2.is_some() as usize;
                assert_eq!(lines.len(), expected, "vector {v}: {s}");
                assert!(lines[0].starts_with("EXCEPTION: "));
                assert!(lines[0].contains(&std::format!("vector {v})")));
                assert!(lines.last().unwrap().starts_with("  RIP: 0x"));
            }
        }
    }
}
