//! The meaning of a parsed interface: names, numbers, types, buffer rules
//! and message sizes. Reports every error found, each with its position.

use crate::ast::{
    Argument, Direction, IntType, Interface, LengthEncoding, Operation, OperationKind, Ownership,
    Type,
};
use crate::diagnostic::{Diagnostic, Span};
use crate::names;
use std::collections::{HashMap, HashSet};

/// Largest message that crosses in one call (`extension_abi`).
pub const MAX_MESSAGE_BYTES: usize = extension_abi::MAX_MESSAGE_BYTES;

/// Bytes a value of `ty` takes at most on the wire (`enum_repr` gives an
/// enumeration's integer type; `length` a buffer's length encoding).
pub fn max_size(
    ty: &Type,
    length: Option<LengthEncoding>,
    enum_repr: impl Fn(&str) -> Option<IntType>,
) -> u64 {
    match ty {
        Type::Int(int) => int.size() as u64,
        Type::Bool => 1,
        Type::Status | Type::Handle(_) => 8,
        Type::Enum(name) => enum_repr(name).map_or(0, |int| int.size() as u64),
        Type::Bytes { max } | Type::Text { max } => {
            let prefix = match length {
                Some(LengthEncoding::Prefix(int)) => int.size() as u64,
                _ => 0,
            };
            prefix.saturating_add(*max)
        }
    }
}

/// The largest request and reply of `operation`, in bytes.
pub fn message_sizes(interface: &Interface, operation: &Operation) -> (u64, u64) {
    let repr = |name: &str| interface.find_enum(name).map(|definition| definition.repr);
    let total = |arguments: Vec<&Argument>| {
        arguments.iter().fold(0u64, |sum, argument| {
            sum.saturating_add(max_size(&argument.ty, argument.length, repr))
        })
    };
    (total(operation.request()), total(operation.reply()))
}

struct Checker<'a> {
    interface: &'a Interface,
    errors: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.errors
            .push(Diagnostic::new(&self.interface.file, span, message));
    }

    fn check_name(&mut self, span: Span, what: &str, name: &str) -> bool {
        if !names::is_kebab_case(name) {
            self.error(
                span,
                format!(
                    "{what} `{name}` must be lowercase kebab-case (letters, digits and single hyphens, starting with a letter)"
                ),
            );
            return false;
        }
        if names::is_rust_keyword(name) {
            self.error(
                span,
                format!("{what} `{name}` is a Rust keyword; choose another name"),
            );
            return false;
        }
        true
    }
}

/// Checks `interface`; returns every error, in file order.
pub fn check(interface: &Interface) -> Vec<Diagnostic> {
    let mut checker = Checker {
        interface,
        errors: Vec::new(),
    };
    checker.check_name(interface.span, "interface name", &interface.name);
    check_enums(&mut checker);
    check_operations(&mut checker);
    check_type_names(&mut checker);
    let mut errors = checker.errors;
    errors.sort_by_key(|error| error.span);
    errors
}

fn check_enums(checker: &mut Checker<'_>) {
    let interface = checker.interface;
    let mut seen = HashMap::new();
    for definition in &interface.enums {
        checker.check_name(definition.span, "enumeration", &definition.name);
        if let Some(first) = seen.insert(definition.name.as_str(), definition.span) {
            checker.error(
                definition.span,
                format!(
                    "duplicate enumeration name `{}` (first declared on line {})",
                    definition.name, first.line
                ),
            );
        }
        if IntType::from_name(&definition.name).is_some()
            || matches!(
                definition.name.as_str(),
                "bool" | "status" | "handle" | "bytes" | "text"
            )
        {
            checker.error(
                definition.span,
                format!(
                    "enumeration `{}` has the name of a built-in type",
                    definition.name
                ),
            );
        }
        if definition.variants.is_empty() {
            checker.error(
                definition.span,
                format!("enumeration `{}` has no values", definition.name),
            );
        }
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        for variant in &definition.variants {
            checker.check_name(variant.span, "enumeration value", &variant.name);
            if let Some(first) = names.insert(variant.name.as_str(), variant.span) {
                checker.error(
                    variant.span,
                    format!(
                        "duplicate value name `{}` in enumeration `{}` (first on line {})",
                        variant.name, definition.name, first.line
                    ),
                );
            }
            if let Some(first) = values.insert(variant.value, variant.span) {
                checker.error(
                    variant.span,
                    format!(
                        "duplicate code {} in enumeration `{}` (first on line {})",
                        variant.value, definition.name, first.line
                    ),
                );
            }
            if variant.value > definition.repr.max_value() {
                checker.error(
                    variant.span,
                    format!(
                        "code {} of `{}` does not fit a {}",
                        variant.value,
                        variant.name,
                        definition.repr.name()
                    ),
                );
            }
        }
    }
}

