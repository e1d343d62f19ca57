//! The connection state machine, request by request: every status code,
//! persistence rules, pipelining, segmentation, limits, and the pump.

mod common;

use common::{
    Ending, ParsedResponse, SimulatedSocket, assert_bounded, drive, exchange, parse_responses,
};
use deterministic_rng::XorShift;
use http_server::site::{
    BIG_BODY_BYTES, CONTENT_TYPE_BINARY, CONTENT_TYPE_HTML, CONTENT_TYPE_TEXT, HELLO_TEXT,
    INDEX_HTML, INDEX_TITLE, big_body_byte,
};
use http_server::{
    Connection, INPUT_BUFFER_BYTES, MAX_HEADER_COUNT, MAX_HEADER_LINE_BYTES,
    MAX_HEADER_SECTION_BYTES, MAX_QUEUED_RESPONSES, MAX_REQUEST_LINE_BYTES, PumpOutcome, Socket,
    SocketState, StatusCode, pump,
};

/// Sends `request` on a fresh connection and parses everything it answers.
fn answer(request: &[u8]) -> (Vec<ParsedResponse>, Connection) {
    let mut connection = Connection::new();
    let output = exchange(&mut connection, request);
    let responses = parse_responses(&output)
        .unwrap_or_else(|error| panic!("{error}: {:?}", String::from_utf8_lossy(&output)));
    (responses, connection)
}

/// The single response to `request`, and whether the connection closes.
fn answer_one(request: &[u8]) -> (ParsedResponse, bool) {
    let (responses, connection) = answer(request);
    assert_eq!(responses.len(), 1, "{:?}", String::from_utf8_lossy(request));
    let response = responses.into_iter().next().unwrap();
    assert_eq!(response.keep_alive, !connection.is_finished());
    (response, connection.is_finished())
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

#[test]
fn get_index_is_200_html_with_the_title() {
    let (response, closed) = answer_one(&get("/"));
    assert_eq!(response.status, StatusCode::Ok);
    assert_eq!(response.content_type, CONTENT_TYPE_HTML);
    let body = response.body.unwrap();
    assert_eq!(body, INDEX_HTML.as_bytes());
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains(&format!("<title>{INDEX_TITLE}</title>")));
    assert!(!closed);
    let (same, _) = answer_one(&get("/index.html"));
    assert_eq!(same.body.unwrap(), INDEX_HTML.as_bytes());
}

#[test]
fn get_hello_and_big_bin() {
    let (hello, _) = answer_one(&get("/hello.txt?ignored=1"));
    assert_eq!(hello.status, StatusCode::Ok);
    assert_eq!(hello.content_type, CONTENT_TYPE_TEXT);
    assert_eq!(hello.body.unwrap(), HELLO_TEXT.as_bytes());
    let (big, _) = answer_one(&get("/big.bin"));
    assert_eq!(big.content_type, CONTENT_TYPE_BINARY);
    assert_eq!(big.content_length, BIG_BODY_BYTES);
    let body = big.body.unwrap();
    assert_eq!(body.len(), 65_536);
    assert!(body.iter().enumerate().all(|(i, &b)| b == big_body_byte(i)));
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    for path in ["/", "/hello.txt", "/big.bin", "/missing"] {
        let (get_response, _) = answer_one(&get(path));
        let request = format!("HEAD {path} HTTP/1.1\r\nHost: test\r\n\r\n");
        let (head_response, closed) = answer_one(request.as_bytes());
        assert_eq!(head_response.status, get_response.status);
        assert_eq!(head_response.content_type, get_response.content_type);
        assert_eq!(head_response.content_length, get_response.content_length);
        assert!(head_response.body.is_none());
        assert!(!closed);
    }
}

#[test]
fn missing_paths_are_404_and_keep_the_connection() {
    for path in [
        "/missing",
        "/HELLO.TXT",
        "/hello.txt/",
        "/big.bin.gz",
        "/%68ello.txt",
    ] {
        let (response, closed) = answer_one(&get(path));
        assert_eq!(response.status, StatusCode::NotFound, "{path}");
        assert_eq!(response.body.unwrap(), b"404 Not Found\n");
        assert!(!closed);
    }
}

