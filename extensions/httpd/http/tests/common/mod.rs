//! Helpers shared by the integration tests: a strict parser of the server's
//! output stream, a simulated non-blocking socket and a driver that pumps
//! a connection through it.
#![allow(dead_code, reason = "each test file uses a part")]

use deterministic_rng::XorShift;
use http_server::site::{CONTENT_TYPE_TEXT, PAGES};
use http_server::{
    Connection, INPUT_BUFFER_BYTES, MAX_QUEUED_RESPONSES, PumpOutcome, SERVER_NAME, Socket,
    SocketState, StatusCode, pump,
};

/// One response read back from the output stream.
#[derive(Clone, Debug)]
pub struct ParsedResponse {
    pub status: StatusCode,
    pub content_type: String,
    pub content_length: usize,
    pub keep_alive: bool,
    /// `None` when no body followed (a HEAD request).
    pub body: Option<Vec<u8>>,
}

/// The body a response with these headers must carry when it has one.
fn expected_body(
    status: StatusCode,
    content_type: &str,
    content_length: usize,
) -> Result<&'static [u8], String> {
    if status != StatusCode::Ok {
        if content_type != CONTENT_TYPE_TEXT {
            return Err(format!("{status:?} with content type {content_type}"));
        }
        return Ok(status.error_body().as_bytes());
    }
    PAGES
        .iter()
        .find(|page| page.content_type == content_type && page.body.len() == content_length)
        .map(|page| page.body)
        .ok_or_else(|| format!("no page is {content_type} of {content_length} bytes"))
}

/// Parses the whole output of a connection: only complete, well-formed
/// responses, each with exactly the headers the server sends, a body that
/// is exactly the page or error text (or none, for HEAD), and nothing after
/// a response that says `Connection: close`.
pub fn parse_responses(mut stream: &[u8]) -> Result<Vec<ParsedResponse>, String> {
    let mut responses = Vec::new();
    while !stream.is_empty() {
        if responses
            .last()
            .is_some_and(|last: &ParsedResponse| !last.keep_alive)
        {
            return Err(format!(
                "{} bytes after a response with Connection: close",
                stream.len()
            ));
        }
        let head_end = stream
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .ok_or_else(|| format!("an incomplete head: {:?}", String::from_utf8_lossy(stream)))?;
        let head = std::str::from_utf8(&stream[..head_end])
            .map_err(|_| "a head that is not UTF-8".to_string())?;
        stream = &stream[head_end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = StatusCode::ALL
            .into_iter()
            .find(|status| status_line == format!("HTTP/1.1 {} {}", status.code(), status.reason()))
            .ok_or_else(|| format!("a bad status line {status_line:?}"))?;
        let headers: Vec<(&str, &str)> = lines
            .map(|line| {
                line.split_once(": ")
                    .ok_or_else(|| format!("a bad header {line:?}"))
            })
            .collect::<Result<_, _>>()?;
        let names: Vec<&str> = headers.iter().map(|(name, _)| *name).collect();
        let mut expected_names = vec!["Server", "Content-Type", "Content-Length", "Connection"];
        if status == StatusCode::MethodNotAllowed {
            expected_names.push("Allow");
        }
        if names != expected_names {
            return Err(format!("headers {names:?} of {status:?}"));
        }
        let value = |index: usize| headers[index].1;
        if value(0) != SERVER_NAME {
            return Err(format!("Server: {}", value(0)));
        }
        let content_type = value(1).to_string();
        let content_length: usize = value(2)
            .parse()
            .map_err(|_| format!("Content-Length: {}", value(2)))?;
        let keep_alive = match value(3) {
            "keep-alive" => true,
            "close" => false,
            other => return Err(format!("Connection: {other}")),
        };
        if status.closes_connection() && keep_alive {
            return Err(format!("{status:?} keeps the connection"));
        }
        if status == StatusCode::MethodNotAllowed && value(4) != "GET, HEAD" {
            return Err(format!("Allow: {}", value(4)));
        }
        let body = expected_body(status, &content_type, content_length)?;
        if body.len() != content_length {
            return Err(format!(
                "{status:?}: Content-Length {content_length}, body {}",
                body.len()
            ));
        }
        // A body follows unless the response answered HEAD; no body of the
        // site starts like a status line, so the two cannot be confused.
        let body = if !body.is_empty() && stream.starts_with(body) {
            stream = &stream[body.len()..];
            Some(body.to_vec())
        } else if stream.is_empty() || stream.starts_with(b"HTTP/1.1 ") {
            None
        } else {
            return Err(format!(
                "{status:?}: {} bytes that are neither its body nor a response",
                stream.len()
            ));
        };
        responses.push(ParsedResponse {
            status,
            content_type,
            content_length,
            keep_alive,
            body,
        });
    }
    Ok(responses)
}

/// Feeds `bytes` all at once and takes all output: for simple tests.
pub fn exchange(connection: &mut Connection, bytes: &[u8]) -> Vec<u8> {
    let mut output = Vec::new();
    let mut offset = 0;
    loop {
        offset += connection.receive(&bytes[offset..]);
        let mut chunk = vec![0u8; connection.pending_output_bytes()];
        let copied = connection.copy_output(&mut chunk);
        assert_eq!(copied, chunk.len());
        connection.advance_output(copied);
        output.extend_from_slice(&chunk);
        if offset == bytes.len() && connection.pending_output_bytes() == 0 {
            return output;
        }
    }
}

/// Checks the bounds every connection keeps.
pub fn assert_bounded(connection: &Connection) {
    assert!(connection.buffered_input_bytes() <= INPUT_BUFFER_BYTES);
    assert!(connection.queued_responses() <= MAX_QUEUED_RESPONSES);
    assert!(connection.input_room() <= INPUT_BUFFER_BYTES);
    assert!(connection.input_capacity() <= INPUT_BUFFER_BYTES);
    // Heads are small and bodies static: the largest is /big.bin.
    assert!(connection.pending_output_bytes() <= MAX_QUEUED_RESPONSES * (256 + 64 * 1024));
}

/// A simulated non-blocking socket: delivers `incoming` in random pieces
/// (sometimes none, as if the data had not arrived yet), takes random
/// amounts of output, and reports the peer's FIN once everything was
/// delivered, if `peer_closes`.
pub struct SimulatedSocket<'a> {
    pub random: &'a mut XorShift,
    pub incoming: &'a [u8],
    pub delivered: usize,
    pub peer_closes: bool,
    pub output: Vec<u8>,
    /// Largest piece per receive (1 for byte-by-byte delivery).
    pub largest_piece: usize,
    /// Largest amount one send takes.
    pub largest_send: usize,
}

