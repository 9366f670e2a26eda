//! The compiled form's tables: what each pattern is for, the terms, the
//! context rules and the severity cues, as flat arrays indexed by number.
//!
//! The matcher never looks a word up by its text. An automaton match gives
//! a pattern number; the pattern's [`Role`]s say which term, context set,
//! region, casualty word or cue it is; each of those is a number into an
//! array of its own. This module owns those arrays and the one place each
//! is indexed: `compile` fills them, the lexicon holds them, the matcher
//! reads them through the lexicon's methods.
//!
//! The patterns are split between two automata ([`Patterns::build`]): the
//! primary one (main terms and region names) is scanned on every post; the
//! secondary one (support terms, context words, casualty and harm words,
//! cues) only on the posts where a main term matched.

use daachorse::errors::DaachorseError;
use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};
use yuqing_model::Level;

/// A character-wise Aho-Corasick automaton whose values are pattern
/// numbers.
pub(crate) type Automaton = CharwiseDoubleArrayAhoCorasick<u32>;

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

impl Role {
    /// Whether the role is looked for on every post (main terms and
    /// regions), that is, whether its pattern is in the primary automaton.
    pub(crate) fn is_primary(self, terms: &[Term]) -> bool {
        match self {
            Role::Term(t) => !terms[t as usize].support,
            Role::Region(_) => true,
            _ => false,
        }
    }
}

/// The kinds of casualty word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Casualty {
    Dead,
    Injured,
    Missing,
    Trapped,
}

/// [`Term::rule`] of a term without a context rule.
pub(crate) const NO_RULE: u32 = u32::MAX;

/// One term of a category (a word listed in two categories is two terms
/// of one pattern).
#[derive(Debug, Clone)]
pub(crate) struct Term {
    pub(crate) category: u16,
    pub(crate) support: bool,
    pub(crate) weight: f32,
    /// Its group's context rule in [`RuleTable`], or [`NO_RULE`].
    pub(crate) rule: u32,
    pub(crate) severity: Option<Level>,
    pub(crate) pattern: u32,
    /// Weight with head evidence close by (0: not a head term).
    pub(crate) head: f32,
}

/// Context rule of a group; the ranges are of [`RuleTable::sets`].
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

/// Casualty thresholds of the severity levels.
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

/// A severity cue (`红色预警`): the level it raises a post to, and its
/// pattern.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cue {
    pub(crate) level: Level,
    pub(crate) pattern: u32,
}

/// The distinct strings of the dictionaries (patterns), their roles, and
/// the two automata that find them.
pub(crate) struct Patterns {
    texts: Vec<Box<str>>,
    /// Roles of pattern `p` are `roles[role_start[p]..role_start[p + 1]]`.
    role_start: Vec<u32>,
    roles: Vec<Role>,
    primary: Option<Automaton>,
    secondary: Option<Automaton>,
    /// The longest pattern, in bytes.
    longest: u32,
}

impl Patterns {
    /// The patterns `texts` (pattern `p` is `texts[p]`) with their roles
    /// (`(p, role)`, in any order), each pattern in the primary automaton
    /// when one of its roles [`Role::is_primary`], else in the secondary.
    pub(crate) fn build(
        texts: Vec<String>,
        mut roles: Vec<(u32, Role)>,
        terms: &[Term],
    ) -> Result<Patterns, DaachorseError> {
        roles.sort_by_key(|&(p, _)| p);
        let mut role_start = Vec::with_capacity(texts.len() + 1);
        let mut sorted = Vec::with_capacity(roles.len());
        let mut i = 0;
        for p in 0..texts.len() as u32 {
            role_start.push(sorted.len() as u32);
            while i < roles.len() && roles[i].0 == p {
                sorted.push(roles[i].1);
                i += 1;
            }
        }
        role_start.push(sorted.len() as u32);
        let mut patterns = Patterns {
            longest: texts.iter().map(String::len).max().unwrap_or(0) as u32,
            texts: texts.into_iter().map(String::into_boxed_str).collect(),
            role_start,
            roles: sorted,
            primary: None,
            secondary: None,
        };
        patterns.primary = patterns.automaton(|r| r.is_primary(terms))?;
        patterns.secondary = patterns.automaton(|r| !r.is_primary(terms))?;
        Ok(patterns)
    }

    /// The automaton of the patterns with a role for which `wanted` holds;
    /// `None` when there are none.
    fn automaton(
        &self,
        wanted: impl Fn(Role) -> bool,
    ) -> Result<Option<Automaton>, DaachorseError> {
        let selected: Vec<(&str, u32)> = (0..self.texts.len())
            .filter(|&p| self.roles(p).iter().any(|r| wanted(*r)))
            .map(|p| (&*self.texts[p], p as u32))
            .collect();
        if selected.is_empty() {
            return Ok(None);
        }
        CharwiseDoubleArrayAhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build_with_values(selected)
            .map(Some)
    }

