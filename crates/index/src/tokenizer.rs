//! The query-side tokenizer: yuqing's analyzer, registered with tantivy
//! under the name the `text` field declares.

use std::sync::Arc;

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use yuqing_text::Analyzer;

/// Runs the analyzer (normalise + segment) and yields its words,
/// punctuation left out, numbered by position.
#[derive(Clone)]
pub(crate) struct QueryTokenizer {
    pub(crate) analyzer: Arc<Analyzer>,
}

pub(crate) struct QueryTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for QueryTokenizer {
    type TokenStream<'a> = QueryTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> QueryTokenStream {
        let analyzed = self.analyzer.analyze(text);
        let tokens = analyzed
            .tokens()
            .filter(|t| !t.is_punctuation())
            .enumerate()
            .map(|(position, t)| Token {
                offset_from: t.orig_start,
                offset_to: t.orig_end,
                position,
                text: t.text.to_string(),
                position_length: 1,
            })
            .collect();
        QueryTokenStream { tokens, next: 0 }
    }
}

impl TokenStream for QueryTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}
