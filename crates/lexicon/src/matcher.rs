//! The scoring loop: one automaton pass, flat arrays, no allocation per
//! match.

use yuqing_model::{CategoryHit, Level, Post, ScoredPost, Severity};
use yuqing_text::Analyzed;

use crate::casualty::{count_close, count_near};
use crate::lexicon::{Category, Lexicon};
use crate::tables::{Automaton, Casualty, NO_RULE, Role, Rule};

/// A match of some pattern role: `id` is a term, set, region or cue index.
#[derive(Debug, Clone, Copy)]
struct Hit {
    id: u32,
    start: u32,
    end: u32,
}

/// A term occurrence that counted.
#[derive(Debug, Clone, Copy)]
struct Covered {
    category: u16,
    support: bool,
    start: u32,
    end: u32,
}

/// [`Scratch::casualty_counts`] of a hit not read yet, and of one without a
/// count (counts are at most 1,000,000).
const UNREAD: u32 = u32::MAX;
const NO_COUNT: u32 = u32::MAX - 1;

/// Negations that void a harm mention when they come shortly before it
/// (`未造成人员伤亡`, `无人受伤`, `没有人员被困`), as whole tokens.
const HARM_NEGATIONS: [&str; 6] = ["未", "无", "没", "没有", "并未", "尚未"];
/// How far before a harm mention a negation is looked for, in characters.
const HARM_NEGATION_WINDOW: usize = 5;

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

/// Occurrences of one term examined in a post; later ones are passed
/// over. Far above what any real report repeats a word, so that results
/// on real text do not depend on it, and low enough that a post of one
/// phrase repeated to the size limit costs about what ordinary text does.
const MAX_OCCURRENCES: u16 = 512;

