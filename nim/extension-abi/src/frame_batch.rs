//! The encoding of several Ethernet frames in one message (`deliver-packets`,
//! `network-transmit-batch`): each frame as a little-endian `u16` length and
//! then that many bytes, nothing after the last.
//!
//! Invariants: a [`FrameBatchWriter`] only ever holds a well-formed batch;
//! [`frames`] yields exactly `count` frames of 1 to [`MAX_FRAME_BYTES`]
//! bytes or reports the first malformation, never reading past the buffer.

/// The largest Ethernet frame a batch carries (no frame check sequence).
pub const MAX_FRAME_BYTES: usize = 1514;
/// Bytes of the length before each frame.
pub const LENGTH_BYTES: usize = 2;

/// Why a batch is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchError {
    /// A length prefix is cut off, or a frame runs past the end.
    Truncated,
    /// A frame is empty or longer than [`MAX_FRAME_BYTES`].
    BadLength(usize),
    /// Bytes follow the last of `count` frames.
    TrailingBytes,
}

/// Appends frames to a caller's buffer.
pub struct FrameBatchWriter<'a> {
    buffer: &'a mut [u8],
    used: usize,
    count: u16,
}

impl<'a> FrameBatchWriter<'a> {
    /// An empty batch over `buffer`.
    pub fn new(buffer: &'a mut [u8]) -> FrameBatchWriter<'a> {
        FrameBatchWriter {
            buffer,
            used: 0,
            count: 0,
        }
    }

    /// Would a frame of `length` bytes still fit?
    pub fn fits(&self, length: usize) -> bool {
        (1..=MAX_FRAME_BYTES).contains(&length)
            && self.count < u16::MAX
            && self.buffer.len() - self.used >= LENGTH_BYTES + length
    }

    /// Appends `frame`; false (and nothing written) if it does not fit or
    /// is not a valid frame length.
    pub fn push(&mut self, frame: &[u8]) -> bool {
        if !self.fits(frame.len()) {
            return false;
        }
        let start = self.used;
        self.buffer[start..start + LENGTH_BYTES]
            .copy_from_slice(&(frame.len() as u16).to_le_bytes());
        self.buffer[start + LENGTH_BYTES..start + LENGTH_BYTES + frame.len()]
            .copy_from_slice(frame);
        self.used += LENGTH_BYTES + frame.len();
        self.count += 1;
        true
    }

    /// Frames in the batch.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Is the batch empty?
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded batch.
    pub fn bytes(&self) -> &[u8] {
        &self.buffer[..self.used]
    }

    /// Empties the batch.
    pub fn clear(&mut self) {
        self.used = 0;
        self.count = 0;
    }
}

/// The `count` frames of `batch`, in order; an error for a malformed batch
/// (after the frames before the malformation).
pub fn frames(batch: &[u8], count: u16) -> Frames<'_> {
    Frames {
        rest: batch,
        left: count,
        failed: false,
    }
}

/// Iterator over a batch's frames (see [`frames`]).
pub struct Frames<'a> {
    rest: &'a [u8],
    left: u16,
    failed: bool,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            if self.rest.is_empty() {
                return None;
            }
            self.failed = true;
            return Some(Err(BatchError::TrailingBytes));
        }
        let result = (|| {
            let (length, rest) = self
                .rest
                .split_first_chunk::<LENGTH_BYTES>()
                .ok_or(BatchError::Truncated)?;
            let length = usize::from(u16::from_le_bytes(*length));
            if !(1..=MAX_FRAME_BYTES).contains(&length) {
                return Err(BatchError::BadLength(length));
            }
            if rest.len() < length {
                return Err(BatchError::Truncated);
            }
            let (frame, rest) = rest.split_at(length);
            self.rest = rest;
            Ok(frame)
        })();
        self.left -= 1;
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

/// Checks a whole batch without keeping its frames: the number of frames
/// or the first malformation.
pub fn validate(batch: &[u8], count: u16) -> Result<u16, BatchError> {
    for frame in frames(batch, count) {
        frame?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_batches_read_back_frame_for_frame() {
        let mut buffer = [0u8; 4096];
        let mut writer = FrameBatchWriter::new(&mut buffer);
        let frames_in: [&[u8]; 3] = [&[1; 60], &[2; 1514], &[3; 1]];
        for frame in frames_in {
            assert!(writer.push(frame));
        }
        assert_eq!(writer.count(), 3);
        let count = writer.count();
        let read: Vec<&[u8]> = frames(writer.bytes(), count).map(Result::unwrap).collect();
        assert_eq!(read, frames_in);
        assert_eq!(validate(writer.bytes(), 3), Ok(3));
    }

    #[test]
    fn a_full_batch_refuses_the_next_frame_and_stays_well_formed() {
        let mut buffer = [0u8; 4096];
        let mut writer = FrameBatchWriter::new(&mut buffer);
        assert!(writer.push(&[0; 1514]));
        assert!(writer.push(&[0; 1514]));
        assert!(!writer.push(&[0; 1514]), "3 × 1516 > 4096");
        assert!(writer.push(&[0; 1062]));
        assert!(!writer.push(&[0; 1]));
        assert_eq!(writer.bytes().len(), 4096);
        assert_eq!(validate(writer.bytes(), writer.count()), Ok(3));
        assert!(!writer.push(&[]), "empty frames are not frames");
        assert!(!writer.fits(1515));
        writer.clear();
        assert!(writer.is_empty() && writer.bytes().is_empty());
    }

    #[test]
    fn malformed_batches_are_reported_without_reading_past_the_end() {
        assert_eq!(validate(&[], 0), Ok(0));
        assert_eq!(validate(&[], 1), Err(BatchError::Truncated));
        assert_eq!(validate(&[5], 1), Err(BatchError::Truncated));
        assert_eq!(validate(&[5, 0, 1, 2], 1), Err(BatchError::Truncated));
        assert_eq!(validate(&[0, 0], 1), Err(BatchError::BadLength(0)));
        assert_eq!(
            validate(&1515u16.to_le_bytes(), 1),
            Err(BatchError::BadLength(1515))
        );
        assert_eq!(validate(&[1, 0, 9, 7], 1), Err(BatchError::TrailingBytes));
        // The frames before a malformation come out first.
        let mut iterator = frames(&[1, 0, 9, 0, 0], 2);
        assert_eq!(iterator.next(), Some(Ok(&[9u8][..])));
        assert_eq!(iterator.next(), Some(Err(BatchError::BadLength(0))));
        assert_eq!(iterator.next(), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let length = (state % 64) as usize;
            let bytes: Vec<u8> = (0..length).map(|i| (state >> (i % 56)) as u8 & 7).collect();
            let count = (state >> 40) as u16 % 8;
            let total: usize = frames(&bytes, count)
                .map_while(Result::ok)
                .map(<[u8]>::len)
                .sum();
            assert!(total <= bytes.len());
        }
    }
}
