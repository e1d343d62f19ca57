//! Code mutation: finds the sites of each fault type in an extension's
//! text with a real x86_64 decoder (`iced-x86`), and builds the patches a
//! seed selects.
//!
//! What each type does on x86_64 (all patches replace one instruction's
//! bytes with as many new bytes):
//!
//! | type | sites | patch |
//! |---|---|---|
//! | `text` | any instruction | one random bit of it flipped |
//! | `nop` | any instruction | a NOP of the same length |
//! | `destination` | a written register operand, or a written memory operand | a bit of the register number flipped (re-encoded, same length), or a bit of the address (displacement, base or index register) |
//! | `source` | a read register, immediate or memory operand | a bit of the register number, of the immediate, or of the address |
//! | `pointer` | any explicit memory operand (`lea` included) | a bit of its displacement, base register or index register |
//! | `branch` | jcc, loop, loopcc, jrcxz | a NOP of the same length |
//! | `invert` | jcc; loope/loopne; repe/repne cmps and scas | the opposite condition (jcc's condition code's low bit; E0↔E1; F3↔F2) |
//! | `interface` | the last write of rdi, rsi, rdx, rcx, r8 or r9 before a call, in the straight-line code before it | a NOP of the same length |
//! | `init` | a pure store to `[rsp+d]` or `[rbp-d]` | a NOP of the same length |
//! | `irq` | cli, sti, pushf, popf | a NOP |
//! | `off-by-one` | jl, jle, jb, jbe, jg, jge, ja, jae | the partner condition (jl↔jle, jb↔jbe, jg↔jge, ja↔jae) |
//!
//! Invariants:
//! - A plan is a function of the text, the load base, the types, the
//!   seed, the count and the excluded offsets: the same inputs give the
//!   same patches, byte for byte.
//! - No two patches of a plan touch the same instruction, and no patch
//!   touches an excluded one.
//! - Every patch's new bytes have the length of the instruction they
//!   replace and differ from its old bytes.

use crate::fault_types::MutationType;
use crate::knobs::DeterministicRandom;
use crate::text::ExtensionText;
use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use iced_x86::{
    Code, ConditionCode, ConstantOffsets, Decoder, DecoderOptions, Encoder, FastFormatter,
    FlowControl, Instruction, InstructionInfoFactory, Mnemonic, OpAccess, OpKind, Register,
};

/// How far back from a call `interface` looks for argument loads.
const INTERFACE_LOOKBACK: usize = 12;
/// The argument registers of the x86_64 calling conventions Rust uses
/// (System V: rdi, rsi, rdx, rcx, r8, r9).
pub const ARGUMENT_REGISTERS: [Register; 6] = [
    Register::RDI,
    Register::RSI,
    Register::RDX,
    Register::RCX,
    Register::R8,
    Register::R9,
];

const GPR64: [Register; 16] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RBX,
    Register::RSP,
    Register::RBP,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];
const GPR32: [Register; 16] = [
    Register::EAX,
    Register::ECX,
    Register::EDX,
    Register::EBX,
    Register::ESP,
    Register::EBP,
    Register::ESI,
    Register::EDI,
    Register::R8D,
    Register::R9D,
    Register::R10D,
    Register::R11D,
    Register::R12D,
    Register::R13D,
    Register::R14D,
    Register::R15D,
];
const GPR16: [Register; 16] = [
    Register::AX,
    Register::CX,
    Register::DX,
    Register::BX,
    Register::SP,
    Register::BP,
    Register::SI,
    Register::DI,
    Register::R8W,
    Register::R9W,
    Register::R10W,
    Register::R11W,
    Register::R12W,
    Register::R13W,
    Register::R14W,
    Register::R15W,
];
const GPR8: [Register; 16] = [
    Register::AL,
    Register::CL,
    Register::DL,
    Register::BL,
    Register::SPL,
    Register::BPL,
    Register::SIL,
    Register::DIL,
    Register::R8L,
    Register::R9L,
    Register::R10L,
    Register::R11L,
    Register::R12L,
    Register::R13L,
    Register::R14L,
    Register::R15L,
];

