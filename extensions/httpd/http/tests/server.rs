//! The server over a simulated network that behaves like the kernel's
//! socket services: handles are never reused, and using one after it was
//! closed (or one never handed out) panics, as the kernel's wrapper check
//! would fault the extension. Scenarios: accepting everything waiting,
//! 503 when full, evicting idle connections, output resumed on writable
//! events, resets, a lost listener, refused listening; and a randomized
//! simulation of many clients.

mod common;

use common::parse_responses;
use deterministic_rng::XorShift;
use http_server::site::{BIG_BODY_BYTES, HELLO_TEXT};
use http_server::{
    EVENT_ACCEPTABLE, EVENT_CLOSED, EVENT_READABLE, EVENT_WRITABLE, EventOutcome, HTTP_PORT,
    IDLE_EVICTION_MS, LISTEN_BACKLOG, MAX_CONNECTIONS, Network, SERVICE_UNAVAILABLE_RESPONSE,
    SOCKET_CALL_BYTES, Server, SocketState, StatusCode,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One client connection, as the simulated kernel holds it.
#[derive(Default)]
struct Client {
    /// What the client sends.
    request: Vec<u8>,
    /// How much of it the server received.
    delivered: usize,
    /// The client sends FIN after its request.
    fin: bool,
    /// A receive has reported the FIN.
    fin_reported: bool,
    /// The connection was reset: receives report `Closed`.
    reset: bool,
    /// Everything the server queued on it, in order.
    output: Vec<u8>,
    /// Queued bytes not yet taken off the send buffer by the client.
    in_send_buffer: usize,
    send_buffer_bytes: usize,
    /// The server closed it.
    closed: bool,
}

/// The kernel's socket services, simulated.
struct SimulatedNetwork {
    refuse_listens: usize,
    listener: Option<u64>,
    listens: usize,
    next_handle: u64,
    waiting: VecDeque<u64>,
    clients: BTreeMap<u64, Client>,
    accepted: BTreeSet<u64>,
    released: BTreeSet<u64>,
    now: u64,
    /// Receives deliver at most this much per call.
    largest_piece: usize,
}

impl SimulatedNetwork {
    fn new() -> Self {
        SimulatedNetwork {
            refuse_listens: 0,
            listener: None,
            listens: 0,
            next_handle: 100,
            waiting: VecDeque::new(),
            clients: BTreeMap::new(),
            accepted: BTreeSet::new(),
            released: BTreeSet::new(),
            now: 0,
            largest_piece: SOCKET_CALL_BYTES,
        }
    }

    fn handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }

    /// A client connects; returns its future socket handle.
    fn connect(&mut self, request: &[u8], fin: bool, send_buffer_bytes: usize) -> u64 {
        let socket = self.handle();
        self.clients.insert(
            socket,
            Client {
                request: request.to_vec(),
                fin,
                send_buffer_bytes,
                ..Client::default()
            },
        );
        self.waiting.push_back(socket);
        socket
    }

    /// A handle the server may use: handed out and not released.
    fn check_live(&self, socket: u64) {
        assert!(
            !self.released.contains(&socket),
            "the server used socket {socket} after closing it"
        );
        assert!(
            self.accepted.contains(&socket) || self.listener == Some(socket),
            "the server used socket {socket}, which it was never given"
        );
    }

    /// The client reads what the server sent, making room in the send
    /// buffer; returns the events that follows: `writable` if the buffer
    /// had been full.
    fn drain(&mut self, socket: u64) -> u8 {
        let Some(client) = self.clients.get_mut(&socket) else {
            return 0;
        };
        let was_full = client.in_send_buffer == client.send_buffer_bytes;
        client.in_send_buffer = 0;
        if was_full { EVENT_WRITABLE } else { 0 }
    }

    /// The events the kernel reports for `socket` without a drain:
    /// readable while data or an unreported FIN waits, closed once reset.
    fn events(&self, socket: u64) -> u8 {
        let client = &self.clients[&socket];
        let mut events = 0;
        if client.delivered < client.request.len() || (client.fin && !client.fin_reported) {
            events |= EVENT_READABLE;
        }
        if client.reset {
            events |= EVENT_CLOSED;
        }
        events
    }

    /// Sockets the server holds (accepted, not released).
    fn live_connections(&self) -> Vec<u64> {
        self.accepted
            .iter()
            .copied()
            .filter(|socket| !self.released.contains(socket))
            .collect()
    }
}

