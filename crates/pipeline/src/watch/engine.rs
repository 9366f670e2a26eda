//! The sink's side of the watches: the compiled set, the rules' windows,
//! the alert messages.
//!
//! A post is looked at once for all watches: each of its index words
//! (words and their dictionary sub-words, as the index holds them) is
//! looked up in one hash map of every watch's words; only the watches with
//! a word in the post are evaluated, so a thousand watches cost a few
//! lookups per word, not a thousand query evaluations per post.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use yuqing_index::TermPositions;
use yuqing_lexicon::Lexicon;
use yuqing_model::{Level, ScoredPost, Timestamp};
use yuqing_spike::{Alert, AlertState, SCHEMA_VERSION, Trigger};
use yuqing_text::{Analyzed, Analyzer};

use super::{CompiledWatch, WatchRegistry, WatchRule};

/// Reports a `min_count` watch remembers in its window (one per author);
/// beyond it the oldest are forgotten.
const MAX_WINDOW_REPORTS: usize = 4_096;

/// Sample post ids and regions an alert message carries.
const MAX_SAMPLES: usize = 10;
const MAX_REGIONS: usize = 20;

/// A fast hash for the word lookup (the keys are the watches' words, set
/// by administrators; the posts only look up).
#[derive(Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type WordMap = HashMap<String, u32, BuildHasherDefault<WordHasher>>;

/// Every watch's query words in one lookup; evaluates a post against the
/// watches that share a word with it.
pub struct WatchMatcher {
    watches: Vec<CompiledWatch>,
    /// For each watch, the global id of each of its query's words.
    globals: Vec<Vec<u32>>,
    /// Word → global id.
    ids: WordMap,
    /// Global id → the watches that use the word.
    users: Vec<Vec<u32>>,
    // Per-post scratch, reused.
    hits: Vec<(u32, u32)>,
    positions: Vec<u32>,
    /// Global id → (post stamp, start, end) into `positions`.
    ranges: Vec<(u32, u32, u32)>,
    seen: Vec<u32>,
    candidates: Vec<u32>,
    /// Byte offsets of a word's characters.
    chars: Vec<usize>,
    stamp: u32,
}

struct Positions<'a> {
    globals: &'a [u32],
    ranges: &'a [(u32, u32, u32)],
    positions: &'a [u32],
    stamp: u32,
}

impl TermPositions for Positions<'_> {
    fn positions(&self, term: u32) -> &[u32] {
        let Some(&g) = self.globals.get(term as usize) else {
            return &[];
        };
        match self.ranges.get(g as usize) {
            Some(&(stamp, start, end)) if stamp == self.stamp => {
                &self.positions[start as usize..end as usize]
            }
            _ => &[],
        }
    }
}

impl WatchMatcher {
    /// The matcher of `watches`.
    pub fn new(watches: Vec<CompiledWatch>) -> WatchMatcher {
        let mut ids = WordMap::default();
        let mut users: Vec<Vec<u32>> = Vec::new();
        let mut globals = Vec::with_capacity(watches.len());
        for (w, watch) in watches.iter().enumerate() {
            let mut g = Vec::with_capacity(watch.query.terms().len());
            for term in watch.query.terms() {
                let next = ids.len() as u32;
                let id = *ids.entry(term.clone()).or_insert(next);
                if id == next {
                    users.push(Vec::new());
                }
                if users[id as usize].last() != Some(&(w as u32)) {
                    users[id as usize].push(w as u32);
                }
                g.push(id);
            }
            globals.push(g);
        }
        let terms = ids.len();
        WatchMatcher {
            seen: vec![0; watches.len()],
            watches,
            globals,
            ids,
            users,
            hits: Vec::new(),
            positions: Vec::new(),
            ranges: vec![(0, 0, 0); terms],
            candidates: Vec::new(),
            chars: Vec::new(),
            stamp: 0,
        }
    }

    /// The watches.
    pub fn watches(&self) -> &[CompiledWatch] {
        &self.watches
    }

