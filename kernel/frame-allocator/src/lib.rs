//! Physical 4 KiB frame allocator over a caller-provided bitmap.
//!
//! The allocator owns no memory of its own: the kernel hands it a `&mut [u64]`
//! (usually carved out of physical memory at boot, then [`FrameAllocator::reserve`]d)
//! and the list of usable physical ranges from the boot memory map.
//!
//! # Invariants
//!
//! - Every frame index below [`FrameAllocator::capacity_frames`] is in exactly
//!   one of three states:
//!   - **reserved** (never usable, or reserved by [`FrameAllocator::reserve`]):
//!     it is never handed out and can never be freed;
//!   - **free**: usable and not handed out;
//!   - **allocated**: handed out by `allocate*`, returns to *free* on `free*`.
//! - The storage is split in two halves of equal length: the first half is the
//!   *free* bitmap, the second half the *allocated* bitmap (bit `i % 64` of word
//!   `i / 64` describes frame `i`). A frame is never set in both. Reserved frames
//!   are clear in both. This is why [`FrameAllocator::bitmap_words_needed`]
//!   returns two words per 64 frames.
//! - `free_count()` and `used_count()` always equal the number of set bits in
//!   the respective bitmap; `total_count() == free_count() + used_count()`.
//! - Only frames lying *entirely* inside a usable range become free; frames that
//!   merely overlap a reserved range become reserved (rounding is always in the
//!   safe direction).
//! - Frame 0 (physical address 0) is handed out like any other frame if it is
//!   usable; a kernel that treats address 0 specially should reserve it.
//! - Freeing is validated: unaligned addresses, addresses beyond the bitmap and
//!   frames that are not currently allocated (double free, reserved frames) are
//!   rejected without changing any state; `free_contiguous` is all-or-nothing.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// Size of one physical frame in bytes.
pub const FRAME_SIZE: u64 = 4096;

const BITS: usize = u64::BITS as usize;

/// A half-open range of physical addresses `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    /// First address in the range.
    pub start: u64,
    /// First address past the range.
    pub end: u64,
}

impl PhysRange {
    /// Creates the range `[start, end)`.
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// Number of bytes in the range (0 if `end <= start`).
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// True if the range holds no address.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// True if `addr` lies in `[start, end)`.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// True if the two ranges share at least one address.
    pub fn overlaps(&self, other: &PhysRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }
}

/// Why a `free` was refused. No state changes when an error is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeError {
    /// The address is not a multiple of [`FRAME_SIZE`].
    Unaligned,
    /// The address (or the end of the run) lies beyond what the bitmap tracks.
    OutOfRange,
    /// The frame is not currently allocated: a double free, or a frame that was
    /// never usable / is reserved.
    NotAllocated,
}

impl core::fmt::Display for FreeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FreeError::Unaligned => "address is not frame-aligned",
            FreeError::OutOfRange => "address is beyond the tracked physical memory",
            FreeError::NotAllocated => "frame is not allocated (double free or reserved frame)",
        })
    }
}

impl core::error::Error for FreeError {}

/// Bitmap frame allocator; see the crate documentation for its invariants.
#[derive(Debug)]
pub struct FrameAllocator<'a> {
    /// Free bitmap (1 = free).
    free: &'a mut [u64],
    /// Allocated bitmap (1 = allocated by `allocate*`).
    allocated: &'a mut [u64],
    /// Number of frames tracked (`free.len() * 64`).
    capacity: usize,
    free_count: usize,
    used_count: usize,
    /// Next-fit hint: frame index where the next search starts.
    next: usize,
}

fn get(bits: &[u64], frame: usize) -> bool {
    bits[frame / BITS] & (1 << (frame % BITS)) != 0
}

fn set(bits: &mut [u64], frame: usize, value: bool) {
    let mask = 1 << (frame % BITS);
    if value {
        bits[frame / BITS] |= mask;
    } else {
        bits[frame / BITS] &= !mask;
    }
}

fn count_ones(bits: &[u64]) -> usize {
    bits.iter().map(|w| w.count_ones() as usize).sum()
}

