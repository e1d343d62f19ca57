//! Emits Rust source for one of the three files of a checked interface.
//!
//! Each is a module body meant to be `include!`d into a module of its own:
//!
//! - [`Side::Common`]: what both sides share — the numbers, enumerations,
//!   typed handles, reply structs and a table of what the interface
//!   declares (`SERVICES`, `ENTRIES`). No code touches a message here. The
//!   real interfaces' common files live in `extension_abi::interfaces`.
//! - [`Side::Extension`]: the extension's view. A safe function per kernel
//!   service (over `extension_api::kernel_call`), and for entry points the
//!   `Entries` trait the extension implements with the `dispatch` that
//!   decodes the kernel's message and encodes the reply.
//! - [`Side::Kernel`]: the kernel's view. The `Services` trait with one
//!   typed method per service and the `dispatch` that checks every argument
//!   before calling it; for entry points, a typed function per operation
//!   over a transport closure, returning `Result<T, CallError>` (the
//!   hand-written `extension_abi::CallError`).
//!
//! Both sides begin with `pub use COMMON::*;` ([`Options::common_path`]).
//! The text is parsed with `syn` (a generated syntax error is a generator
//! bug, reported as [`GenerateError`]) and printed with `prettyplease`, so
//! the layout never depends on this file's formatting. `docs/wrappers.md`
//! describes the output in full.

use crate::ast::{Argument, Direction, Interface, LengthEncoding, Operation, OperationKind, Type};
use crate::check::{check, message_sizes};
use crate::diagnostic::Diagnostics;
use crate::names::{camel, screaming, snake};
use core::fmt;
use std::fmt::Write as _;

/// Which side's code to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// What both sides share: numbers, enumerations, handle types, reply
    /// structures and the operation tables.
    Common,
    /// The extension's side: service calls, entry trait and dispatch.
    Extension,
    /// The kernel's side: service trait and dispatch, entry calls.
    Kernel,
}

impl Side {
    /// Every output file of an interface.
    pub const ALL: [Side; 3] = [Side::Common, Side::Extension, Side::Kernel];

    /// `common`, `extension` or `kernel`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Common => "common",
            Side::Extension => "extension",
            Side::Kernel => "kernel",
        }
    }

    /// The output file name for interface `interface`:
    /// `INTERFACE_common.rs`, `INTERFACE_extension_side.rs` or
    /// `INTERFACE_kernel_side.rs`.
    pub fn file_name(self, interface: &str) -> String {
        match self {
            Side::Common => format!("{}_common.rs", snake(interface)),
            _ => format!("{}_{}_side.rs", snake(interface), self.name()),
        }
    }
}

/// Choices about the emitted code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Path of the function the extension side calls the kernel through:
    /// `fn(service: u64, message: &mut [u8]) -> Status`.
    pub kernel_call_path: String,
    /// Path of the module that includes the interface's common file; both
    /// sides `pub use` it. `{interface}` stands for the interface's name in
    /// snake case.
    pub common_path: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kernel_call_path: "extension_api::kernel_call".to_string(),
            common_path: "extension_abi::interfaces::{interface}".to_string(),
        }
    }
}

impl Options {
    /// The common module's path for `interface`.
    pub fn common_path_of(&self, interface: &str) -> String {
        self.common_path.replace("{interface}", &snake(interface))
    }
}

/// Why code could not be generated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenerateError {
    /// The interface has errors.
    Invalid(Diagnostics),
    /// The generator produced text that is not Rust (a generator bug).
    NotRust {
        /// What the Rust parser said.
        message: String,
        /// The text it refused.
        text: String,
    },
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenerateError::Invalid(errors) => write!(f, "{errors}"),
            GenerateError::NotRust { message, .. } => {
                write!(f, "internal error: generated text is not Rust: {message}")
            }
        }
    }
}

impl std::error::Error for GenerateError {}

/// Generates `side`'s code for `interface` (checked first).
pub fn generate(
    interface: &Interface,
    side: Side,
    options: &Options,
) -> Result<String, GenerateError> {
    let errors = check(interface);
    if !errors.is_empty() {
        return Err(GenerateError::Invalid(Diagnostics(errors)));
    }
    let text = Generator {
        interface,
        side,
        options,
        out: String::new(),
        helpers: Helpers::default(),
    }
    .emit();
    let file = syn::parse_file(&text).map_err(|error| GenerateError::NotRust {
        message: error.to_string(),
        text: text.clone(),
    })?;
    let header = header(interface, side);
    Ok(format!(
        "{header}\n{}",
        separate_items(&prettyplease::unparse(&file))
    ))
}

