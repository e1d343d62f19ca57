//! Valid images round-trip; each malformation is refused with its own error.

mod common;

use common::*;
use extension_image::*;

fn check(image: &Image) -> Result<ValidatedImage<'_>, ImageError> {
    validate(&image.bytes, &ImageLimits::default())
}

#[test]
fn valid_image_is_described_exactly() {
    let image = valid_image();
    let validated = check(&image).expect("valid image");
    let segments: Vec<_> = validated
        .segments()
        .iter()
        .map(|s| {
            (
                s.virtual_offset,
                s.memory_size,
                s.file_offset,
                s.file_size,
                s.rights,
                s.alignment,
            )
        })
        .collect();
    assert_eq!(
        segments,
        [
            (0, 0x400, 0, 0x400, SegmentRights::ReadOnly, 0x1000),
            (
                0x1400,
                0x100,
                0x400,
                0x100,
                SegmentRights::ReadExecute,
                0x1000
            ),
            (
                0x2500,
                0xb00,
                0x500,
                0x100,
                SegmentRights::ReadWrite,
                0x1000
            ),
            (0x3600, 0x100, 0x600, 0x20, SegmentRights::ReadWrite, 0x1000),
        ]
    );
    assert_eq!(validated.segments()[3].program_header_index, PH_DATA);
    assert_eq!(
        validated.segments()[2].pages(),
        MemoryRange {
            start: 0x2000,
            end: 0x3000
        }
    );
    assert_eq!(validated.entry_offset(), ENTRY);
    assert_eq!(validated.memory_span(), MEMORY_SPAN);
    assert_eq!(validated.required_base_alignment(), 0x1000);
    assert_eq!(validated.relocation_count(), 3);
    let relocations: Vec<_> = validated
        .relocations()
        .map(|r| (r.offset, r.addend))
        .collect();
    assert_eq!(relocations, RELOCATIONS);
    assert_eq!(
        validated.relro(),
        Some(MemoryRange {
            start: 0x2500,
            end: 0x3000
        })
    );
    assert_eq!(
        validated.read_only_after_relocation(),
        Some(MemoryRange {
            start: 0x2000,
            end: 0x3000
        })
    );
    assert!(validated.has_symbols());
    assert_eq!(validated.symbol_offset("extension_entry"), Some(0x1400));
    assert_eq!(
        validated.executable_symbol_offset("extension_entry"),
        Some(0x1400)
    );
    assert_eq!(validated.symbol_offset("data_table"), Some(0x3600));
    assert_eq!(validated.executable_symbol_offset("data_table"), None);
    assert_eq!(validated.symbol_offset("extension"), None);
    assert_eq!(
        validated.symbol_offset(""),
        None,
        "the null symbol is undefined"
    );
    assert_eq!(
        validated.segment_file_bytes(&validated.segments()[3])[..8],
        *b"DATAMARK"
    );
}

#[test]
fn load_copies_zeroes_and_relocates() {
    let image = valid_image();
    let validated = check(&image).unwrap();
    let base = 0xffff_c000_0010_0000_u64;
    let mut memory = vec![0xaa_u8; MEMORY_SPAN as usize + 16];
    copy_segments(&validated, &mut memory).unwrap();
    apply_relocations(&validated, base, &mut memory).unwrap();
    assert_eq!(memory[0x1400..0x1404], [0xf3, 0x0f, 0x1e, 0xfa]);
    assert_eq!(memory[..4], *b"\x7fELF");
    assert_eq!(memory[0x3600..0x3608], *b"DATAMARK");
    assert!(
        memory[0x3620..0x3700].iter().all(|&b| b == 0),
        "bss is zero"
    );
    assert!(
        memory[0x1500..0x2500].iter().all(|&b| b == 0),
        "gaps are zero"
    );
    assert!(
        memory[MEMORY_SPAN as usize..].iter().all(|&b| b == 0xaa),
        "past the span untouched"
    );
    for (offset, addend) in RELOCATIONS {
        let at = offset as usize;
        let value = u64::from_le_bytes(memory[at..at + 8].try_into().unwrap());
        assert_eq!(value, base + addend as u64, "relocation at {offset:#x}");
    }
}

