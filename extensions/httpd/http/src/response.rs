//! Responses: status codes, the head (status line and headers) and the
//! body, which is always static.

use crate::site::CONTENT_TYPE_TEXT;
use crate::{MAX_RESPONSE_HEAD_BYTES, SERVER_NAME};
use core::fmt::{self, Write};

/// The status codes the server answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// 200: the page follows.
    Ok,
    /// 400: the request is malformed (the connection is closed).
    BadRequest,
    /// 404: no page at that path.
    NotFound,
    /// 405: a method other than GET and HEAD.
    MethodNotAllowed,
    /// 414: the request line is longer than [`crate::MAX_REQUEST_LINE_BYTES`]
    /// (the connection is closed).
    UriTooLong,
    /// 431: a header line longer than [`crate::MAX_HEADER_LINE_BYTES`], or
    /// the header section over [`crate::MAX_HEADER_SECTION_BYTES`] or
    /// [`crate::MAX_HEADER_COUNT`] lines (the connection is closed).
    RequestHeaderFieldsTooLarge,
    /// 501: the request has a `Transfer-Encoding` (bodies are only
    /// delimited by `Content-Length` here; the connection is closed).
    NotImplemented,
    /// 503: the server holds as many connections as it may (sent by the
    /// extension as [`SERVICE_UNAVAILABLE_RESPONSE`], then it closes).
    ServiceUnavailable,
    /// 505: an HTTP major version other than 1 (the connection is closed).
    HttpVersionNotSupported,
}

impl StatusCode {
    /// Every status code, for tests.
    pub const ALL: [StatusCode; 9] = [
        StatusCode::Ok,
        StatusCode::BadRequest,
        StatusCode::NotFound,
        StatusCode::MethodNotAllowed,
        StatusCode::UriTooLong,
        StatusCode::RequestHeaderFieldsTooLarge,
        StatusCode::NotImplemented,
        StatusCode::ServiceUnavailable,
        StatusCode::HttpVersionNotSupported,
    ];

    /// The three-digit code.
    pub const fn code(self) -> u16 {
        match self {
            StatusCode::Ok => 200,
            StatusCode::BadRequest => 400,
            StatusCode::NotFound => 404,
            StatusCode::MethodNotAllowed => 405,
            StatusCode::UriTooLong => 414,
            StatusCode::RequestHeaderFieldsTooLarge => 431,
            StatusCode::NotImplemented => 501,
            StatusCode::ServiceUnavailable => 503,
            StatusCode::HttpVersionNotSupported => 505,
        }
    }

    /// The reason phrase (RFC 9110's).
    pub const fn reason(self) -> &'static str {
        match self {
            StatusCode::Ok => "OK",
            StatusCode::BadRequest => "Bad Request",
            StatusCode::NotFound => "Not Found",
            StatusCode::MethodNotAllowed => "Method Not Allowed",
            StatusCode::UriTooLong => "URI Too Long",
            StatusCode::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            StatusCode::NotImplemented => "Not Implemented",
            StatusCode::ServiceUnavailable => "Service Unavailable",
            StatusCode::HttpVersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// Does a response with this status end the connection, whatever the
    /// request asked? (The request stream can no longer be trusted, or the
    /// server is full.)
    pub const fn closes_connection(self) -> bool {
        match self {
            StatusCode::Ok | StatusCode::NotFound | StatusCode::MethodNotAllowed => false,
            StatusCode::BadRequest
            | StatusCode::UriTooLong
            | StatusCode::RequestHeaderFieldsTooLarge
            | StatusCode::NotImplemented
            | StatusCode::ServiceUnavailable
            | StatusCode::HttpVersionNotSupported => true,
        }
    }

    /// The body of an error response (`text/plain`): the code, the reason
    /// and a newline. Empty for 200 (its body is the page).
    pub const fn error_body(self) -> &'static str {
        match self {
            StatusCode::Ok => "",
            StatusCode::BadRequest => "400 Bad Request\n",
            StatusCode::NotFound => "404 Not Found\n",
            StatusCode::MethodNotAllowed => "405 Method Not Allowed\n",
            StatusCode::UriTooLong => "414 URI Too Long\n",
            StatusCode::RequestHeaderFieldsTooLarge => "431 Request Header Fields Too Large\n",
            StatusCode::NotImplemented => "501 Not Implemented\n",
            StatusCode::ServiceUnavailable => "503 Service Unavailable\n",
            StatusCode::HttpVersionNotSupported => "505 HTTP Version Not Supported\n",
        }
    }
}

