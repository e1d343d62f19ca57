//! Behaviour of the per-domain object table and its handles.

use object_tracker::*;
use std::collections::HashMap;

use deterministic_rng::XorShift as Xorshift;

const EXTENSION: ExtensionId = ExtensionId(7);

#[test]
fn insert_get_remove_round_trip() {
    let mut table = ObjectTable::new(EXTENSION);
    assert!(table.is_empty());
    let timer = table.insert(ObjectKind::Timer, "timer").unwrap();
    let buffer = table.insert(ObjectKind::DmaBuffer, "dma").unwrap();
    assert_eq!(table.len(), 2);
    assert_eq!(table.count_of(ObjectKind::Timer), 1);
    assert_eq!(table.count_of(ObjectKind::Memory), 0);
    assert_eq!(table.get(timer, ObjectKind::Timer), Ok(&"timer"));
    *table.get_mut(buffer, ObjectKind::DmaBuffer).unwrap() = "dma2";
    assert_eq!(table.get(buffer, ObjectKind::DmaBuffer), Ok(&"dma2"));
    // Through the wire form.
    let wire = ObjectHandle::from_bits(timer.to_bits());
    assert_eq!(table.remove(wire, ObjectKind::Timer), Ok("timer"));
    assert_eq!(table.get(timer, ObjectKind::Timer), Err(HandleError::Stale));
    assert_eq!(
        table.remove(timer, ObjectKind::Timer),
        Err(HandleError::Stale)
    );
    assert_eq!(table.len(), 1);
    assert_eq!(table.count_of(ObjectKind::Timer), 0);
}

#[test]
fn wrong_kind_is_reported_with_both_kinds() {
    let mut table = ObjectTable::new(EXTENSION);
    let port = table.insert(ObjectKind::IoPortRange, 0x3f8_u32).unwrap();
    assert_eq!(
        table.get(port, ObjectKind::MmioRegion),
        Err(HandleError::WrongKind {
            expected: ObjectKind::MmioRegion,
            found: ObjectKind::IoPortRange
        })
    );
    assert_eq!(
        table.remove(port, ObjectKind::Memory),
        Err(HandleError::WrongKind {
            expected: ObjectKind::Memory,
            found: ObjectKind::IoPortRange
        })
    );
    assert_eq!(table.len(), 1, "a refused remove must not remove");
    assert_eq!(
        HandleError::WrongKind {
            expected: ObjectKind::MmioRegion,
            found: ObjectKind::IoPortRange
        }
        .to_string(),
        "wrong handle kind: expected mmio-region, found io-port-range"
    );
}

#[test]
fn handles_of_another_extension_are_forged() {
    let mut mine = ObjectTable::new(ExtensionId(1));
    let mut theirs = ObjectTable::new(ExtensionId(2));
    let my_handle = mine.insert(ObjectKind::Memory, 1).unwrap();
    let _their_handle = theirs.insert(ObjectKind::Memory, 2).unwrap();
    // Same slot, sequence, generation and kind: only the extension differs.
    assert_eq!(
        theirs.get(my_handle, ObjectKind::Memory),
        Err(HandleError::Forged)
    );
}

#[test]
fn all_handles_are_stale_after_drain() {
    let mut table = ObjectTable::new(EXTENSION);
    let handles: Vec<_> = (0..100)
        .map(|index| {
            table
                .insert(ObjectKind::ALL[index % ObjectKind::ALL.len()], index)
                .unwrap()
        })
        .collect();
    assert_eq!(table.generation(), Generation(0));
    let released = table.drain_for_release();
    assert_eq!(released.len(), 100);
    assert!(table.is_empty());
    assert_eq!(table.generation(), Generation(1));
    for kind in ObjectKind::ALL {
        assert_eq!(table.count_of(*kind), 0);
    }
    for (index, handle) in handles.iter().enumerate() {
        let kind = ObjectKind::ALL[index % ObjectKind::ALL.len()];
        assert_eq!(table.get(*handle, kind), Err(HandleError::Stale));
    }
    // New objects in the new generation may reuse slots; old handles stay stale.
    for index in 0..100 {
        table.insert(ObjectKind::Memory, 1000 + index).unwrap();
    }
    for handle in &handles {
        assert!(matches!(
            table.get(*handle, ObjectKind::Memory),
            Err(HandleError::Stale | HandleError::WrongKind { .. })
        ));
        assert_ne!(table.get(*handle, ObjectKind::Memory), Ok(&0));
    }
}

