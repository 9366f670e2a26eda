//! Requests and answers: search, histogram, facets, lookup by id.

use std::collections::HashSet;
use std::str::FromStr;

use serde::Serialize;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector, AggregationLimitsGuard};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Term, Value};
use tantivy::{DocAddress, DocId, Score, SegmentReader, TantivyDocument};
use yuqing_model::{Level, Post, ScoredPost, Timestamp};

use crate::highlight::snippet;
use crate::schema::{category_code, unpack_score};
use crate::writer::Detail;
use crate::{IndexError, PostIndex};

/// Most hits one search returns.
pub const MAX_LIMIT: usize = 500;
/// Deepest offset one search may start at.
pub const MAX_OFFSET: usize = 10_000;
/// Longest query string, in bytes.
pub const MAX_QUERY_BYTES: usize = 4_096;
/// Most buckets one histogram returns.
pub const MAX_HISTOGRAM_BUCKETS: u32 = 10_000;
/// Most regions one facets request returns.
pub const MAX_FACET_SIZE: usize = 100;
/// Characters of a highlight snippet.
const SNIPPET_CHARS: usize = 160;

/// Filters shared by search, histogram and facets; every one given must
/// match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// A flagged category id.
    pub category: Option<String>,
    /// A canonical region name.
    pub region: Option<String>,
    /// A platform.
    pub platform: Option<String>,
    /// Posts at or after this time.
    pub from: Option<Timestamp>,
    /// Posts before this time.
    pub to: Option<Timestamp>,
    /// A minimum score: of `category` if given, else of the best category.
    pub min_score: Option<f64>,
    /// A minimum severity level (`orange` = orange or red).
    pub level: Option<Level>,
}

impl Filters {
    fn check(&self) -> Result<(), IndexError> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from >= to
        {
            return Err(IndexError::bad(
                "from",
                format!("{from} is not before `to` ({to})"),
            ));
        }
        if let Some(s) = self.min_score
            && !(s.is_finite() && s >= 0.0)
        {
            return Err(IndexError::bad(
                "min_score",
                "must be a number of at least 0",
            ));
        }
        Ok(())
    }
}

/// Order of hits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest first (the default).
    #[default]
    Time,
    /// Best text match first (BM25).
    Relevance,
    /// Highest score first: of the `category` filter if given, else of the
    /// best category.
    Score,
}

impl FromStr for Sort {
    type Err = IndexError;
    fn from_str(s: &str) -> Result<Self, IndexError> {
        match s {
            "time" => Ok(Sort::Time),
            "relevance" => Ok(Sort::Relevance),
            "score" => Ok(Sort::Score),
            _ => Err(IndexError::bad(
                "sort",
                format!("`{s}`: expected time, relevance or score"),
            )),
        }
    }
}

/// A search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// Query in tantivy syntax (empty: every post).
    pub q: String,
    /// Filters.
    pub filters: Filters,
    /// Order.
    pub sort: Sort,
    /// Hits to return, 1 to [`MAX_LIMIT`] (default 20).
    pub limit: usize,
    /// Hits to skip, at most [`MAX_OFFSET`].
    pub offset: usize,
    /// Continue after the last hit of the page that returned this
    /// `next_cursor` (with the same query, filters and sort); not with an
    /// `offset`.
    pub cursor: Option<String>,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            q: String::new(),
            filters: Filters::default(),
            sort: Sort::Time,
            limit: 20,
            offset: 0,
            cursor: None,
        }
    }
}

/// Version of the post shape that search hits, `/posts/{id}` and exports
/// carry as `schema_version` (docs/post.schema.json). Bump it whenever a
/// field is renamed, removed or changes meaning.
pub const POST_SCHEMA_VERSION: u32 = 1;

/// One hit: the stored post, in the shape of [`PostView`], with a
/// highlight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// [`POST_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The post as stored, flattened: `id`, `text`, `ts`, `platform`,
    /// `author`, `url`, engagement counts, `categories` (with score and
    /// terms), `regions`, `severity`.
    #[serde(flatten)]
    pub post: StoredPost,
    /// A snippet with the matching words in `<em>`, HTML-escaped.
    pub highlight: String,
}

/// A post as the API answers it: the stored post with the schema version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostView {
    /// [`POST_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The post as stored, flattened.
    #[serde(flatten)]
    pub post: StoredPost,
}

impl From<StoredPost> for PostView {
    fn from(post: StoredPost) -> Self {
        PostView {
            schema_version: POST_SCHEMA_VERSION,
            post,
        }
    }
}

