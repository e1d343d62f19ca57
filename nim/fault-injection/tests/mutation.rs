//! Code mutation on hand-assembled x86_64: the sites each type finds, the
//! bytes each patch writes, the condition tables, and the determinism of
//! seeded plans.

use fault_injection::mutation::{
    PatchLine, PlanError, Planner, disassemble, inverted_condition, nop_bytes, off_by_one_condition,
};
use fault_injection::{ExtensionText, MutationType};
use std::collections::BTreeSet;

const BASE: u64 = 0xffff_c000_0000_0000;
const OFFSET: u64 = 0x1000;

/// Offsets (relative to the function) of the sites `mutation` finds in
/// `code`, and every patch each can get.
fn sites(code: &[u8], mutation: MutationType) -> Vec<(u64, BTreeSet<Vec<u8>>)> {
    let text = ExtensionText::from_functions(&[("f", OFFSET, code)]);
    let mut planner = Planner::new(&text, BASE);
    let candidates = planner.candidates(mutation);
    let mut found = Vec::new();
    for index in candidates {
        let groups = planner.variants(mutation, index);
        if groups.is_empty() {
            continue;
        }
        let variants: BTreeSet<Vec<u8>> = groups.into_iter().flatten().collect();
        let patch = planner.patch(mutation, index, variants.iter().next().unwrap().clone());
        found.push((patch.offset - OFFSET, variants));
    }
    found
}

/// The single site of `mutation` in `code`: its offset and patches.
fn only_site(code: &[u8], mutation: MutationType) -> (u64, BTreeSet<Vec<u8>>) {
    let mut found = sites(code, mutation);
    assert_eq!(found.len(), 1, "{mutation}: {found:x?}");
    found.remove(0)
}

fn set(items: &[&[u8]]) -> BTreeSet<Vec<u8>> {
    items.iter().map(|bytes| bytes.to_vec()).collect()
}

#[test]
fn nop_encodings_are_one_nop_of_each_length() {
    for length in 1..=15 {
        let bytes = nop_bytes(length);
        assert_eq!(bytes.len(), length);
        let text = disassemble(&bytes, 0x1000);
        assert!(text.starts_with("nop"), "{length}: {text}");
        assert!(!text.contains(';'), "{length}: one instruction, got {text}");
    }
}

#[test]
fn condition_tables() {
    // jo/jno jb/jae je/jne jbe/ja js/jns jp/jnp jl/jge jle/jg
    let opposite = [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 0xb, 0xa, 0xd, 0xc, 0xf, 0xe];
    for (code, expected) in opposite.iter().enumerate() {
        assert_eq!(inverted_condition(code as u8), *expected);
    }
    let pairs = [(0xc, 0xe), (0x2, 0x6), (0xf, 0xd), (0x7, 0x3)];
    for (a, b) in pairs {
        assert_eq!(off_by_one_condition(a), Some(b));
        assert_eq!(off_by_one_condition(b), Some(a));
    }
    for code in [0x0, 0x1, 0x4, 0x5, 0x8, 0x9, 0xa, 0xb] {
        assert_eq!(off_by_one_condition(code), None);
    }
}

#[test]
fn text_flips_exactly_one_bit_of_any_instruction() {
    let code = [0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3]; // mov eax, 1; ret
    let found = sites(&code, MutationType::Text);
    assert_eq!(found.len(), 2);
    let (offset, variants) = &found[0];
    assert_eq!(*offset, 0);
    assert_eq!(variants.len(), 40);
    for variant in variants {
        let flipped: u32 = variant
            .iter()
            .zip(&code[..5])
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1);
    }
}

#[test]
fn nop_replaces_any_instruction_but_padding() {
    // add rax, rbx; int3; nop; ret
    let code = [0x48, 0x01, 0xd8, 0xcc, 0x90, 0xc3];
    let found = sites(&code, MutationType::Nop);
    assert_eq!(found.len(), 2, "int3 and nop are padding: {found:x?}");
    assert_eq!(found[0], (0, set(&[&[0x0f, 0x1f, 0x00]])));
    assert_eq!(found[1], (5, set(&[&[0x90]])));
}

