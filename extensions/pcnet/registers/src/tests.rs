use super::*;
use std::collections::VecDeque;

#[test]
fn buffer_byte_counts_are_twelve_bit_twos_complements_with_the_ones() {
    assert_eq!(descriptor::encode_buffer_byte_count(1536), Some(0xfa00));
    assert_eq!(descriptor::encode_buffer_byte_count(1), Some(0xffff));
    assert_eq!(descriptor::encode_buffer_byte_count(60), Some(0xffc4));
    assert_eq!(descriptor::encode_buffer_byte_count(4095), Some(0xf001));
    assert_eq!(descriptor::encode_buffer_byte_count(0), None);
    assert_eq!(descriptor::encode_buffer_byte_count(4096), None);
    for bytes in 1..=descriptor::MAXIMUM_BUFFER_BYTES {
        let word = descriptor::encode_buffer_byte_count(bytes).unwrap();
        assert_eq!(word & descriptor::ONES, descriptor::ONES);
        assert_eq!(word & !0xffff, 0, "only BCNT and the ones");
        assert_eq!(descriptor::decode_buffer_byte_count(word), bytes);
        // The device's view: 4096 minus the 12-bit field.
        assert_eq!(4096 - (word & 0xfff) as usize, bytes);
    }
    assert_eq!(descriptor::decode_buffer_byte_count(0xf000), 4096);
    assert_eq!(descriptor::decode_buffer_byte_count(0x8300_ffc4), 60);
}

#[test]
fn a_receive_descriptor_gives_its_whole_buffer_to_the_device() {
    let words = receive_descriptor(0x0012_3000, 1536).unwrap();
    assert_eq!(words, [0x0012_3000, 0x8000_fa00, 0, 0]);
    assert_eq!(receive_descriptor(0x1000, 0), None);
    assert_eq!(receive_descriptor(0x1000, 5000), None);
    assert_eq!(
        decode_received(words[1], words[2], 1536),
        Received::OwnedByDevice
    );
}

/// Word 1 of a receive descriptor the device gave back with a whole
/// frame (QEMU also sets the address-match bits).
const WHOLE_FRAME: u32 = descriptor::START_OF_FRAME | descriptor::END_OF_FRAME | 0xfa00;

#[test]
fn received_frames_are_decoded_without_their_check_sequence() {
    // An ARP reply: 42 bytes padded to 60, plus 4 of frame check sequence.
    assert_eq!(
        decode_received(WHOLE_FRAME | 1 << 22, 64, 1536),
        Received::Frame { length: 60 }
    );
    assert_eq!(
        decode_received(WHOLE_FRAME, 1518, 1536),
        Received::Frame { length: 1514 }
    );
    // The receive counts (RPC, RCC) in the upper half of word 2 are ignored.
    assert_eq!(
        decode_received(WHOLE_FRAME, 0x0102_0040, 1536),
        Received::Frame { length: 60 }
    );
    assert_eq!(
        decode_received(WHOLE_FRAME, 18, 1536),
        Received::Frame { length: 14 }
    );
}

#[test]
fn damaged_receive_descriptors_are_recognised() {
    let error = WHOLE_FRAME | descriptor::ERROR | 1 << 27;
    assert_eq!(decode_received(error, 64, 1536), Received::Damaged);
    let start_only = descriptor::START_OF_FRAME | 0xfa00;
    assert_eq!(decode_received(start_only, 64, 1536), Received::Damaged);
    let end_only = descriptor::END_OF_FRAME | 0xfa00;
    assert_eq!(decode_received(end_only, 64, 1536), Received::Damaged);
    // Lengths that cannot be: shorter than a header plus the check
    // sequence, longer than the interface carries or than the buffer.
    for impossible in [0, 3, 4, 17, 1519, 1600, 0xfff] {
        assert_eq!(
            decode_received(WHOLE_FRAME, impossible, 1536),
            Received::Damaged,
            "message byte count {impossible}"
        );
    }
    assert_eq!(decode_received(WHOLE_FRAME, 1000, 512), Received::Damaged);
}

#[test]
fn any_receive_words_decode_without_panicking() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..100_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        match decode_received(state as u32, (state >> 32) as u32, 1536) {
            Received::Frame { length } => {
                assert!((frame::HEADER_BYTES..=frame::MAXIMUM_BYTES).contains(&length))
            }
            Received::OwnedByDevice => assert!(state as u32 & descriptor::OWNED_BY_DEVICE != 0),
            Received::Damaged => {}
        }
        let _ = decode_transmitted(state as u32);
    }
}