#[test]
fn other_methods_are_405_with_allow_and_their_body_is_skipped() {
    let request = b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello=worldGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    let (responses, connection) = answer(request);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].status, StatusCode::MethodNotAllowed);
    assert!(responses[0].keep_alive);
    assert_eq!(responses[1].status, StatusCode::Ok);
    assert_eq!(responses[1].body.as_deref(), Some(HELLO_TEXT.as_bytes()));
    assert!(!connection.is_finished());
    for method in ["PUT", "DELETE", "OPTIONS", "get", "PATCH", "BREW"] {
        let request = format!("{method} / HTTP/1.1\r\nHost: t\r\n\r\n");
        let (response, closed) = answer_one(request.as_bytes());
        assert_eq!(response.status, StatusCode::MethodNotAllowed, "{method}");
        assert!(!closed);
    }
    let (response, _) = answer_one(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, StatusCode::MethodNotAllowed);
}

/// Each request gets one 400 that closes the connection; whatever follows
/// it is not answered.
#[test]
fn malformed_requests_are_400_and_close() {
    let cases: &[&[u8]] = &[
        b"GET\r\n\r\n",
        b"GET / \r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n",
        b"GET / HTTP1.1\r\nHost: t\r\n\r\n",
        b"GET relative HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: t\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nno-colon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n",
    ];
    for request in cases {
        let mut stream = request.to_vec();
        stream.extend_from_slice(&get("/"));
        let (response, closed) = answer_one(&stream);
        assert_eq!(
            response.status,
            StatusCode::BadRequest,
            "{:?}",
            String::from_utf8_lossy(request)
        );
        assert!(closed && !response.keep_alive);
        assert_eq!(response.body.as_deref(), Some(&b"400 Bad Request\n"[..]));
    }
    // HEAD's 400 has no body.
    let (response, _) = answer_one(b"HEAD / HTTP/1.1\r\nHost : t\r\n\r\n");
    assert_eq!(response.status, StatusCode::BadRequest);
    assert!(response.body.is_none());
}

#[test]
fn a_request_line_over_the_limit_is_414_and_at_the_limit_is_fine() {
    let prefix = "GET /";
    let suffix = " HTTP/1.1";
    let fill = MAX_REQUEST_LINE_BYTES - prefix.len() - suffix.len();
    let at_limit = format!("{prefix}{}{suffix}\r\nHost: t\r\n\r\n", "a".repeat(fill));
    let (response, _) = answer_one(at_limit.as_bytes());
    assert_eq!(response.status, StatusCode::NotFound);
    let over = format!(
        "{prefix}{}{suffix}\r\nHost: t\r\n\r\n",
        "a".repeat(fill + 1)
    );
    let (response, closed) = answer_one(over.as_bytes());
    assert_eq!(response.status, StatusCode::UriTooLong);
    assert!(closed);
    // Without any line feed, 414 comes as soon as the limit is passed.
    let mut connection = Connection::new();
    connection.receive(&vec![b'a'; MAX_REQUEST_LINE_BYTES + 2]);
    assert!(connection.is_closing());
    assert_eq!(
        connection.queued_statuses().collect::<Vec<_>>(),
        [StatusCode::UriTooLong]
    );
}

#[test]
fn headers_over_the_limits_are_431() {
    let line_at_limit = format!("X: {}", "v".repeat(MAX_HEADER_LINE_BYTES - 3));
    let request = format!("GET / HTTP/1.1\r\nHost: t\r\n{line_at_limit}\r\n\r\n");
    assert_eq!(answer_one(request.as_bytes()).0.status, StatusCode::Ok);
    let request = format!("GET / HTTP/1.1\r\nHost: t\r\n{line_at_limit}v\r\n\r\n");
    let (response, closed) = answer_one(request.as_bytes());
    assert_eq!(response.status, StatusCode::RequestHeaderFieldsTooLarge);
    assert!(closed);

    // Exactly MAX_HEADER_COUNT lines pass, one more does not.
    let headers = |count: usize| -> String {
        (0..count)
            .map(|i| format!("X-{i}: {i}\r\n"))
            .collect::<String>()
    };
    let request = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        headers(MAX_HEADER_COUNT - 1)
    );
    assert_eq!(answer_one(request.as_bytes()).0.status, StatusCode::Ok);
    let request = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        headers(MAX_HEADER_COUNT)
    );
    assert_eq!(
        answer_one(request.as_bytes()).0.status,
        StatusCode::RequestHeaderFieldsTooLarge
    );

    // Large lines: the section limit is reached before the count limit.
    let line = format!("X: {}", "v".repeat(1000));
    let lines = MAX_HEADER_SECTION_BYTES / line.len() + 1;
    assert!(lines < MAX_HEADER_COUNT);
    let request = format!(
        "HEAD / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        format!("{line}\r\n").repeat(lines)
    );
    let (response, _) = answer_one(request.as_bytes());
    assert_eq!(response.status, StatusCode::RequestHeaderFieldsTooLarge);
    assert!(response.body.is_none());
}