#[test]
fn destination_flips_the_destination_register() {
    // mov rax, rbx (48 89 d8): rax is r/m.
    let (offset, variants) = only_site(&[0x48, 0x89, 0xd8], MutationType::Destination);
    assert_eq!(offset, 0);
    assert_eq!(
        variants,
        set(&[
            &[0x48, 0x89, 0xd9], // rcx
            &[0x48, 0x89, 0xda], // rdx
            &[0x48, 0x89, 0xdc], // rsp
            &[0x49, 0x89, 0xd8], // r8
        ])
    );
}

#[test]
fn destination_of_a_store_is_its_address() {
    // mov [rbx+8], eax (89 43 08)
    let (_, variants) = only_site(&[0x89, 0x43, 0x08], MutationType::Destination);
    let displacement_flips = (0..8).map(|bit| vec![0x89, 0x43, 0x08 ^ (1 << bit)]);
    let base_flips = [
        vec![0x89, 0x42, 0x08],       // rdx
        vec![0x89, 0x41, 0x08],       // rcx
        vec![0x89, 0x47, 0x08],       // rdi
        vec![0x41, 0x89, 0x43, 0x08], // r11: longer, refused
    ];
    let expected: BTreeSet<Vec<u8>> = displacement_flips
        .chain(base_flips.into_iter().filter(|bytes| bytes.len() == 3))
        .collect();
    assert_eq!(variants, expected);
}

#[test]
fn source_flips_a_source_register_or_immediate() {
    // mov rax, rbx: rbx is reg (3).
    let (_, variants) = only_site(&[0x48, 0x89, 0xd8], MutationType::Source);
    assert_eq!(
        variants,
        set(&[
            &[0x48, 0x89, 0xd0], // rdx
            &[0x48, 0x89, 0xc8], // rcx
            &[0x48, 0x89, 0xf8], // rdi
            &[0x4c, 0x89, 0xd8], // r11
        ])
    );
    // add eax, 0x10 (83 c0 10): eax is read too (read-write destination
    // is not a source); the immediate is.
    let (_, variants) = only_site(&[0x83, 0xc0, 0x10], MutationType::Source);
    let expected: BTreeSet<Vec<u8>> = (0..8)
        .map(|bit| vec![0x83, 0xc0, 0x10 ^ (1 << bit)])
        .collect();
    assert_eq!(variants, expected);
    // cmp rax, rbx reads both: op0 rax is a source as well.
    let (_, variants) = only_site(&[0x48, 0x39, 0xd8], MutationType::Source);
    assert!(
        variants.contains(&vec![0x48, 0x39, 0xd9]),
        "rax→rcx: {variants:x?}"
    );
    assert!(
        variants.contains(&vec![0x48, 0x39, 0xd0]),
        "rbx→rdx: {variants:x?}"
    );
}

#[test]
fn pointer_corrupts_displacement_base_or_index() {
    // mov rax, [rbx+8] (48 8b 43 08)
    let (_, variants) = only_site(&[0x48, 0x8b, 0x43, 0x08], MutationType::Pointer);
    let mut expected: BTreeSet<Vec<u8>> = (0..8)
        .map(|bit| vec![0x48, 0x8b, 0x43, 0x08 ^ (1 << bit)])
        .collect();
    expected.extend([
        vec![0x48, 0x8b, 0x42, 0x08], // rdx
        vec![0x48, 0x8b, 0x41, 0x08], // rcx
        vec![0x48, 0x8b, 0x47, 0x08], // rdi
        vec![0x49, 0x8b, 0x43, 0x08], // r11
    ]);
    assert_eq!(variants, expected);
    // mov rax, [rbx+rcx*8] (48 8b 04 cb): no displacement; base and index.
    let (_, variants) = only_site(&[0x48, 0x8b, 0x04, 0xcb], MutationType::Pointer);
    assert!(
        variants.contains(&vec![0x48, 0x8b, 0x04, 0xca]),
        "base rbx→rdx"
    );
    assert!(
        variants.contains(&vec![0x48, 0x8b, 0x04, 0xc3]),
        "index rcx→rax"
    );
    assert!(variants.iter().all(|bytes| bytes.len() == 4));
    // lea computes an address too; a register-only instruction has none.
    assert_eq!(
        sites(&[0x48, 0x8d, 0x47, 0x10], MutationType::Pointer).len(),
        1
    );
    assert!(sites(&[0x48, 0x89, 0xd8], MutationType::Pointer).is_empty());
}

