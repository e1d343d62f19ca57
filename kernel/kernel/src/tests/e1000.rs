//! The `e1000` driver (`extensions/e1000`, QEMU's 82540EM on the user-mode
//! network) driven through its network entry operations, as the kernel's
//! network thread drives it: open, MAC address, link, ARP exchanges with
//! QEMU's gateway (one frame per `deliver-packet`, batched with
//! `deliver-packets`, and sent with `network-transmit-batch`), statistics,
//! stop; isolated and native; a crash and the recovered instance working
//! again; and unloading without leaks.
//!
//! The ARP requests are built here by hand and the replies are read from
//! the device's received queue (`ExtensionDevice::take_received_frame`),
//! the queue the network stack reads.
//!
//! Like the other NIM tests, each leaves `e1000` running isolated (its
//! generation may have grown), its device stopped as at boot.

use super::{RECOVERY_TIMEOUT_MS, generation};
use crate::memory::{frames, heap};
use crate::nim::interface::{self, kernel as wrappers};
use crate::nim::recovery::wait_for_recovery;
use crate::nim::services::{ExtensionDevice, TrackedObject};
use crate::nim::{self, EXTENSIONS, Mode, SLOTS, Slot, State};
use crate::{ensure, kernel_test, sched, time};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use extension_abi::frame_batch::FrameBatchWriter;
use extension_abi::{CallError, CrashKind, Status};
use restart_policy::RestartPolicy;
use wrappers::{DeviceHandle, NetworkStatisticsReply};