/// The x86 condition codes (the low nibble of a jcc opcode).
pub mod condition {
    /// Below (CF=1).
    pub const B: u8 = 0x2;
    /// Above or equal (CF=0).
    pub const AE: u8 = 0x3;
    /// Below or equal.
    pub const BE: u8 = 0x6;
    /// Above.
    pub const A: u8 = 0x7;
    /// Less.
    pub const L: u8 = 0xc;
    /// Greater or equal.
    pub const GE: u8 = 0xd;
    /// Less or equal.
    pub const LE: u8 = 0xe;
    /// Greater.
    pub const G: u8 = 0xf;
}

/// The opposite of condition code `code` (x86 pairs them by the low bit:
/// jo/jno, jb/jae, je/jne, jbe/ja, js/jns, jp/jnp, jl/jge, jle/jg).
pub fn inverted_condition(code: u8) -> u8 {
    (code & 0xf) ^ 1
}

/// The off-by-one partner of condition code `code` (jl↔jle, jb↔jbe,
/// jg↔jge, ja↔jae); `None` for conditions that are not a comparison
/// bound.
pub fn off_by_one_condition(code: u8) -> Option<u8> {
    use condition::*;
    Some(match code & 0xf {
        L => LE,
        LE => L,
        B => BE,
        BE => B,
        G => GE,
        GE => G,
        A => AE,
        AE => A,
        _ => return None,
    })
}

/// The recommended NOP encoding of exactly `length` bytes (1..=15): one
/// instruction, so a deleted instruction stays one instruction.
pub fn nop_bytes(length: usize) -> Vec<u8> {
    const FORMS: [&[u8]; 9] = [
        &[0x90],
        &[0x66, 0x90],
        &[0x0f, 0x1f, 0x00],
        &[0x0f, 0x1f, 0x40, 0x00],
        &[0x0f, 0x1f, 0x44, 0x00, 0x00],
        &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
        &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
        &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
        &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    ];
    match length {
        0 => Vec::new(),
        1..=9 => FORMS[length - 1].to_vec(),
        _ => {
            // More operand-size prefixes on the 8-byte form (valid up to
            // the 15-byte instruction limit).
            let mut bytes = vec![0x66; length.min(15) - 8];
            bytes.extend_from_slice(FORMS[7]);
            bytes
        }
    }
}

/// One planned patch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedPatch {
    /// Its fault type.
    pub mutation: MutationType,
    /// Image offset of the instruction.
    pub offset: u64,
    /// Its address once loaded (load base + offset).
    pub address: u64,
    /// The function it lies in and the offset inside it, when the image
    /// has symbols.
    pub site: Option<(String, u64)>,
    /// The instruction's bytes.
    pub old: Vec<u8>,
    /// What replaces them (same length).
    pub new: Vec<u8>,
    /// The instruction, disassembled.
    pub before: String,
    /// The new bytes, disassembled (`; ` between instructions, `(bad)` for
    /// bytes that are no instruction).
    pub after: String,
}

/// The shell line of patch `index` (the protocol of `docs/fault-injection.md`):
/// `inject patch I type=T address=0xADDR site=SYMBOL+0xOFF old=HEX new=HEX before="INSN" after="INSN"`.
pub struct PatchLine<'a> {
    /// The patch's index.
    pub index: usize,
    /// The patch.
    pub patch: &'a PlannedPatch,
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for byte in bytes {
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

impl fmt::Display for PatchLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let patch = self.patch;
        write!(
            f,
            "inject patch {} type={} address={:#x} site=",
            self.index, patch.mutation, patch.address
        )?;
        match &patch.site {
            Some((symbol, offset)) => write!(f, "{symbol}+{offset:#x}")?,
            None => f.write_str("?")?,
        }
        f.write_str(" old=")?;
        write_hex(f, &patch.old)?;
        f.write_str(" new=")?;
        write_hex(f, &patch.new)?;
        write!(f, " before=\"{}\" after=\"{}\"", patch.before, patch.after)
    }
}

/// Why nothing could be planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// None of the requested types has a site left in the text.
    NoSite(Vec<MutationType>),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NoSite(kinds) => {
                let names: Vec<&str> = kinds.iter().map(|kind| kind.name()).collect();
                write!(
                    f,
                    "no site for fault type {} in the extension's text",
                    names.join(",")
                )
            }
        }
    }
}

