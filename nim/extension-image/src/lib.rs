//! Validate and describe an extension's ELF image before anything is mapped.
//!
//! Extensions are static-PIE ELF64 images built for `x86_64-unknown-none`
//! (rustc's default there: ET_DYN, separate R, RX and RW PT_LOAD segments, a
//! PT_DYNAMIC whose `.rela.dyn` holds only `R_X86_64_RELATIVE`). [`validate`]
//! is a hand-written parser: every read is bounds-checked and all arithmetic
//! is checked (the crate denies clippy's `indexing_slicing`,
//! `arithmetic_side_effects`, `unwrap_used` and `panic` lints), so hostile
//! bytes produce an [`ImageError`], never a panic. The kernel's loader then
//! maps [`ValidatedImage::segments`] at a base of its choice, fills them with
//! [`copy_segments`], applies [`apply_relocations`] and protects the pages.
//!
//! Invariants of a [`ValidatedImage`] (all image offsets are relative to a
//! base of 0):
//! - ELF64, little endian, version 1, x86_64, **ET_DYN only** (ET_EXEC is
//!   linked at a fixed address and refused), no PT_INTERP, PT_TLS or
//!   executable PT_GNU_STACK.
//! - 1 ..= `max_segments` PT_LOAD segments, sorted by address, none empty,
//!   no two sharing a 4 KiB page; each is R, RX or RW (W+X refused), aligned
//!   to a power of two from 4 KiB to 2 MiB with `p_offset ≡ p_vaddr (mod
//!   p_align)`, with `file_size ≤ memory_size` and its file bytes inside the
//!   file. At least one is RX.
//! - `memory_span` (page-rounded end of the last segment) ≤ `max_memory_bytes`.
//! - The entry point lies in the file-backed part of an RX segment.
//! - Relocations: only `R_X86_64_RELATIVE` without symbol, from
//!   DT_RELA/DT_RELASZ/DT_RELAENT; no DT_NEEDED, DT_REL, DT_JMPREL, DT_RELR,
//!   DT_TEXTREL or init/fini arrays. Each relocation writes 8 bytes wholly
//!   inside one **read/write** segment (text relocations are refused; the
//!   PT_GNU_RELRO range, which must lie in one RW segment, is made read-only
//!   after relocation), and its value `base + addend` lies inside the image
//!   (`0 ≤ addend ≤ memory_span`).
//! - If section headers are present they are well-formed, and so is the
//!   symbol table found there (used for optional name lookups).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo
)]

extern crate alloc;

pub mod bundle;
mod error;
mod load;
mod read;

pub use error::{ImageError, LoadError};
pub use load::{apply_relocations, copy_segments};

use alloc::vec::Vec;
use read::{read_u16, read_u32, read_u64, sub_slice};

/// Size of a page; segments may not share one.
pub const PAGE_SIZE: u64 = 4096;
/// Largest segment alignment accepted (one 2 MiB large page).
pub const MAX_SEGMENT_ALIGNMENT: u64 = 0x20_0000;

const ELF_HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: u64 = 56;
const SECTION_HEADER_SIZE: u64 = 64;
const DYNAMIC_ENTRY_SIZE: u64 = 16;
/// Size of one `Elf64_Rela` entry.
pub const RELA_ENTRY_SIZE: u64 = 24;
const SYMBOL_ENTRY_SIZE: u64 = 24;

const ET_DYN: u16 = 3;
const EM_X86_64: u16 = 62;

const PT_NULL: u32 = 0;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const PT_PHDR: u32 = 6;
const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
const PT_GNU_STACK: u32 = 0x6474_e551;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PT_OS_SPECIFIC_FIRST: u32 = 0x6000_0000;

const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

const R_X86_64_RELATIVE: u32 = 8;

const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_DYNSYM: u32 = 11;

