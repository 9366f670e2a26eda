//! Dictionary errors that say where: file, line, column and term.

use std::fmt;

/// One problem in a dictionary file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictError {
    /// The file, as given (a path, or the name of an embedded file).
    pub file: String,
    /// 1-based line, 0 when the problem is not in one place (a missing file).
    pub line: usize,
    /// 1-based column (in characters), 0 when unknown.
    pub column: usize,
    /// The term concerned, if any.
    pub term: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for DictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        f.write_str(": ")?;
        if let Some(term) = &self.term {
            write!(f, "term `{term}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found while loading a dictionary set; loading reports them
/// all at once rather than stopping at the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictErrors(pub Vec<DictError>);

impl fmt::Display for DictErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DictErrors {}

impl DictErrors {
    /// The individual errors.
    pub fn errors(&self) -> &[DictError] {
        &self.0
    }
}

/// Turns byte offsets of one file into line and column.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// 1-based (line, column) of byte `offset`.
    pub(crate) fn locate(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let mut end = offset;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        (line, self.text[start..end].chars().count() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_columns() {
        let idx = LineIndex::new("ab\n火灾x\n");
        assert_eq!(idx.locate(0), (1, 1));
        assert_eq!(idx.locate(3), (2, 1));
        assert_eq!(idx.locate(9), (2, 3));
        let e = DictError {
            file: "fire.toml".into(),
            line: 4,
            column: 3,
            term: Some("火灾".into()),
            message: "duplicate".into(),
        };
        assert_eq!(e.to_string(), "fire.toml:4:3: term `火灾`: duplicate");
    }
}
