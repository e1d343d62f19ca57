//! Bounds-checked little-endian reads; every function returns `None`
//! instead of panicking when the range does not fit.

/// `length` bytes of `bytes` starting at `offset`, if they all exist.
pub(crate) fn sub_slice(bytes: &[u8], offset: u64, length: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(length).ok()?)?;
    bytes.get(start..end)
}

fn read_array<const N: usize>(bytes: &[u8], offset: u64) -> Option<[u8; N]> {
    sub_slice(bytes, offset, N as u64)?.try_into().ok()
}

/// Little-endian `u16` at `offset`.
pub(crate) fn read_u16(bytes: &[u8], offset: u64) -> Option<u16> {
    read_array(bytes, offset).map(u16::from_le_bytes)
}

/// Little-endian `u32` at `offset`.
pub(crate) fn read_u32(bytes: &[u8], offset: u64) -> Option<u32> {
    read_array(bytes, offset).map(u32::from_le_bytes)
}

/// Little-endian `u64` at `offset`.
pub(crate) fn read_u64(bytes: &[u8], offset: u64) -> Option<u64> {
    read_array(bytes, offset).map(u64::from_le_bytes)
}