/// Upper bounds applied by [`validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest file accepted.
    pub max_image_bytes: usize,
    /// Most PT_LOAD segments.
    pub max_segments: usize,
    /// Most program headers of any type.
    pub max_program_headers: usize,
    /// Largest memory span (page-rounded end of the highest segment).
    pub max_memory_bytes: u64,
    /// Most relocations.
    pub max_relocations: usize,
}

impl Default for ImageLimits {
    /// 16 MiB file, 16 load segments, 64 program headers, 64 MiB of memory,
    /// 262,144 relocations.
    fn default() -> Self {
        ImageLimits {
            max_image_bytes: 16 << 20,
            max_segments: 16,
            max_program_headers: 64,
            max_memory_bytes: 64 << 20,
            max_relocations: 1 << 18,
        }
    }
}

/// Page rights of a loaded segment. x86 paging cannot express write-only or
/// execute-only, so W maps to [`ReadWrite`](Self::ReadWrite) and X to
/// [`ReadExecute`](Self::ReadExecute); W+X is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentRights {
    /// Read only (constants, ELF metadata).
    ReadOnly,
    /// Read and execute (code).
    ReadExecute,
    /// Read and write (data, bss, relocated pointers).
    ReadWrite,
}

/// A half-open range of image offsets `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryRange {
    /// First offset.
    pub start: u64,
    /// One past the last offset.
    pub end: u64,
}

/// One PT_LOAD segment, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoadSegment {
    /// Program header index (as used in error messages).
    pub program_header_index: usize,
    /// Offset of the segment's first byte from the image base.
    pub virtual_offset: u64,
    /// Bytes in memory; those past `file_size` are zero (bss).
    pub memory_size: u64,
    /// Offset of the segment's bytes in the file.
    pub file_offset: u64,
    /// Bytes copied from the file.
    pub file_size: u64,
    /// Page rights once loaded.
    pub rights: SegmentRights,
    /// `p_align`: a power of two, at least [`PAGE_SIZE`].
    pub alignment: u64,
}

impl LoadSegment {
    /// The pages the segment occupies: `virtual_offset` rounded down and its
    /// end rounded up to [`PAGE_SIZE`]. Validation guarantees no overflow.
    pub fn pages(&self) -> MemoryRange {
        let end = self
            .virtual_offset
            .saturating_add(self.memory_size)
            .saturating_add(PAGE_SIZE - 1);
        MemoryRange {
            start: self.virtual_offset & !(PAGE_SIZE - 1),
            end: end & !(PAGE_SIZE - 1),
        }
    }

    /// Image offsets occupied in memory, `[virtual_offset, virtual_offset + memory_size)`.
    pub fn memory_range(&self) -> MemoryRange {
        MemoryRange {
            start: self.virtual_offset,
            end: self.virtual_offset.saturating_add(self.memory_size),
        }
    }

    fn contains(&self, offset: u64, length: u64) -> bool {
        offset >= self.virtual_offset
            && offset
                .checked_add(length)
                .is_some_and(|end| end <= self.memory_range().end)
    }

    fn contains_file_backed(&self, offset: u64, length: u64) -> bool {
        offset >= self.virtual_offset
            && offset
                .checked_add(length)
                .is_some_and(|end| end <= self.virtual_offset.saturating_add(self.file_size))
    }
}

/// One `R_X86_64_RELATIVE` relocation: at load, the 8 bytes at
/// `base + offset` become `base + addend` (little endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Relocation {
    /// Image offset of the 8 bytes written.
    pub offset: u64,
    /// Image offset the written pointer refers to.
    pub addend: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SymbolTable<'a> {
    entries: &'a [u8],
    names: &'a [u8],
}

/// An image that passed [`validate`]; see the crate documentation for what
/// that guarantees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedImage<'a> {
    bytes: &'a [u8],
    segments: Vec<LoadSegment>,
    relocation_table: &'a [u8],
    entry_offset: u64,
    memory_span: u64,
    relro: Option<MemoryRange>,
    symbols: Option<SymbolTable<'a>>,
}

