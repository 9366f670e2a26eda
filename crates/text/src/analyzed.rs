//! The output of the text stage.

use crate::Normalized;

/// A text after normalisation and segmentation.
#[derive(Debug, Clone, Default)]
pub struct Analyzed {
    pub(crate) normalized: Normalized,
    /// Token boundaries, byte offsets into the normalised text, from 0 to
    /// its length.
    pub(crate) bounds: Vec<u32>,
}

/// One token: a slice of the normalised text and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token, normalised.
    pub text: &'a str,
    /// Byte range in the normalised text.
    pub start: usize,
    /// End (exclusive) in the normalised text.
    pub end: usize,
    /// Byte range in the original text.
    pub orig_start: usize,
    /// End (exclusive) in the original text.
    pub orig_end: usize,
}

impl Token<'_> {
    /// Whether the token is only punctuation, symbols or space (no letter,
    /// digit or ideograph): such tokens are not indexed.
    pub fn is_punctuation(&self) -> bool {
        !self.text.chars().any(char::is_alphanumeric)
    }
}

/// A token as the search index takes it (see
/// [`crate::Analyzer::index_tokens`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexToken<'a> {
    /// The token, normalised.
    pub text: &'a str,
    /// Its position (sub-words share their word's position).
    pub position: usize,
    /// Byte range in the original text.
    pub orig_start: usize,
    /// End (exclusive) in the original text.
    pub orig_end: usize,
}

/// Iterator over the tokens of an [`Analyzed`].
pub struct Tokens<'a> {
    analyzed: &'a Analyzed,
    i: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let b = &self.analyzed.bounds;
        if self.i + 1 >= b.len() {
            return None;
        }
        let (start, end) = (b[self.i] as usize, b[self.i + 1] as usize);
        self.i += 1;
        let n = &self.analyzed.normalized;
        Some(Token {
            text: &n.as_str()[start..end],
            start,
            end,
            orig_start: n.to_original(start),
            orig_end: n.to_original(end),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.analyzed.bounds.len().saturating_sub(self.i + 1);
        (left, Some(left))
    }
}

impl Analyzed {
    /// The normalised text.
    pub fn normalized(&self) -> &str {
        self.normalized.as_str()
    }

    /// The normalisation result, with its offset map.
    pub fn normalization(&self) -> &Normalized {
        &self.normalized
    }

    /// Token boundaries: token `i` is `normalized()[bounds[i]..bounds[i+1]]`.
    pub fn bounds(&self) -> &[u32] {
        &self.bounds
    }

    /// Number of tokens (punctuation and spaces included).
    pub fn token_count(&self) -> usize {
        self.bounds.len().saturating_sub(1)
    }

    /// The tokens, in order.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens {
            analyzed: self,
            i: 0,
        }
    }

    /// Whether byte offset `pos` of the normalised text is a token boundary.
    #[inline]
    pub fn is_boundary(&self, pos: usize) -> bool {
        self.bounds.binary_search(&(pos as u32)).is_ok()
    }
}
