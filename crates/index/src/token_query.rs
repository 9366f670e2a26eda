//! A search query evaluated on one post's tokens, without the index: what
//! keyword watches match with. It reads the query with the search's own
//! grammar and analyzer, so that it matches a post exactly when a search
//! for the same query (on the `text` field) would find that post.
//!
//! What the search does, and this does too:
//!
//! - unquoted text is split into words, all of which must be in the post
//!   (`滁州爆炸` = `滁州 AND 爆炸`);
//! - quoted text is a phrase: its words at consecutive positions;
//! - a word matches a post's word or one of the dictionary words of two or
//!   three characters inside it (`爆炸` finds `发生爆炸`), as
//!   [`Analyzer::index_tokens`] gives them to the index;
//! - `AND`, `OR`, `NOT`, `+`, `-` and parentheses; words side by side must
//!   all match; in a group with a required part, `OR` parts only rank;
//!   words that the analyzer drops (punctuation) are left out.
//!
//! What it refuses, because it cannot be decided on a post's words alone or
//! is not worth guessing: `field:` terms (a watch has `category`, `region`
//! and `level` keys instead; `text:` is allowed), prefixes (`爆*`), phrase
//! slop (`"a b"~2`), ranges, sets (`IN [...]`), `*`, and queries that only
//! exclude words or have no word at all.

use tantivy::query_grammar::{Delimiter, Occur, UserInputAst, UserInputLeaf};
use yuqing_text::Analyzer;

use crate::search::MAX_QUERY_BYTES;

/// One node of a compiled query.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// A word (index into [`TokenQuery::terms`]).
    Term(u32),
    /// Words at consecutive positions.
    Phrase(Vec<u32>),
    /// A group, as tantivy's boolean query reads it.
    Clause {
        must: Vec<Node>,
        should: Vec<Node>,
        must_not: Vec<Node>,
    },
}

/// Where a query's words occur in one post.
pub trait TermPositions {
    /// The positions (sorted, ascending) of the query's word `term` (an
    /// index into [`TokenQuery::terms`]) in the post; empty if absent.
    fn positions(&self, term: u32) -> &[u32];
}

/// A query compiled for evaluation on posts' tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenQuery {
    terms: Vec<String>,
    root: Node,
}

impl TokenQuery {
    /// Compiles `q` with `analyzer` (the one the index's query side uses).
    /// The error says what cannot be evaluated on a post, or why the
    /// query is not valid.
    pub fn parse(q: &str, analyzer: &Analyzer) -> Result<TokenQuery, String> {
        if q.len() > MAX_QUERY_BYTES {
            return Err(format!(
                "the query is {} bytes, over the limit of {MAX_QUERY_BYTES}",
                q.len()
            ));
        }
        let ast = tantivy::query_grammar::parse_query(q).map_err(|_| {
            "not valid query syntax (check quotes, parentheses and operators)".to_string()
        })?;
        let mut terms = Vec::new();
        let root = compile(ast, analyzer, &mut terms)?
            .ok_or_else(|| "the query has no word to match".to_string())?;
        if all_negative(&root) {
            return Err(
                "the query only excludes words: a watch needs at least one word that must match"
                    .into(),
            );
        }
        Ok(TokenQuery { terms, root })
    }

    /// The distinct words the query looks for (normalised, as the index
    /// holds them), excluded ones too.
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// Whether a post with these word positions matches.
    pub fn matches(&self, post: &impl TermPositions) -> bool {
        eval(&self.root, post)
    }
}

fn intern(terms: &mut Vec<String>, word: &str) -> u32 {
    match terms.iter().position(|t| t == word) {
        Some(i) => i as u32,
        None => {
            terms.push(word.to_string());
            (terms.len() - 1) as u32
        }
    }
}

/// The words the query side of the index makes of `text`.
fn words(analyzer: &Analyzer, text: &str) -> Vec<String> {
    analyzer
        .analyze(text)
        .tokens()
        .filter(|t| !t.is_punctuation())
        .map(|t| t.text.to_string())
        .collect()
}

