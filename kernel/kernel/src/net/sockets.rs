//! The stack's TCP sockets: listeners (on every interface, with a backlog
//! of connections waiting to be accepted) and connections (on one
//! interface), owned by the kernel or by an extension.
//!
//! Invariants:
//! - A listener keeps `backlog` smoltcp sockets in the listen state on every
//!   interface; one that a peer connected to moves to the listener's
//!   waiting queue (at most `backlog` wait; later ones are aborted) and is
//!   replaced.
//! - Events are reported to an owner only when something changed since the
//!   last report (more bytes waiting, end of stream, room to send after a
//!   short send, a new waiting connection, the connection gone).

use super::NetworkInterface;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use extension_abi::Status;
use extension_abi::interfaces::kernel::ConnectionState;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};

/// Bytes of each connection's receive and send buffers.
const BUFFER_BYTES: usize = 64 * 1024;
/// Sockets the table holds at most (listeners and connections).
const MAX_SOCKETS: usize = 256;
/// First port of kernel-initiated connections.
const FIRST_EPHEMERAL_PORT: u16 = 49152;

/// Socket `readable` event bit.
pub const EVENT_READABLE: u8 = 1;
/// Socket `acceptable` event bit.
pub const EVENT_ACCEPTABLE: u8 = 2;
/// Socket `writable` event bit.
pub const EVENT_WRITABLE: u8 = 4;
/// Socket `closed` event bit.
pub const EVENT_CLOSED: u8 = 8;

/// Names a socket of the stack (never reused while the kernel runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SocketId(u64);

/// The extension instance that holds a socket, and under which handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketOwner {
    /// Its slot.
    pub slot: usize,
    /// Its generation.
    pub generation: u32,
    /// The handle's bits in its object table (0 until tracked).
    pub handle_bits: u64,
}

enum SocketKind {
    Listener {
        port: u16,
        backlog: usize,
        /// Listening sockets per interface index.
        listening: BTreeMap<usize, Vec<SocketHandle>>,
        /// Connections waiting to be accepted: (interface, handle).
        waiting: VecDeque<(usize, SocketHandle)>,
        reported_waiting: usize,
    },
    Connection {
        interface: usize,
        handle: SocketHandle,
        reported_received: usize,
        reported_peer_closed: bool,
        reported_closed: bool,
        wants_writable: bool,
    },
}

struct SocketEntry {
    kind: SocketKind,
    owner: Option<SocketOwner>,
}

/// One row of `netstat`.
pub struct SocketSummary {
    /// `listen` or `tcp`.
    pub kind: &'static str,
    /// Local endpoint.
    pub local: String,
    /// Remote endpoint (connections).
    pub remote: String,
    /// TCP state, or the number waiting for a listener.
    pub state: String,
    /// Owner: `kernel` or the extension's slot and generation.
    pub owner: Option<(usize, u32)>,
}

/// Every socket of the stack.
pub struct SocketTable {
    entries: BTreeMap<SocketId, SocketEntry>,
    next_id: u64,
    next_port: u16,
}

fn new_tcp_socket() -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(alloc::vec![0u8; BUFFER_BYTES]),
        tcp::SocketBuffer::new(alloc::vec![0u8; BUFFER_BYTES]),
    );
    socket.set_nagle_enabled(false);
    socket.set_timeout(Some(smoltcp::time::Duration::from_secs(30)));
    socket
}

fn connection_state(socket: &tcp::Socket<'_>) -> ConnectionState {
    match socket.state() {
        State::Closed | State::TimeWait | State::Closing | State::LastAck => {
            if socket.recv_queue() > 0 {
                ConnectionState::PeerClosed
            } else {
                ConnectionState::Closed
            }
        }
        // Still opening: nothing received yet, but data may come.
        State::SynSent | State::SynReceived | State::Listen => ConnectionState::Open,
        _ if !socket.may_recv() => ConnectionState::PeerClosed,
        _ => ConnectionState::Open,
    }
}

impl SocketTable {
    /// An empty table.
    pub fn new() -> SocketTable {
        SocketTable {
            entries: BTreeMap::new(),
            next_id: 1,
            next_port: FIRST_EPHEMERAL_PORT,
        }
    }

