//! Network scenarios with real peers: QEMU's user-mode network (its DHCP
//! server and gateway 10.0.2.2), TCP servers on this host (which the guest
//! reaches at 10.0.2.2), and this host's `curl` and `wrk` against the
//! guest's web server through forwarded ports.
//!
//! Invariants: every host-side server and client has a deadline; every
//! check compares what the guest reports with what the host observed
//! independently (byte counts and checksums computed on both sides).

use crate::{Failure, Verdict};
use qemu_harness::Session;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The host ports forwarded to the guest's port 80 in a network scenario.
#[derive(Debug, Clone, Copy)]
pub struct ForwardedPorts {
    /// Through the e1000's network.
    pub e1000_http: u16,
    /// Through the pcnet's network.
    pub pcnet_http: u16,
}

/// The byte at offset `index` of the kernel's `net` test stream (the
/// kernel's `net::shell_commands::pattern_byte`).
pub fn pattern_byte(index: u64) -> u8 {
    (index % 251) as u8
}

/// 64-bit FNV-1a, as the kernel's `net` command computes it.
#[derive(Clone, Copy, Debug)]
pub struct StreamChecksum(pub u64);

impl Default for StreamChecksum {
    fn default() -> Self {
        StreamChecksum(0xcbf2_9ce4_8422_2325)
    }
}

impl StreamChecksum {
    /// Adds bytes.
    pub fn add(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// What a host test server saw of one connection.
#[derive(Debug, Clone, Copy)]
pub struct ServerReport {
    /// Bytes received from the guest.
    pub received: u64,
    /// Their checksum.
    pub received_checksum: u64,
    /// Bytes sent to the guest.
    pub sent: u64,
}

/// What a host test server does with each connection.
#[derive(Debug, Clone, Copy)]
pub enum ServerMode {
    /// Echo everything back.
    Echo,
    /// Send this many bytes of the test pattern, then close.
    Source(u64),
    /// Read until the guest closes.
    Sink,
}

/// A TCP server on 127.0.0.1 (the guest reaches it as 10.0.2.2:port); it
/// serves connections one after another until dropped and reports each.
pub struct HostServer {
    /// Its port.
    pub port: u16,
    reports: mpsc::Receiver<ServerReport>,
}

impl HostServer {
    /// Starts one.
    pub fn start(mode: ServerMode) -> Result<HostServer, Failure> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Failure(format!("host server: bind: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| Failure(format!("host server: {e}")))?
            .port();
        let (sender, reports) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let report = serve(stream, mode);
                if sender.send(report).is_err() {
                    break;
                }
            }
        });
        Ok(HostServer { port, reports })
    }

    /// The report of the next finished connection, waiting up to `timeout`.
    pub fn next_report(&self, timeout: Duration) -> Result<ServerReport, Failure> {
        self.reports.recv_timeout(timeout).map_err(|_| {
            Failure(format!(
                "the host server on port {} saw no finished connection within {timeout:?}",
                self.port
            ))
        })
    }
}

fn serve(mut stream: TcpStream, mode: ServerMode) -> ServerReport {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let mut report = ServerReport {
        received: 0,
        received_checksum: StreamChecksum::default().0,
        sent: 0,
    };
    let mut checksum = StreamChecksum::default();
    let mut buffer = vec![0u8; 64 * 1024];
    match mode {
        ServerMode::Echo | ServerMode::Sink => loop {
            let count = match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(count) => count,
            };
            checksum.add(&buffer[..count]);
            report.received += count as u64;
            if matches!(mode, ServerMode::Echo) {
                if stream.write_all(&buffer[..count]).is_err() {
                    break;
                }
                report.sent += count as u64;
            }
        },
        ServerMode::Source(total) => {
            while report.sent < total {
                let length = (total - report.sent).min(buffer.len() as u64) as usize;
                for (offset, byte) in buffer[..length].iter_mut().enumerate() {
                    *byte = pattern_byte(report.sent + offset as u64);
                }
                if stream.write_all(&buffer[..length]).is_err() {
                    break;
                }
                report.sent += length as u64;
            }
            let _ = stream.shutdown(Shutdown::Write);
            // Drain until the guest closes.
            while let Ok(count) = stream.read(&mut buffer) {
                if count == 0 {
                    break;
                }
            }
        }
    }
    report.received_checksum = checksum.0;
    report
}