/// Per-thread working memory for [`Lexicon::score_into`], and where its
/// outcome is read. Reuse one per worker: after the first few posts it
/// stops allocating.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    generation: u32,
    /// Per term: generation in which it last counted, and what it added
    /// (boundary factor × weight, or × head weight with head evidence).
    term_seen: Vec<u32>,
    term_value: Vec<f32>,
    /// Per term: generation of its occurrences examined so far, and how
    /// many (at most [`MAX_OCCURRENCES`] are).
    examined_seen: Vec<u32>,
    examined: Vec<u16>,
    /// Raw automaton matches (pattern id, start, end).
    matches: Vec<Hit>,
    term_hits: Vec<Hit>,
    context_hits: Vec<Hit>,
    /// Per context hit: whether it is whole, once asked (0: not yet, 1:
    /// yes, 2: no); many term hits look at the same context hit.
    context_whole: Vec<u8>,
    region_hits: Vec<Hit>,
    casualty_hits: Vec<(Casualty, u32, u32)>,
    /// Per casualty hit, once read: its count ([`NO_COUNT`] when it is not
    /// whole or has none), or [`UNREAD`].
    casualty_counts: Vec<u32>,
    harm_hits: Vec<Hit>,
    /// Harm mentions that stand (whole, not negated; casualty words with a
    /// count), by start, computed once per post when a category needs them.
    harm: Vec<Hit>,
    cue_hits: Vec<Hit>,
    main: Vec<f32>,
    support: Vec<f32>,
    /// Categories whose `main`/`support` were written for this post (the
    /// others hold stale values and read as 0).
    touched: Vec<u16>,
    category_seen: Vec<u32>,
    /// Counted term occurrences: the main terms' by start, then from
    /// `covered_support` on the support terms' by start.
    covered: Vec<Covered>,
    covered_support: usize,
    /// Terms that counted, in order of first appearance.
    counted: Vec<u32>,
    flagged: Vec<Flag>,
    regions: Vec<u32>,
    /// Per region and per cue: the generation in which it was listed.
    region_seen: Vec<u32>,
    cues: Vec<u32>,
    cue_seen: Vec<u32>,
    severity: Option<SeverityOutcome>,
    /// Whether the post has title marks and quotation marks at all (most
    /// have neither; then no term needs the look around).
    marks: Option<(bool, bool)>,
    /// The lexicon's longest pattern, in bytes: how far before a window a
    /// hit that reaches into it may start.
    longest: u32,
    /// Whether the post has a run of six digits (a securities code may be
    /// in it), read once per post.
    digits: Option<bool>,
    /// Work done on the last post beyond the automaton scans: hits,
    /// covered spans and context hits looked at. It grows with the post's
    /// length, not faster: tests hold it to that.
    work: u64,
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
        let (t, c) = (lexicon.term_count(), lexicon.categories().len());
        let (r, q) = (lexicon.regions().len(), lexicon.grading().cue_count());
        if self.term_seen.len() != t
            || self.main.len() != c
            || self.region_seen.len() != r
            || self.cue_seen.len() != q
        {
            self.term_seen = vec![0; t];
            self.term_value = vec![0.0; t];
            self.examined_seen = vec![0; t];
            self.examined = vec![0; t];
            self.main = vec![0.0; c];
            self.support = vec![0.0; c];
            self.category_seen = vec![0; c];
            self.region_seen = vec![0; r];
            self.cue_seen = vec![0; q];
            self.generation = 0;
        }
        self.longest = lexicon.longest_pattern();
    }

    #[inline]
    fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.term_seen.fill(0);
            self.examined_seen.fill(0);
            self.category_seen.fill(0);
            self.region_seen.fill(0);
            self.cue_seen.fill(0);
            self.generation = 1;
        }
        self.matches.clear();
        self.term_hits.clear();
        self.context_hits.clear();
        self.region_hits.clear();
        self.casualty_hits.clear();
        self.casualty_counts.clear();
        self.harm_hits.clear();
        self.harm.clear();
        self.cue_hits.clear();
        self.touched.clear();
        self.covered.clear();
        self.covered_support = 0;
        self.counted.clear();
        self.flagged.clear();
        self.regions.clear();
        self.cues.clear();
        self.severity = None;
        self.marks = None;
        self.digits = None;
        self.work = 0;
    }

    /// Units of work done on the last post beyond the automaton scans
    /// (hits, spans and context hits looked at): for tests that hold the
    /// scoring of long hostile posts to linear work without timing it.
    #[doc(hidden)]
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Whether term hit `h` lies inside a longer counted occurrence of a
    /// term of category `c` (the same mention: 发生爆炸 holds 爆炸). Only
    /// occurrences starting at most a longest word before `h` can hold it;
    /// both runs of `covered` are sorted by start, so they are found by a
    /// binary search, not a walk over every occurrence of the post.
    #[inline]
    fn inside_covered(&mut self, c: usize, h: Hit) -> bool {
        let from = h.start.saturating_sub(self.longest);
        let (main, support) = self.covered.split_at(self.covered_support);
        let mut examined = 0;
        let mut holds = |run: &[Covered]| {
            let a = run.partition_point(|k| k.start < from);
            let b = a + run[a..].partition_point(|k| k.start <= h.start);
            examined += (b - a) as u64;
            run[a..b].iter().any(|k| {
                k.category as usize == c && h.end <= k.end && k.end - k.start > h.end - h.start
            })
        };
        let inside = holds(main) || holds(support);
        self.work += examined;
        inside
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
            main + self.support[c].min(lexicon.categories()[c].support_cap)
        } else {
            0.0
        }
    }

    /// The terms that counted for category `c` in the last post, in order
    /// of first appearance.
    pub fn terms<'l>(&'l self, lexicon: &'l Lexicon, c: u16) -> impl Iterator<Item = &'l str> + 'l {
        self.counted
            .iter()
            .filter(move |&&t| lexicon.term(t).category == c)
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
        self.cues.iter().map(move |&c| lexicon.cue_text(c))
    }
}

