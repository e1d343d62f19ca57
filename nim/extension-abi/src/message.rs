//! Reading and writing the little-endian messages that cross the boundary.

use core::fmt;

/// Why a message could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// The message ended before the value.
    TooShort,
    /// The buffer has no room for the value.
    NoRoom,
    /// Text that is not UTF-8.
    NotUtf8,
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageError::TooShort => "message too short",
            MessageError::NoRoom => "no room in the message buffer",
            MessageError::NotUtf8 => "text is not UTF-8",
        })
    }
}

impl core::error::Error for MessageError {}

/// Reads values in order from a received message.
#[derive(Clone, Debug)]
pub struct MessageReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> MessageReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    /// The next `count` bytes.
    pub fn bytes(&mut self, count: usize) -> Result<&'a [u8], MessageError> {
        let end = self
            .position
            .checked_add(count)
            .ok_or(MessageError::TooShort)?;
        let slice = self
            .bytes
            .get(self.position..end)
            .ok_or(MessageError::TooShort)?;
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], MessageError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.bytes(N)?);
        Ok(array)
    }

    /// The next byte.
    pub fn u8(&mut self) -> Result<u8, MessageError> {
        Ok(self.array::<1>()?[0])
    }

    /// The next little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, MessageError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// The next little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, MessageError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// The next little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, MessageError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.position.min(self.bytes.len())..];
        self.position = self.bytes.len();
        rest
    }

    /// Everything not read yet, as UTF-8 text.
    pub fn rest_text(&mut self) -> Result<&'a str, MessageError> {
        core::str::from_utf8(self.rest()).map_err(|_| MessageError::NotUtf8)
    }
}

/// Writes values in order into a message buffer.
#[derive(Debug)]
pub struct MessageWriter<'a> {
    buffer: &'a mut [u8],
    position: usize,
}

impl<'a> MessageWriter<'a> {
    /// A writer at the start of `buffer`.
    pub fn new(buffer: &'a mut [u8]) -> Self {
        Self {
            buffer,
            position: 0,
        }
    }

    /// Appends raw bytes.
    pub fn put_bytes(&mut self, bytes: &[u8]) -> Result<(), MessageError> {
        let end = self
            .position
            .checked_add(bytes.len())
            .ok_or(MessageError::NoRoom)?;
        self.buffer
            .get_mut(self.position..end)
            .ok_or(MessageError::NoRoom)?
            .copy_from_slice(bytes);
        self.position = end;
        Ok(())
    }

    /// Appends a byte.
    pub fn put_u8(&mut self, value: u8) -> Result<(), MessageError> {
        self.put_bytes(&[value])
    }

    /// Appends a little-endian `u16`.
    pub fn put_u16(&mut self, value: u16) -> Result<(), MessageError> {
        self.put_bytes(&value.to_le_bytes())
    }

    /// Appends a little-endian `u32`.
    pub fn put_u32(&mut self, value: u32) -> Result<(), MessageError> {
        self.put_bytes(&value.to_le_bytes())
    }

    /// Appends a little-endian `u64`.
    pub fn put_u64(&mut self, value: u64) -> Result<(), MessageError> {
        self.put_bytes(&value.to_le_bytes())
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.position
    }

    /// Nothing written yet?
    pub fn is_empty(&self) -> bool {
        self.position == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deterministic_rng::XorShift;

    #[test]
    fn values_round_trip_in_order() {
        let mut buffer = [0u8; 64];
        let mut writer = MessageWriter::new(&mut buffer);
        writer.put_u8(0xab).unwrap();
        writer.put_u16(0x1234).unwrap();
        writer.put_u32(0xdead_beef).unwrap();
        writer.put_u64(u64::MAX - 1).unwrap();
        writer.put_bytes(b"text").unwrap();
        let length = writer.len();
        assert_eq!(length, 1 + 2 + 4 + 8 + 4);
        let mut reader = MessageReader::new(&buffer[..length]);
        assert_eq!(reader.u8(), Ok(0xab));
        assert_eq!(reader.u16(), Ok(0x1234));
        assert_eq!(reader.u32(), Ok(0xdead_beef));
        assert_eq!(reader.u64(), Ok(u64::MAX - 1));
        assert_eq!(reader.rest_text(), Ok("text"));
        assert_eq!(reader.u8(), Err(MessageError::TooShort));
    }

    #[test]
    fn writer_refuses_overflow_and_keeps_what_fit() {
        let mut buffer = [0u8; 5];
        let mut writer = MessageWriter::new(&mut buffer);
        writer.put_u32(1).unwrap();
        assert_eq!(writer.put_u16(2), Err(MessageError::NoRoom));
        assert_eq!(writer.len(), 4);
        writer.put_u8(9).unwrap();
        assert_eq!(writer.put_u8(9), Err(MessageError::NoRoom));
    }

    #[test]
    fn reader_never_panics_on_random_messages() {
        let mut random = XorShift(0x5eed);
        for _ in 0..10_000 {
            let length = random.below(24) as usize;
            let bytes: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
            let mut reader = MessageReader::new(&bytes);
            let mut consumed = 0usize;
            loop {
                let step = match random.below(6) {
                    0 => reader.u8().map(|_| 1),
                    1 => reader.u16().map(|_| 2),
                    2 => reader.u32().map(|_| 4),
                    3 => reader.u64().map(|_| 8),
                    4 => reader
                        .bytes(random.next() as usize)
                        .map(|slice| slice.len()),
                    _ => {
                        let _ = reader.rest_text();
                        break;
                    }
                };
                match step {
                    Ok(size) => consumed += size,
                    Err(error) => {
                        assert_eq!(error, MessageError::TooShort);
                        break;
                    }
                }
            }
            assert!(consumed <= length);
        }
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut reader = MessageReader::new(&[0xff, 0xfe]);
        assert_eq!(reader.rest_text(), Err(MessageError::NotUtf8));
    }
}