/// Puts a blank line between consecutive items (prettyplease packs them).
fn separate_items(text: &str) -> String {
    const ITEM_STARTS: &[&str] = &[
        "///", "#[", "pub ", "fn ", "impl ", "impl<", "mod ", "trait ", "struct ", "enum ",
        "const ", "use ",
    ];
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut previous: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(previous) = previous {
            let previous_trimmed = previous.trim_start();
            let previous_ends_item = previous_trimmed == "}"
                || (previous_trimmed.ends_with(';') && !previous_trimmed.starts_with("//"));
            if previous_ends_item
                && indent(previous) == indent(line)
                && ITEM_STARTS.iter().any(|start| trimmed.starts_with(start))
            {
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
        previous = Some(line);
    }
    out
}

/// A number as the generated code writes it: decimal below 0x100, else
/// hexadecimal (operation numbers of extensions start at 0x100).
fn number(value: u64) -> String {
    if value < 0x100 {
        value.to_string()
    } else {
        format!("{value:#x}")
    }
}

fn header(interface: &Interface, side: Side) -> String {
    let file: String = interface
        .file
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let file = file.rsplit(['/', '\\']).next().unwrap_or(&file).to_string();
    format!(
        "// @generated by the `idl` crate from `{file}` (interface `{name}`, {side} side).\n\
         // Do not edit: change `{file}` and regenerate\n\
         // (`cargo run -p idl -- generate FILE --out DIR`, see docs/wrappers.md).\n\
         // Include it in a module of its own: `mod {module} {{ include!(\"...\"); }}`.\n",
        name = interface.name,
        side = side.name(),
        module = format_args!("{}_{}", snake(&interface.name), side.name()),
    )
}

/// Messages up to this size use a small stack buffer when the request is
/// small, instead of one of the operation's largest size.
const SMALL_MESSAGE: u64 = 64;

/// Which private helpers the emitted code used.
#[derive(Default)]
struct Helpers {
    bool_from_code: bool,
    take: bool,
    take_rest: bool,
    text: bool,
    copy_into: bool,
    call_kernel: bool,
    call_extension: bool,
}

struct Generator<'a> {
    interface: &'a Interface,
    side: Side,
    options: &'a Options,
    out: String,
    helpers: Helpers,
}

/// A value of the reply, as the generated code names it.
struct ReplyValue<'a> {
    argument: &'a Argument,
    /// The local variable and struct field (`NAME`, or `NAME_length` for a
    /// buffer).
    field: String,
    /// Its Rust type.
    rust_type: String,
}

fn docs_of(lines: &[String]) -> String {
    lines.iter().map(|line| format!("/// {line}\n")).collect()
}

fn describe_argument(argument: &Argument) -> String {
    let mut text = format!("`{}: {}`", argument.name, argument.ty.describe());
    if let (Some(ownership), Some(length)) = (argument.ownership, argument.length) {
        let _ = write!(text, " ({}, {})", ownership.keyword(), length.keyword());
    }
    text
}

