//! Frames, page tables and the heap.

use super::scratch_region;
use crate::arch::fixup;
use crate::memory::paging::{self, PageRights, PagingError};
use crate::memory::{frames, heap};
use crate::{ensure, kernel_test};
use alloc::vec::Vec;
use trap_report::PageFaultError;

kernel_test!(frame_allocate_and_free_round_trip {
    let before = frames::free_count();
    let mut taken = Vec::new();
    for _ in 0..64 {
        taken.push(frames::allocate_zeroed().ok_or("out of frames")?);
    }
    let mut sorted = taken.clone();
    sorted.sort_unstable();
    sorted.dedup();
    ensure!(sorted.len() == 64, "a frame was handed out twice");
    ensure!(frames::free_count() == before - 64, "free count did not drop by 64");
    for frame in taken {
        frames::free(frame);
    }
    ensure!(frames::free_count() == before, "free count not restored");
    Ok(())
});

kernel_test!(map_unmap_round_trips_return_every_frame {
    let base = scratch_region();
    let before = frames::free_count();
    // 1,100 pages span three level-1 tables.
    let pages = 1100;
    paging::map_new_pages(base, pages, PageRights::WRITE).map_err(|e| alloc::format!("map: {e:?}"))?;
    for index in [0, 511, 512, 1099] {
        let address = base + index as u64 * 4096;
        // SAFETY: the page was just mapped for this test.
        unsafe { (address as *mut u64).write_volatile(index as u64) };
        // SAFETY: as above.
        let value = unsafe { (address as *const u64).read_volatile() };
        ensure!(value == index as u64, "page {index} holds {value}");
    }
    let tables_and_pages = before - frames::free_count();
    ensure!(tables_and_pages >= pages + 3, "only {tables_and_pages} frames used for {pages} pages");
    paging::unmap_and_free_pages(base, pages);
    ensure!(frames::free_count() == before, "{} frames leaked", before - frames::free_count());
    ensure!(paging::translate(base).is_none(), "page still mapped after unmap");
    Ok(())
});

kernel_test!(write_to_page_made_read_only_faults {
    let page = scratch_region();
    paging::map_new_pages(page, 1, PageRights::WRITE).map_err(|e| alloc::format!("map: {e:?}"))?;
    // SAFETY: the page is ours and writable.
    unsafe { fixup::probe_write_u8(page + 8, 0x5a) }.map_err(|f| alloc::format!("writable page faulted: {f:?}"))?;
    paging::protect(page, PageRights::empty()).map_err(|e| alloc::format!("protect: {e:?}"))?;
    let read = fixup::probe_read_u8(page + 8).map_err(|f| alloc::format!("read-only page unreadable: {f:?}"))?;
    ensure!(read == 0x5a, "read-only page reads {read:#x}");
    // SAFETY: the page is ours; the write is expected to fault.
    let fault = match unsafe { fixup::probe_write_u8(page + 8, 0xa5) } {
        Ok(()) => return Err(alloc::string::String::from("write to a read-only page succeeded")),
        Err(fault) => fault,
    };
    let error = PageFaultError::from_bits_retain(fault.error_code);
    ensure!(fault.vector == 14 && fault.address == page + 8, "fault {fault:?}");
    ensure!(error.contains(PageFaultError::PRESENT | PageFaultError::WRITE), "error code {:#x}", fault.error_code);
    paging::unmap_and_free_pages(page, 1);
    Ok(())
});

kernel_test!(protecting_inside_a_huge_page_splits_it {
    // A 2 MiB identity-mapped page well above the kernel image.
    let address = 32 * 1024 * 1024 + 5 * 4096;
    let before = paging::translate(address).ok_or("identity map missing")?;
    ensure!(before.page_size == 2 * 1024 * 1024, "expected a 2 MiB page, got {:#x}", before.page_size);
    paging::protect(address, PageRights::empty()).map_err(|e| alloc::format!("protect: {e:?}"))?;
    let after = paging::translate(address).ok_or("mapping lost")?;
    let neighbour = paging::translate(address + 4096).ok_or("neighbour lost")?;
    ensure!(after.page_size == 4096 && after.physical == address, "after split: {after:?}");
    ensure!(!after.rights.contains(PageRights::WRITE), "page still writable");
    ensure!(neighbour.rights.contains(PageRights::WRITE), "neighbour lost write access");
    ensure!(neighbour.physical == address + 4096, "neighbour maps {:#x}", neighbour.physical);
    paging::protect(address, PageRights::WRITE).map_err(|e| alloc::format!("restore: {e:?}"))?;
    Ok(())
});

kernel_test!(paging_refuses_bad_requests {
    let page = scratch_region();
    ensure!(paging::map(page + 1, 0x20_0000, PageRights::WRITE) == Err(PagingError::BadAddress), "unaligned map accepted");
    ensure!(paging::unmap(page) == Err(PagingError::NotMapped), "unmap of nothing succeeded");
    ensure!(paging::protect(page, PageRights::WRITE) == Err(PagingError::NotMapped), "protect of nothing succeeded");
    let frame = frames::allocate_zeroed().ok_or("out of frames")?;
    paging::map(page, frame, PageRights::WRITE).map_err(|e| alloc::format!("map: {e:?}"))?;
    ensure!(paging::map(page, frame, PageRights::WRITE) == Err(PagingError::AlreadyMapped), "double map accepted");
    ensure!(paging::unmap(page) == Ok(frame), "unmap returned the wrong frame");
    frames::free(frame);
    Ok(())
});

kernel_test!(writable_kernel_pages_are_not_global {
    static DATA: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
    let data = paging::translate(&DATA as *const _ as u64).ok_or("data unmapped")?;
    ensure!(data.rights.contains(PageRights::WRITE), "data not writable");
    ensure!(!data.rights.contains(PageRights::GLOBAL), "writable data page is global");
    ensure!(!data.rights.contains(PageRights::EXECUTE), "data page is executable");
    let text = paging::translate(writable_kernel_pages_are_not_global as *const () as u64).ok_or("text unmapped")?;
    ensure!(text.rights == PageRights::EXECUTE | PageRights::GLOBAL, "text rights {:?}", text.rights);
    Ok(())
});

kernel_test!(heap_grows_under_load {
    let (size_before, _) = heap::stats();
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    // Four times the initial heap, in 64 KiB blocks with a per-block pattern.
    for index in 0..64 {
        let mut block = Vec::new();
        block.try_reserve_exact(64 * 1024).map_err(|_| alloc::format!("allocation {index} failed"))?;
        block.resize(64 * 1024, index as u8);
        blocks.push(block);
    }
    let (size_during, used_during) = heap::stats();
    ensure!(size_during > size_before, "heap did not grow ({size_before} -> {size_during})");
    ensure!(used_during >= 64 * 64 * 1024, "heap reports only {used_during} bytes used");
    for (index, block) in blocks.iter().enumerate() {
        ensure!(block.iter().all(|&byte| byte == index as u8), "block {index} corrupted");
    }
    drop(blocks);
    let (_, used_after) = heap::stats();
    ensure!(used_after < used_during, "memory not returned to the heap");
    Ok(())
});