/// The whole response the extension sends, then closes, to a connection it
/// has no room for (its table holds [`crate::MAX_CONNECTIONS`]). Equal to
/// what the server builds for a 503 (a test checks).
pub const SERVICE_UNAVAILABLE_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Server: nooks-httpd\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 24\r\n\
Connection: close\r\n\
\r\n\
503 Service Unavailable\n";

/// One response waiting to be sent: its head, formatted into a fixed
/// buffer, and its static body; `sent` counts the bytes already taken by
/// the socket (head first, then body).
#[derive(Clone)]
pub(crate) struct Response {
    head: [u8; MAX_RESPONSE_HEAD_BYTES],
    head_length: usize,
    body: &'static [u8],
    sent: usize,
    status: StatusCode,
}

/// Formats into a fixed buffer; fails (without writing) when a piece does
/// not fit.
struct HeadWriter<'a> {
    buffer: &'a mut [u8; MAX_RESPONSE_HEAD_BYTES],
    length: usize,
}

impl Write for HeadWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.length.checked_add(text.len()).ok_or(fmt::Error)?;
        let target = self.buffer.get_mut(self.length..end).ok_or(fmt::Error)?;
        target.copy_from_slice(text.as_bytes());
        self.length = end;
        Ok(())
    }
}

impl Response {
    /// A response with `status`: headers `Server`, `Content-Type`,
    /// `Content-Length` (the length of `body`, also for HEAD), `Connection`
    /// (`close` or `keep-alive`) and, for 405, `Allow`. The body is sent
    /// unless `head_only` (a HEAD request).
    pub(crate) fn new(
        status: StatusCode,
        content_type: &str,
        body: &'static [u8],
        head_only: bool,
        keep_alive: bool,
    ) -> Response {
        let mut head = [0u8; MAX_RESPONSE_HEAD_BYTES];
        let mut writer = HeadWriter {
            buffer: &mut head,
            length: 0,
        };
        let written = write!(
            writer,
            "HTTP/1.1 {} {}\r\nServer: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n{}\r\n",
            status.code(),
            status.reason(),
            SERVER_NAME,
            content_type,
            body.len(),
            if keep_alive { "keep-alive" } else { "close" },
            if status == StatusCode::MethodNotAllowed {
                "Allow: GET, HEAD\r\n"
            } else {
                ""
            },
        );
        // Every status line, content type and length fits with room to
        // spare (`the_longest_head_fits` checks the worst case), so this
        // cannot fail; should it, the head stays unsent rather than cut.
        debug_assert!(written.is_ok(), "a response head overflowed");
        let head_length = if written.is_ok() { writer.length } else { 0 };
        Response {
            head,
            head_length,
            body: if head_only { &[] } else { body },
            sent: 0,
            status,
        }
    }

    /// An error response (text body: [`StatusCode::error_body`]).
    pub(crate) fn error(status: StatusCode, head_only: bool, keep_alive: bool) -> Response {
        Response::new(
            status,
            CONTENT_TYPE_TEXT,
            status.error_body().as_bytes(),
            head_only,
            keep_alive,
        )
    }

    /// The status it answers.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// Bytes not yet taken by the socket.
    pub(crate) fn remaining(&self) -> usize {
        self.head_length + self.body.len() - self.sent
    }

