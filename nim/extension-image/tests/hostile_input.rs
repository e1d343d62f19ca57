//! Hostile input: truncations, bit flips, random bytes, extreme field values.
//! `validate` must never panic, and whatever it accepts must satisfy the
//! documented invariants and load without error.

mod common;

use common::*;
use extension_image::*;

fn fuzz_limits() -> ImageLimits {
    ImageLimits {
        max_memory_bytes: 1 << 20,
        ..ImageLimits::default()
    }
}

/// Re-check the crate's invariants through the public API, then load.
fn assert_invariants_and_load(image: &ValidatedImage<'_>, limits: &ImageLimits) {
    let segments = image.segments();
    assert!(!segments.is_empty() && segments.len() <= limits.max_segments);
    for pair in segments.windows(2) {
        assert!(pair[0].pages().end <= pair[1].pages().start, "{pair:?}");
    }
    for segment in segments {
        assert!(segment.alignment.is_power_of_two() && segment.alignment >= PAGE_SIZE);
        assert_eq!(
            segment.file_offset % segment.alignment,
            segment.virtual_offset % segment.alignment
        );
        assert!(segment.file_size <= segment.memory_size && segment.memory_size > 0);
        assert!(segment.file_offset + segment.file_size <= image.bytes().len() as u64);
        assert_eq!(
            image.segment_file_bytes(segment).len() as u64,
            segment.file_size
        );
        assert!(segment.pages().end <= image.memory_span());
    }
    assert!(image.memory_span() <= limits.max_memory_bytes);
    assert_eq!(image.memory_span() % PAGE_SIZE, 0);
    let in_code = segments.iter().any(|segment| {
        segment.rights == SegmentRights::ReadExecute
            && segment.virtual_offset <= image.entry_offset()
            && image.entry_offset() < segment.virtual_offset + segment.file_size
    });
    assert!(in_code, "entry {:#x}", image.entry_offset());
    assert!(image.relocation_count() <= limits.max_relocations);
    for relocation in image.relocations() {
        let writable = segments.iter().any(|segment| {
            segment.rights == SegmentRights::ReadWrite
                && segment.virtual_offset <= relocation.offset
                && relocation.offset + 8 <= segment.virtual_offset + segment.memory_size
        });
        assert!(writable, "{relocation:?}");
        assert!(relocation.addend >= 0 && relocation.addend as u64 <= image.memory_span());
    }
    if let Some(range) = image.relro() {
        assert!(segments.iter().any(|segment| {
            segment.rights == SegmentRights::ReadWrite
                && segment.virtual_offset <= range.start
                && range.end <= segment.virtual_offset + segment.memory_size
        }));
    }
    let _ = image.symbol_offset("extension_entry");
    let _ = image.executable_symbol_offset("data_table");
    let mut memory = vec![0u8; image.memory_span() as usize];
    let base = 0x4000_0000_u64 * image.required_base_alignment() / PAGE_SIZE;
    copy_segments(image, &mut memory).expect("a validated image copies");
    apply_relocations(image, base, &mut memory).expect("a validated image relocates");
}

fn validate_and_check(bytes: &[u8], limits: &ImageLimits) -> bool {
    match validate(bytes, limits) {
        Ok(image) => {
            assert_invariants_and_load(&image, limits);
            true
        }
        Err(error) => {
            assert!(!error.to_string().is_empty());
            false
        }
    }
}

#[test]
fn the_valid_image_satisfies_the_invariants() {
    assert!(validate_and_check(&valid_image().bytes, &fuzz_limits()));
}

#[test]
fn every_truncation_is_refused() {
    let bytes = valid_image().bytes;
    for length in 0..bytes.len() {
        assert!(
            !validate_and_check(&bytes[..length], &fuzz_limits()),
            "truncated to {length} bytes"
        );
    }
}

#[test]
fn truncation_of_a_stripped_image_never_panics() {
    // Without section headers the file ends after the symbol data; cutting
    // into the unused tail may legitimately still validate.
    let mut image = valid_image();
    image.put_u64(40, 0);
    image.put_u16(60, 0);
    let mut accepted = 0;
    for length in 0..image.bytes.len() {
        if validate_and_check(&image.bytes[..length], &fuzz_limits()) {
            accepted += 1;
            assert!(length >= 0x620, "segments need the first 0x620 bytes");
        }
    }
    assert!(accepted > 0);
}

