//! Turns tokens into an [`Interface`] (syntax only; [`crate::check`] does
//! the meaning). Stops at the first syntax error. Never panics: every token
//! access is bounds-checked and the token list always ends with `End`.
//!
//! Grammar (`*` repeats, `?` optional, `|` alternatives):
//!
//! ```text
//! file      = doc* "interface" NAME item*
//! item      = doc* (enum | operation)
//! enum      = "enum" NAME ":" INT "{" (doc* NAME "=" NUMBER)* "}"
//! operation = ("service" | "entry") NUMBER NAME IDEMPOTENCE "{" argument* "}"
//! IDEMPOTENCE = "idempotent" | "not-idempotent"
//! argument  = doc* ("in" | "out" | "inout") NAME ":" type ATTRIBUTE*
//! type      = INT | "bool" | "status" | "handle" "<" KIND ">"
//!           | ("bytes" | "text") "<" NUMBER ">" | ENUM-NAME
//! ATTRIBUTE = "copied-in" | "copied-out" | "borrowed" | "transferred"
//!           | "prefix-u8" | "prefix-u16" | "prefix-u32" | "tail"
//! ```

use crate::ast::{
    Argument, Direction, EnumDef, HandleKind, IntType, Interface, LengthEncoding, Operation,
    OperationKind, Ownership, Type, Variant,
};
use crate::diagnostic::{Diagnostic, Span};
use crate::lexer::{Token, TokenKind, tokenize};

/// Parses `source` (the text of the file called `file`).
pub fn parse_syntax(file: &str, source: &str) -> Result<Interface, Diagnostic> {
    let tokens = tokenize(file, source)?;
    Parser {
        file,
        tokens: &tokens,
        position: 0,
    }
    .file()
}

struct Parser<'a> {
    file: &'a str,
    tokens: &'a [Token],
    position: usize,
}

const END: Token = Token {
    kind: TokenKind::End,
    span: Span { line: 0, column: 0 },
};