#[test]
fn load_rejects_bad_buffers_and_bases() {
    let image = valid_image();
    let validated = check(&image).unwrap();
    let mut small = vec![0u8; MEMORY_SPAN as usize - 1];
    assert_eq!(
        copy_segments(&validated, &mut small),
        Err(LoadError::BufferTooSmall {
            needed: MEMORY_SPAN,
            available: small.len()
        })
    );
    assert!(apply_relocations(&validated, 0x10_0000, &mut small).is_err());
    let mut memory = vec![0u8; MEMORY_SPAN as usize];
    assert_eq!(
        apply_relocations(&validated, 0x10_0800, &mut memory),
        Err(LoadError::BaseMisaligned {
            base: 0x10_0800,
            alignment: 0x1000
        })
    );
    assert_eq!(
        apply_relocations(&validated, !0xfff_u64, &mut memory),
        Err(LoadError::BaseTooHigh { base: !0xfff_u64 })
    );
    assert!(memory.iter().all(|&b| b == 0), "nothing written on error");
    assert_eq!(
        LoadError::BaseMisaligned {
            base: 0x800,
            alignment: 0x1000
        }
        .to_string(),
        "base 0x800 is not aligned to 0x1000"
    );
}

/// Apply `mutate` to a fresh valid image and expect `expected`.
fn refused(mutate: impl FnOnce(&mut Image), expected: ImageError, message: &str) {
    let mut image = valid_image();
    mutate(&mut image);
    let error = check(&image).expect_err(message);
    assert_eq!(error, expected, "{message}");
    let shown = error.to_string();
    assert!(
        shown.contains(message),
        "message {shown:?} should contain {message:?}"
    );
}

#[test]
fn header_malformations() {
    refused(|i| i.bytes[1] = b'X', ImageError::NotElf, "not an ELF file");
    refused(
        |i| i.bytes[4] = 1,
        ImageError::NotElf64 { class: 1 },
        "ELF class 1",
    );
    refused(
        |i| i.bytes[5] = 2,
        ImageError::NotLittleEndian { encoding: 2 },
        "little endian",
    );
    refused(
        |i| i.bytes[6] = 0,
        ImageError::UnsupportedElfVersion { version: 0 },
        "version 0",
    );
    refused(
        |i| i.put_u32(20, 2),
        ImageError::UnsupportedElfVersion { version: 2 },
        "version 2",
    );
    refused(
        |i| i.bytes[7] = 9,
        ImageError::UnsupportedOsAbi { os_abi: 9 },
        "OS/ABI 9",
    );
    refused(
        |i| i.put_u16(18, 3),
        ImageError::NotX86_64 { machine: 3 },
        "machine 3 is not x86_64",
    );
    refused(
        |i| i.put_u16(16, 2),
        ImageError::NotPositionIndependent { elf_type: 2 },
        "build it as a static PIE",
    );
    refused(
        |i| i.put_u16(16, 1),
        ImageError::NotPositionIndependent { elf_type: 1 },
        "ELF type 1",
    );
    refused(
        |i| i.put_u16(52, 60),
        ImageError::BadHeaderSize { size: 60 },
        "header size 60",
    );
    refused(
        |i| i.put_u16(54, 64),
        ImageError::BadProgramHeaderEntrySize { size: 64 },
        "entry size 64",
    );
    refused(
        |i| i.put_u16(56, 0),
        ImageError::NoProgramHeaders,
        "no program headers",
    );
    refused(
        |i| i.put_u16(56, 0xffff),
        ImageError::NoProgramHeaders,
        "no program headers",
    );
    refused(
        |i| i.put_u16(56, 65),
        ImageError::TooManyProgramHeaders {
            count: 65,
            limit: 64,
        },
        "65 program headers",
    );
    refused(
        |i| i.put_u64(32, IMAGE_LENGTH as u64 - 56 * 7 + 1),
        ImageError::ProgramHeadersOutsideFile {
            offset: IMAGE_LENGTH as u64 - 56 * 7 + 1,
            size: 56 * 7,
        },
        "program header table (392 bytes",
    );
    refused(
        |i| i.put_u64(32, u64::MAX - 8),
        ImageError::ProgramHeadersOutsideFile {
            offset: u64::MAX - 8,
            size: 56 * 7,
        },
        "outside the file",
    );
    let error = validate(&[0x7f, b'E', b'L', b'F', 2, 1, 1], &ImageLimits::default()).unwrap_err();
    assert_eq!(error, ImageError::TruncatedHeader { size: 7 });
    let big = ImageLimits {
        max_image_bytes: 100,
        ..ImageLimits::default()
    };
    assert_eq!(
        validate(&valid_image().bytes, &big)
            .unwrap_err()
            .to_string(),
        format!("image is {IMAGE_LENGTH} bytes, above the limit of 100 bytes")
    );
}