#[test]
fn branch_deletes_conditional_branches_only() {
    // je +5; jmp +3; jne near; loop -2; call 0
    let code = [
        0x74, 0x05, 0xeb, 0x03, 0x0f, 0x85, 0x10, 0x00, 0x00, 0x00, 0xe2, 0xfe, 0xe8, 0x00, 0x00,
        0x00, 0x00,
    ];
    let found = sites(&code, MutationType::Branch);
    let offsets: Vec<u64> = found.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, [0, 4, 10]);
    assert_eq!(found[0].1, set(&[&[0x66, 0x90]]));
    assert_eq!(found[1].1, set(&[&nop_bytes(6)]));
}

#[test]
fn invert_takes_the_opposite_condition() {
    assert_eq!(
        only_site(&[0x74, 0x05], MutationType::Invert).1,
        set(&[&[0x75, 0x05]])
    );
    assert_eq!(
        only_site(&[0x7c, 0x05], MutationType::Invert).1,
        set(&[&[0x7d, 0x05]])
    );
    assert_eq!(
        only_site(&[0x0f, 0x86, 0, 1, 0, 0], MutationType::Invert).1,
        set(&[&[0x0f, 0x87, 0, 1, 0, 0]])
    );
    // loope ↔ loopne; repe cmpsb ↔ repne cmpsb; plain loop has no opposite.
    assert_eq!(
        only_site(&[0xe1, 0xfe], MutationType::Invert).1,
        set(&[&[0xe0, 0xfe]])
    );
    assert_eq!(
        only_site(&[0xf3, 0xa6], MutationType::Invert).1,
        set(&[&[0xf2, 0xa6]])
    );
    assert!(sites(&[0xe2, 0xfe], MutationType::Invert).is_empty());
    assert!(
        sites(&[0xf3, 0xa4], MutationType::Invert).is_empty(),
        "rep movsb has no condition"
    );
}

#[test]
fn off_by_one_moves_the_bound() {
    for (from, to) in [
        (0x7c, 0x7e),
        (0x7e, 0x7c),
        (0x72, 0x76),
        (0x76, 0x72),
        (0x7f, 0x7d),
        (0x7d, 0x7f),
        (0x77, 0x73),
        (0x73, 0x77),
    ] {
        assert_eq!(
            only_site(&[from, 0x05], MutationType::OffByOne).1,
            set(&[&[to, 0x05]]),
            "{from:#x}"
        );
    }
    assert_eq!(
        only_site(&[0x0f, 0x8c, 0, 0, 0, 0], MutationType::OffByOne).1,
        set(&[&[0x0f, 0x8e, 0, 0, 0, 0]])
    );
    assert!(
        sites(&[0x74, 0x05], MutationType::OffByOne).is_empty(),
        "je has no partner"
    );
}

#[test]
fn interface_deletes_the_last_argument_loads_before_a_call() {
    let code = [
        0xbf, 0x02, 0x00, 0x00, 0x00, // 0: mov edi, 2 (before a jump: not a site)
        0xeb, 0x00, // 5: jmp +0
        0xbf, 0x01, 0x00, 0x00, 0x00, // 7: mov edi, 1 (overwritten below: not a site)
        0x48, 0x89, 0xc7, // 12: mov rdi, rax
        0x31, 0xf6, // 15: xor esi, esi
        0x48, 0x89, 0xd8, // 17: mov rax, rbx (not an argument)
        0x4c, 0x8d, 0x44, 0x24, 0x08, // 20: lea r8, [rsp+8]
        0xe8, 0x00, 0x00, 0x00, 0x00, // 25: call
    ];
    let found = sites(&code, MutationType::Interface);
    let offsets: Vec<u64> = found.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, [12, 15, 20]);
    assert_eq!(found[1].1, set(&[&[0x66, 0x90]]));
    assert!(
        sites(&[0xbf, 1, 0, 0, 0, 0xc3], MutationType::Interface).is_empty(),
        "no call"
    );
}

