//! The kernel's network class: one interface per network device a driver
//! registers, and the TCP/IP stack (smoltcp: DHCP, ARP, ICMP, TCP) above
//! them, with sockets for kernel threads and, through the wrappers, for
//! extensions.
//!
//! Invariants:
//! - Only the network thread calls into drivers for the data path
//!   (`network-poll`, `network-transmit[-batch]`), and never while it holds
//!   the stack's lock; smoltcp itself only sees in-memory frame queues
//!   ([`frames::FrameQueues`]).
//! - An interface is keyed by its device's name and outlives its driver:
//!   when a driver fails and its next instance registers the same name, the
//!   interface (address, lease, sockets) is bound to the new instance.
//! - A socket an extension holds is also an object in its table
//!   (`TrackedObject::Socket`): releasing that object (tcp-close, unload,
//!   recovery) closes the socket, and events for it go only to the instance
//!   (slot, generation) that holds it.

mod echo;
pub mod frames;
mod pause;
pub mod shell_commands;
mod sockets;

use crate::nim::Slot;
use crate::nim::services::ExtensionDevice;
use crate::sched::sync::IrqSpinlock;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
pub use echo::EchoSocket;
use extension_abi::Status;
pub use pause::{PauseGuard, ResumeGuard, is_parked};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::dhcpv4;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};
pub use sockets::{SocketId, SocketOwner};

/// Frames asked of a driver per `network-poll`.
const POLL_BUDGET: u16 = 64;
/// Polls of one driver per round while it reports more frames.
const POLLS_PER_ROUND: usize = 8;
/// How often an idle driver is polled anyway (lost interrupts, link).
const IDLE_POLL_MS: u64 = 5;
/// How often the thread looks for new or vanished network devices.
const DISCOVERY_MS: u64 = 20;

/// One bit per extension slot whose driver interrupted since the network
/// thread last polled it.
static POLL_REQUESTED: AtomicU64 = AtomicU64::new(0);
/// The network thread, once started (0: not yet).
static THREAD: AtomicU64 = AtomicU64::new(0);
/// Batched crossings (`deliver-packets`, `network-transmit-batch`)?
static BATCHING: AtomicBool = AtomicBool::new(true);
/// Pauses in force: while non-zero, the thread leaves drivers alone
/// (in-kernel tests, which drive NICs directly or count heap bytes).
static PAUSES: AtomicUsize = AtomicUsize::new(0);
/// Is the thread parked at a safe point while paused?
static PARKED: AtomicBool = AtomicBool::new(false);
/// Where the thread waits while paused (blocked, not sleeping: a sleeping
/// thread would come and go in the timer queue and move heap counts that
/// tests compare).
static PAUSE_QUEUE: crate::sched::sync::WaitQueue = crate::sched::sync::WaitQueue::new();

/// Counters of the data path, for `ifconfig` and `bench net`.
pub struct NetworkCounters {
    /// `network-poll` calls.
    pub driver_polls: AtomicU64,
    /// `network-transmit` and `network-transmit-batch` calls.
    pub transmit_calls: AtomicU64,
    /// Frames handed to drivers.
    pub frames_sent: AtomicU64,
    /// Frames taken from drivers' receive queues.
    pub frames_received: AtomicU64,
    /// Frames dropped because no driver was bound or the driver failed.
    pub frames_dropped: AtomicU64,
    /// `socket-event` calls into extensions.
    pub socket_events: AtomicU64,
    /// Rounds of the network thread.
    pub rounds: AtomicU64,
}

/// The data path's counters.
pub static COUNTERS: NetworkCounters = NetworkCounters {
    driver_polls: AtomicU64::new(0),
    transmit_calls: AtomicU64::new(0),
    frames_sent: AtomicU64::new(0),
    frames_received: AtomicU64::new(0),
    frames_dropped: AtomicU64::new(0),
    socket_events: AtomicU64::new(0),
    rounds: AtomicU64::new(0),
};

