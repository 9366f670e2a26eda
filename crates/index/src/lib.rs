//! The search index: scored posts in tantivy.
//!
//! The index is the source of truth for search and histograms. It stores
//! each post once, keyed by its id (indexing a post twice replaces it), with
//! the text indexed from the tokens the scoring stage already produced
//! ([`PreTokenizedString`](tantivy::tokenizer::PreTokenizedString): no second
//! segmentation) and the query side segmented by the same analyzer.
//!
//! - [`PostIndex`] opens or creates an index in a data directory, checks its
//!   format version, and answers [`SearchRequest`], [`HistogramRequest`],
//!   [`FacetsRequest`] and lookups by id.
//! - [`PostWriter`] adds (upserts) posts, commits by document count and
//!   time, and applies retention.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn main() -> Result<(), yuqing_index::IndexError> {
//! # let analyzer = Arc::new(yuqing_text::Analyzer::new([]));
//! use yuqing_index::{IndexOptions, PostIndex, SearchRequest};
//! let index = PostIndex::open_or_create("data".as_ref(), analyzer)?;
//! let hits = index.search(&SearchRequest { q: "水污染".into(), ..Default::default() })?;
//! println!("{} posts", hits.total);
//! # Ok(()) }
//! ```

mod error;
mod highlight;
mod post_index;
mod pseudonym;
mod query;
mod schema;
mod search;
mod token_query;
mod tokenizer;
mod writer;

pub use error::IndexError;
pub use post_index::{FieldValuesFn, PostIndex};
pub use pseudonym::{AuthorPolicy, Pseudonymizer};
pub use schema::FORMAT_VERSION;
pub use search::{
    Bucket, EXPORT_PAGE, ExportRequest, ExportSummary, FacetCount, FacetsRequest, FacetsResponse,
    Filters, HistogramRequest, HistogramResponse, Hit, Interval, MAX_FACET_SIZE,
    MAX_HISTOGRAM_BUCKETS, MAX_LIMIT, MAX_OFFSET, MAX_QUERY_BYTES, POST_SCHEMA_VERSION, PostView,
    SearchRequest, SearchResponse, Sort, StoredPost,
};
pub use token_query::{PostTokens, TermPositions, TokenQuery};
pub use writer::{IndexOptions, PostWriter, PreparedPost};
