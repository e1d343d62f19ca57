//! Physical frames, the kernel's page tables, the kernel heap and kernel
//! stacks with guard pages.
//!
//! Virtual layout (identity map below, kernel regions in the upper half):
//!
//! | range | what |
//! |---|---|
//! | `0 .. 4 KiB` | unmapped (null pointer dereferences fault) |
//! | `4 KiB .. RAM end` | identity map of RAM; the kernel image at 1 MiB with text RX, rodata R, data RW |
//! | [`paging::KERNEL_HEAP_BASE`] | the kernel heap, grown page by page |
//! | [`paging::KERNEL_STACKS_BASE`] | kernel thread stacks, each below an unmapped guard page |
//! | [`paging::SCRATCH_BASE`] | scratch mappings for tests and later for extension regions |

pub mod frames;
pub mod heap;
pub mod paging;
pub mod stacks;

use crate::boot::BootInfo;

/// Sets up frames, page tables and the heap from the boot memory map.
pub fn init(boot: &BootInfo) {
    frames::init(boot);
    paging::init(frames::ram_end());
    heap::init();
}

/// A hint about what a faulting address means, for fault reports.
pub fn describe_fault_address(address: u64) -> Option<&'static str> {
    if address < 0x1000 {
        Some("the address is in the null page: a null pointer dereference")
    } else if stacks::is_guard_page(address) {
        Some("the address is in a kernel stack guard page: a stack overflow")
    } else if paging::kernel_text_contains(address) {
        Some("the address is in kernel text, which is never writable")
    } else {
        None
    }
}
