//! Errors in an interface file, each with the file, line and column it
//! concerns.

use core::fmt;

/// A position in an interface file: 1-based line and column (columns count
/// characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

impl Span {
    /// The position at `line`, `column`.
    pub const fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

/// One error found in an interface file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file's name as given to the parser.
    pub file: String,
    /// Where the error is.
    pub span: Span,
    /// What is wrong, in one sentence.
    pub message: String,
}

impl Diagnostic {
    /// An error in `file` at `span`.
    pub fn new(file: &str, span: Span, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            span,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.span.line, self.span.column, self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

/// Every error found in one interface file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The first error (there is always at least one).
    pub fn first(&self) -> Option<&Diagnostic> {
        self.0.first()
    }

    /// Does any error's message contain `text`?
    pub fn mentions(&self, text: &str) -> bool {
        self.0.iter().any(|error| error.message.contains(text))
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_and_column() {
        let error = Diagnostic::new("kernel.idl", Span::new(12, 5), "unknown type `u128`");
        assert_eq!(
            error.to_string(),
            "kernel.idl:12:5: error: unknown type `u128`"
        );
        let all = Diagnostics(vec![error.clone(), error]);
        assert_eq!(all.to_string().lines().count(), 2);
        assert!(all.mentions("u128"));
        assert!(!all.mentions("u256"));
    }
}