impl<'a> ValidatedImage<'a> {
    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The PT_LOAD segments, sorted by address.
    pub fn segments(&self) -> &[LoadSegment] {
        &self.segments
    }

    /// The file bytes of `segment` (`file_size` bytes; empty for a segment
    /// that did not come from this image).
    pub fn segment_file_bytes(&self, segment: &LoadSegment) -> &'a [u8] {
        sub_slice(self.bytes, segment.file_offset, segment.file_size).unwrap_or(&[])
    }

    /// Image offset of the entry point (inside an RX segment).
    pub fn entry_offset(&self) -> u64 {
        self.entry_offset
    }

    /// Bytes of address space the image needs from its base (page-rounded).
    pub fn memory_span(&self) -> u64 {
        self.memory_span
    }

    /// The alignment the load base must have (the largest segment alignment).
    pub fn required_base_alignment(&self) -> u64 {
        self.segments
            .iter()
            .map(|segment| segment.alignment)
            .max()
            .unwrap_or(PAGE_SIZE)
    }

    /// Number of relocations.
    pub fn relocation_count(&self) -> usize {
        self.relocation_table
            .len()
            .checked_div(RELA_ENTRY_SIZE as usize)
            .unwrap_or(0)
    }

    /// The relocations, in table order (all validated).
    pub fn relocations(&self) -> impl ExactSizeIterator<Item = Relocation> + '_ {
        self.relocation_table
            .chunks_exact(RELA_ENTRY_SIZE as usize)
            .map(|entry| Relocation {
                offset: read_u64(entry, 0).unwrap_or(0),
                addend: read_u64(entry, 16).unwrap_or(0) as i64,
            })
    }

    /// The PT_GNU_RELRO range, if any: written by relocation, then read-only.
    pub fn relro(&self) -> Option<MemoryRange> {
        self.relro
    }

    /// The whole pages to make read-only after relocation: the RELRO range
    /// with both ends rounded down to a page (the convention of glibc and
    /// the linkers, which pad RELRO's end to a page boundary). May be empty.
    pub fn read_only_after_relocation(&self) -> Option<MemoryRange> {
        self.relro.map(|range| MemoryRange {
            start: range.start & !(PAGE_SIZE - 1),
            end: range.end & !(PAGE_SIZE - 1),
        })
    }

    /// Whether a symbol table is present (the image was not stripped).
    pub fn has_symbols(&self) -> bool {
        self.symbols.is_some()
    }

    /// Image offset of the defined symbol `name`, if the image has a symbol
    /// table, the symbol is defined, and its value lies inside the image.
    pub fn symbol_offset(&self, name: &str) -> Option<u64> {
        let table = self.symbols?;
        table
            .entries
            .chunks_exact(SYMBOL_ENTRY_SIZE as usize)
            .find_map(|entry| {
                let name_offset = read_u32(entry, 0)?;
                let section = read_u16(entry, 6)?;
                let value = read_u64(entry, 8)?;
                if section == 0 || value >= self.memory_span {
                    return None;
                }
                let names = table.names.get(usize::try_from(name_offset).ok()?..)?;
                let length = names.iter().position(|&byte| byte == 0)?;
                (names.get(..length)? == name.as_bytes()).then_some(value)
            })
    }

    /// Like [`symbol_offset`](Self::symbol_offset), but only if the symbol
    /// lies in the file-backed part of an RX segment, so it can be called.
    pub fn executable_symbol_offset(&self, name: &str) -> Option<u64> {
        let offset = self.symbol_offset(name)?;
        self.segments
            .iter()
            .any(|segment| {
                segment.rights == SegmentRights::ReadExecute
                    && segment.contains_file_backed(offset, 1)
            })
            .then_some(offset)
    }

    fn segment_containing(&self, offset: u64) -> Option<&LoadSegment> {
        segment_containing(&self.segments, offset)
    }
}

