//! The site: a few static pages compiled into the image, found by path.
//!
//! | path | content type | body |
//! |---|---|---|
//! | `/`, `/index.html` | `text/html; charset=utf-8` | [`INDEX_HTML`], titled [`INDEX_TITLE`] |
//! | `/hello.txt` | `text/plain; charset=utf-8` | [`HELLO_TEXT`] |
//! | `/big.bin` | `application/octet-stream` | [`BIG_BODY_BYTES`] bytes, byte `i` is [`big_body_byte`]`(i)` |

/// The index page's title (a macro so that `concat!` can use it).
macro_rules! index_title {
    () => {
        "httpd: an HTTP server in an isolated kernel extension"
    };
}

/// The text of the index page's `<title>` element: a test can look for
/// `<title>` + this + `</title>` in the body of `GET /`.
pub const INDEX_TITLE: &str = index_title!();

/// The index page (`/` and `/index.html`).
pub const INDEX_HTML: &str = concat!(
    "<!DOCTYPE html>\n",
    "<html lang=\"en\">\n",
    "<head>\n",
    "<meta charset=\"utf-8\">\n",
    "<title>",
    index_title!(),
    "</title>\n",
    "</head>\n",
    "<body>\n",
    "<h1>",
    index_title!(),
    "</h1>\n",
    "<p>This page is served by <code>httpd</code>, the analogue of Nooks' kHTTPd: ",
    "an HTTP/1.1 server running as an extension in its own protection domain, ",
    "over the kernel's TCP stack. If it fails, the kernel restarts it.</p>\n",
    "<ul>\n",
    "<li><a href=\"/hello.txt\">/hello.txt</a>: a line of text</li>\n",
    "<li><a href=\"/big.bin\">/big.bin</a>: 64 KiB of deterministic bytes ",
    "(byte <var>i</var> is <var>i</var> mod 251), for throughput tests</li>\n",
    "</ul>\n",
    "</body>\n",
    "</html>\n",
);

/// The body of `/hello.txt`.
pub const HELLO_TEXT: &str = "Hello from httpd, an isolated kernel extension.\n";

/// Size of `/big.bin` in bytes (64 KiB).
pub const BIG_BODY_BYTES: usize = 64 * 1024;

/// Byte `offset` of `/big.bin`: `offset mod 251` (a prime, so a
/// misplaced or repeated 256-byte or 4 KiB block does not match).
pub const fn big_body_byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// The body of `/big.bin`, computed at compile time.
static BIG_BODY: [u8; BIG_BODY_BYTES] = big_body();

const fn big_body() -> [u8; BIG_BODY_BYTES] {
    let mut body = [0u8; BIG_BODY_BYTES];
    let mut offset = 0;
    while offset < BIG_BODY_BYTES {
        body[offset] = big_body_byte(offset);
        offset += 1;
    }
    body
}

/// Content type of HTML pages.
pub const CONTENT_TYPE_HTML: &str = "text/html; charset=utf-8";
/// Content type of text pages and of error bodies.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";
/// Content type of binary files.
pub const CONTENT_TYPE_BINARY: &str = "application/octet-stream";

/// One page of the site.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    /// The path it is served at (exact match, query removed).
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// Every page, in the order of the table above.
pub static PAGES: [Page; 4] = [
    Page {
        path: "/",
        content_type: CONTENT_TYPE_HTML,
        body: INDEX_HTML.as_bytes(),
    },
    Page {
        path: "/index.html",
        content_type: CONTENT_TYPE_HTML,
        body: INDEX_HTML.as_bytes(),
    },
    Page {
        path: "/hello.txt",
        content_type: CONTENT_TYPE_TEXT,
        body: HELLO_TEXT.as_bytes(),
    },
    Page {
        path: "/big.bin",
        content_type: CONTENT_TYPE_BINARY,
        body: &BIG_BODY,
    },
];

/// The page at `path` (compared byte for byte: no percent-decoding, no
/// case folding), if there is one.
pub fn find(path: &[u8]) -> Option<&'static Page> {
    PAGES.iter().find(|page| page.path.as_bytes() == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_is_found_at_its_path_and_nothing_else_is() {
        for page in &PAGES {
            assert_eq!(find(page.path.as_bytes()), Some(page));
        }
        for missing in [
            &b""[..],
            b"/missing",
            b"/HELLO.TXT",
            b"/hello.txt/",
            b"/hello%2etxt",
            b"hello.txt",
            b"//",
        ] {
            assert_eq!(find(missing), None, "{missing:?}");
        }
    }

    #[test]
    fn the_index_carries_its_title_and_links() {
        let title = format!("<title>{INDEX_TITLE}</title>");
        assert!(INDEX_HTML.contains(&title));
        assert!(INDEX_HTML.contains("href=\"/hello.txt\""));
        assert!(INDEX_HTML.contains("href=\"/big.bin\""));
        assert!(INDEX_HTML.starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn big_body_is_64_kib_of_offset_mod_251() {
        let page = find(b"/big.bin").unwrap();
        assert_eq!(page.body.len(), 65_536);
        for (offset, byte) in page.body.iter().enumerate() {
            assert_eq!(usize::from(*byte), offset % 251);
        }
    }
}