fn attribute_list() -> &'static str {
    "copied-in, copied-out, borrowed, transferred, prefix-u8, prefix-u16, prefix-u32 or tail"
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &'a Token {
        self.tokens
            .get(self.position)
            .or_else(|| self.tokens.last())
            .unwrap_or(&END)
    }

    fn peek_second(&self) -> &'a Token {
        self.tokens
            .get(self.position + 1)
            .or_else(|| self.tokens.last())
            .unwrap_or(&END)
    }

    fn advance(&mut self) -> &'a Token {
        let token = self.peek();
        if self.position < self.tokens.len() {
            self.position += 1;
        }
        token
    }

    fn error(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(self.file, span, message)
    }

    fn unexpected(&self, token: &Token, expected: &str) -> Diagnostic {
        self.error(
            token.span,
            format!("expected {expected}, found {}", token.describe()),
        )
    }

    fn is_punct(&self, character: char) -> bool {
        self.peek().kind == TokenKind::Punct(character)
    }

    fn expect_punct(&mut self, character: char, context: &str) -> Result<Span, Diagnostic> {
        let token = self.advance();
        match token.kind {
            TokenKind::Punct(found) if found == character => Ok(token.span),
            _ => Err(self.unexpected(token, &format!("`{character}` {context}"))),
        }
    }

    fn expect_word(&mut self, what: &str) -> Result<(String, Span), Diagnostic> {
        let token = self.advance();
        match &token.kind {
            TokenKind::Word(word) => Ok((word.clone(), token.span)),
            _ => Err(self.unexpected(token, what)),
        }
    }

    fn expect_number(&mut self, what: &str) -> Result<(u64, Span), Diagnostic> {
        let token = self.advance();
        match token.kind {
            TokenKind::Number(number) => Ok((number, token.span)),
            _ => Err(self.unexpected(token, what)),
        }
    }

    fn docs(&mut self) -> Vec<String> {
        let mut docs = Vec::new();
        while let TokenKind::Doc(text) = &self.peek().kind {
            docs.push(text.clone());
            self.advance();
        }
        docs
    }

    fn file(mut self) -> Result<Interface, Diagnostic> {
        let docs = self.docs();
        let token = self.advance();
        if token.kind != TokenKind::Word("interface".into()) {
            return Err(self.unexpected(token, "`interface NAME` at the start of the file"));
        }
        let (name, span) = self.expect_word("the interface's name after `interface`")?;
        let mut interface = Interface {
            file: self.file.to_string(),
            name,
            span,
            docs,
            enums: Vec::new(),
            operations: Vec::new(),
        };
        loop {
            let docs = self.docs();
            let token = self.peek();
            match &token.kind {
                TokenKind::End if docs.is_empty() => return Ok(interface),
                TokenKind::Word(word) if word == "enum" => {
                    interface.enums.push(self.enum_definition(docs)?);
                }
                TokenKind::Word(word) if word == "service" || word == "entry" => {
                    interface.operations.push(self.operation(docs)?);
                }
                TokenKind::Word(word) if word == "interface" => {
                    return Err(self.error(token.span, "a file declares one `interface`"));
                }
                _ => {
                    return Err(self.unexpected(
                        token,
                        if docs.is_empty() {
                            "`enum`, `service` or `entry`"
                        } else {
                            "`enum`, `service` or `entry` after the doc comment"
                        },
                    ));
                }
            }
        }
    }

    fn enum_definition(&mut self, docs: Vec<String>) -> Result<EnumDef, Diagnostic> {
        let span = self.advance().span;
        let (name, _) = self.expect_word("the enumeration's name after `enum`")?;
        self.expect_punct(':', &format!("and an integer type after `enum {name}`"))?;
        let (repr_name, repr_span) = self.expect_word("an integer type (u8, u16, u32 or u64)")?;
        let repr = IntType::from_name(&repr_name).ok_or_else(|| {
            self.error(
                repr_span,
                format!(
                    "an enumeration travels as u8, u16, u32 or u64, not `{repr_name}` (unknown type)"
                ),
            )
        })?;
        self.expect_punct('{', &format!("to open enumeration `{name}`"))?;
        let mut variants = Vec::new();
        loop {
            let docs = self.docs();
            if self.is_punct('}') && docs.is_empty() {
                self.advance();
                break;
            }
            let (variant, variant_span) =
                self.expect_word(&format!("a value name or `}}` in enumeration `{name}`"))?;
            self.expect_punct('=', &format!("and a number after `{variant}`"))?;
            let (value, _) = self.expect_number(&format!("the code of `{variant}`"))?;
            variants.push(Variant {
                name: variant,
                docs,
                value,
                span: variant_span,
            });
        }
        Ok(EnumDef {
            name,
            docs,
            repr,
            variants,
            span,
        })
    }

    fn operation(&mut self, docs: Vec<String>) -> Result<Operation, Diagnostic> {
        let keyword = self.advance();
        let kind = match &keyword.kind {
            TokenKind::Word(word) if word == "service" => OperationKind::Service,
            _ => OperationKind::Entry,
        };
        let (number, _) = self.expect_number(&format!(
            "the {} number after `{}` (`{} NUMBER NAME ...`)",
            kind.keyword(),
            kind.keyword(),
            kind.keyword()
        ))?;
        let (name, _) =
            self.expect_word(&format!("the {}'s name after its number", kind.keyword()))?;
        let token = self.advance();
        let idempotent = match &token.kind {
            TokenKind::Word(word) if word == "idempotent" => true,
            TokenKind::Word(word) if word == "not-idempotent" => false,
            TokenKind::Punct('{') => {
                return Err(self.error(
                    token.span,
                    format!(
                        "missing idempotence: write `idempotent` or `not-idempotent` after `{name}`"
                    ),
                ));
            }
            _ => return Err(self.unexpected(token, "`idempotent` or `not-idempotent`")),
        };
        self.expect_punct('{', &format!("to open `{name}`"))?;
        let mut arguments = Vec::new();
        loop {
            let docs = self.docs();
            if self.is_punct('}') && docs.is_empty() {
                self.advance();
                break;
            }
            arguments.push(self.argument(docs, &name)?);
        }
        Ok(Operation {
            kind,
            number,
            name,
            docs,
            idempotent,
            arguments,
            span: keyword.span,
        })
    }

    fn argument(&mut self, docs: Vec<String>, operation: &str) -> Result<Argument, Diagnostic> {
        let token = self.peek();
        let direction = match &token.kind {
            TokenKind::Word(word) if word == "in" => Direction::In,
            TokenKind::Word(word) if word == "out" => Direction::Out,
            TokenKind::Word(word) if word == "inout" => Direction::InOut,
            TokenKind::Word(word) if self.peek_second().kind == TokenKind::Punct(':') => {
                return Err(self.error(
                    token.span,
                    format!(
                        "missing direction: write `in`, `out` or `inout` before argument `{word}`"
                    ),
                ));
            }
            _ => {
                return Err(self.unexpected(
                    token,
                    &format!("an argument (`in`, `out` or `inout`) or `}}` in `{operation}`"),
                ));
            }
        };
        let span = self.advance().span;
        let (name, _) = self.expect_word("the argument's name after its direction")?;
        self.expect_punct(':', &format!("and a type after argument `{name}`"))?;
        let (ty, type_span) = self.argument_type()?;
        let mut ownership = None;
        let mut length = None;
        loop {
            let token = self.peek();
            let TokenKind::Word(word) = &token.kind else {
                break;
            };
            if let Some(found) = Ownership::from_keyword(word) {
                if ownership.replace(found).is_some() {
                    return Err(self.error(
                        token.span,
                        format!("argument `{name}` has more than one ownership"),
                    ));
                }
            } else if let Some(found) = LengthEncoding::from_keyword(word) {
                if length.replace(found).is_some() {
                    return Err(self.error(
                        token.span,
                        format!("argument `{name}` has more than one length encoding"),
                    ));
                }
            } else if matches!(word.as_str(), "in" | "out" | "inout")
                || self.peek_second().kind == TokenKind::Punct(':')
            {
                // The next argument (or one missing its direction).
                break;
            } else {
                return Err(self.error(
                    token.span,
                    format!(
                        "unknown attribute `{word}` on argument `{name}` (expected {})",
                        attribute_list()
                    ),
                ));
            }
            self.advance();
        }
        Ok(Argument {
            direction,
            name,
            docs,
            ty,
            ownership,
            length,
            span,
            type_span,
        })
    }

    fn argument_type(&mut self) -> Result<(Type, Span), Diagnostic> {
        let (word, span) = self.expect_word("a type")?;
        let ty = match word.as_str() {
            "bool" => Type::Bool,
            "status" => Type::Status,
            "handle" => {
                self.expect_punct('<', "and an object kind after `handle` (`handle<KIND>`)")?;
                let (kind, kind_span) = self.expect_word("an object kind")?;
                let kind = HandleKind::from_name(&kind).ok_or_else(|| {
                    let known: Vec<&str> = HandleKind::ALL.iter().map(|kind| kind.name()).collect();
                    self.error(
                        kind_span,
                        format!("unknown handle kind `{kind}` (known: {})", known.join(", ")),
                    )
                })?;
                self.expect_punct('>', "to close `handle<...`")?;
                Type::Handle(kind)
            }
            "bytes" | "text" => {
                self.expect_punct(
                    '<',
                    &format!("and a maximum length after `{word}` (`{word}<MAX>`)"),
                )?;
                let (max, _) = self.expect_number("the buffer's maximum length in bytes")?;
                self.expect_punct('>', &format!("to close `{word}<...`"))?;
                match word.as_str() {
                    "bytes" => Type::Bytes { max },
                    _ => Type::Text { max },
                }
            }
            other => match IntType::from_name(other) {
                Some(int) => Type::Int(int),
                // Resolved (or refused as unknown) by the checker.
                None => Type::Enum(other.to_string()),
            },
        };
        Ok((ty, span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str) -> Diagnostic {
        parse_syntax("bad.idl", source).unwrap_err()
    }

    #[test]
    fn parses_every_construct() {
        let interface = parse_syntax(
            "ok.idl",
            "/// An interface.\ninterface demo\n\
             /// Levels.\nenum level: u16 {\n  /// Low.\n  low = 1\n  high = 0x10\n}\n\
             /// Reads.\nservice 7 read idempotent {\n  in what: level\n  /// Where.\n  in at: handle<mmio>\n\
             out data: bytes<64> copied-out prefix-u8\n  inout n: u32\n}\n\
             entry 0x100 poke not-idempotent {}\n",
        )
        .unwrap();
        assert_eq!(interface.name, "demo");
        assert_eq!(interface.docs, vec!["An interface."]);
        let level = &interface.enums[0];
        assert_eq!(level.repr, IntType::U16);
        assert_eq!(level.variants[1].value, 16);
        assert_eq!(level.variants[0].docs, vec!["Low."]);
        let read = &interface.operations[0];
        assert_eq!(
            (read.kind, read.number, read.idempotent),
            (OperationKind::Service, 7, true)
        );
        assert_eq!(read.arguments.len(), 4);
        assert_eq!(read.arguments[0].ty, Type::Enum("level".into()));
        assert_eq!(read.arguments[1].ty, Type::Handle(HandleKind::Mmio));
        assert_eq!(read.arguments[1].docs, vec!["Where."]);
        let data = &read.arguments[2];
        assert_eq!(data.ty, Type::Bytes { max: 64 });
        assert_eq!(data.ownership, Some(Ownership::CopiedOut));
        assert_eq!(data.length, Some(LengthEncoding::Prefix(IntType::U8)));
        assert_eq!(data.span, Span::new(14, 1));
        assert_eq!(read.request().len(), 3);
        assert_eq!(read.reply().len(), 2);
        let poke = &interface.operations[1];
        assert_eq!(
            (poke.kind, poke.number, poke.idempotent),
            (OperationKind::Entry, 0x100, false)
        );
        assert!(poke.arguments.is_empty());
    }

    #[test]
    fn missing_direction_is_named_with_its_line() {
        let found = error("interface x\nservice 1 a idempotent {\n  in b: u8\n  c: u8\n}");
        assert_eq!(found.span, Span::new(4, 3));
        assert!(found.message.contains("missing direction"), "{found}");
        assert!(found.message.contains("`c`"));
    }

    #[test]
    fn missing_idempotence_and_header_are_errors() {
        let found = error("interface x\nentry 1 a {\n}");
        assert!(found.message.contains("missing idempotence"), "{found}");
        assert_eq!(found.span, Span::new(2, 11));
        let found = error("service 1 a idempotent {}");
        assert!(found.message.contains("`interface NAME`"), "{found}");
        let found = error("interface x\ninterface y");
        assert!(found.message.contains("one `interface`"), "{found}");
    }

    #[test]
    fn unknown_attributes_kinds_and_punctuation_are_errors() {
        let found =
            error("interface x\nservice 1 a idempotent {\n in b: bytes<4> copied-in tale\n}");
        assert!(
            found.message.contains("unknown attribute `tale`"),
            "{found}"
        );
        assert_eq!(found.span, Span::new(3, 27));
        let found = error("interface x\nservice 1 a idempotent { in b: handle<semaphore> }");
        assert!(
            found.message.contains("unknown handle kind `semaphore`"),
            "{found}"
        );
        let found = error("interface x\nservice 1 a idempotent { in b u8 }");
        assert!(found.message.contains("expected `:`"), "{found}");
        let found = error("interface x\nenum e: i8 { a = 1 }");
        assert!(found.message.contains("unknown type"), "{found}");
        let found = error("interface x\nservice a 1 idempotent {}");
        assert!(found.message.contains("service number"), "{found}");
        let found = error("interface x\nservice 1 a idempotent { in b: bytes<4> tail tail }");
        assert!(found.message.contains("more than one length"), "{found}");
        let found = error("interface x\nservice 1 a idempotent { in b: u8");
        assert!(found.message.contains("the end of the file"), "{found}");
        let found = error("interface x\n/// Dangling doc.\n");
        assert!(found.message.contains("after the doc comment"), "{found}");
    }
}