fn segment_containing(segments: &[LoadSegment], offset: u64) -> Option<&LoadSegment> {
    let after = segments.partition_point(|segment| segment.virtual_offset <= offset);
    let candidate = segments.get(after.checked_sub(1)?)?;
    candidate.contains(offset, 1).then_some(candidate)
}

#[derive(Debug, Clone, Copy)]
struct ProgramHeader {
    segment_type: u32,
    flags: u32,
    offset: u64,
    virtual_address: u64,
    file_size: u64,
    memory_size: u64,
    alignment: u64,
}

fn read_program_header(bytes: &[u8], at: u64) -> Option<ProgramHeader> {
    Some(ProgramHeader {
        segment_type: read_u32(bytes, at)?,
        flags: read_u32(bytes, at.checked_add(4)?)?,
        offset: read_u64(bytes, at.checked_add(8)?)?,
        virtual_address: read_u64(bytes, at.checked_add(16)?)?,
        file_size: read_u64(bytes, at.checked_add(32)?)?,
        memory_size: read_u64(bytes, at.checked_add(40)?)?,
        alignment: read_u64(bytes, at.checked_add(48)?)?,
    })
}

struct Header {
    entry: u64,
    program_header_offset: u64,
    section_header_offset: u64,
    program_header_count: u16,
    section_header_entry_size: u16,
    section_header_count: u16,
}

fn parse_header(bytes: &[u8]) -> Result<Header, ImageError> {
    let truncated = ImageError::TruncatedHeader { size: bytes.len() };
    let ident = bytes.get(..16).ok_or(truncated)?;
    if ident.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ImageError::NotElf);
    }
    if bytes.len() < ELF_HEADER_SIZE {
        return Err(truncated);
    }
    let byte = |index: usize| ident.get(index).copied().unwrap_or(0);
    if byte(4) != 2 {
        return Err(ImageError::NotElf64 { class: byte(4) });
    }
    if byte(5) != 1 {
        return Err(ImageError::NotLittleEndian { encoding: byte(5) });
    }
    if byte(6) != 1 {
        return Err(ImageError::UnsupportedElfVersion {
            version: u32::from(byte(6)),
        });
    }
    if byte(7) != 0 && byte(7) != 3 {
        return Err(ImageError::UnsupportedOsAbi { os_abi: byte(7) });
    }
    let field16 = |at: u64| read_u16(bytes, at).ok_or(truncated);
    let field32 = |at: u64| read_u32(bytes, at).ok_or(truncated);
    let field64 = |at: u64| read_u64(bytes, at).ok_or(truncated);
    let elf_type = field16(16)?;
    let machine = field16(18)?;
    let version = field32(20)?;
    if machine != EM_X86_64 {
        return Err(ImageError::NotX86_64 { machine });
    }
    if version != 1 {
        return Err(ImageError::UnsupportedElfVersion { version });
    }
    if elf_type != ET_DYN {
        return Err(ImageError::NotPositionIndependent { elf_type });
    }
    let header_size = field16(52)?;
    if usize::from(header_size) != ELF_HEADER_SIZE {
        return Err(ImageError::BadHeaderSize { size: header_size });
    }
    let program_header_entry_size = field16(54)?;
    if u64::from(program_header_entry_size) != PROGRAM_HEADER_SIZE {
        return Err(ImageError::BadProgramHeaderEntrySize {
            size: program_header_entry_size,
        });
    }
    Ok(Header {
        entry: field64(24)?,
        program_header_offset: field64(32)?,
        section_header_offset: field64(40)?,
        program_header_count: field16(56)?,
        section_header_entry_size: field16(58)?,
        section_header_count: field16(60)?,
    })
}

