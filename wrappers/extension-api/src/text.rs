//! Formatting into a fixed buffer, without the heap.

/// Formats text into a borrowed byte buffer: what does not fit is cut at a
/// character boundary, so the written part is always valid UTF-8.
#[derive(Debug)]
pub struct TextCursor<'a> {
    buffer: &'a mut [u8],
    length: usize,
}

impl<'a> TextCursor<'a> {
    /// An empty cursor at the start of `buffer`.
    pub fn new(buffer: &'a mut [u8]) -> Self {
        Self { buffer, length: 0 }
    }

    /// How many bytes were written.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Was nothing written?
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The text written so far.
    pub fn text(&self) -> &str {
        // Only whole characters are ever written.
        core::str::from_utf8(&self.buffer[..self.length]).unwrap_or("")
    }
}

impl core::fmt::Write for TextCursor<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for character in text.chars() {
            let mut encoded = [0u8; 4];
            let encoded = character.encode_utf8(&mut encoded).as_bytes();
            let end = self.length + encoded.len();
            if end > self.buffer.len() {
                break;
            }
            self.buffer[self.length..end].copy_from_slice(encoded);
            self.length = end;
        }
        Ok(())
    }
}
