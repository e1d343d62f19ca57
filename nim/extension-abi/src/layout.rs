//! The wire layout of an operation's messages, worked out from its row in
//! a generated operation table (`OperationInfo`: its arguments with their
//! direction and type, its largest request and reply), the way the
//! generated code lays values out (`docs/wrappers.md`, "Wire layout").
//!
//! For tests that build messages as the generated code reads them — valid
//! ones with chosen handles, and malformed ones on purpose, one
//! [`Malformation`] at a time: the kernel's hostile-extension tests and the
//! host tests of the generated dispatch. Driven by the table, so a new
//! operation is covered without editing the tests.
//!
//! Invariants:
//! - A [`Layout`] exists only if it reproduces the table's largest request
//!   and reply exactly (so the model and the generator agree on sizes and
//!   on how each buffer's length travels).
//! - Writing never panics: a message that does not fit the output is
//!   `None`.

use crate::MAX_MESSAGE_BYTES;

/// Most values one request or reply may hold here.
pub const MAX_VALUES: usize = 16;

/// Zeros to fill buffers with.
static ZEROS: [u8; MAX_MESSAGE_BYTES + 1] = [0; MAX_MESSAGE_BYTES + 1];

/// An enumeration's wire width and its valid codes.
#[derive(Clone, Copy, Debug)]
pub struct EnumShape {
    /// Bytes on the wire.
    pub width: usize,
    /// Is `code` one of its values?
    pub is_valid: fn(u64) -> bool,
}

impl EnumShape {
    /// The smallest valid code (searched up to 0xffff).
    pub fn first_valid(&self) -> Option<u64> {
        (0..=self.largest().min(0xffff)).find(|&code| (self.is_valid)(code))
    }

    /// The smallest code the width can carry that is not valid (searched
    /// up to 0xffff).
    pub fn first_invalid(&self) -> Option<u64> {
        (0..=self.largest().min(0xffff)).find(|&code| !(self.is_valid)(code))
    }

    fn largest(&self) -> u64 {
        match self.width {
            8.. => u64::MAX,
            width => (1u64 << (8 * width)) - 1,
        }
    }
}

/// How one value travels.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// `u8` to `u64`: this many bytes, little-endian.
    Unsigned(usize),
    /// One byte, 0 or 1.
    Bool,
    /// A `Status` code in 8 bytes.
    Status,
    /// An object-tracker handle (8 bytes) of this kind.
    Handle(&'static str),
    /// An enumeration.
    Enum(EnumShape),
    /// `bytes<max>` or `text<max>`, its length in a `prefix`-byte prefix
    /// (0: the buffer runs to the end of the message).
    Buffer {
        /// Largest length.
        max: usize,
        /// Bytes of the length prefix; 0 for `tail`.
        prefix: usize,
        /// UTF-8 text?
        text: bool,
    },
}

impl Shape {
    /// Bytes on the wire, if fixed.
    pub fn fixed_size(&self) -> Option<usize> {
        match self {
            Shape::Unsigned(bytes) => Some(*bytes),
            Shape::Bool => Some(1),
            Shape::Status | Shape::Handle(_) => Some(8),
            Shape::Enum(shape) => Some(shape.width),
            Shape::Buffer { .. } => None,
        }
    }
}

/// One value of a request or reply.
#[derive(Clone, Copy, Debug)]
pub struct Value {
    /// The argument's name.
    pub name: &'static str,
    /// How it travels.
    pub shape: Shape,
}

/// Why a layout could not be worked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// A type this model does not know (an enumeration the resolver does
    /// not know, or a new kind of type).
    UnknownType(&'static str),
    /// A direction other than `in`, `out` or `inout`.
    UnknownDirection(&'static str),
    /// More than [`MAX_VALUES`] values.
    TooManyValues,
    /// More than one buffer in a request or reply: their length encodings
    /// cannot be told from the sizes alone.
    SeveralBuffers,
    /// The sizes do not add up to the table's.
    SizesDisagree {
        /// Request (`true`) or reply.
        request: bool,
        /// What the table says.
        table: usize,
        /// The fixed part this model computed.
        fixed: usize,
    },
}

/// The messages of one operation.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    request: [Option<Value>; MAX_VALUES],
    reply: [Option<Value>; MAX_VALUES],
    max_request: usize,
    max_reply: usize,
}

