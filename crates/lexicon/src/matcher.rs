//! The scoring loop: one automaton pass, flat arrays, no allocation per
//! match.

use daachorse::CharwiseDoubleArrayAhoCorasick;
use yuqing_model::{CategoryHit, Level, Post, ScoredPost, Severity};
use yuqing_text::Analyzed;

use crate::casualty::count_near;
use crate::lexicon::{Casualty, Lexicon, NO_RULE, Role, Rule};

/// A match of some pattern role: `id` is a term, set, region or cue index.
#[derive(Debug, Clone, Copy)]
struct Hit {
    id: u32,
    start: u32,
    end: u32,
}

/// One flagged category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flag {
    /// Category number (see [`Lexicon::category`]).
    pub category: u16,
    /// Its score.
    pub score: f32,
}

/// Severity of a flagged post, as computed into a [`Scratch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeverityOutcome {
    /// The level.
    pub level: Level,
    /// Largest death toll read.
    pub dead: u32,
    /// Largest number of injured read.
    pub injured: u32,
    /// Largest number of missing read.
    pub missing: u32,
    /// Largest number of trapped read.
    pub trapped: u32,
}

/// Per-thread working memory for [`Lexicon::score_into`], and where its
/// outcome is read. Reuse one per worker: after the first few posts it
/// stops allocating.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    generation: u32,
    /// Per term: generation in which it last counted, and with what factor.
    term_seen: Vec<u32>,
    term_factor: Vec<f32>,
    /// Raw automaton matches (pattern id, start, end).
    matches: Vec<Hit>,
    term_hits: Vec<Hit>,
    context_hits: Vec<Hit>,
    region_hits: Vec<Hit>,
    casualty_hits: Vec<(Casualty, u32, u32)>,
    cue_hits: Vec<Hit>,
    main: Vec<f32>,
    support: Vec<f32>,
    /// Categories whose `main`/`support` were written for this post (the
    /// others hold stale values and read as 0).
    touched: Vec<u16>,
    category_seen: Vec<u32>,
    /// Spans of counted term occurrences, per category: (category, start, end).
    covered: Vec<(u16, u32, u32)>,
    /// Terms that counted, in order of first appearance.
    counted: Vec<u32>,
    flagged: Vec<Flag>,
    regions: Vec<u32>,
    cues: Vec<u32>,
    severity: Option<SeverityOutcome>,
}

impl Scratch {
    /// Working memory sized for `lexicon`. (A scratch built for another
    /// lexicon still works: it resizes itself.)
    pub fn new(lexicon: &Lexicon) -> Scratch {
        let mut s = Scratch::default();
        s.fit(lexicon);
        s
    }

    #[cold]
    fn fit(&mut self, lexicon: &Lexicon) {
        let (t, c) = (lexicon.terms.len(), lexicon.categories.len());
        if self.term_seen.len() != t || self.main.len() != c {
            self.term_seen = vec![0; t];
            self.term_factor = vec![0.0; t];
            self.main = vec![0.0; c];
            self.support = vec![0.0; c];
            self.category_seen = vec![0; c];
            self.generation = 0;
        }
    }

    #[inline]
    fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.term_seen.fill(0);
            self.category_seen.fill(0);
            self.generation = 1;
        }
        self.matches.clear();
        self.term_hits.clear();
        self.context_hits.clear();
        self.region_hits.clear();
        self.casualty_hits.clear();
        self.cue_hits.clear();
        self.touched.clear();
        self.covered.clear();
        self.counted.clear();
        self.flagged.clear();
        self.regions.clear();
        self.cues.clear();
        self.severity = None;
    }

    /// The flagged categories of the last post, highest score first.
    pub fn flagged(&self) -> &[Flag] {
        &self.flagged
    }

    /// The last post's score for category `c`, flagged or not.
    pub fn score(&self, lexicon: &Lexicon, c: u16) -> f32 {
        let c = c as usize;
        if self.category_seen.get(c) != Some(&self.generation) {
            return 0.0;
        }
        let main = self.main[c];
        if main > 0.0 {
            main + self.support[c].min(lexicon.categories[c].support_cap)
        } else {
            0.0
        }
    }

    /// The terms that counted for category `c` in the last post, in order
    /// of first appearance.
    pub fn terms<'l>(&'l self, lexicon: &'l Lexicon, c: u16) -> impl Iterator<Item = &'l str> + 'l {
        self.counted
            .iter()
            .filter(move |&&t| lexicon.terms[t as usize].category == c)
            .map(move |&t| lexicon.term_text(t))
    }

    /// Region indices mentioned by the last post (provinces before their
    /// divisions), in order of first mention.
    pub fn regions(&self) -> &[u32] {
        &self.regions
    }

    /// Severity of the last post, if it was flagged.
    pub fn severity(&self) -> Option<SeverityOutcome> {
        self.severity
    }

    /// Severity cues found in the last flagged post, in order.
    pub fn cues<'l>(&'l self, lexicon: &'l Lexicon) -> impl Iterator<Item = &'l str> + 'l {
        self.cues
            .iter()
            .map(move |&c| &*lexicon.patterns[lexicon.cue_patterns[c as usize] as usize])
    }
}