#[test]
fn init_deletes_pure_stores_to_stack_locals() {
    let code = [
        0x48, 0x89, 0x44, 0x24, 0x08, // 0: mov [rsp+8], rax
        0xc7, 0x45, 0xfc, 0x00, 0x00, 0x00, 0x00, // 5: mov dword [rbp-4], 0
        0x48, 0x89, 0x45, 0x08, // 12: mov [rbp+8], rax (an argument slot: no)
        0x48, 0x01, 0x44, 0x24, 0x08, // 16: add [rsp+8], rax (read-modify-write: no)
        0x48, 0x8b, 0x44, 0x24, 0x08, // 21: mov rax, [rsp+8] (a load: no)
        0x48, 0x89, 0x43, 0x08, // 26: mov [rbx+8], rax (not the stack: no)
    ];
    let found = sites(&code, MutationType::Init);
    let offsets: Vec<u64> = found.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, [0, 5]);
    assert_eq!(found[1].1, set(&[&nop_bytes(7)]));
}

#[test]
fn irq_deletes_interrupt_flag_changes_or_finds_none() {
    let code = [0xfa, 0x9c, 0x90, 0x9d, 0xfb, 0xc3]; // cli; pushfq; nop; popfq; sti; ret
    let found = sites(&code, MutationType::Irq);
    let offsets: Vec<u64> = found.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, [0, 1, 3, 4]);
    assert!(
        found
            .iter()
            .all(|(_, variants)| *variants == set(&[&[0x90]]))
    );
    let text = ExtensionText::from_functions(&[("f", OFFSET, &[0x48, 0x89, 0xd8, 0xc3])]);
    let mut planner = Planner::new(&text, BASE);
    assert_eq!(
        planner.plan(&[MutationType::Irq], 1, 5, &[]),
        Err(PlanError::NoSite(vec![MutationType::Irq]))
    );
    assert_eq!(
        PlanError::NoSite(vec![MutationType::Irq]).to_string(),
        "no site for fault type irq in the extension's text"
    );
}

/// A function with sites of every type but irq.
fn workload() -> Vec<u8> {
    let mut code = Vec::new();
    for round in 0..20u8 {
        code.extend_from_slice(&[0x48, 0x89, 0x44, 0x24, 0x08]); // mov [rsp+8], rax
        code.extend_from_slice(&[0x48, 0x8b, 0x43, round]); // mov rax, [rbx+round]
        code.extend_from_slice(&[0x48, 0x39, 0xd8]); // cmp rax, rbx
        code.extend_from_slice(&[0x7c, 0x05]); // jl +5
        code.extend_from_slice(&[0xbf, round, 0, 0, 0]); // mov edi, round
        code.extend_from_slice(&[0xe8, 0, 0, 0, 0]); // call
        code.extend_from_slice(&[0x83, 0xc0, round]); // add eax, round
    }
    code.push(0xc3);
    code
}

#[test]
fn the_same_seed_gives_the_same_plan_and_other_seeds_differ() {
    let code = workload();
    let text = ExtensionText::from_functions(&[("workload", OFFSET, &code)]);
    let all: Vec<MutationType> = MutationType::ALL.to_vec();
    let plan = |seed| Planner::new(&text, BASE).plan(&all, seed, 5, &[]).unwrap();
    let first = plan(42);
    assert_eq!(first.len(), 5);
    assert_eq!(first, plan(42));
    let distinct: BTreeSet<Vec<(u64, Vec<u8>)>> = (0..10)
        .map(|seed| {
            plan(seed)
                .into_iter()
                .map(|patch| (patch.offset, patch.new))
                .collect()
        })
        .collect();
    assert!(
        distinct.len() >= 9,
        "only {} distinct plans of 10",
        distinct.len()
    );
}