fn rights_of(index: usize, flags: u32) -> Result<SegmentRights, ImageError> {
    let writable = flags & PF_W != 0;
    let executable = flags & PF_X != 0;
    match (flags & PF_R != 0, writable, executable) {
        (_, true, true) => Err(ImageError::WritableAndExecutable { index }),
        (_, true, false) => Ok(SegmentRights::ReadWrite),
        (_, false, true) => Ok(SegmentRights::ReadExecute),
        (true, false, false) => Ok(SegmentRights::ReadOnly),
        (false, false, false) => Err(ImageError::SegmentWithoutRights { index }),
    }
}

fn check_load_segment(
    index: usize,
    header: &ProgramHeader,
    file_length: usize,
    limits: &ImageLimits,
) -> Result<LoadSegment, ImageError> {
    let rights = rights_of(index, header.flags)?;
    let alignment = header.alignment;
    if !alignment.is_power_of_two() || !(PAGE_SIZE..=MAX_SEGMENT_ALIGNMENT).contains(&alignment) {
        return Err(ImageError::BadSegmentAlignment { index, alignment });
    }
    let mask = alignment.saturating_sub(1);
    if header.offset & mask != header.virtual_address & mask {
        return Err(ImageError::SegmentOffsetMisaligned {
            index,
            virtual_offset: header.virtual_address,
            file_offset: header.offset,
            alignment,
        });
    }
    if header.memory_size == 0 {
        return Err(ImageError::EmptySegment { index });
    }
    if header.file_size > header.memory_size {
        return Err(ImageError::FileSizeExceedsMemorySize {
            index,
            file_size: header.file_size,
            memory_size: header.memory_size,
        });
    }
    let file_end = header.offset.checked_add(header.file_size);
    if file_end.is_none_or(|end| end > file_length as u64) {
        return Err(ImageError::SegmentOutsideFile {
            index,
            file_offset: header.offset,
            file_size: header.file_size,
        });
    }
    let page_end = header
        .virtual_address
        .checked_add(header.memory_size)
        .and_then(|end| end.checked_add(PAGE_SIZE - 1));
    if page_end.is_none_or(|end| end & !(PAGE_SIZE - 1) > limits.max_memory_bytes) {
        return Err(ImageError::SegmentBeyondMemoryLimit {
            index,
            limit: limits.max_memory_bytes,
        });
    }
    Ok(LoadSegment {
        program_header_index: index,
        virtual_offset: header.virtual_address,
        memory_size: header.memory_size,
        file_offset: header.offset,
        file_size: header.file_size,
        rights,
        alignment,
    })
}

