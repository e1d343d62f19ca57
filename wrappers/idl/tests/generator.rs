//! Unit tests of the generator: message sizes, what each of the three files
//! of an interface gets (common, extension side, kernel side), options, and
//! determinism. (The snapshot test pins the whole text; the `idl-fixture`
//! crate compiles and runs it and pins the ABI of the real interfaces.)

use idl::check::message_sizes;
use idl::{GenerateError, Interface, Options, Side, generate, parse, parse_file};
use std::path::Path;

fn kernel_interface() -> Interface {
    parse_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../interface/kernel.idl"))
        .unwrap_or_else(|errors| panic!("{errors}"))
}

fn side(interface: &Interface, side: Side) -> String {
    generate(interface, side, &Options::default()).unwrap_or_else(|error| panic!("{error}"))
}

/// The code of the file after its `//` header.
fn body(text: &str) -> &str {
    let start = text
        .lines()
        .take_while(|line| line.starts_with("//") || line.is_empty())
        .map(|line| line.len() + 1)
        .sum::<usize>();
    &text[start..]
}

/// Every wire rule of docs/wrappers.md once, with the sizes worked out by
/// hand: (operation, largest request, largest reply).
#[test]
fn message_sizes_follow_the_wire_rules() {
    let source = "interface sizes
enum small: u8 { a = 1 }
enum medium: u16 { a = 1 }
enum large: u32 { a = 1 }
enum huge: u64 { a = 1 }
service 1 nothing idempotent { }
service 2 integers idempotent {
    in a: u8
    in b: u16
    in c: u32
    in d: u64
    out e: u8
}
service 3 others idempotent {
    in flag: bool
    in code: status
    in handle: handle<pci-device>
    out status: status
    out memory: handle<memory>
}
service 4 enums idempotent {
    in a: small
    in b: medium
    in c: large
    in d: huge
    out e: huge
}
service 5 inout idempotent {
    inout a: u32
    in b: u8
    out c: u16
}
service 6 prefixes idempotent {
    in a: bytes<200> copied-in prefix-u8
    in b: bytes<300> borrowed prefix-u16
    in c: text<10> copied-in prefix-u32
    out d: bytes<16> copied-out prefix-u8
}
service 7 tail-request not-idempotent {
    in a: u64
    in b: bytes<1000> transferred tail
}
entry 1 tail-reply idempotent {
    in a: u16
    out b: u32
    out c: bytes<500> copied-out tail
}
";
    let interface = parse("sizes.idl", source).unwrap_or_else(|errors| panic!("{errors}"));
    let expected: &[(&str, u64, u64)] = &[
        ("nothing", 0, 0),
        // 1 + 2 + 4 + 8; 1.
        ("integers", 15, 1),
        // bool 1, status 8, handle 8; status 8, handle 8.
        ("others", 17, 16),
        // An enumeration travels as its integer type.
        ("enums", 15, 8),
        // inout counts on both sides: 4 + 1; 4 + 2.
        ("inout", 5, 6),
        // A prefix is its integer: (1 + 200) + (2 + 300) + (4 + 10); 1 + 16.
        ("prefixes", 517, 17),
        // A tail has no prefix.
        ("tail-request", 1008, 0),
        ("tail-reply", 2, 504),
    ];
    assert_eq!(interface.operations.len(), expected.len());
    for (operation, (name, request, reply)) in interface.operations.iter().zip(expected) {
        assert_eq!(operation.name, *name);
        assert_eq!(
            message_sizes(&interface, operation),
            (*request, *reply),
            "{name}"
        );
    }
    // The caller's buffer is the larger of the two.
    let extension = side(&interface, Side::Extension);
    assert!(extension.contains("large = [0u8; 517];"), "prefixes");
    assert!(extension.contains("let mut message = [0u8; 17];"), "others");
    assert!(extension.contains("let mut message = [0u8; 6];"), "inout");
    let kernel = side(&interface, Side::Kernel);
    assert!(
        kernel.contains("let mut message = [0u8; 504];"),
        "tail-reply"
    );
}