/// What the kernel's `net transfer|send|receive` printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestTransfer {
    /// Bytes sent.
    pub sent: u64,
    /// Their checksum.
    pub sent_checksum: u64,
    /// Bytes received.
    pub received: u64,
    /// Their checksum.
    pub received_checksum: u64,
    /// Milliseconds.
    pub milliseconds: u64,
    /// KiB/s.
    pub kibibytes_per_second: u64,
}

fn number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let rest = text[start..].trim_start();
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == 'x')
        .collect();
    match token.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => token.parse().ok(),
    }
}

/// Parses `VERB: sent N bytes (checksum 0x..), received N bytes (checksum
/// 0x..) in T ms, R KiB/s`.
pub fn parse_transfer(output: &str, verb: &str) -> Result<GuestTransfer, String> {
    let line = output
        .lines()
        .find(|line| line.starts_with(&format!("{verb}: sent ")))
        .ok_or_else(|| format!("no `{verb}: sent ...` line"))?;
    let field = |marker: &str| {
        number_after(line, marker).ok_or_else(|| format!("no `{marker}` number in `{line}`"))
    };
    let received_part = line
        .find("received")
        .map(|at| &line[at..])
        .ok_or_else(|| format!("no `received` in `{line}`"))?;
    Ok(GuestTransfer {
        sent: field("sent")?,
        sent_checksum: field("(checksum")?,
        received: number_after(received_part, "received").ok_or("no received count")?,
        received_checksum: number_after(received_part, "(checksum")
            .ok_or("no received checksum")?,
        milliseconds: field(" in")?,
        kibibytes_per_second: field("ms,")?,
    })
}

/// Counts `N bytes from HOST: icmp_seq=` lines of `ping`.
pub fn ping_replies(output: &str, host: &str) -> usize {
    output
        .lines()
        .filter(|line| line.contains(&format!("bytes from {host}: icmp_seq=")))
        .count()
}

/// The indented lines under interface `name` in `ifconfig`'s answer,
/// trimmed.
fn interface_lines<'a>(ifconfig: &'a str, name: &str) -> impl Iterator<Item = &'a str> {
    let header = format!("{name}:");
    ifconfig
        .lines()
        .skip_while(move |line| !line.starts_with(&header))
        .skip(1)
        .take_while(|line| line.starts_with(' '))
        .map(str::trim)
}

/// The `inet ADDRESS/PREFIX` of interface `name` in `ifconfig`'s answer.
pub fn interface_address(ifconfig: &str, name: &str) -> Option<String> {
    let rest = interface_lines(ifconfig, name).find_map(|line| line.strip_prefix("inet "))?;
    let address = rest.split_whitespace().next()?;
    (address != "none").then(|| address.to_string())
}

/// The `driver NAME (MODE, generation G)` of interface `name`.
pub fn interface_driver_generation(ifconfig: &str, name: &str) -> Option<u64> {
    interface_lines(ifconfig, name)
        .find(|line| line.starts_with("driver "))
        .and_then(|line| number_after(line, "generation"))
}

/// An HTTP response as this host's client saw it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header lines (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Fetches `http://127.0.0.1:PORT/PATH` with this host's `curl`.
pub fn curl(port: u16, path: &str) -> Result<HttpResponse, Failure> {
    curl_within(port, path, 20)
}