/// A driver instance an interface is bound to.
#[derive(Clone)]
struct BoundDriver {
    device: Arc<ExtensionDevice>,
}

impl BoundDriver {
    fn slot(&self) -> Slot {
        self.device.slot()
    }
}

/// One network interface.
struct NetworkInterface {
    name: String,
    driver: Option<BoundDriver>,
    mac: EthernetAddress,
    interface: Interface,
    sockets: SocketSet<'static>,
    queues: frames::FrameQueues,
    dhcp: SocketHandle,
    address: Option<Ipv4Cidr>,
    gateway: Option<Ipv4Address>,
    dns_servers: Vec<Ipv4Address>,
    leases: u32,
    /// Times a new driver instance was bound (1 for the first).
    bindings: u32,
}

/// What `ifconfig` shows of one interface.
pub struct InterfaceSummary {
    /// Device name.
    pub name: String,
    /// MAC address.
    pub mac: [u8; 6],
    /// The driver's extension name and generation, if bound.
    pub driver: Option<(Slot, u32)>,
    /// Address from DHCP.
    pub address: Option<(Ipv4Address, u8)>,
    /// Default gateway.
    pub gateway: Option<Ipv4Address>,
    /// DNS servers.
    pub dns_servers: Vec<Ipv4Address>,
    /// Leases obtained so far.
    pub leases: u32,
    /// Driver instances bound so far.
    pub bindings: u32,
}

/// The stack: interfaces and sockets, behind one lock.
struct NetworkStack {
    interfaces: Vec<NetworkInterface>,
    sockets: sockets::SocketTable,
}

static STACK: IrqSpinlock<Option<NetworkStack>> = IrqSpinlock::new(None);

fn now() -> Instant {
    Instant::from_micros(crate::time::uptime_us() as i64)
}

/// Starts the network thread (once); with `paused`, it starts under a
/// pause that only a [`ResumeGuard`] lifts (in-kernel test boots: the tests
/// drive network cards directly and count heap bytes).
pub fn init(paused: bool) {
    if paused {
        PAUSES.fetch_add(1, Ordering::AcqRel);
    }
    {
        let mut stack = STACK.lock();
        if stack.is_some() {
            return;
        }
        *stack = Some(NetworkStack {
            interfaces: Vec::new(),
            sockets: sockets::SocketTable::new(),
        });
    }
    match crate::sched::spawn("network", network_thread) {
        Ok(handle) => {
            THREAD.store(handle.id() + 1, Ordering::Release);
            core::mem::forget(handle);
        }
        Err(error) => log::error!("net: cannot start the network thread: {error:?}"),
    }
}

/// Wakes the network thread (new work: an interrupt, data to send).
pub fn wake_thread() {
    let id = THREAD.load(Ordering::Acquire);
    // A paused thread waits in PAUSE_QUEUE; only the pause's end wakes it.
    if id != 0 && PAUSES.load(Ordering::Acquire) == 0 {
        crate::sched::wake(id - 1);
    }
}

/// A driver's interrupt ran (interrupt context): poll its devices soon.
pub fn on_driver_interrupt(slot: usize) {
    if slot < 64 {
        POLL_REQUESTED.fetch_or(1 << slot, Ordering::AcqRel);
        wake_thread();
    }
}

/// Turns batched crossings on or off.
pub fn set_batching(enabled: bool) {
    BATCHING.store(enabled, Ordering::Relaxed);
}

/// Are crossings batched?
pub fn batching() -> bool {
    BATCHING.load(Ordering::Relaxed)
}