#[test]
fn entry_point_must_be_code() {
    refused(
        |i| i.put_u64(24, 0x9000),
        ImageError::EntryOutsideExecutableSegment { entry: 0x9000 },
        "entry point 0x9000 is outside the executable segment",
    );
    refused(
        |i| i.put_u64(24, 0x2500),
        ImageError::EntryOutsideExecutableSegment { entry: 0x2500 },
        "entry point 0x2500",
    );
    // Inside the RX segment's pages but past its file bytes.
    refused(
        |i| i.put_u64(24, 0x1500),
        ImageError::EntryOutsideExecutableSegment { entry: 0x1500 },
        "entry point 0x1500",
    );
}

#[test]
fn segment_rights() {
    refused(
        |i| i.set(PH_CODE, Field::Flags, u64::from(R | W | X)),
        ImageError::WritableAndExecutable { index: PH_CODE },
        "segment 1 is both writable and executable",
    );
    refused(
        |i| i.set(PH_DATA, Field::Flags, 0),
        ImageError::SegmentWithoutRights { index: PH_DATA },
        "segment 3 has no access rights",
    );
    refused(
        |i| i.set(PH_CODE, Field::Flags, u64::from(R)),
        ImageError::NoExecutableSegment,
        "no read/execute segment",
    );
    refused(
        |i| i.set(PH_STACK, Field::Flags, u64::from(R | W | X)),
        ImageError::ExecutableStackRequested { index: PH_STACK },
        "executable stack",
    );
    // Execute-only code maps as read/execute.
    let mut image = valid_image();
    image.set(PH_CODE, Field::Flags, u64::from(X));
    assert_eq!(
        check(&image).unwrap().segments()[1].rights,
        SegmentRights::ReadExecute
    );
}

