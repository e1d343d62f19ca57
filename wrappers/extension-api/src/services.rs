//! Conveniences over the generated service functions in [`crate::kernel`].

use crate::kernel::{self, Level};
use crate::runtime::FixedText;
use core::fmt::Write;

pub use crate::runtime::generation;

/// Writes a formatted log line through the kernel's logger (at most 255
/// bytes; longer lines are cut at a character boundary).
pub fn log(level: Level, arguments: core::fmt::Arguments<'_>) {
    let mut text = FixedText::<255>::new();
    let _ = text.write_fmt(arguments);
    let length = text.length;
    if let Ok(line) = core::str::from_utf8(&text.bytes[..length]) {
        let _ = kernel::log(level, line);
    }
}

/// Logs a line at info level.
pub fn log_info(text: &str) {
    log(Level::Info, format_args!("{text}"));
}