/// Check `bytes` against every rule in the crate documentation and describe
/// the image. Never panics, whatever the bytes.
pub fn validate<'a>(
    bytes: &'a [u8],
    limits: &ImageLimits,
) -> Result<ValidatedImage<'a>, ImageError> {
    if bytes.len() > limits.max_image_bytes {
        return Err(ImageError::ImageTooLarge {
            size: bytes.len(),
            limit: limits.max_image_bytes,
        });
    }
    let header = parse_header(bytes)?;
    // PN_XNUM (0xffff) would put the real count in section 0; not supported.
    if header.program_header_count == 0 || header.program_header_count == 0xffff {
        return Err(ImageError::NoProgramHeaders);
    }
    if usize::from(header.program_header_count) > limits.max_program_headers {
        return Err(ImageError::TooManyProgramHeaders {
            count: header.program_header_count,
            limit: limits.max_program_headers,
        });
    }
    let table_size = u64::from(header.program_header_count).saturating_mul(PROGRAM_HEADER_SIZE);
    if sub_slice(bytes, header.program_header_offset, table_size).is_none() {
        return Err(ImageError::ProgramHeadersOutsideFile {
            offset: header.program_header_offset,
            size: table_size,
        });
    }

    let mut segments: Vec<LoadSegment> = Vec::new();
    let mut dynamic: Option<(usize, ProgramHeader)> = None;
    let mut relro: Option<(usize, ProgramHeader)> = None;
    for index in 0..usize::from(header.program_header_count) {
        let at = (index as u64)
            .checked_mul(PROGRAM_HEADER_SIZE)
            .and_then(|relative| relative.checked_add(header.program_header_offset));
        let program_header = at.and_then(|at| read_program_header(bytes, at)).ok_or(
            ImageError::ProgramHeadersOutsideFile {
                offset: header.program_header_offset,
                size: table_size,
            },
        )?;
        match program_header.segment_type {
            PT_NULL | PT_NOTE | PT_PHDR | PT_GNU_EH_FRAME => {}
            PT_LOAD => {
                let segment = check_load_segment(index, &program_header, bytes.len(), limits)?;
                if let Some(previous) = segments.last() {
                    if segment.virtual_offset < previous.virtual_offset {
                        return Err(ImageError::SegmentsOutOfOrder {
                            index,
                            previous: previous.program_header_index,
                        });
                    }
                    if segment.pages().start < previous.pages().end {
                        return Err(ImageError::SegmentsOverlap {
                            index,
                            previous: previous.program_header_index,
                            page: segment.pages().start,
                        });
                    }
                }
                if segments.len() >= limits.max_segments {
                    return Err(ImageError::TooManySegments {
                        limit: limits.max_segments,
                    });
                }
                segments.push(segment);
            }
            PT_DYNAMIC => {
                if dynamic.is_some() {
                    return Err(ImageError::MultipleDynamicSegments { index });
                }
                dynamic = Some((index, program_header));
            }
            PT_INTERP => return Err(ImageError::InterpreterRequested { index }),
            PT_GNU_STACK => {
                if program_header.flags & PF_X != 0 {
                    return Err(ImageError::ExecutableStackRequested { index });
                }
            }
            PT_GNU_RELRO => {
                if relro.is_some() {
                    return Err(ImageError::MultipleRelroSegments { index });
                }
                relro = Some((index, program_header));
            }
            // OS- and processor-specific notes (PT_GNU_PROPERTY, ...) do not
            // change how the image is loaded; PT_SHLIB, PT_TLS and unknown
            // generic types do.
            other if other >= PT_OS_SPECIFIC_FIRST => {}
            other => {
                return Err(ImageError::UnsupportedSegmentType {
                    index,
                    segment_type: other,
                });
            }
        }
    }

    let last = segments.last().ok_or(ImageError::NoLoadSegments)?;
    let memory_span = last.pages().end;
    if !segments
        .iter()
        .any(|segment| segment.rights == SegmentRights::ReadExecute)
    {
        return Err(ImageError::NoExecutableSegment);
    }
    let entry_is_code = segments.iter().any(|segment| {
        segment.rights == SegmentRights::ReadExecute
            && segment.contains_file_backed(header.entry, 1)
    });
    if !entry_is_code {
        return Err(ImageError::EntryOutsideExecutableSegment {
            entry: header.entry,
        });
    }

    let relro = match relro {
        None => None,
        Some((index, program_header)) => {
            let inside_writable = segment_containing(&segments, program_header.virtual_address)
                .is_some_and(|segment| {
                    segment.rights == SegmentRights::ReadWrite
                        && segment
                            .contains(program_header.virtual_address, program_header.memory_size)
                });
            if !inside_writable {
                return Err(ImageError::RelroOutsideWritableSegment { index });
            }
            Some(MemoryRange {
                start: program_header.virtual_address,
                end: program_header
                    .virtual_address
                    .saturating_add(program_header.memory_size),
            })
        }
    };

    let mut image = ValidatedImage {
        bytes,
        segments,
        relocation_table: &[],
        entry_offset: header.entry,
        memory_span,
        relro,
        symbols: None,
    };
    if let Some((index, program_header)) = dynamic {
        image.relocation_table = relocation_table(&image, index, &program_header, limits)?;
        check_relocations(&image)?;
    }
    image.symbols = symbol_table(bytes, &header)?;
    Ok(image)
}

const DT_NULL: u64 = 0;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_FLAGS: u64 = 30;
const DF_TEXTREL: u64 = 4;