    /// Copies as many of the bytes not yet sent as fit into `into`;
    /// returns how many.
    pub(crate) fn copy_remaining(&self, into: &mut [u8]) -> usize {
        let mut copied = 0;
        if self.sent < self.head_length {
            let head = &self.head[self.sent..self.head_length];
            let count = head.len().min(into.len());
            into[..count].copy_from_slice(&head[..count]);
            copied = count;
        }
        let body_start = self.sent.saturating_sub(self.head_length);
        let body = &self.body[body_start..];
        let count = body.len().min(into.len() - copied);
        into[copied..copied + count].copy_from_slice(&body[..count]);
        copied + count
    }

    /// Marks up to `count` more bytes sent; returns how many were.
    pub(crate) fn advance(&mut self, count: usize) -> usize {
        let taken = count.min(self.remaining());
        self.sent += taken;
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::{CONTENT_TYPE_BINARY, CONTENT_TYPE_HTML, PAGES};

    fn whole(response: &Response) -> Vec<u8> {
        let mut bytes = vec![0u8; response.remaining()];
        assert_eq!(response.copy_remaining(&mut bytes), bytes.len());
        bytes
    }

    #[test]
    fn the_longest_head_fits() {
        static LONG: [u8; 0] = [];
        for status in StatusCode::ALL {
            for content_type in [CONTENT_TYPE_HTML, CONTENT_TYPE_TEXT, CONTENT_TYPE_BINARY] {
                for keep_alive in [false, true] {
                    let response = Response::new(status, content_type, &LONG, false, keep_alive);
                    // The worst case also has a 20-digit length: room for it.
                    assert!(response.head_length + 20 < MAX_RESPONSE_HEAD_BYTES);
                    assert!(response.head_length > 0);
                }
            }
        }
    }

    #[test]
    fn heads_carry_every_header_and_head_requests_get_no_body() {
        let page = &PAGES[2];
        let get = whole(&Response::new(
            StatusCode::Ok,
            page.content_type,
            page.body,
            false,
            true,
        ));
        let text = String::from_utf8(get).unwrap();
        assert_eq!(
            text,
            format!(
                "HTTP/1.1 200 OK\r\nServer: nooks-httpd\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{}",
                page.body.len(),
                crate::site::HELLO_TEXT
            )
        );
        let head = whole(&Response::new(
            StatusCode::Ok,
            page.content_type,
            page.body,
            true,
            false,
        ));
        let text = String::from_utf8(head).unwrap();
        assert!(text.ends_with(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            page.body.len()
        )));
        let not_allowed = whole(&Response::error(StatusCode::MethodNotAllowed, false, true));
        let text = String::from_utf8(not_allowed).unwrap();
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(text.ends_with("\r\n\r\n405 Method Not Allowed\n"));
    }

    #[test]
    fn the_service_unavailable_constant_is_the_built_503() {
        let built = whole(&Response::error(
            StatusCode::ServiceUnavailable,
            false,
            false,
        ));
        assert_eq!(built, SERVICE_UNAVAILABLE_RESPONSE);
    }

    #[test]
    fn error_bodies_start_with_their_code_and_reason() {
        for status in StatusCode::ALL {
            if status == StatusCode::Ok {
                assert_eq!(status.error_body(), "");
                continue;
            }
            assert_eq!(
                status.error_body(),
                format!("{} {}\n", status.code(), status.reason())
            );
        }
    }

    #[test]
    fn partial_copies_and_advances_walk_head_then_body() {
        let mut response = Response::error(StatusCode::NotFound, false, true);
        let expected = whole(&response);
        let mut collected = Vec::new();
        let mut buffer = [0u8; 7];
        while response.remaining() > 0 {
            let copied = response.copy_remaining(&mut buffer);
            // Take one byte fewer than offered (at least one).
            let taken = response.advance(copied.saturating_sub(1).max(1));
            collected.extend_from_slice(&buffer[..taken]);
        }
        assert_eq!(collected, expected);
        assert_eq!(response.advance(5), 0);
        assert_eq!(response.copy_remaining(&mut buffer), 0);
    }
}