    /// The words of watch `w`'s query in the post last matched.
    fn found(&self, w: usize) -> Vec<String> {
        let (Some(watch), Some(globals)) = (self.watches.get(w), self.globals.get(w)) else {
            return Vec::new();
        };
        watch
            .query
            .terms()
            .iter()
            .zip(globals)
            .filter(|(_, g)| {
                self.ranges
                    .get(**g as usize)
                    .is_some_and(|r| r.0 == self.stamp)
            })
            .map(|(t, _)| t.clone())
            .take(10)
            .collect()
    }

    /// The watches' words among the words the index holds for the post,
    /// with their positions: what `Analyzer::index_tokens` gives the index
    /// (every word but punctuation, numbered; the dictionary words of two
    /// and three characters inside a longer word at its position), looking
    /// up the dictionary only for sub-words some watch uses.
    fn collect_hits(&mut self, analyzed: &Analyzed, analyzer: &Analyzer) {
        let segmenter = analyzer.segmenter();
        let mut position = 0u32;
        for token in analyzed.tokens() {
            if token.is_punctuation() {
                continue;
            }
            let text = token.text;
            if let Some(&id) = self.ids.get(text) {
                self.hits.push((id, position));
            }
            self.chars.clear();
            self.chars.extend(text.char_indices().map(|(i, _)| i));
            let n = self.chars.len();
            if n >= 3 {
                for width in [2usize, 3] {
                    if n <= width {
                        continue;
                    }
                    for i in 0..=n - width {
                        let a = self.chars[i];
                        let b = self.chars.get(i + width).copied().unwrap_or(text.len());
                        let piece = &text[a..b];
                        if let Some(&id) = self.ids.get(piece)
                            && segmenter.has_word(piece)
                        {
                            self.hits.push((id, position));
                        }
                    }
                }
            }
            position += 1;
        }
    }

    /// The indexes of the watches `post` matches (query and filters), in
    /// watch order, into `out` (cleared first). `analyzer` must be the one
    /// `analyzed` was made with.
    pub fn matching(
        &mut self,
        post: &ScoredPost,
        analyzed: &Analyzed,
        analyzer: &Analyzer,
        out: &mut Vec<usize>,
    ) {
        out.clear();
        if self.watches.is_empty() {
            return;
        }
        self.hits.clear();
        self.collect_hits(analyzed, analyzer);
        if self.hits.is_empty() {
            return;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Wrapped: forget every old stamp.
            self.ranges.iter_mut().for_each(|r| r.0 = 0);
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        self.hits.sort_unstable();
        self.hits.dedup();
        self.positions.clear();
        self.candidates.clear();
        let mut i = 0;
        while i < self.hits.len() {
            let term = self.hits[i].0;
            let start = self.positions.len() as u32;
            while i < self.hits.len() && self.hits[i].0 == term {
                self.positions.push(self.hits[i].1);
                i += 1;
            }
            self.ranges[term as usize] = (stamp, start, self.positions.len() as u32);
            for &w in &self.users[term as usize] {
                if self.seen[w as usize] != stamp {
                    self.seen[w as usize] = stamp;
                    self.candidates.push(w);
                }
            }
        }
        self.candidates.sort_unstable();
        for &w in &self.candidates {
            let watch = &self.watches[w as usize];
            if !passes_filters(watch, post) {
                continue;
            }
            let positions = Positions {
                globals: &self.globals[w as usize],
                ranges: &self.ranges,
                positions: &self.positions,
                stamp,
            };
            if watch.query.matches(&positions) {
                out.push(w as usize);
            }
        }
    }
}

/// The search's filters, on a scored post: the category among its flagged
/// ones, the region among the ones it names, its level at or above.
fn passes_filters(watch: &CompiledWatch, post: &ScoredPost) -> bool {
    let spec = &watch.spec;
    if let Some(c) = &spec.category
        && !post.categories.iter().any(|h| &h.id == c)
    {
        return false;
    }
    if let Some(r) = &spec.region
        && !post.regions.iter().any(|x| x == r)
    {
        return false;
    }
    if let Some(min) = spec.level {
        match post.severity.as_ref().map(|s| s.level) {
            Some(level) if level >= min => {}
            _ => return false,
        }
    }
    true
}

/// A `min_count` watch's recent reports and its open alert.
#[derive(Debug, Default)]
struct Window {
    /// (time, author key), one per author, the latest report of each.
    reports: Vec<(i64, u64)>,
    open: Option<Episode>,
}

/// An open `min_count` alert.
#[derive(Debug)]
struct Episode {
    alert: Alert,
    last_match_ms: i64,
}

/// The watches as the sink evaluates them: the registry's set compiled for
/// the dictionaries in use, the rules' state, the alert messages.
pub(crate) struct WatchEngine {
    registry: Arc<WatchRegistry>,
    /// The registry generation and the dictionary generation compiled.
    compiled: Option<(u64, u64)>,
    matcher: WatchMatcher,
    windows: HashMap<String, Window>,
    matched: Vec<usize>,
    /// The latest post time seen (the watches' clock).
    now_ms: i64,
    /// The earliest time an open alert may resolve.
    next_deadline: i64,
    /// The wall clock at the latest post or idle step (for silences).
    last_wall_ms: Option<i64>,
}

impl WatchEngine {
    pub(crate) fn new(registry: Arc<WatchRegistry>) -> WatchEngine {
        WatchEngine {
            registry,
            compiled: None,
            matcher: WatchMatcher::new(Vec::new()),
            windows: HashMap::new(),
            matched: Vec::new(),
            now_ms: i64::MIN,
            next_deadline: i64::MAX,
            last_wall_ms: None,
        }
    }

