//! The extension bundle: every extension image packed into one blob that
//! the kernel carries (xtask writes it, the kernel reads it at boot).
//!
//! Layout (little endian): magic `NIMBNDL1`, `u32` entry count, then per
//! entry: `u16` name length, the UTF-8 name, `u64` image length, the image
//! bytes. Names are 1..=31 bytes of `[a-z0-9_-]`, unique.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// First eight bytes of every bundle.
pub const BUNDLE_MAGIC: &[u8; 8] = b"NIMBNDL1";
/// Longest extension name.
pub const MAX_NAME_BYTES: usize = 31;

/// One image in a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BundleEntry<'a> {
    /// The extension's name.
    pub name: &'a str,
    /// Its ELF image.
    pub image: &'a [u8],
}

/// Why a bundle was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleError {
    /// The magic is missing.
    NotABundle,
    /// The bundle ends inside entry `index`.
    Truncated {
        /// Entry index.
        index: u32,
    },
    /// Entry `index` has an empty, long or badly spelled name.
    BadName {
        /// Entry index.
        index: u32,
    },
    /// Two entries share a name.
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Bytes follow the last entry.
    TrailingBytes,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::NotABundle => f.write_str("not an extension bundle (bad magic)"),
            BundleError::Truncated { index } => write!(f, "bundle truncated in entry {index}"),
            BundleError::BadName { index } => write!(
                f,
                "entry {index} has a bad name (1..={MAX_NAME_BYTES} bytes of a-z, 0-9, '-', '_')"
            ),
            BundleError::DuplicateName { name } => write!(f, "two entries are named {name}"),
            BundleError::TrailingBytes => f.write_str("bytes after the last bundle entry"),
        }
    }
}

impl core::error::Error for BundleError {}

/// Is `name` acceptable as an extension name?
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_'
        })
}

fn take<'a>(bytes: &mut &'a [u8], count: usize) -> Option<&'a [u8]> {
    if bytes.len() < count {
        return None;
    }
    let (head, tail) = bytes.split_at(count);
    *bytes = tail;
    Some(head)
}

fn take_array<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let mut array = [0u8; N];
    array.copy_from_slice(take(bytes, N)?);
    Some(array)
}

/// Reads every entry of `bundle`. An empty slice is an empty bundle (a
/// kernel built without extensions). Never panics.
pub fn parse_bundle(bundle: &[u8]) -> Result<Vec<BundleEntry<'_>>, BundleError> {
    if bundle.is_empty() {
        return Ok(Vec::new());
    }
    let mut rest = bundle;
    if take(&mut rest, 8) != Some(BUNDLE_MAGIC.as_slice()) {
        return Err(BundleError::NotABundle);
    }
    let count = take_array::<4>(&mut rest)
        .map(u32::from_le_bytes)
        .ok_or(BundleError::Truncated { index: 0 })?;
    let mut entries: Vec<BundleEntry<'_>> = Vec::new();
    for index in 0..count {
        let truncated = BundleError::Truncated { index };
        let name_length = take_array::<2>(&mut rest)
            .map(u16::from_le_bytes)
            .ok_or(truncated.clone())?;
        let name = take(&mut rest, usize::from(name_length)).ok_or(truncated.clone())?;
        let name = core::str::from_utf8(name)
            .ok()
            .filter(|name| is_valid_name(name))
            .ok_or(BundleError::BadName { index })?;
        if entries.iter().any(|entry| entry.name == name) {
            return Err(BundleError::DuplicateName {
                name: String::from(name),
            });
        }
        let image_length = take_array::<8>(&mut rest)
            .map(u64::from_le_bytes)
            .ok_or(truncated.clone())?;
        let image_length = usize::try_from(image_length).map_err(|_| truncated.clone())?;
        let image = take(&mut rest, image_length).ok_or(truncated)?;
        entries.push(BundleEntry { name, image });
    }
    if !rest.is_empty() {
        return Err(BundleError::TrailingBytes);
    }
    Ok(entries)
}