#[test]
fn segment_geometry() {
    refused(
        |i| i.set(PH_DATA, Field::Alignment, 0x800),
        ImageError::BadSegmentAlignment {
            index: PH_DATA,
            alignment: 0x800,
        },
        "alignment 0x800 is not a power of two",
    );
    refused(
        |i| i.set(PH_DATA, Field::Alignment, 0x3000),
        ImageError::BadSegmentAlignment {
            index: PH_DATA,
            alignment: 0x3000,
        },
        "segment 3 alignment",
    );
    refused(
        |i| i.set(PH_DATA, Field::Alignment, 1 << 63),
        ImageError::BadSegmentAlignment {
            index: PH_DATA,
            alignment: 1 << 63,
        },
        "segment 3 alignment",
    );
    refused(
        |i| i.set(PH_DATA, Field::Offset, 0x608),
        ImageError::SegmentOffsetMisaligned {
            index: PH_DATA,
            virtual_offset: 0x3600,
            file_offset: 0x608,
            alignment: 0x1000,
        },
        "differ modulo its alignment",
    );
    refused(
        |i| i.set(PH_DATA, Field::FileSize, 0x101),
        ImageError::FileSizeExceedsMemorySize {
            index: PH_DATA,
            file_size: 0x101,
            memory_size: 0x100,
        },
        "file size 0x101 exceeds its memory size 0x100",
    );
    refused(
        |i| {
            i.set(PH_DATA, Field::FileSize, 0);
            i.set(PH_DATA, Field::MemorySize, 0);
        },
        ImageError::EmptySegment { index: PH_DATA },
        "segment 3 is empty",
    );
    refused(
        |i| {
            i.set(PH_DATA, Field::FileSize, 0x1000);
            i.set(PH_DATA, Field::MemorySize, 0x1000);
        },
        ImageError::SegmentOutsideFile {
            index: PH_DATA,
            file_offset: 0x600,
            file_size: 0x1000,
        },
        "are outside the file",
    );
    // Offset + size wraps around u64.
    refused(
        |i| {
            i.set(PH_DATA, Field::Offset, u64::MAX - 0x9ff);
            i.set(PH_DATA, Field::VirtualAddress, u64::MAX - 0x9ff);
        },
        ImageError::SegmentOutsideFile {
            index: PH_DATA,
            file_offset: u64::MAX - 0x9ff,
            file_size: 0x20,
        },
        "outside the file",
    );
    // Address + memory size wraps around u64.
    refused(
        |i| i.set(PH_DATA, Field::MemorySize, u64::MAX - 0x3000),
        ImageError::SegmentBeyondMemoryLimit {
            index: PH_DATA,
            limit: 64 << 20,
        },
        "beyond the image memory limit",
    );
    refused(
        |i| i.set(PH_DATA, Field::MemorySize, 64 << 20),
        ImageError::SegmentBeyondMemoryLimit {
            index: PH_DATA,
            limit: 64 << 20,
        },
        "segment 3 ends beyond",
    );
}

#[test]
fn segment_order_and_overlap() {
    // Data segment moved into the page of the RELRO segment's end.
    refused(
        |i| {
            i.set(PH_DATA, Field::VirtualAddress, 0x2600);
            i.set(PH_DATA, Field::Offset, 0x600);
        },
        ImageError::SegmentsOverlap {
            index: PH_DATA,
            previous: PH_RELRO_DATA,
            page: 0x2000,
        },
        "segment 3 overlaps segment 2 (they share the page at 0x2000)",
    );
    // Code segment sharing the read-only segment's page.
    refused(
        |i| i.set(PH_CODE, Field::VirtualAddress, 0x400),
        ImageError::SegmentsOverlap {
            index: PH_CODE,
            previous: PH_READ_ONLY,
            page: 0,
        },
        "segment 1 overlaps segment 0",
    );
    refused(
        |i| {
            // Swap code and data segment headers: R, data, RELRO data, code.
            let code = Image::program_header_at(PH_CODE);
            let data = Image::program_header_at(PH_DATA);
            for k in 0..56 {
                i.bytes.swap(code + k, data + k);
            }
        },
        ImageError::SegmentsOutOfOrder {
            index: PH_RELRO_DATA,
            previous: PH_CODE,
        },
        "segment 2 starts below segment 1",
    );
    let few = ImageLimits {
        max_segments: 3,
        ..ImageLimits::default()
    };
    assert_eq!(
        validate(&valid_image().bytes, &few),
        Err(ImageError::TooManySegments { limit: 3 })
    );
    let small = ImageLimits {
        max_memory_bytes: 0x3000,
        ..ImageLimits::default()
    };
    assert_eq!(
        validate(&valid_image().bytes, &small),
        Err(ImageError::SegmentBeyondMemoryLimit {
            index: PH_DATA,
            limit: 0x3000
        })
    );
}