/// [`curl`] with a limit of `seconds` for the whole transfer.
pub fn curl_within(port: u16, path: &str, seconds: u32) -> Result<HttpResponse, Failure> {
    let output = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--max-time",
            &seconds.to_string(),
            "--include",
            "--http1.1",
        ])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .map_err(|e| {
            Failure(format!(
                "could not run curl (install it: apt-get install curl): {e}"
            ))
        })?;
    if !output.status.success() {
        return Err(Failure(format!(
            "curl {path} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse_http_response(&output.stdout).map_err(Failure)
}

/// Parses a raw HTTP/1.1 response (status line, headers, body).
pub fn parse_http_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line `{status_line}`"));
    }
    let status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line `{status_line}`"))?;
    let headers = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

impl HttpResponse {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends raw bytes to the guest's web server and returns what it answers
/// until it closes (or 10 s pass).
pub fn raw_http(port: u16, request: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| Failure(format!("connect to 127.0.0.1:{port}: {e}")))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| Failure(e.to_string()))?;
    stream
        .write_all(request)
        .map_err(|e| Failure(format!("send: {e}")))?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok(answer)
}

/// What `wrk` reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrkReport {
    /// Requests completed.
    pub requests: u64,
    /// Requests per second.
    pub requests_per_second: f64,
    /// Socket errors (connect, read, write, timeout) plus non-2xx answers.
    pub errors: u64,
}

/// Parses `wrk`'s summary.
pub fn parse_wrk(output: &str) -> Result<WrkReport, String> {
    let requests = output
        .lines()
        .find_map(|line| {
            let line = line.trim();
            let (count, rest) = line.split_once(" requests in ")?;
            let _ = rest;
            count.trim().parse::<u64>().ok()
        })
        .ok_or("no `N requests in` line")?;
    let requests_per_second = output
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Requests/sec:")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .ok_or("no `Requests/sec:` line")?;
    let mut errors = 0;
    for line in output.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            for part in rest.split(',') {
                errors += part
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().unwrap_or(0);
        }
    }
    Ok(WrkReport {
        requests,
        requests_per_second,
        errors,
    })
}

