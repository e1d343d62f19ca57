//! Extension procedure calls: the only way across a domain boundary.
//!
//! Kernel → extension ([`call_entry`]): save the caller's callee-saved
//! registers and flags on its kernel stack, switch to a stack of the target
//! domain, load the domain's page-table root, call the entry, and reverse
//! all of it on return. Extension → kernel ([`kernel_service_trampoline`]):
//! load the kernel's root, continue on the thread's kernel stack (where the
//! innermost kernel → extension call left it), run the service, and return.
//!
//! Invariants:
//! - Each crossing pushes an [`XpcFrame`] on the thread's kernel stack and
//!   links it into the per-CPU (per-thread) chain; the chain is how a fault
//!   finds the call to unwind to, and how a service knows its caller.
//! - `xpc.kernel_stack` in the per-CPU block is the saved kernel stack of the
//!   innermost kernel → extension call (0 outside extensions).
//! - The check that a domain is alive and the load of its root happen with
//!   interrupts disabled, so recovery (a thread) cannot free a root between
//!   them.
//! - Unwinding resumes at [`xpc_unwind_landing`], which restores the state
//!   saved at entry and returns `Status::ExtensionFailed` to the caller.

use crate::arch::percpu::{XPC_KERNEL_STACK_OFFSET, this_cpu};
use core::arch::global_asm;
use core::sync::atomic::Ordering;
use extension_abi::Status;

// xpc_enter(entry, operation, message, length, stack_top, frame, enable_interrupts)
//   rdi      rsi        rdx      rcx     r8         r9     [rsp+8]
global_asm!(
    r#"
    .section .text.xpc, "ax"
    .global xpc_enter
xpc_enter:
    mov r10, qword ptr [rsp + 8]
    pushfq
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov qword ptr [r9], rsp
    mov qword ptr gs:[{kernel_stack}], rsp
    mov rax, rdi
    mov rdi, rsi
    mov rsi, rdx
    mov rdx, rcx
    mov r11, qword ptr [r9 + 8]
    mov rsp, r8
    test r11, r11
    jz 1f
    mov cr3, r11
1:
    test r10, r10
    jz 2f
    sti
2:
    call rax
    cli
    mov rcx, qword ptr [rip + {kernel_root}]
    mov rdx, cr3
    cmp rcx, rdx
    je 3f
    mov cr3, rcx
3:
    mov rsp, qword ptr gs:[{kernel_stack}]
    jmp xpc_return_common

    .global xpc_unwind_landing
xpc_unwind_landing:
    mov eax, {failed}
xpc_return_common:
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    popfq
    ret

    .global xpc_unwind_to
xpc_unwind_to:
    cli
    mov rsp, rdi
    jmp xpc_unwind_landing

    .global kernel_service_trampoline
kernel_service_trampoline:
    pushfq
    pop r9
    mov rax, cr3
    mov rcx, qword ptr [rip + {kernel_root}]
    cmp rax, rcx
    je 4f
    mov cr3, rcx
4:
    mov r8, rsp
    mov rsp, qword ptr gs:[{kernel_stack}]
    push r9
    push rax
    push r8
    push 0
    mov rcx, r8
    call kernel_service_dispatch
    add rsp, 8
    pop r8
    pop rcx
    pop rdx
    mov rsp, r8
    mov r9, cr3
    cmp rcx, r9
    je 5f
    mov cr3, rcx
5:
    push rdx
    popfq
    ret
    "#,
    kernel_root = sym crate::memory::paging::KERNEL_PAGE_TABLE_ROOT,
    kernel_stack = const XPC_KERNEL_STACK_OFFSET,
    failed = const Status::ExtensionFailed as u32,
);

unsafe extern "C" {
    fn xpc_enter(
        entry: u64,
        operation: u64,
        message: u64,
        length: u64,
        stack_top: u64,
        frame: *mut XpcFrame,
        enable_interrupts: u64,
    ) -> u64;
    /// Abandons the current context and resumes the kernel → extension call
    /// whose saved kernel stack is `saved_kernel_stack`, as failed.
    fn xpc_unwind_to(saved_kernel_stack: u64) -> !;
    /// Where an unwound call resumes (see the module docs).
    pub fn xpc_unwind_landing();
    /// The kernel service entry handed to isolated extensions.
    pub fn kernel_service_trampoline();
}