#[test]
fn a_plan_never_patches_one_instruction_twice_or_an_excluded_one() {
    let code = workload();
    let text = ExtensionText::from_functions(&[("workload", OFFSET, &code)]);
    for seed in 0..20 {
        let mut planner = Planner::new(&text, BASE);
        let first = planner.plan(&MutationType::ALL, seed, 30, &[]).unwrap();
        let offsets: BTreeSet<u64> = first.iter().map(|patch| patch.offset).collect();
        assert_eq!(offsets.len(), first.len(), "seed {seed}");
        for patch in &first {
            assert_eq!(patch.old.len(), patch.new.len());
            assert_ne!(patch.old, patch.new);
            assert_eq!(patch.address, BASE + patch.offset);
            assert_eq!(
                &code[(patch.offset - OFFSET) as usize..][..patch.old.len()],
                &patch.old[..]
            );
        }
        let excluded: Vec<u64> = offsets.iter().copied().collect();
        let second = planner
            .plan(&MutationType::ALL, seed, 30, &excluded)
            .unwrap();
        assert!(second.iter().all(|patch| !offsets.contains(&patch.offset)));
    }
}

#[test]
fn each_type_plans_only_its_own_kind_of_patch() {
    let code = workload();
    let text = ExtensionText::from_functions(&[("workload", OFFSET, &code)]);
    for mutation in MutationType::ALL {
        let result = Planner::new(&text, BASE).plan(&[mutation], 3, 4, &[]);
        if mutation == MutationType::Irq {
            assert!(result.is_err());
            continue;
        }
        let patches = result.unwrap();
        assert_eq!(patches.len(), 4, "{mutation}");
        for patch in patches {
            assert_eq!(patch.mutation, mutation);
            match mutation {
                MutationType::Nop
                | MutationType::Branch
                | MutationType::Interface
                | MutationType::Init => {
                    assert_eq!(patch.new, nop_bytes(patch.old.len()), "{mutation}")
                }
                MutationType::Invert | MutationType::OffByOne => {
                    assert_eq!(patch.old[0], 0x7c);
                    assert_eq!(
                        patch.new[0],
                        if mutation == MutationType::Invert {
                            0x7d
                        } else {
                            0x7e
                        }
                    );
                }
                _ => {}
            }
        }
    }
}

#[test]
fn patch_lines_follow_the_protocol() {
    let code = [0x48, 0x89, 0xd8, 0x74, 0x05];
    let text =
        ExtensionText::from_functions(&[("_ZN4demo4work17h0000000000000000E", OFFSET, &code)]);
    let mut planner = Planner::new(&text, BASE);
    let patches = planner.plan(&[MutationType::Invert], 1, 1, &[]).unwrap();
    let line = PatchLine {
        index: 0,
        patch: &patches[0],
    }
    .to_string();
    assert_eq!(
        line,
        "inject patch 0 type=invert address=0xffffc00000001003 site=_ZN4demo4work17h0000000000000000E+0x3 old=7405 new=7505 before=\"je 0xffffc0000000100a\" after=\"jne 0xffffc0000000100a\""
    );
    let nop = planner.patch(MutationType::Nop, 0, nop_bytes(3));
    let line = PatchLine {
        index: 7,
        patch: &nop,
    }
    .to_string();
    assert!(
        line.ends_with(
            "old=4889d8 new=0f1f00 before=\"mov rax, rbx\" after=\"nop dword ptr [rax]\""
        ),
        "{line}"
    );
    let anonymous = ExtensionText::from_functions(&[]);
    assert!(anonymous.site_of(OFFSET).is_none());
}

#[test]
fn after_shows_what_a_flipped_bit_turns_into() {
    // A flipped bit that makes `mov eax, imm32` (b8) into `mov al, imm8`
    // (b0) leaves three bytes that decode on their own.
    let text = disassemble(&[0xb0, 0x01, 0x00, 0x00, 0x00], 0);
    assert_eq!(text, "mov al, 0x1; add [rax], al; (bad)");
}