#[test]
fn segment_types() {
    refused(
        |i| i.set(PH_STACK, Field::Type, 3),
        ImageError::InterpreterRequested { index: PH_STACK },
        "asks for a dynamic linker",
    );
    refused(
        |i| i.set(PH_STACK, Field::Type, 7),
        ImageError::UnsupportedSegmentType {
            index: PH_STACK,
            segment_type: 7,
        },
        "thread-local storage",
    );
    refused(
        |i| i.set(PH_STACK, Field::Type, 5),
        ImageError::UnsupportedSegmentType {
            index: PH_STACK,
            segment_type: 5,
        },
        "PT_SHLIB",
    );
    refused(
        |i| i.set(PH_STACK, Field::Type, 0x1234),
        ImageError::UnsupportedSegmentType {
            index: PH_STACK,
            segment_type: 0x1234,
        },
        "unsupported type 0x1234",
    );
    refused(
        |i| i.set(PH_STACK, Field::Type, u64::from(PT_DYNAMIC)),
        ImageError::MultipleDynamicSegments { index: PH_STACK },
        "second PT_DYNAMIC",
    );
    refused(
        |i| i.set(PH_STACK, Field::Type, u64::from(PT_GNU_RELRO)),
        ImageError::MultipleRelroSegments { index: PH_STACK },
        "second PT_GNU_RELRO",
    );
    refused(
        |i| {
            for index in [PH_READ_ONLY, PH_CODE, PH_RELRO_DATA, PH_DATA] {
                i.set(index, Field::Type, 0);
            }
        },
        ImageError::NoLoadSegments,
        "no PT_LOAD",
    );
    // OS-specific types (e.g. PT_GNU_PROPERTY) and PT_NOTE are ignored.
    let mut image = valid_image();
    image.set(PH_STACK, Field::Type, 0x6474_e553);
    assert!(check(&image).is_ok());
    image.set(PH_STACK, Field::Type, 4);
    assert!(check(&image).is_ok());
}

#[test]
fn relro_must_be_inside_one_writable_segment() {
    refused(
        |i| i.set(PH_RELRO, Field::VirtualAddress, 0x1400),
        ImageError::RelroOutsideWritableSegment { index: PH_RELRO },
        "not inside one read/write load segment",
    );
    refused(
        |i| i.set(PH_RELRO, Field::MemorySize, 0xc00),
        ImageError::RelroOutsideWritableSegment { index: PH_RELRO },
        "PT_GNU_RELRO",
    );
    refused(
        |i| i.set(PH_RELRO, Field::MemorySize, u64::MAX),
        ImageError::RelroOutsideWritableSegment { index: PH_RELRO },
        "PT_GNU_RELRO",
    );
}

#[test]
fn dynamic_table_rules() {
    refused(
        |i| i.dynamic(5, 0x6fff_fffb, 0),
        ImageError::DynamicNotTerminated,
        "no DT_NULL",
    );
    refused(
        |i| i.set(PH_DYNAMIC, Field::Offset, IMAGE_LENGTH as u64),
        ImageError::DynamicOutsideFile { index: PH_DYNAMIC },
        "segment 4 (PT_DYNAMIC) is outside the file",
    );
    let forbidden: &[(u64, u64, &str, &str)] = &[
        (1, 5, "DT_NEEDED", "needs a shared library"),
        (17, 0x300, "DT_REL", "only RELA"),
        (18, 24, "DT_RELSZ", "only RELA"),
        (23, 0x300, "DT_JMPREL", "PLT relocations"),
        (2, 24, "DT_PLTRELSZ", "PLT relocations"),
        (22, 0, "DT_TEXTREL", "may not write to code"),
        (30, 4, "DT_FLAGS", "DF_TEXTREL"),
        (12, 0x1400, "DT_INIT", "initialisers"),
        (25, 0x2500, "DT_INIT_ARRAY", "initialisers"),
        (26, 0x2500, "DT_FINI_ARRAY", "finalisers"),
        (36, 0x300, "DT_RELR", "packed relative relocations"),
    ];
    for &(tag, value, tag_name, reason) in forbidden {
        refused(
            |i| i.dynamic(3, tag, value),
            ImageError::ForbiddenDynamicEntry {
                index: 3,
                tag_name,
                reason: match check(&{
                    let mut probe = valid_image();
                    probe.dynamic(3, tag, value);
                    probe
                }) {
                    Err(ImageError::ForbiddenDynamicEntry { reason, .. }) => reason,
                    other => panic!("{tag_name}: {other:?}"),
                },
            },
            &format!("dynamic entry 3 ({tag_name}) is not allowed"),
        );
        let mut probe = valid_image();
        probe.dynamic(3, tag, value);
        assert!(
            check(&probe).unwrap_err().to_string().contains(reason),
            "{tag_name}"
        );
    }
    // Zero-sized PLT/REL tables and DT_FLAGS without TEXTREL are fine.
    for (tag, value) in [(2, 0), (18, 0), (30, 8), (0x6fff_fef5, 0x250), (21, 0)] {
        let mut image = valid_image();
        image.dynamic(3, tag, value);
        assert!(check(&image).is_ok(), "tag {tag:#x}");
    }
}