    /// Takes over the `min_count` watch alerts a previous run left open
    /// (from the alert log): the windows' reports are not kept across a
    /// restart, but the open alert is, so that it goes on (updated by new
    /// matches under the same id) or resolves once its window passes
    /// without a match, rather than staying open for good. Other alerts
    /// are ignored.
    pub(crate) fn adopt<'a>(&mut self, open: impl IntoIterator<Item = &'a Alert>) {
        for alert in open {
            let (Trigger::Watch, Some(name), Some(secs)) =
                (alert.trigger, alert.watch.as_ref(), alert.window_secs)
            else {
                continue;
            };
            if alert.state == AlertState::Resolved {
                continue;
            }
            let Ok(end) = Timestamp::parse_rfc3339(&alert.window_end) else {
                continue;
            };
            let last_match_ms = end.as_millis();
            let deadline = last_match_ms.saturating_add(i64::from(secs) * 1000);
            self.next_deadline = self.next_deadline.min(deadline.saturating_add(1));
            tracing::debug!(watch = %name, alert_id = %alert.alert_id, "watch alert left open by the previous run taken over");
            self.windows.entry(name.clone()).or_default().open = Some(Episode {
                alert: alert.clone(),
                last_match_ms,
            });
        }
    }

    /// Compiles the set again if the watches or the dictionaries changed;
    /// the alerts of `min_count` watches that are gone (or changed rule)
    /// resolve.
    fn sync(&mut self, lexicon: &Lexicon, dictionaries: u64) -> Vec<Alert> {
        let wanted = (self.registry.generation(), dictionaries);
        if self.compiled == Some(wanted) {
            return Vec::new();
        }
        self.compiled = Some(wanted);
        let watches = self.registry.compile_all(lexicon);
        // Keep the windows of watches that stay as they were.
        let mut out = Vec::new();
        self.windows.retain(|name, window| {
            let kept = watches
                .iter()
                .any(|w| &w.spec.name == name && w.spec.rule == WatchRule::MinCount);
            if !kept && let Some(ep) = window.open.take() {
                tracing::debug!(watch = %name, "watch removed: its open alert resolves");
                out.push(message(ep.alert, AlertState::Resolved));
            }
            kept
        });
        out.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
        tracing::debug!(watches = watches.len(), "watch set compiled");
        self.matcher = WatchMatcher::new(watches);
        out
    }