/// The extension.
const EXTENSION: &str = "e1000";
/// The network device it registers.
const DEVICE_NAME: &str = "e1000-0";
/// QEMU's default MAC address of the first NIC.
const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// The guest's address on QEMU's user-mode network.
const GUEST_IP: [u8; 4] = [10, 0, 2, 15];
/// QEMU's user-mode gateway and its MAC address.
const GATEWAY: ([u8; 4], [u8; 6]) = ([10, 0, 2, 2], [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
/// QEMU's user-mode DNS server (it answers ARP too) and its MAC address.
const NAME_SERVER: ([u8; 4], [u8; 6]) = ([10, 0, 2, 3], [0x52, 0x55, 0x0a, 0x00, 0x02, 0x03]);
/// The PCI interrupt line QEMU gives the e1000 (shared with the pcnet).
const INTERRUPT_LINE: usize = 11;
/// What the driver holds: its PCI function, the registers' mapping, four
/// DMA buffers (two rings, two sets of buffers), the interrupt
/// registration and `e1000-0`.
const OBJECTS_HELD: usize = 8;
/// Longest wait for an ARP reply.
const REPLY_TIMEOUT_MS: u64 = 2_000;
/// The poll budget the tests use.
const POLL_BUDGET: u16 = 16;
/// Ethertype of ARP.
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
/// Bytes of an ARP request over Ethernet (before the device pads it).
const ARP_FRAME_BYTES: usize = 42;

fn objects_of(slot: Slot) -> usize {
    nim::list()
        .iter()
        .find(|summary| summary.slot == slot)
        .map_or(usize::MAX, |summary| summary.objects)
}

/// An ARP request "who has `target`? tell 10.0.2.15", broadcast.
fn arp_request(target: [u8; 4]) -> [u8; ARP_FRAME_BYTES] {
    let mut frame = [0u8; ARP_FRAME_BYTES];
    frame[0..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&GUEST_MAC);
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP);
    // Hardware Ethernet, protocol IPv4, address lengths 6 and 4, request.
    frame[14..22].copy_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    frame[22..28].copy_from_slice(&GUEST_MAC);
    frame[28..32].copy_from_slice(&GUEST_IP);
    frame[32..38].copy_from_slice(&[0; 6]);
    frame[38..42].copy_from_slice(&target);
    frame
}

/// Is `frame` an ARP reply to us saying `ip` is at `mac`?
fn is_arp_reply(frame: &[u8], (ip, mac): ([u8; 4], [u8; 6])) -> bool {
    frame.len() >= ARP_FRAME_BYTES
        && frame[0..6] == GUEST_MAC
        && frame[6..12] == mac
        && frame[12..14] == ETHERTYPE_ARP
        && frame[14..22] == [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02]
        && frame[22..28] == mac
        && frame[28..32] == ip
        && frame[32..38] == GUEST_MAC
        && frame[38..42] == GUEST_IP
}

/// The e1000's network device as one instance registered it: the kernel's
/// face of it, and the handle its entries take.
struct Nic {
    slot: Slot,
    generation: u32,
    handle: DeviceHandle,
    device: Arc<ExtensionDevice>,
}

impl Nic {
    /// The device named `e1000-0` that the instance in `slot` registered
    /// (exactly one such registration, and exactly one such name in the
    /// device table).
    fn of(slot: Slot) -> Result<Nic, String> {
        let named: Vec<_> = crate::devices::list()
            .into_iter()
            .filter(|device| device.name == DEVICE_NAME)
            .collect();
        ensure!(
            named.len() == 1,
            "{} devices named {DEVICE_NAME} in the device table",
            named.len()
        );
        let registered: Vec<(u64, Arc<ExtensionDevice>)> = EXTENSIONS.lock()[slot]
            .as_ref()
            .map(|record| {
                record
                    .objects
                    .iter()
                    .filter_map(|(handle, _, object)| match object {
                        TrackedObject::Device { id, device } if *id == named[0].id => {
                            Some((handle.to_bits(), device.clone()))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        ensure!(
            registered.len() == 1,
            "{DEVICE_NAME} is not registered by the {EXTENSION} instance in slot {slot}"
        );
        let (handle, device) = registered.into_iter().next().ok_or("no registration")?;
        ensure!(
            device_table::Device::class(&*device) == device_table::DeviceClass::Network,
            "{DEVICE_NAME} is not of class network"
        );
        Ok(Nic {
            slot,
            generation: generation(slot),
            handle: DeviceHandle(handle),
            device,
        })
    }

    fn transport(&self) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> {
        interface::transport(self.slot, self.generation, State::Running)
    }

    fn open(&self) -> Result<(), String> {
        wrappers::network_open(&mut self.transport(), self.handle)
            .map_err(|e| format!("network-open: {e}"))
    }

    fn stop(&self) -> Result<(), String> {
        wrappers::network_stop(&mut self.transport(), self.handle)
            .map_err(|e| format!("network-stop: {e}"))
    }

    fn mac_address(&self) -> Result<Vec<u8>, String> {
        let mut address = [0u8; 6];
        let length =
            wrappers::network_mac_address(&mut self.transport(), self.handle, &mut address)
                .map_err(|e| format!("network-mac-address: {e}"))?;
        Ok(address[..length].to_vec())
    }

    fn statistics(&self) -> Result<NetworkStatisticsReply, String> {
        wrappers::network_statistics(&mut self.transport(), self.handle)
            .map_err(|e| format!("network-statistics: {e}"))
    }

    fn transmit(&self, frame: &[u8]) -> Result<(), CallError> {
        wrappers::network_transmit(&mut self.transport(), self.handle, frame)
    }

    fn transmit_batch(&self, count: u16, frames: &[u8]) -> Result<u16, CallError> {
        wrappers::network_transmit_batch(&mut self.transport(), self.handle, count, frames)
    }

    /// One `network-poll`: (delivered, more).
    fn poll(&self, budget: u16, batch: bool) -> Result<(u16, bool), CallError> {
        wrappers::network_poll(&mut self.transport(), self.handle, budget, batch)
            .map(|reply| (reply.delivered, reply.more))
    }

    /// Polls until nothing is waiting and empties the received queue.
    fn drain(&self) -> Result<(), String> {
        for _ in 0..64 {
            let (_, more) = self
                .poll(POLL_BUDGET, true)
                .map_err(|e| format!("network-poll: {e}"))?;
            while self.device.take_received_frame().is_some() {}
            if !more {
                return Ok(());
            }
        }
        Err("the device keeps receiving".to_string())
    }

    /// Polls (with `batch`) until an ARP reply from each of `peers` is in
    /// the received queue; checks that the frames taken from the queue are
    /// exactly those the polls reported delivered.
    fn await_arp_replies(&self, batch: bool, peers: &[([u8; 4], [u8; 6])]) -> Result<(), String> {
        let deadline = time::ticks() + time::ms_to_ticks(REPLY_TIMEOUT_MS);
        let mut answered = alloc::vec![false; peers.len()];
        let (mut delivered, mut taken) = (0u64, 0u64);
        loop {
            let (count, _) = self
                .poll(POLL_BUDGET, batch)
                .map_err(|e| format!("network-poll (batch {batch}): {e}"))?;
            ensure!(
                count <= POLL_BUDGET,
                "a poll delivered {count} frames, over its budget"
            );
            delivered += u64::from(count);
            while let Some(frame) = self.device.take_received_frame() {
                taken += 1;
                for (peer, seen) in peers.iter().zip(answered.iter_mut()) {
                    *seen |= is_arp_reply(&frame, *peer);
                }
            }
            ensure!(
                taken == delivered,
                "{taken} frames in the received queue, but the polls (batch {batch}) reported {delivered} delivered"
            );
            if answered.iter().all(|seen| *seen) {
                return Ok(());
            }
            ensure!(
                time::ticks() < deadline,
                "no ARP reply from {:?} within {REPLY_TIMEOUT_MS} ms (batch {batch}; {taken} other frames)",
                peers
                    .iter()
                    .zip(&answered)
                    .filter(|(_, seen)| !**seen)
                    .map(|((ip, _), _)| *ip)
                    .collect::<Vec<_>>()
            );
            sched::sleep_ms(1).map_err(|e| format!("sleep: {e}"))?;
        }
    }
}

/// Opens the device and checks it: MAC address, link, ARP with the
/// gateway three ways (transmit + deliver-packet, transmit +
/// deliver-packets, transmit-batch + deliver-packets), statistics and the
/// interrupt line; then stops it and checks a stopped device sends
/// nothing. Returns how many frames went out.
fn exercise(nic: &Nic) -> Result<u64, String> {
    nic.open()?;
    let mac = nic.mac_address()?;
    ensure!(mac == GUEST_MAC, "{DEVICE_NAME} has MAC address {mac:02x?}");
    let before = nic.statistics()?;
    ensure!(before.link_up, "{DEVICE_NAME}: the link is down");
    nic.drain()?;
    let interrupts = crate::interrupts::IRQ_COUNTS[INTERRUPT_LINE].load(Ordering::Relaxed);

    // One frame out, the reply one per crossing, then batched.
    for batch in [false, true] {
        nic.transmit(&arp_request(GATEWAY.0))
            .map_err(|e| format!("network-transmit: {e}"))?;
        nic.await_arp_replies(batch, &[GATEWAY])?;
    }
    // Three frames in one crossing: two replies come back.
    let mut buffer = [0u8; 4096];
    let mut frames = FrameBatchWriter::new(&mut buffer);
    for target in [GATEWAY.0, NAME_SERVER.0, GATEWAY.0] {
        ensure!(frames.push(&arp_request(target)), "the batch is full");
    }
    let sent = nic
        .transmit_batch(frames.count(), frames.bytes())
        .map_err(|e| format!("network-transmit-batch: {e}"))?;
    ensure!(sent == 3, "network-transmit-batch took {sent} of 3 frames");
    nic.await_arp_replies(true, &[GATEWAY, NAME_SERVER])?;
    let transmitted = 5u64;

    // Frames the driver must refuse: too short, and a malformed batch.
    let short = nic.transmit(&[0u8; 13]);
    ensure!(
        short == Err(CallError::Status(Status::Refused)),
        "a 13-byte frame answered {short:?}"
    );
    let malformed = nic.transmit_batch(2, &[1, 0, 0xff]);
    ensure!(
        malformed == Err(CallError::Status(Status::Refused)),
        "a malformed batch answered {malformed:?}"
    );

    let after = nic.statistics()?;
    ensure!(
        after.sent_packets >= before.sent_packets + transmitted
            && after.sent_bytes >= before.sent_bytes + transmitted * ARP_FRAME_BYTES as u64,
        "statistics: {} frames / {} bytes sent, {} / {} before, {transmitted} ARP requests since",
        after.sent_packets,
        after.sent_bytes,
        before.sent_packets,
        before.sent_bytes
    );
    ensure!(
        after.received_packets >= before.received_packets + 4
            && after.received_bytes >= before.received_bytes + 4 * ARP_FRAME_BYTES as u64,
        "statistics: {} frames / {} bytes received, {} / {} before, at least 4 ARP replies since",
        after.received_packets,
        after.received_bytes,
        before.received_packets,
        before.received_bytes
    );
    ensure!(
        after.errors == before.errors,
        "statistics: errors went from {} to {}",
        before.errors,
        after.errors
    );
    ensure!(after.link_up, "{DEVICE_NAME}: the link went down");
    let interrupted = crate::interrupts::IRQ_COUNTS[INTERRUPT_LINE].load(Ordering::Relaxed);
    ensure!(
        interrupted > interrupts,
        "no interrupt on line {INTERRUPT_LINE} while frames were received"
    );

    nic.stop()?;
    let stopped = nic.transmit(&arp_request(GATEWAY.0));
    ensure!(
        stopped == Err(CallError::Status(Status::Refused)),
        "a transmit on the stopped device answered {stopped:?}"
    );
    let idle = nic.poll(POLL_BUDGET, true);
    ensure!(
        idle == Ok((0, false)),
        "a poll of the stopped device answered {idle:?}"
    );
    Ok(transmitted)
}

/// Loads `e1000` in `mode` (unloading an instance of the other mode, or
/// waiting for a recovery under way) and returns its slot.
fn running(mode: Mode) -> Result<Slot, String> {
    super::running_in(EXTENSION, mode)
}

/// Unloads the instance in `slot`; checks its objects and device are gone.
fn unload(slot: Slot) -> Result<(), String> {
    nim::unload(slot).map_err(|e| format!("unloading {EXTENSION}: {e}"))?;
    ensure!(
        objects_of(slot) == 0,
        "{} objects held after unloading",
        objects_of(slot)
    );
    ensure!(
        crate::devices::list()
            .iter()
            .all(|device| device.name != DEVICE_NAME),
        "{DEVICE_NAME} is still in the device table after unloading"
    );
    Ok(())
}

/// Free frames and heap bytes in use.
fn memory_in_use() -> (usize, usize) {
    (frames::free_count(), heap::stats().1)
}

/// What a test does with a loaded instance's device: how many frames it
/// sent, or why it failed.
type Work = fn(&Nic) -> Result<u64, String>;

/// The short form of [`exercise`] for the leak checks: open, check the
/// address, send one ARP request and see it counted, poll, stop. (It does
/// not wait for the reply: QEMU's e1000 holds reception back for a second
/// after every write of RCTL, which `network-open` makes.)
fn exercise_briefly(nic: &Nic) -> Result<u64, String> {
    nic.open()?;
    let mac = nic.mac_address()?;
    ensure!(mac == GUEST_MAC, "{DEVICE_NAME} has MAC address {mac:02x?}");
    let before = nic.statistics()?;
    nic.transmit(&arp_request(GATEWAY.0))
        .map_err(|e| format!("network-transmit: {e}"))?;
    nic.drain()?;
    let after = nic.statistics()?;
    ensure!(
        after.sent_packets == before.sent_packets + 1 && after.link_up,
        "statistics: {} frames sent ({} before, 1 since), link up {}",
        after.sent_packets,
        before.sent_packets,
        after.link_up
    );
    nic.stop()?;
    Ok(1)
}

/// Loads `e1000` in `mode` into a stopped slot, runs `work` on its
/// device and unloads it, twice; the second round must give back every
/// frame and heap byte (the first lets lazily grown kernel structures
/// reach their size). Leaves it unloaded. Returns how many frames went
/// out.
fn load_work_unload_without_leaks(mode: Mode, work: [Work; 2]) -> Result<u64, String> {
    let mut measured = None;
    let mut transmitted = 0;
    for (round, work) in work.into_iter().enumerate() {
        let before = memory_in_use();
        let slot = nim::load(EXTENSION, mode)
            .map_err(|e| format!("loading {EXTENSION} {}: {e}", mode.name()))?;
        let nic = Nic::of(slot)?;
        ensure!(
            objects_of(slot) == OBJECTS_HELD,
            "{EXTENSION} ({}) holds {} objects, expected {OBJECTS_HELD}",
            mode.name(),
            objects_of(slot)
        );
        transmitted += work(&nic).map_err(|e| format!("{} round {round}: {e}", mode.name()))?;
        drop(nic);
        unload(slot)?;
        measured = Some((before, memory_in_use()));
    }
    let ((frames_before, heap_before), (frames_after, heap_after)) =
        measured.ok_or("no measured round")?;
    ensure!(
        frames_after == frames_before,
        "{}: {} frames leaked by a load, use and unload",
        mode.name(),
        frames_before as i64 - frames_after as i64
    );
    ensure!(
        heap_after == heap_before,
        "{}: {} heap bytes leaked by a load, use and unload",
        mode.name(),
        heap_after as i64 - heap_before as i64
    );
    Ok(transmitted)
}

/// Restores the restart policy of `slot` when dropped.
struct PolicyGuard {
    slot: Slot,
    policy: RestartPolicy,
}

impl PolicyGuard {
    fn always(slot: Slot) -> Result<Self, String> {
        let policy = nim::list()
            .into_iter()
            .find(|summary| summary.slot == slot)
            .map(|summary| summary.policy)
            .ok_or_else(|| format!("slot {slot} is not listed"))?;
        nim::set_policy(slot, RestartPolicy::Always);
        Ok(Self { slot, policy })
    }
}

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        nim::set_policy(self.slot, self.policy);
    }
}

kernel_test!(e1000_isolated_exchanges_arp_with_the_gateway_recovers_from_a_crash_and_unloads_without_leaks {
    let started = time::uptime_us();
    let slot = running(Mode::Isolated)?;
    let _policy = PolicyGuard::always(slot)?;
    ensure!(
        objects_of(slot) == OBJECTS_HELD,
        "{EXTENSION} holds {} objects, expected {OBJECTS_HELD}",
        objects_of(slot)
    );
    let nic = Nic::of(slot)?;
    let mut transmitted = exercise(&nic)?;

    // A null dereference inside the driver: the kernel recovers it.
    let failed = nic.generation;
    let crashed = nim::crash::crash(slot, CrashKind::NullDereference);
    ensure!(crashed == Ok(()), "crash: {crashed:?}");
    let state = wait_for_recovery(slot, failed, RECOVERY_TIMEOUT_MS);
    ensure!(
        state == State::Running && SLOTS[slot].is_isolated() && generation(slot) == failed + 1,
        "{EXTENSION} is {} as generation {} after the crash of generation {failed}",
        state.name(),
        generation(slot)
    );
    let record = nim::faults(slot).last().copied().ok_or("no fault record")?;
    ensure!(
        record.generation == failed && record.kind.to_string() == CrashKind::NullDereference.expected_fault(),
        "the last fault record is {} of generation {}",
        record.kind,
        record.generation
    );
    // The dead instance's device answers nothing; the new one registered
    // e1000-0 again (once) and holds what the old one held.
    let stale = nic.poll(POLL_BUDGET, true);
    ensure!(stale.is_err(), "a poll through the failed instance answered {stale:?}");
    drop(nic);
    ensure!(
        objects_of(slot) == OBJECTS_HELD,
        "the new {EXTENSION} holds {} objects, expected {OBJECTS_HELD}",
        objects_of(slot)
    );
    let nic = Nic::of(slot).map_err(|e| format!("after the recovery: {e}"))?;
    ensure!(nic.generation == failed + 1, "e1000-0 belongs to generation {}", nic.generation);
    let fresh = nic.statistics()?;
    ensure!(
        fresh.sent_packets == 0 && fresh.received_packets == 0,
        "the new instance's counters start at {} sent, {} received",
        fresh.sent_packets,
        fresh.received_packets
    );
    transmitted += exercise(&nic).map_err(|e| format!("after the recovery: {e}"))?;
    drop(nic);

    // Unload and load again, twice: nothing leaks.
    unload(slot)?;
    transmitted +=
        load_work_unload_without_leaks(Mode::Isolated, [exercise_briefly, exercise_briefly])?;
    running(Mode::Isolated)?;
    crate::println!(
        "ktest: e1000 isolated: ARP with the gateway three ways, recovered from a null dereference, 2 clean unloads; {transmitted} frames sent, {} ms",
        (time::uptime_us() - started) / 1000
    );
    Ok(())
});

kernel_test!(e1000_native_exchanges_arp_with_the_gateway_and_unloads_without_leaks {
    let started = time::uptime_us();
    let slot = running(Mode::Isolated)?;
    unload(slot)?;
    let result = load_work_unload_without_leaks(Mode::Native, [exercise, exercise_briefly]);
    // Back to isolated whatever happened.
    if let Some(slot) = nim::find(EXTENSION)
        && SLOTS[slot].state() == State::Running
        && !SLOTS[slot].is_isolated()
    {
        let _ = nim::unload(slot);
    }
    running(Mode::Isolated)?;
    let transmitted = result?;
    crate::println!(
        "ktest: e1000 native: ARP with the gateway three ways, 2 clean unloads; {transmitted} frames sent, {} ms",
        (time::uptime_us() - started) / 1000
    );
    Ok(())
});

// --- transmit rate ---------------------------------------------------------

/// Frames each transmit loop sends.
const LOOP_FRAMES: u32 = 5_000;
/// An IEEE 802 local experimental ethertype: QEMU's user network drops
/// such frames without answering.
const ETHERTYPE_EXPERIMENTAL: [u8; 2] = [0x88, 0xb5];

/// A frame of `length` bytes to the gateway that nobody answers.
fn unanswered_frame(length: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..length).map(|index| index as u8).collect();
    frame[0..6].copy_from_slice(&GATEWAY.1);
    frame[6..12].copy_from_slice(&GUEST_MAC);
    frame[12..14].copy_from_slice(&ETHERTYPE_EXPERIMENTAL);
    frame
}

/// Sends [`LOOP_FRAMES`] frames of `length` bytes, one `network-transmit`
/// each or as many per `network-transmit-batch` as fit 4096 bytes;
/// checks the driver counted every one sent, without errors. Returns
/// frames per second (guest time).
fn transmit_loop(nic: &Nic, length: usize, batched: bool) -> Result<u64, String> {
    let frame = unanswered_frame(length);
    let before = nic.statistics()?;
    let mut buffer = [0u8; 4096];
    let mut batch = FrameBatchWriter::new(&mut buffer);
    while batch.push(&frame) {}
    let per_batch = u32::from(batch.count());
    let started = time::uptime_us();
    let (mut sent, mut full) = (0u32, 0u32);
    while sent < LOOP_FRAMES {
        let taken = if batched {
            let count = per_batch.min(LOOP_FRAMES - sent);
            let bytes = &batch.bytes()[..count as usize * (frame.len() + 2)];
            nic.transmit_batch(count as u16, bytes)
                .map(u32::from)
                .map_err(|e| format!("network-transmit-batch: {e}"))?
        } else {
            match nic.transmit(&frame) {
                Ok(()) => 1,
                Err(CallError::Status(Status::NoResources)) => 0,
                Err(e) => return Err(format!("network-transmit: {e}")),
            }
        };
        if taken == 0 {
            // The ring is full: a poll reclaims what the device sent.
            full += 1;
            ensure!(full < 10_000, "the transmit ring stays full");
            nic.poll(0, true)
                .map_err(|e| format!("network-poll: {e}"))?;
        }
        sent += taken;
    }
    let elapsed_us = (time::uptime_us() - started).max(1);
    nic.poll(0, true)
        .map_err(|e| format!("network-poll: {e}"))?;
    let after = nic.statistics()?;
    ensure!(
        after.sent_packets == before.sent_packets + u64::from(LOOP_FRAMES)
            && after.sent_bytes == before.sent_bytes + u64::from(LOOP_FRAMES) * length as u64
            && after.errors == before.errors,
        "after {LOOP_FRAMES} frames of {length} bytes (batched {batched}): {} sent / {} bytes / {} errors, {} / {} / {} before",
        after.sent_packets,
        after.sent_bytes,
        after.errors,
        before.sent_packets,
        before.sent_bytes,
        before.errors
    );
    Ok(u64::from(LOOP_FRAMES) * 1_000_000 / elapsed_us)
}

/// The transmit loops on an opened device: frames per second for 60-byte
/// frames one by one and batched, and 1514-byte frames one by one.
fn transmit_rates(nic: &Nic) -> Result<[u64; 3], String> {
    nic.open()?;
    let rates = [
        transmit_loop(nic, 60, false)?,
        transmit_loop(nic, 60, true)?,
        transmit_loop(nic, 1514, false)?,
    ];
    nic.stop()?;
    Ok(rates)
}

kernel_test!(e1000_transmit_loops_send_every_frame_isolated_and_native {
    let slot = running(Mode::Isolated)?;
    let isolated = transmit_rates(&Nic::of(slot)?).map_err(|e| format!("isolated: {e}"))?;
    unload(slot)?;
    let native = nim::load(EXTENSION, Mode::Native)
        .map_err(|e| format!("loading {EXTENSION} native: {e}"))
        .and_then(|slot| transmit_rates(&Nic::of(slot)?).map_err(|e| format!("native: {e}")));
    if let Some(slot) = nim::find(EXTENSION)
        && SLOTS[slot].state() == State::Running
    {
        let _ = nim::unload(slot);
    }
    running(Mode::Isolated)?;
    let native = native?;
    for (name, index) in [("60-byte frames", 0), ("60-byte frames batched", 1), ("1514-byte frames", 2)] {
        crate::println!(
            "ktest: e1000 transmit loop, {LOOP_FRAMES} {name}: native {} frames/s, isolated {} frames/s",
            native[index],
            isolated[index]
        );
    }
    Ok(())
});
