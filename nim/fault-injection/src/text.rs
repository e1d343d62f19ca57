//! The code of an extension image that code mutations may change: its
//! executable segments, cut into functions by the image's symbol table.
//!
//! Which code is eligible: every function (`STT_FUNC` symbol with a size)
//! in the file-backed part of an executable segment, except what every
//! extension links in from elsewhere — the Nooks model mutates a driver
//! module's own code, not the kernel's library it calls:
//! - the runtime the project provides ([`RUNTIME_CRATES`]:
//!   `extension_api`, `extension_abi`, `deliberate_fault`): service stubs,
//!   message codec, crash code, heap set-up;
//! - the Rust library, compiler builtins and locks ([`LIBRARY_CRATES`]:
//!   `core`, `alloc`, `compiler_builtins`, the runtime's allocator
//!   `linked_list_allocator`, the lock crates `spin`, `spinning_top`,
//!   `lock_api`, and [`LIBRARY_SYMBOLS`] such as `memcpy`), the
//!   counterpart of what a Linux module gets from the kernel (string and
//!   formatting code, `memcpy`, `kmalloc`, spin locks).
//!
//! Two runtime functions are eligible all the same
//! ([`DRIVER_INSTANTIATIONS`]): the entry stub `_start` that the API's
//! `extension!` macro emits in the driver's crate and
//! `extension_api::kernel::dispatch`, the generic dispatch of the kernel's
//! entry operations; the compiler instantiates both for each extension
//! and inlines the extension's own entry code (its operations, interrupt
//! and timer handlers, device operations) into them.
//!
//! Library code the compiler inlined into the driver's functions stays in
//! them and is eligible, as are other crates the driver uses (its own
//! helper crates, e.g. `rtc`'s clock logic). An image without a symbol table is taken whole:
//! every executable segment is one range, decoded from its first byte.
//!
//! Invariants: ranges do not overlap, lie inside the image's executable
//! segments, and are sorted by offset; a malformed symbol table gives a
//! [`TextError`], never a panic.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use extension_image::{ImageLimits, SegmentRights, ValidatedImage};

/// Crates of the runtime the project provides (not mutated).
pub const RUNTIME_CRATES: [&str; 3] = ["extension_api", "extension_abi", "deliberate_fault"];
/// Library crates every extension links in (not mutated).
pub const LIBRARY_CRATES: [&str; 7] = [
    "core",
    "alloc",
    "compiler_builtins",
    "linked_list_allocator",
    "spin",
    "spinning_top",
    "lock_api",
];
/// Runtime functions instantiated for each extension with the extension's
/// own code inlined into them (the entry stub the API's `extension!` macro
/// emits, the generic dispatch of the kernel's entry operations): driver
/// code, eligible.
pub const DRIVER_INSTANTIATIONS: [&str; 2] = ["_start", "extension_api::kernel::dispatch"];
/// Symbols of the library that carry no crate path: the memory routines
/// of `compiler_builtins`.
pub const LIBRARY_SYMBOLS: [&str; 5] = ["memcpy", "memmove", "memset", "memcmp", "bcmp"];

const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const STT_FUNC: u8 = 2;
const SECTION_HEADER_SIZE: usize = 64;
const SYMBOL_SIZE: usize = 24;

/// One function of the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSymbol {
    /// Its symbol name, as in the image (mangled).
    pub name: String,
    /// Image offset of its first byte.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Does it belong to the runtime or library every extension links in
    /// (not eligible)?
    pub runtime: bool,
}

/// A range of code to decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRange<'a> {
    /// Image offset of the first byte.
    pub offset: u64,
    /// The bytes (as in the image file: text is never relocated).
    pub bytes: &'a [u8],
    /// The function it is, if the image has symbols.
    pub function: Option<String>,
}

/// Why an image's text could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextError {
    /// The image does not validate.
    Image(String),
    /// The section headers or symbol table are malformed.
    MalformedSymbols,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Image(reason) => write!(f, "image refused: {reason}"),
            TextError::MalformedSymbols => f.write_str("the image's symbol table is malformed"),
        }
    }
}