/// What to write for one request value.
#[derive(Clone, Copy, Debug)]
pub enum Fill<'a> {
    /// A number (truncated to the value's width; a `bool` is written as
    /// this byte).
    Number(u64),
    /// A buffer's bytes (with their length as its prefix, if it has one).
    Bytes(&'a [u8]),
    /// A buffer with a length prefix that says `length`, followed by
    /// `bytes` (which may be shorter or longer).
    Prefixed {
        /// What the prefix says.
        length: u64,
        /// The bytes that follow it.
        bytes: &'a [u8],
    },
}

/// One way to make a request malformed; the index is the request value's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformation {
    /// A valid request cut one byte short of its fixed part.
    TooShortForRequest,
    /// A valid request in a message one byte shorter than the reply.
    TooShortForReply,
    /// An enumeration code that is not listed.
    BadEnumCode(usize),
    /// A `bool` of 2.
    BadBool(usize),
    /// A status code that does not exist.
    BadStatus(usize),
    /// Text that is not UTF-8.
    NotUtf8(usize),
    /// A buffer one byte longer than its maximum.
    LengthOverMax(usize),
    /// A length prefix that runs past the end of the message.
    LengthBeyondMessage(usize),
}

impl Malformation {
    /// A short description.
    pub fn name(self) -> &'static str {
        match self {
            Malformation::TooShortForRequest => "too short for the request",
            Malformation::TooShortForReply => "too short for the reply",
            Malformation::BadEnumCode(_) => "an unlisted enumeration code",
            Malformation::BadBool(_) => "a bool of 2",
            Malformation::BadStatus(_) => "an unknown status code",
            Malformation::NotUtf8(_) => "text that is not UTF-8",
            Malformation::LengthOverMax(_) => "a buffer over its maximum",
            Malformation::LengthBeyondMessage(_) => "a length prefix beyond the message",
        }
    }
}

/// The shape of `wire_type` (buffers with `prefix` 0, to be worked out).
fn parse(
    wire_type: &'static str,
    enums: fn(&str) -> Option<EnumShape>,
) -> Result<Shape, LayoutError> {
    let generic = |prefix: &str| {
        wire_type
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix('>'))
    };
    Ok(match wire_type {
        "u8" => Shape::Unsigned(1),
        "u16" => Shape::Unsigned(2),
        "u32" => Shape::Unsigned(4),
        "u64" => Shape::Unsigned(8),
        "bool" => Shape::Bool,
        "status" => Shape::Status,
        _ => {
            if let Some(kind) = generic("handle<") {
                Shape::Handle(kind)
            } else if let Some((max, text)) = generic("bytes<")
                .map(|max| (max, false))
                .or_else(|| generic("text<").map(|max| (max, true)))
            {
                let max = max
                    .parse()
                    .map_err(|_| LayoutError::UnknownType(wire_type))?;
                Shape::Buffer {
                    max,
                    prefix: 0,
                    text,
                }
            } else {
                Shape::Enum(enums(wire_type).ok_or(LayoutError::UnknownType(wire_type))?)
            }
        }
    })
}

/// Gives the (one) buffer of `values` the prefix that makes the sizes add
/// up to `table`.
fn settle(
    values: &mut [Option<Value>; MAX_VALUES],
    table: usize,
    request: bool,
) -> Result<(), LayoutError> {
    let fixed: usize = values
        .iter()
        .flatten()
        .filter_map(|value| value.shape.fixed_size())
        .sum();
    let mut buffers = values
        .iter_mut()
        .flatten()
        .filter(|value| matches!(value.shape, Shape::Buffer { .. }));
    let disagree = LayoutError::SizesDisagree {
        request,
        table,
        fixed,
    };
    let Some(buffer) = buffers.next() else {
        return if fixed == table {
            Ok(())
        } else {
            Err(disagree)
        };
    };
    if buffers.next().is_some() {
        return Err(LayoutError::SeveralBuffers);
    }
    let Shape::Buffer { max, prefix, .. } = &mut buffer.shape else {
        return Err(disagree);
    };
    *prefix = match table.checked_sub(fixed + *max) {
        Some(extra @ (0 | 1 | 2 | 4)) => extra,
        _ => return Err(disagree),
    };
    Ok(())
}