/// Which way a frame crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Crossing {
    /// The kernel called into an extension.
    KernelToExtension,
    /// An extension called a kernel service.
    ExtensionToKernel,
}

/// One crossing, on the kernel stack of the thread that made it.
#[repr(C)]
pub struct XpcFrame {
    /// Kernel stack pointer saved by `xpc_enter` (offset 0, used by the
    /// assembly); 0 until the assembly ran.
    pub saved_kernel_stack: u64,
    /// Root to load for the call (offset 8, used by the assembly); 0 for a
    /// native (unisolated) extension.
    pub domain_root: u64,
    /// The frame this one is nested in (0: none).
    pub previous: u64,
    /// `xpc.kernel_stack` before this frame (restored when it is popped).
    pub previous_kernel_stack: u64,
    /// Direction.
    pub crossing: Crossing,
    /// Extension slot.
    pub slot: u16,
    /// Generation of the instance called (or calling).
    pub generation: u32,
    /// For extension → kernel: the extension's stack pointer at the call.
    pub extension_stack_pointer: u64,
    /// Set when the call was unwound by a fault.
    pub unwound: bool,
}

impl XpcFrame {
    /// A frame for `slot`/`generation` (not linked yet).
    pub fn new(crossing: Crossing, slot: u16, generation: u32, domain_root: u64) -> Self {
        Self {
            saved_kernel_stack: 0,
            domain_root,
            previous: 0,
            previous_kernel_stack: 0,
            crossing,
            slot,
            generation,
            extension_stack_pointer: 0,
            unwound: false,
        }
    }

    fn push(&mut self) {
        let cpu = this_cpu();
        self.previous = cpu.xpc.innermost_frame.load(Ordering::Relaxed);
        self.previous_kernel_stack = cpu.xpc.kernel_stack.load(Ordering::Relaxed);
        cpu.xpc
            .innermost_frame
            .store(self as *mut XpcFrame as u64, Ordering::Relaxed);
        cpu.xpc.ticks_in_extension.store(0, Ordering::Relaxed);
        cpu.xpc.nmis_in_extension.store(0, Ordering::Relaxed);
    }

    fn pop(&self) {
        let cpu = this_cpu();
        cpu.xpc
            .innermost_frame
            .store(self.previous, Ordering::Relaxed);
        cpu.xpc
            .kernel_stack
            .store(self.previous_kernel_stack, Ordering::Relaxed);
        cpu.xpc.ticks_in_extension.store(0, Ordering::Relaxed);
        cpu.xpc.nmis_in_extension.store(0, Ordering::Relaxed);
    }
}

/// The running thread's innermost frame, if any.
pub fn innermost() -> Option<&'static mut XpcFrame> {
    let address = this_cpu().xpc.innermost_frame.load(Ordering::Relaxed);
    // SAFETY: a non-zero value is the address of a live XpcFrame on this
    // thread's kernel stack (frames are linked in `push` and unlinked in
    // `pop` before their storage ends).
    (address != 0).then(|| unsafe { &mut *(address as *mut XpcFrame) })
}

/// The innermost kernel → extension frame of the running thread.
pub fn innermost_call() -> Option<&'static mut XpcFrame> {
    let frame = innermost()?;
    (frame.crossing == Crossing::KernelToExtension).then_some(frame)
}

/// How a kernel → extension call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// The entry returned this raw value.
    Returned(u64),
    /// The extension failed during the call; it was unwound.
    Failed,
}

