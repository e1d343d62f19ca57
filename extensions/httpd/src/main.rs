//! `httpd`: an HTTP/1.1 server for a small static site, running as an
//! isolated extension over the kernel's TCP stack: the analogue of Nooks'
//! in-kernel web server kHTTPd.
//!
//! It listens on TCP port 80 ([`HTTP_PORT`], backlog [`LISTEN_BACKLOG`])
//! on every interface and serves `/` (and `/index.html`), `/hello.txt` and
//! `/big.bin` (64 KiB). Everything but the kernel calls (parsing,
//! persistence, pipelining, limits, the pages, the connection table, what
//! each socket event does) is in the host-tested crate `http-server`
//! (`extensions/httpd/http`), as [`Server`] over the [`Network`] trait;
//! this file implements [`Network`] with the `tcp-*` services
//! ([`KernelNetwork`]) and adds the retry timer and the log.
//!
//! It is event-driven and has no thread of its own: the kernel's network
//! thread calls entry `socket-event` when the listener has connections
//! waiting (all are accepted) or a connection is readable, writable or
//! closed (what waits is received and fed to the connection's state
//! machine, its output sent; unsent output waits for `writable`).
//!
//! If `tcp-listen` is refused at init (the network is not up yet, or the
//! port is still held), init succeeds anyway, logs a warning, and a
//! periodic timer retries every [`LISTEN_RETRY_MS`] until listening works;
//! the timer is then cancelled. When listening starts it logs
//! `listening on port 80 ...` (the kernel prefixes `httpd: `).
//!
//! Operation `EXTENSION_SPECIFIC` (0x100) answers the server's statistics
//! ([`OPERATION_STATISTICS`]: listening, connections, accepted, refused,
//! evicted, closed, lost, responses, bytes), for tests; `remove` logs them.
//!
//! Invariants:
//! - No `unsafe`. All state is in [`State`], behind one `spin::Mutex`.
//!   Entry `timer` runs in interrupt context, possibly while the network
//!   thread holds that lock on the same CPU: it only ever `try_lock`s (a
//!   busy lock skips one retry).
//! - Memory is bounded: at most [`MAX_CONNECTIONS`] connections, each with
//!   the bounded buffers of `http_server::Connection`, and one 4 KiB
//!   scratch buffer. A new connection beyond the limit replaces one idle
//!   for `http_server::IDLE_EVICTION_MS`, or is answered 503 and closed.
//! - A socket handle is used only while it is the listener or in the
//!   table, and never after `tcp-close` (the kernel would fault the
//!   instance); events for sockets no longer held are ignored. Every
//!   socket that leaves is `tcp-close`d exactly once, releasing it.
//! - A connection is closed only once its output is all queued on the
//!   socket (`tcp-close` sends it first), or when it is gone.
//! - A restart starts from scratch: the kernel closed the old instance's
//!   sockets and cancelled its timer; `init` listens again.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use extension_api::abi::EXTENSION_SPECIFIC;
use extension_api::kernel::{self, ConnectionState, SocketHandle, TimerHandle};
use extension_api::{Extension, InitContext, Level, MessageWriter, Status};
use http_server::{
    EventOutcome, HTTP_PORT, LISTEN_BACKLOG, MAX_CONNECTIONS, Network, Server, SocketState,
};

/// How often a refused `tcp-listen` is tried again.
const LISTEN_RETRY_MS: u64 = 500;

/// Operation `EXTENSION_SPECIFIC` (0x100), for tests and tools: the
/// server's statistics, as [`STATISTICS_WORDS`] little-endian `u64`s in this
/// order: listening (0 or 1), connections held now, then the
/// `http_server::ServerCounters` fields `accepted`, `refused_when_full`,
/// `evicted_when_idle`, `closed`, `lost`, `accept_errors`, `responses`,
/// `bytes_received`, `bytes_sent`.
const OPERATION_STATISTICS: u64 = EXTENSION_SPECIFIC;
/// How many `u64`s the statistics reply holds.
const STATISTICS_WORDS: usize = 11;

/// The kernel's socket services, as the server uses them.
struct KernelNetwork;

impl Network for KernelNetwork {
    type Socket = SocketHandle;
    type Error = Status;

    fn listen(&mut self, port: u16, backlog: u8) -> Result<SocketHandle, Status> {
        kernel::tcp_listen(port, backlog)
    }

    fn accept(&mut self, listener: SocketHandle) -> Result<Option<SocketHandle>, Status> {
        let reply = kernel::tcp_accept(listener)?;
        Ok(reply.accepted.then_some(reply.socket))
    }

    fn receive(
        &mut self,
        socket: SocketHandle,
        buffer: &mut [u8],
    ) -> Result<(usize, SocketState), Status> {
        // The server asks for 1 to SOCKET_CALL_BYTES (4096): fits a u16.
        let length = u16::try_from(buffer.len()).map_err(|_| Status::BadMessage)?;
        let reply = kernel::tcp_receive(socket, length, buffer)?;
        let state = match reply.state {
            ConnectionState::Open => SocketState::Open,
            ConnectionState::PeerClosed => SocketState::PeerClosed,
            ConnectionState::Closed => SocketState::Closed,
        };
        Ok((reply.data_length, state))
    }

    fn send(&mut self, socket: SocketHandle, bytes: &[u8]) -> Result<usize, Status> {
        kernel::tcp_send(socket, bytes).map(usize::from)
    }