impl Network for SimulatedNetwork {
    type Socket = u64;
    type Error = &'static str;

    fn listen(&mut self, port: u16, backlog: u8) -> Result<u64, &'static str> {
        assert_eq!((port, backlog), (HTTP_PORT, LISTEN_BACKLOG));
        assert!(
            self.listener
                .is_none_or(|listener| self.released.contains(&listener)),
            "a second listener while the first is held"
        );
        if self.refuse_listens > 0 {
            self.refuse_listens -= 1;
            return Err("refused");
        }
        let listener = self.handle();
        self.listener = Some(listener);
        self.listens += 1;
        Ok(listener)
    }

    fn accept(&mut self, listener: u64) -> Result<Option<u64>, &'static str> {
        self.check_live(listener);
        assert_eq!(Some(listener), self.listener, "accept on a connection");
        let socket = self.waiting.pop_front();
        if let Some(socket) = socket {
            self.accepted.insert(socket);
        }
        Ok(socket)
    }

    fn receive(
        &mut self,
        socket: u64,
        buffer: &mut [u8],
    ) -> Result<(usize, SocketState), &'static str> {
        self.check_live(socket);
        assert!((1..=SOCKET_CALL_BYTES).contains(&buffer.len()));
        let largest = self.largest_piece;
        let client = self.clients.get_mut(&socket).expect("a connection");
        if client.reset {
            return Ok((0, SocketState::Closed));
        }
        let count = (client.request.len() - client.delivered)
            .min(buffer.len())
            .min(largest);
        buffer[..count]
            .copy_from_slice(&client.request[client.delivered..client.delivered + count]);
        client.delivered += count;
        let state = if client.fin && client.delivered == client.request.len() {
            client.fin_reported = true;
            SocketState::PeerClosed
        } else {
            SocketState::Open
        };
        Ok((count, state))
    }

    fn send(&mut self, socket: u64, bytes: &[u8]) -> Result<usize, &'static str> {
        self.check_live(socket);
        assert!((1..=SOCKET_CALL_BYTES).contains(&bytes.len()));
        let client = self.clients.get_mut(&socket).expect("a connection");
        if client.reset {
            return Err("reset");
        }
        let count = bytes
            .len()
            .min(client.send_buffer_bytes - client.in_send_buffer);
        client.output.extend_from_slice(&bytes[..count]);
        client.in_send_buffer += count;
        Ok(count)
    }

    fn close(&mut self, socket: u64) {
        self.check_live(socket);
        self.released.insert(socket);
        if let Some(client) = self.clients.get_mut(&socket) {
            client.closed = true;
        }
    }

    fn now_ms(&mut self) -> u64 {
        self.now
    }
}