#[test]
fn a_transmit_descriptor_holds_one_whole_frame() {
    let words = transmit_descriptor(0x0040_0000, 60).unwrap();
    assert_eq!(words, [0x0040_0000, 0x8300_ffc4, 0, 0]);
    assert_eq!(decode_transmitted(words[1]), Transmitted::OwnedByDevice);
    // The device clears OWN (and sets nothing else) once it is sent.
    let sent = words[1] & !descriptor::OWNED_BY_DEVICE;
    assert_eq!(decode_transmitted(sent), Transmitted::Sent { length: 60 });
    // No carrier: ERR (with LCAR in word 2).
    assert_eq!(
        decode_transmitted(sent | descriptor::ERROR),
        Transmitted::Failed
    );
    assert_eq!(transmit_descriptor(0, 0), None);
    for length in [14, 60, 1000, 1514] {
        let words = transmit_descriptor(0x1000, length).unwrap();
        assert_eq!(
            decode_transmitted(words[1] & !descriptor::OWNED_BY_DEVICE),
            Transmitted::Sent { length }
        );
    }
}

#[test]
fn frames_are_padded_to_the_minimum_and_bounded() {
    assert!(!frame::is_sendable(0));
    assert!(!frame::is_sendable(13));
    assert!(frame::is_sendable(14));
    assert!(frame::is_sendable(1514));
    assert!(!frame::is_sendable(1515));
    assert_eq!(frame::padded_length(42), 60);
    assert_eq!(frame::padded_length(60), 60);
    assert_eq!(frame::padded_length(1514), 1514);
}

#[test]
fn the_initialization_block_is_laid_out_as_the_datasheet_says() {
    let block = InitializationBlock {
        mode: 0,
        receive_ring_length: 32,
        transmit_ring_length: 16,
        station_address: [0x52, 0x54, 0x00, 0x12, 0x34, 0x57],
        logical_address_filter: 0x0123_4567_89ab_cdef,
        receive_ring: 0x0010_0020,
        transmit_ring: 0x0010_0220,
    };
    let words = block.encode().unwrap();
    // Byte 2's high nibble is RLEN, byte 3's is TLEN (log2 of the lengths).
    assert_eq!(words[0], 0x4050_0000);
    let bytes = words[0].to_le_bytes();
    assert_eq!((bytes[2] >> 4, bytes[3] >> 4), (5, 4));
    assert_eq!(words[1], 0x1200_5452);
    assert_eq!(words[2], 0x0000_5734);
    assert_eq!(words[3], 0x89ab_cdef);
    assert_eq!(words[4], 0x0123_4567);
    assert_eq!(words[5], 0x0010_0020);
    assert_eq!(words[6], 0x0010_0220);
    let promiscuous = InitializationBlock {
        mode: 0x8000,
        ..block
    };
    assert_eq!(promiscuous.encode().unwrap()[0], 0x4050_8000);
}

#[test]
fn the_initialization_block_refuses_rings_the_device_cannot_use() {
    let good = InitializationBlock {
        mode: 0,
        receive_ring_length: 1,
        transmit_ring_length: 512,
        station_address: [2, 0, 0, 0, 0, 1],
        logical_address_filter: 0,
        receive_ring: 0x1000,
        transmit_ring: 0x2000,
    };
    assert_eq!(good.encode().unwrap()[0], 9 << 28);
    for (receive, transmit) in [(0, 32), (3, 32), (32, 1024), (32, 48)] {
        let bad = InitializationBlock {
            receive_ring_length: receive,
            transmit_ring_length: transmit,
            ..good
        };
        assert_eq!(bad.encode(), None, "{receive}/{transmit}");
    }
    let unaligned = InitializationBlock {
        receive_ring: 0x1008,
        ..good
    };
    assert_eq!(unaligned.encode(), None);
    assert_eq!(ring_length_code(512), Some(9));
    assert_eq!(ring_length_code(1), Some(0));
    assert_eq!(ring_length_code(0), None);
}

