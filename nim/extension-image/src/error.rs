//! Why an image was refused, and why loading into a buffer failed.

use core::fmt;

/// Why [`validate`](crate::validate) refused an image. Every message names
/// the offending item (segment, relocation, dynamic entry) by its index in
/// its table, counting from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageError {
    /// The file exceeds [`ImageLimits::max_image_bytes`](crate::ImageLimits).
    ImageTooLarge {
        /// File size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Shorter than the 64-byte ELF64 header.
    TruncatedHeader {
        /// File size.
        size: usize,
    },
    /// Does not start with `\x7fELF`.
    NotElf,
    /// `EI_CLASS` is not ELFCLASS64.
    NotElf64 {
        /// The class byte.
        class: u8,
    },
    /// `EI_DATA` is not little endian.
    NotLittleEndian {
        /// The data-encoding byte.
        encoding: u8,
    },
    /// `EI_VERSION` or `e_version` is not 1.
    UnsupportedElfVersion {
        /// The version found.
        version: u32,
    },
    /// `EI_OSABI` is neither System V (0) nor GNU (3).
    UnsupportedOsAbi {
        /// The OS/ABI byte.
        os_abi: u8,
    },
    /// `e_machine` is not x86_64 (62).
    NotX86_64 {
        /// The machine found.
        machine: u16,
    },
    /// `e_type` is not ET_DYN.
    NotPositionIndependent {
        /// The type found (2 = ET_EXEC).
        elf_type: u16,
    },
    /// `e_ehsize` is not 64.
    BadHeaderSize {
        /// The size found.
        size: u16,
    },
    /// `e_phentsize` is not 56.
    BadProgramHeaderEntrySize {
        /// The size found.
        size: u16,
    },
    /// No program headers (or the PN_XNUM escape, which is not supported).
    NoProgramHeaders,
    /// More program headers than
    /// [`ImageLimits::max_program_headers`](crate::ImageLimits).
    TooManyProgramHeaders {
        /// Count found.
        count: u16,
        /// The limit.
        limit: usize,
    },
    /// The program header table does not lie inside the file.
    ProgramHeadersOutsideFile {
        /// `e_phoff`.
        offset: u64,
        /// Table size in bytes.
        size: u64,
    },
    /// A PT_INTERP segment asks for a dynamic linker.
    InterpreterRequested {
        /// Program header index.
        index: usize,
    },
    /// A segment type the loader cannot honour (PT_SHLIB, PT_TLS, unknown).
    UnsupportedSegmentType {
        /// Program header index.
        index: usize,
        /// `p_type`.
        segment_type: u32,
    },
    /// PT_GNU_STACK asks for an executable stack.
    ExecutableStackRequested {
        /// Program header index.
        index: usize,
    },
    /// A PT_LOAD segment with no access rights at all.
    SegmentWithoutRights {
        /// Program header index.
        index: usize,
    },
    /// A PT_LOAD segment both writable and executable (W^X).
    WritableAndExecutable {
        /// Program header index.
        index: usize,
    },
    /// `p_align` is not a power of two between 4 KiB and 2 MiB.
    BadSegmentAlignment {
        /// Program header index.
        index: usize,
        /// `p_align`.
        alignment: u64,
    },
    /// `p_offset` and `p_vaddr` differ modulo `p_align`.
    SegmentOffsetMisaligned {
        /// Program header index.
        index: usize,
        /// `p_vaddr`.
        virtual_offset: u64,
        /// `p_offset`.
        file_offset: u64,
        /// `p_align`.
        alignment: u64,
    },
    /// `p_filesz` exceeds `p_memsz`.
    FileSizeExceedsMemorySize {
        /// Program header index.
        index: usize,
        /// `p_filesz`.
        file_size: u64,
        /// `p_memsz`.
        memory_size: u64,
    },
    /// `p_memsz` is 0.
    EmptySegment {
        /// Program header index.
        index: usize,
    },
    /// The segment's bytes do not lie inside the file.
    SegmentOutsideFile {
        /// Program header index.
        index: usize,
        /// `p_offset`.
        file_offset: u64,
        /// `p_filesz`.
        file_size: u64,
    },
    /// `p_vaddr + p_memsz` (rounded to a page) overflows, or exceeds
    /// [`ImageLimits::max_memory_bytes`](crate::ImageLimits).
    SegmentBeyondMemoryLimit {
        /// Program header index.
        index: usize,
        /// The limit.
        limit: u64,
    },
    /// PT_LOAD segments are not sorted by address.
    SegmentsOutOfOrder {
        /// Program header index.
        index: usize,
        /// Program header index of the previous PT_LOAD segment.
        previous: usize,
    },
    /// Two PT_LOAD segments share a page (their rights could not both hold).
    SegmentsOverlap {
        /// Program header index.
        index: usize,
        /// Program header index of the previous PT_LOAD segment.
        previous: usize,
        /// Image offset of the first shared page.
        page: u64,
    },
    /// More PT_LOAD segments than
    /// [`ImageLimits::max_segments`](crate::ImageLimits).
    TooManySegments {
        /// The limit.
        limit: usize,
    },
    /// No PT_LOAD segment.
    NoLoadSegments,
    /// No read/execute PT_LOAD segment.
    NoExecutableSegment,
    /// The entry point is not inside the file-backed part of an RX segment.
    EntryOutsideExecutableSegment {
        /// `e_entry`.
        entry: u64,
    },
    /// More than one PT_DYNAMIC.
    MultipleDynamicSegments {
        /// Program header index of the second one.
        index: usize,
    },
    /// More than one PT_GNU_RELRO.
    MultipleRelroSegments {
        /// Program header index of the second one.
        index: usize,
    },
    /// PT_GNU_RELRO is not inside one read/write PT_LOAD segment.
    RelroOutsideWritableSegment {
        /// Program header index.
        index: usize,
    },
    /// PT_DYNAMIC's bytes do not lie inside the file.
    DynamicOutsideFile {
        /// Program header index.
        index: usize,
    },
    /// PT_DYNAMIC has no DT_NULL terminator.
    DynamicNotTerminated,
    /// A dynamic entry the loader refuses.
    ForbiddenDynamicEntry {
        /// Index in the dynamic table.
        index: usize,
        /// Tag name, e.g. `DT_NEEDED`.
        tag_name: &'static str,
        /// What it would require.
        reason: &'static str,
    },
    /// DT_RELA without DT_RELASZ, or a non-zero DT_RELASZ without DT_RELA.
    IncompleteRelocationTable,
    /// DT_RELAENT is not 24.
    BadRelocationEntrySize {
        /// DT_RELAENT.
        size: u64,
    },
    /// DT_RELASZ is not a multiple of 24.
    RelocationTableSizeNotMultiple {
        /// DT_RELASZ.
        size: u64,
    },
    /// The relocation table is not inside the file-backed part of a segment.
    RelocationTableOutsideImage {
        /// DT_RELA.
        address: u64,
        /// DT_RELASZ.
        size: u64,
    },
    /// More relocations than
    /// [`ImageLimits::max_relocations`](crate::ImageLimits).
    TooManyRelocations {
        /// Count found.
        count: u64,
        /// The limit.
        limit: usize,
    },
    /// A relocation other than R_X86_64_RELATIVE.
    UnsupportedRelocationType {
        /// Relocation index.
        index: usize,
        /// Its type.
        relocation_type: u32,
    },
    /// A relocation that refers to a symbol.
    RelocationNeedsSymbol {
        /// Relocation index.
        index: usize,
        /// Symbol index.
        symbol: u32,
    },
    /// The 8 bytes a relocation writes are not inside one segment.
    RelocationTargetOutsideImage {
        /// Relocation index.
        index: usize,
        /// `r_offset`.
        offset: u64,
    },
    /// A relocation writes into a read-only or executable segment.
    RelocationTargetNotWritable {
        /// Relocation index.
        index: usize,
        /// `r_offset`.
        offset: u64,
        /// Program header index of the segment it falls in.
        segment: usize,
    },
    /// The relocated value would point outside the image.
    RelocationAddendOutsideImage {
        /// Relocation index.
        index: usize,
        /// `r_addend`.
        addend: i64,
    },
    /// The section header table is malformed (bad entry size, outside the
    /// file, bad link).
    MalformedSectionHeaders,
    /// The symbol table or its string table is malformed.
    MalformedSymbolTable {
        /// Section index of the symbol table.
        section: usize,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ImageError::*;
        match *self {
            ImageTooLarge { size, limit } => {
                write!(f, "image is {size} bytes, above the limit of {limit} bytes")
            }
            TruncatedHeader { size } => {
                write!(
                    f,
                    "image is {size} bytes, too short for an ELF64 header (64 bytes)"
                )
            }
            NotElf => f.write_str("not an ELF file (bad magic)"),
            NotElf64 { class } => write!(f, "ELF class {class} is not ELFCLASS64 (2)"),
            NotLittleEndian { encoding } => {
                write!(f, "ELF data encoding {encoding} is not little endian (1)")
            }
            UnsupportedElfVersion { version } => {
                write!(f, "ELF version {version} is not supported (only 1)")
            }
            UnsupportedOsAbi { os_abi } => {
                write!(
                    f,
                    "ELF OS/ABI {os_abi} is not supported (only System V or GNU)"
                )
            }
            NotX86_64 { machine } => write!(f, "machine {machine} is not x86_64 (62)"),
            NotPositionIndependent { elf_type: 2 } => f.write_str(
                "image is ET_EXEC (linked at a fixed address); build it as a static PIE (ET_DYN), \
                 rustc's default for x86_64-unknown-none",
            ),
            NotPositionIndependent { elf_type } => {
                write!(f, "ELF type {elf_type} is not ET_DYN (3)")
            }
            BadHeaderSize { size } => write!(f, "ELF header size {size} is not 64"),
            BadProgramHeaderEntrySize { size } => {
                write!(f, "program header entry size {size} is not 56")
            }
            NoProgramHeaders => f.write_str("image has no program headers"),
            TooManyProgramHeaders { count, limit } => {
                write!(
                    f,
                    "image has {count} program headers, above the limit of {limit}"
                )
            }
            ProgramHeadersOutsideFile { offset, size } => write!(
                f,
                "program header table ({size} bytes at offset {offset:#x}) is outside the file"
            ),
            InterpreterRequested { index } => write!(
                f,
                "segment {index} (PT_INTERP) asks for a dynamic linker; extensions must be static"
            ),
            UnsupportedSegmentType {
                index,
                segment_type: 5,
            } => write!(f, "segment {index} has reserved type PT_SHLIB"),
            UnsupportedSegmentType {
                index,
                segment_type: 7,
            } => write!(
                f,
                "segment {index} (PT_TLS) needs thread-local storage, which the loader does not provide"
            ),
            UnsupportedSegmentType {
                index,
                segment_type,
            } => write!(f, "segment {index} has unsupported type {segment_type:#x}"),
            ExecutableStackRequested { index } => {
                write!(
                    f,
                    "segment {index} (PT_GNU_STACK) asks for an executable stack"
                )
            }
            SegmentWithoutRights { index } => write!(f, "segment {index} has no access rights"),
            WritableAndExecutable { index } => {
                write!(f, "segment {index} is both writable and executable (W^X)")
            }
            BadSegmentAlignment { index, alignment } => write!(
                f,
                "segment {index} alignment {alignment:#x} is not a power of two from 0x1000 to 0x200000"
            ),
            SegmentOffsetMisaligned {
                index,
                virtual_offset,
                file_offset,
                alignment,
            } => write!(
                f,
                "segment {index} address {virtual_offset:#x} and file offset {file_offset:#x} \
                 differ modulo its alignment {alignment:#x}"
            ),
            FileSizeExceedsMemorySize {
                index,
                file_size,
                memory_size,
            } => write!(
                f,
                "segment {index} file size {file_size:#x} exceeds its memory size {memory_size:#x}"
            ),
            EmptySegment { index } => write!(f, "segment {index} is empty"),
            SegmentOutsideFile {
                index,
                file_offset,
                file_size,
            } => write!(
                f,
                "segment {index} file bytes ({file_size:#x} at offset {file_offset:#x}) are outside the file"
            ),
            SegmentBeyondMemoryLimit { index, limit } => write!(
                f,
                "segment {index} ends beyond the image memory limit of {limit:#x} bytes"
            ),
            SegmentsOutOfOrder { index, previous } => write!(
                f,
                "segment {index} starts below segment {previous}; load segments must be sorted"
            ),
            SegmentsOverlap {
                index,
                previous,
                page,
            } => write!(
                f,
                "segment {index} overlaps segment {previous} (they share the page at {page:#x})"
            ),
            TooManySegments { limit } => {
                write!(f, "image has more than {limit} load segments")
            }
            NoLoadSegments => f.write_str("image has no PT_LOAD segment"),
            NoExecutableSegment => f.write_str("image has no read/execute segment"),
            EntryOutsideExecutableSegment { entry } => {
                write!(
                    f,
                    "entry point {entry:#x} is outside the executable segment"
                )
            }
            MultipleDynamicSegments { index } => {
                write!(f, "segment {index} is a second PT_DYNAMIC")
            }
            MultipleRelroSegments { index } => {
                write!(f, "segment {index} is a second PT_GNU_RELRO")
            }
            RelroOutsideWritableSegment { index } => write!(
                f,
                "segment {index} (PT_GNU_RELRO) is not inside one read/write load segment"
            ),
            DynamicOutsideFile { index } => {
                write!(f, "segment {index} (PT_DYNAMIC) is outside the file")
            }
            DynamicNotTerminated => f.write_str("dynamic table has no DT_NULL terminator"),
            ForbiddenDynamicEntry {
                index,
                tag_name,
                reason,
            } => write!(
                f,
                "dynamic entry {index} ({tag_name}) is not allowed: {reason}"
            ),
            IncompleteRelocationTable => {
                f.write_str("dynamic table has DT_RELA without DT_RELASZ or the reverse")
            }
            BadRelocationEntrySize { size } => {
                write!(f, "DT_RELAENT is {size}, not 24")
            }
            RelocationTableSizeNotMultiple { size } => {
                write!(f, "DT_RELASZ {size} is not a multiple of 24")
            }
            RelocationTableOutsideImage { address, size } => write!(
                f,
                "relocation table ({size} bytes at {address:#x}) is outside the file-backed image"
            ),
            TooManyRelocations { count, limit } => {
                write!(
                    f,
                    "image has {count} relocations, above the limit of {limit}"
                )
            }
            UnsupportedRelocationType {
                index,
                relocation_type,
            } => write!(
                f,
                "relocation {index} has unsupported type {relocation_type} (only R_X86_64_RELATIVE is allowed)"
            ),
            RelocationNeedsSymbol { index, symbol } => write!(
                f,
                "relocation {index} refers to symbol {symbol}; only symbol-less relative relocations are allowed"
            ),
            RelocationTargetOutsideImage { index, offset } => write!(
                f,
                "relocation {index} writes 8 bytes at {offset:#x}, outside every segment"
            ),
            RelocationTargetNotWritable {
                index,
                offset,
                segment,
            } => write!(
                f,
                "relocation {index} writes at {offset:#x} in segment {segment}, which is not writable"
            ),
            RelocationAddendOutsideImage { index, addend } => write!(
                f,
                "relocation {index} addend {addend:#x} points outside the image"
            ),
            MalformedSectionHeaders => f.write_str("section header table is malformed"),
            MalformedSymbolTable { section } => {
                write!(f, "symbol table in section {section} is malformed")
            }
        }
    }
}

impl core::error::Error for ImageError {}

/// Why [`copy_segments`](crate::copy_segments) or
/// [`apply_relocations`](crate::apply_relocations) could not fill a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadError {
    /// The buffer is shorter than the image's memory span.
    BufferTooSmall {
        /// Bytes needed.
        needed: u64,
        /// Bytes given.
        available: usize,
    },
    /// The base address is not aligned to the image's largest segment alignment.
    BaseMisaligned {
        /// The base.
        base: u64,
        /// Required alignment.
        alignment: u64,
    },
    /// `base + memory span` overflows the address space.
    BaseTooHigh {
        /// The base.
        base: u64,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LoadError::BufferTooSmall { needed, available } => write!(
                f,
                "load buffer has {available} bytes but the image needs {needed}"
            ),
            LoadError::BaseMisaligned { base, alignment } => {
                write!(f, "base {base:#x} is not aligned to {alignment:#x}")
            }
            LoadError::BaseTooHigh { base } => {
                write!(
                    f,
                    "base {base:#x} leaves no room for the image below the top of memory"
                )
            }
        }
    }
}

impl core::error::Error for LoadError {}
