//! Names: the kebab-case form of interface files and the Rust forms the
//! generator derives from it.

/// Is `name` lowercase kebab-case (`[a-z][a-z0-9]*(-[a-z0-9]+)*`)?
pub fn is_kebab_case(name: &str) -> bool {
    let mut parts = name.split('-');
    let starts_with_letter = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase());
    starts_with_letter
        && parts.all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// `grant-memory` → `grant_memory`.
pub fn snake(name: &str) -> String {
    name.replace('-', "_")
}

/// `grant-memory` → `GRANT_MEMORY`.
pub fn screaming(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

/// `grant-memory` → `GrantMemory`.
pub fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut characters = part.chars();
            match characters.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + characters.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Rust's keywords (strict and reserved, all editions) and the names that
/// cannot be raw identifiers.
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Is the snake-case form of `name` a Rust keyword?
pub fn is_rust_keyword(name: &str) -> bool {
    RUST_KEYWORDS.contains(&snake(name).as_str())
}

/// Local names the generated functions use; an argument may not be called
/// any of them.
pub const RESERVED_ARGUMENT_NAMES: &[&str] = &[
    "message",
    "message-length",
    "reader",
    "writer",
    "reply",
    "reply-length",
    "implementation",
    "transport",
    "result",
];

/// Item names the generated module uses; an operation may not be called
/// any of them (nor start with `dispatch-`).
pub const RESERVED_OPERATION_NAMES: &[&str] = &[
    "dispatch",
    "wire",
    "service",
    "operation",
    "call-kernel",
    "call-extension",
];

/// Type names every generated module defines or imports.
pub const RESERVED_TYPE_NAMES: &[&str] = &[
    "Status",
    "MessageReader",
    "MessageWriter",
    "Services",
    "Entries",
    "CallError",
    "OperationInfo",
    "ArgumentInfo",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kebab_case_is_checked() {
        for good in ["a", "grant-memory", "prefix-u8", "x1-y2"] {
            assert!(is_kebab_case(good), "{good}");
        }
        for bad in [
            "",
            "A",
            "grant_memory",
            "-a",
            "a-",
            "a--b",
            "1a",
            "a-B",
            "é",
        ] {
            assert!(!is_kebab_case(bad), "{bad}");
        }
    }

    #[test]
    fn cases_convert() {
        assert_eq!(snake("grant-memory"), "grant_memory");
        assert_eq!(screaming("io-ports"), "IO_PORTS");
        assert_eq!(camel("dma-buffer"), "DmaBuffer");
        assert_eq!(camel("a1-b"), "A1B");
        assert!(is_rust_keyword("yield"));
        assert!(is_rust_keyword("type"));
        assert!(!is_rust_keyword("yield-now"));
    }
}
