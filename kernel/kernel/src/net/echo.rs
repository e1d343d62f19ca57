//! ICMP echo sockets for `ping`: one smoltcp ICMP socket on one interface.
//!
//! Invariant: the socket lives in its interface's socket set exactly as long
//! as its [`EchoSocket`].

use super::{STACK, choose_interface, wake_thread, with_stack};
use alloc::string::String;
use extension_abi::Status;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::icmp;
use smoltcp::wire::Ipv4Address;

/// An ICMP socket of one interface, bound to an identifier.
pub struct EchoSocket {
    interface: String,
    handle: SocketHandle,
}

impl EchoSocket {
    /// Opens one on interface `name` (or the first configured one).
    pub fn open(name: Option<&str>, ident: u16) -> Result<EchoSocket, Status> {
        with_stack(|stack| {
            let index = choose_interface(stack, name)?;
            let interface = &mut stack.interfaces[index];
            let buffer = || {
                icmp::PacketBuffer::new(
                    alloc::vec![icmp::PacketMetadata::EMPTY; 8],
                    alloc::vec![0u8; 2048],
                )
            };
            let mut socket = icmp::Socket::new(buffer(), buffer());
            socket
                .bind(icmp::Endpoint::Ident(ident))
                .map_err(|_| Status::Refused)?;
            let handle = interface.sockets.add(socket);
            Ok(EchoSocket {
                interface: interface.name.clone(),
                handle,
            })
        })
    }

    /// The interface's name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Sends an ICMP packet (already encoded) to `destination`.
    pub fn send(&self, packet: &[u8], destination: Ipv4Address) -> Result<(), Status> {
        with_stack(|stack| {
            let interface = stack
                .interfaces
                .iter_mut()
                .find(|interface| interface.name == self.interface)
                .ok_or(Status::NotRunning)?;
            interface
                .sockets
                .get_mut::<icmp::Socket>(self.handle)
                .send_slice(packet, destination.into())
                .map_err(|_| Status::NoResources)
        })?;
        wake_thread();
        Ok(())
    }

    /// A received ICMP packet, if one waits: its length and source.
    pub fn receive(&self, buffer: &mut [u8]) -> Option<(usize, Ipv4Address)> {
        let mut guard = STACK.lock();
        let interface = guard
            .as_mut()?
            .interfaces
            .iter_mut()
            .find(|interface| interface.name == self.interface)?;
        let socket = interface.sockets.get_mut::<icmp::Socket>(self.handle);
        match socket.recv_slice(buffer) {
            Ok((length, smoltcp::wire::IpAddress::Ipv4(source))) => Some((length, source)),
            _ => None,
        }
    }
}

impl Drop for EchoSocket {
    fn drop(&mut self) {
        let mut guard = STACK.lock();
        if let Some(interface) = guard.as_mut().and_then(|stack| {
            stack
                .interfaces
                .iter_mut()
                .find(|interface| interface.name == self.interface)
        }) {
            interface.sockets.remove(self.handle);
        }
    }
}
