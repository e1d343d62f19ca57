//! The kernel's page tables: build them at boot, and map, unmap, change
//! protection and translate single 4 KiB pages afterwards.
//!
//! Invariants:
//! - All RAM is identity-mapped, so a page table at physical address P is
//!   reachable at virtual address P.
//! - The upper-half top-level entries (256..512) are created at boot and
//!   never change, so an address space that copies them (a protection
//!   domain, later) sees every later kernel mapping at once.
//! - Intermediate tables below the top level are freed when they become
//!   empty, so map/unmap round trips return every frame.
//! - Kernel text and read-only data are global; writable kernel memory is
//!   not (its rights will differ inside protection domains).

use super::frames;
use crate::sched::sync::IrqSpinlock;
use bitflags::bitflags;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use x86_64::structures::paging::page_table::{PageTable, PageTableEntry, PageTableFlags as Flags};
use x86_64::{PhysAddr, VirtAddr};

/// Base of the kernel heap region.
pub const KERNEL_HEAP_BASE: u64 = 0xffff_8800_0000_0000;
/// Largest kernel heap.
pub const KERNEL_HEAP_LIMIT: u64 = 512 * 1024 * 1024;
/// Base of the kernel stack region.
pub const KERNEL_STACKS_BASE: u64 = 0xffff_9000_0000_0000;
/// Base of a region for scratch mappings (tests).
pub const SCRATCH_BASE: u64 = 0xffff_a000_0000_0000;
/// Base of the region that stays writable inside every protection domain:
/// the stacks the CPU itself switches to (double fault, NMI), which it may
/// do while a domain's page tables are loaded.
pub const SHARED_WRITABLE_BASE: u64 = 0xffff_b000_0000_0000;
/// Base of the extension regions: region N (one top-level entry, 512 GiB)
/// holds everything extension N owns (image, heap, stacks, grants) and is
/// the only writable memory inside its domain besides the shared region.
pub const EXTENSION_REGION_BASE: u64 = 0xffff_c000_0000_0000;
/// Size of one extension region (what one top-level entry maps).
pub const EXTENSION_REGION_SIZE: u64 = 1 << 39;
/// Number of extension regions.
pub const EXTENSION_REGIONS: usize = 64;

const PAGE_SIZE: u64 = 4096;
const HUGE_PAGE_SIZE: u64 = 2 * 1024 * 1024;

bitflags! {
    /// Access rights of a mapping (read access is implied).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PageRights: u8 {
        /// Writable.
        const WRITE = 1 << 0;
        /// Executable.
        const EXECUTE = 1 << 1;
        /// Global: the TLB entry survives CR3 switches. Only for mappings
        /// whose rights are the same in every address space.
        const GLOBAL = 1 << 2;
        /// Uncached (device memory).
        const UNCACHED = 1 << 3;
    }
}

/// Why a paging operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingError {
    /// Address not 4 KiB aligned or not canonical.
    BadAddress,
    /// Something is already mapped there.
    AlreadyMapped,
    /// Nothing is mapped there.
    NotMapped,
    /// No frame for a page table.
    OutOfMemory,
}

/// Result of [`translate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address the virtual address maps to.
    pub physical: u64,
    /// Rights of the mapping.
    pub rights: PageRights,
    /// 4 KiB or 2 MiB.
    pub page_size: u64,
}

/// Physical address of the kernel's top-level table. Read by the trap entry
/// assembly (by symbol) to leave a protection domain.
pub static KERNEL_PAGE_TABLE_ROOT: AtomicU64 = AtomicU64::new(0);
static NX_SUPPORTED: AtomicBool = AtomicBool::new(false);
/// Set once boot has built the top level: from then on no top-level entry
/// is ever added or removed (domains copy them).
static TOP_LEVEL_FROZEN: AtomicBool = AtomicBool::new(false);
/// Domain page-table roots alive (for leak checks).
static DOMAIN_ROOTS: AtomicU64 = AtomicU64::new(0);
static TEXT_END: AtomicU64 = AtomicU64::new(0);
static TEXT_START: AtomicU64 = AtomicU64::new(0);
/// Serialises changes to the kernel's page tables.
static PAGE_TABLE_LOCK: IrqSpinlock<()> = IrqSpinlock::new(());

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
}

fn symbol(address: *const u8) -> u64 {
    address as u64
}

/// Physical address of the kernel's top-level table.
pub fn kernel_root() -> u64 {
    KERNEL_PAGE_TABLE_ROOT.load(Ordering::Relaxed)
}