/// Calls `entry(operation, message, length)` in the domain described by
/// `frame` (isolated: on `stack_top` with the domain's root; native:
/// `domain_root == 0`, a direct call on the current stack).
///
/// `still_alive` runs with interrupts disabled just before the crossing:
/// if it says no, nothing is called and `None` comes back.
pub fn call_entry(
    frame: &mut XpcFrame,
    entry: u64,
    operation: u64,
    message: u64,
    length: u64,
    stack_top: u64,
    still_alive: impl FnOnce() -> bool,
) -> Option<CallOutcome> {
    let interrupts_were_enabled = crate::arch::disable_interrupts();
    if !still_alive() {
        crate::arch::restore_interrupts(interrupts_were_enabled);
        return None;
    }
    frame.push();
    let value = if frame.domain_root == 0 {
        crate::arch::restore_interrupts(interrupts_were_enabled);
        // SAFETY: native mode: `entry` is the relocated entry point of a
        // loaded image with the ExtensionEntry signature (the ABI); a fault
        // in it is a kernel fault, as in an unisolated kernel.
        let function: extern "C" fn(u64, u64, u64) -> u64 =
            unsafe { core::mem::transmute(entry as usize) };
        let value = function(operation, message, length);
        crate::arch::disable_interrupts();
        value
    } else {
        // SAFETY: `frame` is pinned on this stack for the call; `stack_top`
        // is the top of a mapped stack of the domain whose root is in the
        // frame; `entry` lies in that domain's text. The assembly saves and
        // restores every callee-saved register and the flags.
        unsafe {
            xpc_enter(
                entry,
                operation,
                message,
                length,
                stack_top,
                frame,
                u64::from(interrupts_were_enabled),
            )
        }
    };
    frame.pop();
    crate::arch::restore_interrupts(interrupts_were_enabled);
    Some(match frame.unwound {
        true => CallOutcome::Failed,
        false => CallOutcome::Returned(value),
    })
}

/// Where a trap that unwinds the current call resumes: writes a trap frame
/// right below `frame.saved_kernel_stack` (where the trap entry moved the
/// frame of a trap taken in the domain) that enters [`xpc_unwind_landing`]
/// with the kernel's page tables, marks the frame unwound, and returns the
/// trap frame's address (the stack pointer to resume from).
///
/// # Safety
/// `frame` is a kernel → extension frame of the thread whose context is
/// being replaced, and everything below its saved kernel stack belongs to
/// the abandoned extension context.
pub unsafe fn landing_frame(frame: &mut XpcFrame) -> Option<u64> {
    if frame.saved_kernel_stack == 0 {
        return None;
    }
    frame.unwound = true;
    let top = frame.saved_kernel_stack;
    let landing = xpc_unwind_landing as *const () as u64;
    // initial_frame sets rsp to its stack top minus 8.
    let mut trap_frame = crate::arch::trap::initial_frame(landing, 0, top + 8);
    trap_frame.rflags = 0x2;
    // Exactly where trap_common puts the frame of a trap taken inside the
    // domain: for the current thread that is the frame being returned
    // from (above the handler's own stack, which must not be touched).
    let address = (top - core::mem::size_of::<crate::arch::trap::TrapFrame>() as u64) & !0xf;
    // SAFETY: per the contract, the area below the saved kernel stack is
    // unused kernel stack of this thread.
    unsafe { (address as *mut crate::arch::trap::TrapFrame).write(trap_frame) };
    Some(address)
}

/// Abandons the running extension → kernel service and unwinds the
/// kernel → extension call it came from (the extension failed while the
/// service ran). Never returns.
pub fn unwind_current_call(call: &mut XpcFrame) -> ! {
    call.unwound = true;
    let stack = call.saved_kernel_stack;
    // SAFETY: `stack` is the saved kernel stack of a live call of this
    // thread (saved registers and flags are there); nothing on the stack
    // below it is needed any more (the caller dropped its resources).
    unsafe { xpc_unwind_to(stack) }
}

/// Pushes the extension → kernel frame of a service call.
pub fn enter_service(frame: &mut XpcFrame) {
    frame.push();
}

/// Pops a frame pushed by [`enter_service`].
pub fn leave_service(frame: &XpcFrame) {
    frame.pop();
}