/// One decoded instruction of the text.
struct Decoded {
    /// Index of its range (function).
    range: usize,
    /// Image offset.
    offset: u64,
    instruction: Instruction,
    constants: ConstantOffsets,
}

/// The decoded text of one image at one load base, and the site finders.
pub struct Planner<'t, 'a> {
    text: &'t ExtensionText<'a>,
    load_base: u64,
    instructions: Vec<Decoded>,
    factory: InstructionInfoFactory,
}

fn writes(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Write | OpAccess::CondWrite | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

fn reads(access: OpAccess) -> bool {
    matches!(
        access,
        OpAccess::Read | OpAccess::CondRead | OpAccess::ReadWrite | OpAccess::ReadCondWrite
    )
}

fn is_filler(instruction: &Instruction) -> bool {
    instruction.is_invalid()
        || instruction.code() == Code::Int3
        || instruction.mnemonic() == Mnemonic::Nop
}

/// The register `register` with bit `bit` of its number flipped (same
/// size), for general-purpose registers.
fn flipped_register(register: Register, bit: u32) -> Option<Register> {
    for family in [&GPR64, &GPR32, &GPR16, &GPR8] {
        if let Some(number) = family.iter().position(|&candidate| candidate == register) {
            return Some(family[number ^ (1 << bit)]);
        }
    }
    None
}

fn flip_bit(bytes: &[u8], byte: usize, bit: u32) -> Vec<u8> {
    let mut changed = bytes.to_vec();
    changed[byte] ^= 1 << bit;
    changed
}

impl<'t, 'a> Planner<'t, 'a> {
    /// Decodes `text` as loaded at `load_base`.
    pub fn new(text: &'t ExtensionText<'a>, load_base: u64) -> Self {
        let mut instructions = Vec::new();
        for (range_index, range) in text.ranges().iter().enumerate() {
            let mut decoder = Decoder::with_ip(
                64,
                range.bytes,
                load_base.wrapping_add(range.offset),
                DecoderOptions::NONE,
            );
            let mut instruction = Instruction::default();
            while decoder.can_decode() {
                let position = decoder.position();
                decoder.decode_out(&mut instruction);
                let constants = decoder.get_constant_offsets(&instruction);
                instructions.push(Decoded {
                    range: range_index,
                    offset: range.offset + position as u64,
                    instruction,
                    constants,
                });
            }
        }
        Self {
            text,
            load_base,
            instructions,
            factory: InstructionInfoFactory::new(),
        }
    }

    /// Instructions decoded.
    pub fn instruction_count(&self) -> usize {
        self.instructions.len()
    }

    fn bytes_of(&self, index: usize) -> &'a [u8] {
        let decoded = &self.instructions[index];
        let range = &self.text.ranges()[decoded.range];
        let start = (decoded.offset - range.offset) as usize;
        &range.bytes[start..start + decoded.instruction.len()]
    }

    /// The bytes after instruction `index` in its range (for showing what
    /// a patch runs into).
    fn bytes_after(&self, index: usize) -> &'a [u8] {
        let decoded = &self.instructions[index];
        let range = &self.text.ranges()[decoded.range];
        let end = (decoded.offset - range.offset) as usize + decoded.instruction.len();
        &range.bytes[end..(end + 16).min(range.bytes.len())]
    }

    fn access(&mut self, index: usize, operand: u32) -> OpAccess {
        let instruction = self.instructions[index].instruction;
        self.factory.info(&instruction).op_access(operand)
    }

    /// The instructions eligible for `mutation` (before checking that a
    /// patch can be built), in text order.
    pub fn candidates(&mut self, mutation: MutationType) -> Vec<usize> {
        if mutation == MutationType::Interface {
            return self.interface_candidates();
        }
        let mut found = Vec::new();
        for index in 0..self.instructions.len() {
            let instruction = self.instructions[index].instruction;
            if is_filler(&instruction) {
                continue;
            }
            let eligible = match mutation {
                MutationType::Text | MutationType::Nop => true,
                MutationType::Destination => {
                    instruction.op_count() >= 1
                        && matches!(instruction.op0_kind(), OpKind::Register | OpKind::Memory)
                        && writes(self.access(index, 0))
                }
                MutationType::Source => (0..instruction.op_count())
                    .any(|operand| self.is_source_operand(index, operand)),
                MutationType::Pointer => (0..instruction.op_count())
                    .any(|operand| instruction.op_kind(operand) == OpKind::Memory),
                MutationType::Branch => {
                    instruction.flow_control() == FlowControl::ConditionalBranch
                }
                MutationType::Invert => {
                    instruction.is_jcc_short_or_near()
                        || matches!(instruction.mnemonic(), Mnemonic::Loope | Mnemonic::Loopne)
                        || (instruction.is_string_instruction()
                            && matches!(
                                instruction.mnemonic(),
                                Mnemonic::Cmpsb
                                    | Mnemonic::Cmpsw
                                    | Mnemonic::Cmpsd
                                    | Mnemonic::Cmpsq
                                    | Mnemonic::Scasb
                                    | Mnemonic::Scasw
                                    | Mnemonic::Scasd
                                    | Mnemonic::Scasq
                            )
                            && (instruction.has_repe_prefix() || instruction.has_repne_prefix()))
                }
                MutationType::OffByOne => {
                    instruction.is_jcc_short_or_near()
                        && off_by_one_condition(condition_nibble(instruction.condition_code()))
                            .is_some()
                }
                MutationType::Init => {
                    instruction.op_count() >= 1
                        && instruction.op0_kind() == OpKind::Memory
                        && self.access(index, 0) == OpAccess::Write
                        && (instruction.memory_base() == Register::RSP
                            || (instruction.memory_base() == Register::RBP
                                && (instruction.memory_displacement64() as i64) < 0))
                }
                MutationType::Irq => matches!(
                    instruction.code(),
                    Code::Cli | Code::Sti | Code::Pushfq | Code::Popfq | Code::Pushfw | Code::Popfw
                ),
                MutationType::Interface => false,
            };
            if eligible {
                found.push(index);
            }
        }
        found
    }

    /// Operand `operand` of instruction `index` is read (a register, an
    /// immediate, or memory / an address computation) and is not the
    /// instruction's written destination.
    fn is_source_operand(&mut self, index: usize, operand: u32) -> bool {
        let instruction = self.instructions[index].instruction;
        let access = self.access(index, operand);
        match instruction.op_kind(operand) {
            OpKind::Register => {
                (operand > 0 || access == OpAccess::Read)
                    && reads(access)
                    && flipped_register(instruction.op_register(operand), 0).is_some()
            }
            OpKind::Memory => {
                (operand > 0 || access == OpAccess::Read)
                    && (reads(access) || access == OpAccess::NoMemAccess)
            }
            OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64 => true,
            _ => false,
        }
    }

    /// For each call, the last write of each argument register in the
    /// straight-line code before it (stopping at any branch, call or
    /// return, at the start of the function, or after
    /// [`INTERFACE_LOOKBACK`] instructions).
    fn interface_candidates(&mut self) -> Vec<usize> {
        let mut found = BTreeSet::new();
        for call in 0..self.instructions.len() {
            let flow = self.instructions[call].instruction.flow_control();
            if !matches!(flow, FlowControl::Call | FlowControl::IndirectCall) {
                continue;
            }
            let range = self.instructions[call].range;
            let mut seen: Vec<Register> = Vec::new();
            for back in 1..=INTERFACE_LOOKBACK.min(call) {
                let index = call - back;
                let instruction = self.instructions[index].instruction;
                if self.instructions[index].range != range
                    || instruction.flow_control() != FlowControl::Next
                {
                    break;
                }
                if instruction.op_count() == 0 || instruction.op0_kind() != OpKind::Register {
                    continue;
                }
                let register = instruction.op0_register().full_register();
                if !ARGUMENT_REGISTERS.contains(&register) || seen.contains(&register) {
                    continue;
                }
                if writes(self.access(index, 0)) {
                    seen.push(register);
                    found.insert(index);
                }
            }
        }
        found.into_iter().collect()
    }

    fn encoded_with(&self, index: usize, changed: &Instruction) -> Option<Vec<u8>> {
        let old = self.bytes_of(index);
        let mut encoder = Encoder::new(64);
        let length = encoder.encode(changed, changed.ip()).ok()?;
        let bytes = encoder.take_buffer();
        (length == old.len() && bytes != old).then_some(bytes)
    }

    fn register_flips(&self, index: usize, operand: u32) -> Vec<Vec<u8>> {
        let instruction = self.instructions[index].instruction;
        let register = instruction.op_register(operand);
        let mut variants = Vec::new();
        for bit in 0..4 {
            let Some(flipped) = flipped_register(register, bit) else {
                continue;
            };
            let mut changed = instruction;
            changed.set_op_register(operand, flipped);
            if let Some(bytes) = self.encoded_with(index, &changed) {
                variants.push(bytes);
            }
        }
        variants
    }

    /// Corruptions of instruction `index`'s memory operand: one group per
    /// part of the address (displacement bits, base register, index
    /// register) that can be changed in place.
    fn address_corruptions(&self, index: usize) -> Vec<Vec<Vec<u8>>> {
        let decoded = &self.instructions[index];
        let instruction = decoded.instruction;
        let old = self.bytes_of(index);
        let mut groups = Vec::new();
        let displacement_size = decoded.constants.displacement_size();
        if displacement_size > 0 {
            let start = decoded.constants.displacement_offset();
            let mut group = Vec::new();
            for byte in start..start + displacement_size {
                for bit in 0..8 {
                    group.push(flip_bit(old, byte, bit));
                }
            }
            groups.push(group);
        }
        let base = instruction.memory_base();
        if GPR64.contains(&base) {
            let mut group = Vec::new();
            for bit in 0..4 {
                let Some(flipped) = flipped_register(base, bit) else {
                    continue;
                };
                let mut changed = instruction;
                changed.set_memory_base(flipped);
                group.extend(self.encoded_with(index, &changed));
            }
            if !group.is_empty() {
                groups.push(group);
            }
        }
        let index_register = instruction.memory_index();
        if GPR64.contains(&index_register) {
            let mut group = Vec::new();
            for bit in 0..4 {
                let Some(flipped) = flipped_register(index_register, bit) else {
                    continue;
                };
                if flipped == Register::RSP {
                    continue;
                }
                let mut changed = instruction;
                changed.set_memory_index(flipped);
                group.extend(self.encoded_with(index, &changed));
            }
            if !group.is_empty() {
                groups.push(group);
            }
        }
        groups
    }

    fn immediate_flips(&self, index: usize) -> Vec<Vec<u8>> {
        let constants = self.instructions[index].constants;
        let old = self.bytes_of(index);
        let mut variants = Vec::new();
        let start = constants.immediate_offset();
        for byte in start..start + constants.immediate_size() {
            for bit in 0..8 {
                variants.push(flip_bit(old, byte, bit));
            }
        }
        variants
    }

    /// The byte of a jcc or loopcc that holds its condition: the opcode
    /// byte right before the branch displacement.
    fn condition_byte(&self, index: usize) -> Option<usize> {
        let decoded = &self.instructions[index];
        let old = self.bytes_of(index);
        let position = decoded.constants.immediate_offset().checked_sub(1)?;
        let opcode = *old.get(position)?;
        let instruction = decoded.instruction;
        let valid = if instruction.is_jcc_short() {
            opcode & 0xf0 == 0x70
        } else if instruction.is_jcc_near() {
            opcode & 0xf0 == 0x80 && position >= 1 && old[position - 1] == 0x0f
        } else {
            matches!(opcode, 0xe0 | 0xe1)
        };
        valid.then_some(position)
    }

    fn with_condition(&self, index: usize, condition: u8) -> Option<Vec<u8>> {
        let position = self.condition_byte(index)?;
        let mut bytes = self.bytes_of(index).to_vec();
        bytes[position] = (bytes[position] & 0xf0) | (condition & 0xf);
        Some(bytes)
    }

    /// The patches `mutation` can make of instruction `index`, grouped
    /// (a seed first picks a group, then a patch in it); empty when none.
    pub fn variants(&mut self, mutation: MutationType, index: usize) -> Vec<Vec<Vec<u8>>> {
        let instruction = self.instructions[index].instruction;
        let old = self.bytes_of(index);
        let nop = || vec![vec![nop_bytes(old.len())]];
        let mut groups: Vec<Vec<Vec<u8>>> = match mutation {
            MutationType::Text => {
                let mut group = Vec::new();
                for byte in 0..old.len() {
                    for bit in 0..8 {
                        group.push(flip_bit(old, byte, bit));
                    }
                }
                vec![group]
            }
            MutationType::Nop
            | MutationType::Branch
            | MutationType::Interface
            | MutationType::Init
            | MutationType::Irq => nop(),
            MutationType::Destination => match instruction.op0_kind() {
                OpKind::Register => vec![self.register_flips(index, 0)],
                OpKind::Memory => self.address_corruptions(index),
                _ => Vec::new(),
            },
            MutationType::Source => {
                let mut groups = Vec::new();
                for operand in 0..instruction.op_count() {
                    if !self.is_source_operand(index, operand) {
                        continue;
                    }
                    match instruction.op_kind(operand) {
                        OpKind::Register => groups.push(self.register_flips(index, operand)),
                        OpKind::Memory => groups.extend(self.address_corruptions(index)),
                        _ => groups.push(self.immediate_flips(index)),
                    }
                }
                groups
            }
            MutationType::Pointer => self.address_corruptions(index),
            MutationType::Invert => {
                if instruction.is_jcc_short_or_near() {
                    let code = condition_nibble(instruction.condition_code());
                    vec![
                        self.with_condition(index, inverted_condition(code))
                            .into_iter()
                            .collect(),
                    ]
                } else if instruction.is_string_instruction() {
                    let mut group = Vec::new();
                    if let Some(position) = rep_prefix_position(old) {
                        let mut bytes = old.to_vec();
                        bytes[position] = if bytes[position] == 0xf3 { 0xf2 } else { 0xf3 };
                        group.push(bytes);
                    }
                    vec![group]
                } else {
                    // loope (E1) ↔ loopne (E0).
                    let mut group = Vec::new();
                    if let Some(position) = self.condition_byte(index) {
                        let mut bytes = old.to_vec();
                        bytes[position] ^= 1;
                        group.push(bytes);
                    }
                    vec![group]
                }
            }
            MutationType::OffByOne => {
                let code = condition_nibble(instruction.condition_code());
                vec![
                    off_by_one_condition(code)
                        .and_then(|partner| self.with_condition(index, partner))
                        .into_iter()
                        .collect(),
                ]
            }
        };
        for group in groups.iter_mut() {
            group.retain(|bytes| bytes.len() == old.len() && bytes.as_slice() != old);
            group.dedup();
        }
        groups.retain(|group| !group.is_empty());
        groups
    }

    /// Instructions `mutation` can actually patch (candidates with at least
    /// one patch).
    pub fn site_count(&mut self, mutation: MutationType) -> usize {
        let candidates = self.candidates(mutation);
        candidates
            .into_iter()
            .filter(|&index| !self.variants(mutation, index).is_empty())
            .count()
    }

    /// Builds the patch of instruction `index` with `new` bytes.
    pub fn patch(&self, mutation: MutationType, index: usize, new: Vec<u8>) -> PlannedPatch {
        let decoded = &self.instructions[index];
        let old = self.bytes_of(index).to_vec();
        let address = self.load_base.wrapping_add(decoded.offset);
        let mut after_bytes = new.clone();
        after_bytes.extend_from_slice(self.bytes_after(index));
        PlannedPatch {
            mutation,
            offset: decoded.offset,
            address,
            site: self
                .text
                .site_of(decoded.offset)
                .map(|(name, offset)| (name.to_string(), offset)),
            before: disassemble_one(&decoded.instruction),
            after: disassemble_covering(&after_bytes, address, new.len()),
            old,
            new,
        }
    }

    /// Plans up to `count` patches of the types `mutations` (each patch's
    /// type drawn from those that still have sites), never touching an
    /// instruction at an offset in `excluded`.
    pub fn plan(
        &mut self,
        mutations: &[MutationType],
        seed: u64,
        count: usize,
        excluded: &[u64],
    ) -> Result<Vec<PlannedPatch>, PlanError> {
        let mut random = DeterministicRandom::new(seed);
        let mut pools: Vec<(MutationType, Vec<usize>)> = Vec::new();
        for &mutation in mutations {
            let candidates = self.candidates(mutation);
            if !candidates.is_empty() {
                pools.push((mutation, candidates));
            }
        }
        let mut used: BTreeSet<u64> = excluded.iter().copied().collect();
        let mut patches = Vec::new();
        while patches.len() < count && !pools.is_empty() {
            let pool = random.index(pools.len());
            let mutation = pools[pool].0;
            let pick = random.index(pools[pool].1.len());
            let index = pools[pool].1.swap_remove(pick);
            if pools[pool].1.is_empty() {
                pools.remove(pool);
            }
            let offset = self.instructions[index].offset;
            if used.contains(&offset) {
                continue;
            }
            let groups = self.variants(mutation, index);
            if groups.is_empty() {
                continue;
            }
            let group = &groups[random.index(groups.len())];
            let new = group[random.index(group.len())].clone();
            used.insert(offset);
            patches.push(self.patch(mutation, index, new));
        }
        if patches.is_empty() {
            return Err(PlanError::NoSite(mutations.to_vec()));
        }
        Ok(patches)
    }
}