#[test]
fn transfer_encoding_is_501_and_a_new_major_version_505() {
    let (response, closed) = answer_one(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(response.status, StatusCode::NotImplemented);
    assert!(closed);
    for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.1"] {
        let request = format!("GET / {version}\r\nHost: t\r\n\r\n");
        let (response, closed) = answer_one(request.as_bytes());
        assert_eq!(response.status, StatusCode::HttpVersionNotSupported);
        assert!(closed);
    }
}

#[test]
fn http_1_1_keeps_alive_until_connection_close() {
    let stream = [
        get("/"),
        get("/hello.txt"),
        b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, Close\r\n\r\n".to_vec(),
        get("/never-answered"),
    ]
    .concat();
    let (responses, connection) = answer(&stream);
    let statuses: Vec<_> = responses.iter().map(|r| (r.status, r.keep_alive)).collect();
    assert_eq!(
        statuses,
        [
            (StatusCode::Ok, true),
            (StatusCode::Ok, true),
            (StatusCode::Ok, false)
        ]
    );
    assert!(connection.is_finished());
    // Input after the close is dropped, whatever it is.
    let mut connection = connection;
    assert_eq!(connection.receive(b"GET / HTTP/1.1\r\n\r\n"), 18);
    assert_eq!(connection.pending_output_bytes(), 0);
    assert_eq!(connection.responses_queued(), 3);
}

#[test]
fn http_1_0_closes_unless_keep_alive_is_asked() {
    let (response, closed) = answer_one(b"GET /hello.txt HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, StatusCode::Ok);
    assert!(closed && !response.keep_alive);
    let stream = b"GET /hello.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\nHost: t\r\n\r\nGET / HTTP/1.0\r\n\r\n";
    let (responses, connection) = answer(stream);
    assert_eq!(responses.len(), 2);
    assert!(responses[0].keep_alive && !responses[1].keep_alive);
    assert!(connection.is_finished());
    // Both asked: close wins.
    let (response, closed) =
        answer_one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
    assert!(closed && !response.keep_alive);
}

#[test]
fn bare_line_feeds_leading_empty_lines_and_absolute_targets_are_accepted() {
    let stream = b"\r\n\n\r\nGET http://example.com/hello.txt?x HTTP/1.1\nHost: t\n\nHEAD / HTTP/1.1\r\nhost:t\r\n\r\n";
    let (responses, _) = answer(stream);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].body.as_deref(), Some(HELLO_TEXT.as_bytes()));
    assert!(responses[1].body.is_none());
}

#[test]
fn keep_alive_requests_split_at_every_point_give_the_same_answers() {
    let stream = [
        get("/"),
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody".to_vec(),
        b"HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        get("/missing"),
    ]
    .concat();
    let expected = exchange(&mut Connection::new(), &stream);
    assert_eq!(parse_responses(&expected).unwrap().len(), 4);
    // Two segments, split everywhere.
    for split in 0..=stream.len() {
        let mut connection = Connection::new();
        let mut output = exchange(&mut connection, &stream[..split]);
        output.extend(exchange(&mut connection, &stream[split..]));
        assert_eq!(output, expected, "split at {split}");
        assert!(!connection.is_finished());
    }
    // Byte by byte.
    let mut connection = Connection::new();
    let mut output = Vec::new();
    for byte in &stream {
        output.extend(exchange(&mut connection, std::slice::from_ref(byte)));
    }
    assert_eq!(output, expected);
}

#[test]
fn pipelined_requests_beyond_the_queue_wait_for_output_to_drain() {
    let count = 3 * MAX_QUEUED_RESPONSES + 1;
    let request = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: t\r\nX-Padding: {}\r\n\r\n",
        "p".repeat(100)
    );
    let stream = request.repeat(count).into_bytes();
    assert!(stream.len() > INPUT_BUFFER_BYTES);
    let mut connection = Connection::new();
    // Nothing sent: the queue fills, then the input buffer, then no more
    // is taken.
    let mut offset = connection.receive(&stream);
    assert_eq!(offset, INPUT_BUFFER_BYTES);
    assert_eq!(connection.queued_responses(), MAX_QUEUED_RESPONSES);
    offset += connection.receive(&stream[offset..]);
    assert_eq!(connection.input_room(), 0);
    assert_eq!(connection.buffered_input_bytes(), INPUT_BUFFER_BYTES);
    assert_eq!(connection.receive(&stream[offset..]), 0);
    assert_eq!(connection.queued_responses(), MAX_QUEUED_RESPONSES);
    assert_bounded(&connection);
    let mut output = Vec::new();
    let mut buffer = [0u8; 100];
    while offset < stream.len() || connection.pending_output_bytes() > 0 {
        let copied = connection.copy_output(&mut buffer);
        connection.advance_output(copied);
        output.extend_from_slice(&buffer[..copied]);
        offset += connection.receive(&stream[offset..]);
        assert_bounded(&connection);
    }
    let responses = parse_responses(&output).unwrap();
    assert_eq!(responses.len(), count);
    assert!(
        responses
            .iter()
            .all(|r| r.status == StatusCode::Ok && r.keep_alive)
    );
}