/// Tags refused whatever their value, with their names and reasons.
fn forbidden_dynamic_tag(tag: u64, value: u64) -> Option<(&'static str, &'static str)> {
    const NEEDS_LIBRARY: &str = "the image needs a shared library";
    const PLT: &str = "PLT relocations need symbol resolution";
    const REL: &str = "only RELA relocations are supported";
    const CODE: &str = "the loader runs no initialisers or finalisers";
    Some(match tag {
        1 => ("DT_NEEDED", NEEDS_LIBRARY),
        2 if value != 0 => ("DT_PLTRELSZ", PLT),
        23 => ("DT_JMPREL", PLT),
        12 => ("DT_INIT", CODE),
        13 => ("DT_FINI", CODE),
        25 => ("DT_INIT_ARRAY", CODE),
        26 => ("DT_FINI_ARRAY", CODE),
        32 => ("DT_PREINIT_ARRAY", CODE),
        17 => ("DT_REL", REL),
        18 if value != 0 => ("DT_RELSZ", REL),
        22 => ("DT_TEXTREL", "relocations may not write to code"),
        DT_FLAGS if value & DF_TEXTREL != 0 => {
            ("DT_FLAGS", "DF_TEXTREL: relocations may not write to code")
        }
        36 => (
            "DT_RELR",
            "packed relative relocations are not supported (link without -z pack-relative-relocs)",
        ),
        35 if value != 0 => (
            "DT_RELRSZ",
            "packed relative relocations are not supported (link without -z pack-relative-relocs)",
        ),
        _ => return None,
    })
}

fn relocation_table<'a>(
    image: &ValidatedImage<'a>,
    index: usize,
    program_header: &ProgramHeader,
    limits: &ImageLimits,
) -> Result<&'a [u8], ImageError> {
    let table = sub_slice(image.bytes, program_header.offset, program_header.file_size)
        .ok_or(ImageError::DynamicOutsideFile { index })?;
    let mut rela_address: Option<u64> = None;
    let mut rela_size: Option<u64> = None;
    let mut terminated = false;
    for (entry_index, entry) in table.chunks_exact(DYNAMIC_ENTRY_SIZE as usize).enumerate() {
        let (Some(tag), Some(value)) = (read_u64(entry, 0), read_u64(entry, 8)) else {
            break;
        };
        if tag == DT_NULL {
            terminated = true;
            break;
        }
        if let Some((tag_name, reason)) = forbidden_dynamic_tag(tag, value) {
            return Err(ImageError::ForbiddenDynamicEntry {
                index: entry_index,
                tag_name,
                reason,
            });
        }
        match tag {
            DT_RELA => rela_address = Some(value),
            DT_RELASZ => rela_size = Some(value),
            DT_RELAENT if value != RELA_ENTRY_SIZE => {
                return Err(ImageError::BadRelocationEntrySize { size: value });
            }
            _ => {}
        }
    }
    if !terminated {
        return Err(ImageError::DynamicNotTerminated);
    }
    let (address, size) = match (rela_address, rela_size) {
        (None, None) | (None, Some(0)) => return Ok(&[]),
        (Some(address), Some(size)) => (address, size),
        _ => return Err(ImageError::IncompleteRelocationTable),
    };
    if size % RELA_ENTRY_SIZE != 0 {
        return Err(ImageError::RelocationTableSizeNotMultiple { size });
    }
    let count = size / RELA_ENTRY_SIZE;
    if count > limits.max_relocations as u64 {
        return Err(ImageError::TooManyRelocations {
            count,
            limit: limits.max_relocations,
        });
    }
    if size == 0 {
        return Ok(&[]);
    }
    let outside = ImageError::RelocationTableOutsideImage { address, size };
    let segment = image.segment_containing(address).ok_or(outside)?;
    if !segment.contains_file_backed(address, size) {
        return Err(outside);
    }
    let file_offset = address
        .checked_sub(segment.virtual_offset)
        .and_then(|relative| relative.checked_add(segment.file_offset))
        .ok_or(outside)?;
    sub_slice(image.bytes, file_offset, size).ok_or(outside)
}