    /// One scored post: the alert messages its matches raise (and those
    /// of windows it closes).
    pub(crate) fn observe(
        &mut self,
        post: &ScoredPost,
        analyzed: &Analyzed,
        lexicon: &Lexicon,
        dictionaries: u64,
    ) -> Vec<Alert> {
        let mut out = self.sync(lexicon, dictionaries);
        self.last_wall_ms = Some(Timestamp::now().as_millis());
        let ts = post.post.ts.as_millis();
        out.extend(self.advance(ts));
        let mut matched = std::mem::take(&mut self.matched);
        self.matcher
            .matching(post, analyzed, lexicon.analyzer(), &mut matched);
        for &w in &matched {
            let watch = &self.matcher.watches()[w];
            match watch.spec.rule {
                WatchRule::Every => out.push(every_alert(watch, post, self.matcher.found(w))),
                WatchRule::MinCount => {
                    if let Some(a) = self.count(w, post) {
                        out.push(a);
                    }
                }
            }
        }
        self.matched = matched;
        out
    }

    /// For a live stream in a silence: the watches' clock moves on by the
    /// wall-clock time since the last post (in steps of a second or more),
    /// so that quiet windows resolve.
    pub(crate) fn tick(&mut self, wall_ms: i64) -> Vec<Alert> {
        let Some(last) = self.last_wall_ms else {
            return Vec::new();
        };
        let idle = wall_ms - last;
        if idle < 1000 || self.now_ms == i64::MIN {
            return Vec::new();
        }
        self.last_wall_ms = Some(wall_ms);
        self.advance(self.now_ms.saturating_add(idle))
    }