/// Delivers the events the network has until nothing changes (clients
/// read everything they are sent).
fn settle(server: &mut Server<u64>, network: &mut SimulatedNetwork) {
    for _ in 0..10_000 {
        let mut any = false;
        if let Some(listener) = network.listener.filter(|_| !network.waiting.is_empty()) {
            assert_eq!(
                server.on_socket_event(network, listener, EVENT_ACCEPTABLE),
                EventOutcome::Served
            );
            any = true;
        }
        for socket in network.live_connections() {
            let before = (
                network.clients[&socket].delivered,
                network.clients[&socket].output.len(),
            );
            let events = network.drain(socket) | network.events(socket);
            if events != 0 {
                server.on_socket_event(network, socket, events);
            }
            let client = &network.clients[&socket];
            any |= before != (client.delivered, client.output.len()) || client.closed;
        }
        assert!(server.connection_count() <= MAX_CONNECTIONS);
        if !any {
            return;
        }
    }
    panic!("the network never settles");
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

fn get_and_close(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").into_bytes()
}

fn listening() -> (Server<u64>, SimulatedNetwork) {
    let mut server = Server::new();
    let mut network = SimulatedNetwork::new();
    server.listen(&mut network).unwrap();
    assert!(server.is_listening());
    (server, network)
}

#[test]
fn every_waiting_connection_is_accepted_and_served() {
    let (mut server, mut network) = listening();
    let sockets: Vec<u64> = (0..5)
        .map(|_| network.connect(&[get("/hello.txt"), get("/")].concat(), false, 65_536))
        .collect();
    let listener = network.listener.unwrap();
    assert_eq!(
        server.on_socket_event(&mut network, listener, EVENT_ACCEPTABLE),
        EventOutcome::Served
    );
    // Accepted and served on the spot: the requests were waiting.
    assert_eq!(server.connection_count(), 5);
    for socket in &sockets {
        let client = &network.clients[socket];
        let responses = parse_responses(&client.output).unwrap();
        assert_eq!(responses.len(), 2);
        assert_eq!(responses[0].body.as_deref(), Some(HELLO_TEXT.as_bytes()));
        assert!(!client.closed);
    }
    assert_eq!(server.counters().accepted, 5);
    assert_eq!(server.counters().responses, 10);
    // Keep-alive: another request on one of them.
    let socket = sockets[2];
    network
        .clients
        .get_mut(&socket)
        .unwrap()
        .request
        .extend(get_and_close("/missing"));
    server.on_socket_event(&mut network, socket, EVENT_READABLE);
    let client = &network.clients[&socket];
    let responses = parse_responses(&client.output).unwrap();
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[2].status, StatusCode::NotFound);
    assert!(client.closed);
    assert_eq!(server.connection_count(), 4);
    // A late event for the closed socket is ignored (and uses nothing).
    assert_eq!(
        server.on_socket_event(&mut network, socket, EVENT_READABLE | EVENT_CLOSED),
        EventOutcome::Ignored
    );
    server.close_everything(&mut network);
    assert!(network.live_connections().is_empty());
    assert!(network.released.contains(&listener));
}

#[test]
fn a_full_table_answers_503_and_closes_until_a_connection_is_idle() {
    let (mut server, mut network) = listening();
    for _ in 0..MAX_CONNECTIONS {
        network.connect(&get("/"), false, 65_536);
    }
    settle(&mut server, &mut network);
    assert_eq!(server.connection_count(), MAX_CONNECTIONS);
    // One more, soon after: 503, closed.
    network.now = IDLE_EVICTION_MS - 1;
    let extra = network.connect(&get("/"), false, 65_536);
    settle(&mut server, &mut network);
    assert_eq!(network.clients[&extra].output, SERVICE_UNAVAILABLE_RESPONSE);
    assert!(network.clients[&extra].closed);
    assert_eq!(server.counters().refused_when_full, 1);
    // Activity keeps the first connection; once the others have been idle
    // long enough, the next newcomer evicts the idlest of them.
    let first = *network.accepted.iter().next().unwrap();
    network.now = IDLE_EVICTION_MS - 1;
    network
        .clients
        .get_mut(&first)
        .unwrap()
        .request
        .extend(get("/hello.txt"));
    settle(&mut server, &mut network);
    network.now = IDLE_EVICTION_MS;
    let newcomer = network.connect(&get("/hello.txt"), false, 65_536);
    settle(&mut server, &mut network);
    assert_eq!(server.counters().evicted_when_idle, 1);
    assert_eq!(server.connection_count(), MAX_CONNECTIONS);
    assert!(!network.clients[&first].closed);
    assert!(!network.clients[&newcomer].closed);
    assert_eq!(
        parse_responses(&network.clients[&newcomer].output)
            .unwrap()
            .len(),
        1
    );
    let evicted: Vec<_> = network
        .clients
        .iter()
        .filter(|(socket, client)| client.closed && **socket != extra)
        .map(|(socket, _)| *socket)
        .collect();
    assert_eq!(evicted.len(), 1);
    // The evicted one had its answer before, whole.
    assert_eq!(
        parse_responses(&network.clients[&evicted[0]].output)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn output_the_socket_cannot_take_goes_out_on_writable_events() {
    let (mut server, mut network) = listening();
    // A send buffer of 1000 bytes: /big.bin takes 66 rounds.
    let socket = network.connect(
        &[get("/big.bin"), get_and_close("/hello.txt")].concat(),
        false,
        1000,
    );
    let listener = network.listener.unwrap();
    server.on_socket_event(&mut network, listener, EVENT_ACCEPTABLE);
    let mut events = 0;
    while !network.clients[&socket].closed {
        assert_eq!(
            network.clients[&socket].in_send_buffer, 1000,
            "a send stopped early"
        );
        network.drain(socket);
        server.on_socket_event(&mut network, socket, EVENT_WRITABLE);
        events += 1;
        assert!(events < 1000);
    }
    assert!(events >= BIG_BODY_BYTES / 1000);
    let responses = parse_responses(&network.clients[&socket].output).unwrap();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].content_length, BIG_BODY_BYTES);
    assert!(responses[0].body.is_some());
    assert!(!responses[1].keep_alive);
    assert_eq!(server.counters().closed, 1);
}