/// The condition code of a jcc as its opcode nibble.
fn condition_nibble(code: ConditionCode) -> u8 {
    match code {
        ConditionCode::o => 0x0,
        ConditionCode::no => 0x1,
        ConditionCode::b => 0x2,
        ConditionCode::ae => 0x3,
        ConditionCode::e => 0x4,
        ConditionCode::ne => 0x5,
        ConditionCode::be => 0x6,
        ConditionCode::a => 0x7,
        ConditionCode::s => 0x8,
        ConditionCode::ns => 0x9,
        ConditionCode::p => 0xa,
        ConditionCode::np => 0xb,
        ConditionCode::l => 0xc,
        ConditionCode::ge => 0xd,
        ConditionCode::le => 0xe,
        ConditionCode::g => 0xf,
        _ => 0x10,
    }
}

/// Position of the F3/F2 prefix among an instruction's legacy and REX
/// prefixes.
fn rep_prefix_position(bytes: &[u8]) -> Option<usize> {
    for (position, &byte) in bytes.iter().enumerate() {
        match byte {
            0xf2 | 0xf3 => return Some(position),
            0xf0 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65 | 0x66 | 0x67 | 0x40..=0x4f => {}
            _ => return None,
        }
    }
    None
}

fn formatter() -> FastFormatter {
    let mut formatter = FastFormatter::new();
    let options = formatter.options_mut();
    options.set_space_after_operand_separator(true);
    options.set_use_hex_prefix(true);
    options.set_uppercase_hex(false);
    formatter
}

