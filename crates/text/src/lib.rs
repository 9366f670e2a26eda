//! Text normalisation and segmentation: the only place yuqing looks at raw
//! characters before matching and indexing.
//!
//! The work is done once per post ("segment once"):
//!
//! 1. [`Normalizer`] folds the text into one canonical form: full-width
//!    ASCII to half-width, Latin to lower case, runs of white space to one
//!    space (zero-width and control characters dropped, also inside such a
//!    run: normalising a normal form changes nothing), and traditional
//!    Chinese to simplified (OpenCC's phrase and character tables, so
//!    `乾旱` becomes `干旱` but `乾隆` stays). A post in 繁體 and its 简体
//!    twin normalise to the same string.
//! 2. [`Segmenter`] cuts the normalised text with jieba, after adding the
//!    dictionaries' keywords to jieba's user dictionary so that every
//!    keyword stays one token.
//!
//! The result, [`Analyzed`], keeps the normalised text, the token
//! boundaries as byte offsets into it, and an [`OffsetMap`] back to the
//! original text, so later stages can match on the normalised form and
//! still highlight the original.
//!
//! ```
//! use yuqing_text::{Analyzed, Analyzer};
//! let analyzer = Analyzer::new(["水污染"]);
//! let mut a = Analyzed::default();
//! analyzer.analyze_into("滁河發生水污染", &mut a);
//! assert_eq!(a.normalized(), "滁河发生水污染");
//! let words: Vec<&str> = a.tokens().map(|t| t.text).collect();
//! assert!(words.contains(&"水污染"));
//! ```

mod analyzed;
mod normalize;
mod segment;
mod t2s;

pub use analyzed::{Analyzed, IndexToken, Token, Tokens};
pub use normalize::{Normalized, Normalizer, OffsetMap};
pub use segment::{Segmenter, SegmenterOptions};

/// Normaliser and segmenter together: the whole text stage.
///
/// Immutable once built and `Sync`: share one behind an `Arc` between
/// worker threads, and rebuild it (then swap the `Arc`) when the keyword
/// list changes.
pub struct Analyzer {
    normalizer: Normalizer,
    segmenter: Segmenter,
}

impl Analyzer {
    /// Builds an analyzer whose segmenter keeps each of `keywords` whole.
    pub fn new<'a>(keywords: impl IntoIterator<Item = &'a str>) -> Self {
        Self::with_options(keywords, SegmenterOptions::default())
    }

    /// Like [`Analyzer::new`] with explicit segmenter options.
    pub fn with_options<'a>(
        keywords: impl IntoIterator<Item = &'a str>,
        options: SegmenterOptions,
    ) -> Self {
        Self::with_normalizer(Normalizer::new(), keywords, options)
    }

    /// Like [`Analyzer::with_options`], reusing an existing normaliser.
    pub fn with_normalizer<'a>(
        normalizer: Normalizer,
        keywords: impl IntoIterator<Item = &'a str>,
        options: SegmenterOptions,
    ) -> Self {
        // Keywords are written in simplified Chinese, but normalise them
        // anyway so the user dictionary holds exactly what the text will.
        let mut buf = Normalized::default();
        let words: Vec<String> = keywords
            .into_iter()
            .map(|w| {
                normalizer.normalize_into(w, &mut buf);
                buf.as_str().to_string()
            })
            .collect();
        let segmenter = Segmenter::new(words.iter().map(String::as_str), options);
        Analyzer {
            normalizer,
            segmenter,
        }
    }

    /// The normaliser.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// The segmenter.
    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    /// Normalises and segments `text` into `out`, reusing its buffers.
    pub fn analyze_into(&self, text: &str, out: &mut Analyzed) {
        self.normalizer.normalize_into(text, &mut out.normalized);
        self.segmenter
            .segment_into(out.normalized.as_str(), &mut out.bounds);
    }

    /// The tokens to put in a search index, in order: every word of
    /// `analyzed` (punctuation and white space left out) numbered by
    /// position, and, for words of three or more characters, the
    /// dictionary words of two and three characters inside them at the same
    /// position (jieba's search mode), so that a search for `爆炸` finds
    /// `发生爆炸` and `工厂` finds `化工厂`. Queries use the words alone.
    pub fn index_tokens(&self, analyzed: &Analyzed, mut f: impl FnMut(IndexToken<'_>)) {
        let text = analyzed.normalized();
        let mut position = 0;
        for token in analyzed.tokens() {
            if token.is_punctuation() {
                continue;
            }
            f(IndexToken {
                text: token.text,
                position,
                orig_start: token.orig_start,
                orig_end: token.orig_end,
            });
            let chars: Vec<(usize, char)> = token.text.char_indices().collect();
            if chars.len() >= 3 {
                for width in [2usize, 3] {
                    if chars.len() <= width {
                        continue;
                    }
                    for i in 0..=chars.len() - width {
                        let a = chars[i].0;
                        let b = chars.get(i + width).map_or(token.text.len(), |c| c.0);
                        let piece = &token.text[a..b];
                        if self.segmenter.has_word(piece) {
                            let (s, e) = (token.start + a, token.start + b);
                            f(IndexToken {
                                text: &text[s..e],
                                position,
                                orig_start: analyzed.normalization().to_original(s),
                                orig_end: analyzed.normalization().to_original(e),
                            });
                        }
                    }
                }
            }
            position += 1;
        }
    }

    /// Normalises and segments `text`.
    pub fn analyze(&self, text: &str) -> Analyzed {
        let mut out = Analyzed::default();
        self.analyze_into(text, &mut out);
        out
    }
}
