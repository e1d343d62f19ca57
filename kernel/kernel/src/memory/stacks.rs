//! Kernel stacks in their own region, each with an unmapped guard page
//! below it so an overflow faults instead of corrupting memory.
//!
//! Invariant: slot N spans `[KERNEL_STACKS_BASE + N * SLOT, +SLOT)`; its
//! lowest page is never mapped; a slot is reused only after its pages were
//! unmapped and freed.

use super::paging::{self, KERNEL_STACKS_BASE, PageRights};
use crate::sched::sync::IrqSpinlock;
use alloc::vec::Vec;

/// Address space reserved per stack (guard page included).
pub const SLOT_SIZE: u64 = 128 * 1024;
const PAGE_SIZE: u64 = 4096;

struct Slots {
    free: Vec<u64>,
    next: u64,
}

static SLOTS: IrqSpinlock<Slots> = IrqSpinlock::new(Slots {
    free: Vec::new(),
    next: 0,
});

/// A mapped kernel stack; unmapped and freed on drop.
#[derive(Debug)]
pub struct KernelStack {
    slot: u64,
    size: u64,
}

impl KernelStack {
    /// Maps a stack of `size` bytes (rounded up to pages, at most the slot
    /// size minus the guard page).
    pub fn allocate(size: usize) -> Option<KernelStack> {
        let size = (size as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        if size == 0 || size > SLOT_SIZE - PAGE_SIZE {
            return None;
        }
        let slot = {
            let mut slots = SLOTS.lock();
            match slots.free.pop() {
                Some(slot) => slot,
                None => {
                    let slot = slots.next;
                    slots.next += 1;
                    slot
                }
            }
        };
        let stack = KernelStack { slot, size };
        let pages = (size / PAGE_SIZE) as usize;
        if paging::map_new_pages(stack.bottom(), pages, PageRights::WRITE).is_err() {
            SLOTS.lock().free.push(slot);
            core::mem::forget(stack);
            return None;
        }
        Some(stack)
    }

    fn slot_base(&self) -> u64 {
        KERNEL_STACKS_BASE + self.slot * SLOT_SIZE
    }

    /// Lowest mapped address.
    pub fn bottom(&self) -> u64 {
        self.top() - self.size
    }

    /// One past the highest address (the initial stack pointer).
    pub fn top(&self) -> u64 {
        self.slot_base() + SLOT_SIZE
    }

    /// Does `address` fall in this stack's guard page?
    pub fn guard_contains(&self, address: u64) -> bool {
        (self.bottom() - PAGE_SIZE..self.bottom()).contains(&address)
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        paging::unmap_and_free_pages(self.bottom(), (self.size / PAGE_SIZE) as usize);
        SLOTS.lock().free.push(self.slot);
    }
}

/// Is `address` in the unmapped part of the stack region just below a
/// stack (a guard page)? Conservative: any unmapped page of the region.
pub fn is_guard_page(address: u64) -> bool {
    let region_end = KERNEL_STACKS_BASE + SLOT_SIZE * 4096;
    (KERNEL_STACKS_BASE..region_end).contains(&address)
        && paging::try_translate(address & !0xfff).is_none()
}
