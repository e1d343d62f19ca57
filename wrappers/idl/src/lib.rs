//! The interface definition language (IDL) for every call that crosses a
//! protection-domain boundary, and the generator of the wrappers on both
//! sides of it.
//!
//! [`parse`] reads an interface file (format: `docs/wrappers.md`) and
//! checks it; every error names the file, line and column. [`generate()`]
//! emits the Rust source of one of an interface's three files (common,
//! extension side, kernel side). The binary (`cargo run -p idl -- generate
//! FILE --out DIR`) writes all three.
//!
//! Invariants:
//! - Nothing here panics on any input text: the lexer and parser
//!   bounds-check every access, and a generated text that `syn` cannot
//!   parse is an error value, not a panic.
//! - The wire layout is the one `extension_abi`'s `MessageReader` and
//!   `MessageWriter` define (little-endian, in declaration order, the reply
//!   written over the request from offset 0); the generated code uses only
//!   those two to touch a message.
//! - Generation is deterministic: the same interface gives the same text.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod generate;
pub mod lexer;
pub mod names;
pub mod parser;

pub use ast::Interface;
pub use diagnostic::{Diagnostic, Diagnostics, Span};
pub use generate::{GenerateError, Options, Side, generate};

use std::path::Path;

/// Parses and checks the interface text `source` of the file called
/// `file` (the name is only used in messages).
pub fn parse(file: &str, source: &str) -> Result<Interface, Diagnostics> {
    let interface = parser::parse_syntax(file, source).map_err(|error| Diagnostics(vec![error]))?;
    let errors = check::check(&interface);
    if errors.is_empty() {
        Ok(interface)
    } else {
        Err(Diagnostics(errors))
    }
}

/// Parses and checks raw file contents: text that is not UTF-8 is an error
/// at the first bad byte.
pub fn parse_bytes(file: &str, bytes: &[u8]) -> Result<Interface, Diagnostics> {
    match core::str::from_utf8(bytes) {
        Ok(source) => parse(file, source),
        Err(error) => {
            let good = &bytes[..error.valid_up_to()];
            let text = String::from_utf8_lossy(good);
            let line = text.matches('\n').count() + 1;
            let column = text
                .rsplit('\n')
                .next()
                .map_or(0, |last| last.chars().count())
                + 1;
            Err(Diagnostics(vec![Diagnostic::new(
                file,
                Span::new(
                    u32::try_from(line).unwrap_or(u32::MAX),
                    u32::try_from(column).unwrap_or(u32::MAX),
                ),
                "the file is not UTF-8 text",
            )]))
        }
    }
}

/// Reads, parses and checks the interface file at `path`.
pub fn parse_file(path: &Path) -> Result<Interface, Diagnostics> {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => parse_bytes(&name, &bytes),
        Err(error) => Err(Diagnostics(vec![Diagnostic::new(
            &name,
            Span::new(0, 0),
            format!("cannot read the file: {error}"),
        )])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_is_reported_at_the_bad_byte() {
        let errors = parse_bytes("x.idl", b"interface x\n  ab\xff").unwrap_err();
        let first = errors.first().unwrap();
        assert_eq!(first.span, Span::new(2, 5));
        assert!(first.message.contains("UTF-8"));
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_panic() {
        let errors = parse_file(Path::new("/nonexistent/x.idl")).unwrap_err();
        assert!(errors.to_string().starts_with("/nonexistent/x.idl:"));
    }
}
