//! Filling a host buffer with a validated image: shared by the kernel's
//! loader (over the freshly mapped pages) and by the tests.

use crate::{LoadError, ValidatedImage};

fn image_buffer<'m>(
    image: &ValidatedImage<'_>,
    memory: &'m mut [u8],
) -> Result<&'m mut [u8], LoadError> {
    let available = memory.len();
    let too_small = LoadError::BufferTooSmall {
        needed: image.memory_span(),
        available,
    };
    let span = usize::try_from(image.memory_span()).map_err(|_| too_small)?;
    memory.get_mut(..span).ok_or(too_small)
}

/// Lay the image out in `memory` (index 0 = image offset 0): zero the first
/// `memory_span` bytes, then copy each segment's file bytes to its offset,
/// leaving the bss tails zero. Bytes past `memory_span` are not touched.
pub fn copy_segments(image: &ValidatedImage<'_>, memory: &mut [u8]) -> Result<(), LoadError> {
    let memory = image_buffer(image, memory)?;
    memory.fill(0);
    let available = memory.len();
    for segment in image.segments() {
        let source = image.segment_file_bytes(segment);
        let start = usize::try_from(segment.virtual_offset).unwrap_or(usize::MAX);
        let destination = start
            .checked_add(source.len())
            .and_then(|end| memory.get_mut(start..end))
            .ok_or(LoadError::BufferTooSmall {
                needed: image.memory_span(),
                available,
            })?;
        destination.copy_from_slice(source);
    }
    Ok(())
}

/// Apply every relocation for an image loaded at `base`: write
/// `base + addend` (little endian) over the 8 bytes at `memory[offset]`.
/// `memory` holds the image from offset 0 (as after [`copy_segments`]).
/// `base` must be aligned to [`ValidatedImage::required_base_alignment`] and
/// `base + memory_span` must not overflow. Errors are found before the first
/// write (validation already placed every target and value inside the image).
pub fn apply_relocations(
    image: &ValidatedImage<'_>,
    base: u64,
    memory: &mut [u8],
) -> Result<(), LoadError> {
    let alignment = image.required_base_alignment();
    if base & alignment.saturating_sub(1) != 0 {
        return Err(LoadError::BaseMisaligned { base, alignment });
    }
    if base.checked_add(image.memory_span()).is_none() {
        return Err(LoadError::BaseTooHigh { base });
    }
    let memory = image_buffer(image, memory)?;
    let available = memory.len();
    for relocation in image.relocations() {
        let value = base
            .checked_add_signed(relocation.addend)
            .ok_or(LoadError::BaseTooHigh { base })?;
        let target = usize::try_from(relocation.offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(8)?))
            .and_then(|range| memory.get_mut(range))
            .ok_or(LoadError::BufferTooSmall {
                needed: image.memory_span(),
                available,
            })?;
        target.copy_from_slice(&value.to_le_bytes());
    }
    Ok(())
}