fn describe_values(arguments: &[&Argument]) -> String {
    if arguments.is_empty() {
        return "nothing".to_string();
    }
    arguments
        .iter()
        .map(|argument| describe_argument(argument))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Generator<'a> {
    fn line(&mut self, text: impl AsRef<str>) {
        self.out.push_str(text.as_ref());
        self.out.push('\n');
    }

    fn services(&self) -> Vec<&'a Operation> {
        self.interface.operations_of(OperationKind::Service)
    }

    fn entries(&self) -> Vec<&'a Operation> {
        self.interface.operations_of(OperationKind::Entry)
    }

    fn emit(mut self) -> String {
        let mut body = std::mem::take(&mut self.out);
        match self.side {
            Side::Common => {
                self.emit_numbers();
                self.emit_enums();
                self.emit_handles();
                self.emit_replies();
                self.emit_tables();
            }
            Side::Extension => {
                self.emit_service_calls();
                self.emit_entry_trait();
                self.emit_entry_dispatch();
            }
            Side::Kernel => {
                self.emit_service_trait();
                self.emit_service_dispatch();
                self.emit_entry_calls();
            }
        }
        self.emit_helpers();
        if self.side != Side::Common {
            let _ = writeln!(
                body,
                "pub use {}::*;",
                self.options.common_path_of(&self.interface.name)
            );
        }
        let imports: Vec<&str> = ["MessageReader", "MessageWriter", "Status", "CallError"]
            .into_iter()
            .filter(|name| uses_word(&self.out, name))
            .collect();
        if !imports.is_empty() {
            let _ = writeln!(body, "use extension_abi::{{{}}};", imports.join(", "));
        }
        body.push_str(&self.out);
        body
    }

    // ----- shared items -----

    fn emit_numbers(&mut self) {
        let interface = self.interface;
        for (kind, module, title) in [
            (
                OperationKind::Service,
                "service",
                "Kernel service numbers (the `service` argument of a kernel call).",
            ),
            (
                OperationKind::Entry,
                "operation",
                "Entry operation numbers (the `operation` argument of the extension's entry).",
            ),
        ] {
            let operations = interface.operations_of(kind);
            if operations.is_empty() {
                continue;
            }
            self.line(format!("/// {title}"));
            self.line(format!("pub mod {module} {{"));
            for operation in operations {
                self.out.push_str(&docs_of(&operation.docs));
                if !operation.docs.is_empty() {
                    self.line("///");
                }
                self.line(format!(
                    "/// `{}` ({}).",
                    operation.name,
                    if operation.idempotent {
                        "idempotent"
                    } else {
                        "not idempotent"
                    }
                ));
                self.line(format!(
                    "pub const {}: u64 = {};",
                    screaming(&operation.name),
                    number(operation.number)
                ));
            }
            self.line("}");
        }
    }

    fn emit_enums(&mut self) {
        let interface = self.interface;
        for definition in &interface.enums {
            let name = camel(&definition.name);
            let repr = definition.repr.name();
            self.out.push_str(&docs_of(&definition.docs));
            if definition.docs.is_empty() {
                self.line(format!("/// Enumeration `{}`.", definition.name));
            }
            self.line("///");
            self.line(format!(
                "/// Travels as a `{repr}`; a code that is not listed is refused as a bad message."
            ));
            self.line("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]");
            self.line(format!("#[repr({repr})]"));
            self.line(format!("pub enum {name} {{"));
            for variant in &definition.variants {
                self.out.push_str(&docs_of(&variant.docs));
                if variant.docs.is_empty() {
                    self.line(format!("/// `{}`.", variant.name));
                }
                self.line(format!(
                    "{} = {},",
                    camel(&variant.name),
                    number(variant.value)
                ));
            }
            self.line("}");
            self.line(format!("impl {name} {{"));
            self.line("/// Every value, in declaration order.");
            let all: Vec<String> = definition
                .variants
                .iter()
                .map(|variant| format!("{name}::{}", camel(&variant.name)))
                .collect();
            self.line(format!(
                "pub const ALL: &'static [{name}] = &[{}];",
                all.join(", ")
            ));
            self.line("/// The value with wire code `code`, if there is one.");
            self.line(format!(
                "pub fn from_code(code: {repr}) -> Option<{name}> {{"
            ));
            self.line("match code {");
            for variant in &definition.variants {
                self.line(format!(
                    "{} => Some({name}::{}),",
                    number(variant.value),
                    camel(&variant.name)
                ));
            }
            self.line("_ => None,");
            self.line("}");
            self.line("}");
            self.line("/// The wire code.");
            self.line(format!("pub fn code(self) -> {repr} {{"));
            self.line(format!("self as {repr}"));
            self.line("}");
            self.line("/// The name in the interface file.");
            self.line("pub fn name(self) -> &'static str {");
            self.line("match self {");
            for variant in &definition.variants {
                self.line(format!(
                    "{name}::{} => \"{}\",",
                    camel(&variant.name),
                    variant.name
                ));
            }
            self.line("}");
            self.line("}");
            self.line("}");
        }
    }

    fn emit_handles(&mut self) {
        let interface = self.interface;
        let mut kinds: Vec<_> = interface
            .operations
            .iter()
            .flat_map(|operation| &operation.arguments)
            .filter_map(|argument| match argument.ty {
                Type::Handle(kind) => Some(kind),
                _ => None,
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        if !kinds.is_empty() {
            let names: Vec<String> = kinds
                .iter()
                .map(|kind| format!("{}Handle", camel(kind.name())))
                .collect();
            self.line("/// The handle types this interface uses (one type per object kind, shared by every interface).");
            self.line(format!(
                "pub use extension_abi::interface_items::{{{}}};",
                names.join(", ")
            ));
        }
    }

    fn reply_values(&self, operation: &'a Operation) -> Vec<ReplyValue<'a>> {
        operation
            .reply()
            .into_iter()
            .map(|argument| {
                if argument.ty.is_buffer() {
                    ReplyValue {
                        argument,
                        field: format!("{}_length", snake(&argument.name)),
                        rust_type: "usize".to_string(),
                    }
                } else {
                    ReplyValue {
                        argument,
                        field: snake(&argument.name),
                        rust_type: self.scalar_type(&argument.ty),
                    }
                }
            })
            .collect()
    }

    /// The Rust type a successful call gives.
    fn reply_type(&self, operation: &'a Operation) -> String {
        let values = self.reply_values(operation);
        match values.as_slice() {
            [] => "()".to_string(),
            [value] => value.rust_type.clone(),
            _ => format!("{}Reply", camel(&operation.name)),
        }
    }

    fn emit_replies(&mut self) {
        let interface = self.interface;
        for operation in &interface.operations {
            let values = self.reply_values(operation);
            if values.len() < 2 {
                continue;
            }
            self.line(format!(
                "/// What `{}` answers ({} {}).",
                operation.name,
                operation.kind.keyword(),
                operation.number
            ));
            self.line("#[derive(Clone, Copy, Debug, PartialEq, Eq)]");
            self.line(format!("pub struct {}Reply {{", camel(&operation.name)));
            for value in values {
                self.out.push_str(&docs_of(&value.argument.docs));
                if !value.argument.docs.is_empty() {
                    self.line("///");
                }
                if value.argument.ty.is_buffer() {
                    self.line(format!(
                        "/// Bytes written into `{}`.",
                        snake(&value.argument.name)
                    ));
                } else {
                    self.line(format!(
                        "/// `{}` ({}).",
                        value.argument.name,
                        value.argument.direction.keyword()
                    ));
                }
                self.line(format!("pub {}: {},", value.field, value.rust_type));
            }
            self.line("}");
        }
    }

    fn emit_tables(&mut self) {
        let interface = self.interface;
        self.line("/// The tables' entry types (shared by every interface).");
        self.line("pub use extension_abi::interface_items::{ArgumentInfo, OperationInfo};");
        for (kind, name, title) in [
            (
                OperationKind::Service,
                "SERVICES",
                "Every kernel service, in number order.",
            ),
            (
                OperationKind::Entry,
                "ENTRIES",
                "Every entry operation, in number order.",
            ),
        ] {
            self.line(format!("/// {title}"));
            self.line(format!("pub const {name}: &[OperationInfo] = &["));
            for operation in interface.operations_of(kind) {
                let (request, reply) = message_sizes(interface, operation);
                self.line("OperationInfo {");
                self.line(format!("number: {},", number(operation.number)));
                self.line(format!("name: \"{}\",", operation.name));
                self.line(format!("idempotent: {},", operation.idempotent));
                self.line(format!("max_request_bytes: {request},"));
                self.line(format!("max_reply_bytes: {reply},"));
                self.line("arguments: &[");
                for argument in &operation.arguments {
                    let ownership = match argument.ownership {
                        Some(ownership) => format!("Some(\"{}\")", ownership.keyword()),
                        None => "None".to_string(),
                    };
                    self.line(format!(
                        "ArgumentInfo {{ name: \"{}\", direction: \"{}\", wire_type: \"{}\", ownership: {ownership} }},",
                        argument.name,
                        argument.direction.keyword(),
                        argument.ty.describe()
                    ));
                }
                self.line("],");
                self.line("},");
            }
            self.line("];");
        }
    }

    fn scalar_type(&self, ty: &Type) -> String {
        match ty {
            Type::Int(int) => int.name().to_string(),
            Type::Bool => "bool".to_string(),
            Type::Status => "Status".to_string(),
            Type::Handle(kind) => format!("{}Handle", camel(kind.name())),
            Type::Enum(name) => camel(name),
            // Buffers are parameters of their own shape (see `parameters`).
            Type::Bytes { .. } | Type::Text { .. } => "usize".to_string(),
        }
    }

    /// The parameters of a call or a trait method: request values and out
    /// buffers, in declaration order.
    fn parameters(&self, operation: &Operation) -> Vec<String> {
        operation
            .arguments
            .iter()
            .filter_map(|argument| {
                let name = snake(&argument.name);
                match (&argument.ty, argument.direction) {
                    (Type::Bytes { .. }, Direction::Out) => Some(format!("{name}: &mut [u8]")),
                    (_, Direction::Out) => None,
                    (Type::Bytes { .. }, _) => Some(format!("{name}: &[u8]")),
                    (Type::Text { .. }, _) => Some(format!("{name}: &str")),
                    (ty, _) => Some(format!("{name}: {}", self.scalar_type(ty))),
                }
            })
            .collect()
    }

    /// The names passed to a trait method, in parameter order.
    fn parameter_names(&self, operation: &Operation) -> Vec<String> {
        operation
            .arguments
            .iter()
            .filter_map(|argument| {
                let name = snake(&argument.name);
                match (argument.ty.is_buffer(), argument.direction) {
                    (true, Direction::Out) => Some(format!("&mut {name}")),
                    (false, Direction::Out) => None,
                    _ => Some(name),
                }
            })
            .collect()
    }

    fn operation_doc(&mut self, operation: &Operation, fallback: &str) {
        self.out.push_str(&docs_of(&operation.docs));
        if operation.docs.is_empty() {
            self.line(format!("/// {fallback}"));
        }
        self.line("///");
        let request: Vec<&Argument> = operation.request();
        let reply: Vec<&Argument> = operation.reply();
        self.line(format!(
            "/// {} {} (`{}`), {}. Request: {}. Reply: {}.",
            match operation.kind {
                OperationKind::Service => "Service",
                OperationKind::Entry => "Entry operation",
            },
            number(operation.number),
            operation.name,
            if operation.idempotent {
                "idempotent"
            } else {
                "not idempotent"
            },
            describe_values(&request),
            describe_values(&reply),
        ));
        if operation
            .arguments
            .iter()
            .any(|argument| argument.ty.is_buffer() && argument.direction == Direction::Out)
        {
            self.line(
                "/// An `out` buffer parameter receives the bytes; the reply gives how many.",
            );
        }
    }

    fn too_many(&mut self, count: usize) {
        if count > 7 {
            self.line("#[allow(clippy::too_many_arguments)]");
        }
    }

    // ----- encoding and decoding -----

    /// Statements that refuse request buffers longer than their maximum.
    fn request_limits(&mut self, operation: &Operation, error: &str) {
        for argument in operation.request() {
            if let Some(max) = argument.ty.buffer_max() {
                self.line(format!(
                    "if {}.len() > {max} {{ return Err({error}); }}",
                    snake(&argument.name)
                ));
            }
        }
    }

    /// Statements writing `value` (an expression) of `argument`'s type.
    fn encode(&mut self, argument: &Argument, value: &str, error: &str) {
        let put = |call: String| format!("writer.{call}.map_err(|_| {error})?;");
        let line = match &argument.ty {
            Type::Int(int) => put(format!("put_{}({value})", int.name())),
            Type::Bool => put(format!("put_u8(u8::from({value}))")),
            Type::Status => put(format!("put_u64({value} as u64)")),
            Type::Handle(_) => put(format!("put_u64({value}.0)")),
            Type::Enum(name) => {
                let repr = self
                    .interface
                    .find_enum(name)
                    .map_or("u64", |definition| definition.repr.name());
                put(format!("put_{repr}({value}.code())"))
            }
            Type::Bytes { .. } | Type::Text { .. } => {
                let bytes = match argument.ty {
                    Type::Text { .. } => format!("{value}.as_bytes()"),
                    _ => value.to_string(),
                };
                let mut text = String::new();
                if let Some(LengthEncoding::Prefix(int)) = argument.length {
                    text.push_str(&put(format!(
                        "put_{}({value}.len() as {})",
                        int.name(),
                        int.name()
                    )));
                    text.push('\n');
                }
                text.push_str(&put(format!("put_bytes({bytes})")));
                text
            }
        };
        self.line(line);
    }

    /// An expression reading a value of `argument`'s type from `reader`
    /// (in buffers: a borrowed slice or `&str`).
    fn decode(&mut self, argument: &Argument, error: &str) -> String {
        let read = |int: &str| format!("reader.{int}().map_err(|_| {error})?");
        match &argument.ty {
            Type::Int(int) => read(int.name()),
            Type::Bool => {
                self.helpers.bool_from_code = true;
                format!("reader.u8().ok().and_then(wire::bool_from_code).ok_or({error})?")
            }
            Type::Status => {
                format!("reader.u64().ok().and_then(Status::from_code).ok_or({error})?")
            }
            Type::Handle(kind) => format!("{}Handle({})", camel(kind.name()), read("u64")),
            Type::Enum(name) => {
                let repr = self
                    .interface
                    .find_enum(name)
                    .map_or("u64", |definition| definition.repr.name());
                format!(
                    "reader.{repr}().ok().and_then({}::from_code).ok_or({error})?",
                    camel(name)
                )
            }
            Type::Bytes { max } | Type::Text { max } => {
                let mut expression = self.take_buffer(argument, *max);
                if matches!(argument.ty, Type::Text { .. }) {
                    self.helpers.text = true;
                    expression.push_str(".and_then(wire::text)");
                }
                if argument.direction == Direction::Out {
                    self.helpers.copy_into = true;
                    let _ = write!(
                        expression,
                        ".and_then(|bytes| wire::copy_into(bytes, {}))",
                        snake(&argument.name)
                    );
                }
                format!("{expression}.ok_or({error})?")
            }
        }
    }

    /// An `Option<&[u8]>` expression taking a buffer from `reader`.
    fn take_buffer(&mut self, argument: &Argument, max: u64) -> String {
        match argument.length {
            Some(LengthEncoding::Prefix(int)) => {
                self.helpers.take = true;
                format!(
                    "reader.{}().ok().and_then(|length| wire::take(&mut reader, u64::from(length), {max}))",
                    int.name()
                )
            }
            _ => {
                self.helpers.take_rest = true;
                format!("wire::take_rest(&mut reader, {max})")
            }
        }
    }

    /// Caller side: encode the request into `message`, call, decode the
    /// reply into the function's result. `call` formats the call given the
    /// message expression; `error_argument` / `error_reply` are the error
    /// values for a too-long buffer and a bad reply.
    fn caller_body(
        &mut self,
        operation: &'a Operation,
        call: &dyn Fn(&str) -> String,
        error_argument: &str,
        error_reply: &str,
        reply_has_length: bool,
    ) {
        let (max_request, max_reply) = message_sizes(self.interface, operation);
        let request = operation.request();
        let variable = request.iter().any(|argument| argument.ty.is_buffer());
        let size = max_request.max(max_reply);
        self.request_limits(operation, error_argument);
        let message = if size == 0 {
            "&mut []".to_string()
        } else {
            if variable && size > SMALL_MESSAGE && max_reply <= SMALL_MESSAGE {
                // A small request uses a small buffer: zeroing the largest
                // message on every call would dominate a small call.
                let buffers: u64 = request
                    .iter()
                    .filter_map(|argument| argument.ty.buffer_max())
                    .sum();
                let lengths: Vec<String> = request
                    .iter()
                    .filter(|argument| argument.ty.is_buffer())
                    .map(|argument| format!("{}.len()", snake(&argument.name)))
                    .collect();
                let fixed = max_request - buffers;
                let mut terms = lengths.join(" + ");
                if fixed > 0 {
                    terms = format!("{fixed} + {terms}");
                }
                self.line(format!("let request_length = {terms};"));
                self.line(format!("let mut small = [0u8; {SMALL_MESSAGE}];"));
                self.line("let mut large;");
                self.line(format!(
                    "let message: &mut [u8] = if request_length <= {SMALL_MESSAGE} {{ &mut small }} else {{ large = [0u8; {size}]; &mut large }};"
                ));
            } else {
                self.line(format!("let mut message = [0u8; {size}];"));
            }
            if variable {
                "&mut message[..message_length]".to_string()
            } else {
                "&mut message".to_string()
            }
        };
        if !request.is_empty() {
            self.line("let mut writer = MessageWriter::new(&mut message[..]);");
            for argument in &request {
                self.encode(argument, &snake(&argument.name), error_argument);
            }
            if variable && max_reply > 0 {
                self.line(format!(
                    "let message_length = writer.len().max({max_reply});"
                ));
            } else if variable {
                self.line("let message_length = writer.len();");
            }
        }
        let values = self.reply_values(operation);
        if values.is_empty() {
            self.line(format!("{};", call(&message)));
            self.line("Ok(())");
            return;
        }
        let read_from = if reply_has_length {
            self.line(format!("let reply_length = {};", call(&message)));
            "&message[..reply_length]".to_string()
        } else {
            self.line(format!("{};", call(&message)));
            if variable {
                "&message[..message_length]".to_string()
            } else {
                "&message".to_string()
            }
        };
        self.line(format!("let mut reader = MessageReader::new({read_from});"));
        for value in &values {
            let expression = self.decode(value.argument, error_reply);
            self.line(format!("let {} = {expression};", value.field));
        }
        self.finish_reply(operation, &values);
    }

    fn finish_reply(&mut self, operation: &Operation, values: &[ReplyValue<'_>]) {
        match values {
            [value] => self.line(format!("Ok({})", value.field)),
            _ => {
                let fields: Vec<&str> = values.iter().map(|value| value.field.as_str()).collect();
                self.line(format!(
                    "Ok({}Reply {{ {} }})",
                    camel(&operation.name),
                    fields.join(", ")
                ));
            }
        }
    }

    /// Callee side: a private function that decodes the request from
    /// `message`, calls `implementation.NAME(...)` and writes the reply.
    /// `receiver` is `&mut S` or `&E`; the function returns `Ok(())`
    /// (services) or `Ok(reply length)` (entries).
    fn callee_function(&mut self, operation: &'a Operation, bound: &str, receiver: &str) {
        let (_, max_reply) = message_sizes(self.interface, operation);
        let returns_length = self.side == Side::Extension;
        let result = if returns_length { "usize" } else { "()" };
        self.line(format!(
            "/// Decodes, checks and runs `{}`.",
            operation.name
        ));
        self.line(format!(
            "fn dispatch_{}<{bound}>(message: &mut [u8], implementation: {receiver}) -> Result<{result}, Status> {{",
            snake(&operation.name)
        ));
        let values = self.reply_values(operation);
        if max_reply == 1 {
            self.line("if message.is_empty() { return Err(Status::BadMessage); }");
        } else if max_reply > 1 {
            self.line(format!(
                "if message.len() < {max_reply} {{ return Err(Status::BadMessage); }}"
            ));
        }
        let request = operation.request();
        if !request.is_empty() {
            self.line("let mut reader = MessageReader::new(message);");
            for argument in request {
                let expression = self.decode(argument, "Status::BadMessage");
                self.line(format!("let {} = {expression};", snake(&argument.name)));
            }
        }
        for argument in &operation.arguments {
            if let (Some(max), Direction::Out) = (argument.ty.buffer_max(), argument.direction) {
                self.line(format!("let mut {} = [0u8; {max}];", snake(&argument.name)));
            }
        }
        let call = format!(
            "implementation.{}({})",
            snake(&operation.name),
            self.parameter_names(operation).join(", ")
        );
        if values.is_empty() {
            if returns_length {
                self.line(format!("{call}?;"));
                self.line("Ok(0)");
            } else {
                self.line(call);
            }
            self.line("}");
            return;
        }
        self.line(format!("let reply = {call}?;"));
        self.line("let mut writer = MessageWriter::new(message);");
        let single = values.len() == 1;
        for value in &values {
            let expression = if single {
                "reply".to_string()
            } else {
                format!("reply.{}", value.field)
            };
            if value.argument.ty.is_buffer() {
                let name = snake(&value.argument.name);
                self.line(format!(
                    "let {name} = {name}.get(..{expression}).ok_or(Status::BadMessage)?;"
                ));
                self.encode(value.argument, &name, "Status::BadMessage");
            } else {
                self.encode(value.argument, &expression, "Status::BadMessage");
            }
        }
        if returns_length {
            self.line("Ok(writer.len())");
        } else {
            self.line("Ok(())");
        }
        self.line("}");
    }

    // ----- extension side -----

    fn emit_service_calls(&mut self) {
        let services = self.services();
        if services.is_empty() {
            return;
        }
        for operation in services {
            let parameters = self.parameters(operation);
            self.operation_doc(
                operation,
                &format!("Calls kernel service `{}`.", operation.name),
            );
            self.too_many(parameters.len());
            self.line(format!(
                "pub fn {}({}) -> Result<{}, Status> {{",
                snake(&operation.name),
                parameters.join(", "),
                self.reply_type(operation)
            ));
            let constant = format!("service::{}", screaming(&operation.name));
            self.helpers.call_kernel = true;
            self.caller_body(
                operation,
                &|message| format!("call_kernel({constant}, {message})?"),
                "Status::BadMessage",
                "Status::BadMessage",
                false,
            );
            self.line("}");
        }
    }

    fn emit_entry_trait(&mut self) {
        let entries = self.entries();
        if entries.is_empty() {
            return;
        }
        self.line(format!(
            "/// The entry operations of interface `{}`: the extension implements the ones it answers; the others answer `Status::UnknownOperation`.",
            self.interface.name
        ));
        self.line("pub trait Entries {");
        for operation in entries {
            let parameters = self.parameters(operation);
            self.operation_doc(operation, &format!("Handles entry `{}`.", operation.name));
            self.too_many(parameters.len() + 1);
            let mut signature = vec!["&self".to_string()];
            signature.extend(parameters);
            self.line(format!(
                "fn {}({}) -> Result<{}, Status> {{",
                snake(&operation.name),
                signature.join(", "),
                self.reply_type(operation)
            ));
            let names: Vec<String> = operation
                .arguments
                .iter()
                .filter(|argument| argument.direction != Direction::Out || argument.ty.is_buffer())
                .map(|argument| snake(&argument.name))
                .collect();
            match names.as_slice() {
                [] => {}
                [name] => self.line(format!("let _ = {name};")),
                _ => self.line(format!("let _ = ({});", names.join(", "))),
            }
            self.line("Err(Status::UnknownOperation)");
            self.line("}");
        }
        self.line("}");
    }

    fn emit_entry_dispatch(&mut self) {
        let entries = self.entries();
        if entries.is_empty() {
            return;
        }
        self.line("/// Runs entry operation `operation_number` on `implementation`: decodes and checks the arguments in `message`, calls the trait method and writes the reply over the message. Returns the status and the reply's length (for `extension_abi::pack_return`).");
        self.line("pub fn dispatch<E: Entries + ?Sized>(operation_number: u64, message: &mut [u8], implementation: &E) -> (Status, usize) {");
        self.line("let result = match operation_number {");
        for operation in &entries {
            let constant = format!("operation::{}", screaming(&operation.name));
            if operation.arguments.is_empty() {
                self.line(format!(
                    "{constant} => implementation.{}().map(|()| 0),",
                    snake(&operation.name)
                ));
            } else {
                self.line(format!(
                    "{constant} => dispatch_{}(message, implementation),",
                    snake(&operation.name)
                ));
            }
        }
        self.line("_ => Err(Status::UnknownOperation),");
        self.line("};");
        self.line("match result {");
        self.line("Ok(length) => (Status::Ok, length),");
        self.line("Err(status) => (status, 0),");
        self.line("}");
        self.line("}");
        for operation in entries {
            if !operation.arguments.is_empty() {
                self.callee_function(operation, "E: Entries + ?Sized", "&E");
            }
        }
    }

    // ----- kernel side -----

    fn emit_service_trait(&mut self) {
        let services = self.services();
        if services.is_empty() {
            return;
        }
        self.line(format!(
            "/// The kernel services of interface `{}`, one method per service. `dispatch` calls them only with arguments that passed every check the interface allows (lengths, enumeration codes, UTF-8); handles arrive as typed values for the implementation to look up.",
            self.interface.name
        ));
        self.line("pub trait Services {");
        for operation in services {
            let parameters = self.parameters(operation);
            self.operation_doc(operation, &format!("Runs service `{}`.", operation.name));
            self.too_many(parameters.len() + 1);
            let mut signature = vec!["&mut self".to_string()];
            signature.extend(parameters);
            self.line(format!(
                "fn {}({}) -> Result<{}, Status>;",
                snake(&operation.name),
                signature.join(", "),
                self.reply_type(operation)
            ));
        }
        self.line("}");
    }

    fn emit_service_dispatch(&mut self) {
        let services = self.services();
        if services.is_empty() {
            return;
        }
        self.line("/// Runs service `service_number` for an extension: decodes and checks every argument in `message` (the kernel's copy of the extension's message) and calls `implementation` only if all are valid, then writes the reply over the message. A message too short for the request or for the reply, a buffer longer than its maximum, an unknown enumeration code, a `bool` other than 0 or 1, or text that is not UTF-8 is `Status::BadMessage`; an unknown number is `Status::UnknownOperation`.");
        self.line("pub fn dispatch<S: Services + ?Sized>(service_number: u64, message: &mut [u8], implementation: &mut S) -> Status {");
        self.line("let result = match service_number {");
        for operation in &services {
            let constant = format!("service::{}", screaming(&operation.name));
            if operation.arguments.is_empty() {
                self.line(format!(
                    "{constant} => implementation.{}(),",
                    snake(&operation.name)
                ));
            } else {
                self.line(format!(
                    "{constant} => dispatch_{}(message, implementation),",
                    snake(&operation.name)
                ));
            }
        }
        self.line("_ => Err(Status::UnknownOperation),");
        self.line("};");
        self.line("match result {");
        self.line("Ok(()) => Status::Ok,");
        self.line("Err(status) => status,");
        self.line("}");
        self.line("}");
        for operation in services {
            if !operation.arguments.is_empty() {
                self.callee_function(operation, "S: Services + ?Sized", "&mut S");
            }
        }
    }

    fn emit_entry_calls(&mut self) {
        let entries = self.entries();
        if entries.is_empty() {
            return;
        }
        for operation in entries {
            let mut parameters = vec![
                "transport: &mut impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError>"
                    .to_string(),
            ];
            parameters.extend(self.parameters(operation));
            self.operation_doc(
                operation,
                &format!("Calls entry `{}` of the extension.", operation.name),
            );
            self.line("///");
            self.line("/// `transport(operation, message)` performs the call with the message in place and answers the extension's status and reply length, or the error that kept it from answering.");
            self.too_many(parameters.len());
            self.line(format!(
                "pub fn {}({}) -> Result<{}, CallError> {{",
                snake(&operation.name),
                parameters.join(", "),
                self.reply_type(operation)
            ));
            let constant = format!("operation::{}", screaming(&operation.name));
            self.helpers.call_extension = true;
            self.caller_body(
                operation,
                &|message| format!("call_extension(transport, {constant}, {message})?"),
                "CallError::BadArgument",
                "CallError::BadReply",
                true,
            );
            self.line("}");
        }
    }

    // ----- helpers -----

    fn emit_helpers(&mut self) {
        if self.helpers.call_kernel {
            self.line(format!(
                r#"/// Calls the kernel; `Ok` only if it answered `Status::Ok`.
fn call_kernel(service: u64, message: &mut [u8]) -> Result<(), Status> {{
    match {}(service, message) {{
        Status::Ok => Ok(()),
        status => Err(status),
    }}
}}"#,
                self.options.kernel_call_path
            ));
        }
        if self.helpers.call_extension {
            self.line(
                r#"/// Calls the extension through `transport`; the reply's length if it answered `Status::Ok`.
fn call_extension(
    transport: &mut impl FnMut(u64, &mut [u8]) -> Result<(Status, usize), CallError>,
    operation: u64,
    message: &mut [u8],
) -> Result<usize, CallError> {
    match transport(operation, message)? {
        (Status::Ok, length) if length <= message.len() => Ok(length),
        (Status::Ok, _) => Err(CallError::BadReply),
        (Status::ExtensionFailed, _) => Err(CallError::ExtensionFailed),
        (Status::NotRunning, _) => Err(CallError::NotRunning),
        (status, _) => Err(CallError::Status(status)),
    }
}"#,
            );
        }
        let helpers = &self.helpers;
        if !(helpers.bool_from_code
            || helpers.take
            || helpers.take_rest
            || helpers.text
            || helpers.copy_into)
        {
            return;
        }
        let mut text = String::from("/// Decoding helpers of the functions above.\nmod wire {\n");
        if helpers.bool_from_code {
            text.push_str(
                r#"/// A `bool` from its byte: 0 or 1, anything else is malformed.
pub fn bool_from_code(code: u8) -> Option<bool> {
    match code {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}
"#,
            );
        }
        if helpers.take {
            text.push_str(
                r#"/// The next `length` bytes, if `length` is at most `max` and the message holds them.
pub fn take<'a>(reader: &mut extension_abi::MessageReader<'a>, length: u64, max: usize) -> Option<&'a [u8]> {
    let length = usize::try_from(length).ok().filter(|length| *length <= max)?;
    reader.bytes(length).ok()
}
"#,
            );
        }
        if helpers.take_rest {
            text.push_str(
                r#"/// The rest of the message, if it is at most `max` bytes.
pub fn take_rest<'a>(reader: &mut extension_abi::MessageReader<'a>, max: usize) -> Option<&'a [u8]> {
    let rest = reader.rest();
    (rest.len() <= max).then_some(rest)
}
"#,
            );
        }
        if helpers.text {
            text.push_str(
                r#"/// `bytes` as UTF-8 text.
pub fn text(bytes: &[u8]) -> Option<&str> {
    core::str::from_utf8(bytes).ok()
}
"#,
            );
        }
        if helpers.copy_into {
            text.push_str(
                r#"/// Copies `bytes` to the start of `destination`; their length, if they fit.
pub fn copy_into(bytes: &[u8], destination: &mut [u8]) -> Option<usize> {
    destination.get_mut(..bytes.len())?.copy_from_slice(bytes);
    Some(bytes.len())
}
"#,
            );
        }
        text.push('}');
        self.line(text);
    }
}

/// Does `text` use `word` as a whole identifier?
fn uses_word(text: &str, word: &str) -> bool {
    let is_identifier = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + word.len()..].chars().next();
        !before.is_some_and(is_identifier) && !after.is_some_and(is_identifier)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(uses_word("x: Status,", "Status"));
        assert!(!uses_word("x: StatusReply,", "Status"));
        assert!(!uses_word("MyStatus", "Status"));
        assert!(uses_word("Status", "Status"));
    }
}