    fn insert(&mut self, kind: SocketKind, owner: Option<SocketOwner>) -> Result<SocketId, Status> {
        if self.entries.len() >= MAX_SOCKETS {
            return Err(Status::NoResources);
        }
        let id = SocketId(self.next_id);
        self.next_id += 1;
        self.entries.insert(id, SocketEntry { kind, owner });
        Ok(id)
    }

    /// A listener on `port` of every interface.
    pub fn listen(
        &mut self,
        port: u16,
        backlog: usize,
        owner: Option<SocketOwner>,
        interfaces: &mut [NetworkInterface],
    ) -> Result<SocketId, Status> {
        let taken = self.entries.values().any(
            |entry| matches!(entry.kind, SocketKind::Listener { port: held, .. } if held == port),
        );
        if taken {
            return Err(Status::Refused);
        }
        let mut listening = BTreeMap::new();
        for (index, interface) in interfaces.iter_mut().enumerate() {
            listening.insert(
                index,
                Self::listening_sockets(port, backlog, &mut interface.sockets)?,
            );
        }
        self.insert(
            SocketKind::Listener {
                port,
                backlog,
                listening,
                waiting: VecDeque::new(),
                reported_waiting: 0,
            },
            owner,
        )
    }

    fn listening_sockets(
        port: u16,
        count: usize,
        set: &mut SocketSet<'static>,
    ) -> Result<Vec<SocketHandle>, Status> {
        let mut handles = Vec::new();
        for _ in 0..count {
            let mut socket = new_tcp_socket();
            socket.listen(port).map_err(|_| Status::Refused)?;
            handles.push(set.add(socket));
        }
        Ok(handles)
    }

    /// A new interface (index `index`) gets listening sockets for every
    /// listener.
    pub fn interface_added(&mut self, index: usize, set: &mut SocketSet<'static>) {
        for entry in self.entries.values_mut() {
            if let SocketKind::Listener {
                port,
                backlog,
                listening,
                ..
            } = &mut entry.kind
                && let Ok(handles) = Self::listening_sockets(*port, *backlog, set)
            {
                listening.insert(index, handles);
            }
        }
    }

    /// Records the owner's handle of socket `id`.
    pub fn set_owner_handle(&mut self, id: SocketId, handle_bits: u64) {
        if let Some(owner) = self
            .entries
            .get_mut(&id)
            .and_then(|entry| entry.owner.as_mut())
        {
            owner.handle_bits = handle_bits;
        }
    }

    fn owned(&mut self, id: SocketId) -> Result<&mut SocketEntry, Status> {
        self.entries.get_mut(&id).ok_or(Status::Refused)
    }

    /// Moves connected sockets of interface `index`'s listeners to their
    /// waiting queues and replaces them.
    pub fn maintain(&mut self, index: usize, set: &mut SocketSet<'static>) {
        for entry in self.entries.values_mut() {
            let SocketKind::Listener {
                port,
                backlog,
                listening,
                waiting,
                ..
            } = &mut entry.kind
            else {
                continue;
            };
            let Some(handles) = listening.get_mut(&index) else {
                continue;
            };
            let mut connected = Vec::new();
            handles.retain(|&handle| {
                let socket = set.get::<tcp::Socket>(handle);
                // A handshake in progress stays in the backlog; an
                // established connection waits to be accepted.
                let still_listening = matches!(socket.state(), State::Listen | State::SynReceived);
                if !still_listening {
                    connected.push(handle);
                }
                still_listening
            });
            for handle in connected {
                let state = set.get::<tcp::Socket>(handle).state();
                if waiting.len() < *backlog && state != State::Closed {
                    waiting.push_back((index, handle));
                } else {
                    set.get_mut::<tcp::Socket>(handle).abort();
                    set.remove(handle);
                }
            }
            while handles.len() < *backlog {
                let mut socket = new_tcp_socket();
                if socket.listen(*port).is_err() {
                    break;
                }
                handles.push(set.add(socket));
            }
        }
    }

    /// Takes a waiting connection of listener `id`.
    pub fn accept(&mut self, id: SocketId, owner: SocketOwner) -> Result<Option<SocketId>, Status> {
        let entry = self.owned(id)?;
        let SocketKind::Listener {
            waiting,
            reported_waiting,
            ..
        } = &mut entry.kind
        else {
            return Err(Status::Refused);
        };
        let Some((interface, handle)) = waiting.pop_front() else {
            return Ok(None);
        };
        *reported_waiting = waiting.len();
        let connection = self.insert(
            SocketKind::Connection {
                interface,
                handle,
                reported_received: 0,
                reported_peer_closed: false,
                reported_closed: false,
                wants_writable: false,
            },
            Some(owner),
        )?;
        Ok(Some(connection))
    }