#[test]
fn acknowledging_clears_exactly_the_latched_causes_and_never_commands() {
    let commands = status::INIT | status::START | status::STOP | status::TRANSMIT_DEMAND;
    for value in 0..=u16::MAX {
        for enabled in [false, true] {
            let written = status::acknowledgement(value, enabled);
            assert_eq!(written & commands, 0, "{value:#06x}");
            assert_eq!(
                written & status::LATCHED_CAUSES,
                value & status::LATCHED_CAUSES
            );
            assert_eq!(written & status::INTERRUPT_ENABLE != 0, enabled);
        }
    }
    // A receive interrupt with interrupts on, as QEMU shows it.
    assert_eq!(status::acknowledgement(0x04f3, true), 0x0440);
    assert_eq!(status::error_count(0x04f3), 0);
    assert_eq!(status::error_count(0xf800), 3);
    assert_eq!(status::error_count(status::COLLISION_ERROR), 0);
    assert_eq!(status::error_count(status::ERROR | status::MISSED_FRAME), 1);
    assert!(status::is_stopped(0x0004));
    assert!(!status::is_stopped(0x0133));
}

#[test]
fn configuration_fields_decode() {
    // QEMU answers BCR20 = 2 with SSIZE32 and CSRPCNET set.
    assert!(software_style::is_pcnet_pci(0x0302));
    assert!(!software_style::is_pcnet_pci(0x0200));
    assert!(!software_style::is_pcnet_pci(0x0303));
    assert!(!software_style::is_pcnet_pci(0x0002));
    assert!(link_status::link_is_up(0x80c0));
    assert!(!link_status::link_is_up(0x00c0));
    assert!(!link_status::link_is_up(0x8080), "link status not selected");
    assert_eq!(link_status::with_link_status(0x8084), 0x00c4);
    assert_eq!(part_number(0x1003, 0x0262), AM79C970A_PART_NUMBER);
    assert_eq!(
        part_number(0x1003, 0x2262),
        AM79C970A_PART_NUMBER,
        "version 2"
    );
    assert_ne!(part_number(0x5003, 0x0262), AM79C970A_PART_NUMBER);
}

#[test]
fn station_and_device_addresses_are_checked() {
    assert!(is_usable_station_address(&[
        0x52, 0x54, 0, 0x12, 0x34, 0x57
    ]));
    assert!(!is_usable_station_address(&[0; 6]));
    assert!(!is_usable_station_address(&[0xff; 6]));
    assert!(!is_usable_station_address(&[0x01, 0, 0x5e, 0, 0, 1]));
    assert_eq!(device_address(0x0123_4000), Some(0x0123_4000));
    assert_eq!(device_address(0xffff_ffff), Some(0xffff_ffff));
    assert_eq!(device_address(0x1_0000_0000), None);
}

#[test]
fn the_dma_layout_keeps_everything_apart_aligned_and_inside() {
    let layout = DmaLayout::new(32, 32, 1536).unwrap();
    assert_eq!(layout.initialization_block(), 0);
    assert_eq!(layout.receive_ring(), 32);
    assert_eq!(layout.transmit_ring(), 32 + 32 * 16);
    assert_eq!(layout.receive_buffer(0), 4096);
    assert_eq!(layout.transmit_buffer(0), 4096 + 32 * 1536);
    assert_eq!(layout.total_bytes(), 102_400);
    for (receive, transmit) in [(1, 1), (32, 32), (64, 16), (128, 128), (512, 512)] {
        let layout = DmaLayout::new(receive, transmit, 1536).unwrap();
        let mut regions = vec![(
            layout.initialization_block(),
            INITIALIZATION_BLOCK_WORDS * 4,
        )];
        for index in 0..receive {
            regions.push((layout.receive_descriptor(index), descriptor::BYTES));
            regions.push((layout.receive_buffer(index), 1536));
        }
        for index in 0..transmit {
            regions.push((layout.transmit_descriptor(index), descriptor::BYTES));
            regions.push((layout.transmit_buffer(index), 1536));
        }
        regions.sort();
        for pair in regions.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:?} overlap");
        }
        let (last, length) = *regions.last().unwrap();
        assert!(last + length <= layout.total_bytes());
        assert_eq!(layout.receive_ring() % 16, 0);
        assert_eq!(layout.transmit_ring() % 16, 0);
        assert_eq!(layout.receive_buffer(0) % 4096, 0);
        // Indices wrap around the ring.
        assert_eq!(
            layout.receive_descriptor(receive),
            layout.receive_descriptor(0)
        );
        assert_eq!(
            layout.transmit_buffer(transmit + 1),
            layout.transmit_buffer(1)
        );
    }
    assert_eq!(DmaLayout::new(32, 32, 1500), None, "too small for a frame");
    assert_eq!(DmaLayout::new(32, 32, 1540), None, "not a multiple of 16");
    assert_eq!(DmaLayout::new(32, 32, 4096), None, "too large for BCNT");
    assert_eq!(DmaLayout::new(24, 32, 1536), None);
    assert_eq!(DmaLayout::new(32, 0, 1536), None);
}

