//! One HTTP/1.1 connection as a state machine: bytes received go in,
//! response bytes to send come out, and it says when to close.
//!
//! ```text
//!  RequestLine --line--> Headers --empty line--> (response queued)
//!       ^                                          |
//!       +----- keep-alive, body skipped ---- Body -+--- close ---> Closing
//! ```
//!
//! Any malformed or over-long request line or header queues an error
//! response that closes the connection and goes to `Closing`, where input
//! is read and dropped until the output has gone out.

use crate::request::{
    LineSearch, Method, Target, Version, find_line, parse_connection_options, parse_content_length,
    parse_header_line, parse_request_line,
};
use crate::response::{Response, StatusCode};
use crate::site;
use crate::{
    INPUT_BUFFER_BYTES, MAX_HEADER_COUNT, MAX_HEADER_LINE_BYTES, MAX_HEADER_SECTION_BYTES,
    MAX_QUEUED_RESPONSES, MAX_REQUEST_LINE_BYTES,
};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// What the request being read has said so far.
#[derive(Clone, Copy, Debug)]
struct RequestHead {
    method: Method,
    version: Version,
    /// The page at the target's path (`None`: no such page).
    page: Option<&'static site::Page>,
    /// The target was `*`.
    asterisk: bool,
    header_count: usize,
    header_bytes: usize,
    connection_close: bool,
    connection_keep_alive: bool,
    content_length: Option<u64>,
    /// A `Content-Length` that was malformed or disagreed with an earlier
    /// one.
    content_length_invalid: bool,
    transfer_encoding: bool,
    host_count: usize,
}

/// Where the connection is in the request stream.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for a request line (empty lines before it are skipped).
    RequestLine,
    /// Reading header lines.
    Headers(RequestHead),
    /// Dropping the request's body; then the next request, or `Closing`.
    Body { remaining: u64, keep_alive: bool },
    /// No more requests are read: input is dropped, the queued output is
    /// sent, then the connection is closed.
    Closing,
}

/// Why [`Connection::process`] stopped.
enum Stop {
    /// It needs more input.
    NeedInput,
    /// [`MAX_QUEUED_RESPONSES`] responses wait to be sent.
    OutputFull,
    /// It is closing.
    Closing,
}

/// One connection's state. Invariants: at most [`INPUT_BUFFER_BYTES`] bytes
/// of input and [`MAX_QUEUED_RESPONSES`] responses are held (each a head of
/// at most [`crate::MAX_RESPONSE_HEAD_BYTES`] bytes and a static body); every
/// byte of output belongs to a complete response that starts with a status
/// line; one response is queued per request, in order.
pub struct Connection {
    /// Received bytes not yet parsed (the start of a line, or requests
    /// waiting for room in the output queue).
    input: Vec<u8>,
    phase: Phase,
    responses: VecDeque<Response>,
    peer_closed: bool,
    responses_queued: u64,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    /// A connection waiting for its first request.
    pub fn new() -> Connection {
        Connection {
            input: Vec::new(),
            phase: Phase::RequestLine,
            responses: VecDeque::new(),
            peer_closed: false,
            responses_queued: 0,
        }
    }

    /// How many bytes [`Connection::receive`] takes now. Zero while the
    /// input buffer is full (responses wait to be sent): receive nothing
    /// until output has been taken. While closing, input is dropped, so
    /// there is always room.
    pub fn input_room(&self) -> usize {
        match self.phase {
            Phase::Closing => INPUT_BUFFER_BYTES,
            _ => INPUT_BUFFER_BYTES - self.input.len(),
        }
    }

