//! The `httpd` extension's hardware-free logic, tested on the host with
//! plain `cargo test`: an HTTP/1.1 server for a small static site, as a
//! per-connection state machine ([`Connection`]: bytes in, response bytes
//! out, and when to close), the loop that moves bytes between it and a
//! non-blocking socket ([`pump`], over the [`Socket`] trait), the table of
//! connections ([`ConnectionTable`]), the server that ties them to a
//! listener and socket events ([`Server`], over the [`Network`] trait) and
//! the pages ([`site`]).
//!
//! The extension (`extensions/httpd/src/main.rs`) only adds the kernel's
//! socket services behind [`Network`], the retry timer and the log.
//!
//! What it speaks:
//! - Requests: `METHOD SP TARGET SP HTTP/1.x`, header fields, a body
//!   delimited by `Content-Length` (read and dropped); lines end with CRLF
//!   or LF; empty lines before a request are skipped; pipelined requests
//!   are answered in order.
//! - GET and HEAD (no body, same headers); other methods get 405 with
//!   `Allow: GET, HEAD`. Paths are matched exactly, the query removed.
//! - Persistence: HTTP/1.1 keeps the connection unless `Connection:
//!   close`; HTTP/1.0 closes it unless `Connection: keep-alive`. A 1.1
//!   request without exactly one `Host` is 400 (RFC 9112 §3.2).
//! - Responses carry `Server`, `Content-Type`, `Content-Length` and
//!   `Connection` (`keep-alive` or `close`); no `Date` (the server has no
//!   wall clock, RFC 9110 §6.6.1).
//! - Errors that leave the request stream unusable close the connection
//!   after the response: 400 (malformed), 414 (request line over
//!   [`MAX_REQUEST_LINE_BYTES`]), 431 (a header line over
//!   [`MAX_HEADER_LINE_BYTES`], more than [`MAX_HEADER_SECTION_BYTES`] or
//!   [`MAX_HEADER_COUNT`]), 501 (`Transfer-Encoding`), 505 (HTTP major
//!   version not 1). 404 and 405 keep it.
//!
//! Invariants:
//! - No input can make it panic, and memory per connection is bounded: at
//!   most [`INPUT_BUFFER_BYTES`] of unparsed input and
//!   [`MAX_QUEUED_RESPONSES`] responses (each a head of at most
//!   [`MAX_RESPONSE_HEAD_BYTES`] and a static body); when the queue is
//!   full, no more input is taken until the socket takes output. The
//!   fuzz tests in `tests/` check both over hundreds of thousands of
//!   requests.
//! - Output is only ever whole responses, each starting with a status
//!   line, one per request, in request order.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod connection;
mod pump;
mod request;
mod response;
mod server;
pub mod site;
mod table;

pub use connection::Connection;
pub use pump::{MAX_PUMP_ROUNDS, PumpOutcome, Pumped, Socket, SocketState, pump};
pub use request::{Method, Version};
pub use response::{SERVICE_UNAVAILABLE_RESPONSE, StatusCode};
pub use server::{
    EVENT_ACCEPTABLE, EVENT_CLOSED, EVENT_READABLE, EVENT_WRITABLE, EventOutcome,
    MAX_ACCEPTS_PER_EVENT, Network, SOCKET_CALL_BYTES, Server, ServerCounters,
};
pub use table::{Admission, ConnectionTable, TableEntry};

/// The TCP port the server listens on.
pub const HTTP_PORT: u16 = 80;
/// How many accepted-but-not-yet-taken connections the kernel may hold
/// for the listener.
pub const LISTEN_BACKLOG: u8 = 8;
/// How many connections the server holds at once; beyond that a new one
/// replaces one idle for [`IDLE_EVICTION_MS`], or gets 503 and is closed.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a connection must have been idle before a new one may evict
/// it from a full table.
pub const IDLE_EVICTION_MS: u64 = 5_000;
/// The longest request line (without its CRLF); longer is 414.
pub const MAX_REQUEST_LINE_BYTES: usize = 1024;
/// The longest header field line (without its CRLF); longer is 431.
pub const MAX_HEADER_LINE_BYTES: usize = 1024;
/// The most bytes of header lines (without their CRLFs) in one request;
/// more is 431.
pub const MAX_HEADER_SECTION_BYTES: usize = 8192;
/// The most header lines in one request; more is 431.
pub const MAX_HEADER_COUNT: usize = 64;
/// Received bytes a connection holds before parsing them (at least one
/// longest line and its CRLF).
pub const INPUT_BUFFER_BYTES: usize = 2048;
/// Responses a connection queues before it stops reading requests
/// (pipelining depth).
pub const MAX_QUEUED_RESPONSES: usize = 8;
/// Room for a response's status line and headers.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 256;
/// The `Server` header's value.
pub const SERVER_NAME: &str = "nooks-httpd";

const _: () = assert!(INPUT_BUFFER_BYTES >= MAX_REQUEST_LINE_BYTES + 2);
const _: () = assert!(INPUT_BUFFER_BYTES >= MAX_HEADER_LINE_BYTES + 2);
