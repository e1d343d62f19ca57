//! The shell's network commands: `ifconfig`, `ping`, `netstat` and `net`
//! (TCP transfers to and from a host, batching, counters).
//!
//! Invariant: every bad argument prints one line saying what was expected;
//! every wait has a deadline, so no command hangs the shell.

use super::{COUNTERS, EchoSocket, SocketId};
use crate::println;
use core::net::Ipv4Addr;
use core::sync::atomic::Ordering;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr};

/// Usage of `ping`.
pub const PING_USAGE: &str = "ping HOST [COUNT] [INTERFACE]";
/// Usage of `net`.
pub const NET_USAGE: &str =
    "net transfer|send|receive HOST PORT BYTES [INTERFACE] | batch [on|off] | counters";

/// The byte at offset `index` of the test stream `net` sends (a prime
/// period, so it never lines up with buffer sizes).
pub fn pattern_byte(index: u64) -> u8 {
    (index % 251) as u8
}

/// 64-bit FNV-1a over a stream, as the host's test servers compute it.
#[derive(Clone, Copy)]
pub struct StreamChecksum(u64);

impl StreamChecksum {
    /// The checksum of nothing.
    pub const fn new() -> StreamChecksum {
        StreamChecksum(0xcbf2_9ce4_8422_2325)
    }

    /// Adds bytes.
    pub fn add(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The value so far.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// Runs `ifconfig`.
pub fn ifconfig(arguments: &[&str]) {
    if !arguments.is_empty() {
        println!("usage: ifconfig");
        return;
    }
    // Right after boot the leases are usually on their way.
    super::wait_for_lease(None, 3000);
    super::wait_for_all_leases(3000);
    let interfaces = super::interfaces();
    if interfaces.is_empty() {
        println!("no network interfaces (no network driver has registered a device)");
        return;
    }
    let extensions = crate::nim::list();
    for interface in interfaces {
        let mac = interface.mac;
        println!(
            "{}: mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            interface.name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        );
        match interface.address {
            Some((address, prefix)) => println!(
                "    inet {address}/{prefix} gateway {} (DHCP, {} lease(s))",
                interface
                    .gateway
                    .map(|gateway| alloc::format!("{gateway}"))
                    .unwrap_or_else(|| alloc::string::String::from("none")),
                interface.leases
            ),
            None => println!("    inet none (waiting for a DHCP lease)"),
        }
        if !interface.dns_servers.is_empty() {
            let servers: alloc::vec::Vec<alloc::string::String> = interface
                .dns_servers
                .iter()
                .map(|server| alloc::format!("{server}"))
                .collect();
            println!("    dns {}", servers.join(" "));
        }
        match interface.driver {
            Some((slot, generation)) => {
                let extension = extensions.iter().find(|summary| summary.slot == slot);
                let (name, mode) = extension
                    .map(|summary| (summary.name.as_str(), summary.mode.name()))
                    .unwrap_or(("?", "?"));
                println!(
                    "    driver {name} ({mode}, generation {generation}), bound {} time(s)",
                    interface.bindings
                );
                if let Some(device) = super::interface_device(&interface.name) {
                    match device.network_statistics() {
                        Ok(statistics) => println!(
                            "    link {}, rx {} packets {} bytes, tx {} packets {} bytes, errors {}, dropped {}",
                            if statistics.link_up { "up" } else { "down" },
                            statistics.received_packets,
                            statistics.received_bytes,
                            statistics.sent_packets,
                            statistics.sent_bytes,
                            statistics.errors,
                            device.frames_dropped()
                        ),
                        Err(error) => println!("    statistics unavailable ({error:?})"),
                    }
                }
            }
            None => println!("    driver none (waiting for its driver to come back)"),
        }
    }
}

fn parse_host(text: &str) -> Option<Ipv4Addr> {
    let host = text.parse::<Ipv4Addr>().ok();
    if host.is_none() {
        println!("bad address `{text}`: expected a dotted IPv4 address such as 10.0.2.2");
    }
    host
}

/// Runs `ping HOST [COUNT] [INTERFACE]`.
pub fn ping(arguments: &[&str]) {
    let (host, count, interface) = match arguments {
        [host] => (*host, "4", None),
        [host, count] => (*host, *count, None),
        [host, count, interface] => (*host, *count, Some(*interface)),
        _ => {
            println!("usage: {PING_USAGE}");
            return;
        }
    };
    let Some(host) = parse_host(host) else {
        return;
    };
    let count = match count.parse::<u16>() {
        Ok(count) if (1..=1000).contains(&count) => count,
        _ => {
            println!("bad count `{count}`: expected 1 to 1000");
            return;
        }
    };
    super::wait_for_lease(interface, 5000);
    let identifier = (crate::time::uptime_us() & 0xffff) as u16;
    let socket = match EchoSocket::open(interface, identifier) {
        Ok(socket) => socket,
        Err(_) => {
            println!(
                "ping: no configured interface{} (see ifconfig)",
                interface
                    .map(|name| alloc::format!(" named {name}"))
                    .unwrap_or_default()
            );
            return;
        }
    };
    let source = super::interface_address(Some(socket.interface()))
        .map(|(_, address)| alloc::format!("{address}"))
        .unwrap_or_default();
    println!(
        "PING {host} from {source} via {}: 56 data bytes",
        socket.interface()
    );
    let payload = [0x5au8; 56];
    let mut replies = 0;
    for sequence in 1..=count {
        let repr = Icmpv4Repr::EchoRequest {
            ident: identifier,
            seq_no: sequence,
            data: &payload,
        };
        let mut packet_bytes = alloc::vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut Icmpv4Packet::new_unchecked(&mut packet_bytes),
            &ChecksumCapabilities::default(),
        );
        let sent_at = crate::time::uptime_us();
        if socket.send(&packet_bytes, host).is_err() {
            println!("ping: cannot send (the interface's queue is full)");
            continue;
        }
        let deadline = sent_at + 1_000_000;
        let mut buffer = [0u8; 256];
        let mut answered = false;
        while crate::time::uptime_us() < deadline {
            if let Some((length, from)) = socket.receive(&mut buffer)
                && let Ok(packet) = Icmpv4Packet::new_checked(&buffer[..length])
                && let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) =
                    Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default())
                && ident == identifier
                && seq_no == sequence
                && from == host
            {
                let elapsed = crate::time::uptime_us() - sent_at;
                println!(
                    "{length} bytes from {from}: icmp_seq={sequence} time={}.{:03} ms",
                    elapsed / 1000,
                    elapsed % 1000
                );
                replies += 1;
                answered = true;
                break;
            }
            let _ = crate::sched::sleep_ms(1);
        }
        if !answered {
            println!("no reply for icmp_seq={sequence} within 1 s");
        }
        if sequence < count {
            let _ = crate::sched::sleep_ms(100);
        }
    }
    println!(
        "--- {host}: {count} packets transmitted, {replies} received, {}% packet loss",
        (u32::from(count) - replies) * 100 / u32::from(count)
    );
}