/// Search results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResponse {
    /// Posts matching, all of them (not just this page).
    pub total: usize,
    /// This page of hits.
    pub hits: Vec<Hit>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Where a hit sits in a sort: the sort value (time in milliseconds, BM25
/// score or category score) and the `id_key` tiebreak; hits come highest
/// first. `None` marks a document at or before the cursor.
type SortKey = Option<(f64, u64)>;

/// A decoded cursor: the sort it was made for, the category code of a
/// score sort by category (else 0), and the key of the last hit returned.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cursor {
    sort: char,
    context: u64,
    key: (f64, u64),
}

impl Cursor {
    fn tag(sort: Sort) -> char {
        match sort {
            Sort::Time => 't',
            Sort::Relevance => 'r',
            Sort::Score => 's',
        }
    }

    fn encode(&self) -> String {
        format!(
            "{}{:08x}{:016x}{:016x}",
            self.sort,
            self.context,
            self.key.0.to_bits(),
            self.key.1
        )
    }

    fn decode(s: &str, sort: Sort, context: u64) -> Result<Cursor, IndexError> {
        let bad = || {
            IndexError::bad(
                "cursor",
                format!("`{s}` is not a cursor this server made (pass `next_cursor` as it came)"),
            )
        };
        let hex = |r: std::ops::Range<usize>| {
            s.get(r)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(bad)
        };
        if s.len() != 41 {
            return Err(bad());
        }
        let tag = s.chars().next().ok_or_else(bad)?;
        let cursor = Cursor {
            sort: tag,
            context: hex(1..9)?,
            key: (f64::from_bits(hex(9..25)?), hex(25..41)?),
        };
        if !matches!(tag, 't' | 'r' | 's') || cursor.key.0.is_nan() {
            return Err(bad());
        }
        if tag != Cursor::tag(sort) || cursor.context != context {
            return Err(IndexError::bad(
                "cursor",
                "was made for another sort (or another category of sort=score): keep the sort and category of the search it came from",
            ));
        }
        Ok(cursor)
    }
}

/// The key of a document, or `None` if it comes at or before `cursor`.
fn after(cursor: Option<(f64, u64)>, key: (f64, u64)) -> SortKey {
    match cursor {
        Some(c) if key.partial_cmp(&c) != Some(std::cmp::Ordering::Less) => None,
        _ => Some(key),
    }
}

/// An export: every matching post, in the order of the sort.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportRequest {
    /// Query (empty: every post).
    pub q: String,
    /// Filters.
    pub filters: Filters,
    /// Order (default newest first).
    pub sort: Sort,
}

/// How an export ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Posts matching when the export started.
    pub total: usize,
    /// Posts handed to the caller.
    pub written: usize,
    /// Whether every matching post was handed over (false: the caller
    /// stopped it).
    pub complete: bool,
}

/// Posts an export reads per pass over the index: memory stays bounded
/// by this, whatever the size of the result.
pub const EXPORT_PAGE: usize = 2_000;

/// Histogram bucket widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// `1m`.
    Minute,
    /// `5m`.
    FiveMinutes,
    /// `1h`.
    Hour,
    /// `1d` (UTC days).
    Day,
}

impl Interval {
    /// Width in milliseconds.
    pub fn millis(self) -> i64 {
        match self {
            Interval::Minute => 60_000,
            Interval::FiveMinutes => 300_000,
            Interval::Hour => 3_600_000,
            Interval::Day => 86_400_000,
        }
    }

    /// The parameter spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Minute => "1m",
            Interval::FiveMinutes => "5m",
            Interval::Hour => "1h",
            Interval::Day => "1d",
        }
    }
}

impl FromStr for Interval {
    type Err = IndexError;
    fn from_str(s: &str) -> Result<Self, IndexError> {
        match s {
            "1m" => Ok(Interval::Minute),
            "5m" => Ok(Interval::FiveMinutes),
            "1h" => Ok(Interval::Hour),
            "1d" => Ok(Interval::Day),
            _ => Err(IndexError::bad(
                "interval",
                format!("`{s}`: expected 1m, 5m, 1h or 1d"),
            )),
        }
    }
}

/// Counts of matching posts over time.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramRequest {
    /// Query (empty: every post).
    pub q: String,
    /// Filters; with `from` and `to` the buckets span exactly that range,
    /// empty ones included.
    pub filters: Filters,
    /// Bucket width.
    pub interval: Interval,
}

/// One histogram bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, RFC 3339.
    pub start: String,
    /// Posts in it.
    pub count: u64,
}