fn network_thread() -> i32 {
    let mut next_discovery = 0u64;
    let mut next_idle_poll = 0u64;
    loop {
        COUNTERS.rounds.fetch_add(1, Ordering::Relaxed);
        if PAUSES.load(Ordering::Acquire) > 0 {
            PARKED.store(true, Ordering::Release);
            let _ = PAUSE_QUEUE.wait_until(|| PAUSES.load(Ordering::Acquire) == 0);
            continue;
        }
        PARKED.store(false, Ordering::Release);
        let now_ms = crate::time::uptime_us() / 1000;
        if now_ms >= next_discovery {
            discover_devices();
            next_discovery = now_ms + DISCOVERY_MS;
        }
        let requested = POLL_REQUESTED.swap(0, Ordering::AcqRel);
        let idle_poll_due = now_ms >= next_idle_poll;
        if idle_poll_due {
            next_idle_poll = now_ms + IDLE_POLL_MS;
        }
        let received = poll_drivers(requested, idle_poll_due);
        let (outgoing, events, delay) = poll_stack();
        let sent = transmit(outgoing);
        let events_delivered = events.len();
        deliver_socket_events(events);
        let busy = received > 0 || sent > 0 || events_delivered > 0;
        if busy || POLL_REQUESTED.load(Ordering::Acquire) != 0 {
            crate::sched::yield_now();
        } else {
            let milliseconds = delay.clamp(1, IDLE_POLL_MS);
            let _ = crate::sched::sleep_ms(milliseconds);
        }
    }
}

/// Devices that would not tell their MAC address or open (not tried
/// again while that instance runs).
static UNUSABLE: IrqSpinlock<Vec<(Slot, u32, String)>> = IrqSpinlock::new(Vec::new());

/// Binds new network devices to interfaces (creating them) and unbinds
/// the devices of instances that are gone.
fn discover_devices() {
    let devices = crate::nim::services::network_devices();
    let mut to_open = Vec::new();
    {
        let mut guard = STACK.lock();
        let Some(stack) = guard.as_mut() else {
            return;
        };
        UNUSABLE
            .lock()
            .retain(|(slot, generation, _)| crate::nim::SLOTS[*slot].is_alive(*generation));
        for interface in stack.interfaces.iter_mut() {
            if interface
                .driver
                .as_ref()
                .is_some_and(|driver| !driver.device.is_live())
            {
                log::info!(
                    "net: {}: driver gone; interface waits for it",
                    interface.name
                );
                interface.driver = None;
            }
        }
        for device in devices {
            let bound = stack.interfaces.iter().any(|interface| {
                interface.driver.as_ref().is_some_and(|driver| {
                    Arc::ptr_eq(&driver.device, &device)
                        || (driver.device.slot() == device.slot()
                            && driver.device.generation() == device.generation()
                            && driver.device.name() == device.name())
                })
            });
            let unusable = UNUSABLE.lock().iter().any(|(slot, generation, name)| {
                *slot == device.slot()
                    && *generation == device.generation()
                    && name == device.name()
            });
            if !bound && !unusable {
                to_open.push(device);
            }
        }
    }
    for device in to_open {
        // The driver's answers come before the lock: they cross into it.
        let unusable = |what: &str| {
            log::warn!("net: {}: {what}; not used", device.name());
            UNUSABLE.lock().push((
                device.slot(),
                device.generation(),
                String::from(device.name()),
            ));
        };
        let mac = match device.network_mac_address() {
            Ok(mac) => mac,
            Err(error) => {
                unusable(&alloc::format!("no MAC address ({error:?})"));
                continue;
            }
        };
        if let Err(error) = device.network_open() {
            unusable(&alloc::format!("open failed ({error:?})"));
            continue;
        }
        let mut guard = STACK.lock();
        let Some(stack) = guard.as_mut() else {
            return;
        };
        stack.bind(device, EthernetAddress(mac));
    }
}

