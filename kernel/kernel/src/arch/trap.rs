//! Trap entry and dispatch: one assembly path for all 256 vectors, one Rust
//! dispatcher, and the decoded report for fatal exceptions.
//!
//! Invariants: the stub for vector N pushes a zero error code when the CPU
//! does not, then N, so every handler sees the same [`TrapFrame`]. The
//! dispatcher returns the stack pointer to resume from: the same frame, or
//! another thread's saved frame when the scheduler switches (every thread
//! switch happens here, so a thread's saved context is always a trap frame).

use super::fixup;
use super::idt::YIELD_VECTOR;
use super::percpu::this_cpu;
use core::arch::global_asm;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

global_asm!(
    include_str!(concat!(env!("OUT_DIR"), "/trap_stubs.s")),
    options(att_syntax)
);

// The common trap path. Every frame records the CR3 of the interrupted
// context. A trap taken inside a protection domain switches to the kernel's
// page tables at once (before any kernel data is written: kernel memory is
// read-only in a domain) and moves the frame from the extension's stack to
// the thread's kernel stack (the one saved by the innermost XPC), so kernel
// code never runs on memory an extension can write. The exit path reloads
// the CR3 recorded in the frame it returns to.
//
// One exception: a trap (an NMI: interrupts are off there) that lands in
// the exit path itself, after it reloaded a domain's CR3 and while it is
// still popping a frame from that very place on the kernel stack. Its frame
// stays on the stack it arrived on (the NMI's IST stack); moving it would
// overwrite the frame being popped, and the exit path would then loop on
// its own copy with interrupts off.
global_asm!(
    r#"
    .section .text.trap_common, "ax"
    .global trap_common
trap_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rax, cr3
    push rax
    push 0
    cld
    mov rcx, qword ptr [rip + {kernel_root}]
    cmp rax, rcx
    je 2f
    mov cr3, rcx
    mov rcx, qword ptr [rsp + {rip_offset}]
    lea rdx, [rip + trap_return]
    cmp rcx, rdx
    jb 4f
    lea rdx, [rip + trap_return_end]
    cmp rcx, rdx
    jb 2f
4:
    mov rdi, qword ptr gs:[{kernel_stack}]
    test rdi, rdi
    jz 2f
    sub rdi, {frame_size}
    and rdi, -16
    mov rdx, rdi
    mov rsi, rsp
    mov ecx, {frame_words}
    rep movsq
    mov rsp, rdx
2:
    mov rdi, rsp
    call trap_dispatch
    mov rsp, rax
    .global trap_return
trap_return:
    add rsp, 8
    pop rax
    mov rcx, cr3
    cmp rax, rcx
    je 3f
    mov cr3, rax
3:
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq
trap_return_end:
    "#,
    kernel_root = sym crate::memory::paging::KERNEL_PAGE_TABLE_ROOT,
    kernel_stack = const super::percpu::XPC_KERNEL_STACK_OFFSET,
    frame_size = const core::mem::size_of::<TrapFrame>(),
    frame_words = const core::mem::size_of::<TrapFrame>() / 8,
    rip_offset = const core::mem::offset_of!(TrapFrame, rip),
);

/// The saved state of an interrupted context, as laid out on its stack by
/// the CPU and `trap_common`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
#[allow(missing_docs)]
pub struct TrapFrame {
    /// Keeps the frame a multiple of 16 bytes (stack alignment for calls).
    pub alignment: u64,
    /// CR3 of the interrupted context (the kernel's root, or a domain's).
    pub cr3: u64,
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Vector number pushed by the stub.
    pub vector: u64,
    /// CPU error code, or 0 when the vector has none.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Number of breakpoint (`int3`) traps handled; breakpoints resume.
pub static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
/// Number of non-maskable interrupts seen.
pub static NMIS: AtomicU64 = AtomicU64::new(0);

/// Breakpoint exception vector.
pub const BREAKPOINT: u8 = 3;
/// Non-maskable interrupt vector.
pub const NMI: u8 = 2;
/// Double fault vector.
pub const DOUBLE_FAULT: u8 = 8;
const GENERAL_PROTECTION: u8 = 13;
/// Page fault vector.
pub const PAGE_FAULT: u8 = 14;

#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: *mut TrapFrame) -> u64 {
    let frame_address = frame as u64;
    // SAFETY: trap_common passes the address of the frame it just built on
    // the current stack; nothing else references it during dispatch.
    let frame = unsafe { &mut *frame };
    let vector = frame.vector as u8;
    let from_extension = frame.cr3 != crate::memory::paging::kernel_root();
    let resume = match vector {
        NMI => {
            NMIS.fetch_add(1, Ordering::Relaxed);
            super::nmi_watchdog::on_nmi();
            match from_extension {
                true => crate::nim::fault::on_nmi_in_extension(frame),
                false => frame_address,
            }
        }
        BREAKPOINT if crate::nim::inject::on_breakpoint(frame) => frame_address,
        0..=31 if from_extension => crate::nim::fault::on_exception_in_extension(frame),
        0..=31 => {
            handle_exception(frame);
            frame_address
        }
        32..=47 => crate::interrupts::handle_irq(vector - 32, frame_address),
        YIELD_VECTOR => crate::sched::switch_from_trap(frame_address),
        // No device raises these: inside a domain it is the extension's own
        // `int N` (a mutated instruction, say), a fault of the extension.
        48..=0xfe if from_extension => crate::nim::fault::on_exception_in_extension(frame),
        _ => {
            log::warn!("unexpected interrupt vector {vector}");
            frame_address
        }
    };
    crate::nim::fault::before_trap_return(resume)
}