/// Runs `wrk` against `http://127.0.0.1:PORT/PATH`.
pub fn wrk(port: u16, path: &str, connections: u32, seconds: u32) -> Result<WrkReport, Failure> {
    let output = Command::new("wrk")
        .args([
            "-t1".to_string(),
            format!("-c{connections}"),
            format!("-d{seconds}s"),
            "--timeout".to_string(),
            "10s".to_string(),
        ])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .map_err(|e| {
            Failure(format!(
                "could not run wrk (install it: apt-get install wrk): {e}"
            ))
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_wrk(&text).map_err(|e| Failure(format!("wrk: {e}\n{text}")))
}

/// Waits until the boot log has shown every pattern (or fails at the
/// scenario's deadline).
fn wait_for_log(s: &mut Session, patterns: &[&str]) -> Result<(), Failure> {
    for pattern in patterns {
        if !s.transcript().contains(pattern) {
            s.expect_within(pattern, Duration::from_secs(60))
                .map_err(|e| Failure(format!("waiting for `{pattern}`: {e}")))?;
            // The shell draws its prompt again below a log line: take it,
            // so that the next command's answer starts after it.
            s.expect_prompt()
                .map_err(|e| Failure(format!("the prompt after `{pattern}`: {e}")))?;
        }
    }
    Ok(())
}

/// Boots, waits for both interfaces' DHCP leases.
fn boot_with_leases(s: &mut Session) -> Result<(), Failure> {
    s.expect_prompt()
        .map_err(|e| Failure(format!("booting to the shell: {e}")))?;
    wait_for_log(
        s,
        &[
            "net: e1000-0: DHCP lease 10.0.2.15/24",
            "net: pcnet-0: DHCP lease 10.0.2.15/24",
        ],
    )
}

fn command(s: &mut Session, line: &str) -> Result<String, Failure> {
    s.command(line)
        .map_err(|e| Failure(format!("`{line}`: {e}")))
}

/// DHCP on each NIC, and `ping 10.0.2.2` answered through each.
pub fn dhcp_and_ping(s: &mut Session, _: &ForwardedPorts) -> Verdict {
    boot_with_leases(s)?;
    let ifconfig = command(s, "ifconfig")?;
    for name in ["e1000-0", "pcnet-0"] {
        let address = interface_address(&ifconfig, name);
        if address.as_deref() != Some("10.0.2.15/24") {
            return Err(Failure(format!(
                "{name} has address {address:?}, expected 10.0.2.15/24 from QEMU's DHCP server\n{ifconfig}"
            )));
        }
    }
    let mut notes = Vec::new();
    for (line, interface) in [
        ("ping 10.0.2.2 3", "e1000-0"),
        ("ping 10.0.2.2 3 pcnet-0", "pcnet-0"),
    ] {
        let output = command(s, line)?;
        let replies = ping_replies(&output, "10.0.2.2");
        if replies != 3 {
            return Err(Failure(format!(
                "`{line}`: {replies} replies, expected 3\n{output}"
            )));
        }
        notes.push(format!("{interface} 3/3 replies"));
    }
    crate::shutdown(s)?;
    Ok(Some(notes.join(", ")))
}

/// A TCP transfer to a host echo server and back on each NIC, with the
/// guest's and the host's checksums compared.
pub fn tcp_transfer(s: &mut Session, _: &ForwardedPorts) -> Verdict {
    boot_with_leases(s)?;
    let server = HostServer::start(ServerMode::Echo)?;
    let bytes = 1024 * 1024u64;
    let expected = {
        let mut checksum = StreamChecksum::default();
        let stream: Vec<u8> = (0..bytes).map(pattern_byte).collect();
        checksum.add(&stream);
        checksum.0
    };
    let mut notes = Vec::new();
    for interface in ["e1000-0", "pcnet-0"] {
        let line = format!("net transfer 10.0.2.2 {} {bytes} {interface}", server.port);
        let output = command(s, &line)?;
        let guest = parse_transfer(&output, "transfer")
            .map_err(|e| Failure(format!("`{line}`: {e}\n{output}")))?;
        let host = server.next_report(Duration::from_secs(30))?;
        let problems = [
            (guest.sent != bytes, "the guest did not send everything"),
            (
                guest.sent_checksum != expected,
                "the guest's send checksum is not the pattern's",
            ),
            (
                host.received != bytes,
                "the host did not receive everything",
            ),
            (
                host.received_checksum != expected,
                "the host's checksum differs",
            ),
            (
                guest.received != bytes,
                "the guest did not get everything back",
            ),
            (
                guest.received_checksum != expected,
                "the echoed bytes' checksum differs",
            ),
        ];
        if let Some((_, problem)) = problems.iter().find(|(bad, _)| *bad) {
            return Err(Failure(format!(
                "{interface}: {problem}: guest {guest:?}, host {host:?}, pattern checksum {expected:#x}"
            )));
        }
        notes.push(format!(
            "{interface} 1 MiB each way in {} ms",
            guest.milliseconds
        ));
    }
    crate::shutdown(s)?;
    Ok(Some(notes.join(", ")))
}

/// This host's `curl` and `wrk` against the guest's web server.
pub fn http_curl_and_wrk(s: &mut Session, ports: &ForwardedPorts) -> Verdict {
    boot_with_leases(s)?;
    wait_for_log(s, &["httpd: listening on port 80"])?;
    for (interface, port) in [("e1000", ports.e1000_http), ("pcnet", ports.pcnet_http)] {
        let page = curl(port, "/")?;
        let body = String::from_utf8_lossy(&page.body);
        if page.status != 200 || !body.contains("<title>") {
            return Err(Failure(format!(
                "through {interface}: GET / answered {} with {body:?}",
                page.status
            )));
        }
        let length = page
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        if length != Some(page.body.len()) {
            return Err(Failure(format!(
                "through {interface}: Content-Length {length:?} but {} body bytes",
                page.body.len()
            )));
        }
    }
    let missing = curl(ports.e1000_http, "/no-such-page")?;
    if missing.status != 404 {
        return Err(Failure(format!(
            "GET /no-such-page answered {}",
            missing.status
        )));
    }
    let malformed = raw_http(ports.e1000_http, b"GARBAGE\r\n\r\n")?;
    let malformed =
        parse_http_response(&malformed).map_err(|e| Failure(format!("malformed request: {e}")))?;
    if malformed.status != 400 {
        return Err(Failure(format!(
            "a malformed request answered {}",
            malformed.status
        )));
    }
    let load = wrk(ports.e1000_http, "/", 4, 3)?;
    if load.errors != 0 || load.requests == 0 {
        return Err(Failure(format!("wrk: {load:?}")));
    }
    // The server is still up after the load and the bad request.
    let again = curl(ports.e1000_http, "/")?;
    if again.status != 200 {
        return Err(Failure(format!(
            "after wrk, GET / answered {}",
            again.status
        )));
    }
    crate::shutdown(s)?;
    Ok(Some(format!(
        "wrk: {} requests, {:.0} requests/s, 0 errors",
        load.requests, load.requests_per_second
    )))
}

/// The bound this scenario holds recovery to: from `ext crash` to a new
/// connection and a ping answered.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// Recovery under load: while this host downloads from the guest's web
/// server through the e1000, the e1000 driver is crashed; it restarts, the
/// interface comes back, a new connection succeeds and pings are answered
/// within [`RECOVERY_BOUND`].
pub fn e1000_recovery_under_load(s: &mut Session, ports: &ForwardedPorts) -> Verdict {
    boot_with_leases(s)?;
    wait_for_log(s, &["httpd: listening on port 80"])?;
    let port = ports.e1000_http;
    let (stop_sender, stop) = mpsc::channel::<()>();
    let load = thread::spawn(move || {
        let mut fetched = 0u64;
        while stop.try_recv().is_err() {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.write_all(
                    b"GET /big.bin HTTP/1.1\r\nHost: guest\r\nConnection: close\r\n\r\n",
                );
                let mut buffer = [0u8; 16 * 1024];
                while let Ok(count) = stream.read(&mut buffer) {
                    if count == 0 {
                        break;
                    }
                    fetched += count as u64;
                }
            }
        }
        fetched
    });
    thread::sleep(Duration::from_secs(1));
    let crashed_at = Instant::now();
    let output = command(s, "ext crash e1000 null-deref")?;
    if !output.contains("recovered") {
        stop_sender.send(()).ok();
        return Err(Failure(format!("`ext crash e1000 null-deref`: {output}")));
    }
    // A new connection and pings, as soon as they work.
    let mut connection_ok = None;
    while crashed_at.elapsed() < RECOVERY_BOUND * 2 {
        // Short attempts: a SYN sent while the driver is down is retried by
        // QEMU's network only after seconds, which would measure that.
        if let Ok(page) = curl_within(port, "/hello.txt", 1)
            && page.status == 200
        {
            connection_ok = Some(crashed_at.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    stop_sender.send(()).ok();
    let fetched = load.join().unwrap_or(0);
    let connection_after = connection_ok.ok_or_else(|| {
        Failure(format!(
            "no successful GET through the e1000 within {:?} of the crash",
            RECOVERY_BOUND * 2
        ))
    })?;
    let pings = command(s, "ping 10.0.2.2 3 e1000-0")?;
    let replies = ping_replies(&pings, "10.0.2.2");
    if replies == 0 {
        return Err(Failure(format!("no ping answered after recovery\n{pings}")));
    }
    let ifconfig = command(s, "ifconfig")?;
    let generation = interface_driver_generation(&ifconfig, "e1000-0");
    if generation != Some(1)
        || interface_address(&ifconfig, "e1000-0").as_deref() != Some("10.0.2.15/24")
    {
        return Err(Failure(format!(
            "after recovery e1000-0 is not back on generation 1 with its address:\n{ifconfig}"
        )));
    }
    if connection_after > RECOVERY_BOUND {
        return Err(Failure(format!(
            "the first new connection succeeded {connection_after:?} after the crash, over the {RECOVERY_BOUND:?} bound"
        )));
    }
    if fetched == 0 {
        return Err(Failure(
            "the load generator fetched nothing: there was no load".into(),
        ));
    }
    crate::shutdown(s)?;
    Ok(Some(format!(
        "new connection {} ms after the crash, {replies}/3 pings, {} KiB fetched under load",
        connection_after.as_millis(),
        fetched / 1024
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_lines_parse_and_bad_ones_do_not() {
        let output = "transfer: sent 1048576 bytes (checksum 0x00000000deadbeef), received 1048576 bytes (checksum 0x00000000deadbeef) in 812 ms, 1261 KiB/s\ntransfer: checksums equal\n";
        let parsed = parse_transfer(output, "transfer").unwrap();
        assert_eq!(
            parsed,
            GuestTransfer {
                sent: 1_048_576,
                sent_checksum: 0xdead_beef,
                received: 1_048_576,
                received_checksum: 0xdead_beef,
                milliseconds: 812,
                kibibytes_per_second: 1261
            }
        );
        assert!(parse_transfer("transfer: failed: no route", "transfer").is_err());
        assert!(parse_transfer(output, "send").is_err());
    }

    #[test]
    fn ifconfig_fields_are_found_per_interface() {
        let ifconfig = "e1000-0: mac 52:54:00:12:34:56\n    inet 10.0.2.15/24 gateway 10.0.2.2 (DHCP, 1 lease(s))\n    driver e1000 (isolated, generation 1), bound 2 time(s)\npcnet-0: mac 52:54:00:12:34:57\n    inet none (waiting for a DHCP lease)\n    driver pcnet (isolated, generation 0), bound 1 time(s)\n";
        assert_eq!(
            interface_address(ifconfig, "e1000-0").as_deref(),
            Some("10.0.2.15/24")
        );
        assert_eq!(interface_address(ifconfig, "pcnet-0"), None);
        assert_eq!(interface_driver_generation(ifconfig, "e1000-0"), Some(1));
        assert_eq!(interface_driver_generation(ifconfig, "pcnet-0"), Some(0));
        assert_eq!(interface_address(ifconfig, "eth9"), None);
    }

    #[test]
    fn ping_replies_count_only_the_host_asked() {
        let output = "PING 10.0.2.2\n64 bytes from 10.0.2.2: icmp_seq=1 time=1.2 ms\nno reply for icmp_seq=2 within 1 s\n64 bytes from 10.0.2.3: icmp_seq=3 time=1 ms\n";
        assert_eq!(ping_replies(output, "10.0.2.2"), 1);
    }

    #[test]
    fn http_responses_parse() {
        let raw =
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nno!";
        let response = parse_http_response(raw).unwrap();
        assert_eq!(response.status, 404);
        assert_eq!(response.header("content-length"), Some("3"));
        assert_eq!(response.body, b"no!");
        assert!(parse_http_response(b"garbage").is_err());
        assert!(parse_http_response(b"SIP/2.0 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn wrk_summaries_parse_with_their_errors() {
        let clean = "Running 3s test @ http://127.0.0.1:8080/\n  1 threads and 4 connections\n  1234 requests in 3.00s, 1.21MB read\nRequests/sec:    411.22\nTransfer/sec:    412.00KB\n";
        let report = parse_wrk(clean).unwrap();
        assert_eq!(report.requests, 1234);
        assert_eq!(report.errors, 0);
        assert!((report.requests_per_second - 411.22).abs() < 1e-9);
        let failing = format!(
            "{clean}  Socket errors: connect 0, read 2, write 0, timeout 3\n  Non-2xx or 3xx responses: 4\n"
        );
        assert_eq!(parse_wrk(&failing).unwrap().errors, 9);
        assert!(parse_wrk("nothing").is_err());
    }

    #[test]
    fn the_host_servers_checksum_what_they_get() {
        let server = HostServer::start(ServerMode::Echo).unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let data: Vec<u8> = (0..10_000).map(pattern_byte).collect();
        stream.write_all(&data).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        stream.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        let report = server.next_report(Duration::from_secs(5)).unwrap();
        let mut expected = StreamChecksum::default();
        expected.add(&data);
        assert_eq!(
            (report.received, report.received_checksum),
            (10_000, expected.0)
        );
        let source = HostServer::start(ServerMode::Source(5000)).unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", source.port)).unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        drop(stream);
        assert_eq!(got, (0..5000).map(pattern_byte).collect::<Vec<u8>>());
    }
}