#[test]
fn a_peer_close_answers_complete_requests_and_drops_a_partial_one() {
    let mut connection = Connection::new();
    let mut stream = get("/hello.txt");
    stream.extend_from_slice(b"GET /big.bin HTTP/1.1\r\nHo");
    let output = exchange(&mut connection, &stream);
    assert!(!connection.is_finished());
    connection.peer_closed();
    assert!(connection.is_finished());
    let responses = parse_responses(&output).unwrap();
    assert_eq!(responses.len(), 1);
    // A close with nothing received, and one in a body.
    let mut idle = Connection::new();
    idle.peer_closed();
    assert!(idle.is_finished());
    let mut in_body = Connection::new();
    in_body.receive(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc");
    assert_eq!(in_body.queued_responses(), 1);
    in_body.peer_closed();
    assert!(!in_body.is_finished(), "its 405 is still to be sent");
    in_body.advance_output(usize::MAX);
    assert!(in_body.is_finished());
}

#[test]
fn a_peer_close_while_the_queue_is_full_still_answers_everything() {
    let count = 2 * MAX_QUEUED_RESPONSES;
    let stream: Vec<u8> = (0..count).flat_map(|_| get("/")).collect();
    let mut connection = Connection::new();
    assert_eq!(
        connection.receive(&stream),
        stream.len().min(INPUT_BUFFER_BYTES)
    );
    connection.peer_closed();
    let mut output = Vec::new();
    let mut offset = INPUT_BUFFER_BYTES.min(stream.len());
    // (the pump would not read after the FIN; feed the rest first)
    while !connection.is_finished() {
        offset += connection.receive(&stream[offset..]);
        let mut buffer = vec![0u8; 1000];
        let copied = connection.copy_output(&mut buffer);
        connection.advance_output(copied);
        output.extend_from_slice(&buffer[..copied]);
    }
    assert_eq!(parse_responses(&output).unwrap().len(), count);
}

/// A socket whose peer reset the connection.
struct ResetSocket;

impl Socket for ResetSocket {
    type Error = ();
    fn receive(&mut self, _buffer: &mut [u8]) -> Result<(usize, SocketState), ()> {
        Ok((0, SocketState::Closed))
    }
    fn send(&mut self, _bytes: &[u8]) -> Result<usize, ()> {
        panic!("a send on a closed connection")
    }
}

/// A socket whose calls fail.
struct FailingSocket;

impl Socket for FailingSocket {
    type Error = &'static str;
    fn receive(&mut self, _buffer: &mut [u8]) -> Result<(usize, SocketState), &'static str> {
        Err("refused")
    }
    fn send(&mut self, _bytes: &[u8]) -> Result<usize, &'static str> {
        Err("refused")
    }
}

#[test]
fn the_pump_serves_keep_alive_closes_and_reports_resets_and_errors() {
    let mut random = XorShift::new(7);
    let stream = [get("/"), get("/big.bin"), get("/hello.txt")].concat();
    let mut connection = Connection::new();
    let mut socket = SimulatedSocket::new(&mut random, &stream, false);
    assert_eq!(drive(&mut connection, &mut socket), Ending::StillOpen);
    let responses = parse_responses(&socket.output).unwrap();
    assert_eq!(responses.len(), 3);
    assert!(responses.iter().all(|r| r.keep_alive && r.body.is_some()));

    let mut random = XorShift::new(8);
    let stream = [get("/"), get("/big.bin")].concat();
    let mut connection = Connection::new();
    let mut socket = SimulatedSocket::new(&mut random, &stream, true);
    assert_eq!(drive(&mut connection, &mut socket), Ending::ServerClosed);
    assert_eq!(parse_responses(&socket.output).unwrap().len(), 2);

    let mut scratch = [0u8; 4096];
    let mut connection = Connection::new();
    assert_eq!(
        pump(&mut connection, &mut ResetSocket, &mut scratch).map(|pumped| pumped.outcome),
        Ok(PumpOutcome::Gone)
    );
    assert_eq!(
        pump(&mut connection, &mut FailingSocket, &mut scratch).map(|pumped| pumped.outcome),
        Err("refused")
    );
}