/// Is `address` inside the kernel's text?
pub fn kernel_text_contains(address: u64) -> bool {
    (TEXT_START.load(Ordering::Relaxed)..TEXT_END.load(Ordering::Relaxed)).contains(&address)
}

fn leaf_flags(rights: PageRights) -> Flags {
    let mut flags = Flags::PRESENT;
    if rights.contains(PageRights::WRITE) {
        flags |= Flags::WRITABLE;
    }
    if !rights.contains(PageRights::EXECUTE) && NX_SUPPORTED.load(Ordering::Relaxed) {
        flags |= Flags::NO_EXECUTE;
    }
    if rights.contains(PageRights::GLOBAL) {
        flags |= Flags::GLOBAL;
    }
    if rights.contains(PageRights::UNCACHED) {
        flags |= Flags::NO_CACHE | Flags::WRITE_THROUGH;
    }
    flags
}

fn rights_of(flags: Flags) -> PageRights {
    let mut rights = PageRights::empty();
    if flags.contains(Flags::WRITABLE) {
        rights |= PageRights::WRITE;
    }
    if !flags.contains(Flags::NO_EXECUTE) {
        rights |= PageRights::EXECUTE;
    }
    if flags.contains(Flags::GLOBAL) {
        rights |= PageRights::GLOBAL;
    }
    if flags.contains(Flags::NO_CACHE) {
        rights |= PageRights::UNCACHED;
    }
    rights
}

/// Intermediate entries are permissive; leaves carry the real rights.
const TABLE_FLAGS: Flags = Flags::PRESENT.union(Flags::WRITABLE);

/// # Safety
/// `physical` must be the address of a page table owned by the kernel's
/// page-table tree, and the caller must hold `PAGE_TABLE_LOCK` (or be in
/// single-threaded boot) for a mutable use.
unsafe fn table_at(physical: u64) -> &'static mut PageTable {
    // SAFETY: RAM is identity-mapped and the caller guarantees this is a
    // page table frame with exclusive access.
    unsafe { &mut *(physical as *mut PageTable) }
}

fn indices(virtual_address: u64) -> [usize; 4] {
    let address = VirtAddr::new_truncate(virtual_address);
    [
        usize::from(address.p4_index()),
        usize::from(address.p3_index()),
        usize::from(address.p2_index()),
        usize::from(address.p1_index()),
    ]
}

fn new_table() -> Result<u64, PagingError> {
    frames::allocate_zeroed().ok_or(PagingError::OutOfMemory)
}

fn flush(virtual_address: u64) {
    x86_64::instructions::tlb::flush(VirtAddr::new_truncate(virtual_address));
}

fn check_address(virtual_address: u64) -> Result<(), PagingError> {
    if !virtual_address.is_multiple_of(PAGE_SIZE) || VirtAddr::try_new(virtual_address).is_err() {
        return Err(PagingError::BadAddress);
    }
    Ok(())
}

/// Replaces the 2 MiB page in `entry` with a table of 512 pages of the same
/// rights.
fn split_huge_page(entry: &mut PageTableEntry) -> Result<(), PagingError> {
    let table_address = new_table()?;
    let base = entry.addr().as_u64();
    let flags = entry.flags() - Flags::HUGE_PAGE;
    // SAFETY: freshly allocated table frame, not yet linked anywhere.
    let table = unsafe { table_at(table_address) };
    for (index, small) in table.iter_mut().enumerate() {
        small.set_addr(PhysAddr::new(base + index as u64 * PAGE_SIZE), flags);
    }
    entry.set_addr(PhysAddr::new(table_address), TABLE_FLAGS);
    Ok(())
}

/// Walks to the level-1 entry for `virtual_address`, creating tables (and
/// splitting a 2 MiB page) on the way when `create` is set.
///
/// # Safety
/// Caller holds `PAGE_TABLE_LOCK` and `root` is a valid top-level table.
unsafe fn walk(
    root: u64,
    virtual_address: u64,
    create: bool,
) -> Result<&'static mut PageTableEntry, PagingError> {
    let [i4, i3, i2, i1] = indices(virtual_address);
    let mut table_address = root;
    for (level, index) in [(4, i4), (3, i3), (2, i2)] {
        // SAFETY: `table_address` is a table of this tree (root or taken from
        // a present non-huge entry); the caller holds the lock.
        let table = unsafe { table_at(table_address) };
        let entry = &mut table[index];
        if entry.is_unused() {
            if !create {
                return Err(PagingError::NotMapped);
            }
            if level == 4 && TOP_LEVEL_FROZEN.load(Ordering::Relaxed) {
                // A new top-level entry would not be seen by existing
                // protection domains.
                return Err(PagingError::BadAddress);
            }
            let child = new_table()?;
            entry.set_addr(PhysAddr::new(child), TABLE_FLAGS);
        } else if level == 2 && entry.flags().contains(Flags::HUGE_PAGE) {
            split_huge_page(entry)?;
        }
        table_address = entry.addr().as_u64();
    }
    // SAFETY: as above, a level-1 table of this tree.
    Ok(unsafe { &mut table_at(table_address)[i1] })
}