fn check_operations(checker: &mut Checker<'_>) {
    let interface = checker.interface;
    let mut names: HashMap<&str, Span> = HashMap::new();
    let mut numbers: HashMap<(OperationKind, u64), Span> = HashMap::new();
    for operation in &interface.operations {
        let what = operation.kind.keyword();
        if checker.check_name(operation.span, what, &operation.name)
            && (names::RESERVED_OPERATION_NAMES.contains(&operation.name.as_str())
                || operation.name.starts_with("dispatch-"))
        {
            checker.error(
                operation.span,
                format!(
                    "{what} name `{}` is reserved for the generated code; choose another name",
                    operation.name
                ),
            );
        }
        if let Some(first) = names.insert(&operation.name, operation.span) {
            checker.error(
                operation.span,
                format!(
                    "duplicate operation name `{}` (first declared on line {})",
                    operation.name, first.line
                ),
            );
        }
        if let Some(first) = numbers.insert((operation.kind, operation.number), operation.span) {
            checker.error(
                operation.span,
                format!(
                    "duplicate {what} number {} (`{}`; the number is already used on line {})",
                    operation.number, operation.name, first.line
                ),
            );
        }
        check_arguments(checker, operation);
        let (request, reply) = message_sizes(interface, operation);
        for (part, size) in [("request", request), ("reply", reply)] {
            if size > MAX_MESSAGE_BYTES as u64 {
                checker.error(
                    operation.span,
                    format!(
                        "the {part} of `{}` can be {size} bytes; at most {MAX_MESSAGE_BYTES} cross in one call",
                        operation.name
                    ),
                );
            }
        }
    }
}

fn check_arguments(checker: &mut Checker<'_>, operation: &Operation) {
    let interface = checker.interface;
    let mut names: HashMap<String, Span> = HashMap::new();
    let has_reply = !operation.reply().is_empty();
    for argument in &operation.arguments {
        if checker.check_name(argument.span, "argument", &argument.name)
            && names::RESERVED_ARGUMENT_NAMES.contains(&argument.name.as_str())
        {
            checker.error(
                argument.span,
                format!(
                    "argument name `{}` is used by the generated code; choose another name",
                    argument.name
                ),
            );
        }
        if let Some(first) = names.insert(argument.name.clone(), argument.span) {
            checker.error(
                argument.span,
                format!(
                    "duplicate argument name `{}` in `{}` (first on line {})",
                    argument.name, operation.name, first.line
                ),
            );
        }
        if let Type::Enum(name) = &argument.ty
            && interface.find_enum(name).is_none()
        {
            checker.error(
                argument.type_span,
                format!(
                    "unknown type `{name}` (types: u8, u16, u32, u64, bool, status, handle<KIND>, bytes<MAX>, text<MAX> or an enumeration declared in this file)"
                ),
            );
        }
        if argument.ty.is_buffer() {
            check_buffer(checker, operation, argument, has_reply);
            // The generated reply carries an out buffer's length as
            // `NAME-length`: it must not clash with another argument.
            if argument.direction == Direction::Out {
                let length_name = format!("{}-length", argument.name);
                if let Some(other) = operation
                    .arguments
                    .iter()
                    .find(|other| other.name == length_name)
                {
                    checker.error(
                        other.span,
                        format!(
                            "argument `{length_name}` clashes with the length the reply carries for buffer `{}`",
                            argument.name
                        ),
                    );
                }
            }
        } else {
            if let Some(ownership) = argument.ownership {
                checker.error(
                    argument.type_span,
                    format!(
                        "`{}` applies to buffers only; `{}` is a {}",
                        ownership.keyword(),
                        argument.name,
                        argument.ty.describe()
                    ),
                );
            }
            if let Some(length) = argument.length {
                checker.error(
                    argument.type_span,
                    format!(
                        "`{}` applies to buffers only; `{}` is a {}",
                        length.keyword(),
                        argument.name,
                        argument.ty.describe()
                    ),
                );
            }
        }
    }
}

