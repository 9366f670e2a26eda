//! The index schema, version 2.

use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, STORED, STRING,
    Schema, TextFieldIndexing, TextOptions,
};

/// The index format this build reads and writes. Bump it whenever the
/// schema or the meaning of a field changes.
pub const FORMAT_VERSION: u32 = 2;

/// Name of the tokenizer the `text` field declares: it runs yuqing's
/// analyzer on query text. Documents never go through it: they arrive
/// pre-tokenised.
pub(crate) const TOKENIZER: &str = "yuqing";

/// Handles of every field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// Post id; indexed raw for lookups and upserts.
    pub id: Field,
    /// The first 8 bytes of the BLAKE3 hash of the id, fast: the tiebreak
    /// that makes every sort a total order for cursors (see [`id_key`]).
    pub id_key: Field,
    /// The text as written, stored; indexed from the analyzer's tokens with
    /// positions.
    pub text: Field,
    /// Event time, milliseconds; indexed (ranges), fast (sort, histogram).
    pub ts: Field,
    /// Flagged category ids (multi-valued).
    pub category: Field,
    /// Per-category scores, multi-valued u64, indexed and fast: each value
    /// is `category code << 32 | score × 100` (see [`cat_score`]), so that
    /// "fire scored at least 3" is one range query and a sort by the fire
    /// score one fast-field read.
    pub cat_score: Field,
    /// Highest category score (0 if none), fast and indexed.
    pub score: Field,
    /// Canonical region names (multi-valued).
    pub region: Field,
    /// Source platform.
    pub platform: Field,
    /// Author, pseudonymised unless configured otherwise.
    pub author: Field,
    /// Severity level name.
    pub level: Field,
    /// Severity level rank: 0 none, 1 blue … 4 red.
    pub level_rank: Field,
    /// Link.
    pub url: Field,
    /// Everything else of the scored post, as JSON bytes (terms, severity
    /// details, engagement, language).
    pub detail: Field,
}

pub(crate) fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_options = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let ts_options = DateOptions::default()
        .set_indexed()
        .set_fast()
        .set_stored()
        .set_precision(DateTimePrecision::Milliseconds);
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        id_key: b.add_u64_field("id_key", FAST),
        text: b.add_text_field("text", text_options),
        ts: b.add_date_field("ts", ts_options),
        category: b.add_text_field("category", STRING | STORED | FAST),
        cat_score: b.add_u64_field("cat_score", INDEXED | FAST),
        score: b.add_f64_field("score", INDEXED | FAST),
        region: b.add_text_field("region", STRING | STORED | FAST),
        platform: b.add_text_field("platform", STRING | STORED | FAST),
        author: b.add_text_field("author", STRING | STORED),
        level: b.add_text_field("level", STRING | STORED | FAST),
        level_rank: b.add_u64_field("level_rank", INDEXED | FAST),
        url: b.add_text_field("url", STORED),
        detail: b.add_bytes_field("detail", STORED),
    };
    (b.build(), fields)
}

/// The 32-bit code of a category id (the first four bytes of its BLAKE3
/// hash): stable whatever the dictionaries' order, so the index does not
/// depend on them.
pub(crate) fn category_code(id: &str) -> u64 {
    let h = blake3::hash(id.as_bytes());
    let b = h.as_bytes();
    u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The `id_key` of a post id.
pub(crate) fn id_key(id: &str) -> u64 {
    let h = blake3::hash(id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// Packs a category's score into a `cat_score` value.
pub(crate) fn cat_score(id: &str, score: f32) -> u64 {
    (category_code(id) << 32) | quantize(f64::from(score))
}

/// A score in hundredths, clamped to `u32`.
pub(crate) fn quantize(score: f64) -> u64 {
    (score * 100.0).round().clamp(0.0, f64::from(u32::MAX)) as u64
}

/// The score of a `cat_score` value.
pub(crate) fn unpack_score(v: u64) -> f64 {
    (v & 0xFFFF_FFFF) as f64 / 100.0
}

/// Severity rank of a level name: 0 for none.
pub(crate) fn level_rank(level: Option<yuqing_model::Level>) -> u64 {
    use yuqing_model::Level;
    match level {
        None => 0,
        Some(Level::Blue) => 1,
        Some(Level::Yellow) => 2,
        Some(Level::Orange) => 3,
        Some(Level::Red) => 4,
    }
}
