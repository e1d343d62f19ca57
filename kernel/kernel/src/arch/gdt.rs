//! Global descriptor table and task-state segment.
//!
//! Invariants: the double-fault handler runs on its own interrupt stack
//! (IST 1), so a kernel stack overflow is still reported. Once memory is up,
//! both interrupt stacks are reached through aliases in the shared writable
//! region ([`use_shared_interrupt_stacks`]): the CPU may switch to them while
//! a protection domain's page tables are loaded, where the kernel's own
//! copy of them is read-only.

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (1-based in the IDT, 0-based in the TSS) for double faults.
pub const DOUBLE_FAULT_IST: u16 = 1;
/// IST slot for non-maskable interrupts.
pub const NMI_IST: u16 = 2;
const IST_STACK_SIZE: usize = 16 * 1024;

/// Page aligned, so the stack can be aliased page by page.
#[repr(align(4096))]
struct IstStack(#[allow(dead_code, reason = "only its address is used")] [u8; IST_STACK_SIZE]);
static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut NMI_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

/// The TSS lives in a cell because its interrupt-stack pointers change once
/// after boot (see [`use_shared_interrupt_stacks`]).
struct TssCell(core::cell::UnsafeCell<TaskStateSegment>);
// SAFETY: the TSS is written only during single-threaded initialisation
// with interrupts disabled; afterwards only the CPU reads it.
unsafe impl Sync for TssCell {}
static TSS: Once<TssCell> = Once::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

/// Segment selectors of the kernel.
#[derive(Clone, Copy, Debug)]
pub struct Selectors {
    /// 64-bit kernel code.
    pub code: SegmentSelector,
    /// Kernel data/stack.
    pub data: SegmentSelector,
    /// The TSS.
    pub tss: SegmentSelector,
}

fn stack_top(stack: *const IstStack) -> VirtAddr {
    VirtAddr::from_ptr(stack) + IST_STACK_SIZE as u64
}

/// Loads the GDT and TSS and reloads the segment registers.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[(DOUBLE_FAULT_IST - 1) as usize] =
            stack_top(&raw const DOUBLE_FAULT_STACK);
        tss.interrupt_stack_table[(NMI_IST - 1) as usize] = stack_top(&raw const NMI_STACK);
        TssCell(core::cell::UnsafeCell::new(tss))
    });
    // SAFETY: the cell is 'static and nothing writes it while this
    // reference lives (initialisation is single-threaded).
    let tss: &'static TaskStateSegment = unsafe { &*tss.0.get() };
    let (gdt, selectors) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (gdt, Selectors { code, data, tss })
    });
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which
    // is 'static; the code segment is a 64-bit kernel code segment.
    unsafe {
        CS::set_reg(selectors.code);
        SS::set_reg(selectors.data);
        DS::set_reg(selectors.data);
        ES::set_reg(selectors.data);
        load_tss(selectors.tss);
    }
}

/// The kernel's selectors (after [`init`]).
pub fn selectors() -> Selectors {
    GDT.get().expect("GDT not initialised").1
}

/// Maps both interrupt stacks again in the shared writable region and
/// points the TSS at the aliases. Call once after memory is up, with
/// interrupts disabled.
pub fn use_shared_interrupt_stacks() -> Result<(), crate::memory::paging::PagingError> {
    use crate::memory::paging::{self, PageRights, SHARED_WRITABLE_BASE};
    const PAGE: u64 = 4096;
    let stacks = [
        (DOUBLE_FAULT_IST, &raw const DOUBLE_FAULT_STACK),
        (NMI_IST, &raw const NMI_STACK),
    ];
    for (index, (ist, stack)) in stacks.into_iter().enumerate() {
        // Each alias gets 64 KiB of address space, its lowest page unmapped.
        let alias_base = SHARED_WRITABLE_BASE + index as u64 * 0x10000 + PAGE;
        let physical_base = stack as u64; // the kernel image is identity-mapped
        for page in 0..(IST_STACK_SIZE as u64 / PAGE) {
            paging::map(
                alias_base + page * PAGE,
                physical_base + page * PAGE,
                PageRights::WRITE,
            )?;
        }
        let cell = TSS.get().expect("GDT not initialised");
        // SAFETY: single-threaded initialisation with interrupts disabled;
        // the CPU reads the IST pointers only when it takes an interrupt
        // through an IST gate, and the alias maps the very same stack.
        unsafe {
            (*cell.0.get()).interrupt_stack_table[(ist - 1) as usize] =
                VirtAddr::new(alias_base + IST_STACK_SIZE as u64);
        }
    }
    Ok(())
}