/// `None`: nothing left (the search trims such parts away).
fn compile(
    ast: UserInputAst,
    analyzer: &Analyzer,
    terms: &mut Vec<String>,
) -> Result<Option<Node>, String> {
    match ast {
        UserInputAst::Clause(children) => {
            let (mut must, mut should, mut must_not) = (Vec::new(), Vec::new(), Vec::new());
            for (occur, child) in children {
                let Some(node) = compile(child, analyzer, terms)? else {
                    continue;
                };
                // Words side by side must all match (the search's
                // conjunction by default).
                match occur.unwrap_or(Occur::Must) {
                    Occur::Must => must.push(node),
                    Occur::Should => should.push(node),
                    Occur::MustNot => must_not.push(node),
                }
            }
            if must.is_empty() && should.is_empty() && must_not.is_empty() {
                return Ok(None);
            }
            Ok(Some(Node::Clause {
                must,
                should,
                must_not,
            }))
        }
        // A boost changes the ranking, not what matches.
        UserInputAst::Boost(inner, _) => compile(*inner, analyzer, terms),
        UserInputAst::Leaf(leaf) => match *leaf {
            UserInputLeaf::Literal(lit) => {
                if let Some(field) = lit.field_name.as_deref().filter(|f| *f != "text") {
                    return Err(match field {
                        "category" | "region" | "level" => format!(
                            "`{field}:` inside the query is not evaluated on a post: use the watch's `{field}` key"
                        ),
                        other => format!(
                            "`{other}:` cannot be evaluated on a post's words (only words, phrases and AND/OR/NOT)"
                        ),
                    });
                }
                if lit.prefix {
                    return Err(format!(
                        "the prefix `{}*` is not supported in a watch: write the whole word",
                        lit.phrase
                    ));
                }
                if lit.slop > 0 {
                    return Err(format!(
                        "the phrase slop `~{}` is not supported in a watch: use a phrase or words with AND",
                        lit.slop
                    ));
                }
                let words = words(analyzer, &lit.phrase);
                let ids: Vec<u32> = words.iter().map(|w| intern(terms, w)).collect();
                Ok(match (lit.delimiter, ids.len()) {
                    (_, 0) => None,
                    (_, 1) => Some(Node::Term(ids[0])),
                    // Unquoted: every word must match, anywhere.
                    (Delimiter::None, _) => Some(Node::Clause {
                        must: ids.into_iter().map(Node::Term).collect(),
                        should: Vec::new(),
                        must_not: Vec::new(),
                    }),
                    _ => Some(Node::Phrase(ids)),
                })
            }
            UserInputLeaf::All => {
                Err("`*` (every post) is not supported in a watch: name the words to watch".into())
            }
            UserInputLeaf::Range { .. } => {
                Err("ranges (`[a TO b]`) are not supported in a watch".into())
            }
            UserInputLeaf::Set { .. } => {
                Err("sets (`IN [...]`) are not supported in a watch".into())
            }
            _ => Err("only words, phrases and AND/OR/NOT are supported in a watch".into()),
        },
    }
}

/// A query that can only exclude (the search refuses it too).
fn all_negative(node: &Node) -> bool {
    match node {
        Node::Term(_) | Node::Phrase(_) => false,
        Node::Clause { must, should, .. } => {
            must.iter().all(all_negative) && should.iter().all(all_negative)
        }
    }
}

fn eval(node: &Node, post: &impl TermPositions) -> bool {
    match node {
        Node::Term(t) => !post.positions(*t).is_empty(),
        Node::Phrase(ids) => {
            let Some((first, rest)) = ids.split_first() else {
                return false;
            };
            post.positions(*first).iter().any(|&p| {
                rest.iter().enumerate().all(|(i, t)| {
                    post.positions(*t)
                        .binary_search(&(p + 1 + i as u32))
                        .is_ok()
                })
            })
        }
        Node::Clause {
            must,
            should,
            must_not,
        } => {
            if must.is_empty() && should.is_empty() {
                return false;
            }
            must.iter().all(|n| eval(n, post))
                && (!must.is_empty() || should.iter().any(|n| eval(n, post)))
                && !must_not.iter().any(|n| eval(n, post))
        }
    }
}