/// Maps the 4 KiB page at `virtual_address` to `physical` with `rights`.
pub fn map(virtual_address: u64, physical: u64, rights: PageRights) -> Result<(), PagingError> {
    check_address(virtual_address)?;
    if !physical.is_multiple_of(PAGE_SIZE) {
        return Err(PagingError::BadAddress);
    }
    let _guard = PAGE_TABLE_LOCK.lock();
    // SAFETY: lock held; the kernel root is valid after init.
    let entry = unsafe { walk(kernel_root(), virtual_address, true)? };
    if !entry.is_unused() {
        return Err(PagingError::AlreadyMapped);
    }
    entry.set_addr(PhysAddr::new(physical), leaf_flags(rights));
    flush(virtual_address);
    Ok(())
}

/// Unmaps the 4 KiB page at `virtual_address`; returns the physical frame
/// it mapped (the caller decides whether to free it). Empty intermediate
/// tables below the top level are freed.
pub fn unmap(virtual_address: u64) -> Result<u64, PagingError> {
    check_address(virtual_address)?;
    let _guard = PAGE_TABLE_LOCK.lock();
    let [i4, i3, i2, i1] = indices(virtual_address);
    let root = kernel_root();
    // SAFETY: lock held; tables are reached from the root through present
    // entries only.
    unsafe {
        let l4 = table_at(root);
        if l4[i4].is_unused() {
            return Err(PagingError::NotMapped);
        }
        let l3_address = l4[i4].addr().as_u64();
        let l3 = table_at(l3_address);
        if l3[i3].is_unused() {
            return Err(PagingError::NotMapped);
        }
        let l2_address = l3[i3].addr().as_u64();
        let l2 = table_at(l2_address);
        if l2[i2].is_unused() {
            return Err(PagingError::NotMapped);
        }
        if l2[i2].flags().contains(Flags::HUGE_PAGE) {
            split_huge_page(&mut l2[i2])?;
        }
        let l1_address = l2[i2].addr().as_u64();
        let l1 = table_at(l1_address);
        if l1[i1].is_unused() {
            return Err(PagingError::NotMapped);
        }
        let physical = l1[i1].addr().as_u64();
        l1[i1].set_unused();
        flush(virtual_address);
        if l1.iter().all(|entry| entry.is_unused()) {
            l2[i2].set_unused();
            frames::free(l1_address);
            if l2.iter().all(|entry| entry.is_unused()) {
                l3[i3].set_unused();
                frames::free(l2_address);
            }
        }
        Ok(physical)
    }
}

/// Changes the rights of the mapped 4 KiB page at `virtual_address`
/// (splitting a 2 MiB page if needed).
pub fn protect(virtual_address: u64, rights: PageRights) -> Result<(), PagingError> {
    check_address(virtual_address)?;
    let _guard = PAGE_TABLE_LOCK.lock();
    // Walk without creating tables: a missing table means nothing is mapped.
    // SAFETY: lock held.
    let entry = unsafe { walk(kernel_root(), virtual_address, false)? };
    if entry.is_unused() {
        return Err(PagingError::NotMapped);
    }
    let physical = entry.addr();
    entry.set_addr(physical, leaf_flags(rights));
    flush(virtual_address);
    Ok(())
}

/// Looks `virtual_address` up in the kernel's page tables.
pub fn translate(virtual_address: u64) -> Option<Translation> {
    let _guard = PAGE_TABLE_LOCK.lock();
    translate_locked(virtual_address)
}

/// Like [`translate`], but gives up (None) instead of waiting when the
/// page tables are locked: for fault reports.
pub fn try_translate(virtual_address: u64) -> Option<Translation> {
    let _guard = PAGE_TABLE_LOCK.try_lock()?;
    translate_locked(virtual_address)
}