/// Packs `entries` into a bundle (what xtask does). Refuses bad or
/// duplicate names with the same errors [`parse_bundle`] gives.
pub fn write_bundle(entries: &[BundleEntry<'_>]) -> Result<Vec<u8>, BundleError> {
    let mut bundle = Vec::new();
    bundle.extend_from_slice(BUNDLE_MAGIC);
    let count = u32::try_from(entries.len()).map_err(|_| BundleError::TrailingBytes)?;
    bundle.extend_from_slice(&count.to_le_bytes());
    for (index, entry) in entries.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        if !is_valid_name(entry.name) {
            return Err(BundleError::BadName { index });
        }
        if entries
            .iter()
            .filter(|other| other.name == entry.name)
            .count()
            > 1
        {
            return Err(BundleError::DuplicateName {
                name: String::from(entry.name),
            });
        }
        let name_length =
            u16::try_from(entry.name.len()).map_err(|_| BundleError::BadName { index })?;
        bundle.extend_from_slice(&name_length.to_le_bytes());
        bundle.extend_from_slice(entry.name.as_bytes());
        bundle.extend_from_slice(&(entry.image.len() as u64).to_le_bytes());
        bundle.extend_from_slice(entry.image);
    }
    Ok(bundle)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use deterministic_rng::XorShift;

    fn sample() -> Vec<u8> {
        write_bundle(&[
            BundleEntry {
                name: "crashtest",
                image: b"\x7fELF-one",
            },
            BundleEntry {
                name: "e1000",
                image: b"",
            },
            BundleEntry {
                name: "web_server-2",
                image: &[7u8; 300],
            },
        ])
        .unwrap()
    }

    #[test]
    fn round_trip_keeps_names_images_and_order() {
        let bundle = sample();
        let entries = parse_bundle(&bundle).unwrap();
        let names: Vec<&str> = entries.iter().map(|entry| entry.name).collect();
        assert_eq!(names, ["crashtest", "e1000", "web_server-2"]);
        assert_eq!(entries[0].image, b"\x7fELF-one");
        assert!(entries[1].image.is_empty());
        assert_eq!(entries[2].image, &[7u8; 300][..]);
    }

    #[test]
    fn empty_input_is_an_empty_bundle_but_bad_magic_is_refused() {
        assert_eq!(parse_bundle(&[]), Ok(Vec::new()));
        assert_eq!(
            parse_bundle(b"NIMBNDL2\0\0\0\0"),
            Err(BundleError::NotABundle)
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let bundle = sample();
        for length in 1..bundle.len() {
            assert!(parse_bundle(&bundle[..length]).is_err(), "length {length}");
        }
    }

    #[test]
    fn bad_and_duplicate_names_are_refused_both_ways() {
        for name in ["", "Upper", "has space", "a/b", "x".repeat(32).as_str()] {
            let entry = BundleEntry { name, image: b"" };
            assert!(matches!(
                write_bundle(&[entry]),
                Err(BundleError::BadName { index: 0 })
            ));
        }
        let entry = BundleEntry {
            name: "twice",
            image: b"",
        };
        assert!(matches!(
            write_bundle(&[entry, entry]),
            Err(BundleError::DuplicateName { .. })
        ));
        let mut bundle = write_bundle(&[entry]).unwrap();
        bundle[8] = 2;
        let entry_bytes = bundle[12..].to_vec();
        bundle.extend_from_slice(&entry_bytes);
        assert!(matches!(
            parse_bundle(&bundle),
            Err(BundleError::DuplicateName { .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bundle = sample();
        bundle.push(0);
        assert_eq!(parse_bundle(&bundle), Err(BundleError::TrailingBytes));
    }

    #[test]
    fn random_mutations_never_panic() {
        let original = sample();
        let mut random = XorShift(0xb0d1e);
        for _ in 0..20_000 {
            let mut bundle = original.clone();
            for _ in 0..=random.below(4) {
                let at = random.below(bundle.len() as u64) as usize;
                bundle[at] = random.next() as u8;
            }
            let _ = parse_bundle(&bundle);
        }
    }
}
