//! `httpd`: an HTTP/1.1 server for a small static site, running as an
//! isolated extension over the kernel's TCP stack: the analogue of Nooks'
//! in-kernel web server kHTTPd.
//!
//! It listens on TCP port 80 ([`HTTP_PORT`], backlog [`LISTEN_BACKLOG`])
//! on every interface and serves `/` (and `/index.html`), `/hello.txt` and
//! `/big.bin` (64 KiB). All the HTTP logic (parsing, persistence,
//! pipelining, limits, the pages) is in the host-tested crate
//! `http-server` (`extensions/httpd/http`); this file only connects it to
//! the kernel's socket services.
//!
//! It is event-driven and has no thread of its own: the kernel's network
//! thread calls entry `socket-event` when the listener has connections
//! waiting (the extension accepts them all) or a connection is readable,
//! writable or closed (the extension receives what waits, feeds the
//! connection's state machine and sends its output with
//! [`http_server::pump`]).
//!
//! If `tcp-listen` is refused at init (the network is not up yet, or the
//! port is still held), init succeeds anyway, logs a warning, and a
//! periodic timer retries every [`LISTEN_RETRY_MS`] until listening works;
//! the timer is then cancelled. When listening starts it logs
//! `listening on port 80` (the kernel prefixes `httpd: `).
//!
//! Invariants:
//! - No `unsafe`. All state is in [`Server`], behind one `spin::Mutex`.
//!   Entry `timer` runs in interrupt context, possibly while the network
//!   thread holds that lock on the same CPU: it only ever `try_lock`s (a
//!   busy lock skips one retry).
//! - Memory is bounded: at most [`MAX_CONNECTIONS`] connections, each with
//!   the bounded buffers of `http_server::Connection`, and one scratch
//!   buffer of [`SOCKET_CALL_BYTES`]. A new connection beyond the limit
//!   replaces one idle for `IDLE_EVICTION_MS`, or is answered 503 and
//!   closed.
//! - A socket handle is used only while it is in the table (or is the
//!   listener) and never after `tcp-close`; events for sockets it no
//!   longer holds are ignored. Every socket it closes or loses is
//!   `tcp-close`d once, releasing the handle.
//! - Output the socket did not take stays in the connection and goes out
//!   on the next `writable` event; a connection is closed only once its
//!   output is all queued on the socket (or it is gone).
//! - A restart starts from scratch: the kernel closed the old instance's
//!   sockets and cancelled its timer; `init` listens again.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use extension_api::kernel::{self, ConnectionState, SocketHandle, TimerHandle};
use extension_api::{Extension, InitContext, Level, Status};
use http_server::{
    Admission, ConnectionTable, HTTP_PORT, IDLE_EVICTION_MS, LISTEN_BACKLOG, MAX_CONNECTIONS,
    PumpOutcome, SERVICE_UNAVAILABLE_RESPONSE, Socket, SocketState,
};

/// How often a refused `tcp-listen` is tried again.
const LISTEN_RETRY_MS: u64 = 500;
/// The most bytes one `tcp-receive` or `tcp-send` moves (the interface's
/// maximum); the size of the scratch buffer.
const SOCKET_CALL_BYTES: usize = 4096;
/// The most connections taken from the listener per event, so that one
/// event cannot keep the network thread forever (the rest wait for the
/// next event).
const MAX_ACCEPTS_PER_EVENT: usize = 64;

/// `socket-event` bit: a listener has a connection waiting.
const EVENT_ACCEPTABLE: u8 = 2;
/// `socket-event` bit: the socket is closed.
const EVENT_CLOSED: u8 = 8;

/// A connection's socket, through the kernel's services.
struct KernelSocket(SocketHandle);

impl Socket for KernelSocket {
    type Error = Status;

    fn receive(&mut self, buffer: &mut [u8]) -> Result<(usize, SocketState), Status> {
        let length = buffer.len().min(SOCKET_CALL_BYTES);
        if length == 0 {
            return Ok((0, SocketState::Open));
        }
        // At most 4096: fits a u16.
        let reply = kernel::tcp_receive(self.0, length as u16, &mut buffer[..length])?;
        let state = match reply.state {
            ConnectionState::Open => SocketState::Open,
            ConnectionState::PeerClosed => SocketState::PeerClosed,
            ConnectionState::Closed => SocketState::Closed,
        };
        Ok((reply.data_length, state))
    }