/// A request whose size depends on its buffers is built in a 64-byte
/// buffer when it fits (and the reply does too), else in one of the
/// largest size; fixed-size requests and large replies keep one buffer.
#[test]
fn a_small_request_uses_a_small_buffer() {
    let source = "interface small
service 1 tail not-idempotent {
    in a: u64
    in b: bytes<1000> copied-in tail
}
service 2 prefixes idempotent {
    in a: bytes<200> copied-in prefix-u8
    in b: text<10> copied-in prefix-u32
    out c: u64
}
service 3 short idempotent {
    in a: bytes<50> copied-in prefix-u8
    out b: u64
}
service 4 big-reply idempotent {
    in a: bytes<100> copied-in prefix-u8
    out b: bytes<100> copied-out prefix-u8
}
entry 1 put idempotent {
    in a: bytes<4096> copied-in prefix-u16
    out b: u16
}
";
    let interface = parse("small.idl", source).unwrap_or_else(|errors| panic!("{errors}"));
    let function = |text: &str, name: &str| -> String {
        text.split(&format!("pub fn {name}("))
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .unwrap_or_else(|| panic!("no `{name}`"))
            .to_string()
    };
    let extension = side(&interface, Side::Extension);
    // The fixed part counts the other values and the length prefixes.
    let tail = function(&extension, "tail");
    assert!(tail.contains("let request_length = 8 + b.len();"), "{tail}");
    assert!(tail.contains("let mut small = [0u8; 64];"), "{tail}");
    assert!(tail.contains("if request_length <= 64 {"), "{tail}");
    assert!(tail.contains("large = [0u8; 1008];"), "{tail}");
    let prefixes = function(&extension, "prefixes");
    assert!(
        prefixes.contains("let request_length = 5 + a.len() + b.len();"),
        "{prefixes}"
    );
    // At most 64 bytes anyway, or a reply over 64: one buffer.
    let short = function(&extension, "short");
    assert!(short.contains("let mut message = [0u8; 51];"), "{short}");
    assert!(!short.contains("small"), "{short}");
    let big = function(&extension, "big_reply");
    assert!(big.contains("let mut message = [0u8; 101];"), "{big}");
    assert!(!big.contains("small"), "{big}");
    // The kernel side's entry calls do the same.
    let kernel = side(&interface, Side::Kernel);
    let put = function(&kernel, "put");
    assert!(put.contains("let request_length = 2 + a.len();"), "{put}");
    assert!(put.contains("large = [0u8; 4098];"), "{put}");
}

#[test]
fn each_file_gets_its_own_part() {
    let interface = kernel_interface();
    let common = side(&interface, Side::Common);
    let extension = side(&interface, Side::Extension);
    let kernel = side(&interface, Side::Kernel);
    for (text, which) in [
        (&common, "common"),
        (&extension, "extension"),
        (&kernel, "kernel"),
    ] {
        assert!(text.starts_with(&format!(
            "// @generated by the `idl` crate from `kernel.idl` (interface `kernel`, {which} side)."
        )));
    }
    // Common: numbers, enumerations, handles, replies, tables; no code that
    // touches a message, no trait, no dispatch, no re-export.
    for item in [
        "pub mod service {",
        "pub mod operation {",
        "pub const GRANT_MEMORY: u64 = 8;",
        "pub const INIT: u64 = 0;",
        "pub enum Level {",
        "pub fn from_code(code: u8) -> Option<Level>",
        "pub use extension_abi::interface_items::{",
        "MemoryHandle,",
        "PciDeviceHandle,",
        "pub use extension_abi::interface_items::{ArgumentInfo, OperationInfo};",
        "pub struct GrantMemoryReply {",
        "pub struct InitReply {",
        "pub const SERVICES: &[OperationInfo]",
        "pub const ENTRIES: &[OperationInfo]",
    ] {
        assert!(common.contains(item), "common lacks {item}");
    }
    for item in [
        "trait ",
        "fn dispatch",
        "kernel_call",
        "CallError",
        "MessageReader",
        "MessageWriter",
        "pub struct OperationInfo",
        "pub struct MemoryHandle",
        "mod wire",
    ] {
        assert!(!common.contains(item), "common has {item}");
    }
    // Handle kinds the interface does not use are not emitted.
    assert!(!common.contains("DeferredCallHandle"));
    assert!(!common.contains("PacketHandle"));
    // The sides have none of the common items.
    for text in [&extension, &kernel] {
        for item in [
            "pub mod service",
            "pub mod operation",
            "pub const GRANT_MEMORY",
            "pub enum Level",
            "pub struct MemoryHandle",
            "KIND_CODE",
            "pub struct GrantMemoryReply",
            "pub struct OperationInfo",
            "SERVICES",
            "ENTRIES",
        ] {
            assert!(!text.contains(item), "a side has {item}");
        }
    }
    // Extension side: service calls over kernel_call, the entry trait and
    // its dispatch.
    assert!(
        extension.contains("pub fn grant_memory(pages: u64) -> Result<GrantMemoryReply, Status>")
    );
    assert!(extension.contains("extension_api::kernel_call(service, message)"));
    assert!(extension.contains("pub trait Entries"));
    assert!(extension.contains("-> (Status, usize)"));
    assert!(!extension.contains("pub trait Services"));
    assert!(!extension.contains("CallError"));
    // Kernel side: the service trait and dispatch, the entry calls, with
    // `extension_abi::CallError` (hand-written there, not generated).
    assert!(kernel.contains("pub trait Services"));
    assert!(
        kernel.contains(
            "fn grant_memory(&mut self, pages: u64) -> Result<GrantMemoryReply, Status>;"
        )
    );
    assert!(
        kernel.contains("use extension_abi::{MessageReader, MessageWriter, Status, CallError};")
    );
    assert!(!kernel.contains("enum CallError"));
    assert!(kernel.contains("pub fn crash("));
    assert!(!kernel.contains("pub trait Entries"));
    assert!(!kernel.contains("kernel_call"));
}

