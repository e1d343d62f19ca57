//! Moving bytes between a non-blocking socket and a [`Connection`]: what
//! the extension does on every socket event, written against a trait so
//! that the host tests drive it with simulated sockets.

use crate::Connection;

/// How many receive-and-send rounds one [`pump`] makes at most, so that one
/// event cannot keep the caller (the kernel's network thread) forever; with
/// a 4 KiB scratch buffer that is up to 1 MiB in and out per event.
pub const MAX_PUMP_ROUNDS: usize = 256;

/// A connection's state, as a receive reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketState {
    /// More data may come.
    Open,
    /// The peer sent everything it will send (FIN); sending still works.
    PeerClosed,
    /// The connection is gone (reset, or closed both ways): nothing can be
    /// sent any more.
    Closed,
}

/// A non-blocking TCP connection.
pub trait Socket {
    /// Why a call failed.
    type Error;
    /// Receives at most `buffer.len()` bytes without waiting; returns how
    /// many (zero if none wait) and the connection's state after the read.
    fn receive(&mut self, buffer: &mut [u8]) -> Result<(usize, SocketState), Self::Error>;
    /// Queues bytes without waiting; returns how many it took (fewer than
    /// given, possibly zero, when its send buffer is full).
    fn send(&mut self, bytes: &[u8]) -> Result<usize, Self::Error>;
}

/// What to do with the socket after [`pump`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PumpOutcome {
    /// Keep it; call [`pump`] again on its next event (readable, or
    /// writable when output waits).
    KeepOpen,
    /// The connection is finished and its output is all queued on the
    /// socket: close it (a close sends what is queued first).
    Close,
    /// The connection is gone: release the socket, there is nothing to
    /// flush.
    Gone,
}

/// What one [`pump`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pumped {
    /// What to do with the socket now.
    pub outcome: PumpOutcome,
    /// Bytes received from the socket.
    pub bytes_received: usize,
    /// Bytes the socket took.
    pub bytes_sent: usize,
}

/// Receives what the socket holds (as far as the connection has room),
/// feeds it to the connection and sends the connection's output, until
/// neither moves (or [`MAX_PUMP_ROUNDS`]). `scratch` carries the bytes
/// both ways (the extension uses 4 KiB, the most one socket call moves).
/// A socket error is returned as it is: the caller drops the connection.
pub fn pump<S: Socket>(
    connection: &mut Connection,
    socket: &mut S,
    scratch: &mut [u8],
) -> Result<Pumped, S::Error> {
    // Once a receive returns less than asked, the socket is drained, and
    // once a send takes less than offered, it is full: the next event
    // (readable, writable) says when to try again.
    let mut receive_drained = false;
    let mut send_full = false;
    let mut pumped = Pumped {
        outcome: PumpOutcome::KeepOpen,
        bytes_received: 0,
        bytes_sent: 0,
    };
    for _ in 0..MAX_PUMP_ROUNDS {
        let mut progressed = false;
        let room = connection.input_room().min(scratch.len());
        if !receive_drained && !connection.has_peer_closed() && room > 0 {
            let (count, state) = socket.receive(&mut scratch[..room])?;
            let count = count.min(room);
            receive_drained = count < room;
            if count > 0 {
                connection.receive(&scratch[..count]);
                pumped.bytes_received += count;
                progressed = true;
            }
            match state {
                SocketState::Open => {}
                SocketState::PeerClosed => {
                    connection.peer_closed();
                    progressed = true;
                }
                SocketState::Closed => {
                    pumped.outcome = PumpOutcome::Gone;
                    return Ok(pumped);
                }
            }
        }
        while !send_full && connection.pending_output_bytes() > 0 {
            let count = connection.copy_output(scratch);
            let sent = socket.send(&scratch[..count])?.min(count);
            connection.advance_output(sent);
            pumped.bytes_sent += sent;
            progressed |= sent > 0;
            send_full = sent < count;
        }
        if connection.is_finished() {
            pumped.outcome = PumpOutcome::Close;
            return Ok(pumped);
        }
        if !progressed {
            break;
        }
    }
    Ok(pumped)
}
