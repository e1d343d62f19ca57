//! Property tests of the wrappers' validators (`extension_abi::validate`):
//! each is compared with a model computed in 128-bit (or 32-bit) integers,
//! where no end can overflow, over many random cases biased towards the
//! edges (0, small values, values near `u64::MAX`, region boundaries).

use deterministic_rng::XorShift;
use extension_abi::validate::{
    PROTECTED_CONFIG_RANGES, access_fits, config_write_is_protected, port_range_is_valid,
    range_is_inside, ranges_overlap,
};

const CASES: usize = 200_000;

/// A random `u64` that is often an edge value: 0, 1, a power of two and
/// its neighbours, near `u64::MAX`, or close to `near`.
fn edgy(rng: &mut XorShift, near: u64) -> u64 {
    match rng.below(8) {
        0 => rng.below(8),
        1 => u64::MAX - rng.below(8),
        2 => {
            let power = 1u64 << rng.below(64);
            power.wrapping_add(rng.below(3)).wrapping_sub(1)
        }
        3 => near.wrapping_add(rng.below(16)).wrapping_sub(8),
        4 => rng.below(1 << 16),
        _ => rng.next(),
    }
}

fn model_range(address: u64, length: u64, region: u64, size: u64) -> bool {
    let (address, length, region, size) = (
        u128::from(address),
        u128::from(length),
        u128::from(region),
        u128::from(size),
    );
    let end = address + length;
    let region_end = region + size;
    // The real ends must be representable as addresses.
    end <= u128::from(u64::MAX)
        && region_end <= u128::from(u64::MAX)
        && address >= region
        && end <= region_end
}

#[test]
fn range_is_inside_matches_a_wide_model() {
    let mut rng = XorShift::new(0x5eed_0001);
    let mut inside = 0;
    for case in 0..CASES {
        let region = edgy(&mut rng, 0xffff_c000_0000_0000);
        let size = edgy(&mut rng, 1 << 39);
        // Addresses near the region's start and end, or anywhere.
        let address = match rng.below(3) {
            0 => edgy(&mut rng, region),
            1 => edgy(&mut rng, region.wrapping_add(size)),
            _ => edgy(&mut rng, 0),
        };
        let length = edgy(&mut rng, size);
        let expected = model_range(address, length, region, size);
        inside += usize::from(expected);
        assert_eq!(
            range_is_inside(address, length, region, size),
            expected,
            "case {case}: [{address:#x} + {length:#x}) in [{region:#x} + {size:#x})"
        );
    }
    // The generator must exercise both answers.
    assert!(
        inside > CASES / 50 && inside < CASES - CASES / 50,
        "{inside} of {CASES} inside"
    );
}

#[test]
fn a_wrapping_range_is_never_inside() {
    let mut rng = XorShift::new(0x5eed_0002);
    for _ in 0..CASES {
        let address = u64::MAX - rng.below(1 << 20);
        let length = (u64::MAX - address) + 1 + rng.below(1 << 20);
        assert!(!range_is_inside(address, length, 0, u64::MAX));
        assert!(!range_is_inside(
            address,
            length,
            address,
            u64::MAX - address
        ));
    }
}

#[test]
fn access_fits_matches_a_wide_model() {
    let mut rng = XorShift::new(0x5eed_0003);
    let mut fits = 0;
    for case in 0..CASES {
        let size = edgy(&mut rng, 256);
        let offset = edgy(&mut rng, size);
        let width = match rng.below(5) {
            0 => rng.below(10),
            _ => 1 << rng.below(4),
        };
        let expected = width.is_power_of_two()
            && u128::from(offset) % u128::from(width) == 0
            && u128::from(offset) + u128::from(width) <= u128::from(size);
        fits += usize::from(expected);
        assert_eq!(
            access_fits(offset, width, size),
            expected,
            "case {case}: {width} bytes at {offset:#x} of {size:#x}"
        );
    }
    assert!(fits > CASES / 50, "only {fits} of {CASES} fit");
}

#[test]
fn port_ranges_match_a_set_model() {
    let mut rng = XorShift::new(0x5eed_0004);
    let port = |rng: &mut XorShift| match rng.below(3) {
        0 => 0xffff - rng.below(16) as u16,
        1 => rng.below(32) as u16,
        _ => rng.next() as u16,
    };
    let count = |rng: &mut XorShift| match rng.below(3) {
        0 => rng.below(4) as u16,
        1 => 0xffff - rng.below(4) as u16,
        _ => rng.next() as u16,
    };
    for case in 0..CASES {
        let (first, length) = (port(&mut rng), count(&mut rng));
        let (other, other_length) = (port(&mut rng), count(&mut rng));
        let (start, end) = (u64::from(first), u64::from(first) + u64::from(length));
        let (other_start, other_end) =
            (u64::from(other), u64::from(other) + u64::from(other_length));
        // Some port in both: the intersection is not empty.
        let expected = start.max(other_start) < end.min(other_end);
        assert_eq!(
            ranges_overlap(first, length, other, other_length),
            expected,
            "case {case}: [{first:#x}+{length:#x}) and [{other:#x}+{other_length:#x})"
        );
        assert_eq!(
            ranges_overlap(first, length, other, other_length),
            ranges_overlap(other, other_length, first, length),
            "case {case}: not symmetric"
        );
        assert_eq!(
            port_range_is_valid(first, length),
            length > 0 && end <= 0x1_0000
        );
    }
}

#[test]
fn every_configuration_write_is_classified_like_a_byte_by_byte_model() {
    for offset in 0..=255u8 {
        for width in 0..=8u8 {
            let touched = u16::from(offset)..u16::from(offset) + u16::from(width);
            let expected = touched.clone().any(|byte| {
                PROTECTED_CONFIG_RANGES
                    .iter()
                    .any(|&(first, last)| (first..last).contains(&byte))
            });
            assert_eq!(
                config_write_is_protected(offset, width),
                expected,
                "{width} bytes at {offset:#x}"
            );
        }
    }
}