impl<'a> FrameAllocator<'a> {
    /// Number of `u64` bitmap words needed to track frames `[0, max_phys)`.
    ///
    /// This is two words per 64 frames (a free bitmap and an allocated bitmap).
    pub fn bitmap_words_needed(max_phys: u64) -> usize {
        let frames = max_phys.div_ceil(FRAME_SIZE);
        let words = frames.div_ceil(BITS as u64);
        (words as usize) * 2
    }

    /// Builds an allocator over `storage`.
    ///
    /// All frames start "used" (reserved); every frame lying entirely inside one
    /// of `usable` is marked free. Frames at or above the capacity of `storage`
    /// (`storage.len() / 2 * 64` frames) are ignored. Overlapping usable ranges
    /// are fine.
    pub fn new(storage: &'a mut [u64], usable: &[PhysRange]) -> Self {
        let half = storage.len() / 2;
        let (free, rest) = storage.split_at_mut(half);
        let allocated = &mut rest[..half];
        free.fill(0);
        allocated.fill(0);
        let capacity = half * BITS;
        for range in usable {
            if range.is_empty() {
                continue;
            }
            let first = range.start.div_ceil(FRAME_SIZE);
            let end = (range.end / FRAME_SIZE).min(capacity as u64);
            for frame in first..end.max(first) {
                set(free, frame as usize, true);
            }
        }
        let free_count = count_ones(free);
        Self {
            free,
            allocated,
            capacity,
            free_count,
            used_count: 0,
            next: 0,
        }
    }

    /// Number of frames the bitmap can describe.
    pub fn capacity_frames(&self) -> usize {
        self.capacity
    }

    /// Marks every frame overlapping `range` as permanently used (kernel image,
    /// the bitmap itself, boot data). Idempotent.
    ///
    /// A frame that is currently *allocated* also becomes reserved: it leaves
    /// `used_count()` and a later `free` of it returns
    /// [`FreeError::NotAllocated`].
    pub fn reserve(&mut self, range: PhysRange) {
        if range.is_empty() {
            return;
        }
        let first = (range.start / FRAME_SIZE).min(self.capacity as u64) as usize;
        let end = (range.end.div_ceil(FRAME_SIZE)).min(self.capacity as u64) as usize;
        for frame in first..end {
            if get(self.free, frame) {
                set(self.free, frame, false);
                self.free_count -= 1;
            }
            if get(self.allocated, frame) {
                set(self.allocated, frame, false);
                self.used_count -= 1;
            }
        }
    }

    /// First free frame in `[from, to)`, scanning a word at a time.
    fn find_free(&self, from: usize, to: usize) -> Option<usize> {
        let mut frame = from;
        while frame < to {
            let word = self.free[frame / BITS] >> (frame % BITS);
            if word == 0 {
                frame = (frame / BITS + 1) * BITS;
                continue;
            }
            let found = frame + word.trailing_zeros() as usize;
            return (found < to).then_some(found);
        }
        None
    }

    fn take(&mut self, frame: usize) {
        debug_assert!(get(self.free, frame) && !get(self.allocated, frame));
        set(self.free, frame, false);
        set(self.allocated, frame, true);
        self.free_count -= 1;
        self.used_count += 1;
    }

    fn give_back(&mut self, frame: usize) {
        debug_assert!(!get(self.free, frame) && get(self.allocated, frame));
        set(self.allocated, frame, false);
        set(self.free, frame, true);
        self.used_count -= 1;
        self.free_count += 1;
    }

    /// Allocates one frame (next-fit) and returns its physical address, or
    /// `None` when no frame is free.
    pub fn allocate(&mut self) -> Option<u64> {
        if self.free_count == 0 {
            return None;
        }
        let hint = self.next.min(self.capacity);
        let frame = self
            .find_free(hint, self.capacity)
            .or_else(|| self.find_free(0, hint))?;
        self.take(frame);
        self.next = frame + 1;
        Some(frame as u64 * FRAME_SIZE)
    }

