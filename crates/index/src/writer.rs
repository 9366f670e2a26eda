//! Adding posts: upserts, commits, retention.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tantivy::query::RangeQuery;
use tantivy::schema::Term;
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{DateTime, IndexReader, IndexWriter, TantivyDocument};
use yuqing_model::{CategoryHit, ScoredPost, Severity, Timestamp};
use yuqing_text::{Analyzed, Analyzer};

use crate::IndexError;
use crate::pseudonym::{AuthorPolicy, Pseudonymizer};
use crate::schema::{Fields, cat_score, level_rank};

/// How the writer behaves.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Memory tantivy may buffer before it writes a segment, in bytes
    /// (default 256 MiB).
    pub writer_memory_bytes: usize,
    /// tantivy indexing threads (default 1: the other cores analyse and
    /// score).
    pub writer_threads: usize,
    /// Commit after this many added posts (default 100,000).
    pub commit_docs: usize,
    /// Commit when the oldest uncommitted post is this old (default 1 s):
    /// how long a post may wait before it is searchable.
    pub commit_interval: Duration,
    /// Delete posts whose `ts` is older than this many days, at most once a
    /// minute at a commit (default: keep everything).
    pub retention_days: Option<u32>,
    /// What to store of authors (default: a keyed pseudonym).
    pub authors: AuthorPolicy,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            writer_memory_bytes: 256 << 20,
            writer_threads: 1,
            commit_docs: 100_000,
            commit_interval: Duration::from_secs(1),
            retention_days: None,
            authors: AuthorPolicy::Pseudonymise,
        }
    }
}

/// The part of a scored post kept as JSON in the `detail` field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Detail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reposts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<u64>,
    #[serde(default)]
    pub categories: Vec<CategoryHit>,
    #[serde(default)]
    pub severity: Option<Severity>,
}

/// A post's index document, built and not yet added.
pub struct PreparedPost {
    id: String,
    doc: TantivyDocument,
}

/// Adds posts to the index. One per index (tantivy allows one writer).
pub struct PostWriter {
    pub(crate) writer: IndexWriter<TantivyDocument>,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    pub(crate) analyzer: Arc<Analyzer>,
    pub(crate) pseudonymizer: Option<Pseudonymizer>,
    pub(crate) options: IndexOptions,
    pub(crate) uncommitted: usize,
    pub(crate) first_uncommitted: Option<Instant>,
    pub(crate) last_retention: Option<Instant>,
}

impl PostWriter {
    /// Segments search-mode sub-words with this analyzer from now on
    /// (after a dictionary reload).
    pub fn set_analyzer(&mut self, analyzer: Arc<Analyzer>) {
        self.analyzer = analyzer;
    }

    /// Adds a post, replacing any post with the same id. `analyzed` must be
    /// the post's text as analysed for scoring: its tokens are indexed as
    /// they are (segment once).
    pub fn add(&mut self, post: &ScoredPost, analyzed: &Analyzed) -> Result<(), IndexError> {
        let prepared = self.prepare(post, analyzed);
        self.add_prepared(prepared)
    }