impl Layout {
    /// Works out the layout of an operation from its arguments (`(name,
    /// direction, wire type)`, in declaration order) and the table's
    /// largest request and reply; `enums` knows the interface's
    /// enumerations.
    pub fn new(
        arguments: impl IntoIterator<Item = (&'static str, &'static str, &'static str)>,
        max_request: usize,
        max_reply: usize,
        enums: fn(&str) -> Option<EnumShape>,
    ) -> Result<Layout, LayoutError> {
        let mut layout = Layout {
            request: [None; MAX_VALUES],
            reply: [None; MAX_VALUES],
            max_request,
            max_reply,
        };
        let (mut requests, mut replies) = (0, 0);
        for (name, direction, wire_type) in arguments {
            let value = Value {
                name,
                shape: parse(wire_type, enums)?,
            };
            let (into_request, into_reply) = match direction {
                "in" => (true, false),
                "out" => (false, true),
                "inout" => (true, true),
                other => return Err(LayoutError::UnknownDirection(other)),
            };
            if into_request {
                *layout
                    .request
                    .get_mut(requests)
                    .ok_or(LayoutError::TooManyValues)? = Some(value);
                requests += 1;
            }
            if into_reply {
                *layout
                    .reply
                    .get_mut(replies)
                    .ok_or(LayoutError::TooManyValues)? = Some(value);
                replies += 1;
            }
        }
        settle(&mut layout.request, max_request, true)?;
        settle(&mut layout.reply, max_reply, false)?;
        Ok(layout)
    }

    /// The request's values, in order.
    pub fn request(&self) -> impl Iterator<Item = &Value> + '_ {
        self.request.iter().flatten()
    }