    fn connection<'a>(
        &mut self,
        id: SocketId,
        interfaces: &'a mut [NetworkInterface],
    ) -> Result<(&mut SocketKind, &'a mut tcp::Socket<'static>), Status> {
        let entry = self.entries.get_mut(&id).ok_or(Status::Refused)?;
        let SocketKind::Connection {
            interface, handle, ..
        } = entry.kind
        else {
            return Err(Status::Refused);
        };
        let interface = interfaces.get_mut(interface).ok_or(Status::NotRunning)?;
        Ok((
            &mut entry.kind,
            interface.sockets.get_mut::<tcp::Socket>(handle),
        ))
    }

    /// Reads what connection `id` received.
    pub fn receive(
        &mut self,
        id: SocketId,
        buffer: &mut [u8],
        interfaces: &mut [NetworkInterface],
    ) -> Result<(ConnectionState, usize), Status> {
        let (kind, socket) = self.connection(id, interfaces)?;
        let count = if socket.can_recv() {
            socket.recv_slice(buffer).unwrap_or(0)
        } else {
            0
        };
        if let SocketKind::Connection {
            reported_received, ..
        } = kind
        {
            *reported_received = socket.recv_queue();
        }
        Ok((connection_state(socket), count))
    }

    /// Queues bytes on connection `id`.
    pub fn send(
        &mut self,
        id: SocketId,
        data: &[u8],
        interfaces: &mut [NetworkInterface],
    ) -> Result<usize, Status> {
        let (kind, socket) = self.connection(id, interfaces)?;
        if !socket.may_send() {
            return match socket.state() {
                State::SynSent | State::SynReceived => Ok(0),
                _ => Err(Status::Refused),
            };
        }
        let count = socket.send_slice(data).unwrap_or(0);
        if count < data.len()
            && let SocketKind::Connection { wants_writable, .. } = kind
        {
            *wants_writable = true;
        }
        Ok(count)
    }

    /// Opens a kernel connection from interface `index` to `remote`.
    pub fn connect(
        &mut self,
        index: usize,
        remote: (Ipv4Address, u16),
        interfaces: &mut [NetworkInterface],
    ) -> Result<SocketId, Status> {
        let interface = interfaces.get_mut(index).ok_or(Status::NotRunning)?;
        let port = self.next_port;
        self.next_port = if self.next_port == u16::MAX {
            FIRST_EPHEMERAL_PORT
        } else {
            self.next_port + 1
        };
        let mut socket = new_tcp_socket();
        socket
            .connect(
                interface.interface.context(),
                IpEndpoint::new(IpAddress::Ipv4(remote.0), remote.1),
                port,
            )
            .map_err(|_| Status::Refused)?;
        let handle = interface.sockets.add(socket);
        self.insert(
            SocketKind::Connection {
                interface: index,
                handle,
                reported_received: 0,
                reported_peer_closed: false,
                reported_closed: false,
                wants_writable: false,
            },
            None,
        )
    }

    /// The TCP state of connection `id` (listeners: `Listen`).
    pub fn state(&self, id: SocketId, interfaces: &[NetworkInterface]) -> Option<State> {
        match self.entries.get(&id)?.kind {
            SocketKind::Listener { .. } => Some(State::Listen),
            SocketKind::Connection {
                interface, handle, ..
            } => Some(
                interfaces
                    .get(interface)?
                    .sockets
                    .get::<tcp::Socket>(handle)
                    .state(),
            ),
        }
    }

    /// Removes socket `id`: a connection is closed (`abort`: reset) and
    /// freed once closed; a listener stops and its waiting connections are
    /// reset.
    pub fn remove(&mut self, id: SocketId, interfaces: &mut [NetworkInterface], abort: bool) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        match entry.kind {
            SocketKind::Listener {
                listening, waiting, ..
            } => {
                for (index, handles) in listening {
                    if let Some(interface) = interfaces.get_mut(index) {
                        for handle in handles {
                            interface.sockets.remove(handle);
                        }
                    }
                }
                for (index, handle) in waiting {
                    if let Some(interface) = interfaces.get_mut(index) {
                        interface.sockets.get_mut::<tcp::Socket>(handle).abort();
                        ORPHANS.lock().push((index, handle));
                    }
                }
            }
            SocketKind::Connection {
                interface, handle, ..
            } => {
                if let Some(set) = interfaces.get_mut(interface) {
                    let socket = set.sockets.get_mut::<tcp::Socket>(handle);
                    if abort {
                        socket.abort();
                    } else {
                        socket.close();
                    }
                    ORPHANS.lock().push((interface, handle));
                }
            }
        }
    }

    /// Frees orphaned smoltcp sockets that have finished closing.
    fn reap_orphans(interfaces: &mut [NetworkInterface]) {
        let mut orphans = ORPHANS.lock();
        orphans.retain(|&(index, handle)| {
            let Some(interface) = interfaces.get_mut(index) else {
                return false;
            };
            let state = interface.sockets.get::<tcp::Socket>(handle).state();
            if matches!(state, State::Closed | State::TimeWait) {
                interface.sockets.remove(handle);
                false
            } else {
                true
            }
        });
    }

    /// The events owners have not been told of yet.
    pub fn collect_events(
        &mut self,
        interfaces: &mut [NetworkInterface],
    ) -> Vec<(SocketOwner, u8)> {
        Self::reap_orphans(interfaces);
        let mut events = Vec::new();
        for entry in self.entries.values_mut() {
            let Some(owner) = entry.owner else {
                continue;
            };
            if owner.handle_bits == 0 {
                continue;
            }
            let mut bits = 0u8;
            match &mut entry.kind {
                SocketKind::Listener {
                    waiting,
                    reported_waiting,
                    ..
                } => {
                    if waiting.len() > *reported_waiting {
                        bits |= EVENT_ACCEPTABLE;
                    }
                    *reported_waiting = waiting.len();
                }
                SocketKind::Connection {
                    interface,
                    handle,
                    reported_received,
                    reported_peer_closed,
                    reported_closed,
                    wants_writable,
                } => {
                    let Some(set) = interfaces.get(*interface) else {
                        continue;
                    };
                    let socket = set.sockets.get::<tcp::Socket>(*handle);
                    let received = socket.recv_queue();
                    if received > 0 && received != *reported_received {
                        bits |= EVENT_READABLE;
                    }
                    *reported_received = received;
                    let state = connection_state(socket);
                    if state != ConnectionState::Open && !*reported_peer_closed {
                        bits |= EVENT_READABLE;
                        *reported_peer_closed = true;
                    }
                    if *wants_writable && socket.send_queue() < socket.send_capacity() / 2 {
                        bits |= EVENT_WRITABLE;
                        *wants_writable = false;
                    }
                    if state == ConnectionState::Closed && !*reported_closed {
                        bits |= EVENT_CLOSED;
                        *reported_closed = true;
                    }
                }
            }
            if bits != 0 {
                events.push((owner, bits));
            }
        }
        events
    }

    /// Every socket, for `netstat`.
    pub fn summaries(&self, interfaces: &[NetworkInterface]) -> Vec<SocketSummary> {
        let mut rows = Vec::new();
        for entry in self.entries.values() {
            let owner = entry.owner.map(|owner| (owner.slot, owner.generation));
            match &entry.kind {
                SocketKind::Listener { port, waiting, .. } => rows.push(SocketSummary {
                    kind: "listen",
                    local: alloc::format!("*:{port}"),
                    remote: String::from("*:*"),
                    state: alloc::format!("listening, {} waiting", waiting.len()),
                    owner,
                }),
                SocketKind::Connection {
                    interface, handle, ..
                } => {
                    let Some(set) = interfaces.get(*interface) else {
                        continue;
                    };
                    let socket = set.sockets.get::<tcp::Socket>(*handle);
                    let endpoint = |endpoint: Option<IpEndpoint>| match endpoint {
                        Some(endpoint) => alloc::format!("{endpoint}"),
                        None => String::from("-"),
                    };
                    rows.push(SocketSummary {
                        kind: "tcp",
                        local: endpoint(socket.local_endpoint()),
                        remote: endpoint(socket.remote_endpoint()),
                        state: alloc::format!("{}", socket.state()),
                        owner,
                    });
                }
            }
        }
        rows
    }
}

/// smoltcp sockets closed by their owner and still finishing their close.
static ORPHANS: crate::sched::sync::IrqSpinlock<Vec<(usize, SocketHandle)>> =
    crate::sched::sync::IrqSpinlock::new(Vec::new());
