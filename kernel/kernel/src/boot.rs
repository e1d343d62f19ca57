//! PVH boot: the ELF note QEMU looks for, the 32-bit entry that switches to
//! long mode, and the copy of the PVH start info into kernel-owned memory.
//!
//! QEMU's PVH loader enters `pvh_start` in 32-bit protected mode with paging
//! off and `ebx` holding the physical address of an `hvm_start_info`. The
//! entry code zeroes `.bss`, identity-maps the first 4 GiB with 2 MiB pages,
//! enables PAE, long mode, NX (when the CPU has it) and paging, and calls
//! [`crate::kernel_entry`] on the boot stack. Everything else happens in Rust.

use core::arch::global_asm;

/// Size of the stack the boot processor starts on (it becomes the stack of
/// the first kernel thread).
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    /* PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY = 18). QEMU reads the
       descriptor as a 64-bit value for an ELF64 kernel. */
    .pushsection .note.Xen, "a", @note
    .p2align 2
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .p2align 2
    .quad pvh_start
    .popsection

    .section .text.boot, "ax"
    .code32
    .global pvh_start
pvh_start:
    cli
    cld
    mov %ebx, %esi                      /* keep the start-info address */
    rdtsc
    mov %eax, boot_tsc
    mov %edx, boot_tsc + 4

    /* Zero .bss (page tables and stacks live there). */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl

    mov $boot_stack_top, %esp

    /* PML4[0] -> PDPT; PDPT[0..4] -> four page directories of 2 MiB pages. */
    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $12, %eax
    add $boot_pd, %eax
    or $0x3, %eax
    mov %eax, boot_pdpt(,%ecx,8)
    inc %ecx
    cmp $4, %ecx
    jne 1b
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax                      /* present, writable, 2 MiB */
    mov %eax, boot_pd(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    /* CR4: PAE (bit 5) and PGE (bit 7). */
    mov %cr4, %eax
    or $0xa0, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3

    /* EFER: long mode enable, and NX enable when CPUID says it exists. */
    mov $0x80000001, %eax
    cpuid
    mov $0x100, %edi                    /* LME */
    bt $20, %edx
    jnc 3f
    or $0x800, %edi                     /* NXE */
3:  mov $0xc0000080, %ecx
    rdmsr
    or %edi, %eax
    wrmsr

    /* CR0: paging and write-protect (supervisor writes honour read-only). */
    mov %cr0, %eax
    or $0x80010000, %eax
    mov %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $long_mode_entry

    .code64
long_mode_entry:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    mov %esi, %edi                      /* zero-extends into rdi */
    xor %ebp, %ebp
    call kernel_entry
4:  hlt
    jmp 4b

    .section .rodata.boot_gdt, "a"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff            /* 64-bit code */
    .quad 0x00cf92000000ffff            /* data */
boot_gdt_pointer:
    .word boot_gdt_pointer - boot_gdt - 1
    .long boot_gdt

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4
    .global boot_stack_bottom
boot_stack_bottom:
    .skip {stack_size}
    .global boot_stack_top
boot_stack_top:

    .section .data.boot_tsc, "aw"
    .p2align 3
    .global boot_tsc
boot_tsc: .quad 0
    "#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);

unsafe extern "C" {
    static boot_tsc: u64;
}

/// The time-stamp counter value read by the very first instruction of the
/// kernel, used to report how long boot took.
pub fn boot_timestamp() -> u64 {
    // SAFETY: `boot_tsc` is written once by the 32-bit entry code before any
    // Rust runs and never written again.
    unsafe { core::ptr::addr_of!(boot_tsc).read_volatile() }
}

/// `hvm_start_info.magic`.
const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Most memory-map entries we keep.
pub const MAX_MEMORY_REGIONS: usize = 64;
/// Longest kernel command line we keep.
pub const MAX_COMMAND_LINE: usize = 1024;

/// One entry of the firmware memory map (E820 types).
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryRegion {
    /// Physical start address.
    pub start: u64,
    /// Length in bytes.
    pub length: u64,
    /// E820 type: 1 = usable RAM, 2 = reserved, 3 = ACPI reclaimable, ...
    pub kind: u32,
}

impl MemoryRegion {
    /// E820 type of usable RAM.
    pub const USABLE: u32 = 1;
}

/// What the kernel keeps of the PVH start info, copied out of firmware
/// memory before the frame allocator takes over.
pub struct BootInfo {
    /// Memory map entries, `regions[..region_count]` are valid.
    pub regions: [MemoryRegion; MAX_MEMORY_REGIONS],
    /// Number of valid entries in `regions`.
    pub region_count: usize,
    command_line: [u8; MAX_COMMAND_LINE],
    command_line_length: usize,
    /// Physical address of the start info structure (reported in logs).
    pub start_info_address: u64,
}

impl BootInfo {
    /// The kernel command line (`-append` in QEMU), empty when absent.
    pub fn command_line(&self) -> &str {
        core::str::from_utf8(&self.command_line[..self.command_line_length]).unwrap_or("")
    }

    /// Valid memory-map entries.
    pub fn memory_regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }
}