fn check_relocations(image: &ValidatedImage<'_>) -> Result<(), ImageError> {
    for (index, entry) in image
        .relocation_table
        .chunks_exact(RELA_ENTRY_SIZE as usize)
        .enumerate()
    {
        let (Some(offset), Some(info), Some(addend)) =
            (read_u64(entry, 0), read_u64(entry, 8), read_u64(entry, 16))
        else {
            return Err(ImageError::RelocationTableOutsideImage {
                address: 0,
                size: image.relocation_table.len() as u64,
            });
        };
        let relocation_type = info as u32;
        let symbol = (info >> 32) as u32;
        if relocation_type != R_X86_64_RELATIVE {
            return Err(ImageError::UnsupportedRelocationType {
                index,
                relocation_type,
            });
        }
        if symbol != 0 {
            return Err(ImageError::RelocationNeedsSymbol { index, symbol });
        }
        let segment = image
            .segment_containing(offset)
            .filter(|segment| segment.contains(offset, 8))
            .ok_or(ImageError::RelocationTargetOutsideImage { index, offset })?;
        if segment.rights != SegmentRights::ReadWrite {
            return Err(ImageError::RelocationTargetNotWritable {
                index,
                offset,
                segment: segment.program_header_index,
            });
        }
        let addend = addend as i64;
        if addend < 0 || addend as u64 > image.memory_span {
            return Err(ImageError::RelocationAddendOutsideImage { index, addend });
        }
    }
    Ok(())
}

fn symbol_table<'a>(
    bytes: &'a [u8],
    header: &Header,
) -> Result<Option<SymbolTable<'a>>, ImageError> {
    if header.section_header_offset == 0 || header.section_header_count == 0 {
        return Ok(None);
    }
    if u64::from(header.section_header_entry_size) != SECTION_HEADER_SIZE {
        return Err(ImageError::MalformedSectionHeaders);
    }
    let count = u64::from(header.section_header_count);
    let table = sub_slice(
        bytes,
        header.section_header_offset,
        count.saturating_mul(SECTION_HEADER_SIZE),
    )
    .ok_or(ImageError::MalformedSectionHeaders)?;
    let section = |index: u64| -> Option<(u32, u64, u64, u32, u64)> {
        let at = index.checked_mul(SECTION_HEADER_SIZE)?;
        Some((
            read_u32(table, at.checked_add(4)?)?,  // sh_type
            read_u64(table, at.checked_add(24)?)?, // sh_offset
            read_u64(table, at.checked_add(32)?)?, // sh_size
            read_u32(table, at.checked_add(40)?)?, // sh_link
            read_u64(table, at.checked_add(56)?)?, // sh_entsize
        ))
    };
    let find = |wanted: u32| {
        (0..count).find(|&index| section(index).is_some_and(|(kind, ..)| kind == wanted))
    };
    let Some(symbol_section) = find(SHT_SYMTAB).or_else(|| find(SHT_DYNSYM)) else {
        return Ok(None);
    };
    let malformed = ImageError::MalformedSymbolTable {
        section: usize::try_from(symbol_section).unwrap_or(usize::MAX),
    };
    let (_, offset, size, link, entry_size) = section(symbol_section).ok_or(malformed)?;
    if entry_size != SYMBOL_ENTRY_SIZE || size % SYMBOL_ENTRY_SIZE != 0 {
        return Err(malformed);
    }
    let entries = sub_slice(bytes, offset, size).ok_or(malformed)?;
    let (names_type, names_offset, names_size, ..) = section(u64::from(link)).ok_or(malformed)?;
    if names_type != SHT_STRTAB {
        return Err(malformed);
    }
    let names = sub_slice(bytes, names_offset, names_size).ok_or(malformed)?;
    Ok(Some(SymbolTable { entries, names }))
}