fn translate_locked(virtual_address: u64) -> Option<Translation> {
    let address = VirtAddr::try_new(virtual_address).ok()?;
    let [i4, i3, i2, i1] = indices(virtual_address);
    // SAFETY: lock held; read-only walk through present entries.
    unsafe {
        let l4 = table_at(kernel_root());
        if l4[i4].is_unused() {
            return None;
        }
        let l3 = table_at(l4[i4].addr().as_u64());
        if l3[i3].is_unused() {
            return None;
        }
        let l2 = table_at(l3[i3].addr().as_u64());
        let entry = &l2[i2];
        if entry.is_unused() {
            return None;
        }
        if entry.flags().contains(Flags::HUGE_PAGE) {
            return Some(Translation {
                physical: entry.addr().as_u64() + (address.as_u64() % HUGE_PAGE_SIZE),
                rights: rights_of(entry.flags()),
                page_size: HUGE_PAGE_SIZE,
            });
        }
        let l1 = table_at(entry.addr().as_u64());
        let entry = &l1[i1];
        if entry.is_unused() {
            return None;
        }
        Some(Translation {
            physical: entry.addr().as_u64() + (address.as_u64() % PAGE_SIZE),
            rights: rights_of(entry.flags()),
            page_size: PAGE_SIZE,
        })
    }
}

/// Allocates frames and maps `pages` pages from `virtual_address`. On
/// failure everything mapped so far is undone.
pub fn map_new_pages(
    virtual_address: u64,
    pages: usize,
    rights: PageRights,
) -> Result<(), PagingError> {
    for index in 0..pages {
        let page = virtual_address + index as u64 * PAGE_SIZE;
        let result = match frames::allocate_zeroed() {
            Some(frame) => map(page, frame, rights).inspect_err(|_| frames::free(frame)),
            None => Err(PagingError::OutOfMemory),
        };
        if let Err(error) = result {
            unmap_and_free_pages(virtual_address, index);
            return Err(error);
        }
    }
    Ok(())
}

/// Unmaps `pages` pages from `virtual_address` and frees their frames.
pub fn unmap_and_free_pages(virtual_address: u64, pages: usize) {
    for index in 0..pages {
        if let Ok(frame) = unmap(virtual_address + index as u64 * PAGE_SIZE) {
            frames::free(frame);
        }
    }
}

fn efer_has_nx() -> bool {
    use x86_64::registers::model_specific::{Efer, EferFlags};
    Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE)
}

/// Builds the kernel's page tables and switches to them.
pub(super) fn init(ram_end: u64) {
    NX_SUPPORTED.store(efer_has_nx(), Ordering::Relaxed);
    let (kernel_start, text_end, rodata_end, kernel_end) = {
        (
            symbol(core::ptr::addr_of!(__kernel_start)),
            symbol(core::ptr::addr_of!(__text_end)),
            symbol(core::ptr::addr_of!(__rodata_end)),
            symbol(core::ptr::addr_of!(__kernel_end)),
        )
    };
    TEXT_START.store(kernel_start, Ordering::Relaxed);
    TEXT_END.store(text_end, Ordering::Relaxed);
    let root = new_table().expect("no frame for the kernel page table");
    KERNEL_PAGE_TABLE_ROOT.store(root, Ordering::Relaxed);
    // Boot is single-threaded and interrupts are off: no lock needed yet,
    // but take it anyway so `walk`'s contract holds.
    let _guard = PAGE_TABLE_LOCK.lock();
    // SAFETY: `root` is a fresh, zeroed table owned by the kernel.
    let l4 = unsafe { table_at(root) };
    for entry in l4.iter_mut().skip(256) {
        let table = new_table().expect("no frame for an upper-half table");
        entry.set_addr(PhysAddr::new(table), TABLE_FLAGS);
    }
    let small_pages_end = kernel_end.div_ceil(HUGE_PAGE_SIZE) * HUGE_PAGE_SIZE;
    let identity_end = ram_end.div_ceil(HUGE_PAGE_SIZE) * HUGE_PAGE_SIZE;
    let mut address = 0;
    while address < identity_end {
        if address < small_pages_end {
            if address != 0 {
                let rights = if (kernel_start..text_end).contains(&address) {
                    PageRights::EXECUTE | PageRights::GLOBAL
                } else if (text_end..rodata_end).contains(&address) {
                    PageRights::GLOBAL
                } else {
                    PageRights::WRITE
                };
                // SAFETY: boot, lock held, root valid.
                let entry =
                    unsafe { walk(root, address, true) }.expect("no frame for a page table");
                entry.set_addr(PhysAddr::new(address), leaf_flags(rights));
            }
            address += PAGE_SIZE;
        } else {
            let [i4, i3, i2, _] = indices(address);
            // SAFETY: boot, lock held; we create the level-2 entry directly
            // in tables of this fresh tree.
            unsafe {
                let l4 = table_at(root);
                if l4[i4].is_unused() {
                    l4[i4].set_addr(
                        PhysAddr::new(new_table().expect("page table frame")),
                        TABLE_FLAGS,
                    );
                }
                let l3 = table_at(l4[i4].addr().as_u64());
                if l3[i3].is_unused() {
                    l3[i3].set_addr(
                        PhysAddr::new(new_table().expect("page table frame")),
                        TABLE_FLAGS,
                    );
                }
                let l2 = table_at(l3[i3].addr().as_u64());
                l2[i2].set_addr(
                    PhysAddr::new(address),
                    leaf_flags(PageRights::WRITE) | Flags::HUGE_PAGE,
                );
            }
            address += HUGE_PAGE_SIZE;
        }
    }
    TOP_LEVEL_FROZEN.store(true, Ordering::Relaxed);
    // SAFETY: the new tables map the kernel image, its stack (in .bss) and
    // all RAM exactly as the boot tables did, with narrower rights; CR4.PGE
    // was set by the boot code so global pages are honoured.
    unsafe {
        x86_64::registers::control::Cr3::write(
            x86_64::structures::paging::PhysFrame::containing_address(PhysAddr::new(root)),
            x86_64::registers::control::Cr3Flags::empty(),
        );
    }
}

