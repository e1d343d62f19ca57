//! The stack's view of one interface's link: two frame queues in kernel
//! memory, so that smoltcp never calls into a driver.
//!
//! Invariants: `incoming` holds frames the driver delivered, oldest first;
//! `outgoing` holds frames smoltcp produced and the network thread has not
//! handed to the driver yet, at most [`MAX_OUTGOING_FRAMES`] (smoltcp is
//! told the link is busy beyond that).

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Frames waiting for the driver before the stack holds back.
pub const MAX_OUTGOING_FRAMES: usize = 256;
/// The largest Ethernet frame without its check sequence.
pub const MAX_FRAME_BYTES: usize = 1514;

/// The two queues of one interface.
#[derive(Default)]
pub struct FrameQueues {
    /// Received, not yet processed by the stack.
    pub incoming: VecDeque<Vec<u8>>,
    /// Produced by the stack, not yet taken by the driver.
    pub outgoing: VecDeque<Vec<u8>>,
}

/// A received frame handed to smoltcp.
pub struct ReceivedFrame(Vec<u8>);

/// Room for one frame smoltcp wants to send.
pub struct OutgoingFrame<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for ReceivedFrame {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

impl phy::TxToken for OutgoingFrame<'_> {
    fn consume<R, F>(self, length: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = alloc::vec![0u8; length];
        let result = f(&mut frame);
        self.0.push_back(frame);
        result
    }
}

impl Device for FrameQueues {
    type RxToken<'a> = ReceivedFrame;
    type TxToken<'a> = OutgoingFrame<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(ReceivedFrame, OutgoingFrame<'_>)> {
        if self.outgoing.len() >= MAX_OUTGOING_FRAMES {
            return None;
        }
        let frame = self.incoming.pop_front()?;
        Some((ReceivedFrame(frame), OutgoingFrame(&mut self.outgoing)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<OutgoingFrame<'_>> {
        (self.outgoing.len() < MAX_OUTGOING_FRAMES).then_some(OutgoingFrame(&mut self.outgoing))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = MAX_FRAME_BYTES;
        capabilities
    }
}
