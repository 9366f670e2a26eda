//! Opening and creating the index in a data directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, ReloadPolicy};
use yuqing_text::Analyzer;

use crate::IndexError;
use crate::pseudonym::{AuthorPolicy, Pseudonymizer};
use crate::schema::{self, FORMAT_VERSION, Fields, TOKENIZER};
use crate::tokenizer::QueryTokenizer;
use crate::writer::{IndexOptions, PostWriter};

/// The file next to tantivy's that records the format version.
const VERSION_FILE: &str = "yuqing-index.json";

#[derive(Serialize, Deserialize)]
struct VersionFile {
    format_version: u32,
    created_by: String,
}

/// An index of scored posts in `DATA_DIR/index`.
///
/// Cheap to share behind an `Arc`: searches take `&self` and run in
/// parallel; the reader picks up new commits on its own.
pub struct PostIndex {
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    analyzer: RwLock<Arc<Analyzer>>,
    query_fields: RwLock<Option<Arc<FieldValuesFn>>>,
    data_dir: PathBuf,
}

/// Checks a `field:value` term of a query and gives its canonical value:
/// `Ok(None)` leaves it as written, `Err` is the message of a bad query.
pub type FieldValuesFn = dyn Fn(&str, &str) -> Result<Option<String>, String> + Send + Sync;

impl std::fmt::Debug for PostIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostIndex")
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl PostIndex {
    /// Opens the index in `data_dir`, creating it (and the directory) if
    /// there is none. Refuses an index of another format version.
    pub fn open_or_create(data_dir: &Path, analyzer: Arc<Analyzer>) -> Result<Self, IndexError> {
        Self::open_inner(data_dir, analyzer, true)
    }

    /// Opens the index in `data_dir`; it must exist.
    pub fn open(data_dir: &Path, analyzer: Arc<Analyzer>) -> Result<Self, IndexError> {
        Self::open_inner(data_dir, analyzer, false)
    }

    fn open_inner(
        data_dir: &Path,
        analyzer: Arc<Analyzer>,
        create: bool,
    ) -> Result<Self, IndexError> {
        let dir = data_dir.join("index");
        let (schema, fields) = schema::build();
        let exists = dir.join("meta.json").exists();
        let index = if exists {
            let version_path = dir.join(VERSION_FILE);
            let found = match std::fs::read_to_string(&version_path) {
                Ok(s) => serde_json::from_str::<VersionFile>(&s)
                    .map(|v| v.format_version)
                    .unwrap_or(0),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => {
                    return Err(IndexError::io(
                        format!("reading {}", version_path.display()),
                        e,
                    ));
                }
            };
            if found != FORMAT_VERSION {
                return Err(IndexError::Incompatible {
                    path: dir,
                    found,
                    expected: FORMAT_VERSION,
                });
            }
            let index = Index::open_in_dir(&dir)?;
            if index.schema() != schema {
                return Err(IndexError::Incompatible {
                    path: dir,
                    found,
                    expected: FORMAT_VERSION,
                });
            }
            index
        } else if create {
            std::fs::create_dir_all(&dir)
                .map_err(|e| IndexError::io(format!("creating {}", dir.display()), e))?;
            let index = Index::create_in_dir(&dir, schema)?;
            let version = VersionFile {
                format_version: FORMAT_VERSION,
                created_by: format!("yuqing {}", env!("CARGO_PKG_VERSION")),
            };
            let path = dir.join(VERSION_FILE);
            std::fs::write(
                &path,
                serde_json::to_vec_pretty(&version).unwrap_or_default(),
            )
            .map_err(|e| IndexError::io(format!("writing {}", path.display()), e))?;
            index
        } else {
            return Err(IndexError::Missing(data_dir.to_path_buf()));
        };
        index.tokenizers().register(
            TOKENIZER,
            QueryTokenizer {
                analyzer: Arc::clone(&analyzer),
            },
        );
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        Ok(PostIndex {
            index,
            reader,
            fields,
            analyzer: RwLock::new(analyzer),
            query_fields: RwLock::new(None),
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// The writer. Only one can exist per index (tantivy holds a lock file);
    /// a second fails with a message saying so.
    pub fn writer(&self, options: IndexOptions) -> Result<PostWriter, IndexError> {
        let writer = self.index.writer_with_num_threads(
            options.writer_threads.max(1),
            options.writer_memory_bytes.max(15 << 20),
        )?;
        let pseudonymizer = match options.authors {
            AuthorPolicy::Pseudonymise => Some(Pseudonymizer::from_data_dir(&self.data_dir)?),
            _ => None,
        };
        Ok(PostWriter {
            writer,
            reader: self.reader.clone(),
            fields: self.fields,
            analyzer: self.analyzer(),
            pseudonymizer,
            options,
            uncommitted: 0,
            first_uncommitted: None,
            last_retention: None,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Posts in the index (as of the reader's last reload).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Segments in the index.
    pub fn num_segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Makes the latest commit visible now (it becomes visible on its own
    /// shortly after a commit anyway).
    pub fn reload(&self) -> Result<(), IndexError> {
        self.reader.reload()?;
        Ok(())
    }

    /// The payload of the last commit, if it had one.
    pub fn commit_payload(&self) -> Result<Option<String>, IndexError> {
        Ok(self.index.load_metas()?.payload)
    }

    /// Sets the check of `field:value` terms inside queries (`region:滁州`),
    /// so that they get the validation and aliases of the filters.
    pub fn set_query_fields(&self, values: Arc<FieldValuesFn>) {
        match self.query_fields.write() {
            Ok(mut slot) => *slot = Some(values),
            Err(poisoned) => *poisoned.into_inner() = Some(values),
        }
    }

    pub(crate) fn query_fields(&self) -> Option<Arc<FieldValuesFn>> {
        match self.query_fields.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The analyzer the query side uses.
    pub fn analyzer(&self) -> Arc<Analyzer> {
        match self.analyzer.read() {
            Ok(a) => Arc::clone(&a),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the query-side analyzer (after a dictionary reload: new
    /// keywords segment queries as they now segment posts). Writers opened
    /// before keep theirs until [`PostWriter::set_analyzer`].
    pub fn set_analyzer(&self, analyzer: Arc<Analyzer>) {
        self.index.tokenizers().register(
            TOKENIZER,
            QueryTokenizer {
                analyzer: Arc::clone(&analyzer),
            },
        );
        match self.analyzer.write() {
            Ok(mut a) => *a = analyzer,
            Err(poisoned) => *poisoned.into_inner() = analyzer,
        }
    }
}
