//! The fault-type catalogue: every name an injection spec may use, in its
//! three layers (code mutations, interface fail points, direct crash
//! kinds).
//!
//! Invariants: names are unique across the three layers, so one word
//! names one fault; `from_name(name())` round-trips for every type.

use core::fmt;
use extension_abi::CrashKind;

/// A code mutation (SWIFI) of an extension's text, the Rio/Nooks fault
/// types adapted to x86_64 (see `docs/fault-injection.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MutationType {
    /// Flip a random bit of an instruction.
    Text,
    /// Replace an instruction with a NOP of the same length.
    Nop,
    /// Flip a bit of the destination operand's register or address.
    Destination,
    /// Flip a bit of a source operand's register, immediate or address.
    Source,
    /// Corrupt a memory operand's address computation (base or index
    /// register, or displacement).
    Pointer,
    /// Delete a conditional branch (NOPs).
    Branch,
    /// Invert a conditional branch (jcc to its opposite; loope/loopne and
    /// repe/repne swapped).
    Invert,
    /// Delete the load of an argument register before a call.
    Interface,
    /// Delete the initialisation of a stack local.
    Init,
    /// Delete a cli, sti, pushf or popf.
    Irq,
    /// Change a jcc to its off-by-one partner (jl/jle, jb/jbe, jg/jge,
    /// ja/jae).
    OffByOne,
}

impl MutationType {
    /// Every code mutation, in the order `all` expands to.
    pub const ALL: [MutationType; 11] = [
        MutationType::Text,
        MutationType::Nop,
        MutationType::Destination,
        MutationType::Source,
        MutationType::Pointer,
        MutationType::Branch,
        MutationType::Invert,
        MutationType::Interface,
        MutationType::Init,
        MutationType::Irq,
        MutationType::OffByOne,
    ];

    /// The spec name.
    pub fn name(self) -> &'static str {
        match self {
            MutationType::Text => "text",
            MutationType::Nop => "nop",
            MutationType::Destination => "destination",
            MutationType::Source => "source",
            MutationType::Pointer => "pointer",
            MutationType::Branch => "branch",
            MutationType::Invert => "invert",
            MutationType::Interface => "interface",
            MutationType::Init => "init",
            MutationType::Irq => "irq",
            MutationType::OffByOne => "off-by-one",
        }
    }

    /// The mutation named `name`.
    pub fn from_name(name: &str) -> Option<MutationType> {
        MutationType::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

impl fmt::Display for MutationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An interface fail point: a kernel service or delivery path that
/// misbehaves towards one extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailPointType {
    /// `grant-memory` answers `no-resources`.
    Allocation,
    /// `allocate-dma` answers `no-resources`.
    Dma,
    /// `read-io-port` / `read-pci-config` return all ones.
    ReadOnes,
    /// `read-io-port` / `read-pci-config` return random values.
    ReadGarbage,
    /// A device interrupt is not delivered to the extension.
    LostInterrupt,
    /// The extension's interrupt entry is called without a device
    /// interrupt.
    SpuriousInterrupt,
    /// A timer expiry is swallowed.
    TimerNever,
    /// A service's reply is copied out with extra bytes past its length
    /// (inside the caller's message).
    CopyOverrun,
}

impl FailPointType {
    /// Every fail point.
    pub const ALL: [FailPointType; 8] = [
        FailPointType::Allocation,
        FailPointType::Dma,
        FailPointType::ReadOnes,
        FailPointType::ReadGarbage,
        FailPointType::LostInterrupt,
        FailPointType::SpuriousInterrupt,
        FailPointType::TimerNever,
        FailPointType::CopyOverrun,
    ];

    /// The spec name.
    pub fn name(self) -> &'static str {
        match self {
            FailPointType::Allocation => "alloc",
            FailPointType::Dma => "dma",
            FailPointType::ReadOnes => "read-ones",
            FailPointType::ReadGarbage => "read-garbage",
            FailPointType::LostInterrupt => "lost-irq",
            FailPointType::SpuriousInterrupt => "spurious-irq",
            FailPointType::TimerNever => "timer-never",
            FailPointType::CopyOverrun => "copy-overrun",
        }
    }

    /// The fail point named `name`.
    pub fn from_name(name: &str) -> Option<FailPointType> {
        FailPointType::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }

    /// Its bit in a per-extension mask of armed fail points.
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for FailPointType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One fault type of any layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultType {
    /// A code mutation.
    Mutation(MutationType),
    /// An interface fail point.
    FailPoint(FailPointType),
    /// A direct crash kind (the NIM's crash API).
    Crash(CrashKind),
}

impl FaultType {
    /// The type named `name` in any layer.
    pub fn from_name(name: &str) -> Option<FaultType> {
        MutationType::from_name(name)
            .map(FaultType::Mutation)
            .or_else(|| FailPointType::from_name(name).map(FaultType::FailPoint))
            .or_else(|| CrashKind::from_name(name).map(FaultType::Crash))
    }

    /// The spec name.
    pub fn name(self) -> &'static str {
        match self {
            FaultType::Mutation(kind) => kind.name(),
            FaultType::FailPoint(kind) => kind.name(),
            FaultType::Crash(kind) => kind.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn names_round_trip_and_are_unique_across_layers() {
        let mut names: Vec<&str> = Vec::new();
        for kind in MutationType::ALL {
            assert_eq!(MutationType::from_name(kind.name()), Some(kind));
            names.push(kind.name());
        }
        for kind in FailPointType::ALL {
            assert_eq!(FailPointType::from_name(kind.name()), Some(kind));
            names.push(kind.name());
        }
        for kind in CrashKind::ALL {
            names.push(kind.name());
        }
        for name in &names {
            let kind = FaultType::from_name(name).expect("known");
            assert_eq!(kind.name(), *name);
        }
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a name is used twice");
        assert_eq!(FaultType::from_name("all"), None);
    }

    #[test]
    fn fail_point_bits_are_distinct() {
        let mask = FailPointType::ALL
            .iter()
            .fold(0u32, |mask, kind| mask | kind.bit());
        assert_eq!(mask.count_ones() as usize, FailPointType::ALL.len());
    }
}
