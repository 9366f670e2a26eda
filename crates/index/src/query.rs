//! From request parameters to a tantivy query.

use std::ops::Bound;

use tantivy::DateTime;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::query_grammar::{
    Delimiter, UserInputAst, UserInputBound, UserInputLeaf, UserInputLiteral,
};
use tantivy::schema::{IndexRecordOption, Term};

use crate::post_index::FieldValuesFn;
use crate::schema::{category_code, level_rank, quantize};
use crate::search::{Filters, MAX_QUERY_BYTES};
use crate::{IndexError, PostIndex};

fn shorten(q: &str) -> String {
    let mut s: String = q.chars().take(80).collect();
    if q.chars().count() > 80 {
        s.push('…');
    }
    s
}

impl PostIndex {
    /// The query for `q` and the filters, all of which must match.
    pub(crate) fn build_query(
        &self,
        q: &str,
        filters: &Filters,
    ) -> Result<Box<dyn Query>, IndexError> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !q.trim().is_empty() {
            clauses.push((Occur::Must, self.parse_q(q)?));
        }
        let term = |field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, value),
                IndexRecordOption::Basic,
            ))
        };
        if let Some(c) = &filters.category {
            clauses.push((Occur::Must, term(f.category, c)));
        }
        if let Some(r) = &filters.region {
            clauses.push((Occur::Must, term(f.region, r)));
        }
        if let Some(p) = &filters.platform {
            clauses.push((Occur::Must, term(f.platform, p)));
        }
        if filters.from.is_some() || filters.to.is_some() {
            let date = |t: yuqing_model::Timestamp| {
                Term::from_field_date(f.ts, DateTime::from_timestamp_millis(t.as_millis()))
            };
            let lower = filters
                .from
                .map_or(Bound::Unbounded, |t| Bound::Included(date(t)));
            let upper = filters
                .to
                .map_or(Bound::Unbounded, |t| Bound::Excluded(date(t)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        if let Some(min) = filters.min_score {
            let range = match &filters.category {
                Some(c) => {
                    let code = category_code(c) << 32;
                    RangeQuery::new(
                        Bound::Included(Term::from_field_u64(f.cat_score, code | quantize(min))),
                        Bound::Included(Term::from_field_u64(f.cat_score, code | 0xFFFF_FFFF)),
                    )
                }
                None => RangeQuery::new(
                    Bound::Included(Term::from_field_f64(f.score, min)),
                    Bound::Unbounded,
                ),
            };
            clauses.push((Occur::Must, Box::new(range)));
        }
        if let Some(level) = filters.level {
            let rank = level_rank(Some(level));
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(f.level_rank, rank)),
                    Bound::Unbounded,
                )),
            ));
        }
        Ok(match clauses.len() {
            0 => Box::new(AllQuery),
            _ => Box::new(BooleanQuery::new(clauses)),
        })
    }

    /// Parses tantivy query syntax. Unquoted Chinese is split into words,
    /// all of which must match (`滁州爆炸` = `滁州 AND 爆炸`); quoted text is
    /// a phrase (`"水污染"`).
    fn parse_q(&self, q: &str) -> Result<Box<dyn Query>, IndexError> {
        if q.len() > MAX_QUERY_BYTES {
            return Err(IndexError::bad(
                "q",
                format!("is {} bytes, over the limit of {MAX_QUERY_BYTES}", q.len()),
            ));
        }
        let ast = tantivy::query_grammar::parse_query(q).map_err(|_| IndexError::BadQuery {
            query: shorten(q),
            message: "not valid query syntax (check quotes, parentheses, `field:value` and `[a TO b]` ranges)".into(),
        })?;
        let ast = self.split_words(ast);
        let values = self.query_fields();
        let ast = self
            .rewrite_leaves(ast, values.as_deref())
            .map_err(|message| IndexError::BadQuery {
                query: shorten(q),
                message,
            })?;
        let mut parser = QueryParser::for_index(&self.index, vec![self.fields.text]);
        parser.set_conjunction_by_default();
        parser
            .build_query_from_user_input_ast(ast)
            .map_err(|e| IndexError::BadQuery {
                query: shorten(q),
                message: e.to_string(),
            })
    }

    /// Field values checked and made canonical by `values` (`region:滁州` →
    /// `region:滁州市`; an unknown category is an error naming it), and
    /// ranges open at both ends (`ts:[* TO *]`) as "the field has a value"
    /// (every post, for the fields every post has).
    fn rewrite_leaves(
        &self,
        ast: UserInputAst,
        values: Option<&FieldValuesFn>,
    ) -> Result<UserInputAst, String> {
        let canonical = |field: &Option<String>, value: String| -> Result<String, String> {
            match (field, values) {
                (Some(field), Some(values)) => Ok(values(field, &value)?.unwrap_or(value)),
                _ => Ok(value),
            }
        };
        Ok(match ast {
            UserInputAst::Clause(children) => UserInputAst::Clause(
                children
                    .into_iter()
                    .map(|(occur, child)| Ok((occur, self.rewrite_leaves(child, values)?)))
                    .collect::<Result<_, String>>()?,
            ),
            UserInputAst::Boost(inner, boost) => {
                UserInputAst::Boost(Box::new(self.rewrite_leaves(*inner, values)?), boost)
            }
            UserInputAst::Leaf(leaf) => UserInputAst::Leaf(Box::new(match *leaf {
                UserInputLeaf::Literal(mut lit) if !lit.prefix => {
                    lit.phrase = canonical(&lit.field_name, lit.phrase)?;
                    UserInputLeaf::Literal(lit)
                }
                UserInputLeaf::Set { field, elements } => {
                    let elements = elements
                        .into_iter()
                        .map(|e| canonical(&field, e))
                        .collect::<Result<_, String>>()?;
                    UserInputLeaf::Set { field, elements }
                }
                UserInputLeaf::Range {
                    field,
                    lower: UserInputBound::Unbounded,
                    upper: UserInputBound::Unbounded,
                } => {
                    let schema = self.index.schema();
                    let known = field.as_deref().map(|f| schema.get_field(f));
                    match (field, known) {
                        // No field or the default field: every post has text.
                        (None, _) => UserInputLeaf::All,
                        (Some(field), Some(Ok(f))) => {
                            if schema.get_field_entry(f).is_fast() {
                                UserInputLeaf::Exists { field }
                            } else {
                                UserInputLeaf::All
                            }
                        }
                        // An unknown field: left for the parser to refuse.
                        (field, _) => UserInputLeaf::Range {
                            field,
                            lower: UserInputBound::Unbounded,
                            upper: UserInputBound::Unbounded,
                        },
                    }
                }
                other => other,
            })),
        })
    }

    fn split_words(&self, ast: UserInputAst) -> UserInputAst {
        match ast {
            UserInputAst::Clause(children) => UserInputAst::Clause(
                children
                    .into_iter()
                    .map(|(occur, child)| (occur, self.split_words(child)))
                    .collect(),
            ),
            UserInputAst::Boost(inner, boost) => {
                UserInputAst::Boost(Box::new(self.split_words(*inner)), boost)
            }
            UserInputAst::Leaf(leaf) => match *leaf {
                UserInputLeaf::Literal(lit)
                    if lit.delimiter == Delimiter::None
                        && !lit.prefix
                        && lit.field_name.as_deref().is_none_or(|f| f == "text") =>
                {
                    let words: Vec<String> = self
                        .analyzer()
                        .analyze(&lit.phrase)
                        .tokens()
                        .filter(|t| !t.is_punctuation())
                        .map(|t| t.text.to_string())
                        .collect();
                    if words.len() < 2 {
                        return UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(lit)));
                    }
                    UserInputAst::Clause(
                        words
                            .into_iter()
                            .map(|w| {
                                (
                                    Some(tantivy::query_grammar::Occur::Must),
                                    UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(
                                        UserInputLiteral {
                                            field_name: lit.field_name.clone(),
                                            phrase: w,
                                            delimiter: Delimiter::None,
                                            slop: 0,
                                            prefix: false,
                                        },
                                    ))),
                                )
                            })
                            .collect(),
                    )
                }
                other => UserInputAst::Leaf(Box::new(other)),
            },
        }
    }
}
