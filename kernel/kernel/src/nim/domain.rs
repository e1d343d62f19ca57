//! The memory of one extension instance: its region, image, heap, stacks
//! and grants, and its protection domain (page-table root).
//!
//! Region layout (offsets from the region base, see
//! `memory::paging::EXTENSION_REGION_BASE`):
//!
//! | offset | what |
//! |---|---|
//! | 0 | the image (text RX, rodata R, data and bss RW, RELRO R after relocation) |
//! | 1 GiB | the heap ([`HEAP_PAGES`] pages, RW) |
//! | 2 GiB | [`STACK_COUNT`] stacks, each [`STACK_PAGES`] pages at the top of a [`STACK_STRIDE`] slot whose lower part is an unmapped guard |
//! | 4 GiB | granted memory, handed out upwards with a guard page between grants |
//!
//! Invariants: everything mapped in the region is owned by this instance
//! and freed by [`DomainMemory::destroy`], which also frees the root, so a
//! load/unload cycle returns every frame; the kernel's view of the region
//! is the same pages, writable, so the loader and the kernel wrappers can
//! fill them.

use crate::memory::paging::{self, EXTENSION_REGION_BASE, EXTENSION_REGION_SIZE, PageRights};
use extension_image::{SegmentRights, ValidatedImage};

const PAGE: u64 = 4096;
/// Offset of the heap in a region.
pub const HEAP_OFFSET: u64 = 1 << 30;
/// Heap pages given to every instance.
pub const HEAP_PAGES: u64 = 64;
/// Offset of the stacks in a region.
pub const STACKS_OFFSET: u64 = 2 << 30;
/// Address space per stack (guard included).
pub const STACK_STRIDE: u64 = 64 * 1024;
/// Mapped pages per stack.
pub const STACK_PAGES: u64 = 8;
/// Stacks for threads calling in.
pub const THREAD_STACKS: usize = 4;
/// Index of the stack for calls made from interrupt context.
pub const INTERRUPT_STACK: usize = THREAD_STACKS;
/// All stacks.
pub const STACK_COUNT: usize = THREAD_STACKS + 1;
/// Offset of granted memory in a region.
pub const GRANTS_OFFSET: u64 = 4 << 30;
/// Most pages granted to one instance in total.
pub const MAX_GRANT_PAGES: u64 = 16 * 1024;

/// Base of region `slot`.
pub fn region_base(slot: usize) -> u64 {
    EXTENSION_REGION_BASE + slot as u64 * EXTENSION_REGION_SIZE
}

/// The region `address` falls in, if any.
pub fn region_of(address: u64) -> Option<usize> {
    let offset = address.checked_sub(EXTENSION_REGION_BASE)?;
    let slot = (offset / EXTENSION_REGION_SIZE) as usize;
    (slot < paging::EXTENSION_REGIONS).then_some(slot)
}

/// Top of stack `index` of region `region`.
pub fn stack_top(region: u64, index: usize) -> u64 {
    region + STACKS_OFFSET + (index as u64 + 1) * STACK_STRIDE
}

/// Is `address` in the guard part of one of region `region`'s stacks?
pub fn in_stack_guard(region: u64, address: u64) -> bool {
    let Some(offset) = address.checked_sub(region + STACKS_OFFSET) else {
        return false;
    };
    offset < STACK_COUNT as u64 * STACK_STRIDE
        && offset % STACK_STRIDE < STACK_STRIDE - STACK_PAGES * PAGE
}

/// Is `address` inside a mapped stack of region `region` (and which)?
pub fn stack_containing(region: u64, address: u64) -> Option<usize> {
    let offset = address.checked_sub(region + STACKS_OFFSET)?;
    let index = (offset / STACK_STRIDE) as usize;
    let within = offset % STACK_STRIDE;
    (index < STACK_COUNT && within >= STACK_STRIDE - STACK_PAGES * PAGE).then_some(index)
}

/// Why an image could not be placed in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaceError {
    /// Out of frames or page-table memory.
    OutOfMemory,
    /// The loader refused the image while filling it in.
    Load(extension_image::LoadError),
}