    /// Feeds received bytes; takes at most [`Connection::input_room`] of
    /// them and returns how many it took. Complete requests are answered
    /// (their responses queued) at once, as far as the output queue has
    /// room.
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        if matches!(self.phase, Phase::Closing) {
            return bytes.len();
        }
        let taken = bytes.len().min(self.input_room());
        // Allocated once, at its final size (a growing Vec could double
        // past the bound).
        if self.input.capacity() < INPUT_BUFFER_BYTES {
            self.input
                .reserve_exact(INPUT_BUFFER_BYTES - self.input.len());
        }
        self.input.extend_from_slice(&bytes[..taken]);
        self.process();
        taken
    }

    /// The peer will send nothing more (FIN). Requests already received
    /// are still answered; a partial one is dropped; then the connection
    /// closes once its output is sent.
    pub fn peer_closed(&mut self) {
        self.peer_closed = true;
        self.process();
    }

    /// Has [`Connection::peer_closed`] been called?
    pub fn has_peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Bytes waiting to be sent.
    pub fn pending_output_bytes(&self) -> usize {
        self.responses.iter().map(Response::remaining).sum()
    }

    /// Copies as much of the waiting output as fits into `into` (across
    /// responses, in order) without consuming it; returns how many bytes.
    /// Call [`Connection::advance_output`] with what the socket took.
    pub fn copy_output(&self, into: &mut [u8]) -> usize {
        let mut copied = 0;
        for response in &self.responses {
            if copied == into.len() {
                break;
            }
            copied += response.copy_remaining(&mut into[copied..]);
        }
        copied
    }

    /// Marks the first `count` bytes of the waiting output as sent (more
    /// than is waiting counts as all of it). Room in the output queue lets
    /// requests already received be answered.
    pub fn advance_output(&mut self, count: usize) {
        let mut left = count;
        while left > 0 {
            let Some(response) = self.responses.front_mut() else {
                break;
            };
            left -= response.advance(left);
            if response.remaining() == 0 {
                self.responses.pop_front();
            }
        }
        self.process();
    }

    /// Should the socket be closed now? True once the connection is
    /// closing (an error, `Connection: close`, HTTP/1.0 without
    /// keep-alive, or the peer closed) and every queued byte was sent.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Closing) && self.responses.is_empty()
    }

    /// Will no further request be read (the connection only flushes its
    /// output)?
    pub fn is_closing(&self) -> bool {
        matches!(self.phase, Phase::Closing)
    }

    /// Responses waiting (partly) to be sent.
    pub fn queued_responses(&self) -> usize {
        self.responses.len()
    }

    /// Received bytes held, not yet parsed.
    pub fn buffered_input_bytes(&self) -> usize {
        self.input.len()
    }

    /// Bytes allocated for input (at most [`INPUT_BUFFER_BYTES`], as far
    /// as the allocator gives exact sizes).
    pub fn input_capacity(&self) -> usize {
        self.input.capacity()
    }

    /// Responses queued since the connection opened (one per request
    /// answered).
    pub fn responses_queued(&self) -> u64 {
        self.responses_queued
    }

    /// The status of each response still waiting, oldest first (for tests
    /// and diagnostics).
    pub fn queued_statuses(&self) -> impl Iterator<Item = StatusCode> + '_ {
        self.responses.iter().map(Response::status)
    }

    /// Parses what the input holds, queueing responses, until it needs
    /// more input, the output queue is full or the connection is closing.
    fn process(&mut self) {
        let mut consumed = 0;
        let stop = loop {
            match self.step(&mut consumed) {
                Some(stop) => break stop,
                None => continue,
            }
        };
        match stop {
            Stop::Closing => self.input.clear(),
            Stop::NeedInput | Stop::OutputFull => {
                self.input.drain(..consumed);
            }
        }
        // Nothing more will come: what is left is a partial request.
        if matches!(stop, Stop::NeedInput) && self.peer_closed {
            self.phase = Phase::Closing;
            self.input.clear();
        }
    }

    /// One step of [`Connection::process`] on `self.input[*consumed..]`;
    /// `None` to go on.
    fn step(&mut self, consumed: &mut usize) -> Option<Stop> {
        let available = &self.input[*consumed..];
        match &mut self.phase {
            Phase::Closing => Some(Stop::Closing),
            Phase::Body {
                remaining,
                keep_alive,
            } => {
                let skipped = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(available.len());
                *consumed += skipped;
                *remaining -= skipped as u64;
                if *remaining > 0 {
                    return Some(Stop::NeedInput);
                }
                self.phase = if *keep_alive {
                    Phase::RequestLine
                } else {
                    Phase::Closing
                };
                None
            }
            Phase::RequestLine => {
                if self.responses.len() >= MAX_QUEUED_RESPONSES {
                    return Some(Stop::OutputFull);
                }
                let (content_length, consumed_length) =
                    match find_line(available, MAX_REQUEST_LINE_BYTES) {
                        LineSearch::Incomplete => return Some(Stop::NeedInput),
                        LineSearch::TooLong => {
                            self.fail(StatusCode::UriTooLong, false);
                            return None;
                        }
                        LineSearch::Line {
                            content_length,
                            consumed_length,
                        } => (content_length, consumed_length),
                    };
                let line = &available[..content_length];
                *consumed += consumed_length;
                if line.is_empty() {
                    // RFC 9112 §2.2: empty lines before a request line are
                    // ignored.
                    return None;
                }
                match parse_request_line(line) {
                    Ok(request_line) => {
                        let (page, asterisk) = match request_line.target {
                            Target::Path(path) => (site::find(path), false),
                            Target::Asterisk => (None, true),
                        };
                        self.phase = Phase::Headers(RequestHead {
                            method: request_line.method,
                            version: request_line.version,
                            page,
                            asterisk,
                            header_count: 0,
                            header_bytes: 0,
                            connection_close: false,
                            connection_keep_alive: false,
                            content_length: None,
                            content_length_invalid: false,
                            transfer_encoding: false,
                            host_count: 0,
                        });
                    }
                    Err(status) => self.fail(status, false),
                }
                None
            }
            Phase::Headers(head) => {
                let head_only = head.method == Method::Head;
                let (content_length, consumed_length) =
                    match find_line(available, MAX_HEADER_LINE_BYTES) {
                        LineSearch::Incomplete => return Some(Stop::NeedInput),
                        LineSearch::TooLong => {
                            self.fail(StatusCode::RequestHeaderFieldsTooLarge, head_only);
                            return None;
                        }
                        LineSearch::Line {
                            content_length,
                            consumed_length,
                        } => (content_length, consumed_length),
                    };
                let line = &available[..content_length];
                *consumed += consumed_length;
                if line.is_empty() {
                    let head = *head;
                    self.answer(&head);
                    return None;
                }
                head.header_count += 1;
                head.header_bytes += line.len();
                if head.header_count > MAX_HEADER_COUNT
                    || head.header_bytes > MAX_HEADER_SECTION_BYTES
                {
                    self.fail(StatusCode::RequestHeaderFieldsTooLarge, head_only);
                    return None;
                }
                let Some((name, value)) = parse_header_line(line) else {
                    self.fail(StatusCode::BadRequest, head_only);
                    return None;
                };
                if name.eq_ignore_ascii_case(b"connection") {
                    let options = parse_connection_options(value);
                    head.connection_close |= options.close;
                    head.connection_keep_alive |= options.keep_alive;
                } else if name.eq_ignore_ascii_case(b"content-length") {
                    match (parse_content_length(value), head.content_length) {
                        (Some(length), None) => head.content_length = Some(length),
                        (Some(length), Some(earlier)) if length == earlier => {}
                        _ => head.content_length_invalid = true,
                    }
                } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                    head.transfer_encoding = true;
                } else if name.eq_ignore_ascii_case(b"host") {
                    head.host_count += 1;
                }
                None
            }
        }
    }

    /// The head of a request is complete: queue its response and go on to
    /// its body, the next request or closing.
    fn answer(&mut self, head: &RequestHead) {
        let head_only = head.method == Method::Head;
        // RFC 9112 §6.3: a Transfer-Encoding the server cannot decode
        // leaves the body's end unknown; so does a bad Content-Length.
        if head.transfer_encoding {
            return self.fail(StatusCode::NotImplemented, head_only);
        }
        // RFC 9112 §3.2: HTTP/1.1 needs exactly one Host, 1.0 at most one.
        let host_missing = head.version == Version::Http11 && head.host_count == 0;
        if head.content_length_invalid || head.host_count > 1 || host_missing {
            return self.fail(StatusCode::BadRequest, head_only);
        }
        let keep_alive = match head.version {
            Version::Http11 => !head.connection_close,
            Version::Http10 => head.connection_keep_alive && !head.connection_close,
        };
        let response = match (head.method, head.page) {
            (Method::Other, _) => Response::error(StatusCode::MethodNotAllowed, false, keep_alive),
            _ if head.asterisk => return self.fail(StatusCode::BadRequest, head_only),
            (_, Some(page)) => Response::new(
                StatusCode::Ok,
                page.content_type,
                page.body,
                head_only,
                keep_alive,
            ),
            (_, None) => Response::error(StatusCode::NotFound, head_only, keep_alive),
        };
        self.queue(response);
        self.phase = match head.content_length {
            Some(remaining) if remaining > 0 => Phase::Body {
                remaining,
                keep_alive,
            },
            _ if keep_alive => Phase::RequestLine,
            _ => Phase::Closing,
        };
    }

    /// Answers with an error that closes the connection.
    fn fail(&mut self, status: StatusCode, head_only: bool) {
        debug_assert!(status.closes_connection());
        self.queue(Response::error(status, head_only, false));
        self.phase = Phase::Closing;
    }

    fn queue(&mut self, response: Response) {
        // A request is only read while the queue has room, and gets one
        // response: the queue cannot overflow.
        debug_assert!(self.responses.len() < MAX_QUEUED_RESPONSES);
        self.responses.push_back(response);
        self.responses_queued += 1;
    }
}