fn handle_exception(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    if vector == PAGE_FAULT || vector == GENERAL_PROTECTION {
        let cr2 = if vector == PAGE_FAULT { read_cr2() } else { 0 };
        if let Some(resume) = fixup::resume_address(frame.rip) {
            fixup::record_fault(vector, frame.error_code, cr2);
            frame.rip = resume;
            return;
        }
    }
    match vector {
        BREAKPOINT => {
            BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
        }
        _ => fatal_exception(frame),
    }
}

/// Reads CR2, the address of the last page fault.
pub fn read_cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// A small fixed buffer for text built where the heap may not be usable.
pub struct FixedText<const N: usize> {
    bytes: [u8; N],
    length: usize,
}

impl<const N: usize> FixedText<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        Self {
            bytes: [0; N],
            length: 0,
        }
    }

    /// The text written so far (truncated at N bytes).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.length]).unwrap_or("?")
    }
}

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for FixedText<N> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for &byte in text.as_bytes() {
            if self.length < N {
                self.bytes[self.length] = byte;
                self.length += 1;
            }
        }
        Ok(())
    }
}

/// Prints the report of an unrecoverable exception and stops the kernel.
pub(crate) fn fatal_exception(frame: &TrapFrame) -> ! {
    let vector = frame.vector as u8;
    let cr2 = (vector == PAGE_FAULT || vector == DOUBLE_FAULT).then(read_cr2);
    let mut context = FixedText::<96>::new();
    let cpu = this_cpu();
    if cpu.interrupt_depth.load(Ordering::Relaxed) > 0 {
        let _ = write!(
            context,
            "interrupt handler (vector {}) on ",
            cpu.current_vector.load(Ordering::Relaxed)
        );
    }
    crate::sched::describe_current(&mut context);
    let report = trap_report::ExceptionReport {
        vector,
        error_code: frame.error_code,
        rip: frame.rip,
        rsp: frame.rsp,
        rflags: frame.rflags,
        cs: frame.cs,
        cr2,
        context: context.as_str(),
    };
    crate::console::emergency_print(format_args!("\n{report}"));
    if let Some(address) = cr2 {
        if let Some(hint) = crate::memory::describe_fault_address(address) {
            crate::console::emergency_print(format_args!("  note: {hint}\n"));
        }
        if let Some(owner) = crate::sched::guard_page_owner(address) {
            crate::console::emergency_print(format_args!(
                "  note: that guard page belongs to thread {owner}\n"
            ));
        }
    }
    crate::console::emergency_print(format_args!(
        "  RAX {:#018x} RBX {:#018x} RCX {:#018x} RDX {:#018x}\n  RSI {:#018x} RDI {:#018x} RBP {:#018x} R8  {:#018x}\nkernel stopped\n",
        frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp, frame.r8
    ));
    super::exit_qemu(super::QemuExit::KernelStopped)
}

/// Builds the initial trap frame of a new thread: `iretq` from it enters
/// `entry(argument)` on `stack_top` with interrupts enabled.
pub fn initial_frame(entry: u64, argument: u64, stack_top: u64) -> TrapFrame {
    let selectors = super::gdt::selectors();
    TrapFrame {
        cr3: crate::memory::paging::kernel_root(),
        rdi: argument,
        rip: entry,
        cs: u64::from(selectors.code.0),
        rflags: 0x202,
        // At a function's first instruction rsp + 8 is 16-byte aligned.
        rsp: stack_top - 8,
        ss: u64::from(selectors.data.0),
        ..TrapFrame::default()
    }
}
