//! The pure checks the kernel's wrappers apply to what an extension hands
//! them: address ranges, register accesses, port ranges and configuration
//! writes. They live here, without the kernel, so that host property tests
//! can compare them with a wide-integer model over many random and edge
//! values (`tests/validate.rs`).
//!
//! Invariants: no function here overflows, panics or allocates, for any
//! input; each answers `false` (refuse) when an end cannot be computed.

/// Is `[address, address + length)` inside `[region, region + size)`?
///
/// A range whose end does not fit a `u64` is never inside, nor is any
/// range of a region whose end does not fit. An empty range is inside when
/// its address is (from `region` to `region + size`, both included).
pub fn range_is_inside(address: u64, length: u64, region: u64, size: u64) -> bool {
    let (Some(end), Some(region_end)) = (address.checked_add(length), region.checked_add(size))
    else {
        return false;
    };
    address >= region && end <= region_end
}

/// Does an access of `width` bytes at `offset` lie inside an object of
/// `size` bytes, aligned to its width? `width` must be a power of two
/// (1, 2, 4 or 8); any other width, including 0, never fits.
pub fn access_fits(offset: u64, width: u64, size: u64) -> bool {
    width.is_power_of_two()
        && offset.is_multiple_of(width)
        && offset.checked_add(width).is_some_and(|end| end <= size)
}

/// Do the port ranges `[first, first + count)` and `[other_first,
/// other_first + other_count)` share a port? (Computed in 32 bits: ranges
/// that run past port 0xffff still compare correctly.) An empty range
/// overlaps nothing.
pub fn ranges_overlap(first: u16, count: u16, other_first: u16, other_count: u16) -> bool {
    let (start, end) = (u32::from(first), u32::from(first) + u32::from(count));
    let (other_start, other_end) = (
        u32::from(other_first),
        u32::from(other_first) + u32::from(other_count),
    );
    count > 0 && other_count > 0 && start < other_end && other_start < end
}

/// Is `[first, first + count)` a grantable port range: not empty and not
/// past port 0xffff?
pub fn port_range_is_valid(first: u16, count: u16) -> bool {
    count > 0 && u32::from(first) + u32::from(count) <= 0x1_0000
}

/// The configuration-space registers of a type-0 PCI header that only the
/// kernel writes: the base address registers (0x10 to 0x27) and the
/// expansion ROM base address (0x30 to 0x33). Moving one could map a
/// device over kernel memory.
pub const PROTECTED_CONFIG_RANGES: [(u16, u16); 2] = [(0x10, 0x28), (0x30, 0x34)];

/// Does a configuration write of `width` bytes at `offset` touch a
/// register in [`PROTECTED_CONFIG_RANGES`]? (Computed without overflow:
/// offset 255 with width 4 ends at 259.)
pub fn config_write_is_protected(offset: u8, width: u8) -> bool {
    let (start, end) = (u16::from(offset), u16::from(offset) + u16::from(width));
    width > 0
        && PROTECTED_CONFIG_RANGES
            .iter()
            .any(|&(first, last)| start < last && first < end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_at_the_edges() {
        assert!(range_is_inside(10, 0, 10, 0));
        assert!(range_is_inside(10, 5, 10, 5));
        assert!(!range_is_inside(10, 6, 10, 5));
        assert!(!range_is_inside(9, 1, 10, 5));
        assert!(range_is_inside(15, 0, 10, 5));
        assert!(!range_is_inside(16, 0, 10, 5));
        assert!(!range_is_inside(u64::MAX, 1, 0, u64::MAX));
        assert!(!range_is_inside(1, u64::MAX, 0, u64::MAX));
        assert!(range_is_inside(0, u64::MAX, 0, u64::MAX));
        assert!(!range_is_inside(0, 0, 1, u64::MAX));
    }

    #[test]
    fn accesses_at_the_edges() {
        assert!(access_fits(0, 1, 1));
        assert!(!access_fits(0, 1, 0));
        assert!(access_fits(252, 4, 256));
        assert!(!access_fits(254, 4, 256));
        assert!(!access_fits(2, 4, 256));
        assert!(!access_fits(0, 3, 256));
        assert!(!access_fits(0, 0, 256));
        assert!(!access_fits(u64::MAX - 3, 4, u64::MAX));
        assert!(access_fits(u64::MAX - 7, 4, u64::MAX));
    }

    #[test]
    fn port_ranges() {
        assert!(ranges_overlap(0x20, 2, 0x21, 1));
        assert!(!ranges_overlap(0x20, 2, 0x22, 1));
        assert!(!ranges_overlap(0x20, 0, 0x20, 1));
        assert!(ranges_overlap(0xffff, 1, 0xfff0, 0x10));
        assert!(port_range_is_valid(0xffff, 1));
        assert!(!port_range_is_valid(0xffff, 2));
        assert!(!port_range_is_valid(0, 0));
    }

    #[test]
    fn configuration_writes() {
        assert!(!config_write_is_protected(0x04, 2));
        assert!(!config_write_is_protected(0x0c, 4));
        assert!(config_write_is_protected(0x0e, 4));
        assert!(config_write_is_protected(0x10, 1));
        assert!(config_write_is_protected(0x27, 1));
        assert!(!config_write_is_protected(0x28, 4));
        assert!(!config_write_is_protected(0x2c, 4));
        assert!(config_write_is_protected(0x30, 4));
        assert!(config_write_is_protected(0x33, 1));
        assert!(!config_write_is_protected(0x34, 1));
        assert!(!config_write_is_protected(0xff, 1));
        assert!(!config_write_is_protected(0xff, 4));
        assert!(!config_write_is_protected(0x10, 0));
    }
}