    fn close(&mut self, socket: SocketHandle) {
        // Nothing to do if the kernel declines: the handle is not used
        // again, and the kernel releases it with the instance at the latest.
        let _ = kernel::tcp_close(socket);
    }

    fn now_ms(&mut self) -> u64 {
        kernel::uptime_ms().unwrap_or(0)
    }
}

/// Everything the extension holds.
struct State {
    server: Server<SocketHandle>,
    /// The timer that retries listening while the server does not listen.
    retry_timer: Option<TimerHandle>,
    /// Retries that failed since listening last worked (for the log).
    failed_retries: u64,
}

impl State {
    /// Listens; if refused, logs it and makes sure the retry timer runs
    /// (an error only if no timer can be started).
    fn listen_or_retry_later(&mut self) -> Result<(), Status> {
        match self.server.listen(&mut KernelNetwork) {
            Ok(()) => {
                log_listening();
                Ok(())
            }
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

    /// The retry timer expired (interrupt context): listen, and once that
    /// works, stop the timer.
    fn retry_listening(&mut self, timer: TimerHandle) {
        if self.retry_timer != Some(timer) {
            return;
        }
        if !self.server.is_listening() {
            if self.server.listen(&mut KernelNetwork).is_err() {
                self.failed_retries += 1;
                return;
            }
            log_listening();
            extension_api::log(
                Level::Debug,
                format_args!("tcp-listen worked after {} retries", self.failed_retries),
            );
        }
        self.failed_retries = 0;
        self.retry_timer = None;
        let _ = kernel::cancel_timer(timer);
    }

    fn on_socket_event(&mut self, socket: SocketHandle, events: u8) {
        let outcome = self
            .server
            .on_socket_event(&mut KernelNetwork, socket, events);
        if let EventOutcome::ListenerReplaced(result) = outcome {
            match result {
                Ok(()) => log_listening(),
                Err(_) => {
                    // Logs and starts the retry timer.
                    if let Err(status) = self.listen_or_retry_later() {
                        extension_api::log(
                            Level::Error,
                            format_args!(
                                "the listener closed and no retry timer starts ({}): not listening",
                                status.name()
                            ),
                        );
                    }
                }
            }
        }
    }

    /// The statistics reply (see [`OPERATION_STATISTICS`]).
    fn statistics(&self) -> [u64; STATISTICS_WORDS] {
        let counters = self.server.counters();
        [
            u64::from(self.server.is_listening()),
            self.server.connection_count() as u64,
            counters.accepted,
            counters.refused_when_full,
            counters.evicted_when_idle,
            counters.closed,
            counters.lost,
            counters.accept_errors,
            counters.responses,
            counters.bytes_received,
            counters.bytes_sent,
        ]
    }

    /// Closes everything (before an unload).
    fn close_everything(&mut self) {
        self.server.close_everything(&mut KernelNetwork);
        if let Some(timer) = self.retry_timer.take() {
            let _ = kernel::cancel_timer(timer);
        }
        let counters = self.server.counters();
        extension_api::log(
            Level::Info,
            format_args!(
                "stopped: {} connections accepted, {} refused (table full), {} evicted (idle), {} responses, {} bytes in, {} bytes out",
                counters.accepted,
                counters.refused_when_full,
                counters.evicted_when_idle,
                counters.responses,
                counters.bytes_received,
                counters.bytes_sent
            ),
        );
    }
}

fn log_listening() {
    extension_api::log(
        Level::Info,
        format_args!(
            "listening on port {HTTP_PORT} (backlog {LISTEN_BACKLOG}, at most {MAX_CONNECTIONS} connections)"
        ),
    );
}

/// The extension's state: one instance per load.
struct Httpd {
    state: spin::Mutex<State>,
}

impl Extension for Httpd {
    fn init(context: &InitContext) -> Result<Self, Status> {
        let mut state = State {
            server: Server::new(),
            retry_timer: None,
            failed_retries: 0,
        };
        state.listen_or_retry_later()?;
        extension_api::log(
            Level::Debug,
            format_args!("generation {} up", context.generation),
        );
        Ok(Httpd {
            state: spin::Mutex::new(state),
        })
    }

    fn handle_specific(&self, operation: u64, message: &mut [u8]) -> (Status, usize) {
        if operation != OPERATION_STATISTICS {
            return (Status::UnknownOperation, 0);
        }
        let words = self.state.lock().statistics();
        let mut writer = MessageWriter::new(message);
        for word in words {
            if writer.put_u64(word).is_err() {
                return (Status::BadMessage, 0);
            }
        }
        (Status::Ok, writer.len())
    }
}

/// The kernel's entry operations `httpd` answers.
impl kernel::Entries for Httpd {
    fn socket_event(&self, socket: SocketHandle, events: u8) -> Result<(), Status> {
        self.state.lock().on_socket_event(socket, events);
        Ok(())
    }

    fn timer(&self, timer: TimerHandle) -> Result<(), Status> {
        // Interrupt context: the lock may be held by the thread this
        // interrupt stopped; skip this retry rather than wait forever.
        if let Some(mut state) = self.state.try_lock() {
            state.retry_listening(timer);
        }
        Ok(())
    }

    fn remove(&self) -> Result<(), Status> {
        self.state.lock().close_everything();
        Ok(())
    }
}

extension_api::extension!(Httpd);
