//! Parsing one line of a request head: finding the line, the request line,
//! a header field line and the values of the headers the server acts on.
//! Every function takes untrusted bytes and never panics.

use crate::response::StatusCode;

/// The request methods the server tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`: the page.
    Get,
    /// `HEAD`: the page's head only.
    Head,
    /// Any other well-formed method (answered 405).
    Other,
}

/// The HTTP versions the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`: the connection closes after the response unless the
    /// request asks `Connection: keep-alive`.
    Http10,
    /// `HTTP/1.1` (and `HTTP/1.x`, x > 1): persistent unless the request
    /// says `Connection: close`.
    Http11,
}

/// What a request targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A path (from the origin form `/path?query` or the absolute form
    /// `http://host/path?query`), query removed.
    Path(&'a [u8]),
    /// The asterisk form `*` (only meaningful for OPTIONS).
    Asterisk,
}

/// A parsed request line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestLine<'a> {
    pub(crate) method: Method,
    pub(crate) target: Target<'a>,
    pub(crate) version: Version,
}

/// What [`find_line`] found at the start of some bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineSearch {
    /// A complete line: its content is the first `content_length` bytes
    /// (without the line feed and a carriage return before it); the whole
    /// line, terminator included, is `consumed_length` bytes.
    Line {
        content_length: usize,
        consumed_length: usize,
    },
    /// No line feed yet, and the line may still fit.
    Incomplete,
    /// The line's content is (or will be) longer than the limit.
    TooLong,
}

/// Finds the first line of `bytes`, ended by LF or CRLF (RFC 9112 §2.2
/// lets a recipient accept a bare LF), whose content may be at most
/// `limit` bytes.
pub(crate) fn find_line(bytes: &[u8], limit: usize) -> LineSearch {
    // Look no further than the longest acceptable line and its CRLF.
    let window = &bytes[..bytes.len().min(limit.saturating_add(2))];
    match window.iter().position(|&byte| byte == b'\n') {
        Some(line_feed) => {
            let content_length = match line_feed.checked_sub(1) {
                Some(before) if window[before] == b'\r' => before,
                _ => line_feed,
            };
            if content_length > limit {
                LineSearch::TooLong
            } else {
                LineSearch::Line {
                    content_length,
                    consumed_length: line_feed + 1,
                }
            }
        }
        None if bytes.len() <= limit => LineSearch::Incomplete,
        // `limit` bytes of content and a CR may still be followed by LF.
        None if bytes.len() == limit + 1 && bytes[limit] == b'\r' => LineSearch::Incomplete,
        None => LineSearch::TooLong,
    }
}

/// Is `byte` a `tchar` (RFC 9110 §5.6.2), a character of a token?
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Is `bytes` a non-empty token?
fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&byte| is_token_byte(byte))
}

/// Parses a request line `METHOD SP TARGET SP HTTP/D.D` (single spaces).
/// Errors: 400 for anything malformed, 505 for a major version other than
/// 1.
pub(crate) fn parse_request_line(line: &[u8]) -> Result<RequestLine<'_>, StatusCode> {
    let mut parts = line.splitn(3, |&byte| byte == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(StatusCode::BadRequest);
    };
    if !is_token(method) {
        return Err(StatusCode::BadRequest);
    }
    let target = parse_target(target).ok_or(StatusCode::BadRequest)?;
    let version = parse_version(version)?;
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => Method::Other,
    };
    Ok(RequestLine {
        method,
        target,
        version,
    })
}

/// `HTTP/1.0` or `HTTP/1.x`; another major version is 505, anything else
/// 400.
fn parse_version(version: &[u8]) -> Result<Version, StatusCode> {
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(StatusCode::HttpVersionNotSupported),
            }
        }
        _ => Err(StatusCode::BadRequest),
    }
}

