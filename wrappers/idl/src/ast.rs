//! The parsed form of an interface file.

use crate::diagnostic::Span;

/// One interface file: its enumerations and operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The file's name as given to the parser (for messages and headers).
    pub file: String,
    /// The interface's name (`interface NAME`).
    pub name: String,
    /// Where the name is.
    pub span: Span,
    /// Doc comment lines before `interface`.
    pub docs: Vec<String>,
    /// Enumerations, in file order.
    pub enums: Vec<EnumDef>,
    /// Operations (services and entries), in file order.
    pub operations: Vec<Operation>,
}

impl Interface {
    /// The enumeration called `name`.
    pub fn find_enum(&self, name: &str) -> Option<&EnumDef> {
        self.enums.iter().find(|definition| definition.name == name)
    }

    /// The operations of one kind, in number order.
    pub fn operations_of(&self, kind: OperationKind) -> Vec<&Operation> {
        let mut operations: Vec<&Operation> = self
            .operations
            .iter()
            .filter(|operation| operation.kind == kind)
            .collect();
        operations.sort_by_key(|operation| operation.number);
        operations
    }
}

/// An enumeration carried as an unsigned integer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumDef {
    /// Its name (kebab-case).
    pub name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// The integer it travels as.
    pub repr: IntType,
    /// Its values, in file order.
    pub variants: Vec<Variant>,
    /// Where `enum` is.
    pub span: Span,
}

/// One value of an enumeration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Its name (kebab-case).
    pub name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Its code on the wire.
    pub value: u64,
    /// Where its name is.
    pub span: Span,
}

/// Which way an operation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// A kernel service an extension calls (`service`).
    Service,
    /// An extension entry point the kernel calls (`entry`).
    Entry,
}

impl OperationKind {
    /// The keyword that declares it.
    pub fn keyword(self) -> &'static str {
        match self {
            OperationKind::Service => "service",
            OperationKind::Entry => "entry",
        }
    }
}

/// One operation: a kernel service or an extension entry point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Service or entry.
    pub kind: OperationKind,
    /// Its stable number (the service or operation code).
    pub number: u64,
    /// Its name (kebab-case).
    pub name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Safe to retry after the extension restarts?
    pub idempotent: bool,
    /// Arguments, in declaration order.
    pub arguments: Vec<Argument>,
    /// Where the keyword is.
    pub span: Span,
}

impl Operation {
    /// The request's values, in wire order: `in` and `inout` arguments in
    /// declaration order.
    pub fn request(&self) -> Vec<&Argument> {
        self.arguments
            .iter()
            .filter(|argument| argument.direction != Direction::Out)
            .collect()
    }

    /// The reply's values, in wire order: `inout` and `out` arguments in
    /// declaration order (written over the request, from offset 0).
    pub fn reply(&self) -> Vec<&Argument> {
        self.arguments
            .iter()
            .filter(|argument| argument.direction != Direction::In)
            .collect()
    }
}

/// Which way an argument travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Caller to callee (in the request).
    In,
    /// Callee to caller (in the reply).
    Out,
    /// Both (in the request and in the reply).
    InOut,
}

impl Direction {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::InOut => "inout",
        }
    }
}

/// One argument of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Argument {
    /// Which way it travels.
    pub direction: Direction,
    /// Its name (kebab-case).
    pub name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Its type.
    pub ty: Type,
    /// Who owns a buffer after the call (buffers only).
    pub ownership: Option<Ownership>,
    /// How a buffer's length travels (buffers only).
    pub length: Option<LengthEncoding>,
    /// Where the direction keyword is.
    pub span: Span,
    /// Where the type is.
    pub type_span: Span,
}

/// An unsigned integer type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntType {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
}

impl IntType {
    /// The type's name (the same in the interface and in Rust).
    pub fn name(self) -> &'static str {
        match self {
            IntType::U8 => "u8",
            IntType::U16 => "u16",
            IntType::U32 => "u32",
            IntType::U64 => "u64",
        }
    }

    /// Bytes on the wire.
    pub fn size(self) -> usize {
        match self {
            IntType::U8 => 1,
            IntType::U16 => 2,
            IntType::U32 => 4,
            IntType::U64 => 8,
        }
    }

    /// The largest value.
    pub fn max_value(self) -> u64 {
        match self {
            IntType::U8 => u64::from(u8::MAX),
            IntType::U16 => u64::from(u16::MAX),
            IntType::U32 => u64::from(u32::MAX),
            IntType::U64 => u64::MAX,
        }
    }

    /// The type called `name`.
    pub fn from_name(name: &str) -> Option<IntType> {
        Some(match name {
            "u8" => IntType::U8,
            "u16" => IntType::U16,
            "u32" => IntType::U32,
            "u64" => IntType::U64,
            _ => return None,
        })
    }
}