impl NetworkStack {
    fn bind(&mut self, device: Arc<ExtensionDevice>, mac: EthernetAddress) {
        let name = String::from(device.name());
        let driver = BoundDriver { device };
        if let Some(interface) = self.interfaces.iter_mut().find(|i| i.name == name) {
            interface.bindings += 1;
            log::info!(
                "net: {name}: bound to a new driver instance (generation {}); address kept",
                driver.device.generation()
            );
            if interface.mac != mac {
                interface.mac = mac;
                interface
                    .interface
                    .set_hardware_addr(HardwareAddress::Ethernet(mac));
            }
            interface.driver = Some(driver);
            return;
        }
        let mut config = Config::new(HardwareAddress::Ethernet(mac));
        config.random_seed = crate::time::uptime_us()
            ^ u64::from_le_bytes([
                mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5], 0, 0,
            ]);
        let mut queues = frames::FrameQueues::default();
        let interface = Interface::new(config, &mut queues, now());
        // Room for the DHCP socket, listeners' backlogs and connections, so
        // that opening sockets does not grow the set's storage.
        let mut sockets = SocketSet::new(Vec::with_capacity(64));
        let dhcp = sockets.add(dhcpv4::Socket::new());
        log::info!(
            "net: {name}: interface up, MAC {mac}, asking for a DHCP lease (driver generation {})",
            driver.device.generation()
        );
        self.interfaces.push(NetworkInterface {
            name,
            driver: Some(driver),
            mac,
            interface,
            sockets,
            queues,
            dhcp,
            address: None,
            gateway: None,
            dns_servers: Vec::new(),
            leases: 0,
            bindings: 1,
        });
        let index = self.interfaces.len() - 1;
        self.sockets
            .interface_added(index, &mut self.interfaces[index].sockets);
    }
}

/// Asks the drivers for received frames (those that interrupted, or all
/// when the idle poll is due) and queues them for the stack. Returns how
/// many frames came in.
fn poll_drivers(requested: u64, idle_poll_due: bool) -> usize {
    let drivers: Vec<BoundDriver> = {
        let guard = STACK.lock();
        let Some(stack) = guard.as_ref() else {
            return 0;
        };
        stack
            .interfaces
            .iter()
            .filter_map(|interface| interface.driver.clone())
            .collect()
    };
    let batch = batching();
    let mut received = 0;
    for driver in drivers {
        let slot = driver.slot();
        let wanted = idle_poll_due || (slot < 64 && requested & (1 << slot) != 0);
        if wanted {
            for _ in 0..POLLS_PER_ROUND {
                COUNTERS.driver_polls.fetch_add(1, Ordering::Relaxed);
                match driver.device.network_poll(POLL_BUDGET, batch) {
                    Ok(reply) if reply.more => continue,
                    _ => break,
                }
            }
        }
        let mut frames = Vec::new();
        while let Some(frame) = driver.device.take_received_frame() {
            frames.push(frame);
        }
        if frames.is_empty() {
            continue;
        }
        received += frames.len();
        COUNTERS
            .frames_received
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        let mut guard = STACK.lock();
        if let Some(interface) = guard.as_mut().and_then(|stack| {
            stack
                .interfaces
                .iter_mut()
                .find(|i| i.name == driver.device.name())
        }) {
            interface.queues.incoming.extend(frames);
        }
    }
    received
}

/// Frames to hand to one driver.
struct Outgoing {
    device: Arc<ExtensionDevice>,
    frames: Vec<Vec<u8>>,
}