    /// The watches' clock moves to `ms` (event time): windows that passed
    /// without a match resolve.
    pub(crate) fn advance(&mut self, ms: i64) -> Vec<Alert> {
        self.now_ms = self.now_ms.max(ms);
        if self.now_ms < self.next_deadline {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut next = i64::MAX;
        let now = self.now_ms;
        for (name, window) in &mut self.windows {
            let Some(ep) = &window.open else { continue };
            let window_ms = ep.alert.window_secs.map_or(0, |s| i64::from(s) * 1000);
            let deadline = ep.last_match_ms.saturating_add(window_ms);
            if now > deadline {
                if let Some(ep) = window.open.take() {
                    tracing::debug!(watch = %name, "watch window passed without a match");
                    out.push(message(ep.alert, AlertState::Resolved));
                }
            } else {
                next = next.min(deadline + 1);
            }
        }
        self.next_deadline = next;
        out.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
        out
    }

    /// The end of the stream: every open alert resolves.
    pub(crate) fn finish(&mut self) -> Vec<Alert> {
        let mut out: Vec<Alert> = self
            .windows
            .values_mut()
            .filter_map(|w| w.open.take())
            .map(|ep| message(ep.alert, AlertState::Resolved))
            .collect();
        out.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
        self.next_deadline = i64::MAX;
        out
    }

    /// A match of a `min_count` watch: counted in its window; an alert
    /// opens at `min_count` independent reports and is updated at each new
    /// high.
    fn count(&mut self, w: usize, post: &ScoredPost) -> Option<Alert> {
        let watch = &self.matcher.watches()[w];
        let spec = &watch.spec;
        let (Some(min), Some(mins)) = (spec.min_count, spec.window_mins) else {
            return None;
        };
        let window_ms = i64::from(mins) * 60_000;
        let ts = post.post.ts.as_millis();
        let author = author_key(post);
        let state = self.windows.entry(spec.name.clone()).or_default();
        let horizon = ts.max(self.now_ms) - window_ms;
        state.reports.retain(|&(t, _)| t > horizon);
        if ts > horizon {
            // One entry per author, at their latest report.
            match state.reports.iter_mut().find(|(_, a)| *a == author) {
                Some(r) => r.0 = r.0.max(ts),
                None => state.reports.push((ts, author)),
            }
        }
        if state.reports.len() > MAX_WINDOW_REPORTS {
            state.reports.sort_unstable();
            let extra = state.reports.len() - MAX_WINDOW_REPORTS;
            state.reports.drain(..extra);
        }
        let count = state.reports.len() as u64;
        match &mut state.open {
            None if count >= u64::from(min) => {
                let start = state.reports.iter().map(|r| r.0).min().unwrap_or(ts);
                let terms = self.matcher.found(w);
                let mut alert = base_alert(watch, post, terms, start, &format!("{start}"));
                alert.window_secs = Some(mins * 60);
                alert.count = count;
                alert.distinct_authors = count;
                self.next_deadline = self.next_deadline.min(ts + window_ms + 1);
                state.open = Some(Episode {
                    alert: alert.clone(),
                    last_match_ms: ts,
                });
                Some(alert)
            }
            None => None,
            Some(ep) => {
                ep.last_match_ms = ep.last_match_ms.max(ts);
                self.next_deadline = self.next_deadline.min(ep.last_match_ms + window_ms + 1);
                add_report(&mut ep.alert, post);
                if count > ep.alert.count {
                    ep.alert.count = count;
                    ep.alert.distinct_authors = count;
                    let update = message(ep.alert.clone(), AlertState::Update);
                    ep.alert.seq = update.seq;
                    Some(update)
                } else {
                    None
                }
            }
        }
    }
}

/// Independence as the detector counts it: one author is one report; a
/// post without an author counts on its own.
fn author_key(post: &ScoredPost) -> u64 {
    let seed = match &post.post.author {
        Some(a) => format!("a\u{1f}{a}"),
        None => format!("p\u{1f}{}", post.post.id),
    };
    let h = blake3::hash(seed.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// `al-` and 16 hex digits of a hash of the watch's name and `episode`
/// (a post id for `every`, the window's first report time for
/// `min_count`).
fn watch_alert_id(name: &str, episode: &str) -> String {
    yuqing_spike::alert_id_of(&format!("watch\u{1f}{name}\u{1f}{episode}"))
}

fn rfc3339(ms: i64) -> String {
    Timestamp::from_millis(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn base_alert(
    watch: &CompiledWatch,
    post: &ScoredPost,
    terms: Vec<String>,
    start_ms: i64,
    episode: &str,
) -> Alert {
    let spec = &watch.spec;
    let ts = post.post.ts.as_millis();
    let category = spec
        .category
        .clone()
        .or_else(|| post.categories.first().map(|c| c.id.clone()))
        .unwrap_or_else(|| "watch".to_string());
    Alert {
        schema_version: SCHEMA_VERSION,
        alert_id: watch_alert_id(&spec.name, episode),
        state: AlertState::Open,
        seq: 1,
        category,
        region: spec.region.clone(),
        window_start: rfc3339(start_ms),
        window_end: rfc3339(ts),
        count: 1,
        distinct_authors: u64::from(post.post.author.is_some()),
        baseline: 0.0,
        z: 0.0,
        level: post
            .severity
            .as_ref()
            .map_or(Level::Blue, |s| s.level)
            .max(spec.level.unwrap_or(Level::Blue)),
        top_terms: terms,
        sample_post_ids: vec![post.post.id.clone()],
        regions: post.regions.iter().take(MAX_REGIONS).cloned().collect(),
        first_post_id: post.post.id.clone(),
        first_seen: rfc3339(ts),
        emitted_at: Timestamp::now().to_string(),
        window_secs: None,
        trigger: Trigger::Watch,
        confirmed: true,
        watch: Some(spec.name.clone()),
    }
}

fn every_alert(watch: &CompiledWatch, post: &ScoredPost, terms: Vec<String>) -> Alert {
    let ts = post.post.ts.as_millis();
    base_alert(
        watch,
        post,
        terms,
        ts,
        &format!("post\u{1f}{}", post.post.id),
    )
}

/// A later report joins an open alert: samples, regions, level, end.
fn add_report(alert: &mut Alert, post: &ScoredPost) {
    let ts = post.post.ts.as_millis();
    if alert.sample_post_ids.len() < MAX_SAMPLES && !alert.sample_post_ids.contains(&post.post.id) {
        alert.sample_post_ids.push(post.post.id.clone());
    }
    for r in &post.regions {
        if alert.regions.len() < MAX_REGIONS && !alert.regions.contains(r) {
            alert.regions.push(r.clone());
        }
    }
    if let Some(s) = &post.severity {
        alert.level = alert.level.max(s.level);
    }
    if Timestamp::parse_rfc3339(&alert.window_end).is_ok_and(|end| end.as_millis() < ts) {
        alert.window_end = rfc3339(ts);
    }
}

/// The next message of an alert whose last message was `alert`: `state`,
/// one more `seq`, emitted now.
fn message(mut alert: Alert, state: AlertState) -> Alert {
    alert.seq += 1;
    alert.state = state;
    alert.emitted_at = Timestamp::now().to_string();
    alert
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorer::Scorer;
    use crate::watch::{WatchSpec, spec};
    use yuqing_lexicon::SharedLexicon;
    use yuqing_model::Post;

    struct Bench {
        scorer: Scorer,
        lexicon: Arc<Lexicon>,
        engine: WatchEngine,
    }

    impl Bench {
        fn new(watches: Vec<WatchSpec>) -> Bench {
            let lexicon = Arc::new(Lexicon::builtin().unwrap());
            let shared = Arc::new(SharedLexicon::new(Arc::clone(&lexicon)));
            Bench {
                scorer: Scorer::new(Arc::clone(&lexicon)),
                engine: WatchEngine::new(Arc::new(WatchRegistry::fixed(watches, shared))),
                lexicon,
            }
        }

        fn post(&mut self, id: &str, author: Option<&str>, secs: i64, text: &str) -> Vec<Alert> {
            let mut v = serde_json::json!({"id": id, "text": text, "ts": 1_719_792_000 + secs});
            if let Some(a) = author {
                v["author"] = a.into();
            }
            let post = Post::from_json(v.to_string().as_bytes()).unwrap();
            let a = self.scorer.score(post);
            self.engine
                .observe(&a.scored, &a.analyzed, &self.lexicon, 0)
        }
    }

    #[test]
    fn every_raises_one_open_message_per_matching_post_with_a_stable_id() {
        let mut b = Bench::new(vec![spec("leak", "\"化工厂 泄漏\""), spec("quake", "地震")]);
        let first = b.post("p1", Some("u1"), 0, "滁州一化工厂泄漏，河水变色");
        assert_eq!(first.len(), 1, "{first:?}");
        let a = &first[0];
        assert_eq!(
            (a.trigger, a.state, a.watch.as_deref()),
            (Trigger::Watch, AlertState::Open, Some("leak"))
        );
        assert_eq!(a.first_post_id, "p1");
        assert!(a.alert_id.starts_with("al-") && a.alert_id.len() == 19);
        assert!(
            b.post("p2", Some("u2"), 5, "泄漏的化工厂").is_empty(),
            "not the phrase"
        );
        let again = b.post("p1", Some("u1"), 0, "滁州一化工厂泄漏，河水变色");
        assert_eq!(again[0].alert_id, a.alert_id, "the same post, the same id");
        let other = b.post("p3", Some("u1"), 9, "化工厂泄漏");
        assert_ne!(other[0].alert_id, a.alert_id);
        assert!(b.post("p4", None, 10, "今天天气不错").is_empty());
    }

    #[test]
    fn min_count_opens_at_the_count_of_independent_authors_and_resolves_after_the_window() {
        let mut w = spec("leak", "泄漏");
        w.rule = WatchRule::MinCount;
        w.min_count = Some(3);
        w.window_mins = Some(10);
        let mut b = Bench::new(vec![w]);
        let text = "化工厂发生泄漏";
        assert!(b.post("p1", Some("u1"), 0, text).is_empty());
        // The same author again, and a copy by them: still one report.
        assert!(b.post("p2", Some("u1"), 30, text).is_empty());
        assert!(b.post("p3", Some("u1"), 60, text).is_empty());
        assert!(b.post("p4", Some("u2"), 90, text).is_empty());
        // A report that does not match does not count.
        assert!(b.post("p5", Some("u3"), 100, "今天天气不错").is_empty());
        let opened = b.post("p6", Some("u3"), 120, text);
        assert_eq!(opened.len(), 1, "{opened:?}");
        let open = &opened[0];
        assert_eq!((open.state, open.count, open.seq), (AlertState::Open, 3, 1));
        assert_eq!(open.window_secs, Some(600));
        // The window starts at the earliest report counted (an author counts with their latest).
        assert_eq!(open.window_start, "2024-07-01T00:01:00Z");
        let updated = b.post("p7", Some("u4"), 150, text);
        assert_eq!(updated[0].state, AlertState::Update);
        assert_eq!((updated[0].count, updated[0].seq), (4, 2));
        assert_eq!(updated[0].alert_id, open.alert_id);
        // A known author again, or a late copy of theirs: no new message,
        // and they still count.
        assert!(b.post("p8", Some("u4"), 160, text).is_empty());
        assert!(b.post("p8b", Some("u4"), -900, text).is_empty());
        let u5 = b.post("p8c", Some("u5"), 165, text);
        assert_eq!(
            (u5[0].state, u5[0].count, u5[0].seq),
            (AlertState::Update, 5, 3)
        );
        // Ten minutes pass without a match: resolved, by the next post's time.
        let later = b.post("p9", Some("u9"), 165 + 601, "今天天气不错");
        assert_eq!(later.len(), 1, "{later:?}");
        assert_eq!((later[0].state, later[0].seq), (AlertState::Resolved, 4));
        assert_eq!(later[0].alert_id, open.alert_id);
        // Reports spread wider than the window never reach the count.
        for (i, s) in [2000, 2700, 3400, 4100].iter().enumerate() {
            let id = format!("q{i}");
            let author = format!("v{i}");
            assert!(b.post(&id, Some(&author), *s, text).is_empty());
        }
    }

    fn leak_watch() -> WatchSpec {
        let mut w = spec("leak", "泄漏");
        w.rule = WatchRule::MinCount;
        w.min_count = Some(2);
        w.window_mins = Some(10);
        w
    }

    #[test]
    fn an_alert_left_open_by_a_killed_run_goes_on_and_resolves_after_a_restart() {
        let text = "化工厂发生泄漏";
        let mut before = Bench::new(vec![leak_watch()]);
        assert!(before.post("p1", Some("u1"), 0, text).is_empty());
        let opened = before.post("p2", Some("u2"), 60, text);
        assert_eq!(opened.len(), 1, "{opened:?}");
        let open = opened[0].clone();

        // A new run: its windows are empty, the alert log holds the open
        // alert (and one that is no watch's, and one resolved).
        let mut after = Bench::new(vec![leak_watch()]);
        let burst = Alert {
            trigger: Trigger::Burst,
            watch: None,
            ..open.clone()
        };
        let resolved = Alert {
            alert_id: "al-0000000000000000".into(),
            state: AlertState::Resolved,
            ..open.clone()
        };
        after.engine.adopt([&burst, &open, &resolved]);
        // A match within the window: the same alert goes on, no new one.
        assert!(after.post("p3", Some("u3"), 300, text).is_empty());
        // Ten minutes after that match: resolved, under its id, once.
        let later = after.post("p4", Some("u9"), 300 + 601, "今天天气不错");
        assert_eq!(later.len(), 1, "{later:?}");
        assert_eq!(
            (later[0].alert_id.as_str(), later[0].state, later[0].seq),
            (open.alert_id.as_str(), AlertState::Resolved, 2)
        );
        assert!(
            after
                .post("p5", Some("u8"), 3000, "今天天气不错")
                .is_empty()
        );
    }

    #[test]
    fn a_watch_deleted_while_its_alert_is_open_resolves_it() {
        let lexicon = Arc::new(Lexicon::builtin().unwrap());
        let shared = Arc::new(SharedLexicon::new(Arc::clone(&lexicon)));
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(WatchRegistry::open(dir.path(), &[], shared).unwrap());
        registry.create(leak_watch()).unwrap();
        let mut b = Bench {
            scorer: Scorer::new(Arc::clone(&lexicon)),
            engine: WatchEngine::new(Arc::clone(&registry)),
            lexicon,
        };
        let text = "化工厂发生泄漏";
        assert!(b.post("p1", Some("u1"), 0, text).is_empty());
        let open = b.post("p2", Some("u2"), 60, text);
        assert_eq!(open[0].state, AlertState::Open);
        registry.delete("leak").unwrap();
        let next = b.post("p3", Some("u3"), 70, text);
        assert_eq!(next.len(), 1, "{next:?}");
        assert_eq!(
            (next[0].alert_id.as_str(), next[0].state),
            (open[0].alert_id.as_str(), AlertState::Resolved)
        );
    }

    #[test]
    fn a_silence_moves_the_window_on_by_the_wall_clock() {
        let mut w = spec("leak", "泄漏");
        w.rule = WatchRule::MinCount;
        w.min_count = Some(2);
        w.window_mins = Some(1);
        let mut b = Bench::new(vec![w]);
        assert!(b.post("p1", Some("u1"), 0, "化工厂泄漏").is_empty());
        assert_eq!(
            b.post("p2", Some("u2"), 10, "化工厂泄漏")[0].state,
            AlertState::Open
        );
        let wall = b.engine.last_wall_ms.unwrap();
        // Under a second of silence, or under the window: nothing.
        assert!(b.engine.tick(wall + 500).is_empty());
        assert!(b.engine.tick(wall + 30_000).is_empty());
        // A minute after the last report: resolved.
        let resolved = b.engine.tick(wall + 61_000);
        assert_eq!(resolved.len(), 1, "{resolved:?}");
        assert_eq!(resolved[0].state, AlertState::Resolved);
        assert!(b.engine.finish().is_empty(), "nothing left open");
    }

    #[test]
    fn filters_are_the_searchs_and_many_watches_share_one_lookup() {
        let mut fire = spec("fire", "起火");
        fire.category = Some("fire".into());
        fire.region = Some("广州".into());
        let mut red = spec("red", "爆炸");
        red.level = Some(Level::Orange);
        let mut watches = vec![fire, red];
        for i in 0..1000 {
            watches.push(spec(&format!("w{i}"), &format!("不存在词{i} OR 另一词{i}")));
        }
        let mut b = Bench::new(watches);
        let hits = b.post("a", Some("u"), 0, "广州一仓库起火，浓烟滚滚");
        assert_eq!(
            hits.iter().map(|a| a.watch.as_deref()).collect::<Vec<_>>(),
            vec![Some("fire")]
        );
        assert_eq!(hits[0].category, "fire");
        assert_eq!(hits[0].region.as_deref(), Some("广州市"));
        assert!(b.post("b", Some("u"), 1, "深圳一仓库起火").is_empty());
        assert!(
            b.post("c", Some("u"), 2, "化工厂发生爆炸").is_empty(),
            "below orange"
        );
        let big = b.post("d", Some("u"), 3, "化工厂发生爆炸，已造成12人死亡");
        assert_eq!(big.len(), 1, "{big:?}");
        assert_eq!(big[0].watch.as_deref(), Some("red"));
        assert!(big[0].level >= Level::Orange);
    }
}
