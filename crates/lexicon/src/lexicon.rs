//! The compiled, immutable form of a dictionary set.

use std::sync::Arc;

use daachorse::CharwiseDoubleArrayAhoCorasick;
use yuqing_model::Level;
use yuqing_text::{Analyzer, SegmenterOptions};

use crate::{DictErrors, DictSource};

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
    /// Context sets of `head_with`: a range of `Lexicon::rule_sets`.
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
    /// Distinct strings in the automaton.
    pub patterns: usize,
    /// Regions in the gazetteer.
    pub regions: usize,
    /// Context word sets.
    pub context_sets: usize,
    /// Words new to jieba's dictionary.
    pub segmenter_words_added: usize,
}

/// What a pattern is for. A pattern can have several roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Term(u32),
    Context(u32),
    Region(u32),
    Casualty(Casualty),
    /// A harm word (`[severity] harm`).
    Harm,
    Cue(u32),
}

/// The kinds of casualty word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Casualty {
    Dead,
    Injured,
    Missing,
    Trapped,
}

pub(crate) const NO_RULE: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct Term {
    pub(crate) category: u16,
    pub(crate) support: bool,
    pub(crate) weight: f32,
    pub(crate) rule: u32,
    pub(crate) severity: Option<Level>,
    pub(crate) pattern: u32,
    /// Weight with head evidence close by (0: not a head term).
    pub(crate) head: f32,
}

/// Context rule of a group; the ranges index `Lexicon::rule_sets`.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) window: u32,
    pub(crate) negation_window: u32,
    pub(crate) topic_window: u32,
    pub(crate) requires: (u32, u32),
    pub(crate) unless: (u32, u32),
    pub(crate) before: (u32, u32),
    pub(crate) topic: (u32, u32),
}

impl Rule {
    pub(crate) const TOPIC: u8 = 1;
    pub(crate) const REQUIRES: u8 = 2;
    pub(crate) const UNLESS: u8 = 4;
    pub(crate) const BEFORE: u8 = 8;
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Grades {
    /// (dead, injured) thresholds for yellow, orange, red.
    pub(crate) yellow: (u32, u32),
    pub(crate) orange: (u32, u32),
    pub(crate) red: (u32, u32),
}

impl Default for Grades {
    fn default() -> Self {
        // 《生产安全事故报告和调查处理条例》: 较大 3+ deaths or 10+ seriously
        // injured, 重大 10+ / 50+, 特别重大 30+ / 100+.
        Grades {
            yellow: (3, 10),
            orange: (10, 50),
            red: (30, 100),
        }
    }
}

/// A compiled dictionary set: automaton, flat arrays and the analyzer
/// whose segmenter knows every keyword.
pub struct Lexicon {
    pub(crate) analyzer: Arc<Analyzer>,
    pub(crate) categories: Vec<Category>,
    /// Main terms and region names: scanned on every post.
    pub(crate) primary: Option<CharwiseDoubleArrayAhoCorasick<u32>>,
    /// Support terms, context words, casualty words and cues: scanned only
    /// on posts where a main term matched.
    pub(crate) secondary: Option<CharwiseDoubleArrayAhoCorasick<u32>>,
    pub(crate) patterns: Vec<Box<str>>,
    /// Roles of pattern `p` are `roles[role_start[p]..role_start[p + 1]]`.
    pub(crate) role_start: Vec<u32>,
    pub(crate) roles: Vec<Role>,
    pub(crate) terms: Vec<Term>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) rule_sets: Vec<u32>,
    pub(crate) set_count: usize,
    /// Per rule, per context set (`rule * set_count + set`): which of the
    /// rule's lists hold the set ([`Rule::TOPIC`] …), so that a context
    /// hit is classified by one lookup rather than a search of each list.
    pub(crate) rule_masks: Vec<u8>,
    /// The longest pattern, in bytes.
    pub(crate) longest_pattern: u32,
    pub(crate) regions: Vec<Region>,
    /// Every region name and alias → region index.
    pub(crate) region_names: std::collections::HashMap<String, u32>,
    pub(crate) cue_levels: Vec<Level>,
    pub(crate) cue_patterns: Vec<u32>,
    pub(crate) grades: Grades,
    pub(crate) segmenter_words_added: usize,
}

impl Lexicon {
    /// Compiles dictionary files. Every problem is reported, each with its
    /// file, line and term.
    pub fn compile(sources: &[DictSource]) -> Result<Lexicon, DictErrors> {
        crate::compile::compile(sources, SegmenterOptions::default())
    }

    /// Like [`Lexicon::compile`], with explicit segmenter options.
    pub fn compile_with(
        sources: &[DictSource],
        options: SegmenterOptions,
    ) -> Result<Lexicon, DictErrors> {
        crate::compile::compile(sources, options)
    }

    /// The shipped dictionaries (embedded in the binary).
    pub fn builtin() -> Result<Lexicon, DictErrors> {
        Lexicon::compile(&DictSource::builtin())
    }

    /// Reads and compiles every `*.toml` in `dir`.
    pub fn from_dir(dir: &std::path::Path) -> Result<Lexicon, DictErrors> {
        Lexicon::compile(&DictSource::read_dir(dir)?)
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
        self.region_names
            .get(name)
            .map(|&i| &self.regions[i as usize])
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
        &self.regions
    }

    /// Each region below a province, by canonical name, with its
    /// province's name (`滁州市` → `安徽省`).
    pub fn region_parents(&self) -> std::collections::HashMap<String, String> {
        self.regions
            .iter()
            .filter_map(|r| {
                let p = self.regions.get(r.parent? as usize)?;
                Some((r.name.clone(), p.name.clone()))
            })
            .collect()
    }

    /// Every distinct string of the dictionaries, in pattern-id order: the
    /// dictionary the raw-automaton benchmarks compare against.
    pub fn patterns(&self) -> impl ExactSizeIterator<Item = &str> {
        self.patterns.iter().map(|p| &**p)
    }

    /// The patterns of the primary automaton (main terms and region names),
    /// the one scanned on every post.
    pub fn primary_patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().enumerate().filter_map(|(p, text)| {
            self.roles[self.role_start[p] as usize..self.role_start[p + 1] as usize]
                .iter()
                .any(|r| self.is_primary(*r))
                .then_some(&**text)
        })
    }

    /// Whether a role is looked for on every post (main terms, regions).
    #[inline]
    pub(crate) fn is_primary(&self, role: Role) -> bool {
        match role {
            Role::Term(t) => !self.terms[t as usize].support,
            Role::Region(_) => true,
            _ => false,
        }
    }

    /// The words given to the segmenter's user dictionary: terms, region
    /// names, casualty words and cues.
    pub fn keywords(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for (p, text) in self.patterns.iter().enumerate() {
            let roles = &self.roles[self.role_start[p] as usize..self.role_start[p + 1] as usize];
            if roles.iter().any(|r| !matches!(r, Role::Context(_))) {
                out.push(&**text);
            }
        }
        out
    }

    /// Term `t`'s text.
    pub(crate) fn term_text(&self, t: u32) -> &str {
        &self.patterns[self.terms[t as usize].pattern as usize]
    }

    /// Size figures.
    pub fn stats(&self) -> LexiconStats {
        LexiconStats {
            categories: self.categories.len(),
            terms: self.terms.len(),
            patterns: self.patterns.len(),
            regions: self.regions.len(),
            context_sets: self.set_count,
            segmenter_words_added: self.segmenter_words_added,
        }
    }
}

impl std::fmt::Debug for Lexicon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexicon")
            .field("stats", &self.stats())
            .finish()
    }
}