/// Runs smoltcp on every interface: returns the frames to send, the socket
/// events for extensions, and how soon the stack wants to run again (ms).
fn poll_stack() -> (Vec<Outgoing>, Vec<(SocketOwner, u8)>, u64) {
    let mut guard = STACK.lock();
    let Some(stack) = guard.as_mut() else {
        return (Vec::new(), Vec::new(), IDLE_POLL_MS);
    };
    let timestamp = now();
    let mut delay = IDLE_POLL_MS;
    let mut outgoing = Vec::new();
    for (index, interface) in stack.interfaces.iter_mut().enumerate() {
        // Several rounds: a burst of received frames can exceed one poll.
        for _ in 0..4 {
            let result =
                interface
                    .interface
                    .poll(timestamp, &mut interface.queues, &mut interface.sockets);
            if interface.queues.incoming.is_empty() || result == smoltcp::iface::PollResult::None {
                break;
            }
        }
        interface.update_dhcp();
        stack.sockets.maintain(index, &mut interface.sockets);
        if let Some(wait) = interface
            .interface
            .poll_delay(timestamp, &interface.sockets)
        {
            delay = delay.min(wait.total_millis());
        }
        if interface.queues.outgoing.is_empty() {
            continue;
        }
        match &interface.driver {
            Some(driver) => outgoing.push(Outgoing {
                device: driver.device.clone(),
                frames: interface.queues.outgoing.drain(..).collect(),
            }),
            None => {
                COUNTERS
                    .frames_dropped
                    .fetch_add(interface.queues.outgoing.len() as u64, Ordering::Relaxed);
                interface.queues.outgoing.clear();
            }
        }
    }
    let events = stack.sockets.collect_events(&mut stack.interfaces);
    (outgoing, events, delay)
}

impl NetworkInterface {
    fn update_dhcp(&mut self) {
        let event = self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).poll();
        match event {
            None => {}
            Some(dhcpv4::Event::Configured(config)) => {
                let address = config.address;
                self.interface.update_ip_addrs(|addresses| {
                    addresses.clear();
                    let _ = addresses.push(IpCidr::Ipv4(address));
                });
                self.interface.routes_mut().remove_default_ipv4_route();
                if let Some(router) = config.router {
                    let _ = self.interface.routes_mut().add_default_ipv4_route(router);
                }
                self.address = Some(address);
                self.gateway = config.router;
                self.dns_servers = config.dns_servers.iter().copied().collect();
                self.leases += 1;
                log::info!(
                    "net: {}: DHCP lease {} (gateway {}, from {})",
                    self.name,
                    address,
                    config
                        .router
                        .map(|router| alloc::format!("{router}"))
                        .unwrap_or_else(|| String::from("none")),
                    config.server.address
                );
            }
            Some(dhcpv4::Event::Deconfigured) => {
                if self.address.is_some() {
                    log::info!("net: {}: DHCP lease lost", self.name);
                }
                self.interface
                    .update_ip_addrs(|addresses| addresses.clear());
                self.interface.routes_mut().remove_default_ipv4_route();
                self.address = None;
                self.gateway = None;
            }
        }
    }
}

