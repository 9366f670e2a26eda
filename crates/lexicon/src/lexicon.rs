//! The compiled, immutable form of a dictionary set.

use std::sync::Arc;

use std::collections::HashMap;

use yuqing_text::Analyzer;

use crate::tables::{Automaton, Grading, Patterns, Role, RuleTable, Term};

/// One incident category.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    /// Id (`fire`).
    pub id: String,
    /// Chinese name (`火灾`).
    pub name_zh: String,
    /// English name (`Fire`).
    pub name_en: String,
    /// Score at which a post is flagged.
    pub threshold: f32,
    /// Factor for terms found inside longer words.
    pub partial: f32,
    /// Most that support terms add.
    pub support_cap: f32,
    /// Number of terms.
    pub terms: usize,
    /// Context window, characters either side of a term (for harm, and
    /// the default of the groups' rules).
    pub window: u32,
    /// Weight that harm near a counted term adds (0: none).
    pub harm: f32,
    /// How far from a counted term harm is looked for, in characters.
    pub harm_window: u32,
    /// How close head evidence must be to a head term, in characters.
    pub head_window: u32,
    /// Whether a term in scare quotes is a figure (does not count).
    pub quotes_figurative: bool,
    /// Whether a term near a securities code (`(600519)`) does not count.
    pub unless_stock_code: bool,
    /// Context sets of `head_with`: a range of the rule table's sets.
    pub(crate) head_sets: (u32, u32),
}

/// One region of the gazetteer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Canonical name (`滁州市`).
    pub name: String,
    /// Index of the province it belongs to, if it is not one.
    pub parent: Option<u32>,
}

/// Counts describing a compiled lexicon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexiconStats {
    /// Categories.
    pub categories: usize,
    /// Terms over all categories (a word in two categories counts twice).
    pub terms: usize,
    /// Distinct strings in the two automata.
    pub patterns: usize,
    /// Regions in the gazetteer.
    pub regions: usize,
    /// Context word sets.
    pub context_sets: usize,
    /// Words new to jieba's dictionary.
    pub segmenter_words_added: usize,
}

/// The regions of the gazetteer and every name they go by.
pub(crate) struct Gazetteer {
    regions: Vec<Region>,
    /// Every region name and alias → region index.
    names: HashMap<String, u32>,
}

impl Gazetteer {
    /// `regions`, and `names` giving each name or alias's region index.
    pub(crate) fn new(regions: Vec<Region>, names: HashMap<String, u32>) -> Gazetteer {
        Gazetteer { regions, names }
    }
}

/// A compiled dictionary set: the two automata and the flat arrays saying
/// what their matches are for (see the crate documentation), and the
/// analyzer whose segmenter knows every keyword. Built by
/// [`Lexicon::compile`]; read by the scoring loop through the methods
/// below, which are the only places its tables are indexed.
pub struct Lexicon {
    analyzer: Arc<Analyzer>,
    categories: Vec<Category>,
    gazetteer: Gazetteer,
    patterns: Patterns,
    terms: Vec<Term>,
    rules: RuleTable,
    grading: Grading,
}

impl Lexicon {
    /// Assembles a compiled dictionary set (see `compile`).
    pub(crate) fn new(
        analyzer: Analyzer,
        categories: Vec<Category>,
        gazetteer: Gazetteer,
        patterns: Patterns,
        terms: Vec<Term>,
        rules: RuleTable,
        grading: Grading,
    ) -> Lexicon {
        Lexicon {
            analyzer: Arc::new(analyzer),
            categories,
            gazetteer,
            patterns,
            terms,
            rules,
            grading,
        }
    }

    /// The analyzer (normaliser + segmenter) that goes with this lexicon.
    /// Texts must be analysed by it before [`Lexicon::score_into`].
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The analyzer, shared: for components that outlive a borrow of the
    /// lexicon (the search index's query tokenizer).
    pub fn shared_analyzer(&self) -> Arc<Analyzer> {
        Arc::clone(&self.analyzer)
    }