#[test]
fn each_side_reexports_the_common_module_first() {
    let interface = kernel_interface();
    for which in [Side::Extension, Side::Kernel] {
        let text = side(&interface, which);
        let code = body(&text);
        assert!(
            code.starts_with("pub use extension_abi::interfaces::kernel::*;\n"),
            "{which:?}: {code:.200}"
        );
        assert_eq!(code.matches("pub use ").count(), 1, "{which:?}");
    }
    // The common file re-exports only the items every interface shares.
    let common = side(&interface, Side::Common);
    for line in common.lines().filter(|line| line.contains("pub use")) {
        assert!(
            line.starts_with("pub use extension_abi::interface_items::"),
            "{line}"
        );
    }
}

#[test]
fn the_common_path_is_an_option_with_the_interface_name() {
    // `{interface}` is the interface's name in snake case.
    let interface = parse(
        "dev-tools.idl",
        "interface dev-tools\nservice 1 poke idempotent { in a: u8 }\nentry 1 peek idempotent { out a: u8 }",
    )
    .unwrap();
    let options = Options {
        common_path: "crate::generated::{interface}_common".to_string(),
        ..Options::default()
    };
    assert_eq!(
        options.common_path_of("dev-tools"),
        "crate::generated::dev_tools_common"
    );
    for which in [Side::Extension, Side::Kernel] {
        let text = generate(&interface, which, &options).unwrap();
        assert!(
            body(&text).starts_with("pub use crate::generated::dev_tools_common::*;\n"),
            "{text}"
        );
        assert!(!text.contains("extension_abi::interfaces"));
    }
    // The common file does not depend on where it is included.
    assert_eq!(
        generate(&interface, Side::Common, &options).unwrap(),
        side(&interface, Side::Common)
    );
    // A path without `{interface}` is used as written.
    let fixed = Options {
        common_path: "crate::features_common".to_string(),
        ..Options::default()
    };
    assert_eq!(fixed.common_path_of("anything"), "crate::features_common");
    let text = generate(&interface, Side::Kernel, &fixed).unwrap();
    assert!(body(&text).starts_with("pub use crate::features_common::*;\n"));
    // The default is the module `extension_abi` includes the common file in.
    assert_eq!(
        Options::default().common_path_of("dev-tools"),
        "extension_abi::interfaces::dev_tools"
    );
}

#[test]
fn three_files_per_interface() {
    assert_eq!(Side::ALL, [Side::Common, Side::Extension, Side::Kernel]);
    let names: Vec<String> = Side::ALL
        .iter()
        .map(|which| which.file_name("kernel"))
        .collect();
    assert_eq!(
        names,
        [
            "kernel_common.rs",
            "kernel_extension_side.rs",
            "kernel_kernel_side.rs"
        ]
    );
    assert_eq!(Side::Common.file_name("dev-tools"), "dev_tools_common.rs");
    assert_eq!(
        Side::Kernel.file_name("dev-tools"),
        "dev_tools_kernel_side.rs"
    );
    let names: Vec<&str> = Side::ALL.iter().map(|which| which.name()).collect();
    assert_eq!(names, ["common", "extension", "kernel"]);
    // The header names the module to include each file in.
    let text = side(&kernel_interface(), Side::Common);
    assert!(text.contains("`mod kernel_common { include!(\"...\"); }`"));
}

#[test]
fn the_register_device_message_is_padded_to_the_reply() {
    let extension = side(&kernel_interface(), Side::Extension);
    let function = extension
        .split("pub fn register_device(")
        .nth(1)
        .and_then(|rest| rest.split("\n}\n").next())
        .expect("register_device is generated");
    assert!(function.contains("if name.len() > 31"), "{function}");
    // class (1) + length prefix (1) + 31 bytes of name.
    assert!(
        function.contains("let mut message = [0u8; 33];"),
        "{function}"
    );
    assert!(
        function.contains("writer.put_u8(class.code())"),
        "{function}"
    );
    assert!(
        function.contains("writer.put_u8(name.len() as u8)"),
        "{function}"
    );
    // The request is cut to its length, but never below the reply (8).
    assert!(
        function.contains("let message_length = writer.len().max(8);"),
        "{function}"
    );
}

