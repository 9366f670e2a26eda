use std::path::PathBuf;

/// What can go wrong with the index. `BadRequest` and `BadQuery` are the
/// caller's mistakes (an HTTP 400); the others are the index's.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A request parameter is out of range or malformed.
    #[error("parameter `{param}`: {message}")]
    BadRequest {
        /// The parameter.
        param: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The query string does not parse.
    #[error("query `{query}`: {message}")]
    BadQuery {
        /// The query, shortened.
        query: String,
        /// What is wrong.
        message: String,
    },
    /// The directory holds an index of another format version.
    #[error(
        "the index in {path} has format version {found}, this yuqing reads version {expected}: re-create it with `yuqing index` into an empty data directory"
    )]
    Incompatible {
        /// Where.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// No index in the directory (and not asked to create one).
    #[error("no index in {0}: create one with `yuqing index --data-dir {0} FILE.jsonl`")]
    Missing(PathBuf),
    /// File system trouble. The message includes the cause (and the error
    /// has no separate source, so a chain prints the cause once).
    #[error("{context}: {cause}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        cause: std::io::Error,
    },
    /// tantivy failed (the message includes tantivy's, once).
    #[error("index: {0}")]
    Tantivy(tantivy::TantivyError),
}

impl From<tantivy::TantivyError> for IndexError {
    fn from(e: tantivy::TantivyError) -> Self {
        IndexError::Tantivy(e)
    }
}

impl IndexError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        IndexError::Io {
            context: context.into(),
            cause: source,
        }
    }

    pub(crate) fn bad(param: &'static str, message: impl Into<String>) -> Self {
        IndexError::BadRequest {
            param,
            message: message.into(),
        }
    }

    /// Whether the caller is at fault (a 400, not a 500).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            IndexError::BadRequest { .. } | IndexError::BadQuery { .. }
        )
    }
}