/// Runs `netstat`.
pub fn netstat(arguments: &[&str]) {
    if !arguments.is_empty() {
        println!("usage: netstat");
        return;
    }
    let rows = super::socket_summaries();
    println!("proto  local                  remote                 state                    owner");
    for row in &rows {
        let owner = match row.owner {
            Some((slot, generation)) => {
                let name = crate::nim::list()
                    .into_iter()
                    .find(|summary| summary.slot == slot)
                    .map(|summary| summary.name)
                    .unwrap_or_else(|| alloc::string::String::from("?"));
                alloc::format!("{name} (generation {generation})")
            }
            None => alloc::string::String::from("kernel"),
        };
        println!(
            "{:<6} {:<22} {:<22} {:<24} {owner}",
            row.kind, row.local, row.remote, row.state
        );
    }
    println!("{} socket(s)", rows.len());
}

/// What a `net` transfer did.
pub struct TransferReport {
    /// Bytes sent.
    pub sent: u64,
    /// Checksum of the bytes sent.
    pub sent_checksum: u64,
    /// Bytes received.
    pub received: u64,
    /// Checksum of the bytes received.
    pub received_checksum: u64,
    /// Microseconds from connected to done.
    pub elapsed_us: u64,
}

/// How a kernel TCP transfer went wrong.
pub enum TransferError {
    /// No interface, or the stack refused the socket.
    NoRoute,
    /// The connection was not established within the deadline.
    ConnectTimeout,
    /// The connection closed or made no progress for 10 s.
    Stalled {
        /// Bytes sent by then.
        sent: u64,
        /// Bytes received by then.
        received: u64,
    },
}

/// Connects to `host:port`, sends `send_bytes` of the test pattern while
/// reading until `receive_bytes` arrived (or, with `None`, until the peer
/// closes), then closes. Blocks the calling thread (not for interrupts).
pub fn transfer(
    interface: Option<&str>,
    host: Ipv4Addr,
    port: u16,
    send_bytes: u64,
    receive_bytes: Option<u64>,
) -> Result<TransferReport, TransferError> {
    super::wait_for_lease(interface, 5000);
    let id = super::connect(interface, (host, port)).map_err(|_| TransferError::NoRoute)?;
    let result = run_transfer(id, send_bytes, receive_bytes);
    super::close(id);
    result
}

