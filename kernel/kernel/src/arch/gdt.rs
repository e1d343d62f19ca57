//! Global descriptor table and task-state segment.
//!
//! Invariant: the double-fault handler runs on its own interrupt stack
//! (IST 1), so a kernel stack overflow is still reported.

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

#[repr(align(16))]
struct IstStack(#[allow(dead_code, reason = "only its address is used")] [u8; IST_STACK_SIZE]);
static mut DOUBLE_FAULT_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);
static mut NMI_STACK: IstStack = IstStack([0; IST_STACK_SIZE]);

static TSS: Once<TaskStateSegment> = Once::new();
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
        tss
    });
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