macro_rules! handle_kinds {
    ($($(#[$doc:meta])* $name:ident = $text:literal, $tracker:literal, $code:literal;)*) => {
        /// The kinds of kernel object a handle can name (the object
        /// tracker's kinds, under shorter interface names).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum HandleKind {
            $($(#[$doc])* $name,)*
        }

        impl HandleKind {
            /// Every kind, in object-tracker code order.
            pub const ALL: &'static [HandleKind] = &[$(HandleKind::$name,)*];

            /// The name in interface files (`handle<NAME>`).
            pub fn name(self) -> &'static str {
                match self { $(HandleKind::$name => $text,)* }
            }

            /// The object tracker's name for the kind (`ObjectKind::name`).
            pub fn tracker_name(self) -> &'static str {
                match self { $(HandleKind::$name => $tracker,)* }
            }

            /// The object tracker's code for the kind (`ObjectKind` as `u8`).
            pub fn tracker_code(self) -> u8 {
                match self { $(HandleKind::$name => $code,)* }
            }

            /// The kind called `name` in interface files.
            pub fn from_name(name: &str) -> Option<HandleKind> {
                match name {
                    $($text => Some(HandleKind::$name),)*
                    _ => None,
                }
            }
        }
    };
}

handle_kinds! {
    /// Granted memory.
    Memory = "memory", "memory", 0;
    /// A DMA-capable buffer.
    DmaBuffer = "dma-buffer", "dma-buffer", 1;
    /// A range of I/O ports.
    IoPorts = "io-ports", "io-port-range", 2;
    /// A memory-mapped I/O region.
    Mmio = "mmio", "mmio-region", 3;
    /// An interrupt handler registration.
    Interrupt = "interrupt", "irq-registration", 4;
    /// A timer.
    Timer = "timer", "timer", 5;
    /// A device registration.
    Device = "device", "device-registration", 6;
    /// Queued deferred-call work.
    DeferredCall = "deferred-call", "deferred-call", 7;
    /// A packet buffer in flight.
    Packet = "packet", "packet-buffer", 8;
    /// A block request in flight.
    BlockRequest = "block-request", "block-request", 9;
    /// A claimed PCI function.
    PciDevice = "pci-device", "pci-device", 10;
    /// A TCP socket of the kernel's network stack.
    Socket = "socket", "socket", 11;
}

/// The type of an argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Type {
    /// An unsigned integer.
    Int(IntType),
    /// `bool`: one byte, 0 or 1.
    Bool,
    /// `status`: an `extension_abi::Status` code as a `u64`.
    Status,
    /// `handle<KIND>`: a `u64` object handle.
    Handle(HandleKind),
    /// An enumeration declared in the file (by name).
    Enum(String),
    /// `bytes<MAX>`: at most `MAX` bytes.
    Bytes {
        /// Largest length in bytes.
        max: u64,
    },
    /// `text<MAX>`: UTF-8 text of at most `MAX` bytes.
    Text {
        /// Largest length in bytes.
        max: u64,
    },
}

impl Type {
    /// Is this a buffer (`bytes` or `text`)?
    pub fn is_buffer(&self) -> bool {
        matches!(self, Type::Bytes { .. } | Type::Text { .. })
    }

    /// A buffer's largest length.
    pub fn buffer_max(&self) -> Option<u64> {
        match self {
            Type::Bytes { max } | Type::Text { max } => Some(*max),
            _ => None,
        }
    }

    /// How the type is written in an interface file.
    pub fn describe(&self) -> String {
        match self {
            Type::Int(int) => int.name().to_string(),
            Type::Bool => "bool".to_string(),
            Type::Status => "status".to_string(),
            Type::Handle(kind) => format!("handle<{}>", kind.name()),
            Type::Enum(name) => name.clone(),
            Type::Bytes { max } => format!("bytes<{max}>"),
            Type::Text { max } => format!("text<{max}>"),
        }
    }
}

/// Who owns a buffer after the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ownership {
    /// The callee gets a copy; the caller keeps its buffer (`copied-in`).
    CopiedIn,
    /// The callee's data is copied into the caller's buffer (`copied-out`).
    CopiedOut,
    /// The callee may use the buffer during the call only (`borrowed`).
    Borrowed,
    /// The buffer passes to the other side for good (`transferred`).
    Transferred,
}

impl Ownership {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Ownership::CopiedIn => "copied-in",
            Ownership::CopiedOut => "copied-out",
            Ownership::Borrowed => "borrowed",
            Ownership::Transferred => "transferred",
        }
    }

    /// The ownership called `word`.
    pub fn from_keyword(word: &str) -> Option<Ownership> {
        Some(match word {
            "copied-in" => Ownership::CopiedIn,
            "copied-out" => Ownership::CopiedOut,
            "borrowed" => Ownership::Borrowed,
            "transferred" => Ownership::Transferred,
            _ => return None,
        })
    }
}

/// How a buffer's length travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LengthEncoding {
    /// An integer length in front of the bytes (`prefix-u8`, `prefix-u16`,
    /// `prefix-u32`).
    Prefix(IntType),
    /// No length: the bytes run to the end of the message (`tail`).
    Tail,
}

impl LengthEncoding {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            LengthEncoding::Prefix(IntType::U8) => "prefix-u8",
            LengthEncoding::Prefix(IntType::U16) => "prefix-u16",
            LengthEncoding::Prefix(IntType::U32) => "prefix-u32",
            LengthEncoding::Prefix(IntType::U64) => "prefix-u64",
            LengthEncoding::Tail => "tail",
        }
    }

    /// The encoding called `word` (`prefix-u64` is not one: a length never
    /// needs it).
    pub fn from_keyword(word: &str) -> Option<LengthEncoding> {
        Some(match word {
            "prefix-u8" => LengthEncoding::Prefix(IntType::U8),
            "prefix-u16" => LengthEncoding::Prefix(IntType::U16),
            "prefix-u32" => LengthEncoding::Prefix(IntType::U32),
            "tail" => LengthEncoding::Tail,
            _ => return None,
        })
    }
}