impl<'a> SimulatedSocket<'a> {
    pub fn new(random: &'a mut XorShift, incoming: &'a [u8], peer_closes: bool) -> Self {
        let largest_piece = match random.below(16) {
            0 => 1,
            1..=3 => 1 + random.below(16) as usize,
            _ => 1 + random.below(4096) as usize,
        };
        let largest_send = match random.below(4) {
            0 => 1 + random.below(64) as usize,
            _ => 1 + random.below(8192) as usize,
        };
        SimulatedSocket {
            random,
            incoming,
            delivered: 0,
            peer_closes,
            output: Vec::new(),
            largest_piece,
            largest_send,
        }
    }

    fn everything_delivered(&self) -> bool {
        self.delivered == self.incoming.len()
    }
}

impl Socket for SimulatedSocket<'_> {
    type Error = ();

    fn receive(&mut self, buffer: &mut [u8]) -> Result<(usize, SocketState), ()> {
        assert!(!buffer.is_empty(), "a receive of zero bytes");
        let left = self.incoming.len() - self.delivered;
        let count = if self.random.below(8) == 0 {
            0
        } else {
            let most = left.min(buffer.len()).min(self.largest_piece);
            (1 + self.random.below(most as u64 + 1) as usize).min(most)
        };
        buffer[..count].copy_from_slice(&self.incoming[self.delivered..self.delivered + count]);
        self.delivered += count;
        let state = if self.peer_closes && self.everything_delivered() {
            SocketState::PeerClosed
        } else {
            SocketState::Open
        };
        Ok((count, state))
    }

    fn send(&mut self, bytes: &[u8]) -> Result<usize, ()> {
        let most = bytes.len().min(self.largest_send);
        let count = match self.random.below(8) {
            0 => 0,
            1 => self.random.below(most as u64 + 1) as usize,
            _ => most,
        };
        self.output.extend_from_slice(&bytes[..count]);
        Ok(count)
    }
}

/// How a driven connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The server closed it (pump said Close).
    ServerClosed,
    /// Everything was delivered and sent; the connection stays open
    /// (keep-alive, no FIN).
    StillOpen,
}

/// Pumps `connection` through `socket` event after event until the server
/// closes it, or everything was delivered and all output sent with the
/// connection still open. Checks the bounds after every event, and that
/// the connection never stalls.
pub fn drive(connection: &mut Connection, socket: &mut SimulatedSocket<'_>) -> Ending {
    let mut scratch = [0u8; 4096];
    let mut idle_events = 0;
    loop {
        let delivered = socket.delivered;
        let sent = socket.output.len();
        let pumped = pump(connection, socket, &mut scratch).expect("simulated sockets never fail");
        assert_eq!(pumped.bytes_received, socket.delivered - delivered);
        assert_eq!(pumped.bytes_sent, socket.output.len() - sent);
        let outcome = pumped.outcome;
        assert_bounded(connection);
        match outcome {
            PumpOutcome::Close => {
                assert!(connection.is_finished());
                assert_eq!(connection.pending_output_bytes(), 0);
                return Ending::ServerClosed;
            }
            PumpOutcome::Gone => panic!("simulated sockets are never reset"),
            PumpOutcome::KeepOpen => {}
        }
        let everything_in = socket.everything_delivered()
            && (!socket.peer_closes || connection.has_peer_closed() || connection.is_closing());
        if everything_in && connection.pending_output_bytes() == 0 && !socket.peer_closes {
            return Ending::StillOpen;
        }
        if socket.delivered == delivered && socket.output.len() == sent {
            idle_events += 1;
            // Random zero-byte receives and sends make some events idle,
            // never hundreds in a row.
            assert!(
                idle_events < 400,
                "the connection stalls: {} of {} bytes delivered, {} bytes waiting to be sent, closing {}",
                socket.delivered,
                socket.incoming.len(),
                connection.pending_output_bytes(),
                connection.is_closing()
            );
        } else {
            idle_events = 0;
        }
    }
}