#[repr(C)]
struct HvmStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    module_count: u32,
    module_list_address: u64,
    command_line_address: u64,
    rsdp_address: u64,
    memory_map_address: u64,
    memory_map_entries: u32,
    reserved: u32,
}

#[repr(C)]
struct HvmMemoryMapEntry {
    address: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// Error when the start info is not what PVH promises.
#[derive(Debug)]
pub struct BadStartInfo(pub &'static str);

/// Copies the PVH start info at physical `address`.
///
/// # Safety
///
/// `address` must be the value QEMU passed in `ebx`, and the first 4 GiB
/// must still be identity-mapped (the boot page tables are active).
pub unsafe fn read_start_info(address: u64) -> Result<BootInfo, BadStartInfo> {
    let mut info = BootInfo {
        regions: [MemoryRegion::default(); MAX_MEMORY_REGIONS],
        region_count: 0,
        command_line: [0; MAX_COMMAND_LINE],
        command_line_length: 0,
        start_info_address: address,
    };
    if address == 0 || address >= 1 << 32 {
        return Err(BadStartInfo("start info address is not below 4 GiB"));
    }
    // SAFETY: the caller guarantees the address came from the PVH loader and
    // is identity-mapped; the structure is plain data.
    let start = unsafe { &*(address as *const HvmStartInfo) };
    if start.magic != START_INFO_MAGIC {
        return Err(BadStartInfo(
            "start info magic is wrong (not booted through PVH?)",
        ));
    }
    if start.memory_map_address == 0 || start.memory_map_entries == 0 {
        return Err(BadStartInfo(
            "start info has no memory map (PVH version 0?)",
        ));
    }
    let entries = (start.memory_map_entries as usize).min(MAX_MEMORY_REGIONS);
    for index in 0..entries {
        // SAFETY: the loader provides `memory_map_entries` entries at this
        // identity-mapped physical address.
        let entry =
            unsafe { &*((start.memory_map_address as *const HvmMemoryMapEntry).add(index)) };
        info.regions[index] = MemoryRegion {
            start: entry.address,
            length: entry.size,
            kind: entry.kind,
        };
    }
    info.region_count = entries;
    if start.command_line_address != 0 {
        let mut length = 0;
        while length < MAX_COMMAND_LINE {
            // SAFETY: the command line is a NUL-terminated string in
            // identity-mapped memory; we stop at the terminator or our limit.
            let byte = unsafe { *((start.command_line_address as *const u8).add(length)) };
            if byte == 0 {
                break;
            }
            info.command_line[length] = byte;
            length += 1;
        }
        info.command_line_length = length;
    }
    Ok(info)
}