    /// The reply's values, in order.
    pub fn reply(&self) -> impl Iterator<Item = &Value> + '_ {
        self.reply.iter().flatten()
    }

    /// The largest request (the table's).
    pub fn max_request(&self) -> usize {
        self.max_request
    }

    /// The largest reply (the table's).
    pub fn max_reply(&self) -> usize {
        self.max_reply
    }

    /// The shortest valid request: every buffer empty.
    pub fn min_request(&self) -> usize {
        self.request()
            .map(|value| match value.shape {
                Shape::Buffer { prefix, .. } => prefix,
                shape => shape.fixed_size().unwrap_or(0),
            })
            .sum()
    }

    /// Has the reply a fixed size (no buffer)?
    pub fn reply_is_fixed(&self) -> bool {
        self.reply().all(|value| value.shape.fixed_size().is_some())
    }

    /// Does any request value have this kind of handle (`None`: any kind)?
    pub fn takes_handle(&self, kind: Option<&str>) -> bool {
        self.request().any(|value| match value.shape {
            Shape::Handle(found) => kind.is_none_or(|kind| kind == found),
            _ => false,
        })
    }

    /// Writes the request with `fill(index, value)` for each value, then
    /// zeros up to `pad_to`; returns the message's length, or `None` if
    /// `out` is too small or a fill does not suit its value.
    pub fn write<'a>(
        &self,
        out: &mut [u8],
        fill: impl Fn(usize, &Value) -> Fill<'a>,
        pad_to: usize,
    ) -> Option<usize> {
        let mut position = 0;
        let mut put = |bytes: &[u8], position: &mut usize| -> Option<()> {
            let end = position.checked_add(bytes.len())?;
            out.get_mut(*position..end)?.copy_from_slice(bytes);
            *position = end;
            Some(())
        };
        for (index, value) in self.request().enumerate() {
            match (value.shape, fill(index, value)) {
                (Shape::Buffer { prefix, .. }, Fill::Bytes(bytes)) => {
                    put(&(bytes.len() as u64).to_le_bytes()[..prefix], &mut position)?;
                    put(bytes, &mut position)?;
                }
                (Shape::Buffer { prefix, .. }, Fill::Prefixed { length, bytes }) if prefix > 0 => {
                    put(&length.to_le_bytes()[..prefix], &mut position)?;
                    put(bytes, &mut position)?;
                }
                (shape, Fill::Number(number)) => {
                    let size = shape.fixed_size()?;
                    put(&number.to_le_bytes()[..size], &mut position)?;
                }
                _ => return None,
            }
        }
        let length = position.max(pad_to);
        out.get_mut(position..length)?.fill(0);
        Some(length)
    }

    /// The default value of `value`: 0, `false`, the smallest valid
    /// enumeration code, `handle` for every handle, an empty buffer.
    fn default_fill(value: &Value, handle: u64) -> Fill<'static> {
        match value.shape {
            Shape::Handle(_) => Fill::Number(handle),
            Shape::Enum(shape) => Fill::Number(shape.first_valid().unwrap_or(0)),
            Shape::Buffer { .. } => Fill::Bytes(&[]),
            _ => Fill::Number(0),
        }
    }

    /// A well-formed request with default values and `handle` in every
    /// handle, padded to the largest reply (as the generated functions
    /// send it); its length.
    pub fn write_valid(&self, out: &mut [u8], handle: u64) -> Option<usize> {
        self.write(
            out,
            |_, value| Self::default_fill(value, handle),
            self.max_reply,
        )
    }

    /// Like [`Layout::write_valid`], with `fill` choosing some values
    /// (`None`: the default).
    pub fn write_with<'a>(
        &self,
        out: &mut [u8],
        handle: u64,
        fill: impl Fn(usize, &Value) -> Option<Fill<'a>>,
    ) -> Option<usize> {
        self.write(
            out,
            |index, value| fill(index, value).unwrap_or(Self::default_fill(value, handle)),
            self.max_reply,
        )
    }

    /// Every malformation this operation's request can carry (each written
    /// by [`Layout::write_malformed`]).
    pub fn malformations(&self) -> impl Iterator<Item = Malformation> + '_ {
        let whole = [
            (self.min_request() > 0).then_some(Malformation::TooShortForRequest),
            (self.reply_is_fixed() && self.max_reply > self.min_request())
                .then_some(Malformation::TooShortForReply),
        ];
        let count = self.request().count();
        let per_value = (0..count).flat_map(move |index| {
            [
                Malformation::BadEnumCode(index),
                Malformation::BadBool(index),
                Malformation::BadStatus(index),
                Malformation::NotUtf8(index),
                Malformation::LengthOverMax(index),
                Malformation::LengthBeyondMessage(index),
            ]
        });
        whole
            .into_iter()
            .flatten()
            .chain(per_value)
            .filter(move |&malformation| self.applies(malformation))
    }

    fn value(&self, index: usize) -> Option<&Value> {
        self.request().nth(index)
    }

    fn applies(&self, malformation: Malformation) -> bool {
        let shape = |index| self.value(index).map(|value| value.shape);
        match malformation {
            Malformation::TooShortForRequest | Malformation::TooShortForReply => true,
            Malformation::BadEnumCode(index) => {
                matches!(shape(index), Some(Shape::Enum(e)) if e.first_invalid().is_some())
            }
            Malformation::BadBool(index) => matches!(shape(index), Some(Shape::Bool)),
            Malformation::BadStatus(index) => matches!(shape(index), Some(Shape::Status)),
            Malformation::NotUtf8(index) => {
                matches!(shape(index), Some(Shape::Buffer { text: true, .. }))
            }
            Malformation::LengthOverMax(index) => match shape(index) {
                // The message must stay within the largest message, or the
                // transport's check would refuse it first.
                Some(Shape::Buffer { max, prefix, .. }) => {
                    let fits_prefix =
                        prefix == 0 || prefix >= 8 || (max as u64) < (1u64 << (8 * prefix)) - 1;
                    fits_prefix && self.min_request() + max < MAX_MESSAGE_BYTES
                }
                _ => false,
            },
            Malformation::LengthBeyondMessage(index) => {
                let last = index + 1 == self.request().count();
                match shape(index) {
                    Some(Shape::Buffer { max, prefix, .. }) if prefix > 0 && max > 0 && last => {
                        // The message must still hold the reply, or the
                        // reply check would refuse it first.
                        self.min_request() + max > self.max_reply
                    }
                    _ => false,
                }
            }
        }
    }

    /// Writes `malformation` (which must be one of
    /// [`Layout::malformations`]) into `out`, with `handle` in every
    /// handle; the message's length.
    pub fn write_malformed(
        &self,
        malformation: Malformation,
        out: &mut [u8],
        handle: u64,
    ) -> Option<usize> {
        let at = |target: usize, fill: Fill<'static>| {
            move |index: usize, _: &Value| (index == target).then_some(fill)
        };
        match malformation {
            Malformation::TooShortForRequest => {
                self.write_valid(out, handle)?;
                self.min_request().checked_sub(1)
            }
            Malformation::TooShortForReply => {
                self.write_valid(out, handle)?;
                self.max_reply.checked_sub(1)
            }
            Malformation::BadEnumCode(index) => {
                let Some(Shape::Enum(shape)) = self.value(index).map(|value| value.shape) else {
                    return None;
                };
                self.write_with(out, handle, at(index, Fill::Number(shape.first_invalid()?)))
            }
            Malformation::BadBool(index) => {
                self.write_with(out, handle, at(index, Fill::Number(2)))
            }
            Malformation::BadStatus(index) => {
                self.write_with(out, handle, at(index, Fill::Number(u64::MAX)))
            }
            Malformation::NotUtf8(index) => {
                self.write_with(out, handle, at(index, Fill::Bytes(&[0xff, 0xfe])))
            }
            Malformation::LengthOverMax(index) => {
                let Some(Shape::Buffer { max, .. }) = self.value(index).map(|value| value.shape)
                else {
                    return None;
                };
                let bytes = ZEROS.get(..max + 1)?;
                self.write_with(out, handle, at(index, Fill::Bytes(bytes)))
            }
            Malformation::LengthBeyondMessage(index) => {
                let Some(Shape::Buffer { max, .. }) = self.value(index).map(|value| value.shape)
                else {
                    return None;
                };
                let fill = Fill::Prefixed {
                    length: max as u64,
                    bytes: ZEROS.get(..max - 1)?,
                };
                self.write(
                    out,
                    |position, value| {
                        if position == index {
                            fill
                        } else {
                            Self::default_fill(value, handle)
                        }
                    },
                    0,
                )
            }
        }
    }
}