    fn send(&mut self, bytes: &[u8]) -> Result<usize, Status> {
        let bytes = &bytes[..bytes.len().min(SOCKET_CALL_BYTES)];
        if bytes.is_empty() {
            return Ok(0);
        }
        Ok(usize::from(kernel::tcp_send(self.0, bytes)?))
    }
}

/// Counters, for the log.
#[derive(Default)]
struct Counters {
    accepted: u64,
    refused_when_full: u64,
    evicted_when_idle: u64,
}

/// Everything the server holds.
struct Server {
    /// The listening socket, once `tcp-listen` worked.
    listener: Option<SocketHandle>,
    /// The timer that retries `tcp-listen` while there is no listener.
    retry_timer: Option<TimerHandle>,
    /// How many retries failed since the last success (for the log).
    failed_retries: u64,
    connections: ConnectionTable<SocketHandle>,
    /// Bytes in flight between a socket call and a connection.
    scratch: Vec<u8>,
    counters: Counters,
}

impl Server {
    fn new() -> Server {
        Server {
            listener: None,
            retry_timer: None,
            failed_retries: 0,
            connections: ConnectionTable::new(MAX_CONNECTIONS, IDLE_EVICTION_MS),
            scratch: vec![0; SOCKET_CALL_BYTES],
            counters: Counters::default(),
        }
    }

    /// Listens on [`HTTP_PORT`].
    fn listen(&mut self) -> Result<(), Status> {
        let listener = kernel::tcp_listen(HTTP_PORT, LISTEN_BACKLOG)?;
        self.listener = Some(listener);
        extension_api::log(
            Level::Info,
            format_args!(
                "listening on port {HTTP_PORT} (backlog {LISTEN_BACKLOG}, at most {MAX_CONNECTIONS} connections)"
            ),
        );
        Ok(())
    }

    /// Listens, or (if refused) makes sure the retry timer runs.
    fn listen_or_retry_later(&mut self) -> Result<(), Status> {
        match self.listen() {
            Ok(()) => Ok(()),
            Err(status) => {
                extension_api::log(
                    Level::Warn,
                    format_args!(
                        "tcp-listen on port {HTTP_PORT} answered {}: retrying every {LISTEN_RETRY_MS} ms",
                        status.name()
                    ),
                );
                if self.retry_timer.is_none() {
                    self.retry_timer = Some(kernel::start_timer(LISTEN_RETRY_MS, true)?);
                }
                Ok(())
            }
        }
    }

    /// The retry timer expired (interrupt context).
    fn retry_listening(&mut self, timer: TimerHandle) {
        if self.retry_timer != Some(timer) {
            return;
        }
        if self.listener.is_none() {
            if self.listen().is_err() {
                self.failed_retries += 1;
                return;
            }
            extension_api::log(
                Level::Info,
                format_args!("tcp-listen worked after {} retries", self.failed_retries),
            );
        }
        self.failed_retries = 0;
        self.retry_timer = None;
        let _ = kernel::cancel_timer(timer);
    }

    fn on_socket_event(&mut self, socket: SocketHandle, events: u8) {
        if self.listener == Some(socket) {
            if events & EVENT_CLOSED != 0 {
                self.lose_listener(socket);
            } else if events & EVENT_ACCEPTABLE != 0 {
                self.accept_waiting(socket);
            }
            return;
        }
        // Any event on a connection: readable, writable or closed (the
        // receive then reports the state).
        self.serve(socket);
    }

    /// The listener is gone: release it and listen again (now, or from
    /// the retry timer).
    fn lose_listener(&mut self, listener: SocketHandle) {
        self.listener = None;
        let _ = kernel::tcp_close(listener);
        extension_api::log(
            Level::Warn,
            format_args!("the listener on port {HTTP_PORT} was closed; listening again"),
        );
        if let Err(status) = self.listen_or_retry_later() {
            extension_api::log(
                Level::Error,
                format_args!(
                    "no timer to retry listening ({}): not listening",
                    status.name()
                ),
            );
        }
    }