#[test]
fn the_receive_ring_walks_in_order_and_wraps() {
    let mut ring = ReceiveRing::new(4).unwrap();
    let visited: Vec<usize> = (0..9)
        .map(|_| {
            let index = ring.next();
            ring.advance();
            index
        })
        .collect();
    assert_eq!(visited, [0, 1, 2, 3, 0, 1, 2, 3, 0]);
    ring.reset();
    assert_eq!(ring.next(), 0);
    assert_eq!(ReceiveRing::new(6), None);
    assert_eq!(ReceiveRing::new(1024), None);
}

#[test]
fn the_transmit_ring_fills_to_full_and_reclaims_in_order() {
    let mut ring = TransmitRing::new(4).unwrap();
    assert!(ring.is_empty() && ring.oldest_in_flight().is_none());
    for expected in 0..4 {
        assert_eq!(ring.next_free(), Some(expected));
        ring.mark_filled();
    }
    assert!(ring.is_full());
    assert_eq!(ring.next_free(), None);
    ring.mark_filled();
    assert_eq!(ring.in_flight(), 4, "filling a full ring does nothing");
    assert_eq!(ring.oldest_in_flight(), Some(0));
    ring.mark_reclaimed();
    assert_eq!(ring.oldest_in_flight(), Some(1));
    assert_eq!(ring.next_free(), Some(0));
    ring.reset();
    assert!(ring.is_empty());
    ring.mark_reclaimed();
    assert_eq!(ring.in_flight(), 0, "reclaiming an empty ring does nothing");
    assert_eq!(TransmitRing::new(3), None);
}

#[test]
fn the_transmit_ring_matches_a_model_across_counter_wrap_around() {
    for length in [1, 2, 8, 32] {
        let mut ring = TransmitRing::new(length).unwrap();
        // Start just before the counters wrap.
        ring.filled = u32::MAX - 20;
        ring.reclaimed = u32::MAX - 20;
        let first = ring.next_free().unwrap();
        let mut model: VecDeque<usize> = VecDeque::new();
        let mut next = first;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if !state.is_multiple_of(3) {
                if model.len() < length {
                    assert_eq!(ring.next_free(), Some(next));
                    model.push_back(next);
                    next = (next + 1) % length;
                } else {
                    assert_eq!(ring.next_free(), None);
                }
                ring.mark_filled();
            } else {
                assert_eq!(ring.oldest_in_flight(), model.front().copied());
                model.pop_front();
                ring.mark_reclaimed();
            }
            assert_eq!(ring.in_flight(), model.len());
            assert!(ring.in_flight() <= length);
            if let Some(index) = ring.next_free() {
                assert!(index < length);
                assert!(
                    !model.contains(&index),
                    "a descriptor in flight handed out again"
                );
            }
        }
    }
}

#[test]
fn wait_until_reads_pauses_between_reads_and_gives_up() {
    let mut reads = 0;
    let mut pauses = 0;
    let found = wait_until(
        10,
        || -> Result<u16, ()> {
            reads += 1;
            Ok(if reads == 3 { 0x0100 } else { 0 })
        },
        |value| value & 0x0100 != 0,
        || pauses += 1,
    );
    assert_eq!(found, Ok(Some(0x0100)));
    assert_eq!((reads, pauses), (3, 2));
    let mut reads = 0;
    let never = wait_until(
        5,
        || -> Result<u16, ()> {
            reads += 1;
            Ok(0)
        },
        |_| false,
        || {},
    );
    assert_eq!((never, reads), (Ok(None), 5));
    let failed = wait_until(5, || -> Result<u16, &str> { Err("port") }, |_| true, || {});
    assert_eq!(failed, Err("port"));
    assert_eq!(
        wait_until(0, || -> Result<u16, ()> { Ok(1) }, |_| true, || {}),
        Ok(None)
    );
}