#[test]
fn a_one_byte_reply_is_checked_with_is_empty() {
    // `message.len() < 1` is clippy's `len_zero`, which the workspace
    // refuses in generated code as anywhere else.
    let interface = parse(
        "one.idl",
        "interface one\nservice 1 get idempotent { out a: u8 }\nentry 1 ask idempotent { out a: bool }",
    )
    .unwrap();
    for which in [Side::Extension, Side::Kernel] {
        let text = side(&interface, which);
        assert!(!text.contains("len() < 1"), "{text}");
    }
    let kernel = side(&interface, Side::Kernel);
    assert!(kernel.contains("if message.is_empty() {"), "{kernel}");
    let extension = side(&interface, Side::Extension);
    assert!(extension.contains("if message.is_empty() {"), "{extension}");
    // Longer replies keep the length comparison.
    let two = parse(
        "two.idl",
        "interface two\nservice 1 get idempotent { out a: u16 }",
    )
    .unwrap();
    assert!(side(&two, Side::Kernel).contains("if message.len() < 2 {"));
}

#[test]
fn the_kernel_call_path_is_an_option() {
    let options = Options {
        kernel_call_path: "crate::runtime::kernel_call".to_string(),
        ..Options::default()
    };
    let text = generate(&kernel_interface(), Side::Extension, &options).unwrap();
    assert!(text.contains("crate::runtime::kernel_call(service, message)"));
    assert!(!text.contains("extension_api::kernel_call"));
}

#[test]
fn generation_is_deterministic() {
    let interface = kernel_interface();
    for which in Side::ALL {
        assert_eq!(side(&interface, which), side(&interface, which));
    }
}

#[test]
fn an_interface_with_errors_is_not_generated() {
    let mut interface = kernel_interface();
    interface.operations[1].number = interface.operations[0].number;
    for which in Side::ALL {
        match generate(&interface, which, &Options::default()) {
            Err(GenerateError::Invalid(errors)) => {
                assert!(errors.mentions("duplicate service number"));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn imports_follow_use() {
    // Only enumerations: they live in the common file, which needs no
    // import; the sides only re-export it.
    let interface = parse("e.idl", "interface e\nenum color: u8 { red = 1 }").unwrap();
    let common = side(&interface, Side::Common);
    assert!(common.contains("pub enum Color"));
    let imports: Vec<&str> = common
        .lines()
        .filter(|line| line.contains("use "))
        .collect();
    assert_eq!(
        imports,
        ["pub use extension_abi::interface_items::{ArgumentInfo, OperationInfo};"],
        "{common}"
    );
    for which in [Side::Extension, Side::Kernel] {
        let text = side(&interface, which);
        assert_eq!(
            body(&text).trim_end(),
            "pub use extension_abi::interfaces::e::*;"
        );
    }
    // A status in a reply structure: the common file imports `Status`.
    let interface = parse(
        "s.idl",
        "interface s\nservice 1 two idempotent { out a: status out b: u8 }",
    )
    .unwrap();
    assert!(side(&interface, Side::Common).contains("use extension_abi::Status;"));
    // Entries without replies: the kernel side writes, never reads.
    let interface = parse("e.idl", "interface e\nentry 1 poke idempotent { in a: u8 }").unwrap();
    let text = side(&interface, Side::Kernel);
    assert!(
        text.contains("use extension_abi::{MessageWriter, Status, CallError};"),
        "{text}"
    );
    assert!(!text.contains("MessageReader"));
}

#[test]
fn many_arguments_are_allowed_explicitly() {
    let source = "interface m\nservice 1 many idempotent { in a: u8 in b: u8 in c: u8 in d: u8 in e: u8 in f: u8 in g: u8 in h: u8 }";
    let text = side(&parse("m.idl", source).unwrap(), Side::Extension);
    assert!(
        text.contains("#[allow(clippy::too_many_arguments)]\npub fn many("),
        "{text}"
    );
    let few = "interface m\nservice 1 few idempotent { in a: u8 }";
    assert!(!side(&parse("m.idl", few).unwrap(), Side::Extension).contains("too_many_arguments"));
}

#[test]
fn items_are_separated_by_blank_lines() {
    let interface = kernel_interface();
    let text = side(&interface, Side::Kernel);
    assert!(text.contains("}\n\n/// Decodes, checks and runs `log`."));
    for which in Side::ALL {
        assert!(!side(&interface, which).contains("\n\n\n"), "{which:?}");
    }
}
