//! Fault records and a bounded log of the most recent ones.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use core::fmt;

/// How an extension failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Page fault (#PF, vector 14) while the domain ran.
    PageFault,
    /// General protection fault (#GP, vector 13).
    GeneralProtection,
    /// Invalid opcode (#UD, vector 6).
    InvalidOpcode,
    /// Divide error (#DE, vector 0).
    DivideError,
    /// The extension overran its stack (guard-page hit).
    StackOverflow,
    /// A Rust panic inside the extension.
    Panic,
    /// Watchdog: ran too long with interrupts enabled.
    HangInterruptsEnabled,
    /// Watchdog: ran too long with interrupts disabled (NMI watchdog).
    HangInterruptsDisabled,
    /// A wrapper refused an argument that crossed the boundary.
    WrapperCheckFailed,
    /// Any other CPU exception, by vector number.
    OtherException {
        /// The exception vector.
        vector: u8,
    },
}

impl FaultKind {
    /// Every kind with a fixed name (all but [`FaultKind::OtherException`]).
    pub const NAMED: [FaultKind; 9] = [
        FaultKind::PageFault,
        FaultKind::GeneralProtection,
        FaultKind::InvalidOpcode,
        FaultKind::DivideError,
        FaultKind::StackOverflow,
        FaultKind::Panic,
        FaultKind::HangInterruptsEnabled,
        FaultKind::HangInterruptsDisabled,
        FaultKind::WrapperCheckFailed,
    ];

    /// Kebab-case name (`page-fault`, `hang-irq-on`, ...); `None` for
    /// [`FaultKind::OtherException`], shown as `exception-N`.
    pub fn fixed_name(self) -> Option<&'static str> {
        Some(match self {
            FaultKind::PageFault => "page-fault",
            FaultKind::GeneralProtection => "general-protection",
            FaultKind::InvalidOpcode => "invalid-opcode",
            FaultKind::DivideError => "divide-error",
            FaultKind::StackOverflow => "stack-overflow",
            FaultKind::Panic => "panic",
            FaultKind::HangInterruptsEnabled => "hang-irq-on",
            FaultKind::HangInterruptsDisabled => "hang-irq-off",
            FaultKind::WrapperCheckFailed => "wrapper-check-failed",
            FaultKind::OtherException { .. } => return None,
        })
    }

    /// The kind for a CPU exception vector.
    pub fn from_exception_vector(vector: u8) -> FaultKind {
        match vector {
            0 => FaultKind::DivideError,
            6 => FaultKind::InvalidOpcode,
            13 => FaultKind::GeneralProtection,
            14 => FaultKind::PageFault,
            other => FaultKind::OtherException { vector: other },
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fixed_name() {
            Some(name) => f.write_str(name),
            None => match self {
                FaultKind::OtherException { vector } => write!(f, "exception-{vector}"),
                _ => f.write_str("unknown"),
            },
        }
    }
}

/// A fault-kind name that [`FaultKind`]'s `FromStr` does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFaultKind {
    /// The offending text.
    pub text: String,
}

impl fmt::Display for UnknownFaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown fault kind \"{}\"; expected one of ", self.text)?;
        for (index, kind) in FaultKind::NAMED.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{kind}")?;
        }
        f.write_str(" or exception-N")
    }
}

impl core::error::Error for UnknownFaultKind {}

impl core::str::FromStr for FaultKind {
    type Err = UnknownFaultKind;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(kind) = FaultKind::NAMED
            .iter()
            .copied()
            .find(|kind| kind.fixed_name() == Some(text))
        {
            return Ok(kind);
        }
        if let Some(number) = text.strip_prefix("exception-")
            && let Ok(vector) = number.parse::<u8>()
        {
            return Ok(FaultKind::OtherException { vector });
        }
        Err(UnknownFaultKind {
            text: text.to_string(),
        })
    }
}

/// One failure of one extension instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultRecord {
    /// How it failed.
    pub kind: FaultKind,
    /// The extension's id (the isolation manager's numbering).
    pub extension: u16,
    /// The failed instance's generation (restart count of that extension).
    pub generation: u32,
    /// Instruction pointer (RIP) at the fault.
    pub instruction_pointer: u64,
    /// Faulting address (CR2) for page faults; `None` otherwise.
    pub fault_address: Option<u64>,
    /// When the fault was detected, in milliseconds since boot.
    pub detected_at_ms: u64,
    /// Microseconds from detection until the extension ran again; `None`
    /// while recovery is under way or when it was not restarted.
    pub time_to_recover_us: Option<u64>,
}

impl fmt::Display for FaultRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "extension {} generation {}: {} at rip {:#x}",
            self.extension, self.generation, self.kind, self.instruction_pointer
        )?;
        if let Some(address) = self.fault_address {
            write!(f, " (address {address:#x})")?;
        }
        write!(f, " at {} ms", self.detected_at_ms)?;
        match self.time_to_recover_us {
            Some(us) => write!(f, ", recovered in {us} us"),
            None => f.write_str(", not recovered"),
        }
    }
}

/// Ring buffer of the most recent fault records, plus a total counter.
#[derive(Debug, Clone)]
pub struct FaultLog {
    records: VecDeque<FaultRecord>,
    capacity: usize,
    total: u64,
}

impl FaultLog {
    /// An empty log keeping at most `capacity` records (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        FaultLog {
            records: VecDeque::with_capacity(capacity),
            capacity,
            total: 0,
        }
    }

    /// Append a record, dropping the oldest when full.
    pub fn record(&mut self, record: FaultRecord) {
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(record);
        self.total = self.total.saturating_add(1);
    }

    /// Kept records, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &FaultRecord> + ExactSizeIterator {
        self.records.iter()
    }

    /// The newest record, to fill in `time_to_recover_us` once recovery ends.
    pub fn latest_mut(&mut self) -> Option<&mut FaultRecord> {
        self.records.back_mut()
    }

    /// The newest record.
    pub fn latest(&self) -> Option<&FaultRecord> {
        self.records.back()
    }

    /// Records currently kept (≤ capacity).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is kept.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Most records kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Records ever added, including those dropped.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Records dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.total.saturating_sub(self.records.len() as u64)
    }
}
