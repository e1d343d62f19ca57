//! The `pcnet` driver (AMD PCnet-PCI II, QEMU's `-device pcnet` on its own
//! user-mode network), driven the way the kernel's network thread drives
//! it: through the generated entry functions (`network-open`,
//! `network-transmit`, `network-poll`, ...), with received frames taken
//! from the device's queue in the kernel. Each test exchanges hand-built
//! ARP requests with QEMU's gateway (10.0.2.2, MAC 52:55:0a:00:02:02) and
//! DNS address (10.0.2.3), isolated and native; a null dereference is
//! recovered and the exchange works again; unloading leaks nothing.
//!
//! Like the other extension tests, each leaves `pcnet` running isolated
//! (its generation may have grown), its device stopped, and restores the
//! restart policy it changes.

use super::{RECOVERY_TIMEOUT_MS, generation};
use crate::memory::{frames, heap};
use crate::nim::interface::kernel as entries;
use crate::nim::recovery::wait_for_recovery;
use crate::nim::services::{ExtensionDevice, TrackedObject};
use crate::nim::{self, EXTENSIONS, Mode, SLOTS, Slot, State};
use crate::{ensure, kernel_test, sched, time};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use entries::{DeviceHandle, NetworkStatisticsReply};
use extension_abi::frame_batch::FrameBatchWriter;
use extension_abi::{CallError, CrashKind, Status};
use restart_policy::RestartPolicy;

/// The extension and the device it registers.
const EXTENSION: &str = "pcnet";
const DEVICE: &str = "pcnet-0";
/// The controller's PCI ids.
const VENDOR_AMD: u16 = 0x1022;
const DEVICE_PCNET_PCI: u16 = 0x2000;
/// QEMU's address for the second network card (the first is the e1000's,
/// ...:56).
const STATION_ADDRESS: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x57];
/// The guest's address on QEMU's user-mode network.
const GUEST: [u8; 4] = [10, 0, 2, 15];
/// QEMU's gateway and DNS addresses; it answers ARP for both with MAC
/// 52:55 followed by the address.
const GATEWAY: [u8; 4] = [10, 0, 2, 2];
const NAME_SERVER: [u8; 4] = [10, 0, 2, 3];
/// Objects a running instance holds: the PCI function, its ports, the DMA
/// memory, the interrupt registration and the device.
const OBJECTS: usize = 5;
/// Longest wait for an ARP reply, and for a recovery.
const REPLY_TIMEOUT_MS: u64 = 2_000;
/// Frames per `network-poll`.
const POLL_BUDGET: u16 = 16;
/// ARP requests in the burst (one `network-transmit-batch`): more than a
/// poll's budget, fewer than the driver's 32 receive descriptors.
const BURST: usize = 24;
/// ARP requests offered in one batch to a transmit ring of 32.
const OVERFLOW: usize = 40;
/// The driver's transmit and receive descriptors.
const RING_LENGTH: usize = 32;
/// Polls of an idle device timed for the cost of one.
const IDLE_POLLS: u64 = 200;

fn sleep_ms(milliseconds: u64) -> Result<(), String> {
    sched::sleep_ms(milliseconds).map_err(|e| format!("sleep: {e}"))
}

/// `pcnet`'s slot, running in `mode`: waits for a recovery under way,
/// unloads an instance of the other mode, loads it if needed.
fn running(mode: Mode) -> Result<Slot, String> {
    super::running_in(EXTENSION, mode)
}

/// Leaves `pcnet` running isolated when dropped (also when a test fails
/// early), as the tests found it.
struct LeaveIsolated;

impl Drop for LeaveIsolated {
    fn drop(&mut self) {
        let _ = running(Mode::Isolated);
    }
}

/// Sets the restart policy of `slot`; the old one comes back when dropped.
struct PolicyGuard {
    slot: Slot,
    policy: RestartPolicy,
}

