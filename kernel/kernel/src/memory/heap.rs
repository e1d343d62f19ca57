//! The kernel heap: a linked-list allocator over a virtual region that
//! grows page by page when an allocation does not fit.
//!
//! Invariant: `[KERNEL_HEAP_BASE, KERNEL_HEAP_BASE + size)` is mapped
//! read/write and owned by the allocator; growth maps new frames at the top
//! and extends the allocator by exactly that much.

use super::paging::{self, KERNEL_HEAP_BASE, KERNEL_HEAP_LIMIT, PageRights};
use crate::sched::sync::IrqSpinlock;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use linked_list_allocator::Heap;

/// Heap size mapped at boot.
pub const INITIAL_HEAP_SIZE: u64 = 1024 * 1024;
/// Smallest growth step.
const GROWTH_STEP: u64 = 256 * 1024;

struct KernelHeap {
    heap: IrqSpinlock<Heap>,
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    heap: IrqSpinlock::new(Heap::empty()),
};
/// How many times the heap grew.
pub static GROWTHS: AtomicU64 = AtomicU64::new(0);

pub(super) fn init() {
    paging::map_new_pages(
        KERNEL_HEAP_BASE,
        (INITIAL_HEAP_SIZE / 4096) as usize,
        PageRights::WRITE,
    )
    .expect("cannot map the initial heap");
    // SAFETY: the region was just mapped read/write and is used by nothing
    // else; init is called once.
    unsafe {
        HEAP.heap
            .lock()
            .init(KERNEL_HEAP_BASE as *mut u8, INITIAL_HEAP_SIZE as usize)
    };
}

/// Heap statistics: (mapped size, bytes in use).
pub fn stats() -> (usize, usize) {
    let heap = HEAP.heap.lock();
    (heap.size(), heap.used())
}

fn grow(heap: &mut Heap, layout: Layout) -> bool {
    let current = heap.size() as u64;
    let wanted = (layout.size() as u64 + layout.align() as u64 + 64).max(GROWTH_STEP);
    let wanted = wanted.div_ceil(4096) * 4096;
    if current + wanted > KERNEL_HEAP_LIMIT {
        return false;
    }
    let top = KERNEL_HEAP_BASE + current;
    if paging::map_new_pages(top, (wanted / 4096) as usize, PageRights::WRITE).is_err() {
        return false;
    }
    // SAFETY: the pages right above the heap's top were just mapped and
    // belong to nobody else.
    unsafe { heap.extend(wanted as usize) };
    GROWTHS.fetch_add(1, Ordering::Relaxed);
    true
}

// SAFETY: allocations come from the linked-list heap under a lock; the
// memory is mapped for as long as the heap exists (it never shrinks).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.heap.lock();
        loop {
            if let Ok(pointer) = heap.allocate_first_fit(layout) {
                return pointer.as_ptr();
            }
            if !grow(&mut heap, layout) {
                return core::ptr::null_mut();
            }
        }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        if let Some(pointer) = NonNull::new(pointer) {
            // SAFETY: the caller passes a pointer this allocator returned
            // with the same layout.
            unsafe { self.heap.lock().deallocate(pointer, layout) };
        }
    }
}