impl Lexicon {
    /// Scores one analysed text (from [`Lexicon::analyzer`]) into
    /// `scratch`; read the outcome from it.
    pub fn score_into(&self, analyzed: &Analyzed, scratch: &mut Scratch) {
        if scratch.term_seen.len() != self.terms.len()
            || scratch.main.len() != self.categories.len()
        {
            scratch.fit(self);
        }
        scratch.reset();
        if let Some(primary) = &self.primary {
            scan(primary, analyzed.normalized(), &mut scratch.matches);
        }
        // Most posts match nothing: keep their path short.
        if !scratch.matches.is_empty() {
            self.evaluate(analyzed, scratch);
        }
    }

    /// Everything after the primary scan: roles, the secondary scan where
    /// needed, terms, flags, regions, severity.
    #[inline(never)]
    fn evaluate(&self, analyzed: &Analyzed, scratch: &mut Scratch) {
        let mut main_hits = false;
        for i in 0..scratch.matches.len() {
            let Hit { id: p, start, end } = scratch.matches[i];
            let p = p as usize;
            for &role in &self.roles[self.role_start[p] as usize..self.role_start[p + 1] as usize] {
                match role {
                    Role::Term(id) if !self.terms[id as usize].support => {
                        main_hits = true;
                        scratch.term_hits.push(Hit { id, start, end });
                    }
                    Role::Region(id) => scratch.region_hits.push(Hit { id, start, end }),
                    _ => {}
                }
            }
        }
        if main_hits {
            // Evidence around the candidates: support terms, context,
            // casualty words and cues.
            scratch.matches.clear();
            if let Some(secondary) = &self.secondary {
                scan(secondary, analyzed.normalized(), &mut scratch.matches);
            }
            for i in 0..scratch.matches.len() {
                let Hit { id: p, start, end } = scratch.matches[i];
                let p = p as usize;
                for &role in
                    &self.roles[self.role_start[p] as usize..self.role_start[p + 1] as usize]
                {
                    match role {
                        Role::Term(id) if self.terms[id as usize].support => {
                            scratch.term_hits.push(Hit { id, start, end })
                        }
                        Role::Context(id) => scratch.context_hits.push(Hit { id, start, end }),
                        Role::Casualty(kind) => scratch.casualty_hits.push((kind, start, end)),
                        Role::Cue(id) => scratch.cue_hits.push(Hit { id, start, end }),
                        _ => {}
                    }
                }
            }
        }
        if scratch.term_hits.is_empty() && scratch.region_hits.is_empty() {
            return;
        }

        // Main terms first; support terms only count for categories a main
        // term opened, so they are only looked at for those.
        // Left to right, longer first at the same start: a term inside a
        // longer counted term of its category is the same mention and does
        // not count again (发生爆炸 holds 爆炸, 浓烟滚滚 holds 浓烟).
        if scratch.term_hits.len() > 1 {
            scratch
                .term_hits
                .sort_unstable_by_key(|h| (h.start, std::cmp::Reverse(h.end), h.id));
        }
        for pass_support in [false, true] {
            for i in 0..scratch.term_hits.len() {
                let h = scratch.term_hits[i];
                let term = &self.terms[h.id as usize];
                if term.support != pass_support {
                    continue;
                }
                let c = term.category as usize;
                if pass_support
                    && (scratch.category_seen[c] != scratch.generation || scratch.main[c] <= 0.0)
                {
                    continue;
                }
                self.count_term(analyzed, scratch, h);
            }
        }

        for &c in &scratch.touched {
            let category = &self.categories[c as usize];
            let main = scratch.main[c as usize];
            if main > 0.0 {
                let score = main + scratch.support[c as usize].min(category.support_cap);
                if score >= category.threshold {
                    scratch.flagged.push(Flag { category: c, score });
                }
            }
        }
        if scratch.flagged.len() > 1 {
            scratch.flagged.sort_by(|a, b| {
                b.score
                    .total_cmp(&a.score)
                    .then(a.category.cmp(&b.category))
            });
        }

        for i in 0..scratch.region_hits.len() {
            let h = scratch.region_hits[i];
            if !self.whole(analyzed, h.start, h.end) {
                continue;
            }
            if let Some(parent) = self.regions[h.id as usize].parent
                && !scratch.regions.contains(&parent)
            {
                scratch.regions.push(parent);
            }
            if !scratch.regions.contains(&h.id) {
                scratch.regions.push(h.id);
            }
        }

        if !scratch.flagged.is_empty() {
            self.grade(analyzed, scratch);
        }
    }