impl PolicyGuard {
    fn set(slot: Slot, policy: RestartPolicy) -> Result<Self, String> {
        let old = nim::list()
            .into_iter()
            .find(|summary| summary.slot == slot)
            .map(|summary| summary.policy)
            .ok_or_else(|| format!("slot {slot} is not listed"))?;
        nim::set_policy(slot, policy);
        Ok(Self { slot, policy: old })
    }
}

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        nim::set_policy(self.slot, self.policy);
    }
}

fn objects_of(slot: Slot) -> usize {
    nim::list()
        .iter()
        .find(|summary| summary.slot == slot)
        .map_or(usize::MAX, |summary| summary.objects)
}

fn devices_named(name: &str) -> usize {
    crate::devices::list()
        .iter()
        .filter(|device| device.name == name)
        .count()
}

/// The controller's interrupt line, from the boot-time enumeration.
fn interrupt_line() -> Result<u8, String> {
    crate::pci::find(VENDOR_AMD, DEVICE_PCNET_PCI)
        .map(|function| function.interrupt_line)
        .ok_or_else(|| "no PCnet-PCI function on the bus".to_string())
}

/// Is `line` masked at its PIC?
fn line_masked(line: u8) -> bool {
    let port = if line < 8 { 0x21 } else { 0xa1 };
    // SAFETY: reading a PIC's data port returns its mask register (OCW1);
    // it has no side effect.
    let mask: u8 = unsafe { x86_64::instructions::port::Port::new(port).read() };
    mask & (1 << (line % 8)) != 0
}

/// The network device of one instance, as the kernel's network thread
/// holds it: the registration's handle (for the entry operations) and the
/// kernel's face of it (for the received frames).
struct Nic {
    slot: Slot,
    generation: u32,
    handle: DeviceHandle,
    device: Arc<ExtensionDevice>,
}