#[test]
fn release_order_follows_the_documented_ranking() {
    let mut table = ObjectTable::new(EXTENSION);
    // Insert in code order, twice, so within-kind order is visible.
    for round in 0..2 {
        for kind in ObjectKind::ALL {
            table.insert(*kind, (kind.name(), round)).unwrap();
        }
    }
    let released = table.drain_for_release();
    let expected = [
        ObjectKind::IrqRegistration,
        ObjectKind::PciDevice,
        ObjectKind::Timer,
        ObjectKind::DeferredCall,
        ObjectKind::DeviceRegistration,
        ObjectKind::PacketBuffer,
        ObjectKind::BlockRequest,
        ObjectKind::DmaBuffer,
        ObjectKind::MmioRegion,
        ObjectKind::IoPortRange,
        ObjectKind::Memory,
        ObjectKind::Socket,
    ];
    let order: Vec<(ObjectKind, u32)> = released
        .iter()
        .map(|(kind, (_, round))| (*kind, *round))
        .collect();
    let wanted: Vec<(ObjectKind, u32)> = expected
        .iter()
        .flat_map(|kind| [(*kind, 1), (*kind, 0)])
        .collect();
    assert_eq!(order, wanted, "kinds by rank, newest first within a kind");
    // release_rank is a permutation of 0..kinds.
    let mut ranks: Vec<u8> = ObjectKind::ALL.iter().map(|k| k.release_rank()).collect();
    ranks.sort();
    assert_eq!(ranks, (0..ObjectKind::ALL.len() as u8).collect::<Vec<_>>());
}

#[test]
fn removed_slot_reuse_never_revives_old_handles() {
    let mut table = ObjectTable::new(EXTENSION);
    let first = table.insert(ObjectKind::PacketBuffer, 0_u32).unwrap();
    table.remove(first, ObjectKind::PacketBuffer).unwrap();
    // Churn enough that slot 0 is reused many times.
    let mut seen_first_slot_again = 0;
    for index in 1..100_000_u32 {
        let handle = table.insert(ObjectKind::PacketBuffer, index).unwrap();
        if handle.decode().unwrap().slot == first.decode().unwrap().slot {
            seen_first_slot_again += 1;
        }
        assert_eq!(
            table.get(first, ObjectKind::PacketBuffer),
            Err(HandleError::Stale)
        );
        table.remove(handle, ObjectKind::PacketBuffer).unwrap();
    }
    assert!(
        seen_first_slot_again > 10,
        "slot 0 was reused {seen_first_slot_again} times"
    );
    assert!(
        seen_first_slot_again < 256,
        "sequence must not have wrapped in this test"
    );
}

#[test]
fn freed_slots_wait_for_reuse() {
    let mut table = ObjectTable::new(EXTENSION);
    let handle = table.insert(ObjectKind::Memory, ()).unwrap();
    table.remove(handle, ObjectKind::Memory).unwrap();
    let next = table.insert(ObjectKind::Memory, ()).unwrap();
    assert_ne!(
        next.decode().unwrap().slot,
        handle.decode().unwrap().slot,
        "a fresh slot is preferred while few are free"
    );
}

