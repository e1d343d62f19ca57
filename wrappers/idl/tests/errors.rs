//! Malformed interface files: each error names the file, the line and the
//! column, and says what is wrong.

use idl::{Span, parse};

/// Parses `body` after an `interface t` line (so the body starts on line
/// 2) and returns the errors as `(line, column, message)`.
fn errors(body: &str) -> Vec<(u32, u32, String)> {
    let source = format!("interface t\n{body}");
    match parse("bad.idl", &source) {
        Ok(_) => panic!("accepted:\n{source}"),
        Err(errors) => {
            for error in &errors.0 {
                assert_eq!(error.file, "bad.idl");
                assert!(error.to_string().starts_with("bad.idl:"), "{error}");
            }
            errors
                .0
                .into_iter()
                .map(|error| (error.span.line, error.span.column, error.message))
                .collect()
        }
    }
}

/// Asserts the one error is at `line`:`column` and mentions `text`.
fn one_error(body: &str, line: u32, column: u32, text: &str) {
    let found = errors(body);
    assert_eq!(found.len(), 1, "{found:?}");
    let (found_line, found_column, message) = &found[0];
    assert!(message.contains(text), "`{message}` lacks `{text}`");
    assert_eq!(
        (*found_line, *found_column),
        (line, column),
        "position of `{message}`"
    );
}

#[test]
fn unknown_types() {
    one_error(
        "service 1 a idempotent {\n    in b: u128\n}",
        3,
        11,
        "unknown type `u128`",
    );
    one_error(
        "service 1 a idempotent {\n in b: handle<mutex>\n}",
        3,
        15,
        "unknown handle kind `mutex`",
    );
    one_error("enum e: bool { x = 1 }", 2, 9, "unknown type");
}

#[test]
fn duplicate_numbers_and_names() {
    one_error(
        "service 1 a idempotent {}\nservice 1 b idempotent {}",
        3,
        1,
        "duplicate service number 1",
    );
    // Services and entries have separate numbers.
    assert!(
        parse(
            "ok.idl",
            "interface t\nservice 1 a idempotent {}\nentry 1 b idempotent {}"
        )
        .is_ok()
    );
    one_error(
        "service 1 a idempotent {}\nentry 2 a idempotent {}",
        3,
        1,
        "duplicate operation name `a`",
    );
    one_error(
        "service 1 a idempotent {\n in x: u8\n in x: u16\n}",
        4,
        2,
        "duplicate argument name `x`",
    );
    one_error("enum e: u8 { x = 1\n y = 1 }", 3, 2, "duplicate code 1");
    one_error(
        "enum e: u8 { x = 1\n x = 2 }",
        3,
        2,
        "duplicate value name `x`",
    );
    one_error(
        "enum e: u8 { x = 1 }\nenum e: u16 { y = 1 }",
        3,
        1,
        "duplicate enumeration name `e`",
    );
}

#[test]
fn missing_direction_and_idempotence() {
    one_error(
        "entry 5 a idempotent {\n    in b: u8\n    c: u8\n}",
        4,
        5,
        "missing direction",
    );
    one_error("entry 5 a {\n}", 2, 11, "missing idempotence");
}

#[test]
fn bad_syntax() {
    one_error(
        "service 1 a idempotent {\n in b: u8;\n}",
        3,
        10,
        "unexpected character `;`",
    );
    one_error("service one a idempotent {}", 2, 9, "service number");
    one_error(
        "service 1 a idempotent {\n in b u8\n}",
        3,
        7,
        "expected `:`",
    );
    one_error(
        "service 1 a idempotent {\n in b: bytes<>\n}",
        3,
        14,
        "maximum length",
    );
    one_error(
        "servce 1 a idempotent {}",
        2,
        1,
        "expected `enum`, `service` or `entry`",
    );
    one_error("enum e: u8 { x 1 }", 2, 16, "expected `=`");
    one_error("service 1 a idempotent {\n", 3, 1, "the end of the file");
    let found = parse("x.idl", "").unwrap_err();
    assert_eq!(found.first().unwrap().span, Span::new(1, 1));
    assert!(found.mentions("`interface NAME`"));
}