    /// Allocates `count` physically contiguous frames whose first frame index is
    /// a multiple of `align_frames` (0 is treated as 1). First-fit from the
    /// lowest address, so DMA buffers come from low memory when possible.
    /// Returns `None` if `count == 0` or no such run is free.
    pub fn allocate_contiguous(&mut self, count: usize, align_frames: usize) -> Option<u64> {
        if count == 0 || count > self.free_count {
            return None;
        }
        let align = align_frames.max(1);
        let mut candidate = 0usize;
        loop {
            // Jump to the first free frame at or after candidate, then align up.
            let first_free = self.find_free(candidate, self.capacity)?;
            candidate = first_free.checked_next_multiple_of(align)?;
            let end = candidate.checked_add(count)?;
            if end > self.capacity {
                return None;
            }
            match (candidate..end).find(|&f| !get(self.free, f)) {
                None => break,
                Some(blocked) => candidate = blocked + 1,
            }
        }
        for frame in candidate..candidate + count {
            self.take(frame);
        }
        Some(candidate as u64 * FRAME_SIZE)
    }

    fn check_frame(&self, addr: u64) -> Result<usize, FreeError> {
        if !addr.is_multiple_of(FRAME_SIZE) {
            return Err(FreeError::Unaligned);
        }
        let frame = addr / FRAME_SIZE;
        if frame >= self.capacity as u64 {
            return Err(FreeError::OutOfRange);
        }
        Ok(frame as usize)
    }

    /// Returns one allocated frame to the free pool.
    pub fn free(&mut self, addr: u64) -> Result<(), FreeError> {
        let frame = self.check_frame(addr)?;
        if !get(self.allocated, frame) {
            return Err(FreeError::NotAllocated);
        }
        self.give_back(frame);
        Ok(())
    }

    /// Returns `count` contiguous allocated frames starting at `addr`.
    /// All-or-nothing: if any frame fails validation, nothing is freed.
    /// `count == 0` is a no-op (after checking `addr`).
    pub fn free_contiguous(&mut self, addr: u64, count: usize) -> Result<(), FreeError> {
        let first = self.check_frame(addr)?;
        let end = first
            .checked_add(count)
            .filter(|&end| end <= self.capacity)
            .ok_or(FreeError::OutOfRange)?;
        if (first..end).any(|f| !get(self.allocated, f)) {
            return Err(FreeError::NotAllocated);
        }
        for frame in first..end {
            self.give_back(frame);
        }
        Ok(())
    }

    /// True if the frame containing `addr` is currently allocated.
    pub fn is_allocated(&self, addr: u64) -> bool {
        let frame = addr / FRAME_SIZE;
        frame < self.capacity as u64 && get(self.allocated, frame as usize)
    }

    /// True if the frame containing `addr` is currently free.
    pub fn is_free(&self, addr: u64) -> bool {
        let frame = addr / FRAME_SIZE;
        frame < self.capacity as u64 && get(self.free, frame as usize)
    }

    /// Number of free frames.
    pub fn free_count(&self) -> usize {
        self.free_count
    }

    /// Frames that are usable (free + allocated), excluding reserved ones.
    pub fn total_count(&self) -> usize {
        self.free_count + self.used_count
    }

    /// Frames allocated by `allocate*` and not yet freed (reserved frames are
    /// not counted).
    pub fn used_count(&self) -> usize {
        self.used_count
    }

