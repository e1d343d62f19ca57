//! The whole server over a non-blocking socket API: the listener, the
//! connection table and what each socket event does. The extension runs it
//! over the kernel's `tcp-*` services; the host tests over a simulated
//! network that checks no released socket is ever used.

use crate::pump::{PumpOutcome, Socket, SocketState, pump};
use crate::table::{Admission, ConnectionTable};
use crate::{
    HTTP_PORT, IDLE_EVICTION_MS, LISTEN_BACKLOG, MAX_CONNECTIONS, SERVICE_UNAVAILABLE_RESPONSE,
};
use alloc::vec;
use alloc::vec::Vec;

/// The most bytes one receive or send moves (the kernel interface's
/// limit); the size of the server's scratch buffer.
pub const SOCKET_CALL_BYTES: usize = 4096;
/// The most connections taken from the listener per event, so that one
/// event cannot keep the caller (the kernel's network thread) forever;
/// the rest wait for the next `acceptable` event.
pub const MAX_ACCEPTS_PER_EVENT: usize = 64;

/// Socket event bit: data (or the end of the stream) waits.
pub const EVENT_READABLE: u8 = 1;
/// Socket event bit: a listener has a connection waiting.
pub const EVENT_ACCEPTABLE: u8 = 2;
/// Socket event bit: there is room to send again.
pub const EVENT_WRITABLE: u8 = 4;
/// Socket event bit: the socket is closed.
pub const EVENT_CLOSED: u8 = 8;

/// The socket services the server uses, all non-blocking.
pub trait Network {
    /// A socket handle.
    type Socket: Copy + Eq;
    /// Why a call failed.
    type Error;
    /// Listens on `port` of every interface.
    fn listen(&mut self, port: u16, backlog: u8) -> Result<Self::Socket, Self::Error>;
    /// Takes one waiting connection, if there is one.
    fn accept(&mut self, listener: Self::Socket) -> Result<Option<Self::Socket>, Self::Error>;
    /// Receives at most `buffer.len()` (1 to [`SOCKET_CALL_BYTES`]) bytes.
    fn receive(
        &mut self,
        socket: Self::Socket,
        buffer: &mut [u8],
    ) -> Result<(usize, SocketState), Self::Error>;
    /// Queues at most [`SOCKET_CALL_BYTES`] bytes; returns how many it took.
    fn send(&mut self, socket: Self::Socket, bytes: &[u8]) -> Result<usize, Self::Error>;
    /// Closes a connection (after what was queued is sent) or a listener,
    /// releasing the handle: the server never uses it again.
    fn close(&mut self, socket: Self::Socket);
    /// Milliseconds since some fixed point (boot).
    fn now_ms(&mut self) -> u64;
}

/// One connection's socket seen through a [`Network`], for [`pump`].
struct NetworkSocket<'a, N: Network> {
    network: &'a mut N,
    socket: N::Socket,
}

impl<N: Network> Socket for NetworkSocket<'_, N> {
    type Error = N::Error;

    fn receive(&mut self, buffer: &mut [u8]) -> Result<(usize, SocketState), N::Error> {
        let length = buffer.len().min(SOCKET_CALL_BYTES);
        if length == 0 {
            return Ok((0, SocketState::Open));
        }
        self.network.receive(self.socket, &mut buffer[..length])
    }

    fn send(&mut self, bytes: &[u8]) -> Result<usize, N::Error> {
        let bytes = &bytes[..bytes.len().min(SOCKET_CALL_BYTES)];
        if bytes.is_empty() {
            return Ok(0);
        }
        self.network.send(self.socket, bytes)
    }
}

/// What the server counted since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerCounters {
    /// Connections taken into the table.
    pub accepted: u64,
    /// Connections answered 503 because the table was full.
    pub refused_when_full: u64,
    /// Idle connections closed to make room for a new one.
    pub evicted_when_idle: u64,
    /// Connections closed when finished (by either side's choice).
    pub closed: u64,
    /// Connections found reset or failing.
    pub lost: u64,
    /// Accepts that failed.
    pub accept_errors: u64,
    /// Bytes received on connections.
    pub bytes_received: u64,
    /// Bytes sent on connections.
    pub bytes_sent: u64,
    /// Responses queued (one per request answered).
    pub responses: u64,
}

/// What a socket event led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome<Error> {
    /// The listener or a connection was served.
    Served,
    /// The socket is not one the server holds (a late event for a socket
    /// it closed): nothing was done.
    Ignored,
    /// The listener was closed; the server released it and listened again,
    /// with this result (on an error the caller retries
    /// [`Server::listen`] later).
    ListenerReplaced(Result<(), Error>),
}

/// The server: a listener on [`HTTP_PORT`] and at most [`MAX_CONNECTIONS`]
/// connections. Invariants: a socket is used only while it is the listener
/// or in the table, and is closed exactly once, when it leaves them; the
/// table never exceeds its capacity.
pub struct Server<Key> {
    listener: Option<Key>,
    connections: ConnectionTable<Key>,
    scratch: Vec<u8>,
    counters: ServerCounters,
}

