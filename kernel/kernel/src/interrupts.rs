//! Hardware interrupts through the 8259 PICs (remapped to vectors 32..48).
//!
//! Invariant: `interrupt_depth` in the per-CPU data is non-zero exactly
//! while a handler runs, which is how blocking in interrupt context is
//! detected.

use crate::arch::percpu::this_cpu;
use crate::sched::sync::IrqSpinlock;
use core::sync::atomic::{AtomicU64, Ordering};
use pic8259::ChainedPics;

/// First vector of the master PIC.
pub const PIC_BASE_VECTOR: u8 = 32;
/// IRQ line of the PIT.
pub const TIMER_IRQ: u8 = 0;
/// IRQ line of COM1.
pub const SERIAL_IRQ: u8 = 4;

static PICS: IrqSpinlock<ChainedPics> = IrqSpinlock::new(
    // SAFETY: vectors 32..48 do not collide with CPU exceptions and nothing
    // else uses them.
    unsafe { ChainedPics::new(PIC_BASE_VECTOR, PIC_BASE_VECTOR + 8) },
);

/// Interrupts handled per IRQ line.
pub static IRQ_COUNTS: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

/// Initialises both PICs and unmasks the timer, cascade and COM1 lines.
pub fn init() {
    let mut pics = PICS.lock();
    // SAFETY: standard 8259 initialisation on the PC's fixed ports, done
    // once with interrupts disabled.
    unsafe {
        pics.initialize();
        let master_mask = !((1u8 << TIMER_IRQ) | (1 << 2) | (1 << SERIAL_IRQ));
        pics.write_masks(master_mask, 0xff);
    }
}

/// Dispatches IRQ `line`; returns the stack pointer to resume (the timer
/// may switch threads).
pub fn handle_irq(line: u8, stack_pointer: u64) -> u64 {
    let cpu = this_cpu();
    cpu.interrupt_depth.fetch_add(1, Ordering::Relaxed);
    cpu.current_vector
        .store(u32::from(PIC_BASE_VECTOR + line), Ordering::Relaxed);
    IRQ_COUNTS[usize::from(line)].fetch_add(1, Ordering::Relaxed);
    match line {
        TIMER_IRQ => crate::time::on_tick(),
        SERIAL_IRQ => crate::console::on_serial_interrupt(),
        _ => {
            crate::nim::services::on_device_interrupt(line);
        }
    }
    // SAFETY: we are in the handler of exactly this interrupt.
    unsafe { PICS.lock().notify_end_of_interrupt(PIC_BASE_VECTOR + line) };
    cpu.interrupt_depth.fetch_sub(1, Ordering::Relaxed);
    if line == TIMER_IRQ {
        let stack_pointer = crate::nim::fault::on_timer_tick(stack_pointer);
        crate::sched::on_timer_tick(stack_pointer)
    } else {
        stack_pointer
    }
}

/// The edge/level control registers of the PIIX's PICs (one bit per line,
/// set: level-triggered).
const EDGE_LEVEL_CONTROL_PORTS: [u16; 2] = [0x4d0, 0x4d1];

/// Makes `line` level-triggered at the PICs, as a PCI INTx line is (the
/// device holds it asserted until its driver clears the cause). Lines 0, 1,
/// 2, 8 and 13 must stay edge-triggered; they are refused.
pub fn set_line_level_triggered(line: u8) -> bool {
    if line >= 16 || [0, 1, 2, 8, 13].contains(&line) {
        return false;
    }
    let _pics = PICS.lock();
    let port = EDGE_LEVEL_CONTROL_PORTS[usize::from(line / 8)];
    // SAFETY: the edge/level control registers only select how the PICs
    // sample the lines; the line is masked or owned by a PCI driver, and the
    // kernel's own lines are excluded above.
    unsafe {
        let mut register = x86_64::instructions::port::Port::<u8>::new(port);
        let value = register.read();
        register.write(value | 1 << (line % 8));
    }
    true
}

/// Masks (`true`) or unmasks ISA interrupt `line` at the PICs.
pub fn set_line_masked(line: u8, masked: bool) {
    let mut pics = PICS.lock();
    // SAFETY: reading and writing the PIC mask registers has no effect
    // beyond enabling or disabling delivery of the lines.
    unsafe {
        let [mut master, mut slave] = pics.read_masks();
        let (mask, bit) = if line < 8 {
            (&mut master, line)
        } else {
            (&mut slave, line - 8)
        };
        if masked {
            *mask |= 1 << bit;
        } else {
            *mask &= !(1 << bit);
        }
        pics.write_masks(master, slave);
    }
}