#[test]
fn random_bit_flips_never_panic() {
    let original = valid_image().bytes;
    let mut random = Xorshift(0x0123_4567_89AB_CDEF);
    let limits = fuzz_limits();
    let mut accepted = 0;
    for round in 0..30_000 {
        let mut bytes = original.clone();
        let flips = 1 + round % 4;
        for _ in 0..flips {
            let bit = random.below(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        if validate_and_check(&bytes, &limits) {
            accepted += 1;
        }
    }
    // Flips in code, data and padding keep the image valid; flips in
    // headers mostly do not. Both must happen.
    assert!(accepted > 1000 && accepted < 29_000, "accepted {accepted}");
}

#[test]
fn random_byte_overwrites_in_headers_never_panic() {
    let original = valid_image().bytes;
    let mut random = Xorshift(0xFEED_FACE_0BAD_F00D);
    let limits = fuzz_limits();
    let header_end = 64 + 56 * PROGRAM_HEADER_COUNT;
    for _ in 0..30_000 {
        let mut bytes = original.clone();
        for _ in 0..1 + random.below(6) {
            // Mostly headers and tables, sometimes anywhere.
            let at = match random.below(4) {
                0 => random.below(header_end),
                1 => RELA_FILE_OFFSET + random.below(72),
                2 => DYNAMIC_FILE_OFFSET + random.below(96),
                _ => random.below(bytes.len()),
            };
            bytes[at] = random.next() as u8;
        }
        validate_and_check(&bytes, &limits);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut random = Xorshift(42);
    let limits = fuzz_limits();
    for round in 0..20_000 {
        let length = random.below(2048);
        let mut bytes: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
        // Half the time, make the identification and sizes plausible so the
        // parser gets past the first checks.
        if round % 2 == 0 && length >= 64 {
            bytes[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
            bytes[16..18].copy_from_slice(&3u16.to_le_bytes());
            bytes[18..20].copy_from_slice(&62u16.to_le_bytes());
            bytes[20..24].copy_from_slice(&1u32.to_le_bytes());
            bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
            bytes[52..54].copy_from_slice(&64u16.to_le_bytes());
            bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
            bytes[56..58].copy_from_slice(&(random.below(12) as u16).to_le_bytes());
        }
        assert!(!validate_and_check(&bytes, &limits) || length >= 64);
    }
}

const EXTREMES: [u64; 14] = [
    0,
    1,
    7,
    8,
    0x1000,
    0x1001,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 1,
    u64::MAX - 7,
    u64::MAX - 0xfff,
    u64::MAX - 0x3fff,
    0xffff_ffff,
];

#[test]
fn extreme_values_in_every_field_never_panic() {
    let original = valid_image().bytes;
    let limits = fuzz_limits();
    let default_limits = ImageLimits::default();
    let mut tried = 0;
    // Every 8-, 4- and 2-byte-aligned field in the file, overwritten with
    // values chosen to provoke u64 wrap-around and off-by-one errors.
    for width in [8usize, 4, 2] {
        for at in (0..original.len() - width + 1).step_by(width) {
            for value in EXTREMES {
                let mut bytes = original.clone();
                bytes[at..at + width].copy_from_slice(&value.to_le_bytes()[..width]);
                validate_and_check(&bytes, &limits);
                let _ = validate(&bytes, &default_limits);
                tried += 1;
            }
        }
    }
    assert!(tried > 10_000);
}

#[test]
fn limits_at_their_extremes_never_panic() {
    let bytes = valid_image().bytes;
    let extremes = [
        ImageLimits {
            max_image_bytes: 0,
            max_segments: 0,
            max_program_headers: 0,
            max_memory_bytes: 0,
            max_relocations: 0,
        },
        ImageLimits {
            max_image_bytes: usize::MAX,
            max_segments: usize::MAX,
            max_program_headers: usize::MAX,
            max_memory_bytes: u64::MAX,
            max_relocations: usize::MAX,
        },
    ];
    assert!(validate(&bytes, &extremes[0]).is_err());
    let image = validate(&bytes, &extremes[1]).unwrap();
    assert_eq!(image.memory_span(), MEMORY_SPAN);
    // Huge segments with unbounded limits: still refused or accepted without
    // overflow.
    let mut image = valid_image();
    image.set(PH_DATA, Field::MemorySize, u64::MAX - 0x3600);
    assert!(validate(&image.bytes, &extremes[1]).is_err());
    image.set(PH_DATA, Field::MemorySize, u64::MAX - 0x4600);
    let accepted = validate(&image.bytes, &extremes[1]).unwrap();
    assert_eq!(accepted.memory_span(), u64::MAX - 0xfff);
    let mut small = vec![0u8; 16];
    assert!(copy_segments(&accepted, &mut small).is_err());
    assert!(apply_relocations(&accepted, 0x1000, &mut small).is_err());
}

#[test]
fn overlapping_segments_in_every_arrangement_are_refused() {
    // Move the data segment across the whole low address range in 0x100
    // steps (keeping offset ≡ address): it validates only where it shares
    // no page with another segment and keeps its relocations.
    let limits = fuzz_limits();
    for address in (0..0x6000_u64).step_by(0x100) {
        let mut image = valid_image();
        image.set(PH_DATA, Field::VirtualAddress, address);
        image.set(PH_DATA, Field::Offset, address % 0x1000);
        let accepted = validate_and_check(&image.bytes, &limits);
        let shares_page = address < 0x3000;
        if shares_page {
            assert!(!accepted, "data at {address:#x} shares a page");
        }
    }
}