/// Top-level index of `virtual_address`.
pub fn top_level_index(virtual_address: u64) -> usize {
    indices(virtual_address)[0]
}

/// Creates the page-table root of a protection domain whose own region
/// starts at `own_region` (an extension region base).
///
/// The root copies every top-level entry of the kernel's, so it shares all
/// lower tables with the kernel (every later kernel mapping is seen at once:
/// the kernel never changes top-level entries after boot). All entries are
/// read-only except the domain's own region and the shared writable region:
/// on x86 the rights of every level combine, so one read-only top-level
/// entry makes everything below it read-only inside the domain.
pub fn create_domain_root(own_region: u64) -> Result<u64, PagingError> {
    let own = top_level_index(own_region);
    let shared = top_level_index(SHARED_WRITABLE_BASE);
    if own_region < EXTENSION_REGION_BASE || own == shared {
        return Err(PagingError::BadAddress);
    }
    let root = new_table()?;
    let _guard = PAGE_TABLE_LOCK.lock();
    // SAFETY: lock held; `root` is a fresh zeroed frame; the kernel root is
    // valid after init and only read here.
    unsafe {
        let kernel = table_at(kernel_root());
        let domain = table_at(root);
        for (index, entry) in kernel.iter().enumerate() {
            if entry.is_unused() {
                continue;
            }
            let mut flags = entry.flags();
            if index != own && index != shared {
                flags.remove(Flags::WRITABLE);
            }
            domain[index].set_addr(entry.addr(), flags);
        }
    }
    DOMAIN_ROOTS.fetch_add(1, Ordering::Relaxed);
    Ok(root)
}

/// Frees a root made by [`create_domain_root`]. The caller guarantees no CPU
/// has it loaded and nothing will load it again.
pub fn destroy_domain_root(root: u64) {
    if root == 0 || root == kernel_root() {
        return;
    }
    frames::free(root);
    DOMAIN_ROOTS.fetch_sub(1, Ordering::Relaxed);
}

/// Number of domain roots alive.
pub fn domain_roots() -> u64 {
    DOMAIN_ROOTS.load(Ordering::Relaxed)
}

/// Reads the rights `root` gives `virtual_address`: the leaf's rights
/// narrowed by the top-level entry (what code running on `root` gets).
/// `None` when unmapped.
pub fn rights_in(root: u64, virtual_address: u64) -> Option<PageRights> {
    let translation = translate(virtual_address)?;
    let _guard = PAGE_TABLE_LOCK.lock();
    // SAFETY: lock held; read-only access to a root table.
    let top = unsafe { &table_at(root)[top_level_index(virtual_address)] };
    if top.is_unused() {
        return None;
    }
    let mut rights = translation.rights;
    if !top.flags().contains(Flags::WRITABLE) {
        rights.remove(PageRights::WRITE);
    }
    Some(rights)
}
