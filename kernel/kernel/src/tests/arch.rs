//! Traps, fault fix-ups, per-CPU data and interrupt-flag handling.

use crate::arch::{fixup, percpu, trap};
use crate::sched::sync::IrqSpinlock;
use crate::{ensure, kernel_test, sched};
use core::sync::atomic::Ordering;
use trap_report::PageFaultError;

kernel_test!(breakpoint_trap_resumes {
    let before = trap::BREAKPOINTS.load(Ordering::Relaxed);
    // SAFETY: int3 is handled (counted) and execution resumes after it.
    unsafe { core::arch::asm!("int3") };
    let after = trap::BREAKPOINTS.load(Ordering::Relaxed);
    ensure!(after == before + 1, "breakpoint count went from {before} to {after}");
    Ok(())
});

kernel_test!(null_page_read_faults_not_present {
    let fault = match fixup::probe_read_u8(0x10) {
        Ok(value) => return Err(alloc::format!("read of 0x10 succeeded with {value:#x}")),
        Err(fault) => fault,
    };
    let error = PageFaultError::from_bits_retain(fault.error_code);
    ensure!(fault.vector == 14, "vector {} instead of 14", fault.vector);
    ensure!(fault.address == 0x10, "CR2 {:#x} instead of 0x10", fault.address);
    ensure!(!error.contains(PageFaultError::PRESENT), "error code {:#x} says present", fault.error_code);
    ensure!(!error.contains(PageFaultError::WRITE), "error code {:#x} says write", fault.error_code);
    Ok(())
});

kernel_test!(kernel_text_is_not_writable {
    let address = crate::arch::halt as *const () as u64;
    let original = fixup::probe_read_u8(address).map_err(|f| alloc::format!("text unreadable: {f:?}"))?;
    // SAFETY: writes back the byte that is already there, so even if the
    // write were (wrongly) allowed nothing would change.
    let result = unsafe { fixup::probe_write_u8(address, original) };
    let fault = match result {
        Ok(()) => return Err(alloc::string::String::from("write to kernel text succeeded")),
        Err(fault) => fault,
    };
    let error = PageFaultError::from_bits_retain(fault.error_code);
    ensure!(fault.address == address, "CR2 {:#x} instead of {address:#x}", fault.address);
    ensure!(error.contains(PageFaultError::PRESENT | PageFaultError::WRITE), "error code {:#x}", fault.error_code);
    Ok(())
});

kernel_test!(non_canonical_access_is_a_general_protection_fault {
    let fault = match fixup::probe_read_u8(0x8000_0000_0000_0000) {
        Ok(_) => return Err(alloc::string::String::from("non-canonical read succeeded")),
        Err(fault) => fault,
    };
    ensure!(fault.vector == 13, "vector {} instead of 13 (#GP)", fault.vector);
    Ok(())
});

kernel_test!(per_cpu_current_thread_follows_switches {
    let outer = sched::current_thread_id();
    let handle = sched::spawn("percpu-check", || sched::current_thread_id() as i32)
        .map_err(|e| alloc::format!("spawn: {e:?}"))?;
    let id = handle.id();
    let seen = handle.join().map_err(|e| alloc::format!("join: {e}"))?;
    ensure!(seen as u64 == id, "thread saw id {seen}, expected {id}");
    ensure!(sched::current_thread_id() == outer, "current id changed to {}", sched::current_thread_id());
    ensure!(percpu::this_cpu().interrupt_depth.load(Ordering::Relaxed) == 0, "interrupt depth not zero");
    Ok(())
});

kernel_test!(irq_spinlock_disables_and_restores_interrupts {
    let lock = IrqSpinlock::new(5u32);
    ensure!(crate::arch::interrupts_enabled(), "interrupts should be on in a test thread");
    {
        let guard = lock.lock();
        ensure!(!crate::arch::interrupts_enabled(), "interrupts on while holding the lock");
        ensure!(*guard == 5, "value lost");
        ensure!(lock.try_lock().is_none(), "lock taken twice");
    }
    ensure!(crate::arch::interrupts_enabled(), "interrupts not restored after unlock");
    Ok(())
});

kernel_test!(probe_copy_reports_a_faulting_source {
    let source = [1u8, 2, 3, 4];
    let mut destination = [0u8; 4];
    // SAFETY: the destination is a local array of the copied length.
    unsafe { fixup::probe_copy(destination.as_mut_ptr(), source.as_ptr() as u64, 4) }
        .map_err(|f| alloc::format!("copy of a valid buffer faulted: {f:?}"))?;
    ensure!(destination == source, "copied {destination:?}");
    // SAFETY: as above; the source is the unmapped null page.
    let fault = unsafe { fixup::probe_copy(destination.as_mut_ptr(), 0x100, 4) };
    ensure!(matches!(fault, Err(f) if f.vector == 14 && f.address == 0x100), "copy from the null page gave {fault:?}");
    Ok(())
});