/// The enumerations of `kernel.idl` (for [`Layout::new`]).
pub fn kernel_enum(name: &str) -> Option<EnumShape> {
    use crate::interfaces::kernel::{
        AccessWidth, BarKind, BlockOperation, ConnectionState, CrashKind, DeviceClass, Level,
    };
    fn small<T>(code: u64, from_code: fn(u8) -> Option<T>) -> bool {
        u8::try_from(code).ok().and_then(from_code).is_some()
    }
    Some(match name {
        "level" => EnumShape {
            width: 1,
            is_valid: |code| small(code, Level::from_code),
        },
        "crash-kind" => EnumShape {
            width: 4,
            is_valid: |code| {
                u32::try_from(code)
                    .ok()
                    .and_then(CrashKind::from_code)
                    .is_some()
            },
        },
        "access-width" => EnumShape {
            width: 1,
            is_valid: |code| small(code, AccessWidth::from_code),
        },
        "device-class" => EnumShape {
            width: 1,
            is_valid: |code| small(code, DeviceClass::from_code),
        },
        "bar-kind" => EnumShape {
            width: 1,
            is_valid: |code| small(code, BarKind::from_code),
        },
        "block-operation" => EnumShape {
            width: 1,
            is_valid: |code| small(code, BlockOperation::from_code),
        },
        "connection-state" => EnumShape {
            width: 1,
            is_valid: |code| small(code, ConnectionState::from_code),
        },
        _ => return None,
    })
}

impl Layout {
    /// The layout of a `kernel.idl` service or entry.
    pub fn of_kernel(
        info: &crate::interfaces::kernel::OperationInfo,
    ) -> Result<Layout, LayoutError> {
        Layout::new(
            info.arguments
                .iter()
                .map(|argument| (argument.name, argument.direction, argument.wire_type)),
            info.max_request_bytes,
            info.max_reply_bytes,
            kernel_enum,
        )
    }
}