#[test]
fn names() {
    one_error("service 1 Grant_Memory idempotent {}", 2, 1, "kebab-case");
    one_error("service 1 yield idempotent {}", 2, 1, "Rust keyword");
    one_error("service 1 dispatch idempotent {}", 2, 1, "reserved");
    one_error(
        "service 1 a idempotent {\n in message: u8\n}",
        3,
        2,
        "used by the generated code",
    );
    one_error(
        "enum a1: u8 { x = 1 }\nenum a-1: u8 { y = 1 }",
        3,
        1,
        "would both be the Rust type `A1`",
    );
    one_error(
        "service 1 x idempotent { out a: u8 out b: u8 }\nenum x-reply: u8 { y = 1 }",
        3,
        1,
        "enumeration `x-reply` and the reply of `x` would both be the Rust type `XReply`",
    );
    one_error("enum call-error: u8 { y = 1 }", 2, 1, "already uses");
    one_error(
        "enum e: u8 { x = 1\n x1 = 2\n x-1 = 3 }",
        4,
        2,
        "Rust variant `X1`",
    );
}

#[test]
fn enumeration_values_must_fit() {
    one_error("enum e: u8 { x = 256 }", 2, 14, "does not fit a u8");
    one_error("enum e: u16 {}", 2, 1, "has no values");
}

#[test]
fn buffer_rules() {
    let service = |argument: &str| format!("service 1 a idempotent {{\n {argument}\n}}");
    one_error(
        &service("in b: bytes<8> prefix-u8"),
        3,
        8,
        "needs an ownership",
    );
    one_error(
        &service("in b: bytes<8> copied-in"),
        3,
        8,
        "needs a length encoding",
    );
    one_error(
        &service("out b: bytes<8> copied-in prefix-u8"),
        3,
        9,
        "`copied-in` needs an `in` buffer",
    );
    one_error(
        &service("in b: bytes<8> copied-out prefix-u8"),
        3,
        8,
        "`copied-out` needs an `out` buffer",
    );
    one_error(
        &service("in b: bytes<300> borrowed prefix-u8"),
        3,
        8,
        "more than a u8 length prefix",
    );
    one_error(
        &service("inout b: bytes<8> borrowed prefix-u8"),
        3,
        2,
        "cannot be `inout`",
    );
    one_error(
        &service("out b: text<8> borrowed prefix-u8"),
        3,
        9,
        "text travels in only",
    );
    one_error(
        &service("in b: bytes<0> borrowed prefix-u8"),
        3,
        8,
        "at least one byte",
    );
    one_error(
        &service("in b: u8 borrowed"),
        3,
        8,
        "applies to buffers only",
    );
    one_error(&service("in b: u8 tail"), 3, 8, "applies to buffers only");
    one_error(
        &service("in b: bytes<8> borrowed tail\n in c: u8"),
        3,
        8,
        "must be the last value of its request",
    );
    one_error(
        &service("in b: bytes<8> borrowed tail\n out c: u8"),
        3,
        8,
        "without a reply",
    );
    one_error(
        &service("out b: bytes<8> borrowed tail"),
        3,
        9,
        "needs a length prefix",
    );
    // An entry's reply has a length: a tail is fine there.
    assert!(
        parse(
            "ok.idl",
            "interface t\nentry 1 a idempotent { out b: bytes<8> borrowed tail }"
        )
        .is_ok()
    );
    one_error(
        &service("out b: bytes<8> borrowed prefix-u8\n out b-length: u8"),
        4,
        2,
        "clashes with the length",
    );
    one_error(
        &service("in b: bytes<4096> borrowed prefix-u16\n in c: bytes<4096> borrowed prefix-u16"),
        2,
        1,
        "at most 4352 cross",
    );
    let found = errors(&service("in b: bytes<5000> borrowed prefix-u16"));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].2.contains("can be 5002 bytes"), "{found:?}");
    assert_eq!((found[1].0, found[1].1), (3, 8));
    assert!(found[1].2.contains("allows 5000 bytes"), "{found:?}");
}

#[test]
fn several_errors_are_all_reported_in_file_order() {
    let found = errors(
        "service 1 a idempotent {\n in b: nope\n}\nservice 1 c idempotent {\n in d: u8 borrowed\n}",
    );
    let lines: Vec<u32> = found.iter().map(|(line, _, _)| *line).collect();
    assert_eq!(lines, vec![3, 5, 6], "{found:?}");
}