/// An instance's mapped memory.
#[derive(Debug)]
pub struct DomainMemory {
    /// Region base (also the image's load base).
    pub region: u64,
    /// Page-table root of the protection domain; 0 when native.
    pub root: u64,
    /// Pages of the image span.
    pub image_pages: u64,
    /// Entry point address.
    pub entry: u64,
    /// An address in the image's read-only data (for `write-own-rodata`).
    pub rodata_address: u64,
}

impl DomainMemory {
    /// Maps and fills an instance of `image` in region `slot`, and creates
    /// its protection domain when `isolated`. On failure everything mapped
    /// so far is freed.
    pub fn place(
        slot: usize,
        image: &ValidatedImage<'_>,
        isolated: bool,
    ) -> Result<Self, PlaceError> {
        let region = region_base(slot);
        let span = image.memory_span();
        let image_pages = span.div_ceil(PAGE);
        let mut memory = DomainMemory {
            region,
            root: 0,
            image_pages: 0,
            entry: region + image.entry_offset(),
            rodata_address: 0,
        };
        let result = (|| {
            paging::map_new_pages(region, image_pages as usize, PageRights::WRITE)
                .map_err(|_| PlaceError::OutOfMemory)?;
            memory.image_pages = image_pages;
            // SAFETY: [region, region + span) was just mapped writable for
            // the kernel and belongs to this instance alone.
            let bytes =
                unsafe { core::slice::from_raw_parts_mut(region as *mut u8, span as usize) };
            extension_image::copy_segments(image, bytes).map_err(PlaceError::Load)?;
            extension_image::apply_relocations(image, region, bytes).map_err(PlaceError::Load)?;
            memory.protect_image(image);
            paging::map_new_pages(region + HEAP_OFFSET, HEAP_PAGES as usize, PageRights::WRITE)
                .map_err(|_| PlaceError::OutOfMemory)?;
            for index in 0..STACK_COUNT {
                let bottom = stack_top(region, index) - STACK_PAGES * PAGE;
                paging::map_new_pages(bottom, STACK_PAGES as usize, PageRights::WRITE)
                    .map_err(|_| PlaceError::OutOfMemory)?;
            }
            if isolated {
                memory.root =
                    paging::create_domain_root(region).map_err(|_| PlaceError::OutOfMemory)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(memory),
            Err(error) => {
                memory.destroy(0);
                Err(error)
            }
        }
    }

    /// Gives every image page its final rights and unmaps pages no segment
    /// uses.
    fn protect_image(&mut self, image: &ValidatedImage<'_>) {
        let relro = image.read_only_after_relocation();
        for page in 0..self.image_pages {
            let offset = page * PAGE;
            let segment = image
                .segments()
                .iter()
                .find(|segment| segment.pages().start <= offset && offset < segment.pages().end);
            let address = self.region + offset;
            let Some(segment) = segment else {
                if let Ok(frame) = paging::unmap(address) {
                    crate::memory::frames::free(frame);
                }
                continue;
            };
            let in_relro =
                relro.is_some_and(|range| range.start <= offset && offset + PAGE <= range.end);
            let rights = match segment.rights {
                SegmentRights::ReadExecute => PageRights::EXECUTE,
                SegmentRights::ReadWrite if !in_relro => PageRights::WRITE,
                _ => {
                    if self.rodata_address == 0 && segment.rights == SegmentRights::ReadOnly {
                        self.rodata_address = address;
                    }
                    PageRights::empty()
                }
            };
            let _ = paging::protect(address, rights);
        }
    }

    /// Unmaps and frees everything (grants up to `grant_end` included) and
    /// the domain root.
    pub fn destroy(&mut self, grant_end: u64) {
        let region = self.region;
        paging::unmap_and_free_pages(region, self.image_pages as usize);
        self.image_pages = 0;
        paging::unmap_and_free_pages(region + HEAP_OFFSET, HEAP_PAGES as usize);
        for index in 0..STACK_COUNT {
            let bottom = stack_top(region, index) - STACK_PAGES * PAGE;
            paging::unmap_and_free_pages(bottom, STACK_PAGES as usize);
        }
        let grant_start = region + GRANTS_OFFSET;
        if grant_end > grant_start {
            paging::unmap_and_free_pages(grant_start, ((grant_end - grant_start) / PAGE) as usize);
        }
        paging::destroy_domain_root(self.root);
        self.root = 0;
    }

    /// Heap base.
    pub fn heap_base(&self) -> u64 {
        self.region + HEAP_OFFSET
    }
}
