//! Conveniences over the generated service functions in [`crate::kernel`].

use crate::TextCursor;
use crate::kernel::{self, Level};
use core::fmt::Write;

pub use crate::runtime::generation;

/// Writes a formatted log line through the kernel's logger (at most 255
/// bytes; longer lines are cut at a character boundary).
pub fn log(level: Level, arguments: core::fmt::Arguments<'_>) {
    let mut buffer = [0u8; 255];
    let mut text = TextCursor::new(&mut buffer);
    let _ = text.write_fmt(arguments);
    let _ = kernel::log(level, text.text());
}

/// Logs a line at info level.
pub fn log_info(text: &str) {
    log(Level::Info, format_args!("{text}"));
}