    /// Adds a document built by [`PostWriter::prepare`], replacing any post
    /// with the same id.
    pub fn add_prepared(&mut self, prepared: PreparedPost) -> Result<(), IndexError> {
        self.writer
            .delete_term(Term::from_field_text(self.fields.id, &prepared.id));
        self.writer.add_document(prepared.doc)?;
        self.uncommitted += 1;
        self.first_uncommitted.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Builds the index document of a post without adding it (so that the
    /// cost of tantivy alone can be measured apart from building).
    pub fn prepare(&self, post: &ScoredPost, analyzed: &Analyzed) -> PreparedPost {
        let f = self.fields;
        let p = &post.post;
        let mut doc = TantivyDocument::new();
        doc.add_text(f.id, &p.id);
        doc.add_u64(f.id_key, crate::schema::id_key(&p.id));
        let mut tokens = Vec::with_capacity(analyzed.token_count() + 4);
        self.analyzer.index_tokens(analyzed, |t| {
            tokens.push(Token {
                offset_from: t.orig_start,
                offset_to: t.orig_end,
                position: t.position,
                text: t.text.to_string(),
                position_length: 1,
            })
        });
        doc.add_pre_tokenized_text(
            f.text,
            PreTokenizedString {
                text: p.text.clone(),
                tokens,
            },
        );
        doc.add_date(f.ts, DateTime::from_timestamp_millis(p.ts.as_millis()));
        let mut max_score = 0.0f64;
        for c in &post.categories {
            doc.add_text(f.category, &c.id);
            doc.add_u64(f.cat_score, cat_score(&c.id, c.score));
            max_score = max_score.max(f64::from(c.score));
        }
        doc.add_f64(f.score, max_score);
        for r in &post.regions {
            doc.add_text(f.region, r);
        }
        if let Some(platform) = &p.platform {
            doc.add_text(f.platform, platform);
        }
        if let Some(author) = &p.author {
            match (self.options.authors, &self.pseudonymizer) {
                (AuthorPolicy::Pseudonymise, Some(ps)) => {
                    doc.add_text(f.author, ps.pseudonym(author))
                }
                (AuthorPolicy::Raw, _) => doc.add_text(f.author, author),
                _ => {}
            }
        }
        let level = post.severity.as_ref().map(|s| s.level);
        if let Some(level) = level {
            doc.add_text(f.level, level.as_str());
        }
        doc.add_u64(f.level_rank, level_rank(level));
        if let Some(url) = &p.url {
            doc.add_text(f.url, url);
        }
        let detail = Detail {
            region: p.region.clone(),
            lang: p.lang.clone(),
            reposts: p.reposts,
            comments: p.comments,
            likes: p.likes,
            views: p.views,
            categories: post.categories.clone(),
            severity: post.severity.clone(),
        };
        // Serialising our own types cannot fail.
        let bytes = serde_json::to_vec(&detail).unwrap_or_default();
        doc.add_bytes(f.detail, &bytes);
        PreparedPost {
            id: p.id.clone(),
            doc,
        }
    }

    /// Posts added since the last commit.
    pub fn uncommitted(&self) -> usize {
        self.uncommitted
    }

    /// Whether the commit policy asks for a commit now: enough posts, or
    /// the oldest uncommitted one has waited `commit_interval`.
    pub fn commit_due(&self) -> bool {
        self.uncommitted >= self.options.commit_docs
            || self
                .first_uncommitted
                .is_some_and(|t| t.elapsed() >= self.options.commit_interval)
    }

    /// Commits: everything added so far becomes durable and searchable.
    /// Applies retention first when it is due.
    pub fn commit(&mut self) -> Result<u64, IndexError> {
        self.commit_with_payload(None)
    }

    /// Commits with a payload stored in the commit (for example the source
    /// offsets the commit covers), readable with
    /// [`crate::PostIndex::commit_payload`].
    pub fn commit_with_payload(&mut self, payload: Option<String>) -> Result<u64, IndexError> {
        self.apply_retention();
        let mut prepared = self.writer.prepare_commit()?;
        if let Some(p) = payload {
            prepared.set_payload(&p);
        }
        if let Some(pause) = test_commit_pause() {
            // For crash tests only: a window in which a kill lands inside
            // the commit (segments written, not yet made the index's).
            eprintln!(
                "yuqing: index commit prepared; pausing {} ms before finishing it (YUQING_TEST_COMMIT_PAUSE_MS, for crash tests only)",
                pause.as_millis()
            );
            std::thread::sleep(pause);
        }
        let opstamp = prepared.commit()?;
        self.uncommitted = 0;
        self.first_uncommitted = None;
        self.reader.reload()?;
        Ok(opstamp)
    }

    fn apply_retention(&mut self) {
        let Some(days) = self.options.retention_days else {
            return;
        };
        if self
            .last_retention
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        {
            return;
        }
        self.last_retention = Some(Instant::now());
        let cutoff = Timestamp::now().as_millis() - i64::from(days) * 86_400_000;
        let upper = Term::from_field_date(self.fields.ts, DateTime::from_timestamp_millis(cutoff));
        let query = RangeQuery::new(std::ops::Bound::Unbounded, std::ops::Bound::Excluded(upper));
        if let Err(e) = self.writer.delete_query(Box::new(query)) {
            tracing::warn!(error = %e, "retention: deleting old posts failed");
        }
    }

    /// Waits for tantivy's merge threads and drops the writer.
    pub fn finish(self) -> Result<(), IndexError> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

/// `YUQING_TEST_COMMIT_PAUSE_MS`: a test-only hook (docs/config.md) that
/// holds every index commit between its preparation and its end, and says
/// so on stderr, so that a crash test can kill the process inside a commit.
fn test_commit_pause() -> Option<Duration> {
    static PAUSE: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *PAUSE.get_or_init(|| {
        std::env::var("YUQING_TEST_COMMIT_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    })
}