fn run_transfer(
    id: SocketId,
    send_bytes: u64,
    receive_bytes: Option<u64>,
) -> Result<TransferReport, TransferError> {
    use smoltcp::socket::tcp::State;
    let connect_deadline = crate::time::uptime_us() + 10_000_000;
    loop {
        match super::connection_state(id) {
            Some(State::Established) => break,
            Some(State::SynSent) | Some(State::SynReceived) => {}
            _ => return Err(TransferError::ConnectTimeout),
        }
        if crate::time::uptime_us() > connect_deadline {
            return Err(TransferError::ConnectTimeout);
        }
        let _ = crate::sched::sleep_ms(1);
    }
    let started = crate::time::uptime_us();
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut sent_checksum = StreamChecksum::new();
    let mut received_checksum = StreamChecksum::new();
    let mut last_progress = started;
    let mut chunk = [0u8; 4096];
    let mut incoming = [0u8; 4096];
    let mut sending_done = send_bytes == 0;
    loop {
        let mut progressed = false;
        if sent < send_bytes {
            let length = (send_bytes - sent).min(chunk.len() as u64) as usize;
            for (offset, byte) in chunk[..length].iter_mut().enumerate() {
                *byte = pattern_byte(sent + offset as u64);
            }
            let taken = super::send(id, &chunk[..length])
                .map_err(|_| TransferError::Stalled { sent, received })?;
            sent_checksum.add(&chunk[..taken]);
            sent += taken as u64;
            progressed |= taken > 0;
        } else if !sending_done {
            sending_done = true;
        }
        let (state, count) = super::receive(id, &mut incoming)
            .map_err(|_| TransferError::Stalled { sent, received })?;
        received_checksum.add(&incoming[..count]);
        received += count as u64;
        progressed |= count > 0;
        let receiving_done = match receive_bytes {
            Some(wanted) => received >= wanted,
            None => state != extension_abi::interfaces::kernel::ConnectionState::Open,
        };
        if sending_done && receiving_done {
            break;
        }
        if state == extension_abi::interfaces::kernel::ConnectionState::Closed
            && !(sending_done && receiving_done)
        {
            return Err(TransferError::Stalled { sent, received });
        }
        let now = crate::time::uptime_us();
        if progressed {
            last_progress = now;
            crate::sched::yield_now();
        } else {
            if now - last_progress > 10_000_000 {
                return Err(TransferError::Stalled { sent, received });
            }
            let _ = crate::sched::sleep_ms(1);
        }
    }
    Ok(TransferReport {
        sent,
        sent_checksum: sent_checksum.value(),
        received,
        received_checksum: received_checksum.value(),
        elapsed_us: crate::time::uptime_us() - started,
    })
}

fn kibibytes_per_second(bytes: u64, microseconds: u64) -> u64 {
    bytes * 1_000_000 / 1024 / microseconds.max(1)
}

/// Runs `net ...`.
pub fn run(arguments: &[&str]) {
    match arguments {
        ["batch"] => println!("batching {}", if super::batching() { "on" } else { "off" }),
        ["batch", "on"] => {
            super::set_batching(true);
            println!("batching on");
        }
        ["batch", "off"] => {
            super::set_batching(false);
            println!("batching off");
        }
        ["counters"] => println!(
            "driver polls {}, transmit calls {}, frames sent {}, frames received {}, frames dropped {}, socket events {}, rounds {}",
            COUNTERS.driver_polls.load(Ordering::Relaxed),
            COUNTERS.transmit_calls.load(Ordering::Relaxed),
            COUNTERS.frames_sent.load(Ordering::Relaxed),
            COUNTERS.frames_received.load(Ordering::Relaxed),
            COUNTERS.frames_dropped.load(Ordering::Relaxed),
            COUNTERS.socket_events.load(Ordering::Relaxed),
            COUNTERS.rounds.load(Ordering::Relaxed)
        ),
        [
            verb @ ("transfer" | "send" | "receive"),
            host,
            port,
            bytes,
            rest @ ..,
        ] if rest.len() <= 1 => {
            let Some(host) = parse_host(host) else {
                return;
            };
            let Ok(port) = port.parse::<u16>() else {
                println!("bad port `{port}`: expected 1 to 65535");
                return;
            };
            let Ok(bytes) = bytes.parse::<u64>() else {
                println!("bad byte count `{bytes}`");
                return;
            };
            let interface = rest.first().copied();
            let (send, receive) = match *verb {
                "transfer" => (bytes, Some(bytes)),
                "send" => (bytes, Some(0)),
                _ => (0, Some(bytes)),
            };
            match transfer(interface, host, port, send, receive) {
                Ok(report) => {
                    let moved = report.sent.max(report.received);
                    println!(
                        "{verb}: sent {} bytes (checksum {:#018x}), received {} bytes (checksum {:#018x}) in {} ms, {} KiB/s",
                        report.sent,
                        report.sent_checksum,
                        report.received,
                        report.received_checksum,
                        report.elapsed_us / 1000,
                        kibibytes_per_second(moved, report.elapsed_us)
                    );
                    if *verb == "transfer" {
                        let equal = report.sent == report.received
                            && report.sent_checksum == report.received_checksum;
                        println!(
                            "transfer: checksums {}",
                            if equal { "equal" } else { "DIFFER" }
                        );
                    }
                }
                Err(TransferError::NoRoute) => {
                    println!("{verb}: failed: no configured interface (see ifconfig)")
                }
                Err(TransferError::ConnectTimeout) => {
                    println!(
                        "{verb}: failed: {host}:{port} did not accept a connection within 10 s"
                    )
                }
                Err(TransferError::Stalled { sent, received }) => println!(
                    "{verb}: failed: the connection closed or stalled after sending {sent} and receiving {received} bytes"
                ),
            }
        }
        _ => println!("usage: {NET_USAGE}"),
    }
}