/// A histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistogramResponse {
    /// Bucket width.
    pub interval: String,
    /// Buckets, oldest first.
    pub buckets: Vec<Bucket>,
}

/// Top categories and regions.
#[derive(Debug, Clone, PartialEq)]
pub struct FacetsRequest {
    /// Query (empty: every post).
    pub q: String,
    /// Filters.
    pub filters: Filters,
    /// Regions to return, 1 to [`MAX_FACET_SIZE`] (every category is
    /// returned).
    pub size: usize,
}

/// A value and how many matching posts have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetCount {
    /// The category id or region name.
    pub key: String,
    /// Posts.
    pub count: u64,
}

/// Facet counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FacetsResponse {
    /// Posts matching.
    pub total: u64,
    /// Posts per flagged category, most first.
    pub categories: Vec<FacetCount>,
    /// Posts per region, most first.
    pub regions: Vec<FacetCount>,
    /// Posts per platform, most first (posts without one are not counted).
    pub platforms: Vec<FacetCount>,
}

/// A post as stored: the scored post, with the author as stored (a
/// pseudonym by default).
pub type StoredPost = ScoredPost;

impl PostIndex {
    /// Runs a search.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResponse, IndexError> {
        if req.limit == 0 || req.limit > MAX_LIMIT {
            return Err(IndexError::bad(
                "limit",
                format!("must be from 1 to {MAX_LIMIT}, got {}", req.limit),
            ));
        }
        if req.offset > MAX_OFFSET {
            return Err(IndexError::bad(
                "offset",
                format!("must be at most {MAX_OFFSET}, got {}", req.offset),
            ));
        }
        if req.cursor.is_some() && req.offset > 0 {
            return Err(IndexError::bad(
                "cursor",
                "give `cursor` or `offset`, not both",
            ));
        }
        req.filters.check()?;
        let query = self.build_query(&req.q, &req.filters)?;
        let searcher = self.reader.searcher();
        let (addresses, total, next_cursor) = self.sorted_page(
            &searcher,
            query.as_ref(),
            req.sort,
            req.filters.category.as_deref(),
            req.cursor.as_deref(),
            req.offset,
            req.limit,
        )?;
        let terms = self.highlight_terms(query.as_ref());
        let mut hits = Vec::with_capacity(addresses.len());
        for address in addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            hits.push(self.hit(&doc, &terms));
        }
        Ok(SearchResponse {
            total,
            hits,
            next_cursor,
        })
    }

    /// Hands every post matching `req` to `each`, in the order of the sort,
    /// from one snapshot of the index, [`EXPORT_PAGE`] posts at a time (a
    /// cursor walk): memory does not grow with the result. `each` returning
    /// [`ControlFlow::Break`](std::ops::ControlFlow::Break) stops the walk.
    pub fn export(
        &self,
        req: &ExportRequest,
        mut each: impl FnMut(StoredPost) -> std::ops::ControlFlow<()>,
    ) -> Result<ExportSummary, IndexError> {
        req.filters.check()?;
        let query = self.build_query(&req.q, &req.filters)?;
        let searcher = self.reader.searcher();
        let mut cursor: Option<String> = None;
        let mut summary = ExportSummary {
            total: 0,
            written: 0,
            complete: false,
        };
        loop {
            let (page, total, next) = self.sorted_page(
                &searcher,
                query.as_ref(),
                req.sort,
                req.filters.category.as_deref(),
                cursor.as_deref(),
                0,
                EXPORT_PAGE,
            )?;
            summary.total = total;
            for address in page {
                let doc: TantivyDocument = searcher.doc(address)?;
                if each(self.stored(&doc)).is_break() {
                    return Ok(summary);
                }
                summary.written += 1;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        summary.complete = true;
        Ok(summary)
    }

    /// One page of a sort: the addresses, the total of matches and the
    /// cursor after the page (`None` when nothing follows).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sorted_page(
        &self,
        searcher: &tantivy::Searcher,
        query: &dyn Query,
        sort: Sort,
        category: Option<&str>,
        cursor: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DocAddress>, usize, Option<String>), IndexError> {
        let context = match (sort, category) {
            (Sort::Score, Some(c)) => category_code(c),
            _ => 0,
        };
        let from = cursor
            .map(|c| Cursor::decode(c, sort, context))
            .transpose()?
            .map(|c| c.key);
        let top = TopDocs::with_limit(limit.saturating_add(1)).and_offset(offset);
        let id_key = |segment: &SegmentReader| {
            let column = segment.fast_fields().u64("id_key").ok();
            move |doc: DocId| column.as_ref().and_then(|c| c.first(doc)).unwrap_or(0)
        };
        let (docs, total): (Vec<(SortKey, DocAddress)>, usize) = match (sort, category) {
            (Sort::Time, _) => searcher.search(
                query,
                &(
                    top.order_by(move |segment: &SegmentReader| {
                        let ts = segment.fast_fields().date("ts").ok();
                        let tiebreak = id_key(segment);
                        move |doc: DocId| {
                            let millis = ts
                                .as_ref()
                                .and_then(|c| c.first(doc))
                                .map_or(i64::MIN, |d| d.into_timestamp_millis());
                            after(from, (millis as f64, tiebreak(doc)))
                        }
                    }),
                    Count,
                ),
            )?,
            (Sort::Relevance, _) => searcher.search(
                query,
                &(
                    top.tweak_score(move |segment: &SegmentReader| {
                        let tiebreak = id_key(segment);
                        move |doc: DocId, score: Score| {
                            after(from, (f64::from(score), tiebreak(doc)))
                        }
                    }),
                    Count,
                ),
            )?,
            (Sort::Score, None) => searcher.search(
                query,
                &(
                    top.order_by(move |segment: &SegmentReader| {
                        let score = segment.fast_fields().f64("score").ok();
                        let tiebreak = id_key(segment);
                        move |doc: DocId| {
                            let s = score.as_ref().and_then(|c| c.first(doc)).unwrap_or(0.0);
                            after(from, (s, tiebreak(doc)))
                        }
                    }),
                    Count,
                ),
            )?,
            (Sort::Score, Some(_)) => searcher.search(
                query,
                &(
                    top.order_by(move |segment: &SegmentReader| {
                        let column = segment.fast_fields().u64("cat_score").ok();
                        let tiebreak = id_key(segment);
                        move |doc: DocId| {
                            let s = column.as_ref().map_or(0.0, |c| {
                                c.values_for_doc(doc)
                                    .find(|v| v >> 32 == context)
                                    .map_or(0.0, unpack_score)
                            });
                            after(from, (s, tiebreak(doc)))
                        }
                    }),
                    Count,
                ),
            )?,
        };
        let mut page: Vec<(f64, u64, DocAddress)> = docs
            .into_iter()
            .filter_map(|(key, address)| key.map(|(k, t)| (k, t, address)))
            .collect();
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|&(k, t, _)| {
                Cursor {
                    sort: Cursor::tag(sort),
                    context,
                    key: (k, t),
                }
                .encode()
            })
        } else {
            None
        };
        Ok((page.into_iter().map(|(_, _, a)| a).collect(), total, next))
    }

    fn highlight_terms(&self, query: &dyn Query) -> HashSet<String> {
        let mut terms = HashSet::new();
        let text = self.fields.text;
        query.query_terms(&mut |term: &Term, _| {
            if term.field() == text
                && let Some(s) = term.value().as_str()
            {
                terms.insert(s.to_string());
            }
        });
        terms
    }

    fn hit(&self, doc: &TantivyDocument, terms: &HashSet<String>) -> Hit {
        let post = self.stored(doc);
        let analyzer = self.analyzer();
        Hit {
            schema_version: POST_SCHEMA_VERSION,
            highlight: snippet(&analyzer, &post.post.text, terms, SNIPPET_CHARS),
            post,
        }
    }

    /// The stored post of a document.
    pub(crate) fn stored(&self, doc: &TantivyDocument) -> StoredPost {
        let f = self.fields;
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let detail: Detail = doc
            .get_first(f.detail)
            .and_then(|v| v.as_bytes())
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        let ts = doc
            .get_first(f.ts)
            .and_then(|v| v.as_datetime())
            .and_then(|d| Timestamp::from_millis(d.into_timestamp_millis()).ok())
            .unwrap_or_else(|| Timestamp::from_millis(0).unwrap_or_else(|_| Timestamp::now()));
        ScoredPost {
            post: Post {
                id: text(f.id).unwrap_or_default(),
                text: text(f.text).unwrap_or_default(),
                ts,
                platform: text(f.platform),
                author: text(f.author),
                region: detail.region,
                url: text(f.url),
                lang: detail.lang,
                reposts: detail.reposts,
                comments: detail.comments,
                likes: detail.likes,
                views: detail.views,
            },
            categories: detail.categories,
            regions: doc
                .get_all(f.region)
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            severity: detail.severity,
        }
    }

    /// Counts matching posts per interval.
    pub fn histogram(&self, req: &HistogramRequest) -> Result<HistogramResponse, IndexError> {
        req.filters.check()?;
        let width = req.interval.millis();
        let mut spec = serde_json::json!({
            "field": "ts",
            "fixed_interval": req.interval.as_str(),
            "min_doc_count": 0,
        });
        if let (Some(from), Some(to)) = (req.filters.from, req.filters.to) {
            let buckets = (to.as_millis() - from.as_millis()) / width + 1;
            if buckets > i64::from(MAX_HISTOGRAM_BUCKETS) {
                return Err(IndexError::bad(
                    "interval",
                    format!(
                        "{} buckets of {} from {from} to {to}; at most {MAX_HISTOGRAM_BUCKETS}: widen the interval or narrow the range",
                        buckets,
                        req.interval.as_str()
                    ),
                ));
            }
            let bounds = serde_json::json!({"min": from.as_millis(), "max": to.as_millis() - 1});
            spec["extended_bounds"] = bounds.clone();
            spec["hard_bounds"] = bounds;
        }
        let aggs: Aggregations =
            serde_json::from_value(serde_json::json!({"h": {"date_histogram": spec}}))
                .map_err(|e| IndexError::bad("interval", e.to_string()))?;
        let value = self.aggregate(&req.q, &req.filters, aggs)?;
        let buckets = value["h"]["buckets"]
            .as_array()
            .map(|bs| {
                bs.iter()
                    .filter_map(|b| {
                        let key = b["key"].as_f64()? as i64;
                        Some(Bucket {
                            start: Timestamp::from_millis(key).ok()?.to_string(),
                            count: b["doc_count"].as_u64().unwrap_or(0),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(HistogramResponse {
            interval: req.interval.as_str().to_string(),
            buckets,
        })
    }

    /// Top categories and regions of the matching posts.
    pub fn facets(&self, req: &FacetsRequest) -> Result<FacetsResponse, IndexError> {
        if req.size == 0 || req.size > MAX_FACET_SIZE {
            return Err(IndexError::bad(
                "size",
                format!("must be from 1 to {MAX_FACET_SIZE}, got {}", req.size),
            ));
        }
        req.filters.check()?;
        let aggs: Aggregations = serde_json::from_value(serde_json::json!({
            "categories": {"terms": {"field": "category", "size": 1000}},
            "regions": {"terms": {"field": "region", "size": req.size}},
            "platforms": {"terms": {"field": "platform", "size": 50}},
        }))
        .map_err(|e| IndexError::bad("size", e.to_string()))?;
        let query = self.build_query(&req.q, &req.filters)?;
        let searcher = self.reader.searcher();
        let collector = AggregationCollector::from_aggs(aggs, self.agg_context());
        let (results, total) = searcher.search(&query, &(collector, Count))?;
        let value = serde_json::to_value(results).unwrap_or_default();
        let counts = |name: &str| -> Vec<FacetCount> {
            value[name]["buckets"]
                .as_array()
                .map(|bs| {
                    bs.iter()
                        .filter_map(|b| {
                            Some(FacetCount {
                                key: b["key"].as_str()?.to_string(),
                                count: b["doc_count"].as_u64().unwrap_or(0),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(FacetsResponse {
            total: total as u64,
            categories: counts("categories"),
            regions: counts("regions"),
            platforms: counts("platforms"),
        })
    }

    fn agg_context(&self) -> AggContextParams {
        AggContextParams::new(
            AggregationLimitsGuard::new(Some(256 << 20), Some(MAX_HISTOGRAM_BUCKETS)),
            self.index.tokenizers().clone(),
        )
    }

    fn aggregate(
        &self,
        q: &str,
        filters: &Filters,
        aggs: Aggregations,
    ) -> Result<serde_json::Value, IndexError> {
        let query = self.build_query(q, filters)?;
        let searcher = self.reader.searcher();
        let collector = AggregationCollector::from_aggs(aggs, self.agg_context());
        match searcher.search(&query, &collector) {
            Ok(results) => Ok(serde_json::to_value(results).unwrap_or_default()),
            Err(tantivy::TantivyError::AggregationError(
                tantivy::aggregation::AggregationError::BucketLimitExceeded { .. },
            )) => Err(IndexError::bad(
                "interval",
                format!(
                    "more than {MAX_HISTOGRAM_BUCKETS} buckets: widen the interval or pass `from` and `to`"
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The post with this id, as stored.
    pub fn get(&self, id: &str) -> Result<Option<StoredPost>, IndexError> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let query = TermQuery::new(Term::from_field_text(f.id, id), IndexRecordOption::Basic);
        let found = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        let Some((_, address)) = found.into_iter().next() else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(address)?;
        Ok(Some(self.stored(&doc)))
    }
}