#[test]
fn a_peer_close_and_a_reset_release_the_socket_once() {
    let (mut server, mut network) = listening();
    let polite = network.connect(&get("/"), true, 65_536);
    let rude = network.connect(b"GET / HT", false, 65_536);
    settle(&mut server, &mut network);
    assert!(network.clients[&polite].closed);
    assert_eq!(
        parse_responses(&network.clients[&polite].output)
            .unwrap()
            .len(),
        1
    );
    assert!(!network.clients[&rude].closed);
    network.clients.get_mut(&rude).unwrap().reset = true;
    assert_eq!(
        server.on_socket_event(&mut network, rude, EVENT_CLOSED),
        EventOutcome::Served
    );
    assert!(network.clients[&rude].closed);
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.counters().lost, 1);
    assert_eq!(server.counters().closed, 1);
    assert_eq!(
        server.on_socket_event(&mut network, rude, EVENT_CLOSED),
        EventOutcome::Ignored
    );
}

#[test]
fn refused_listening_is_retried_and_a_lost_listener_replaced() {
    let mut server = Server::new();
    let mut network = SimulatedNetwork::new();
    network.refuse_listens = 2;
    assert_eq!(server.listen(&mut network), Err("refused"));
    assert_eq!(server.listen(&mut network), Err("refused"));
    assert!(!server.is_listening());
    assert_eq!(server.listen(&mut network), Ok(()));
    assert!(server.is_listening());
    // Listening twice is a no-op.
    assert_eq!(server.listen(&mut network), Ok(()));
    assert_eq!(network.listens, 1);
    let old = network.listener.unwrap();
    let socket = network.connect(&get("/"), false, 65_536);
    settle(&mut server, &mut network);
    // The listener goes; connections stay.
    network.refuse_listens = 1;
    assert_eq!(
        server.on_socket_event(&mut network, old, EVENT_CLOSED),
        EventOutcome::ListenerReplaced(Err("refused"))
    );
    assert!(network.released.contains(&old));
    assert!(!server.is_listening());
    assert_eq!(server.listen(&mut network), Ok(()));
    assert_ne!(network.listener, Some(old));
    assert_eq!(server.connection_count(), 1);
    assert!(!network.clients[&socket].closed);
    // An event for the old listener is ignored.
    assert_eq!(
        server.on_socket_event(&mut network, old, EVENT_ACCEPTABLE),
        EventOutcome::Ignored
    );
}

