//! The deliberate crash kinds every extension can be made to suffer.

use core::fmt;

macro_rules! crash_kinds {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $text:literal, $fault:literal;)*) => {
        /// A deliberate failure made to happen inside an extension's domain
        /// (the shell's `ext crash NAME KIND`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum CrashKind {
            $($(#[$doc])* $name = $code,)*
        }

        impl CrashKind {
            /// Every kind, in code order.
            pub const ALL: &'static [CrashKind] = &[$(CrashKind::$name,)*];

            /// The kind with this code.
            pub fn from_code(code: u32) -> Option<CrashKind> {
                match code {
                    $($code => Some(CrashKind::$name),)*
                    _ => None,
                }
            }

            /// The kind named `text` (as typed in the shell).
            pub fn from_name(text: &str) -> Option<CrashKind> {
                match text {
                    $($text => Some(CrashKind::$name),)*
                    _ => None,
                }
            }

            /// The shell name (`null-deref`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $(CrashKind::$name => $text,)*
                }
            }

            /// The fault kind an isolated domain must report for this crash
            /// (a `restart-policy` `FaultKind` name).
            pub fn expected_fault(self) -> &'static str {
                match self {
                    $(CrashKind::$name => $fault,)*
                }
            }
        }
    };
}

crash_kinds! {
    /// Read through a null pointer.
    NullDereference = 0, "null-deref", "page-fault";
    /// Write into kernel text.
    WriteKernelText = 1, "write-kernel-text", "page-fault";
    /// Write into kernel data (a kernel static).
    WriteKernelData = 2, "write-kernel-data", "page-fault";
    /// Write into the kernel heap.
    WriteKernelHeap = 3, "write-kernel-heap", "page-fault";
    /// Write into another extension's memory.
    WriteOtherDomain = 4, "write-other-domain", "page-fault";
    /// Write into the extension's own read-only data.
    WriteOwnRodata = 5, "write-own-rodata", "page-fault";
    /// Execute an undefined instruction (`ud2`).
    InvalidOpcode = 6, "invalid-opcode", "invalid-opcode";
    /// Divide by zero.
    DivideError = 7, "divide-error", "divide-error";
    /// Recurse until the stack's guard page is hit.
    StackOverflow = 8, "stack-overflow", "stack-overflow";
    /// Overwrite the return address and return through it.
    BadReturnAddress = 9, "bad-return-address", "page-fault";
    /// A Rust panic.
    Panic = 10, "panic", "panic";
    /// Spin forever with interrupts enabled.
    LoopInterruptsOn = 11, "loop-irq-on", "hang-irq-on";
    /// Spin forever with interrupts disabled.
    LoopInterruptsOff = 12, "loop-irq-off", "hang-irq-off";
}

impl fmt::Display for CrashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Address `bad-return-address` returns to: canonical, page aligned, and
/// never mapped (above the identity map, below the kernel's regions).
pub const BAD_RETURN_ADDRESS: u64 = 0x0000_7e57_dead_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for (index, kind) in CrashKind::ALL.iter().enumerate() {
            assert_eq!(*kind as u32, index as u32);
            assert_eq!(CrashKind::from_code(*kind as u32), Some(*kind));
            assert_eq!(CrashKind::from_name(kind.name()), Some(*kind));
        }
        assert_eq!(CrashKind::ALL.len(), 13);
        assert_eq!(CrashKind::from_code(13), None);
        assert_eq!(CrashKind::from_name("nul-deref"), None);
    }

    #[test]
    fn expected_faults_are_fault_kind_names() {
        let known = [
            "page-fault",
            "invalid-opcode",
            "divide-error",
            "stack-overflow",
            "panic",
            "hang-irq-on",
            "hang-irq-off",
        ];
        for kind in CrashKind::ALL {
            assert!(known.contains(&kind.expected_fault()), "{kind}");
        }
    }
}