impl<Key: Copy + Eq> Default for Server<Key> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Key: Copy + Eq> Server<Key> {
    /// A server that does not listen yet.
    pub fn new() -> Self {
        Server {
            listener: None,
            connections: ConnectionTable::new(MAX_CONNECTIONS, IDLE_EVICTION_MS),
            scratch: vec![0; SOCKET_CALL_BYTES],
            counters: ServerCounters::default(),
        }
    }

    /// Is it listening?
    pub fn is_listening(&self) -> bool {
        self.listener.is_some()
    }

    /// How many connections it holds.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// What it counted.
    pub fn counters(&self) -> ServerCounters {
        self.counters
    }

    /// Listens on [`HTTP_PORT`] with backlog [`LISTEN_BACKLOG`] (nothing to
    /// do if it already does).
    pub fn listen<N: Network<Socket = Key>>(&mut self, network: &mut N) -> Result<(), N::Error> {
        if self.listener.is_none() {
            self.listener = Some(network.listen(HTTP_PORT, LISTEN_BACKLOG)?);
        }
        Ok(())
    }

    /// Handles entry `socket-event`: accepts what waits on the listener,
    /// or moves a connection's bytes (closing it when it is done or gone).
    pub fn on_socket_event<N: Network<Socket = Key>>(
        &mut self,
        network: &mut N,
        socket: Key,
        events: u8,
    ) -> EventOutcome<N::Error> {
        if self.listener == Some(socket) {
            if events & EVENT_CLOSED != 0 {
                self.listener = None;
                network.close(socket);
                return EventOutcome::ListenerReplaced(self.listen(network));
            }
            self.accept_waiting(network, socket);
            return EventOutcome::Served;
        }
        // Readable, writable or closed alike: the receive reports the
        // connection's state.
        match self.serve(network, socket) {
            true => EventOutcome::Served,
            false => EventOutcome::Ignored,
        }
    }

    /// Takes the waiting connections (up to [`MAX_ACCEPTS_PER_EVENT`]).
    fn accept_waiting<N: Network<Socket = Key>>(&mut self, network: &mut N, listener: Key) {
        for _ in 0..MAX_ACCEPTS_PER_EVENT {
            let socket = match network.accept(listener) {
                Ok(Some(socket)) => socket,
                Ok(None) => return,
                Err(_) => {
                    self.counters.accept_errors += 1;
                    return;
                }
            };
            let now = network.now_ms();
            match self.connections.admit(socket, now) {
                Admission::Admitted => {}
                Admission::AdmittedByEvicting(idle) => {
                    self.counters.evicted_when_idle += 1;
                    network.close(idle);
                }
                Admission::Refused => {
                    self.counters.refused_when_full += 1;
                    // Best effort: a fresh socket has room for these 161
                    // bytes, and the close sends them first.
                    let _ = network.send(socket, SERVICE_UNAVAILABLE_RESPONSE);
                    network.close(socket);
                    continue;
                }
            }
            self.counters.accepted += 1;
            // The request may be waiting already.
            self.serve(network, socket);
        }
    }

    /// Moves a connection's bytes both ways and closes it when it is done;
    /// `false` if the server does not hold `socket`.
    fn serve<N: Network<Socket = Key>>(&mut self, network: &mut N, socket: Key) -> bool {
        let now = network.now_ms();
        let Some(entry) = self.connections.get_mut(socket) else {
            return false;
        };
        let responses_before = entry.connection.responses_queued();
        let pumped = pump(
            &mut entry.connection,
            &mut NetworkSocket { network, socket },
            &mut self.scratch,
        );
        self.counters.responses += entry.connection.responses_queued() - responses_before;
        if let Ok(pumped) = pumped {
            // Activity is bytes moving, not events (a spurious event does
            // not keep an idle connection from eviction).
            if pumped.bytes_received > 0 || pumped.bytes_sent > 0 {
                entry.last_activity_ms = now;
            }
            self.counters.bytes_received += pumped.bytes_received as u64;
            self.counters.bytes_sent += pumped.bytes_sent as u64;
        }
        match pumped.map(|pumped| pumped.outcome) {
            Ok(PumpOutcome::KeepOpen) => return true,
            // Finished: the close sends what is queued first.
            Ok(PumpOutcome::Close) => self.counters.closed += 1,
            Ok(PumpOutcome::Gone) | Err(_) => self.counters.lost += 1,
        }
        self.connections.remove(socket);
        network.close(socket);
        true
    }

    /// Closes every connection and the listener (before an unload).
    pub fn close_everything<N: Network<Socket = Key>>(&mut self, network: &mut N) {
        for entry in self.connections.drain() {
            network.close(entry.key);
        }
        if let Some(listener) = self.listener.take() {
            network.close(listener);
        }
    }
}
