//! The global physical frame allocator (over the `frame-allocator` crate).
//!
//! Invariant: frames below 1 MiB, the kernel image, the allocator's own
//! bitmap and the boot data are reserved and never handed out.

use crate::boot::{BootInfo, MemoryRegion};
use crate::sched::sync::IrqSpinlock;
use core::sync::atomic::{AtomicU64, Ordering};
use frame_allocator::{FRAME_SIZE, FrameAllocator, PhysRange};

static FRAMES: IrqSpinlock<Option<FrameAllocator<'static>>> = IrqSpinlock::new(None);
static RAM_END: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Physical range of the kernel image.
pub fn kernel_image() -> PhysRange {
    PhysRange::new(
        core::ptr::addr_of!(__kernel_start) as u64,
        core::ptr::addr_of!(__kernel_end) as u64,
    )
}

/// End of the highest usable RAM region.
pub fn ram_end() -> u64 {
    RAM_END.load(Ordering::Relaxed)
}

const fn align_up(value: u64, alignment: u64) -> u64 {
    (value + alignment - 1) & !(alignment - 1)
}

pub(super) fn init(boot: &BootInfo) {
    let mut usable = [PhysRange::new(0, 0); crate::boot::MAX_MEMORY_REGIONS];
    let mut count = 0;
    let mut end = 0;
    for region in boot
        .memory_regions()
        .iter()
        .filter(|r| r.kind == MemoryRegion::USABLE)
    {
        let start = region.start.max(0x10_0000);
        let stop = region.start + region.length;
        if stop > start {
            usable[count] = PhysRange::new(start, stop);
            count += 1;
            end = end.max(stop);
        }
    }
    let usable = &usable[..count];
    RAM_END.store(end, Ordering::Relaxed);

    // The bitmap goes in the first usable memory after the kernel image.
    let words = FrameAllocator::bitmap_words_needed(end);
    let bytes = align_up(words as u64 * 8, FRAME_SIZE);
    let image = kernel_image();
    let storage_start = usable
        .iter()
        .map(|range| PhysRange::new(align_up(range.start.max(image.end), FRAME_SIZE), range.end))
        .find(|range| range.end > range.start && range.end - range.start >= bytes)
        .map(|range| range.start)
        .expect("no room for the frame bitmap");
    // SAFETY: the range is usable RAM, identity-mapped by the boot tables,
    // not part of the kernel image, and reserved below so nothing else will
    // ever use it.
    let storage = unsafe { core::slice::from_raw_parts_mut(storage_start as *mut u64, words) };
    storage.fill(0);
    let mut allocator = FrameAllocator::new(storage, usable);
    allocator.reserve(PhysRange::new(0, 0x10_0000));
    allocator.reserve(image);
    allocator.reserve(PhysRange::new(storage_start, storage_start + bytes));
    let info_page = boot.start_info_address & !(FRAME_SIZE - 1);
    allocator.reserve(PhysRange::new(info_page, info_page + FRAME_SIZE));
    *FRAMES.lock() = Some(allocator);
}

/// Allocates one zeroed frame; returns its physical address.
pub fn allocate_zeroed() -> Option<u64> {
    let frame = FRAMES.lock().as_mut()?.allocate()?;
    // SAFETY: the frame was just allocated to us and RAM is identity-mapped.
    unsafe { core::ptr::write_bytes(frame as *mut u8, 0, FRAME_SIZE as usize) };
    Some(frame)
}

/// Allocates `count` physically contiguous, zeroed frames (for DMA);
/// returns the first one's physical address.
pub fn allocate_contiguous_zeroed(count: usize) -> Option<u64> {
    let first = FRAMES.lock().as_mut()?.allocate_contiguous(count, 1)?;
    // SAFETY: the frames were just allocated to us and RAM is
    // identity-mapped.
    unsafe { core::ptr::write_bytes(first as *mut u8, 0, count * FRAME_SIZE as usize) };
    Some(first)
}

/// Returns `count` contiguous frames from `first`. A double free is a
/// kernel bug.
pub fn free_contiguous(first: u64, count: usize) {
    if let Some(allocator) = FRAMES.lock().as_mut()
        && let Err(error) = allocator.free_contiguous(first, count)
    {
        panic!("freeing frames {first:#x} (+{count}): {error:?}");
    }
}

/// Returns a frame to the allocator. A double free is a kernel bug.
pub fn free(frame: u64) {
    if let Some(allocator) = FRAMES.lock().as_mut()
        && let Err(error) = allocator.free(frame)
    {
        panic!("freeing frame {frame:#x}: {error:?}");
    }
}

/// Frame counts: (free, used by allocations, total usable).
pub fn counts() -> (usize, usize, usize) {
    match FRAMES.lock().as_ref() {
        Some(allocator) => (
            allocator.free_count(),
            allocator.used_count(),
            allocator.total_count(),
        ),
        None => (0, 0, 0),
    }
}

/// Number of free frames.
pub fn free_count() -> usize {
    counts().0
}