#[test]
fn relocation_table_rules() {
    refused(
        |i| i.dynamic(2, 9, 16),
        ImageError::BadRelocationEntrySize { size: 16 },
        "DT_RELAENT is 16",
    );
    refused(
        |i| i.dynamic(1, 8, 70),
        ImageError::RelocationTableSizeNotMultiple { size: 70 },
        "not a multiple of 24",
    );
    refused(
        |i| i.dynamic(1, 0x6fff_fffa, 0),
        ImageError::IncompleteRelocationTable,
        "DT_RELA without DT_RELASZ",
    );
    refused(
        |i| i.dynamic(0, 0x6fff_fffa, 0),
        ImageError::IncompleteRelocationTable,
        "DT_RELA without DT_RELASZ",
    );
    refused(
        |i| i.dynamic(0, 7, 0x3f0),
        ImageError::RelocationTableOutsideImage {
            address: 0x3f0,
            size: 72,
        },
        "relocation table (72 bytes at 0x3f0)",
    );
    refused(
        |i| i.dynamic(0, 7, 0x3600),
        ImageError::RelocationTableOutsideImage {
            address: 0x3600,
            size: 72,
        },
        "outside the file-backed image",
    );
    refused(
        |i| i.dynamic(0, 7, u64::MAX - 8),
        ImageError::RelocationTableOutsideImage {
            address: u64::MAX - 8,
            size: 72,
        },
        "outside",
    );
    refused(
        |i| i.dynamic(1, 8, u64::MAX - (u64::MAX % 24)),
        ImageError::TooManyRelocations {
            count: u64::MAX / 24,
            limit: 1 << 18,
        },
        "relocations, above the limit",
    );
    let few = ImageLimits {
        max_relocations: 2,
        ..ImageLimits::default()
    };
    assert_eq!(
        validate(&valid_image().bytes, &few),
        Err(ImageError::TooManyRelocations { count: 3, limit: 2 })
    );
    // No relocations at all is fine.
    let mut image = valid_image();
    image.dynamic(0, 0x6fff_fffa, 0);
    image.dynamic(1, 0x6fff_fffa, 0);
    assert_eq!(check(&image).unwrap().relocation_count(), 0);
    let mut image = valid_image();
    image.dynamic(1, 8, 0);
    assert_eq!(check(&image).unwrap().relocation_count(), 0);
}

