//! Property tests with a deterministic generator: the parser never panics
//! on any input, every interface it accepts generates Rust that parses, and
//! errors point at the line that is wrong. A failing case prints its seed.

use deterministic_rng::XorShift;
use idl::{Options, Side, generate, parse, parse_bytes};
use std::path::Path;

fn real_files() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        "../interface/kernel.idl",
        "../interface/crashtest.idl",
        "tests/fixtures/features.idl",
    ]
    .iter()
    .map(|path| {
        let text = std::fs::read_to_string(root.join(path)).expect("interface file");
        (path.to_string(), text)
    })
    .collect()
}

/// Parses, and for an accepted interface generates all three files: that must
/// succeed (the generator's output always parses as Rust).
fn parse_and_generate(name: &str, source: &str) -> bool {
    match parse(name, source) {
        Ok(interface) => {
            for side in Side::ALL {
                if let Err(error) = generate(&interface, side, &Options::default()) {
                    panic!("accepted but not generated ({error}):\n{source}");
                }
            }
            true
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for error in &errors.0 {
                assert_eq!(error.file, name);
                assert!(error.span.line >= 1 && error.span.column >= 1, "{error}");
                let lines = u32::try_from(source.lines().count()).unwrap_or(u32::MAX);
                assert!(error.span.line <= lines + 1, "{error} is past the end");
            }
            false
        }
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut random = XorShift::new(0x01d1_0001);
    for case in 0..3_000 {
        let length = random.below(200) as usize;
        let bytes: Vec<u8> = (0..length)
            .map(|_| match random.below(4) {
                // Mostly printable ASCII, so the lexer gets past byte one.
                0..=2 => b' ' + random.below(95) as u8,
                _ => random.next() as u8,
            })
            .collect();
        let result = std::panic::catch_unwind(|| {
            let _ = parse_bytes("random.idl", &bytes);
        });
        assert!(result.is_ok(), "case {case} panicked on {bytes:?}");
    }
}

const VOCABULARY: &[&str] = &[
    "interface",
    "enum",
    "service",
    "entry",
    "in",
    "out",
    "inout",
    "idempotent",
    "not-idempotent",
    "u8",
    "u16",
    "u32",
    "u64",
    "bool",
    "status",
    "handle",
    "bytes",
    "text",
    "memory",
    "timer",
    "copied-in",
    "copied-out",
    "borrowed",
    "transferred",
    "prefix-u8",
    "prefix-u16",
    "prefix-u32",
    "tail",
    "x",
    "y",
    "a-b",
    "e",
    "{",
    "}",
    "<",
    ">",
    ":",
    "=",
    "0",
    "1",
    "7",
    "255",
    "0x100",
    "4352",
    "99999",
    "/// doc",
    "// note",
    "\n",
];

#[test]
fn token_soup_never_panics_and_what_parses_generates() {
    let mut random = XorShift::new(0x01d1_0002);
    let mut accepted = 0;
    for case in 0..4_000 {
        let mut source = String::from(if random.below(4) == 0 {
            ""
        } else {
            "interface t\n"
        });
        for _ in 0..random.below(40) {
            source.push_str(VOCABULARY[random.below(VOCABULARY.len() as u64) as usize]);
            source.push(if random.below(5) == 0 { '\n' } else { ' ' });
        }
        let outcome = std::panic::catch_unwind(|| parse_and_generate("soup.idl", &source));
        match outcome {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => panic!("case {case} panicked on:\n{source}"),
        }
    }
    // The soup must sometimes be valid, or this test checks only errors.
    assert!(accepted > 0, "no random soup was a valid interface");
}

/// Mutations of the real interface files: delete, duplicate or swap lines,
/// drop or repeat one word, change a number.
#[test]
fn mutated_interfaces_never_panic_and_what_parses_generates() {
    let mut random = XorShift::new(0x01d1_0003);
    let files = real_files();
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..600 {
        let (name, text) = &files[random.below(files.len() as u64) as usize];
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for _ in 0..=random.below(3) {
            let count = lines.len() as u64;
            let index = random.below(count.max(1)) as usize;
            match random.below(6) {
                0 if !lines.is_empty() => {
                    lines.remove(index);
                }
                1 if !lines.is_empty() => {
                    let line = lines[index].clone();
                    lines.insert(index, line);
                }
                2 if lines.len() > 1 => {
                    let other = random.below(count) as usize;
                    lines.swap(index, other);
                }
                3 if !lines.is_empty() => {
                    let mut words: Vec<&str> = lines[index].split(' ').collect();
                    if !words.is_empty() {
                        words.remove(random.below(words.len() as u64) as usize);
                    }
                    lines[index] = words.join(" ");
                }
                4 if !lines.is_empty() => {
                    let words: Vec<&str> = lines[index].split(' ').collect();
                    let word = words[random.below(words.len() as u64) as usize];
                    lines[index] = format!("{} {word}", lines[index]);
                }
                _ if !lines.is_empty() => {
                    let value =
                        [0u64, 1, 2, 255, 256, 0x100, 4096, u64::MAX][random.below(8) as usize];
                    let replaced: Vec<String> = lines[index]
                        .split(' ')
                        .map(|word| {
                            if word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                                value.to_string()
                            } else {
                                word.to_string()
                            }
                        })
                        .collect();
                    lines[index] = replaced.join(" ");
                }
                _ => {}
            }
        }
        let source = lines.join("\n");
        let outcome = std::panic::catch_unwind(|| parse_and_generate(name, &source));
        match outcome {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("case {case} ({name}) panicked on:\n{source}"),
        }
    }
    assert!(
        accepted > 20 && refused > 20,
        "accepted {accepted}, refused {refused}"
    );
}

/// Replacing the type of a random argument with an unknown one is reported
/// at exactly that line and column.
#[test]
fn an_unknown_type_is_reported_where_it_is() {
    let mut random = XorShift::new(0x01d1_0004);
    for (name, text) in real_files() {
        let lines: Vec<&str> = text.lines().collect();
        let arguments: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| {
                let trimmed = line.trim_start();
                ["in ", "out ", "inout "]
                    .iter()
                    .any(|start| trimmed.starts_with(start))
            })
            .map(|(index, _)| index)
            .collect();
        assert!(!arguments.is_empty());
        for _ in 0..20 {
            let index = arguments[random.below(arguments.len() as u64) as usize];
            let line = lines[index];
            let colon = line.find(": ").expect("argument has a type") + 2;
            // The type and any buffer attributes go: `in x: nonsense-type`.
            let mutated_line = format!("{}nonsense-type", &line[..colon]);
            let mut mutated = lines.clone();
            mutated[index] = &mutated_line;
            let source = mutated.join("\n");
            let errors = parse(&name, &source).expect_err("an unknown type is refused");
            let error = errors
                .0
                .iter()
                .find(|error| error.message.contains("unknown type `nonsense-type`"))
                .unwrap_or_else(|| panic!("{errors}\nfor line: {mutated_line}"));
            assert_eq!(error.span.line as usize, index + 1, "{error}");
            assert_eq!(error.span.column as usize, colon + 1, "{error}");
            assert_eq!(error.file, name);
        }
    }
}