/// The request target: visible ASCII only; origin form, absolute form
/// (`http://` or `https://`, any case) or `*`.
fn parse_target(target: &[u8]) -> Option<Target<'_>> {
    if target.is_empty() || !target.iter().all(|byte| (0x21..=0x7e).contains(byte)) {
        return None;
    }
    if target == b"*" {
        return Some(Target::Asterisk);
    }
    let path_and_query = if target[0] == b'/' {
        target
    } else {
        let after_scheme = strip_prefix_ignoring_case(target, b"http://")
            .or_else(|| strip_prefix_ignoring_case(target, b"https://"))?;
        let authority_end = after_scheme
            .iter()
            .position(|&byte| byte == b'/' || byte == b'?')
            .unwrap_or(after_scheme.len());
        if authority_end == 0 {
            return None;
        }
        match &after_scheme[authority_end..] {
            // `http://host` and `http://host?query` mean the path `/`.
            rest if rest.first() != Some(&b'/') => b"/",
            rest => rest,
        }
    };
    let path_end = path_and_query
        .iter()
        .position(|&byte| byte == b'?' || byte == b'#')
        .unwrap_or(path_and_query.len());
    Some(Target::Path(&path_and_query[..path_end]))
}

fn strip_prefix_ignoring_case<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = bytes.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &bytes[prefix.len()..])
}

/// Parses a header field line `name: value`: the name a token (so no
/// space before the colon and no obsolete line folding), the value of
/// visible characters, spaces, tabs and bytes from 0x80, trimmed of spaces
/// and tabs. `None` if malformed.
pub(crate) fn parse_header_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&byte| byte == b':')?;
    let name = &line[..colon];
    if !is_token(name) {
        return None;
    }
    let value = trim_spaces(&line[colon + 1..]);
    let valid_value = value.iter().all(|&byte| {
        byte == b'\t' || byte == b' ' || (0x21..=0x7e).contains(&byte) || byte >= 0x80
    });
    valid_value.then_some((name, value))
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim_spaces(bytes: &[u8]) -> &[u8] {
    let is_space = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let start = bytes
        .iter()
        .position(|byte| !is_space(byte))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|byte| !is_space(byte))
        .map_or(start, |last| last + 1);
    &bytes[start..end]
}

/// The options a `Connection` header value lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnectionOptions {
    pub(crate) close: bool,
    pub(crate) keep_alive: bool,
}

/// Reads the comma-separated options of a `Connection` value (case
/// insensitive; empty elements and other options are ignored).
pub(crate) fn parse_connection_options(value: &[u8]) -> ConnectionOptions {
    let mut options = ConnectionOptions::default();
    for option in value.split(|&byte| byte == b',').map(trim_spaces) {
        if option.eq_ignore_ascii_case(b"close") {
            options.close = true;
        } else if option.eq_ignore_ascii_case(b"keep-alive") {
            options.keep_alive = true;
        }
    }
    options
}