fn check_buffer(
    checker: &mut Checker<'_>,
    operation: &Operation,
    argument: &Argument,
    has_reply: bool,
) {
    let name = &argument.name;
    let max = argument.ty.buffer_max().unwrap_or(0);
    if max == 0 {
        checker.error(
            argument.type_span,
            format!("buffer `{name}` must allow at least one byte"),
        );
    }
    if max > MAX_MESSAGE_BYTES as u64 {
        checker.error(
            argument.type_span,
            format!(
                "buffer `{name}` allows {max} bytes; at most {MAX_MESSAGE_BYTES} cross in one call"
            ),
        );
    }
    match argument.direction {
        Direction::InOut => {
            checker.error(
                argument.span,
                format!(
                    "buffer `{name}` cannot be `inout`: declare an `in` buffer and an `out` buffer"
                ),
            );
            return;
        }
        Direction::Out if matches!(argument.ty, Type::Text { .. }) => {
            checker.error(
                argument.type_span,
                format!("text travels in only; reply with `bytes<{max}>` for `{name}`"),
            );
        }
        _ => {}
    }
    match argument.ownership {
        None => checker.error(
            argument.type_span,
            format!(
                "buffer `{name}` needs an ownership: copied-in, copied-out, borrowed or transferred"
            ),
        ),
        Some(Ownership::CopiedIn) if argument.direction != Direction::In => checker.error(
            argument.type_span,
            format!("`copied-in` needs an `in` buffer; `{name}` is `out`"),
        ),
        Some(Ownership::CopiedOut) if argument.direction != Direction::Out => checker.error(
            argument.type_span,
            format!("`copied-out` needs an `out` buffer; `{name}` is `in`"),
        ),
        Some(_) => {}
    }
    match argument.length {
        None => checker.error(
            argument.type_span,
            format!(
                "buffer `{name}` needs a length encoding: prefix-u8, prefix-u16, prefix-u32 or tail"
            ),
        ),
        Some(LengthEncoding::Prefix(int)) if max > int.max_value() => checker.error(
            argument.type_span,
            format!(
                "buffer `{name}` allows {max} bytes, more than a {} length prefix can say",
                int.name()
            ),
        ),
        Some(LengthEncoding::Tail) => {
            let sequence = match argument.direction {
                Direction::Out => operation.reply(),
                _ => operation.request(),
            };
            let is_last = sequence
                .last()
                .is_some_and(|last| last.name == argument.name);
            if !is_last {
                checker.error(
                    argument.type_span,
                    format!(
                        "`tail` buffer `{name}` must be the last value of its {}",
                        if argument.direction == Direction::Out {
                            "reply"
                        } else {
                            "request"
                        }
                    ),
                );
            } else if argument.direction == Direction::In && has_reply {
                checker.error(
                    argument.type_span,
                    format!(
                        "`tail` buffer `{name}` needs an operation without a reply (the reply is written over the request); use a length prefix"
                    ),
                );
            } else if argument.direction == Direction::Out
                && operation.kind == OperationKind::Service
            {
                checker.error(
                    argument.type_span,
                    format!(
                        "a service's reply has no length: `out` buffer `{name}` needs a length prefix"
                    ),
                );
            }
        }
        Some(_) => {}
    }
}

/// The Rust type names the generated code defines must all differ.
fn check_type_names(checker: &mut Checker<'_>) {
    let interface = checker.interface;
    let mut taken: HashSet<String> = names::RESERVED_TYPE_NAMES
        .iter()
        .map(|name| name.to_string())
        .collect();
    for kind in crate::ast::HandleKind::ALL {
        taken.insert(format!("{}Handle", names::camel(kind.name())));
    }
    let mut defined: Vec<(String, Span, String)> = Vec::new();
    let mut enum_names = HashSet::new();
    for definition in &interface.enums {
        if !enum_names.insert(definition.name.as_str()) {
            // A duplicate name, reported as such.
            continue;
        }
        defined.push((
            names::camel(&definition.name),
            definition.span,
            format!("enumeration `{}`", definition.name),
        ));
    }
    for operation in &interface.operations {
        if operation.reply().len() > 1 {
            defined.push((
                format!("{}Reply", names::camel(&operation.name)),
                operation.span,
                format!("the reply of `{}`", operation.name),
            ));
        }
    }
    // The later declaration gets the error.
    defined.sort_by_key(|(_, span, _)| *span);
    let mut seen: HashMap<String, String> = HashMap::new();
    for (rust_name, span, what) in defined {
        if taken.contains(&rust_name) {
            checker.error(
                span,
                format!("{what} would be the Rust type `{rust_name}`, which the generated code already uses"),
            );
        } else if let Some(other) = seen.insert(rust_name.clone(), what.clone()) {
            checker.error(
                span,
                format!("{what} and {other} would both be the Rust type `{rust_name}`"),
            );
        }
        // Variant names only need to differ within their enumeration,
        // which their kebab names already do unless case folding merges
        // two (`a-1` and `a1`).
    }
    for definition in &interface.enums {
        let mut variants: HashMap<String, &str> = HashMap::new();
        for variant in &definition.variants {
            if let Some(other) = variants.insert(names::camel(&variant.name), &variant.name)
                && other != variant.name
            {
                checker.error(
                    variant.span,
                    format!(
                        "values `{other}` and `{}` would both be the Rust variant `{}`",
                        variant.name,
                        names::camel(&variant.name)
                    ),
                );
            }
        }
    }
}