#[test]
fn many_clients_in_random_order_get_their_answers_and_every_socket_is_released() {
    const CLIENTS: usize = 2_000;
    let mut random = XorShift::new(0x7365_7276_6572);
    let (mut server, mut network) = listening();
    let paths = [
        "/",
        "/hello.txt",
        "/big.bin",
        "/missing",
        "/",
        "/hello.txt",
        "/missing",
    ];
    let mut expected: BTreeMap<u64, Vec<StatusCode>> = BTreeMap::new();
    let mut started = 0;
    let mut steps = 0u64;
    while started < CLIENTS || !network.waiting.is_empty() || !network.live_connections().is_empty()
    {
        steps += 1;
        assert!(steps < 10_000_000, "the simulation does not end");
        network.now += random.below(3);
        network.largest_piece = 1 + random.below(SOCKET_CALL_BYTES as u64) as usize;
        match random.below(10) {
            // A client connects: a few requests, the last closing or with
            // a FIN; some reset midway.
            0..=2 if started < CLIENTS && network.waiting.len() < usize::from(LISTEN_BACKLOG) => {
                started += 1;
                let count = 1 + random.below(4) as usize;
                let mut request = Vec::new();
                let mut statuses = Vec::new();
                for index in 0..count {
                    let path = paths[random.below(paths.len() as u64) as usize];
                    let last = index + 1 == count;
                    request.extend(if last && random.below(2) == 0 {
                        get_and_close(path)
                    } else {
                        get(path)
                    });
                    statuses.push(if path == "/missing" {
                        StatusCode::NotFound
                    } else {
                        StatusCode::Ok
                    });
                }
                let send_buffer = 500 + random.below(70_000) as usize;
                let socket = network.connect(&request, true, send_buffer);
                expected.insert(socket, statuses);
                if random.below(20) == 0 {
                    network.clients.get_mut(&socket).unwrap().reset = true;
                }
            }
            3 => {
                if let Some(listener) = network.listener.filter(|_| !network.waiting.is_empty()) {
                    server.on_socket_event(&mut network, listener, EVENT_ACCEPTABLE);
                }
            }
            // An event on a random socket the server holds (or held).
            _ => {
                // Mostly a live one; sometimes any, for late events.
                let sockets: Vec<u64> = if random.below(10) == 0 {
                    network.accepted.iter().copied().collect()
                } else {
                    network.live_connections()
                };
                if sockets.is_empty() {
                    continue;
                }
                let socket = sockets[random.below(sockets.len() as u64) as usize];
                let events = if network.released.contains(&socket) {
                    EVENT_READABLE
                } else if random.below(2) == 0 {
                    network.drain(socket) | network.events(socket)
                } else {
                    // Sometimes a spurious event.
                    network.events(socket) | (random.below(16) as u8 & EVENT_WRITABLE)
                };
                if events == 0 {
                    continue;
                }
                let late = network.released.contains(&socket);
                let outcome = server.on_socket_event(&mut network, socket, events);
                assert_eq!(late, outcome == EventOutcome::Ignored);
            }
        }
        assert!(server.connection_count() <= MAX_CONNECTIONS);
    }
    let counters = server.counters();
    let mut answered = 0;
    for (socket, client) in &network.clients {
        assert!(client.closed, "socket {socket} was never closed");
        if client.reset {
            continue;
        }
        if client.output == SERVICE_UNAVAILABLE_RESPONSE {
            continue;
        }
        let responses = parse_responses(&client.output)
            .unwrap_or_else(|error| panic!("socket {socket}: {error}"));
        let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses, expected[socket], "socket {socket}");
        answered += statuses.len();
    }
    assert_eq!(
        counters.accepted + counters.refused_when_full,
        CLIENTS as u64
    );
    assert!(answered > CLIENTS);
    println!(
        "simulation: {CLIENTS} clients, {steps} steps, {answered} answers checked, {counters:?}"
    );
}