    /// Iterates over the maximal runs of free frames as physical ranges, in
    /// ascending order (for the shell's `mem` command).
    pub fn free_ranges(&self) -> impl Iterator<Item = PhysRange> + '_ {
        let mut frame = 0usize;
        core::iter::from_fn(move || {
            let start = self.find_free(frame, self.capacity)?;
            let mut end = start;
            while end < self.capacity && get(self.free, end) {
                end += 1;
            }
            frame = end;
            Some(PhysRange::new(
                start as u64 * FRAME_SIZE,
                end as u64 * FRAME_SIZE,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::vec;
    use std::vec::Vec;

    const F: u64 = FRAME_SIZE;

    fn storage(max_phys: u64) -> Vec<u64> {
        vec![0xdead_beef; FrameAllocator::bitmap_words_needed(max_phys)]
    }

    #[test]
    fn phys_range_basics() {
        let r = PhysRange::new(0x1000, 0x3000);
        assert_eq!(r.len(), 0x2000);
        assert!(!r.is_empty());
        assert!(r.contains(0x1000));
        assert!(r.contains(0x2fff));
        assert!(!r.contains(0x3000));
        assert!(!r.contains(0xfff));
        assert!(r.overlaps(&PhysRange::new(0x2fff, 0x4000)));
        assert!(!r.overlaps(&PhysRange::new(0x3000, 0x4000)));
        assert!(!r.overlaps(&PhysRange::new(0, 0x1000)));
        assert!(r.overlaps(&PhysRange::new(0, 0x10000)));
        let empty = PhysRange::new(0x2000, 0x2000);
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert!(!r.overlaps(&empty));
        let backwards = PhysRange::new(5, 1);
        assert!(backwards.is_empty());
        assert_eq!(backwards.len(), 0);
    }

    #[test]
    fn words_needed() {
        assert_eq!(FrameAllocator::bitmap_words_needed(0), 0);
        assert_eq!(FrameAllocator::bitmap_words_needed(1), 2);
        assert_eq!(FrameAllocator::bitmap_words_needed(64 * F), 2);
        assert_eq!(FrameAllocator::bitmap_words_needed(64 * F + 1), 4);
        // 4 GiB = 1 Mi frames = 16 Ki words per bitmap.
        assert_eq!(FrameAllocator::bitmap_words_needed(4 << 30), 32 * 1024);
    }

    #[test]
    fn new_marks_only_whole_frames_inside_usable() {
        let mut s = storage(64 * F);
        let a = FrameAllocator::new(
            &mut s,
            &[
                PhysRange::new(0x800, 0x3800), // frames 1, 2 entirely inside
                PhysRange::new(10 * F, 12 * F),
                PhysRange::new(11 * F, 13 * F), // overlapping ranges
            ],
        );
        assert_eq!(a.free_count(), 5);
        assert_eq!(a.total_count(), 5);
        assert_eq!(a.used_count(), 0);
        assert!(!a.is_free(0));
        assert!(a.is_free(F));
        assert!(a.is_free(2 * F));
        assert!(!a.is_free(3 * F));
        assert!(a.is_free(12 * F));
        assert!(!a.is_free(13 * F));
        let ranges: Vec<_> = a.free_ranges().collect();
        assert_eq!(
            ranges,
            vec![PhysRange::new(F, 3 * F), PhysRange::new(10 * F, 13 * F)]
        );
    }

    #[test]
    fn frames_beyond_capacity_ignored() {
        let mut s = storage(64 * F);
        let mut a = FrameAllocator::new(&mut s, &[PhysRange::new(60 * F, 1 << 40)]);
        assert_eq!(a.capacity_frames(), 64);
        assert_eq!(a.free_count(), 4);
        assert_eq!(a.free(100 * F), Err(FreeError::OutOfRange));
        assert!(!a.is_allocated(1 << 40));
    }

    #[test]
    fn odd_storage_length_uses_equal_halves() {
        let mut s = vec![0u64; 5];
        let a = FrameAllocator::new(&mut s, &[PhysRange::new(0, 1 << 30)]);
        assert_eq!(a.capacity_frames(), 128);
        assert_eq!(a.free_count(), 128);
    }

    #[test]
    fn allocate_until_exhausted_then_none() {
        let mut s = storage(64 * F);
        let mut a = FrameAllocator::new(&mut s, &[PhysRange::new(4 * F, 8 * F)]);
        let mut got = BTreeSet::new();
        for _ in 0..4 {
            let f = a.allocate().expect("frame");
            assert!((4 * F..8 * F).contains(&f));
            assert!(f.is_multiple_of(F));
            assert!(got.insert(f), "frame handed out twice");
            assert!(a.is_allocated(f));
        }
        assert_eq!(a.allocate(), None);
        assert_eq!(a.free_count(), 0);
        assert_eq!(a.used_count(), 4);
        assert_eq!(a.allocate_contiguous(1, 1), None);
    }

    #[test]
    fn allocate_is_next_fit() {
        let mut s = storage(64 * F);
        let mut a = FrameAllocator::new(&mut s, &[PhysRange::new(0, 8 * F)]);
        let x = a.allocate().unwrap();
        let y = a.allocate().unwrap();
        assert_eq!((x, y), (0, F));
        a.free(x).unwrap();
        // Next-fit: does not go back to frame 0 until it wraps.
        assert_eq!(a.allocate(), Some(2 * F));
        for _ in 3..8 {
            a.allocate().unwrap();
        }
        assert_eq!(a.allocate(), Some(0), "wraps around to the freed frame");
        assert_eq!(a.allocate(), None);
    }

    #[test]
    fn double_free_detected() {
        let mut s = storage(64 * F);
        let mut a = FrameAllocator::new(&mut s, &[PhysRange::new(0, 16 * F)]);
        let f = a.allocate().unwrap();
        assert_eq!(a.free(f), Ok(()));
        assert_eq!(a.free(f), Err(FreeError::NotAllocated));
        assert_eq!(a.free_count(), 16);
        assert_eq!(a.used_count(), 0);
        // Never-allocated free frame.
        assert_eq!(a.free(5 * F), Err(FreeError::NotAllocated));
        assert_eq!(a.free(5 * F + 1), Err(FreeError::Unaligned));
        assert_eq!(a.free(64 * F), Err(FreeError::OutOfRange));
        assert_eq!(a.free_count(), 16);
    }

    #[test]
    fn reserve_partial_overlap_and_idempotent() {
        let mut s = storage(64 * F);
        let mut a = FrameAllocator::new(
            &mut s,
            &[PhysRange::new(0, 10 * F), PhysRange::new(20 * F, 30 * F)],
        );
        assert_eq!(a.total_count(), 20);
        // Overlaps frames 8, 9 (usable), 10..19 (never usable), 20, 21 (usable) partially.
        let r = PhysRange::new(8 * F + 100, 21 * F + 1);
        a.reserve(r);
        assert_eq!(a.free_count(), 16);
        assert_eq!(a.total_count(), 16);
        a.reserve(r);
        assert_eq!(a.free_count(), 16, "reserve is idempotent");
        assert!(!a.is_free(8 * F));
        assert!(!a.is_free(21 * F));
        assert!(a.is_free(7 * F));
        assert!(a.is_free(22 * F));
        // Freeing a reserved frame is NotAllocated, and does not change counts.
        assert_eq!(a.free(9 * F), Err(FreeError::NotAllocated));
        assert_eq!(a.free(15 * F), Err(FreeError::NotAllocated));
        assert_eq!(a.free_count(), 16);
        // Nothing reserved is ever handed out.
        while let Some(f) = a.allocate() {
            assert!(!r.overlaps(&PhysRange::new(f, f + F)), "{f:#x}");
        }
        assert_eq!(a.used_count(), 16);
        // Empty and out-of-range reservations are harmless.
        a.reserve(PhysRange::new(5 * F, 5 * F));
        a.reserve(PhysRange::new(1 << 40, 1 << 41));
        assert_eq!(a.used_count(), 16);
    }

    #[test]
    fn reserve_allocated_frame_makes_it_unfreeable() {
        let mut s = storage(64 * F);
        let mut a = FrameAllocator::new(&mut s, &[PhysRange::new(0, 4 * F)]);
        let f = a.allocate().unwrap();
        a.reserve(PhysRange::new(f, f + 1));
        assert_eq!(a.used_count(), 0);
        assert_eq!(a.total_count(), 3);
        assert_eq!(a.free(f), Err(FreeError::NotAllocated));
    }

    #[test]
    fn contiguous_with_alignment() {
        let mut s = storage(256 * F);
        let mut a = FrameAllocator::new(&mut s, &[PhysRange::new(F, 200 * F)]);
        // Frame 0 unusable, so an 8-aligned run of 8 starts at 8.
        assert_eq!(a.allocate_contiguous(8, 8), Some(8 * F));
        // Unaligned run of 3 takes the lowest hole: frames 1..4.
        assert_eq!(a.allocate_contiguous(3, 1), Some(F));
        assert_eq!(a.allocate_contiguous(16, 16), Some(16 * F));
        assert_eq!(a.allocate_contiguous(4, 1), Some(4 * F));
        assert_eq!(a.allocate_contiguous(1, 1), Some(32 * F));
        // Run that would cross the end of the usable range fails.
        assert_eq!(a.allocate_contiguous(200, 1), None);
        assert_eq!(a.used_count(), 8 + 3 + 16 + 4 + 1);

        let mut s2 = storage(64 * F);
        let mut b = FrameAllocator::new(&mut s2, &[PhysRange::new(0, 64 * F)]);
        b.reserve(PhysRange::new(5 * F, 6 * F));
        assert_eq!(b.allocate_contiguous(4, 4), Some(0));
        assert_eq!(
            b.allocate_contiguous(4, 4),
            Some(8 * F),
            "4..8 blocked by 5"
        );
        assert_eq!(b.allocate_contiguous(2, 0), Some(6 * F), "align 0 means 1");
        for frame in (0..4).chain(6..12) {
            assert!(b.is_allocated(frame * F), "frame {frame}");
        }
        assert!(b.is_free(4 * F));
        assert!(!b.is_allocated(5 * F));
        assert_eq!(b.used_count(), 10);
        assert_eq!(b.allocate_contiguous(0, 1), None);
        assert_eq!(b.allocate_contiguous(64, 1), None);
        assert_eq!(b.allocate_contiguous(52, 1), Some(12 * F));
        assert_eq!(b.allocate_contiguous(1, 1), Some(4 * F));
        assert_eq!(b.allocate_contiguous(1, 1), None);
        assert_eq!(b.free_count(), 0);
        assert_eq!(b.free_contiguous(12 * F, 52), Ok(()));
        assert_eq!(b.free_count(), 52);
        // Alignment beyond the tracked memory fails; 32-aligned works.
        assert_eq!(b.allocate_contiguous(1, 128), None);
        assert_eq!(b.allocate_contiguous(2, 32), Some(32 * F));
    }

    #[test]
    fn free_contiguous_is_all_or_nothing() {
        let mut s = storage(64 * F);
        let mut a = FrameAllocator::new(&mut s, &[PhysRange::new(0, 64 * F)]);
        let base = a.allocate_contiguous(4, 1).unwrap();
        a.free(base + 2 * F).unwrap();
        assert_eq!(a.free_contiguous(base, 4), Err(FreeError::NotAllocated));
        assert_eq!(a.used_count(), 3, "nothing freed on error");
        assert_eq!(a.free_contiguous(base + 1, 2), Err(FreeError::Unaligned));
        assert_eq!(a.free_contiguous(63 * F, 2), Err(FreeError::OutOfRange));
        assert_eq!(a.free_contiguous(base, 2), Ok(()));
        assert_eq!(a.free_contiguous(base + 3 * F, 1), Ok(()));
        assert_eq!(a.free_contiguous(base, 0), Ok(()));
        assert_eq!(a.used_count(), 0);
        assert_eq!(a.free_count(), 64);
    }

    #[test]
    fn round_trip_restores_counts() {
        let mut s = storage(1024 * F);
        let mut a = FrameAllocator::new(
            &mut s,
            &[
                PhysRange::new(0x9_0000, 0x9_fc00),
                PhysRange::new(1 << 20, 4 << 20),
            ],
        );
        a.reserve(PhysRange::new(1 << 20, (1 << 20) + 0x1_2345));
        let (free0, total0) = (a.free_count(), a.total_count());
        let mut frames = Vec::new();
        while let Some(f) = a.allocate() {
            frames.push(f);
        }
        assert_eq!(frames.len(), free0);
        assert_eq!(a.used_count(), total0);
        for f in frames.iter().rev() {
            a.free(*f).unwrap();
        }
        assert_eq!(a.free_count(), free0);
        assert_eq!(a.total_count(), total0);
        assert_eq!(a.used_count(), 0);
    }

    /// Deterministic xorshift64* PRNG for property tests.
    use deterministic_rng::XorShift;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum State {
        Reserved,
        Free,
        Allocated,
    }

    #[test]
    fn random_operations_match_model() {
        for seed in 1..=40u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let frames = 64 * (1 + rng.below(4) as usize) + rng.below(3) as usize * 64;
            let max = frames as u64 * F;
            let mut usable = Vec::new();
            for _ in 0..rng.below(5) + 1 {
                let a = rng.below(max + 4 * F);
                let b = a + rng.below(max / 2);
                usable.push(PhysRange::new(a, b));
            }
            let mut model = vec![State::Reserved; frames];
            for r in &usable {
                for (i, m) in model.iter_mut().enumerate() {
                    let fr = PhysRange::new(i as u64 * F, (i as u64 + 1) * F);
                    if r.start <= fr.start && fr.end <= r.end {
                        *m = State::Free;
                    }
                }
            }
            let mut s = storage(max);
            let mut a = FrameAllocator::new(&mut s, &usable);
            let mut held: Vec<(u64, usize)> = Vec::new();
            for _ in 0..600 {
                match rng.below(10) {
                    0..=3 => {
                        let got = a.allocate();
                        let any_free = model.contains(&State::Free);
                        assert_eq!(got.is_some(), any_free, "seed {seed}");
                        if let Some(addr) = got {
                            let i = (addr / F) as usize;
                            assert_eq!(model[i], State::Free, "seed {seed}: {addr:#x}");
                            model[i] = State::Allocated;
                            held.push((addr, 1));
                        }
                    }
                    4 => {
                        let count = 1 + rng.below(6) as usize;
                        let align = 1usize << rng.below(4);
                        let got = a.allocate_contiguous(count, align);
                        // Model: lowest aligned run of free frames.
                        let expect = (0..frames)
                            .step_by(align)
                            .find(|&s| {
                                s + count <= frames
                                    && model[s..s + count].iter().all(|&m| m == State::Free)
                            })
                            .map(|s| s as u64 * F);
                        assert_eq!(got, expect, "seed {seed}: count {count} align {align}");
                        if let Some(addr) = got {
                            let i = (addr / F) as usize;
                            model[i..i + count].fill(State::Allocated);
                            held.push((addr, count));
                        }
                    }
                    5..=7 if !held.is_empty() => {
                        let (addr, count) = held.swap_remove(rng.below(held.len() as u64) as usize);
                        let i = (addr / F) as usize;
                        let expect = if model[i..i + count].iter().all(|&m| m == State::Allocated) {
                            model[i..i + count].fill(State::Free);
                            Ok(())
                        } else {
                            Err(FreeError::NotAllocated)
                        };
                        let got = if count == 1 {
                            a.free(addr)
                        } else {
                            a.free_contiguous(addr, count)
                        };
                        assert_eq!(got, expect, "seed {seed}");
                    }
                    8 => {
                        // Free of an arbitrary frame: checks double free / reserved.
                        let i = rng.below(frames as u64) as usize;
                        let expect = if model[i] == State::Allocated {
                            model[i] = State::Free;
                            held.retain(|&(addr, c)| !(addr == i as u64 * F && c == 1));
                            Ok(())
                        } else {
                            Err(FreeError::NotAllocated)
                        };
                        assert_eq!(a.free(i as u64 * F), expect, "seed {seed}");
                    }
                    _ => {
                        let start = rng.below(max);
                        let r = PhysRange::new(start, start + rng.below(3 * F));
                        a.reserve(r);
                        for (i, m) in model.iter_mut().enumerate() {
                            if r.overlaps(&PhysRange::new(i as u64 * F, (i as u64 + 1) * F)) {
                                *m = State::Reserved;
                            }
                        }
                    }
                }
                let free = model.iter().filter(|&&m| m == State::Free).count();
                let used = model.iter().filter(|&&m| m == State::Allocated).count();
                assert_eq!(a.free_count(), free, "seed {seed}");
                assert_eq!(a.used_count(), used, "seed {seed}");
                assert_eq!(a.total_count(), free + used, "seed {seed}");
            }
            for (i, m) in model.iter().enumerate() {
                let addr = i as u64 * F;
                assert_eq!(a.is_allocated(addr), *m == State::Allocated, "seed {seed}");
                assert_eq!(a.is_free(addr), *m == State::Free, "seed {seed}");
            }
        }
    }
}