    /// Applies one term hit: boundaries, context rule, distinctness, score.
    #[inline]
    fn count_term(&self, analyzed: &Analyzed, scratch: &mut Scratch, h: Hit) {
        let term = &self.terms[h.id as usize];
        let c = term.category as usize;
        if scratch.covered.iter().any(|&(cc, s, e)| {
            cc as usize == c && s <= h.start && h.end <= e && e - s > h.end - h.start
        }) {
            return;
        }
        let factor = if self.whole(analyzed, h.start, h.end) {
            1.0
        } else {
            self.categories[c].partial
        };
        if factor <= 0.0 {
            return;
        }
        if term.rule != NO_RULE
            && !self.rule_passes(
                &self.rules[term.rule as usize],
                h,
                &scratch.context_hits,
                analyzed,
            )
        {
            return;
        }
        // This occurrence stands: whatever it adds, it covers its span.
        scratch.covered.push((c as u16, h.start, h.end));
        let t = h.id as usize;
        let generation = scratch.generation;
        let gained = if scratch.term_seen[t] == generation {
            if factor <= scratch.term_factor[t] {
                return;
            }
            factor - scratch.term_factor[t]
        } else {
            scratch.term_seen[t] = generation;
            scratch.counted.push(h.id);
            factor
        };
        scratch.term_factor[t] = factor;
        if scratch.category_seen[c] != generation {
            scratch.category_seen[c] = generation;
            scratch.main[c] = 0.0;
            scratch.support[c] = 0.0;
            scratch.touched.push(c as u16);
        }
        if term.support {
            scratch.support[c] += gained * term.weight;
        } else {
            scratch.main[c] += gained * term.weight;
        }
    }

    /// Whether `text[start..end]` is whole: on token boundaries, or sharing
    /// its tokens only with dictionary words of two or more characters.
    fn whole(&self, analyzed: &Analyzed, start: u32, end: u32) -> bool {
        let bounds = analyzed.bounds();
        let text = analyzed.normalized();
        let segmenter = self.analyzer.segmenter();
        let is_word = |piece: &str| piece.chars().nth(1).is_some() && segmenter.has_word(piece);
        if bounds.binary_search(&start).is_err() {
            let i = bounds.partition_point(|&b| b < start);
            // bounds[0] == 0 <= start, so i >= 1 here.
            let token_start = bounds[i - 1] as usize;
            if !is_word(&text[token_start..start as usize]) {
                return false;
            }
        }
        if bounds.binary_search(&end).is_err() {
            let i = bounds.partition_point(|&b| b < end);
            let token_end = bounds.get(i).map_or(text.len(), |&b| b as usize);
            if !is_word(&text[end as usize..token_end]) {
                return false;
            }
        }
        true
    }

    fn rule_passes(&self, rule: &Rule, h: Hit, context: &[Hit], analyzed: &Analyzed) -> bool {
        let text = analyzed.normalized();
        let sets = |(a, b): (u32, u32)| &self.rule_sets[a as usize..b as usize];
        let requires = sets(rule.requires);
        let unless = sets(rule.unless);
        let before = sets(rule.before);
        let mut required_found = requires.is_empty();
        for c in context {
            if !required_found && requires.contains(&c.id) && within(text, h, *c, rule.window) {
                required_found = true;
            }
            if unless.contains(&c.id) && within(text, h, *c, rule.window) {
                return false;
            }
            if before.contains(&c.id)
                && c.end <= h.start
                && chars_at_most(
                    &text[c.end as usize..h.start as usize],
                    rule.negation_window,
                )
                && self.whole(analyzed, c.start, c.end)
            {
                return false;
            }
        }
        required_found
    }