/// A `Content-Length` value: one or more digits that fit a `u64`
/// (RFC 9110 §8.6; a list, even of equal values, is refused here).
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |length, &byte| {
        if !byte.is_ascii_digit() {
            return None;
        }
        length.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_line_takes_lf_and_crlf_and_enforces_the_limit() {
        assert_eq!(
            find_line(b"GET / HTTP/1.1\r\nrest", 100),
            LineSearch::Line {
                content_length: 14,
                consumed_length: 16
            }
        );
        assert_eq!(
            find_line(b"abc\nrest", 100),
            LineSearch::Line {
                content_length: 3,
                consumed_length: 4
            }
        );
        assert_eq!(
            find_line(b"\r\n", 0),
            LineSearch::Line {
                content_length: 0,
                consumed_length: 2
            }
        );
        assert_eq!(find_line(b"", 4), LineSearch::Incomplete);
        assert_eq!(find_line(b"abcd", 4), LineSearch::Incomplete);
        assert_eq!(find_line(b"abcd\r", 4), LineSearch::Incomplete);
        assert_eq!(
            find_line(b"abcd\r\n", 4),
            LineSearch::Line {
                content_length: 4,
                consumed_length: 6
            }
        );
        assert_eq!(find_line(b"abcde", 4), LineSearch::TooLong);
        assert_eq!(find_line(b"abcd\rx", 4), LineSearch::TooLong);
        assert_eq!(find_line(b"abcde\n", 4), LineSearch::TooLong);
        assert_eq!(find_line(b"abcde\r\n", 4), LineSearch::TooLong);
        assert_eq!(find_line(b"abcdefgh\n", 4), LineSearch::TooLong);
    }

    #[test]
    fn request_lines_are_parsed_strictly() {
        let line = parse_request_line(b"GET /hello.txt?x=1 HTTP/1.1").unwrap();
        assert_eq!(line.method, Method::Get);
        assert_eq!(line.target, Target::Path(b"/hello.txt"));
        assert_eq!(line.version, Version::Http11);
        let line = parse_request_line(b"HEAD http://example.com:80/big.bin HTTP/1.0").unwrap();
        assert_eq!(line.method, Method::Head);
        assert_eq!(line.target, Target::Path(b"/big.bin"));
        assert_eq!(line.version, Version::Http10);
        let line = parse_request_line(b"OPTIONS * HTTP/1.9").unwrap();
        assert_eq!(line.method, Method::Other);
        assert_eq!(line.target, Target::Asterisk);
        assert_eq!(line.version, Version::Http11);
        assert_eq!(
            parse_request_line(b"get HTTPS://host?q HTTP/1.1")
                .unwrap()
                .target,
            Target::Path(b"/")
        );
        assert_eq!(
            parse_request_line(b"GET / HTTP/2.0"),
            Err(StatusCode::HttpVersionNotSupported)
        );
        assert_eq!(
            parse_request_line(b"GET / HTTP/0.9"),
            Err(StatusCode::HttpVersionNotSupported)
        );
        for bad in [
            &b""[..],
            b"GET",
            b"GET /",
            b"GET / ",
            b"GET  / HTTP/1.1",
            b"GET /  HTTP/1.1",
            b"GET / HTTP/1.1 ",
            b" GET / HTTP/1.1",
            b"GET / http/1.1",
            b"GET / HTTP/1.10",
            b"GET / HTTP/1",
            b"G(T / HTTP/1.1",
            b"GET hello HTTP/1.1",
            b"GET http:// HTTP/1.1",
            b"GET ftp://host/ HTTP/1.1",
            b"GET /a\tb HTTP/1.1",
            b"GET /\x7f HTTP/1.1",
            b"GET /\xc3\xa9 HTTP/1.1",
            b"GET / HTTP/1.1\r",
        ] {
            assert_eq!(
                parse_request_line(bad),
                Err(StatusCode::BadRequest),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn header_lines_need_a_token_name_and_a_clean_value() {
        assert_eq!(
            parse_header_line(b"Host: example.com"),
            Some((&b"Host"[..], &b"example.com"[..]))
        );
        assert_eq!(
            parse_header_line(b"X-Empty:"),
            Some((&b"X-Empty"[..], &b""[..]))
        );
        assert_eq!(
            parse_header_line(b"A:\t  b c \t"),
            Some((&b"A"[..], &b"b c"[..]))
        );
        assert_eq!(
            parse_header_line(b"A: caf\xc3\xa9"),
            Some((&b"A"[..], &b"caf\xc3\xa9"[..]))
        );
        for bad in [
            &b"no colon"[..],
            b": value",
            b"Host : x",
            b" folded: x",
            b"\tfolded",
            b"A: b\rc",
            b"A: b\0c",
            b"A: \x7f",
            b"N\xc3\xa9: x",
        ] {
            assert_eq!(parse_header_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn connection_options_and_content_lengths() {
        assert_eq!(
            parse_connection_options(b"Keep-Alive, Upgrade"),
            ConnectionOptions {
                close: false,
                keep_alive: true
            }
        );
        assert_eq!(
            parse_connection_options(b" ,CLOSE,, "),
            ConnectionOptions {
                close: true,
                keep_alive: false
            }
        );
        assert_eq!(
            parse_connection_options(b"closed"),
            ConnectionOptions::default()
        );
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"0012"), Some(12));
        assert_eq!(
            parse_content_length(b"18446744073709551615"),
            Some(u64::MAX)
        );
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"-1",
            b"+1",
            b"1 2",
            b"1,1",
            b"0x10",
        ] {
            assert_eq!(parse_content_length(bad), None, "{bad:?}");
        }
    }
}