    /// Takes every waiting connection (up to [`MAX_ACCEPTS_PER_EVENT`]).
    fn accept_waiting(&mut self, listener: SocketHandle) {
        for _ in 0..MAX_ACCEPTS_PER_EVENT {
            let socket = match kernel::tcp_accept(listener) {
                Ok(reply) if reply.accepted => reply.socket,
                Ok(_) => return,
                Err(status) => {
                    extension_api::log(
                        Level::Warn,
                        format_args!("tcp-accept answered {}", status.name()),
                    );
                    return;
                }
            };
            let now = kernel::uptime_ms().unwrap_or(0);
            match self.connections.admit(socket, now) {
                Admission::Admitted => {}
                Admission::AdmittedByEvicting(idle) => {
                    self.counters.evicted_when_idle += 1;
                    let _ = kernel::tcp_close(idle);
                }
                Admission::Refused => {
                    self.counters.refused_when_full += 1;
                    // Best effort: a fresh socket has room for 179 bytes.
                    let _ = kernel::tcp_send(socket, SERVICE_UNAVAILABLE_RESPONSE);
                    let _ = kernel::tcp_close(socket);
                    continue;
                }
            }
            self.counters.accepted += 1;
            // The request may be there already.
            self.serve(socket);
        }
    }

    /// Moves a connection's bytes both ways; closes it when it is done.
    fn serve(&mut self, socket: SocketHandle) {
        let Some(entry) = self.connections.get_mut(socket) else {
            // Not ours any more (closed or evicted): a late event.
            return;
        };
        entry.last_activity_ms = kernel::uptime_ms().unwrap_or(entry.last_activity_ms);
        let outcome = http_server::pump(
            &mut entry.connection,
            &mut KernelSocket(socket),
            &mut self.scratch,
        );
        match outcome {
            Ok(PumpOutcome::KeepOpen) => {}
            // Finished: the close sends what is queued first. Gone or
            // failing: release the socket.
            Ok(PumpOutcome::Close | PumpOutcome::Gone) | Err(_) => {
                self.connections.remove(socket);
                let _ = kernel::tcp_close(socket);
            }
        }
    }

    /// Closes everything (before an unload).
    fn close_everything(&mut self) {
        for entry in self.connections.drain() {
            let _ = kernel::tcp_close(entry.key);
        }
        if let Some(listener) = self.listener.take() {
            let _ = kernel::tcp_close(listener);
        }
        if let Some(timer) = self.retry_timer.take() {
            let _ = kernel::cancel_timer(timer);
        }
        extension_api::log(
            Level::Info,
            format_args!(
                "stopped: {} connections accepted, {} refused (table full), {} idle ones evicted",
                self.counters.accepted,
                self.counters.refused_when_full,
                self.counters.evicted_when_idle
            ),
        );
    }
}

/// The extension's state: one instance per load.
struct Httpd {
    server: spin::Mutex<Server>,
}

impl Extension for Httpd {
    fn init(context: &InitContext) -> Result<Self, Status> {
        let mut server = Server::new();
        server.listen_or_retry_later()?;
        extension_api::log(
            Level::Debug,
            format_args!("generation {} up", context.generation),
        );
        Ok(Httpd {
            server: spin::Mutex::new(server),
        })
    }
}

/// The kernel's entry operations `httpd` answers.
impl kernel::Entries for Httpd {
    fn socket_event(&self, socket: SocketHandle, events: u8) -> Result<(), Status> {
        self.server.lock().on_socket_event(socket, events);
        Ok(())
    }

    fn timer(&self, timer: TimerHandle) -> Result<(), Status> {
        // Interrupt context: the lock may be held by the thread this
        // interrupt stopped; skip this retry rather than wait forever.
        if let Some(mut server) = self.server.try_lock() {
            server.retry_listening(timer);
        }
        Ok(())
    }

    fn remove(&self) -> Result<(), Status> {
        self.server.lock().close_everything();
        Ok(())
    }
}

extension_api::extension!(Httpd);
