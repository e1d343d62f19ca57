//! Fault fix-ups: memory probes that turn a page fault or general
//! protection fault into an error instead of a kernel crash (the idea of
//! Linux's exception table).
//!
//! Invariant: only instructions listed in the `fault_fixups` section are
//! resumed after a fault; every other kernel fault stays fatal.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

global_asm!(
    r#"
    .section .text.probes, "ax"
    .global probe_read_u8_raw
probe_read_u8_raw:
10: mov al, byte ptr [rdi]
    mov byte ptr [rsi], al
    xor eax, eax
    ret
11: mov eax, 1
    ret

    .global probe_write_u8_raw
probe_write_u8_raw:
20: mov byte ptr [rdi], sil
    xor eax, eax
    ret
21: mov eax, 1
    ret

    .global probe_copy_raw
probe_copy_raw:
    mov rcx, rdx
    shr rcx, 3
30: rep movsq
    mov rcx, rdx
    and rcx, 7
32: rep movsb
    xor eax, eax
    ret
31: mov eax, 1
    ret

    .pushsection fault_fixups, "a"
    .quad 10b, 11b
    .quad 20b, 21b
    .quad 30b, 31b
    .quad 32b, 31b
    .popsection
    "#
);

unsafe extern "C" {
    fn probe_read_u8_raw(address: u64, out: *mut u8) -> u64;
    fn probe_write_u8_raw(address: u64, value: u8) -> u64;
    fn probe_copy_raw(destination: *mut u8, source: *const u8, length: usize) -> u64;
    static __start_fault_fixups: [u64; 0];
    static __stop_fault_fixups: [u64; 0];
}

/// Describes the fault a probe took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFault {
    /// 14 for a page fault, 13 for a general protection fault.
    pub vector: u8,
    /// The CPU's error code.
    pub error_code: u64,
    /// CR2 (the faulting address) for page faults, else 0.
    pub address: u64,
}

static LAST_VECTOR: AtomicU64 = AtomicU64::new(0);
static LAST_ERROR: AtomicU64 = AtomicU64::new(0);
static LAST_ADDRESS: AtomicU64 = AtomicU64::new(0);

/// If `rip` is a probe instruction, the address to resume at.
pub fn resume_address(rip: u64) -> Option<u64> {
    // SAFETY: the linker script brackets the fixup section with these
    // symbols; it holds pairs of u64 (faulting rip, resume address).
    let table: &[[u64; 2]] = unsafe {
        let start = core::ptr::addr_of!(__start_fault_fixups) as *const [u64; 2];
        let stop = core::ptr::addr_of!(__stop_fault_fixups) as *const [u64; 2];
        core::slice::from_raw_parts(start, stop.offset_from(start) as usize)
    };
    table
        .iter()
        .find(|entry| entry[0] == rip)
        .map(|entry| entry[1])
}

/// Called by the trap dispatcher when it resumes a probe.
pub fn record_fault(vector: u8, error_code: u64, address: u64) {
    LAST_VECTOR.store(u64::from(vector), Ordering::Relaxed);
    LAST_ERROR.store(error_code, Ordering::Relaxed);
    LAST_ADDRESS.store(address, Ordering::Relaxed);
}

fn last_fault() -> ProbeFault {
    ProbeFault {
        vector: LAST_VECTOR.load(Ordering::Relaxed) as u8,
        error_code: LAST_ERROR.load(Ordering::Relaxed),
        address: LAST_ADDRESS.load(Ordering::Relaxed),
    }
}

/// Reads one byte at `address`, reporting a fault instead of crashing.
pub fn probe_read_u8(address: u64) -> Result<u8, ProbeFault> {
    let mut value = 0u8;
    // SAFETY: the probe touches only `address`; if that faults the fix-up
    // resumes it with an error. `value` is a valid local to write.
    let status = super::without_interrupts(|| unsafe { probe_read_u8_raw(address, &mut value) });
    if status == 0 {
        Ok(value)
    } else {
        Err(last_fault())
    }
}

/// Writes one byte at `address`, reporting a fault instead of crashing.
///
/// # Safety
///
/// If the write succeeds it changes memory: the caller must own `address`
/// or write a value that leaves it unchanged.
pub unsafe fn probe_write_u8(address: u64, value: u8) -> Result<(), ProbeFault> {
    // SAFETY: the caller vouches for the effect of the write; a fault is
    // turned into an error by the fix-up.
    let status = super::without_interrupts(|| unsafe { probe_write_u8_raw(address, value) });
    if status == 0 {
        Ok(())
    } else {
        Err(last_fault())
    }
}

/// Copies `length` bytes from `source` to `destination`, reporting a fault
/// (on either side) instead of crashing. Used to copy from memory the
/// kernel does not trust.
///
/// # Safety
///
/// `destination..destination+length` must be memory the caller may write.
pub unsafe fn probe_copy(
    destination: *mut u8,
    source: u64,
    length: usize,
) -> Result<(), ProbeFault> {
    // SAFETY: the caller vouches for the destination; faults on the source
    // are turned into an error by the fix-up.
    let status = super::without_interrupts(|| unsafe {
        probe_copy_raw(destination, source as *const u8, length)
    });
    if status == 0 {
        Ok(())
    } else {
        Err(last_fault())
    }
}

/// Reads 8 bytes at `address` (little endian), reporting a fault instead
/// of crashing.
pub fn probe_read_u64(address: u64) -> Result<u64, ProbeFault> {
    let mut bytes = [0u8; 8];
    // SAFETY: the destination is a local buffer of 8 bytes.
    unsafe { probe_copy(bytes.as_mut_ptr(), address, 8)? };
    Ok(u64::from_le_bytes(bytes))
}
