//! Activation bookkeeping: a patch activates once, only in its own
//! instance; clearing removes what did not run; indices restart only on an
//! empty book.

use fault_injection::mutation::nop_bytes;
use fault_injection::{MutationType, PatchBook, PlannedPatch};

fn patch(address: u64) -> PlannedPatch {
    PlannedPatch {
        mutation: MutationType::Nop,
        offset: address - 0x1000,
        address,
        site: None,
        old: vec![0x90, 0x90],
        new: nop_bytes(2),
        before: "nop; nop".into(),
        after: "nop".into(),
    }
}

#[test]
fn a_patch_activates_once_and_only_in_its_generation() {
    let mut book: PatchBook<u64> = PatchBook::new();
    assert_eq!(book.arm(3, patch(0x2000), 7), Some(0));
    assert_eq!(book.arm(3, patch(0x2010), 8), Some(1));
    assert_eq!(book.arm(3, patch(0x2000), 9), None, "one patch per address");
    assert!(
        book.activate(0x2000, 4).is_none(),
        "another instance's breakpoint"
    );
    assert!(book.activate(0x2004, 3).is_none(), "not a planted address");
    let hit = book.activate(0x2000, 3).expect("armed");
    assert_eq!((hit.index, hit.memory), (0, 7));
    assert!(book.activate(0x2000, 3).is_none(), "activated once");
    assert_eq!(book.armed_count(3), 1);
    let status: Vec<(usize, bool)> = book
        .patches()
        .iter()
        .map(|p| (p.index, p.activated))
        .collect();
    assert_eq!(status, [(0, true), (1, false)]);
    assert_eq!(book.occupied_offsets(3), [0x1000, 0x1010]);
}

#[test]
fn clearing_keeps_what_ran_and_indices_restart_on_an_empty_book() {
    let mut book: PatchBook<()> = PatchBook::new();
    book.arm(1, patch(0x2000), ());
    book.arm(1, patch(0x2010), ());
    book.activate(0x2010, 1);
    let cleared = book.clear_unexecuted();
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0].index, 0);
    assert_eq!(book.patches().len(), 1);
    assert_eq!(
        book.arm(1, patch(0x2020), ()),
        Some(2),
        "indices stay unique"
    );
    book.forget_other_generations(2);
    assert!(book.is_empty());
    assert_eq!(
        book.arm(2, patch(0x2000), ()),
        Some(0),
        "an empty book starts at 0"
    );
}