impl Nic {
    /// The device `slot`'s current instance registered (exactly one).
    fn of(slot: Slot) -> Result<Nic, String> {
        let registered: Vec<(u64, Arc<ExtensionDevice>)> = EXTENSIONS.lock()[slot]
            .as_ref()
            .map(|record| {
                record
                    .objects
                    .iter()
                    .filter_map(|(handle, _, object)| match object {
                        TrackedObject::Device { device, .. } => {
                            Some((handle.to_bits(), device.clone()))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        ensure!(
            registered.len() == 1,
            "{EXTENSION} registered {} devices, expected 1",
            registered.len()
        );
        let (handle, device) = registered.into_iter().next().ok_or("no device")?;
        ensure!(
            devices_named(DEVICE) == 1,
            "{} devices named {DEVICE} in the table",
            devices_named(DEVICE)
        );
        ensure!(
            crate::devices::list()
                .iter()
                .any(|info| info.name == DEVICE
                    && info.class == device_table::DeviceClass::Network),
            "{DEVICE} is not in the table as a network device"
        );
        Ok(Nic {
            slot,
            generation: generation(slot),
            handle: DeviceHandle(handle),
            device,
        })
    }

    fn transport(
        &self,
    ) -> impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError> + use<> {
        nim::interface::transport(self.slot, self.generation, State::Running)
    }

    fn open(&self) -> Result<(), String> {
        entries::network_open(&mut self.transport(), self.handle)
            .map_err(|e| format!("network-open: {e:?}"))
    }

    fn stop(&self) -> Result<(), String> {
        entries::network_stop(&mut self.transport(), self.handle)
            .map_err(|e| format!("network-stop: {e:?}"))
    }

    fn station_address(&self) -> Result<[u8; 6], String> {
        let mut address = [0u8; 6];
        let length = entries::network_mac_address(&mut self.transport(), self.handle, &mut address)
            .map_err(|e| format!("network-mac-address: {e:?}"))?;
        ensure!(length == 6, "network-mac-address answered {length} bytes");
        Ok(address)
    }

    fn statistics(&self) -> Result<NetworkStatisticsReply, CallError> {
        entries::network_statistics(&mut self.transport(), self.handle)
    }

    fn transmit(&self, frame: &[u8]) -> Result<(), CallError> {
        entries::network_transmit(&mut self.transport(), self.handle, frame)
    }

    fn transmit_batch(&self, count: u16, frames: &[u8]) -> Result<u16, CallError> {
        entries::network_transmit_batch(&mut self.transport(), self.handle, count, frames)
    }

    /// One `network-poll`: (delivered, more).
    fn poll(&self, batch: bool) -> Result<(u16, bool), String> {
        let reply = entries::network_poll(&mut self.transport(), self.handle, POLL_BUDGET, batch)
            .map_err(|e| format!("network-poll (batch {batch}): {e:?}"))?;
        Ok((reply.delivered, reply.more))
    }

    /// Frames waiting in the kernel's queue, dropped.
    fn drain(&self) {
        while self.device.take_received_frame().is_some() {}
    }

    /// Polls (as the network thread does) until the queue holds an ARP
    /// reply from each of `from`; answers the frames delivered, the polls
    /// made and the microseconds it took.
    fn await_arp_replies(
        &self,
        station: [u8; 6],
        from: &[[u8; 4]],
        batch: bool,
    ) -> Result<(u64, u32, u64), String> {
        let started = time::uptime_us();
        let deadline = time::ticks() + time::ms_to_ticks(REPLY_TIMEOUT_MS);
        let mut answered = alloc::vec![false; from.len()];
        let (mut delivered, mut polls) = (0u64, 0u32);
        loop {
            let (count, _) = self.poll(batch)?;
            polls += 1;
            delivered += u64::from(count);
            while let Some(frame) = self.device.take_received_frame() {
                for (index, address) in from.iter().enumerate() {
                    if let Some(sender) = arp_reply_sender(&frame, station, *address) {
                        ensure!(
                            sender == gateway_station_address(*address),
                            "the ARP reply for {address:?} comes from {sender:02x?}"
                        );
                        answered[index] = true;
                    }
                }
            }
            if answered.iter().all(|&done| done) {
                return Ok((delivered, polls, time::uptime_us() - started));
            }
            ensure!(
                time::ticks() < deadline,
                "no ARP reply from {:?} within {REPLY_TIMEOUT_MS} ms ({polls} polls, {delivered} frames delivered, batch {batch})",
                from.iter()
                    .zip(&answered)
                    .filter(|(_, done)| !**done)
                    .map(|(address, _)| *address)
                    .collect::<Vec<_>>()
            );
            sleep_ms(1)?;
        }
    }
}

/// QEMU's user-mode network answers ARP for its addresses with 52:55 and
/// then the address.
fn gateway_station_address(address: [u8; 4]) -> [u8; 6] {
    [0x52, 0x55, address[0], address[1], address[2], address[3]]
}

/// An ARP request (broadcast) from the guest for `target`.
fn arp_request(station: [u8; 6], target: [u8; 4]) -> [u8; 42] {
    let mut frame = [0u8; 42];
    frame[0..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&station);
    frame[12..14].copy_from_slice(&[0x08, 0x06]); // ARP
    frame[14..16].copy_from_slice(&[0x00, 0x01]); // Ethernet
    frame[16..18].copy_from_slice(&[0x08, 0x00]); // IPv4
    frame[18] = 6;
    frame[19] = 4;
    frame[20..22].copy_from_slice(&[0x00, 0x01]); // request
    frame[22..28].copy_from_slice(&station);
    frame[28..32].copy_from_slice(&GUEST);
    frame[38..42].copy_from_slice(&target);
    frame
}

/// If `frame` is an ARP reply to the guest (`station`, 10.0.2.15) about
/// `sender`, the sender's hardware address.
fn arp_reply_sender(frame: &[u8], station: [u8; 6], sender: [u8; 4]) -> Option<[u8; 6]> {
    let reply = frame.len() >= 42
        && frame[0..6] == station
        && frame[12..14] == [0x08, 0x06]
        && frame[14..22] == [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02]
        && frame[28..32] == sender
        && frame[32..38] == station
        && frame[38..42] == GUEST;
    reply.then(|| frame[22..28].try_into().unwrap_or([0; 6]))
}

/// Offers [`OVERFLOW`] ARP requests in one `network-transmit-batch`: the
/// driver takes what its 32 transmit descriptors hold (the controller may
/// finish a few meanwhile, freeing descriptors), answers how many, and the
/// replies come back (up to the 32 receive descriptors; the rest are
/// missed frames, which count as errors). Answers how many were taken.
fn transmit_ring_overflow(nic: &Nic, station: [u8; 6]) -> Result<u16, String> {
    let request = arp_request(station, GATEWAY);
    let mut buffer = [0u8; 4096];
    let mut batch = FrameBatchWriter::new(&mut buffer);
    for _ in 0..OVERFLOW {
        ensure!(
            batch.push(&request),
            "{OVERFLOW} requests do not fit a batch"
        );
    }
    nic.drain();
    let taken = nic
        .transmit_batch(batch.count(), batch.bytes())
        .map_err(|e| format!("network-transmit-batch of {OVERFLOW}: {e:?}"))?;
    ensure!(
        (RING_LENGTH..=OVERFLOW).contains(&usize::from(taken)),
        "network-transmit-batch took {taken} of {OVERFLOW} frames with {RING_LENGTH} descriptors free"
    );
    let deadline = time::ticks() + time::ms_to_ticks(REPLY_TIMEOUT_MS);
    let gateway = gateway_station_address(GATEWAY);
    let mut replies = 0usize;
    while replies < RING_LENGTH {
        let (_, more) = nic.poll(true)?;
        while let Some(frame) = nic.device.take_received_frame() {
            if arp_reply_sender(&frame, station, GATEWAY) == Some(gateway) {
                replies += 1;
            }
        }
        ensure!(
            time::ticks() < deadline,
            "{replies} ARP replies to {taken} requests within {REPLY_TIMEOUT_MS} ms"
        );
        if !more {
            sleep_ms(1)?;
        }
    }
    Ok(taken)
}

/// What one run of [`exchange_arp_every_way`] measured.
struct Exchange {
    /// Microseconds from the transmit to the reply in the kernel's queue,
    /// per path.
    single_us: u64,
    batched_us: u64,
    transmit_batch_us: u64,
    /// The burst: microseconds until every reply was queued, and polls.
    burst_us: u64,
    burst_polls: u32,
    /// Frames a batch of [`OVERFLOW`] got onto the transmit ring.
    overflow_taken: u16,
    /// Nanoseconds per `network-poll` with nothing to do, and per null
    /// call into the same instance.
    idle_poll_ns: u64,
    null_ns: u64,
    interrupts: u64,
}

/// Sends [`BURST`] ARP requests for the gateway in one
/// `network-transmit-batch` and polls until every reply is queued; no
/// poll may deliver more than its budget, so it takes two polls at least.
/// Answers the microseconds and the polls it took.
fn arp_burst(nic: &Nic, station: [u8; 6]) -> Result<(u64, u32), String> {
    let request = arp_request(station, GATEWAY);
    let mut buffer = [0u8; 4096];
    let mut batch = FrameBatchWriter::new(&mut buffer);
    for _ in 0..BURST {
        ensure!(batch.push(&request), "{BURST} requests do not fit a batch");
    }
    nic.drain();
    let started = time::uptime_us();
    let sent = nic
        .transmit_batch(batch.count(), batch.bytes())
        .map_err(|e| format!("network-transmit-batch of {BURST}: {e:?}"))?;
    ensure!(
        usize::from(sent) == BURST,
        "network-transmit-batch took {sent} of {BURST} frames (32 transmit descriptors are free)"
    );
    let deadline = time::ticks() + time::ms_to_ticks(REPLY_TIMEOUT_MS);
    let gateway = gateway_station_address(GATEWAY);
    let (mut replies, mut polls) = (0usize, 0u32);
    loop {
        let (delivered, more) = nic.poll(true)?;
        polls += 1;
        ensure!(
            delivered <= POLL_BUDGET,
            "one poll with budget {POLL_BUDGET} delivered {delivered} frames"
        );
        while let Some(frame) = nic.device.take_received_frame() {
            if arp_reply_sender(&frame, station, GATEWAY) == Some(gateway) {
                replies += 1;
            }
        }
        if replies >= BURST {
            break;
        }
        ensure!(
            time::ticks() < deadline,
            "{replies} of {BURST} ARP replies within {REPLY_TIMEOUT_MS} ms ({polls} polls)"
        );
        if !more {
            sleep_ms(1)?;
        }
    }
    ensure!(replies == BURST, "{replies} replies to {BURST} requests");
    ensure!(
        polls >= 2,
        "{BURST} frames came through one poll of budget {POLL_BUDGET}"
    );
    Ok((time::uptime_us() - started, polls))
}

/// The whole story on a fresh instance: refusals before open, open, the
/// station address and the link, then ARP for the gateway (one
/// `network-transmit`, frames delivered one by one), again (delivered in
/// batches), and for the gateway and the DNS address in one
/// `network-transmit-batch`, then a burst of requests larger than a
/// poll's budget; the statistics moved and counted no error; an idle poll
/// is timed; a batch larger than the transmit ring is taken in part;
/// the interrupt line fired and is unmasked again; stop.
fn exchange_arp_every_way(nic: &Nic) -> Result<Exchange, String> {
    let line = interrupt_line()?;
    let request = arp_request(STATION_ADDRESS, GATEWAY);
    // Not open yet: frames are refused. A wrong handle, a runt frame and
    // a malformed batch are refused too.
    let early = nic.transmit(&request);
    ensure!(
        early == Err(CallError::Status(Status::Refused)),
        "a transmit before network-open answered {early:?}"
    );
    nic.open()?;
    nic.open().map_err(|e| format!("a second open: {e}"))?;
    let stranger = entries::network_transmit(&mut nic.transport(), DeviceHandle(7), &request);
    ensure!(
        stranger == Err(CallError::Status(Status::Refused)),
        "a transmit with a made-up device handle answered {stranger:?}"
    );
    let runt = nic.transmit(&request[..13]);
    ensure!(
        runt == Err(CallError::Status(Status::Refused)),
        "a 13-byte frame answered {runt:?}"
    );
    let malformed = nic.transmit_batch(2, &[42, 0, 1, 2]);
    ensure!(
        malformed == Err(CallError::Status(Status::BadMessage)),
        "a malformed batch answered {malformed:?}"
    );
    let address = nic.station_address()?;
    ensure!(
        address == STATION_ADDRESS,
        "{DEVICE} has address {address:02x?}, QEMU gave it {STATION_ADDRESS:02x?}"
    );
    let before = nic
        .statistics()
        .map_err(|e| format!("network-statistics: {e:?}"))?;
    ensure!(before.link_up, "{DEVICE} says its link is down");
    let interrupts_before =
        crate::interrupts::IRQ_COUNTS[usize::from(line)].load(Ordering::Relaxed);
    nic.drain();

    // One frame each way, delivered one per crossing.
    nic.transmit(&request)
        .map_err(|e| format!("network-transmit: {e:?}"))?;
    let (_, _, single_us) = nic.await_arp_replies(address, &[GATEWAY], false)?;
    // Again, delivered in batches.
    nic.transmit(&request)
        .map_err(|e| format!("network-transmit: {e:?}"))?;
    let (_, _, batched_us) = nic.await_arp_replies(address, &[GATEWAY], true)?;
    // Two requests in one crossing.
    let mut buffer = [0u8; 256];
    let mut batch = FrameBatchWriter::new(&mut buffer);
    ensure!(
        batch.push(&arp_request(address, GATEWAY))
            && batch.push(&arp_request(address, NAME_SERVER)),
        "two ARP requests do not fit a 256-byte batch"
    );
    let sent = nic
        .transmit_batch(batch.count(), batch.bytes())
        .map_err(|e| format!("network-transmit-batch: {e:?}"))?;
    ensure!(sent == 2, "network-transmit-batch took {sent} of 2 frames");
    let (_, _, transmit_batch_us) =
        nic.await_arp_replies(address, &[GATEWAY, NAME_SERVER], true)?;
    let (burst_us, burst_polls) = arp_burst(nic, address)?;
    // One more poll reclaims whatever was sent last.
    nic.poll(true)?;
    nic.drain();
    let started = time::uptime_us();
    for _ in 0..IDLE_POLLS {
        nic.poll(true)?;
    }
    let idle_poll_ns = (time::uptime_us() - started) * 1000 / IDLE_POLLS;
    let started = time::uptime_us();
    for _ in 0..IDLE_POLLS {
        let _ = nim::call(nic.slot, extension_abi::operation::NULL, &[], &mut []);
    }
    let null_ns = (time::uptime_us() - started) * 1000 / IDLE_POLLS;

    let after = nic
        .statistics()
        .map_err(|e| format!("network-statistics: {e:?}"))?;
    let exchanged = 4 + BURST as u64;
    ensure!(
        after.sent_packets == before.sent_packets + exchanged,
        "sent packets went from {} to {} after {exchanged} frames",
        before.sent_packets,
        after.sent_packets
    );
    ensure!(
        after.sent_bytes == before.sent_bytes + exchanged * 60,
        "sent bytes went from {} to {} after {exchanged} frames padded to 60 bytes",
        before.sent_bytes,
        after.sent_bytes
    );
    ensure!(
        after.received_packets >= before.received_packets + exchanged,
        "received packets went from {} to {} after {exchanged} replies",
        before.received_packets,
        after.received_packets
    );
    ensure!(
        after.received_bytes >= before.received_bytes + exchanged * 60,
        "received bytes went from {} to {} after {exchanged} replies",
        before.received_bytes,
        after.received_bytes
    );
    ensure!(
        after.errors == before.errors,
        "{} errors counted",
        after.errors - before.errors
    );
    let overflow_taken = transmit_ring_overflow(nic, address)?;
    let interrupts = crate::interrupts::IRQ_COUNTS[usize::from(line)].load(Ordering::Relaxed)
        - interrupts_before;
    ensure!(
        interrupts > 0,
        "line {line} never fired while frames came and went"
    );
    nic.stop()?;
    // Alone on its line, the driver has acknowledged every interrupt it
    // deferred: the line is unmasked.
    let alone = nim::interrupt_lines::handlers(line)
        .iter()
        .flatten()
        .count()
        == 1;
    ensure!(
        !alone || !line_masked(line),
        "line {line} is left masked after the last poll and stop"
    );
    let late = nic.transmit(&request);
    ensure!(
        late == Err(CallError::Status(Status::Refused)),
        "a transmit after network-stop answered {late:?}"
    );
    Ok(Exchange {
        single_us,
        batched_us,
        transmit_batch_us,
        burst_us,
        burst_polls,
        overflow_taken,
        idle_poll_ns,
        null_ns,
        interrupts,
    })
}

/// Loads `pcnet` in `mode`, runs the whole exchange twice over fresh
/// instances (the first grows what lazily grows), and checks that the
/// second load, exchange and unload leak no frame, no heap byte and leave
/// no device behind.
fn exchange_and_unload_without_leaks(mode: Mode) -> Result<(), String> {
    let _leave = LeaveIsolated;
    let slot = running(mode)?;
    let rounds = 2;
    let mut baseline = None;
    for round in 0..rounds {
        if SLOTS[slot].state() != State::Running {
            nim::load(EXTENSION, mode).map_err(|e| format!("loading: {e}"))?;
        }
        ensure!(
            objects_of(slot) == OBJECTS,
            "a fresh {EXTENSION} holds {} objects, expected {OBJECTS}",
            objects_of(slot)
        );
        let exchange = {
            let nic = Nic::of(slot)?;
            exchange_arp_every_way(&nic)?
        };
        nim::unload(slot).map_err(|e| format!("unloading: {e}"))?;
        ensure!(
            devices_named(DEVICE) == 0,
            "{DEVICE} is still registered after the unload"
        );
        ensure!(
            objects_of(slot) == 0,
            "{EXTENSION} holds {} objects after the unload",
            objects_of(slot)
        );
        let used = (frames::free_count(), heap::stats().1);
        if let Some((frames_before, heap_before)) = baseline {
            let (frames_after, heap_after) = used;
            ensure!(
                frames_after == frames_before,
                "{} frames leaked by a load, exchange and unload ({})",
                frames_before as i64 - frames_after as i64,
                mode.name()
            );
            ensure!(
                heap_after == heap_before,
                "{} heap bytes leaked by a load, exchange and unload ({})",
                heap_after as i64 - heap_before as i64,
                mode.name()
            );
        }
        baseline = Some(used);
        if round == rounds - 1 {
            crate::println!(
                "ktest: pcnet {}: ARP replies in the kernel's queue {} us after network-transmit (delivered singly), {} us (batched), {} us (2 requests in one network-transmit-batch); {BURST} requests and replies in {} us ({} polls); a batch of {OVERFLOW} took {}; an idle network-poll {} ns (a null call {} ns); {} interrupts",
                mode.name(),
                exchange.single_us,
                exchange.batched_us,
                exchange.transmit_batch_us,
                exchange.burst_us,
                exchange.burst_polls,
                exchange.overflow_taken,
                exchange.idle_poll_ns,
                exchange.null_ns,
                exchange.interrupts
            );
        }
    }
    Ok(())
}

kernel_test!(pcnet_isolated_exchanges_arp_every_way_and_unloads_without_leaks {
    exchange_and_unload_without_leaks(Mode::Isolated)
});

kernel_test!(pcnet_native_exchanges_arp_every_way_and_unloads_without_leaks {
    exchange_and_unload_without_leaks(Mode::Native)
});

kernel_test!(pcnet_recovers_from_a_null_dereference_and_exchanges_arp_again {
    let _leave = LeaveIsolated;
    let slot = running(Mode::Isolated)?;
    let _policy = PolicyGuard::set(slot, RestartPolicy::Always)?;
    let old = Nic::of(slot)?;
    old.open()?;
    old.transmit(&arp_request(STATION_ADDRESS, GATEWAY))
        .map_err(|e| format!("network-transmit: {e:?}"))?;
    old.await_arp_replies(STATION_ADDRESS, &[GATEWAY], true)?;
    // Crash it while its controller runs with interrupts on.
    let failed = generation(slot);
    let crashed = nim::crash::crash(slot, CrashKind::NullDereference);
    ensure!(crashed == Ok(()), "crash returned {crashed:?}");
    let state = wait_for_recovery(slot, failed, RECOVERY_TIMEOUT_MS);
    ensure!(
        state == State::Running && SLOTS[slot].is_isolated(),
        "{} after a null dereference, not running isolated",
        state.name()
    );
    ensure!(
        generation(slot) == failed + 1,
        "generation {} after the failure of generation {failed}",
        generation(slot)
    );
    let record = nim::faults(slot)
        .last()
        .copied()
        .ok_or("no fault record after the crash")?;
    ensure!(
        record.generation == failed && record.kind.to_string() == "page-fault",
        "the last fault record is {} of generation {}",
        record.kind,
        record.generation
    );
    // The failed instance's device is gone: calls through it fail and
    // never reach the new instance.
    let stale = old.statistics();
    ensure!(stale.is_err(), "network-statistics through the failed instance answered {stale:?}");
    drop(old);
    ensure!(
        objects_of(slot) == OBJECTS,
        "the new instance holds {} objects, expected {OBJECTS}",
        objects_of(slot)
    );
    // The new instance registered pcnet-0 again (exactly once) and works.
    let new = Nic::of(slot)?;
    let statistics = new
        .statistics()
        .map_err(|e| format!("network-statistics: {e:?}"))?;
    ensure!(
        statistics.sent_packets == 0 && statistics.received_packets == 0,
        "the new instance starts with counters {statistics:?}"
    );
    let exchange = exchange_arp_every_way(&new)?;
    crate::println!(
        "ktest: pcnet recovered as generation {} in {} us and answered ARP again ({} us to the first reply)",
        generation(slot),
        record.time_to_recover_us.unwrap_or(0),
        exchange.single_us
    );
    Ok(())
});