/// The positions of every word of a post, as the index holds them (words
/// and their dictionary sub-words), for evaluating a [`TokenQuery`] on one
/// post; for tests and one-off checks (watch sets look words up in bulk).
pub struct PostTokens {
    words: Vec<(String, u32)>,
}

impl PostTokens {
    /// The index tokens of `analyzed` (as [`Analyzer::index_tokens`] gives
    /// them).
    pub fn new(analyzer: &Analyzer, analyzed: &yuqing_text::Analyzed) -> PostTokens {
        let mut words = Vec::new();
        analyzer.index_tokens(analyzed, |t| {
            words.push((t.text.to_string(), t.position as u32))
        });
        PostTokens { words }
    }

    /// The positions of each of `query`'s words.
    pub fn for_query(&self, query: &TokenQuery) -> Vec<Vec<u32>> {
        query
            .terms()
            .iter()
            .map(|term| {
                let mut p: Vec<u32> = self
                    .words
                    .iter()
                    .filter(|(w, _)| w == term)
                    .map(|(_, p)| *p)
                    .collect();
                p.sort_unstable();
                p.dedup();
                p
            })
            .collect()
    }
}

impl TermPositions for Vec<Vec<u32>> {
    fn positions(&self, term: u32) -> &[u32] {
        self.get(term as usize).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer() -> Analyzer {
        Analyzer::new(["化工厂", "泄漏", "爆炸", "水污染"])
    }

    fn check(q: &str, text: &str) -> bool {
        let a = analyzer();
        let query = TokenQuery::parse(q, &a).unwrap_or_else(|e| panic!("{q}: {e}"));
        let tokens = PostTokens::new(&a, &a.analyze(text));
        query.matches(&tokens.for_query(&query))
    }

    #[test]
    fn words_phrases_and_operators() {
        let text = "滁州一化工厂发生泄漏，河水出现水污染";
        assert!(check("泄漏", text));
        assert!(check("化工厂 泄漏", text));
        assert!(
            check("化工厂泄漏", text),
            "unquoted Chinese is split into words"
        );
        assert!(!check("化工厂 地震", text));
        assert!(check("化工厂 OR 地震", text));
        assert!(check("地震 OR 水污染", text));
        assert!(!check("地震 OR 台风", text));
        assert!(check("化工厂 -地震", text));
        assert!(!check("化工厂 -泄漏", text));
        assert!(!check("化工厂 AND NOT 泄漏", text));
        assert!(
            !check("+化工厂 台风", text),
            "words side by side are all required"
        );
        assert!(check("化工厂 AND (台风 OR 泄漏)", text));
        assert!(check("(地震 OR 泄漏) AND 水污染", text));
        assert!(check("text:泄漏", text));
        assert!(check("泄漏^2", text));
        // Phrases: consecutive words.
        assert!(check("\"发生泄漏\"", text));
        assert!(!check("\"泄漏发生\"", text));
        assert!(check("\"水污染\"", text));
        // Sub-words inside a longer word match, as in the index.
        assert!(check("工厂", text));
        // 繁體 queries find 简体 posts; Latin is case-folded.
        assert!(check("\"發生泄漏\"", text));
        assert!(check("FIRE", "消息 fire alarm"));
    }

    #[test]
    fn features_that_cannot_be_evaluated_are_refused() {
        let a = analyzer();
        let err = |q: &str| TokenQuery::parse(q, &a).unwrap_err();
        assert!(
            err("category:fire 泄漏").contains("`category:`"),
            "{}",
            err("category:fire")
        );
        assert!(err("author:x").contains("`author:`"));
        assert!(err("\"化工厂 泄\"*").contains("prefix"));
        assert!(err("\"化工厂 泄漏\"~2").contains("slop"));
        assert!(err("ts:[2024-01-01T00:00:00Z TO *]").contains("ranges"));
        assert!(err("*").contains("`*`"));
        assert!(err("-泄漏").contains("only excludes"));
        assert!(err("，。").contains("no word"));
        assert!(err("\"unclosed").contains("syntax"));
        assert!(err(&"泄".repeat(2000)).contains("over the limit"));
    }
}