/// The eligible code of one image.
#[derive(Clone, Debug)]
pub struct ExtensionText<'a> {
    ranges: Vec<CodeRange<'a>>,
    functions: Vec<FunctionSymbol>,
    has_symbols: bool,
}

impl<'a> ExtensionText<'a> {
    /// Reads the eligible code of `image` (an extension's ELF file).
    pub fn from_image(image: &'a [u8]) -> Result<Self, TextError> {
        let validated = extension_image::validate(image, &ImageLimits::default())
            .map_err(|error| TextError::Image(error.to_string()))?;
        Self::from_validated(&validated)
    }

    /// Reads the eligible code of an already validated image.
    pub fn from_validated(image: &ValidatedImage<'a>) -> Result<Self, TextError> {
        let executable: Vec<(u64, &'a [u8])> = image
            .segments()
            .iter()
            .filter(|segment| segment.rights == SegmentRights::ReadExecute)
            .map(|segment| (segment.virtual_offset, image.segment_file_bytes(segment)))
            .collect();
        let symbols = function_symbols(image.bytes())?;
        let Some(symbols) = symbols else {
            let ranges = executable
                .iter()
                .map(|&(offset, bytes)| CodeRange {
                    offset,
                    bytes,
                    function: None,
                })
                .collect();
            return Ok(Self {
                ranges,
                functions: Vec::new(),
                has_symbols: false,
            });
        };
        let mut functions: Vec<FunctionSymbol> = symbols
            .into_iter()
            .filter(|symbol| {
                executable.iter().any(|&(start, bytes)| {
                    symbol.offset >= start
                        && symbol
                            .offset
                            .checked_add(symbol.size)
                            .is_some_and(|end| end <= start + bytes.len() as u64)
                })
            })
            .collect();
        // Aliases (two names, one body) count once: the first name in
        // sort order.
        functions.sort_by(|a, b| a.offset.cmp(&b.offset).then_with(|| a.name.cmp(&b.name)));
        functions.dedup_by_key(|symbol| symbol.offset);
        let mut ranges = Vec::new();
        let mut covered_to = 0u64;
        for function in functions.iter().filter(|function| !function.runtime) {
            // Overlapping symbols (rare): keep the part not yet covered.
            let start = function.offset.max(covered_to);
            let end = function.offset + function.size;
            if start >= end {
                continue;
            }
            let Some(&(segment_start, bytes)) =
                executable.iter().find(|&&(segment_start, bytes)| {
                    start >= segment_start && end <= segment_start + bytes.len() as u64
                })
            else {
                continue;
            };
            let Some(slice) =
                bytes.get((start - segment_start) as usize..(end - segment_start) as usize)
            else {
                continue;
            };
            ranges.push(CodeRange {
                offset: start,
                bytes: slice,
                function: Some(function.name.clone()),
            });
            covered_to = end;
        }
        Ok(Self {
            ranges,
            functions,
            has_symbols: true,
        })
    }

    /// Text made of the given functions (name, image offset, bytes), all
    /// eligible: for tests and tools that have code but no image.
    /// Functions must be given in offset order and must not overlap.
    pub fn from_functions(functions: &[(&str, u64, &'a [u8])]) -> Self {
        Self {
            ranges: functions
                .iter()
                .map(|&(name, offset, bytes)| CodeRange {
                    offset,
                    bytes,
                    function: Some(name.to_string()),
                })
                .collect(),
            functions: functions
                .iter()
                .map(|&(name, offset, bytes)| FunctionSymbol {
                    name: name.to_string(),
                    offset,
                    size: bytes.len() as u64,
                    runtime: false,
                })
                .collect(),
            has_symbols: true,
        }
    }

    /// The ranges to decode, sorted by offset.
    pub fn ranges(&self) -> &[CodeRange<'a>] {
        &self.ranges
    }

    /// Every function of the image (runtime included), sorted by offset.
    pub fn functions(&self) -> &[FunctionSymbol] {
        &self.functions
    }

    /// Did the image have a symbol table?
    pub fn has_symbols(&self) -> bool {
        self.has_symbols
    }

    /// The function containing image offset `offset` and the offset inside
    /// it.
    pub fn site_of(&self, offset: u64) -> Option<(&str, u64)> {
        let index = self
            .functions
            .partition_point(|function| function.offset <= offset)
            .checked_sub(1)?;
        let function = &self.functions[index];
        (offset < function.offset + function.size)
            .then(|| (function.name.as_str(), offset - function.offset))
    }
}

/// Is the (mangled) symbol `name` part of the runtime or library every
/// extension links in?
pub fn is_runtime_symbol(name: &str) -> bool {
    if LIBRARY_SYMBOLS.contains(&name) {
        return true;
    }
    let demangled = alloc::format!("{:#}", rustc_demangle::demangle(name));
    if DRIVER_INSTANTIATIONS.contains(&demangled.as_str()) {
        return false;
    }
    let krate = owning_crate(&demangled);
    RUNTIME_CRATES
        .iter()
        .chain(&LIBRARY_CRATES)
        .any(|known| *known == krate)
}

/// The crate a demangled function path belongs to: its first path
/// segment; for `<Type as Trait>::method`, the crate of `Type`, or of
/// `Trait` when `Type` is a primitive or a reference to one.
fn owning_crate(path: &str) -> &str {
    let inner = path.trim_start_matches(['<', '&', '*']);
    let inner = inner
        .strip_prefix("mut ")
        .or_else(|| inner.strip_prefix("const "))
        .or_else(|| inner.strip_prefix("dyn "))
        .unwrap_or(inner);
    let first_segment = |text: &'_ str| -> Option<usize> {
        let end = text.find("::")?;
        (!text[..end].contains(['<', '>', '[', '(', ' ', '&'])).then_some(end)
    };
    let self_type = inner.split(" as ").next().unwrap_or(inner);
    if let Some(end) = first_segment(self_type) {
        return &inner[..end];
    }
    if let Some((_, trait_path)) = inner.split_once(" as ")
        && let Some(end) = first_segment(trait_path)
    {
        return &trait_path[..end];
    }
    inner
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// The function symbols of an ELF64 file, or `None` without a `.symtab`.
fn function_symbols(image: &[u8]) -> Result<Option<Vec<FunctionSymbol>>, TextError> {
    let malformed = || TextError::MalformedSymbols;
    let table_offset = read_u64(image, 0x28).ok_or_else(malformed)? as usize;
    let entry_size = usize::from(read_u16(image, 0x3a).ok_or_else(malformed)?);
    let count = usize::from(read_u16(image, 0x3c).ok_or_else(malformed)?);
    if table_offset == 0 || count == 0 {
        return Ok(None);
    }
    if entry_size != SECTION_HEADER_SIZE {
        return Err(malformed());
    }
    let section = |index: usize| -> Option<(u32, usize, usize, u32)> {
        let at = table_offset.checked_add(index.checked_mul(SECTION_HEADER_SIZE)?)?;
        Some((
            read_u32(image, at.checked_add(4)?)?,
            usize::try_from(read_u64(image, at.checked_add(24)?)?).ok()?,
            usize::try_from(read_u64(image, at.checked_add(32)?)?).ok()?,
            read_u32(image, at.checked_add(40)?)?,
        ))
    };
    let mut symbol_table = None;
    for index in 0..count {
        let (kind, ..) = section(index).ok_or_else(malformed)?;
        if kind == SHT_SYMTAB {
            symbol_table = Some(index);
            break;
        }
    }
    let Some(symbol_table) = symbol_table else {
        return Ok(None);
    };
    let (_, offset, size, link) = section(symbol_table).ok_or_else(malformed)?;
    let entries = image
        .get(offset..offset.checked_add(size).ok_or_else(malformed)?)
        .ok_or_else(malformed)?;
    let (names_kind, names_offset, names_size, _) = section(link as usize).ok_or_else(malformed)?;
    if names_kind != SHT_STRTAB {
        return Err(malformed());
    }
    let names = image
        .get(names_offset..names_offset.checked_add(names_size).ok_or_else(malformed)?)
        .ok_or_else(malformed)?;
    let mut functions = Vec::new();
    for entry in entries.chunks_exact(SYMBOL_SIZE) {
        let name_offset = read_u32(entry, 0).ok_or_else(malformed)? as usize;
        let info = entry[4];
        let section_index = read_u16(entry, 6).ok_or_else(malformed)?;
        let value = read_u64(entry, 8).ok_or_else(malformed)?;
        let size = read_u64(entry, 16).ok_or_else(malformed)?;
        if info & 0xf != STT_FUNC || section_index == 0 || size == 0 {
            continue;
        }
        let name_bytes = names.get(name_offset..).ok_or_else(malformed)?;
        let length = name_bytes
            .iter()
            .position(|&byte| byte == 0)
            .ok_or_else(malformed)?;
        let name = core::str::from_utf8(&name_bytes[..length]).map_err(|_| malformed())?;
        functions.push(FunctionSymbol {
            name: name.to_string(),
            offset: value,
            size,
            runtime: is_runtime_symbol(name),
        });
    }
    Ok(Some(functions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_symbols_are_told_apart() {
        assert!(!is_runtime_symbol("_start"));
        assert!(!is_runtime_symbol(
            "_ZN13extension_api6kernel8dispatch17h0123456789abcdefE"
        ));
        assert!(is_runtime_symbol(
            "_ZN13extension_api6kernel12grant_memory17h0123456789abcdefE"
        ));
        assert!(is_runtime_symbol(
            "_ZN13extension_abi7message13MessageReader3u6417h0123456789abcdefE"
        ));
        assert!(is_runtime_symbol(
            "_ZN16deliberate_fault7trigger17h0123456789abcdefE"
        ));
        assert!(is_runtime_symbol(
            "_ZN68_$LT$extension_api..text..TextCursor$u20$as$u20$core..fmt..Write$GT$9write_str17h9de2ee56a563dd6dE"
        ));
        assert!(!is_runtime_symbol(
            "_ZN9crashtest9interface8dispatch17h0123456789abcdefE"
        ));
        assert!(!is_runtime_symbol(
            "_ZN70_$LT$crashtest..Crashtest$u20$as$u20$crashtest..interface..Entries$GT$7release17h858278b4b43e39a8E"
        ));
        assert!(is_runtime_symbol("memcpy"));
        assert!(is_runtime_symbol(
            "_ZN4core9panicking5panic17h0123456789abcdefE"
        ));
        assert!(is_runtime_symbol(
            "_RNvNtNtCsg3SjgaGcPXb_4core3str5count14do_count_chars"
        ));
        assert!(is_runtime_symbol(
            "_RNvXs8_NtNtNtCsg3SjgaGcPXb_4core3fmt3num3impmNtB9_7Display3fmt"
        ));
        assert_eq!(owning_crate("<u64 as core::fmt::Display>::fmt"), "core");
        assert_eq!(owning_crate("<&T as core::fmt::Display>::fmt"), "core");
        assert_eq!(
            owning_crate("<crashtest::Crashtest as extension_api::Extension>::init"),
            "crashtest"
        );
        assert_eq!(
            owning_crate("spin::once::Once<T,R>::try_call_once_slow"),
            "spin"
        );
        assert!(is_runtime_symbol(
            "_ZN4spin4once17Once$LT$T$C$R$GT$18try_call_once_slow17h6fbeb6aad579c1d9E"
        ));
        // A crate whose name only starts like a runtime crate's.
        assert!(!is_runtime_symbol(
            "_ZN17extension_api_foo3bar17h0123456789abcdefE"
        ));
    }
}