    /// The roles of pattern `p`.
    #[inline]
    pub(crate) fn roles(&self, p: usize) -> &[Role] {
        &self.roles[self.role_start[p] as usize..self.role_start[p + 1] as usize]
    }

    /// Pattern `p`'s text.
    #[inline]
    pub(crate) fn text(&self, p: usize) -> &str {
        &self.texts[p]
    }

    /// Every pattern's text, in pattern order.
    pub(crate) fn texts(&self) -> impl ExactSizeIterator<Item = &str> {
        self.texts.iter().map(|t| &**t)
    }

    /// The texts of the patterns with a role for which `wanted` holds.
    pub(crate) fn texts_with(&self, wanted: impl Fn(Role) -> bool) -> impl Iterator<Item = &str> {
        (0..self.texts.len())
            .filter(move |&p| self.roles(p).iter().any(|r| wanted(*r)))
            .map(|p| self.text(p))
    }

    /// The words the segmenter must know: every pattern that is more than
    /// a context word (terms, region names, casualty and harm words, cues).
    pub(crate) fn keywords(&self) -> impl Iterator<Item = &str> {
        self.texts_with(|r| !matches!(r, Role::Context(_)))
    }

    /// The automaton scanned on every post (main terms, region names).
    #[inline]
    pub(crate) fn primary(&self) -> Option<&Automaton> {
        self.primary.as_ref()
    }

    /// The automaton scanned where a main term matched (support terms,
    /// context, casualty and harm words, cues).
    #[inline]
    pub(crate) fn secondary(&self) -> Option<&Automaton> {
        self.secondary.as_ref()
    }

    /// The longest pattern, in bytes.
    #[inline]
    pub(crate) fn longest(&self) -> u32 {
        self.longest
    }
}

/// The groups' context rules and the context word sets they name.
pub(crate) struct RuleTable {
    rules: Vec<Rule>,
    /// The sets of the rules' lists (a rule's list is a range of it).
    sets: Vec<u32>,
    set_count: usize,
    /// Per rule, per context set (`rule * set_count + set`): which of the
    /// rule's lists hold the set ([`Rule::TOPIC`] …), so that a context
    /// hit is classified by one lookup rather than a search of each list.
    masks: Vec<u8>,
}

impl RuleTable {
    /// The rules, whose lists are ranges of `sets`, over `set_count`
    /// context sets.
    pub(crate) fn new(rules: Vec<Rule>, sets: Vec<u32>, set_count: usize) -> RuleTable {
        let mut masks = vec![0u8; rules.len() * set_count];
        for (r, rule) in rules.iter().enumerate() {
            for (range, bit) in [
                (rule.topic, Rule::TOPIC),
                (rule.requires, Rule::REQUIRES),
                (rule.unless, Rule::UNLESS),
                (rule.before, Rule::BEFORE),
            ] {
                for &set in &sets[range.0 as usize..range.1 as usize] {
                    masks[r * set_count + set as usize] |= bit;
                }
            }
        }
        RuleTable {
            rules,
            sets,
            set_count,
            masks,
        }
    }

    /// Rule `r`.
    #[inline]
    pub(crate) fn rule(&self, r: usize) -> &Rule {
        &self.rules[r]
    }

    /// Rule `r`'s lists holding each context set, indexed by set.
    #[inline]
    pub(crate) fn masks(&self, r: usize) -> &[u8] {
        &self.masks[r * self.set_count..(r + 1) * self.set_count]
    }

    /// The context sets of a list (a range of a rule, or a category's
    /// `head_with`).
    #[inline]
    pub(crate) fn sets(&self, (a, b): (u32, u32)) -> &[u32] {
        &self.sets[a as usize..b as usize]
    }

    /// Context word sets.
    pub(crate) fn set_count(&self) -> usize {
        self.set_count
    }
}

/// What grades a flagged post's severity: the cues and the casualty
/// thresholds.
pub(crate) struct Grading {
    cues: Vec<Cue>,
    grades: Grades,
}

impl Grading {
    /// Cue `i` is `cues[i]`.
    pub(crate) fn new(cues: Vec<Cue>, grades: Grades) -> Grading {
        Grading { cues, grades }
    }

    /// Cue `i`.
    #[inline]
    pub(crate) fn cue(&self, i: u32) -> Cue {
        self.cues[i as usize]
    }

    /// How many cues there are.
    pub(crate) fn cue_count(&self) -> usize {
        self.cues.len()
    }

    /// The casualty thresholds.
    pub(crate) fn grades(&self) -> &Grades {
        &self.grades
    }
}