    /// The region a name or alias designates (`滁州` → `滁州市`).
    pub fn region_by_name(&self, name: &str) -> Option<&Region> {
        self.gazetteer
            .names
            .get(name)
            .map(|&i| &self.gazetteer.regions[i as usize])
    }

    /// The categories, in file-name order. Indices are category numbers.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// Category number `i`.
    pub fn category(&self, i: u16) -> &Category {
        &self.categories[i as usize]
    }

    /// The number of a category id.
    pub fn category_index(&self, id: &str) -> Option<u16> {
        self.categories
            .iter()
            .position(|c| c.id == id)
            .map(|i| i as u16)
    }

    /// The gazetteer.
    pub fn regions(&self) -> &[Region] {
        &self.gazetteer.regions
    }

    /// Each region below a province, by canonical name, with its
    /// province's name (`滁州市` → `安徽省`).
    pub fn region_parents(&self) -> std::collections::HashMap<String, String> {
        let regions = self.regions();
        regions
            .iter()
            .filter_map(|r| {
                let p = regions.get(r.parent? as usize)?;
                Some((r.name.clone(), p.name.clone()))
            })
            .collect()
    }

    /// Every distinct string of the dictionaries, in pattern-id order: the
    /// dictionary the raw-automaton benchmarks compare against.
    pub fn patterns(&self) -> impl ExactSizeIterator<Item = &str> {
        self.patterns.texts()
    }

    /// The patterns of the primary automaton (main terms and region names),
    /// the one scanned on every post.
    pub fn primary_patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.texts_with(|r| r.is_primary(&self.terms))
    }

    /// The words given to the segmenter's user dictionary: terms, region
    /// names, casualty words and cues.
    pub fn keywords(&self) -> Vec<&str> {
        self.patterns.keywords().collect()
    }

    /// Size figures.
    pub fn stats(&self) -> LexiconStats {
        LexiconStats {
            categories: self.categories.len(),
            terms: self.terms.len(),
            patterns: self.patterns.texts().len(),
            regions: self.gazetteer.regions.len(),
            context_sets: self.rules.set_count(),
            segmenter_words_added: self.analyzer.segmenter().added_words(),
        }
    }
}

/// The compiled tables, as the scoring loop reads them.
impl Lexicon {
    /// Term `t`.
    #[inline]
    pub(crate) fn term(&self, t: u32) -> &Term {
        &self.terms[t as usize]
    }

    /// How many terms there are.
    pub(crate) fn term_count(&self) -> usize {
        self.terms.len()
    }

    /// Term `t`'s text.
    pub(crate) fn term_text(&self, t: u32) -> &str {
        self.patterns.text(self.term(t).pattern as usize)
    }

    /// The roles of pattern `p` (an automaton match's value).
    #[inline]
    pub(crate) fn roles(&self, p: u32) -> &[Role] {
        self.patterns.roles(p as usize)
    }

    /// The automaton scanned on every post.
    #[inline]
    pub(crate) fn primary(&self) -> Option<&Automaton> {
        self.patterns.primary()
    }

    /// The automaton scanned where a main term matched.
    #[inline]
    pub(crate) fn secondary(&self) -> Option<&Automaton> {
        self.patterns.secondary()
    }

    /// The longest pattern, in bytes.
    #[inline]
    pub(crate) fn longest_pattern(&self) -> u32 {
        self.patterns.longest()
    }

    /// The context rules.
    #[inline]
    pub(crate) fn rules(&self) -> &RuleTable {
        &self.rules
    }

    /// The severity cues and grades.
    #[inline]
    pub(crate) fn grading(&self) -> &Grading {
        &self.grading
    }

    /// Cue `i`'s text.
    pub(crate) fn cue_text(&self, i: u32) -> &str {
        self.patterns.text(self.grading.cue(i).pattern as usize)
    }
}

impl std::fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexicon")
            .field("stats", &self.stats())
            .finish()
    }
}
