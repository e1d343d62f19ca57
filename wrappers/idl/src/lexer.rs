//! Splits an interface file into tokens with their positions.
//!
//! Words are letters, digits, `-` and `_` (so `not-idempotent` and
//! `prefix-u8` are one word); numbers are decimal or `0x` hexadecimal with
//! optional `_` separators; `///` starts a doc comment (kept), `//` a plain
//! comment (dropped). Nothing here panics on any input.

use crate::diagnostic::{Diagnostic, Span};

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A word: keyword or name.
    Word(String),
    /// A number that fits a `u64`.
    Number(u64),
    /// One of `{ } < > : =`.
    Punct(char),
    /// The text of a `///` comment (without the slashes and one leading
    /// space).
    Doc(String),
    /// The end of the file.
    End,
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Where it starts.
    pub span: Span,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(word) => format!("`{word}`"),
            TokenKind::Number(number) => format!("number {number}"),
            TokenKind::Punct(character) => format!("`{character}`"),
            TokenKind::Doc(_) => "a doc comment".to_string(),
            TokenKind::End => "the end of the file".to_string(),
        }
    }
}

const PUNCTUATION: &[char] = &['{', '}', '<', '>', ':', '='];

fn is_word_start(character: char) -> bool {
    character.is_ascii_alphabetic() || character == '_'
}

fn is_word_part(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_' || character == '-'
}

/// Splits `source` into tokens; the last one is always [`TokenKind::End`].
/// `file` names the file in errors.
pub fn tokenize(file: &str, source: &str) -> Result<Vec<Token>, Diagnostic> {
    let characters: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0usize;
    let mut line = 1u32;
    let mut column = 1u32;
    while let Some(&character) = characters.get(index) {
        let span = Span::new(line, column);
        if character == '\n' {
            index += 1;
            line = line.saturating_add(1);
            column = 1;
            continue;
        }
        if character.is_whitespace() {
            index += 1;
            column = column.saturating_add(1);
            continue;
        }
        // Everything below consumes characters on this line only.
        let start = index;
        if character == '/' {
            if characters.get(index + 1) != Some(&'/') {
                return Err(Diagnostic::new(
                    file,
                    span,
                    "unexpected `/` (comments start with `//`)",
                ));
            }
            let is_doc =
                characters.get(index + 2) == Some(&'/') && characters.get(index + 3) != Some(&'/');
            while characters.get(index).is_some_and(|&c| c != '\n') {
                index += 1;
            }
            if is_doc {
                // Control characters (a stray carriage return) cannot stand
                // in a Rust doc comment: they become spaces.
                let text: String = characters[start + 3..index]
                    .iter()
                    .map(|&c| if c.is_control() { ' ' } else { c })
                    .collect();
                let text = text.strip_prefix(' ').unwrap_or(&text).trim_end();
                tokens.push(Token {
                    kind: TokenKind::Doc(text.to_string()),
                    span,
                });
            }
        } else if is_word_start(character) {
            while characters.get(index).is_some_and(|&c| is_word_part(c)) {
                index += 1;
            }
            tokens.push(Token {
                kind: TokenKind::Word(characters[start..index].iter().collect()),
                span,
            });
        } else if character.is_ascii_digit() {
            while characters.get(index).is_some_and(|&c| is_word_part(c)) {
                index += 1;
            }
            let text: String = characters[start..index].iter().collect();
            let number = parse_number(&text).ok_or_else(|| {
                Diagnostic::new(
                    file,
                    span,
                    format!(
                        "malformed number `{text}` (numbers are decimal or 0x hexadecimal and fit 64 bits)"
                    ),
                )
            })?;
            tokens.push(Token {
                kind: TokenKind::Number(number),
                span,
            });
        } else if PUNCTUATION.contains(&character) {
            index += 1;
            tokens.push(Token {
                kind: TokenKind::Punct(character),
                span,
            });
        } else {
            return Err(Diagnostic::new(
                file,
                span,
                format!("unexpected character `{}`", character.escape_debug()),
            ));
        }
        let consumed = u32::try_from(index - start).unwrap_or(u32::MAX);
        column = column.saturating_add(consumed);
    }
    tokens.push(Token {
        kind: TokenKind::End,
        span: Span::new(line, column),
    });
    Ok(tokens)
}

fn parse_number(text: &str) -> Option<u64> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(&digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        tokenize("t.idl", source)
            .unwrap()
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    #[test]
    fn words_numbers_punctuation_and_docs() {
        assert_eq!(
            kinds("/// Doc.\nservice 0x1_0 not-idempotent { in a: u8 } // gone"),
            vec![
                TokenKind::Doc("Doc.".into()),
                TokenKind::Word("service".into()),
                TokenKind::Number(16),
                TokenKind::Word("not-idempotent".into()),
                TokenKind::Punct('{'),
                TokenKind::Word("in".into()),
                TokenKind::Word("a".into()),
                TokenKind::Punct(':'),
                TokenKind::Word("u8".into()),
                TokenKind::Punct('}'),
                TokenKind::End,
            ]
        );
        // Four slashes is a plain comment, like rustdoc.
        assert_eq!(kinds("//// not a doc"), vec![TokenKind::End]);
    }

    #[test]
    fn positions_are_lines_and_character_columns() {
        let tokens = tokenize("t.idl", "a\n  bc d\n\t{ /// é\n").unwrap();
        let spans: Vec<Span> = tokens.iter().map(|token| token.span).collect();
        assert_eq!(
            spans,
            vec![
                Span::new(1, 1),
                Span::new(2, 3),
                Span::new(2, 6),
                Span::new(3, 2),
                Span::new(3, 4),
                Span::new(4, 1)
            ]
        );
        assert_eq!(tokens[4].kind, TokenKind::Doc("é".into()));
        // Non-ASCII letters are not part of names; the column counts
        // characters.
        let error = tokenize("t.idl", "/// ü\nab é").unwrap_err();
        assert_eq!(error.span, Span::new(2, 4));
    }

    #[test]
    fn bad_numbers_and_characters_are_errors_with_positions() {
        let error = tokenize("t.idl", "entry 99999999999999999999 x").unwrap_err();
        assert_eq!(error.span, Span::new(1, 7));
        assert!(error.message.contains("malformed number"));
        let error = tokenize("t.idl", "a\n b 12ab").unwrap_err();
        assert_eq!(error.span, Span::new(2, 4));
        let error = tokenize("t.idl", "a;").unwrap_err();
        assert_eq!(error.span, Span::new(1, 2));
        assert!(error.message.contains("`;`"));
        assert!(tokenize("t.idl", "/ x").is_err());
        assert!(tokenize("t.idl", "0x").is_err());
        assert_eq!(
            kinds("0xffff_ffff_ffff_ffff")[0],
            TokenKind::Number(u64::MAX)
        );
    }
}