impl Lexicon {
    /// Scores one analysed text (from [`Lexicon::analyzer`]) into
    /// `scratch`; read the outcome from it.
    pub fn score_into(&self, analyzed: &Analyzed, scratch: &mut Scratch) {
        if scratch.term_seen.len() != self.term_count()
            || scratch.main.len() != self.categories().len()
            || scratch.region_seen.len() != self.regions().len()
            || scratch.cue_seen.len() != self.grading().cue_count()
            || scratch.longest != self.longest_pattern()
        {
            scratch.fit(self);
        }
        scratch.reset();
        if let Some(primary) = self.primary() {
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
        self.gather(analyzed, scratch);
        if scratch.term_hits.is_empty() && scratch.region_hits.is_empty() {
            return;
        }
        // By start, so that the evidence near a term is found by a binary
        // search rather than a walk over every hit of a long post.
        if scratch.context_hits.len() > 1 {
            scratch.context_hits.sort_unstable_by_key(|h| h.start);
        }
        scratch.context_whole.clear();
        scratch.context_whole.resize(scratch.context_hits.len(), 0);
        if scratch.region_hits.len() > 1 {
            scratch.region_hits.sort_unstable_by_key(|h| h.start);
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
            if pass_support {
                scratch.covered_support = scratch.covered.len();
            }
            scratch.work += scratch.term_hits.len() as u64;
            for i in 0..scratch.term_hits.len() {
                let h = scratch.term_hits[i];
                let term = self.term(h.id);
                if term.support != pass_support {
                    continue;
                }
                let c = term.category as usize;
                if pass_support
                    && (scratch.category_seen[c] != scratch.generation || scratch.main[c] <= 0.0)
                {
                    continue;
                }
                // A term is examined at most MAX_OCCURRENCES times a post:
                // a report names its incident a few times, a post of one
                // phrase repeated thousands of times is not worth more (and
                // each occurrence's context check costs).
                let t = h.id as usize;
                if scratch.examined_seen[t] != scratch.generation {
                    scratch.examined_seen[t] = scratch.generation;
                    scratch.examined[t] = 0;
                }
                if scratch.examined[t] >= MAX_OCCURRENCES {
                    continue;
                }
                scratch.examined[t] += 1;
                self.count_term(analyzed, scratch, h);
            }
        }

        self.add_harm(analyzed, scratch);
        self.flag(scratch);
        self.list_regions(analyzed, scratch);
        if !scratch.flagged.is_empty() {
            self.grade(analyzed, scratch);
        }
    }

    /// Files the primary scan's matches as term and region hits by their
    /// roles; where a main term matched, scans for the evidence (support
    /// terms, context, casualty and harm words, cues) and files those.
    #[inline]
    fn gather(&self, analyzed: &Analyzed, scratch: &mut Scratch) {
        let mut main_hits = false;
        for i in 0..scratch.matches.len() {
            let Hit { id: p, start, end } = scratch.matches[i];
            for &role in self.roles(p) {
                match role {
                    Role::Term(id) if !self.term(id).support => {
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
            if let Some(secondary) = self.secondary() {
                scan(secondary, analyzed.normalized(), &mut scratch.matches);
            }
            for i in 0..scratch.matches.len() {
                let Hit { id: p, start, end } = scratch.matches[i];
                for &role in self.roles(p) {
                    match role {
                        Role::Term(id) if self.term(id).support => {
                            scratch.term_hits.push(Hit { id, start, end })
                        }
                        Role::Context(id) => scratch.context_hits.push(Hit { id, start, end }),
                        Role::Casualty(kind) => scratch.casualty_hits.push((kind, start, end)),
                        Role::Harm => scratch.harm_hits.push(Hit { id: 0, start, end }),
                        Role::Cue(id) => scratch.cue_hits.push(Hit { id, start, end }),
                        _ => {}
                    }
                }
            }
        }
    }

    /// Flags the categories whose score reached their threshold, highest
    /// score first.
    #[inline]
    fn flag(&self, scratch: &mut Scratch) {
        for &c in &scratch.touched {
            let category = &self.categories()[c as usize];
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
    }

    /// Lists the regions named as names, each province before its first
    /// division, each once.
    #[inline]
    fn list_regions(&self, analyzed: &Analyzed, scratch: &mut Scratch) {
        scratch.work += scratch.region_hits.len() as u64;
        let generation = scratch.generation;
        for i in 0..scratch.region_hits.len() {
            let h = scratch.region_hits[i];
            if scratch.region_seen[h.id as usize] == generation {
                // Listed already (with its province).
                continue;
            }
            if !self.region_whole(analyzed, h.start, h.end) {
                continue;
            }
            if let Some(parent) = self.regions()[h.id as usize].parent
                && scratch.region_seen[parent as usize] != generation
            {
                scratch.region_seen[parent as usize] = generation;
                scratch.regions.push(parent);
            }
            scratch.region_seen[h.id as usize] = generation;
            scratch.regions.push(h.id);
        }
    }

    /// Applies one term hit: boundaries, context rule, distinctness, score.
    #[inline]
    fn count_term(&self, analyzed: &Analyzed, scratch: &mut Scratch, h: Hit) {
        let term = self.term(h.id);
        let c = term.category as usize;
        if scratch.inside_covered(c, h) {
            return;
        }
        // A title (《唐山大地震》, 《鼠疫》) names a work, not an incident;
        // a word in quotes of its own (变“车祸现场”, 引发“地震”) is a figure.
        let text = analyzed.normalized();
        let (titles, quotes) = *scratch
            .marks
            .get_or_insert_with(|| (has_title_mark(text), has_quote(text)));
        let category = &self.categories()[c];
        if (titles && in_title(text, h))
            || (quotes && category.quotes_figurative && in_scare_quotes(text, h))
            || (category.unless_stock_code
                && *scratch.digits.get_or_insert_with(|| has_six_digits(text))
                && stock_code_near(text, h, category.window))
        {
            return;
        }
        let factor = if self.whole(analyzed, h.start, h.end) {
            1.0
        } else {
            self.categories()[c].partial
        };
        if factor <= 0.0 {
            return;
        }
        if term.rule != NO_RULE {
            let rule = self.rules().rule(term.rule as usize);
            // Topic words reach furthest; a rule without them looks only
            // as far as its window.
            let mut reach = rule.window.max(rule.negation_window);
            if rule.topic.0 != rule.topic.1 {
                reach = reach.max(rule.topic_window);
            }
            let range = near_range(&scratch.context_hits, h, reach, self.longest_pattern());
            scratch.work += range.len() as u64;
            if !self.rule_passes(
                term.rule as usize,
                h,
                &scratch.context_hits[range.clone()],
                &mut scratch.context_whole[range],
                analyzed,
            ) {
                return;
            }
        }
        // This occurrence stands: whatever it adds, it covers its span.
        scratch.covered.push(Covered {
            category: c as u16,
            support: term.support,
            start: h.start,
            end: h.end,
        });
        // Once the term counted at the most it can add here, another
        // occurrence adds nothing more: no need to look for head evidence.
        if scratch.term_seen[h.id as usize] == scratch.generation
            && scratch.term_value[h.id as usize] >= factor * term.weight.max(term.head)
        {
            return;
        }
        // A head term in the shape of a headline (a place, a count or a
        // head word close by) weighs its head weight.
        let weight = if term.head > term.weight
            && self.head_evidence(analyzed, scratch, &self.categories()[c], h)
        {
            term.head
        } else {
            term.weight
        };
        let value = factor * weight;
        let t = h.id as usize;
        let generation = scratch.generation;
        let gained = if scratch.term_seen[t] == generation {
            if value <= scratch.term_value[t] {
                return;
            }
            value - scratch.term_value[t]
        } else {
            scratch.term_seen[t] = generation;
            scratch.counted.push(h.id);
            value
        };
        scratch.term_value[t] = value;
        if scratch.category_seen[c] != generation {
            scratch.category_seen[c] = generation;
            scratch.main[c] = 0.0;
            scratch.support[c] = 0.0;
            scratch.touched.push(c as u16);
        }
        if term.support {
            scratch.support[c] += gained;
        } else {
            scratch.main[c] += gained;
        }
    }

    /// Whether term hit `h` is in the shape of a headline: within the
    /// category's `head_window`, a region name, a count (`3人`, `两辆`) or a
    /// word of its `head_with`.
    fn head_evidence(
        &self,
        analyzed: &Analyzed,
        scratch: &Scratch,
        category: &Category,
        h: Hit,
    ) -> bool {
        let text = analyzed.normalized();
        let window = category.head_window;
        let sets = self.rules().sets(category.head_sets);
        // Evidence is something beside the term, not a part of it (空气 in
        // 空气质量).
        let apart = |c: &Hit| !(c.start >= h.start && c.end <= h.end);
        if !sets.is_empty()
            && near(&scratch.context_hits, h, window, self.longest_pattern())
                .iter()
                .any(|c| sets.contains(&c.id) && apart(c) && within(text, h, *c, window))
        {
            return true;
        }
        if near(&scratch.region_hits, h, window, self.longest_pattern())
            .iter()
            .any(|r| {
                apart(r)
                    && within(text, h, *r, window)
                    && self.region_whole(analyzed, r.start, r.end)
            })
        {
            return true;
        }
        count_close(text, h.start as usize, h.end as usize, window)
    }

    /// Adds each category's `harm` weight where a harm mention is within
    /// the window of one of its counted main terms.
    fn add_harm(&self, analyzed: &Analyzed, scratch: &mut Scratch) {
        let wanted = scratch
            .touched
            .iter()
            .any(|&c| self.categories()[c as usize].harm > 0.0 && scratch.main[c as usize] > 0.0);
        if !wanted || (scratch.harm_hits.is_empty() && scratch.casualty_hits.is_empty()) {
            return;
        }
        let text = analyzed.normalized();
        for i in 0..scratch.harm_hits.len() {
            let Hit { start, end, .. } = scratch.harm_hits[i];
            if self.whole(analyzed, start, end) && !self.harm_negated(analyzed, start) {
                scratch.harm.push(Hit { id: 0, start, end });
            }
        }
        for i in 0..scratch.casualty_hits.len() {
            let (_, start, end) = scratch.casualty_hits[i];
            if self
                .casualty_count(analyzed, scratch, i)
                .is_some_and(|n| n > 0)
            {
                scratch.harm.push(Hit { id: 0, start, end });
            }
        }
        if scratch.harm.is_empty() {
            return;
        }
        scratch.harm.sort_unstable_by_key(|h| h.start);
        for i in 0..scratch.touched.len() {
            let c = scratch.touched[i] as usize;
            let category = &self.categories()[c];
            if category.harm <= 0.0 || scratch.main[c] <= 0.0 {
                continue;
            }
            let harmed = scratch.covered.iter().any(|k| {
                if k.category as usize != c || k.support {
                    return false;
                }
                let t = Hit {
                    id: 0,
                    start: k.start,
                    end: k.end,
                };
                near(
                    &scratch.harm,
                    t,
                    category.harm_window,
                    self.longest_pattern(),
                )
                .iter()
                .any(|m| {
                    // Harm inside the term is the term itself (中毒).
                    !(m.start >= k.start && m.end <= k.end)
                        && within(text, t, *m, category.harm_window)
                })
            });
            if harmed {
                scratch.main[c] += category.harm;
            }
        }
    }

    /// The count read next to casualty hit `i` if it is whole (read once
    /// per post: harm and grading both ask).
    fn casualty_count(&self, analyzed: &Analyzed, scratch: &mut Scratch, i: usize) -> Option<u32> {
        if scratch.casualty_counts.len() != scratch.casualty_hits.len() {
            scratch.casualty_counts.clear();
            scratch
                .casualty_counts
                .resize(scratch.casualty_hits.len(), UNREAD);
        }
        if scratch.casualty_counts[i] == UNREAD {
            let (_, start, end) = scratch.casualty_hits[i];
            scratch.casualty_counts[i] = if self.whole(analyzed, start, end) {
                count_near(analyzed.normalized(), start as usize, end as usize).unwrap_or(NO_COUNT)
            } else {
                NO_COUNT
            };
        }
        let n = scratch.casualty_counts[i];
        (n != NO_COUNT).then_some(n)
    }

    /// Whether a negation (`未造成人员伤亡`) comes shortly before a harm
    /// mention starting at `start`.
    fn harm_negated(&self, analyzed: &Analyzed, start: u32) -> bool {
        let text = analyzed.normalized();
        let before = &text[..start as usize];
        let from = before
            .char_indices()
            .rev()
            .nth(HARM_NEGATION_WINDOW - 1)
            .map_or(0, |(i, _)| i);
        let span = &before[from..];
        HARM_NEGATIONS.iter().any(|neg| {
            span.match_indices(neg).any(|(i, _)| {
                let s = (from + i) as u32;
                self.whole(analyzed, s, s + neg.len() as u32)
            })
        })
    }

    /// Whether a region name at `text[start..end]` stands as a name: whole
    /// (see [`Lexicon::whole`]), or followed inside its token by an
    /// administrative suffix or a determiner (`衡阳县`, `广州某仓库`,
    /// `滁州一工厂`), where the token is not a word of its own.
    fn region_whole(&self, analyzed: &Analyzed, start: u32, end: u32) -> bool {
        if self.whole(analyzed, start, end) {
            return true;
        }
        let text = analyzed.normalized();
        let bounds = analyzed.bounds();
        if bounds.binary_search(&start).is_err() {
            // The start must stand (a boundary, or a word before it in the
            // token: 河北保定).
            let i = bounds.partition_point(|&b| b < start);
            let token_start = bounds[i - 1] as usize;
            let piece = &text[token_start..start as usize];
            let segmenter = self.analyzer().segmenter();
            if !(piece.chars().nth(1).is_some() && segmenter.has_word(piece)) {
                return false;
            }
        }
        text[end as usize..].chars().next().is_some_and(|c| {
            matches!(
                c,
                '省' | '市'
                    | '县'
                    | '区'
                    | '镇'
                    | '乡'
                    | '村'
                    | '旗'
                    | '州'
                    | '某'
                    | '一'
                    | '两'
                    | '多'
                    | '各'
            )
        })
    }

    /// Whether `text[start..end]` is whole: on token boundaries, or sharing
    /// its tokens only with dictionary words of two or more characters.
    fn whole(&self, analyzed: &Analyzed, start: u32, end: u32) -> bool {
        let bounds = analyzed.bounds();
        let text = analyzed.normalized();
        let segmenter = self.analyzer().segmenter();
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

    /// Whether term hit `h` passes rule `r`, given the context hits near
    /// it and their `Scratch::context_whole` memo.
    fn rule_passes(
        &self,
        r: usize,
        h: Hit,
        context: &[Hit],
        whole: &mut [u8],
        analyzed: &Analyzed,
    ) -> bool {
        let mut is_whole = |i: usize, c: &Hit| {
            if whole[i] == 0 {
                whole[i] = if self.whole(analyzed, c.start, c.end) {
                    1
                } else {
                    2
                };
            }
            whole[i] == 1
        };
        let rule = self.rules().rule(r);
        let text = analyzed.normalized();
        let masks = self.rules().masks(r);
        let mut required_found = rule.requires.0 == rule.requires.1;
        for (i, c) in context.iter().enumerate() {
            let mask = masks[c.id as usize];
            if mask == 0 {
                continue;
            }
            // Topic words reach far, so they must stand as words (往事
            // is no topic in 前往事发现场).
            if mask & Rule::TOPIC != 0 && within(text, h, *c, rule.topic_window) && is_whole(i, c) {
                return false;
            }
            if !required_found && mask & Rule::REQUIRES != 0 && within(text, h, *c, rule.window) {
                required_found = true;
            }
            if mask & Rule::UNLESS != 0 && within(text, h, *c, rule.window) {
                return false;
            }
            if mask & Rule::BEFORE != 0
                && c.end <= h.start
                && chars_at_most(
                    &text[c.end as usize..h.start as usize],
                    rule.negation_window,
                )
                && is_whole(i, c)
            {
                return false;
            }
        }
        required_found
    }

    fn grade(&self, analyzed: &Analyzed, scratch: &mut Scratch) {
        let mut out = SeverityOutcome {
            level: Level::Blue,
            dead: 0,
            injured: 0,
            missing: 0,
            trapped: 0,
        };
        for i in 0..scratch.casualty_hits.len() {
            let kind = scratch.casualty_hits[i].0;
            let Some(n) = self.casualty_count(analyzed, scratch, i) else {
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
        let g = self.grading().grades();
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
            out.level = out.level.max(self.grading().cue(h.id).level);
            if scratch.cue_seen[h.id as usize] != scratch.generation {
                scratch.cue_seen[h.id as usize] = scratch.generation;
                scratch.cues.push(h.id);
            }
        }
        let flagged = &scratch.flagged;
        for &t in &scratch.counted {
            let term = self.term(t);
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
                id: self.categories()[f.category as usize].id.clone(),
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
            .map(|&r| self.regions()[r as usize].name.clone())
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
fn scan(automaton: &Automaton, text: &str, out: &mut Vec<Hit>) {
    automaton.find_overlapping_iter(text).for_each(|m| {
        out.push(Hit {
            id: m.value(),
            start: m.start() as u32,
            end: m.end() as u32,
        })
    });
}

/// Longest title of a work (a book, a film, a song) that hides the
/// incident words in it, in characters. Longer titles, or titles with
/// punctuation, are headlines and notices quoted as such
/// (`《权健涉嫌传销和虚假广告，公安已立案侦查》`): their words count.
const TITLE_CHARS: usize = 12;

/// Whether term hit `h` sits inside the title of a work (`《唐山大地震》`,
/// `《鼠疫》`): short title marks around it, no punctuation inside.
fn in_title(text: &str, h: Hit) -> bool {
    let is_mark = |c: char| {
        matches!(
            c,
            '《' | '》' | '\n' | '，' | '：' | ',' | ':' | '。' | '、'
        )
    };
    let Some(opened) = text[..h.start as usize]
        .chars()
        .rev()
        .take(TITLE_CHARS + 1)
        .position(is_mark)
    else {
        return false;
    };
    if text[..h.start as usize].chars().rev().nth(opened) != Some('《') {
        return false;
    }
    let inner = text[h.start as usize..h.end as usize].chars().count() + opened;
    let after = text[h.end as usize..]
        .chars()
        .take(TITLE_CHARS + 1)
        .position(is_mark);
    match after {
        Some(i) => text[h.end as usize..].chars().nth(i) == Some('》') && inner + i <= TITLE_CHARS,
        None => false,
    }
}

/// Whether a six-digit securities code in brackets (`(600519)`,
/// `（002680）`) is within `window` characters of term hit `h`.
/// Only a few characters around the term are read; see [`has_six_digits`]
/// for the test to make once per post first.
fn stock_code_near(text: &str, h: Hit, window: u32) -> bool {
    let bytes = text.as_bytes();
    let reach = window as usize * 3 + 8;
    let from = (h.start as usize).saturating_sub(reach);
    let to = (h.end as usize + reach).min(bytes.len());
    let is_open = |s: &[u8]| s.ends_with(b"(") || s.ends_with("（".as_bytes());
    let is_close = |s: &[u8]| s.starts_with(b")") || s.starts_with("）".as_bytes());
    let mut i = from;
    while i + 6 <= to {
        if bytes[i..i + 6].iter().all(u8::is_ascii_digit)
            && (i == 0 || !bytes[i - 1].is_ascii_digit())
            && is_open(&bytes[..i])
            && is_close(&bytes[i + 6..])
        {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether `text` has a run of six digits (most texts have none, and then
/// no term needs [`stock_code_near`]).
fn has_six_digits(text: &str) -> bool {
    let mut run = 0;
    for &b in text.as_bytes() {
        if b.is_ascii_digit() {
            run += 1;
            if run == 6 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Whether `text` has a title mark `《` (a SIMD byte search, not a walk
/// over the characters).
fn has_title_mark(text: &str) -> bool {
    memchr::memmem::find(text.as_bytes(), "《".as_bytes()).is_some()
}

/// Whether `text` has a quotation mark of [`is_quote`].
fn has_quote(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr2(b'"', b'\'', bytes).is_some()
        || ["“", "”", "‘", "’", "「", "」", "『", "』"]
            .iter()
            .any(|q| memchr::memmem::find(bytes, q.as_bytes()).is_some())
}

/// Characters that open or close a quotation.
fn is_quote(c: char) -> bool {
    matches!(
        c,
        '“' | '”' | '‘' | '’' | '"' | '\'' | '「' | '」' | '『' | '』'
    )
}

/// Whether term hit `h` is quoted on its own — the quotation holds the term
/// and at most two more characters (`“地震”`, `“车祸现场”`, `“翻车”了`):
/// scare quotes, which mark a word used as a figure.
fn in_scare_quotes(text: &str, h: Hit) -> bool {
    const SLACK: usize = 2;
    let before = text[..h.start as usize]
        .chars()
        .rev()
        .take(SLACK + 1)
        .position(is_quote);
    let after = text[h.end as usize..]
        .chars()
        .take(SLACK + 1)
        .position(is_quote);
    match (before, after) {
        (Some(b), Some(a)) => {
            b + a <= SLACK
                && !text[..h.start as usize]
                    .chars()
                    .rev()
                    .take(b)
                    .chain(text[h.end as usize..].chars().take(a))
                    .any(|c| c.is_whitespace() || matches!(c, '，' | '。' | '：' | ',' | ':'))
        }
        _ => false,
    }
}

/// The hits (sorted by start) that may lie within `window` characters of
/// `h`: a binary search on byte positions, generous by the widest
/// characters; [`within`] decides. `longest` is the lexicon's longest
/// pattern in bytes: how far before a window a hit that reaches into it
/// may start.
fn near(hits: &[Hit], h: Hit, window: u32, longest: u32) -> &[Hit] {
    &hits[near_range(hits, h, window, longest)]
}

/// The range of `hits` that [`near`] returns.
fn near_range(hits: &[Hit], h: Hit, window: u32, longest: u32) -> std::ops::Range<usize> {
    let reach = window.saturating_mul(4);
    let from = h.start.saturating_sub(reach.saturating_add(longest));
    let to = h.end.saturating_add(reach);
    let a = hits.partition_point(|c| c.start < from);
    let b = a + hits[a..].partition_point(|c| c.start <= to);
    a..b
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