    fn grade(&self, analyzed: &Analyzed, scratch: &mut Scratch) {
        let text = analyzed.normalized();
        let mut out = SeverityOutcome {
            level: Level::Blue,
            dead: 0,
            injured: 0,
            missing: 0,
            trapped: 0,
        };
        for &(kind, start, end) in &scratch.casualty_hits {
            if !self.whole(analyzed, start, end) {
                continue;
            }
            let Some(n) = count_near(text, start as usize, end as usize) else {
                continue;
            };
            let slot = match kind {
                Casualty::Dead => &mut out.dead,
                Casualty::Injured => &mut out.injured,
                Casualty::Missing => &mut out.missing,
                Casualty::Trapped => &mut out.trapped,
            };
            *slot = (*slot).max(n);
        }
        let dead = out.dead.saturating_add(out.missing);
        let g = &self.grades;
        for (level, (d, i)) in [
            (Level::Yellow, g.yellow),
            (Level::Orange, g.orange),
            (Level::Red, g.red),
        ] {
            if dead >= d || out.injured >= i {
                out.level = level;
            }
        }
        for i in 0..scratch.cue_hits.len() {
            let h = scratch.cue_hits[i];
            if !self.whole(analyzed, h.start, h.end) {
                continue;
            }
            out.level = out.level.max(self.cue_levels[h.id as usize]);
            if !scratch.cues.contains(&h.id) {
                scratch.cues.push(h.id);
            }
        }
        let flagged = &scratch.flagged;
        for &t in &scratch.counted {
            let term = &self.terms[t as usize];
            if let Some(level) = term.severity
                && flagged.iter().any(|f| f.category == term.category)
            {
                out.level = out.level.max(level);
            }
        }
        scratch.severity = Some(out);
    }

    /// The outcome in `scratch` (of [`Lexicon::score_into`]) as a
    /// [`ScoredPost`] around `post`.
    pub fn scored_post(&self, post: Post, scratch: &Scratch) -> ScoredPost {
        let categories = scratch
            .flagged
            .iter()
            .map(|f| CategoryHit {
                id: self.categories[f.category as usize].id.clone(),
                score: (f.score * 100.0).round() / 100.0,
                terms: scratch
                    .terms(self, f.category)
                    .map(str::to_string)
                    .collect(),
            })
            .collect();
        let regions = scratch
            .regions
            .iter()
            .map(|&r| self.regions[r as usize].name.clone())
            .collect();
        let severity = scratch.severity.map(|s| {
            let mut cues: Vec<String> = Vec::new();
            for c in scratch.cues(self) {
                if !cues.iter().any(|x| x == c) {
                    cues.push(c.to_string());
                }
            }
            Severity {
                level: s.level,
                dead: s.dead,
                injured: s.injured,
                missing: s.missing,
                trapped: s.trapped,
                cues,
            }
        });
        ScoredPost {
            post,
            categories,
            regions,
            severity,
        }
    }
}

/// The overlapping scan, kept apart from the role dispatch so that its
/// loop stays as tight as a bare scan: it only records matches.
#[inline(never)]
fn scan(automaton: &CharwiseDoubleArrayAhoCorasick<u32>, text: &str, out: &mut Vec<Hit>) {
    automaton.find_overlapping_iter(text).for_each(|m| {
        out.push(Hit {
            id: m.value(),
            start: m.start() as u32,
            end: m.end() as u32,
        })
    });
}

/// Whether context hit `c` is within `window` characters of term hit `h`
/// (overlapping counts as distance 0).
fn within(text: &str, h: Hit, c: Hit, window: u32) -> bool {
    if c.end <= h.start {
        chars_at_most(&text[c.end as usize..h.start as usize], window)
    } else if c.start >= h.end {
        chars_at_most(&text[h.end as usize..c.start as usize], window)
    } else {
        true
    }
}

/// Whether `s` has at most `n` characters, reading no more than needed.
#[inline]
fn chars_at_most(s: &str, n: u32) -> bool {
    let n = n as usize;
    s.len() <= n || (s.len() <= 4 * n && s.chars().nth(n).is_none())
}