#[test]
fn never_issued_slot_is_not_found() {
    let mut table: ObjectTable<()> = ObjectTable::new(EXTENSION);
    table.insert(ObjectKind::Timer, ()).unwrap();
    // Build a well-formed handle for a slot never issued by re-encoding via a
    // second table that has issued 501 slots.
    let mut other: ObjectTable<()> = ObjectTable::new(EXTENSION);
    let mut far = None;
    for _ in 0..=500 {
        far = Some(other.insert(ObjectKind::Timer, ()).unwrap());
    }
    let far = far.unwrap();
    assert_eq!(far.decode().unwrap().slot, 500);
    assert_eq!(
        table.get(far, ObjectKind::Timer),
        Err(HandleError::NotFound)
    );
}

#[test]
fn every_single_bit_flip_is_detected() {
    let mut table = ObjectTable::new(EXTENSION);
    let handles: Vec<_> = (0..300)
        .map(|index| table.insert(ObjectKind::ALL[index % 10], index).unwrap())
        .collect();
    for handle in &handles {
        for bit in 0..64 {
            let flipped = ObjectHandle::from_bits(handle.to_bits() ^ (1 << bit));
            assert_eq!(flipped.decode(), Err(HandleError::Forged), "bit {bit}");
            for kind in ObjectKind::ALL {
                assert_eq!(table.get(flipped, *kind), Err(HandleError::Forged));
            }
        }
    }
}

#[test]
fn random_bits_essentially_never_name_a_live_object() {
    let mut table = ObjectTable::new(EXTENSION);
    for index in 0..5000 {
        table.insert(ObjectKind::ALL[index % 10], index).unwrap();
    }
    let mut random = Xorshift(0x2545_F491_4F6C_DD1D);
    let mut accepted = 0;
    let mut decodable = 0;
    const TRIES: u32 = 1_000_000;
    for _ in 0..TRIES {
        let handle = ObjectHandle::from_bits(random.next());
        if handle.decode().is_ok() {
            decodable += 1;
        }
        if table.get(handle, ObjectKind::Memory).is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 0);
    // About 1/256 pass the check byte and 10/64 of those have a valid kind.
    let expected = TRIES as f64 / 256.0 * 10.0 / 64.0;
    assert!(
        (decodable as f64) < expected * 1.5 && (decodable as f64) > expected * 0.5,
        "decodable {decodable}, expected about {expected}"
    );
}

#[test]
fn random_bits_with_the_right_extension_are_still_rejected() {
    // An extension forging handles knows its own id: fix the extension
    // field and randomise the rest. Whatever is accepted must be a handle
    // the table really issued.
    let mut table = ObjectTable::new(EXTENSION);
    let live: Vec<_> = (0..1000)
        .map(|index| table.insert(ObjectKind::Memory, index).unwrap())
        .collect();
    let live_bits: std::collections::HashSet<u64> = live.iter().map(|h| h.to_bits()).collect();
    let mut random = Xorshift(99);
    for _ in 0..200_000 {
        let bits = (random.next() & !(0xffff_u64 << 40)) | (7_u64 << 40);
        let handle = ObjectHandle::from_bits(bits);
        if let Ok(value) = table.get(handle, ObjectKind::Memory) {
            assert!(
                live_bits.contains(&bits),
                "forged handle {bits:#x} -> {value}"
            );
        }
    }
}

#[test]
fn generation_of_handle_must_match_table() {
    let mut old = ObjectTable::with_generation(EXTENSION, Generation(41));
    let mut new = ObjectTable::with_generation(EXTENSION, Generation(42));
    let old_handle = old.insert(ObjectKind::Timer, 1).unwrap();
    new.insert(ObjectKind::Timer, 2).unwrap();
    assert_eq!(
        new.get(old_handle, ObjectKind::Timer),
        Err(HandleError::Stale)
    );
    assert_eq!(Generation(u32::MAX).next(), Generation(0));
}