fn disassemble_one(instruction: &Instruction) -> String {
    if instruction.is_invalid() {
        return String::from("(bad)");
    }
    let mut text = String::new();
    formatter().format(instruction, &mut text);
    text
}

/// Disassembles `bytes` at `address` until at least `length` bytes are
/// covered: the instructions a patch of `length` bytes turns into.
pub fn disassemble_covering(bytes: &[u8], address: u64, length: usize) -> String {
    let mut decoder = Decoder::with_ip(64, bytes, address, DecoderOptions::NONE);
    let mut formatter = formatter();
    let mut text = String::new();
    let mut instruction = Instruction::default();
    while decoder.position() < length && decoder.can_decode() {
        decoder.decode_out(&mut instruction);
        if !text.is_empty() {
            text.push_str("; ");
        }
        if instruction.is_invalid() {
            text.push_str("(bad)");
            break;
        }
        formatter.format(&instruction, &mut text);
    }
    text
}

/// The length of the instruction at the start of `bytes` (decoded at
/// `address`), or `None` if they are no valid instruction.
pub fn instruction_length(bytes: &[u8], address: u64) -> Option<usize> {
    let mut decoder = Decoder::with_ip(64, bytes, address, DecoderOptions::NONE);
    let instruction = decoder.decode();
    (!instruction.is_invalid()).then(|| instruction.len())
}

/// Disassembles one instruction's bytes at `address` (for tests and
/// reports).
pub fn disassemble(bytes: &[u8], address: u64) -> String {
    disassemble_covering(bytes, address, bytes.len())
}