/// Hands queued frames to their drivers (one crossing per frame, or
/// batches of up to 4 KiB). Frames a full ring refuses are dropped (TCP
/// retransmits them). Returns how many were sent.
fn transmit(outgoing: Vec<Outgoing>) -> usize {
    let mut sent = 0;
    let batch = batching();
    for Outgoing { device, frames } in outgoing {
        if batch {
            let mut buffer = [0u8; 4096];
            let mut index = 0;
            while index < frames.len() {
                let mut writer = extension_abi::frame_batch::FrameBatchWriter::new(&mut buffer);
                let first = index;
                while index < frames.len() && writer.push(&frames[index]) {
                    index += 1;
                }
                if writer.is_empty() {
                    // Not a valid frame length: skip it.
                    index += 1;
                    COUNTERS.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                COUNTERS.transmit_calls.fetch_add(1, Ordering::Relaxed);
                let taken = match device.network_transmit_batch(writer.count(), writer.bytes()) {
                    Ok(taken) => usize::from(taken),
                    Err(_) => 0,
                };
                sent += taken;
                let refused = (index - first).saturating_sub(taken);
                COUNTERS
                    .frames_dropped
                    .fetch_add(refused as u64, Ordering::Relaxed);
            }
        } else {
            for frame in &frames {
                COUNTERS.transmit_calls.fetch_add(1, Ordering::Relaxed);
                match device.network_transmit(frame) {
                    Ok(()) => sent += 1,
                    Err(_) => {
                        COUNTERS.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
    COUNTERS
        .frames_sent
        .fetch_add(sent as u64, Ordering::Relaxed);
    sent
}

/// Calls `socket-event` in the extensions that hold sockets with news.
fn deliver_socket_events(events: Vec<(SocketOwner, u8)>) {
    for (owner, events) in events {
        COUNTERS.socket_events.fetch_add(1, Ordering::Relaxed);
        let _ = crate::nim::services::socket_event(
            owner.slot,
            owner.generation,
            owner.handle_bits,
            events,
        );
    }
}

/// Every interface, for `ifconfig`.
pub fn interfaces() -> Vec<InterfaceSummary> {
    let guard = STACK.lock();
    let Some(stack) = guard.as_ref() else {
        return Vec::new();
    };
    stack
        .interfaces
        .iter()
        .map(|interface| InterfaceSummary {
            name: interface.name.clone(),
            mac: interface.mac.0,
            driver: interface
                .driver
                .as_ref()
                .map(|driver| (driver.slot(), driver.device.generation())),
            address: interface
                .address
                .map(|cidr| (cidr.address(), cidr.prefix_len())),
            gateway: interface.gateway,
            dns_servers: interface.dns_servers.clone(),
            leases: interface.leases,
            bindings: interface.bindings,
        })
        .collect()
}

/// The device of interface `name`, if a driver is bound (for statistics).
pub fn interface_device(name: &str) -> Option<Arc<ExtensionDevice>> {
    let guard = STACK.lock();
    guard
        .as_ref()?
        .interfaces
        .iter()
        .find(|interface| interface.name == name)?
        .driver
        .as_ref()
        .map(|driver| driver.device.clone())
}

/// The index of the interface a kernel connection uses: `name`, or the
/// first with an address.
fn choose_interface(stack: &NetworkStack, name: Option<&str>) -> Result<usize, Status> {
    match name {
        Some(name) => stack
            .interfaces
            .iter()
            .position(|interface| interface.name == name)
            .ok_or(Status::Refused),
        None => stack
            .interfaces
            .iter()
            .position(|interface| interface.address.is_some() && interface.driver.is_some())
            .ok_or(Status::NotRunning),
    }
}

/// Waits up to `milliseconds` for interface `name` (or any) to hold a
/// DHCP lease, while one with a driver is still asking for it (or while
/// drivers may still be loading, in the first seconds after boot).
/// Returns whether one holds a lease.
pub fn wait_for_lease(name: Option<&str>, milliseconds: u64) -> bool {
    let deadline = crate::time::uptime_us() + milliseconds * 1000;
    loop {
        let (configured, waiting) = {
            let guard = STACK.lock();
            let Some(stack) = guard.as_ref() else {
                return false;
            };
            let waiting = stack.interfaces.iter().any(|interface| {
                interface.address.is_none()
                    && interface.driver.is_some()
                    && name.is_none_or(|name| interface.name == name)
            });
            (choose_interface(stack, name).is_ok(), waiting)
        };
        let booting = crate::time::uptime_us() < 3_000_000;
        if configured || !(waiting || booting) || crate::time::uptime_us() >= deadline {
            return configured;
        }
        if crate::sched::sleep_ms(10).is_err() {
            return configured;
        }
    }
}

/// Waits up to `milliseconds` until no interface with a driver is still
/// asking for its first lease (for `ifconfig` right after boot).
pub fn wait_for_all_leases(milliseconds: u64) {
    let deadline = crate::time::uptime_us() + milliseconds * 1000;
    while crate::time::uptime_us() < deadline {
        let waiting = {
            let guard = STACK.lock();
            guard.as_ref().is_some_and(|stack| {
                stack.interfaces.iter().any(|interface| {
                    interface.address.is_none()
                        && interface.driver.is_some()
                        && interface.leases == 0
                })
            })
        };
        if !waiting || crate::sched::sleep_ms(10).is_err() {
            return;
        }
    }
}

/// The address of interface `name` (or of the first configured one).
pub fn interface_address(name: Option<&str>) -> Option<(String, Ipv4Address)> {
    let guard = STACK.lock();
    let stack = guard.as_ref()?;
    let index = choose_interface(stack, name).ok()?;
    let interface = &stack.interfaces[index];
    Some((interface.name.clone(), interface.address?.address()))
}

// --- Sockets ---------------------------------------------------------------

fn with_stack<R>(f: impl FnOnce(&mut NetworkStack) -> Result<R, Status>) -> Result<R, Status> {
    let mut guard = STACK.lock();
    let stack = guard.as_mut().ok_or(Status::NotRunning)?;
    f(stack)
}

/// Listens on `port` of every interface (present and future).
pub fn listen(port: u16, backlog: usize, owner: Option<SocketOwner>) -> Result<SocketId, Status> {
    let id = with_stack(|stack| {
        let NetworkStack {
            interfaces,
            sockets,
        } = stack;
        sockets.listen(port, backlog, owner, interfaces)
    })?;
    wake_thread();
    Ok(id)
}

/// Records the handle under which the owner holds socket `id`.
pub fn set_owner_handle(id: SocketId, handle_bits: u64) {
    let _ = with_stack(|stack| {
        stack.sockets.set_owner_handle(id, handle_bits);
        Ok(())
    });
}

/// Takes a waiting connection from listener `id`.
pub fn accept(id: SocketId, owner: SocketOwner) -> Result<Option<SocketId>, Status> {
    with_stack(|stack| stack.sockets.accept(id, owner))
}

/// Reads what connection `id` received (without waiting).
pub fn receive(
    id: SocketId,
    buffer: &mut [u8],
) -> Result<(extension_abi::interfaces::kernel::ConnectionState, usize), Status> {
    with_stack(|stack| {
        let NetworkStack {
            interfaces,
            sockets,
        } = stack;
        sockets.receive(id, buffer, interfaces)
    })
}

/// Queues bytes on connection `id` (without waiting); how many were taken.
pub fn send(id: SocketId, data: &[u8]) -> Result<usize, Status> {
    let count = with_stack(|stack| {
        let NetworkStack {
            interfaces,
            sockets,
        } = stack;
        sockets.send(id, data, interfaces)
    })?;
    if count > 0 {
        wake_thread();
    }
    Ok(count)
}

/// Closes socket `id` gracefully (connections send what was queued).
pub fn close(id: SocketId) {
    let _ = with_stack(|stack| {
        let NetworkStack {
            interfaces,
            sockets,
        } = stack;
        sockets.remove(id, interfaces, false);
        Ok(())
    });
    wake_thread();
}

/// Releases socket `id` of an extension (its object was released): a
/// graceful close, as the extension asked for it or went away.
pub fn release(id: SocketId) {
    close(id);
}

/// Opens a kernel TCP connection to `remote` through interface `name` (or
/// the first configured one).
pub fn connect(name: Option<&str>, remote: (Ipv4Address, u16)) -> Result<SocketId, Status> {
    let id = with_stack(|stack| {
        let index = choose_interface(stack, name)?;
        let NetworkStack {
            interfaces,
            sockets,
        } = stack;
        sockets.connect(index, remote, interfaces)
    })?;
    wake_thread();
    Ok(id)
}

/// The TCP state of socket `id` (`None`: no such socket).
pub fn connection_state(id: SocketId) -> Option<smoltcp::socket::tcp::State> {
    let guard = STACK.lock();
    let stack = guard.as_ref()?;
    stack.sockets.state(id, &stack.interfaces)
}

/// Every socket, for `netstat`.
pub fn socket_summaries() -> Vec<sockets::SocketSummary> {
    let guard = STACK.lock();
    match guard.as_ref() {
        Some(stack) => stack.sockets.summaries(&stack.interfaces),
        None => Vec::new(),
    }
}