#[test]
fn table_full_returns_the_object() {
    let mut table = ObjectTable::new(EXTENSION);
    for index in 0..MAX_LIVE_OBJECTS {
        table.insert(ObjectKind::Memory, index).unwrap();
    }
    let full = table.insert(ObjectKind::Timer, usize::MAX).unwrap_err();
    assert_eq!(full.object, usize::MAX);
    assert_eq!(full.kind, ObjectKind::Timer);
    assert!(full.to_string().contains("object table full"));
    // Freeing one object makes room again (reusing a slot).
    let (handle, _, _) = table.iter().next().unwrap();
    table.remove(handle, ObjectKind::Memory).unwrap();
    let again = table.insert(ObjectKind::Timer, 1).unwrap();
    assert_eq!(
        table.get(handle, ObjectKind::Memory),
        Err(HandleError::Stale)
    );
    assert_eq!(table.get(again, ObjectKind::Timer), Ok(&1));
    assert_eq!(table.len(), MAX_LIVE_OBJECTS);
}

#[test]
fn randomized_model_test() {
    let mut random = Xorshift(0xDEAD_BEEF_CAFE_F00D);
    let mut table = ObjectTable::new(EXTENSION);
    // Model: live handles -> (kind, value); every retired handle.
    let mut model: HashMap<u64, (ObjectKind, u64)> = HashMap::new();
    let mut retired: Vec<u64> = Vec::new();
    for step in 0..200_000_u64 {
        let choice = random.next() % 100;
        if choice < 45 || model.is_empty() {
            let kind = ObjectKind::ALL[(random.next() % 10) as usize];
            let handle = table.insert(kind, step).unwrap();
            assert!(
                model.insert(handle.to_bits(), (kind, step)).is_none(),
                "duplicate handle"
            );
        } else if choice < 85 {
            let keys: Vec<u64> = model.keys().copied().collect();
            let bits = keys[(random.next() % keys.len() as u64) as usize];
            let (kind, value) = model[&bits];
            let handle = ObjectHandle::from_bits(bits);
            if random.next().is_multiple_of(2) {
                assert_eq!(table.remove(handle, kind), Ok(value));
                model.remove(&bits);
                retired.push(bits);
            } else {
                assert_eq!(table.get(handle, kind), Ok(&value));
                let other = ObjectKind::ALL[(random.next() % 10) as usize];
                if other != kind {
                    assert_eq!(
                        table.get(handle, other),
                        Err(HandleError::WrongKind {
                            expected: other,
                            found: kind
                        })
                    );
                }
            }
        } else if choice < 99 {
            if let Some(&bits) = retired.get((random.next() % (retired.len() as u64 + 1)) as usize)
            {
                for kind in ObjectKind::ALL {
                    assert_eq!(
                        table.get(ObjectHandle::from_bits(bits), *kind),
                        Err(HandleError::Stale)
                    );
                }
            }
        } else {
            let before = table.len();
            let released = table.drain_for_release();
            assert_eq!(released.len(), before);
            let ranks: Vec<u8> = released.iter().map(|(k, _)| k.release_rank()).collect();
            assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
            retired.extend(model.keys().copied());
            model.clear();
        }
        assert_eq!(table.len(), model.len());
        if step % 1000 == 0 {
            for kind in ObjectKind::ALL {
                let expected = model.values().filter(|(k, _)| k == kind).count();
                assert_eq!(table.count_of(*kind), expected);
            }
            let mut listed: Vec<u64> = table.iter().map(|(h, _, _)| h.to_bits()).collect();
            let mut wanted: Vec<u64> = model.keys().copied().collect();
            listed.sort();
            wanted.sort();
            assert_eq!(listed, wanted);
        }
    }
}

#[test]
fn handle_display_is_informative() {
    let mut table = ObjectTable::new(EXTENSION);
    let handle = table.insert(ObjectKind::MmioRegion, ()).unwrap();
    let text = handle.to_string();
    assert!(text.starts_with("mmio-region handle 0x"), "{text}");
    assert!(text.contains("extension 7, slot 0.0"), "{text}");
    assert!(
        ObjectHandle::from_bits(0)
            .to_string()
            .starts_with("invalid handle")
    );
}