#[test]
fn relocation_entry_rules() {
    refused(
        |i| i.relocation(2, 0x3608, 7, 0),
        ImageError::UnsupportedRelocationType {
            index: 2,
            relocation_type: 7,
        },
        "relocation 2 has unsupported type 7 (only R_X86_64_RELATIVE is allowed)",
    );
    refused(
        |i| i.relocation(1, 0x2588, 1, 0),
        ImageError::UnsupportedRelocationType {
            index: 1,
            relocation_type: 1,
        },
        "relocation 1 has unsupported type 1",
    );
    refused(
        |i| i.relocation(1, 0x2588, (3 << 32) | 8, 0),
        ImageError::RelocationNeedsSymbol {
            index: 1,
            symbol: 3,
        },
        "refers to symbol 3",
    );
    refused(
        |i| i.relocation(0, 0x1400, 8, 0),
        ImageError::RelocationTargetNotWritable {
            index: 0,
            offset: 0x1400,
            segment: PH_CODE,
        },
        "relocation 0 writes at 0x1400 in segment 1, which is not writable",
    );
    refused(
        |i| i.relocation(0, 0x10, 8, 0),
        ImageError::RelocationTargetNotWritable {
            index: 0,
            offset: 0x10,
            segment: PH_READ_ONLY,
        },
        "not writable",
    );
    refused(
        |i| i.relocation(0, 0x5000, 8, 0),
        ImageError::RelocationTargetOutsideImage {
            index: 0,
            offset: 0x5000,
        },
        "relocation 0 writes 8 bytes at 0x5000, outside every segment",
    );
    refused(
        |i| i.relocation(0, 0x1600, 8, 0),
        ImageError::RelocationTargetOutsideImage {
            index: 0,
            offset: 0x1600,
        },
        "outside every segment",
    );
    // Crosses the end of the data segment (0x3700).
    refused(
        |i| i.relocation(0, 0x36f9, 8, 0),
        ImageError::RelocationTargetOutsideImage {
            index: 0,
            offset: 0x36f9,
        },
        "outside every segment",
    );
    refused(
        |i| i.relocation(0, u64::MAX - 3, 8, 0),
        ImageError::RelocationTargetOutsideImage {
            index: 0,
            offset: u64::MAX - 3,
        },
        "outside every segment",
    );
    refused(
        |i| i.relocation(0, 0x2580, 8, -16),
        ImageError::RelocationAddendOutsideImage {
            index: 0,
            addend: -16,
        },
        "relocation 0 addend",
    );
    refused(
        |i| i.relocation(0, 0x2580, 8, MEMORY_SPAN as i64 + 1),
        ImageError::RelocationAddendOutsideImage {
            index: 0,
            addend: MEMORY_SPAN as i64 + 1,
        },
        "points outside the image",
    );
    // Last byte of the data segment's bss, and a one-past-the-end pointer.
    let mut image = valid_image();
    image.relocation(0, 0x36f8, 8, MEMORY_SPAN as i64);
    assert!(check(&image).is_ok());
}

#[test]
fn section_and_symbol_tables() {
    refused(
        |i| i.put_u16(58, 40),
        ImageError::MalformedSectionHeaders,
        "section header table",
    );
    refused(
        |i| i.put_u64(40, IMAGE_LENGTH as u64 - 64),
        ImageError::MalformedSectionHeaders,
        "malformed",
    );
    refused(
        |i| i.put_u64(40, u64::MAX),
        ImageError::MalformedSectionHeaders,
        "malformed",
    );
    let symtab_header = SECTION_HEADERS_FILE_OFFSET + 64;
    refused(
        |i| i.put_u64(symtab_header + 56, 16),
        ImageError::MalformedSymbolTable { section: 1 },
        "symbol table in section 1 is malformed",
    );
    refused(
        |i| i.put_u64(symtab_header + 32, u64::MAX - 7),
        ImageError::MalformedSymbolTable { section: 1 },
        "malformed",
    );
    refused(
        |i| i.put_u32(symtab_header + 40, 7),
        ImageError::MalformedSymbolTable { section: 1 },
        "malformed",
    );
    refused(
        |i| i.put_u32(symtab_header + 40, 1),
        ImageError::MalformedSymbolTable { section: 1 },
        "malformed",
    );
    // Stripped: no section headers at all.
    let mut image = valid_image();
    image.put_u64(40, 0);
    image.put_u16(60, 0);
    let validated = check(&image).unwrap();
    assert!(!validated.has_symbols());
    assert_eq!(validated.symbol_offset("extension_entry"), None);
    // A name not terminated inside the string table never matches.
    let mut image = valid_image();
    let strtab_header = SECTION_HEADERS_FILE_OFFSET + 128;
    image.put_u64(strtab_header + 32, 10);
    let validated = check(&image).unwrap();
    assert_eq!(validated.symbol_offset("extension_entry"), None);
    assert_eq!(validated.symbol_offset("extensio"), None);
    // A symbol whose value lies outside the image is not returned.
    let mut image = valid_image();
    image.put_u64(SYMTAB_FILE_OFFSET + 24 + 8, MEMORY_SPAN);
    assert_eq!(
        check(&image).unwrap().symbol_offset("extension_entry"),
        None
    );
}
