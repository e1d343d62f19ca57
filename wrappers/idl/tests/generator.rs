//! Unit tests of the generator: message sizes, the shape of what each side
//! gets, options, and determinism. (The snapshot test pins the whole text;
//! the `idl-fixture` crate compiles and runs it.)

use idl::ast::OperationKind;
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

/// The buffer each hand-written function in
/// `wrappers/extension-api/src/services.rs` passes to `kernel_call`, by
/// service name: (largest request, reply) in bytes.
#[test]
fn message_sizes_are_those_of_the_hand_written_calls() {
    let interface = kernel_interface();
    let expected: &[(&str, u64, u64)] = &[
        ("log", 256, 0),
        ("panic", 255, 0),
        ("yield-now", 0, 0),
        ("sleep-ms", 8, 0),
        ("null-service", 0, 0),
        ("call-back", 16, 8),
        ("uptime-ms", 0, 8),
        ("grant-memory", 8, 16),
        ("release-memory", 8, 0),
        ("request-io-ports", 4, 8),
        ("release-io-ports", 8, 0),
        ("request-interrupt", 1, 8),
        ("free-interrupt", 8, 0),
        ("start-timer", 9, 8),
        ("cancel-timer", 8, 0),
        ("register-device", 32, 8),
        ("unregister-device", 8, 0),
        // Entries: as the kernel builds them (nim/mod.rs, nim/crash.rs,
        // nim/services.rs) and the runtime answers them.
        ("init", 32, 5),
        ("crash", 12, 0),
        ("null", 0, 0),
        ("call-kernel-null", 8, 0),
        ("interrupt", 1, 0),
        ("timer", 8, 0),
    ];
    assert_eq!(interface.operations.len(), expected.len());
    for (name, request, reply) in expected {
        let operation = interface
            .operations
            .iter()
            .find(|operation| operation.name == *name)
            .unwrap_or_else(|| panic!("no `{name}`"));
        assert_eq!(
            message_sizes(&interface, operation),
            (*request, *reply),
            "{name}"
        );
    }
}

#[test]
fn numbers_are_the_abi_numbers() {
    use extension_abi::{operation, service};
    let interface = kernel_interface();
    let number = |kind: OperationKind, name: &str| {
        interface
            .operations
            .iter()
            .find(|operation| operation.kind == kind && operation.name == name)
            .map(|operation| operation.number)
    };
    let services = [
        ("log", service::LOG),
        ("panic", service::PANIC),
        ("yield-now", service::YIELD),
        ("sleep-ms", service::SLEEP),
        ("null-service", service::NULL),
        ("call-back", service::CALL_BACK),
        ("uptime-ms", service::UPTIME),
        ("grant-memory", service::GRANT_MEMORY),
        ("release-memory", service::RELEASE_MEMORY),
        ("request-io-ports", service::REQUEST_IO_PORTS),
        ("release-io-ports", service::RELEASE_IO_PORTS),
        ("request-interrupt", service::REQUEST_INTERRUPT),
        ("free-interrupt", service::FREE_INTERRUPT),
        ("start-timer", service::START_TIMER),
        ("cancel-timer", service::CANCEL_TIMER),
        ("register-device", service::REGISTER_DEVICE),
        ("unregister-device", service::UNREGISTER_DEVICE),
    ];
    for (name, code) in services {
        assert_eq!(number(OperationKind::Service, name), Some(code), "{name}");
    }
    let entries = [
        ("init", operation::INIT),
        ("crash", operation::CRASH),
        ("null", operation::NULL),
        ("call-kernel-null", operation::CALL_KERNEL_NULL),
        ("interrupt", operation::INTERRUPT),
        ("timer", operation::TIMER),
    ];
    for (name, code) in entries {
        assert_eq!(number(OperationKind::Entry, name), Some(code), "{name}");
    }
}

#[test]
fn each_side_gets_its_own_half() {
    let interface = kernel_interface();
    let extension = side(&interface, Side::Extension);
    let kernel = side(&interface, Side::Kernel);
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
    // Kernel side: the service trait and dispatch, the entry calls.
    assert!(kernel.contains("pub trait Services"));
    assert!(
        kernel.contains(
            "fn grant_memory(&mut self, pages: u64) -> Result<GrantMemoryReply, Status>;"
        )
    );
    assert!(kernel.contains("pub enum CallError"));
    assert!(kernel.contains("pub fn crash("));
    assert!(!kernel.contains("pub trait Entries"));
    assert!(!kernel.contains("kernel_call"));
    // Both: types and tables.
    for text in [&extension, &kernel] {
        assert!(text.starts_with("// @generated by the `idl` crate from `kernel.idl`"));
        assert!(text.contains("pub enum Level"));
        assert!(text.contains("pub struct MemoryHandle(pub u64);"));
        assert!(text.contains("pub const KIND_CODE: u8 = 0;"));
        assert!(text.contains("pub const SERVICES: &[OperationInfo]"));
        assert!(text.contains("pub const GRANT_MEMORY: u64 = 8;"));
        // Handle kinds the interface does not use are not emitted.
        assert!(!text.contains("MmioHandle"));
    }
}

#[test]
fn the_register_device_message_is_padded_like_the_hand_written_one() {
    let extension = side(&kernel_interface(), Side::Extension);
    let function = extension
        .split("pub fn register_device(")
        .nth(1)
        .and_then(|rest| rest.split("\n}\n").next())
        .expect("register_device is generated");
    assert!(function.contains("if name.len() > 31"), "{function}");
    assert!(
        function.contains("let mut message = [0u8; 32];"),
        "{function}"
    );
    assert!(
        function.contains("writer.put_u8(name.len() as u8)"),
        "{function}"
    );
    assert!(
        function.contains("let message_length = writer.len().max(8);"),
        "{function}"
    );
}

#[test]
fn the_kernel_call_path_is_an_option() {
    let options = Options {
        kernel_call_path: "crate::runtime::kernel_call".to_string(),
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
    match generate(&interface, Side::Kernel, &Options::default()) {
        Err(GenerateError::Invalid(errors)) => assert!(errors.mentions("duplicate service number")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn imports_follow_use() {
    // Only enumerations: no message code, no reader or writer.
    let interface = parse("e.idl", "interface e\nenum color: u8 { red = 1 }").unwrap();
    for which in Side::ALL {
        let text = side(&interface, which);
        assert!(!text.contains("use extension_abi"), "{text}");
        assert!(text.contains("pub enum Color"));
        assert!(!text.contains("mod wire"));
    }
    // Entries without replies: the kernel side writes, never reads.
    let interface = parse("e.idl", "interface e\nentry 1 poke idempotent { in a: u8 }").unwrap();
    let text = side(&interface, Side::Kernel);
    assert!(
        text.contains("use extension_abi::{MessageWriter, Status};"),
        "{text}"
    );
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
    let text = side(&kernel_interface(), Side::Kernel);
    assert!(text.contains("}\n\n/// Decodes, checks and runs `log`."));
    assert!(!text.contains("\n\n\n"));
}
