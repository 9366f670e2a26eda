//! The scoring step every command and the service share: a post in, the
//! post scored and the tokens it was scored on out.

use std::sync::Arc;
use std::time::Instant;

use yuqing_lexicon::{Lexicon, Scratch, SharedLexicon};
use yuqing_model::{Post, ScoredPost};
use yuqing_text::Analyzed;

/// The dictionaries a post was scored with: a lexicon and its generation
/// in the [`SharedLexicon`] it came from (0 for a lexicon that is never
/// replaced). The index must segment a post's sub-words with the analyzer
/// of the same generation as the tokens it was scored on.
#[derive(Debug, Clone)]
pub struct Dictionaries {
    generation: u64,
    lexicon: Arc<Lexicon>,
}

impl Dictionaries {
    /// How many reloads came before these dictionaries.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The lexicon (and through it, its analyzer).
    pub fn lexicon(&self) -> &Arc<Lexicon> {
        &self.lexicon
    }
}

/// A post after the scoring step: the scored post, the normalised and
/// segmented text it was scored on (what the index stores as tokens and
/// the detector reads), and the dictionaries that produced both. They
/// travel together, from the worker to the index.
#[derive(Debug)]
pub struct AnalyzedPost {
    /// The post with its categories, regions and severity.
    pub scored: ScoredPost,
    /// Its text normalised and segmented.
    pub analyzed: Analyzed,
    /// What analysed and scored it.
    pub dictionaries: Dictionaries,
}

/// Per-stage timers (for the service's stage histograms).
pub(crate) trait StageClock {
    /// Whether to read the time at all.
    const TIMED: bool = true;
    /// The text was analysed `started` ago.
    fn analyzed(&self, started: Instant);
    /// The post was scored `started` ago.
    fn scored(&self, started: Instant);
}

/// What the matching core found in a text (for `yuqing eval`): the flagged
/// categories, their scores and terms, read through the lexicon.
pub struct Matches<'a> {
    /// The lexicon the text was matched against.
    pub lexicon: &'a Lexicon,
    /// The outcome.
    pub scratch: &'a Scratch,
}

/// Analyses and scores posts with one set of dictionaries: the analyzer
/// (normalise, segment), the lexicon and a per-thread scratch area. One
/// per worker thread; [`Scorer::follow`] takes up a dictionary reload.
pub struct Scorer {
    dictionaries: Dictionaries,
    scratch: Scratch,
    /// Reused by the steps that do not keep the tokens.
    buffer: Analyzed,
}

impl Scorer {
    /// A scorer for dictionaries that are never replaced.
    pub fn new(lexicon: Arc<Lexicon>) -> Self {
        Scorer::with_generation(lexicon, 0)
    }

    /// A scorer for the current dictionaries of `shared`.
    pub fn current(shared: &SharedLexicon) -> Self {
        let generation = shared.generation();
        Scorer::with_generation(shared.load(), generation)
    }

    fn with_generation(lexicon: Arc<Lexicon>, generation: u64) -> Self {
        Scorer {
            scratch: Scratch::new(&lexicon),
            dictionaries: Dictionaries {
                generation,
                lexicon,
            },
            buffer: Analyzed::default(),
        }
    }

    /// Takes up the dictionaries of `shared` if they were replaced since
    /// this scorer's; returns whether they were.
    pub fn follow(&mut self, shared: &SharedLexicon) -> bool {
        if shared.generation() == self.dictionaries.generation {
            return false;
        }
        *self = Scorer::current(shared);
        true
    }

    /// The lexicon in use.
    pub fn lexicon(&self) -> &Lexicon {
        &self.dictionaries.lexicon
    }

    /// The dictionaries in use.
    pub fn dictionaries(&self) -> &Dictionaries {
        &self.dictionaries
    }

    /// Analyses and scores `post`, keeping its tokens (for the index).
    pub fn score(&mut self, post: Post) -> AnalyzedPost {
        self.score_timed(post, &NoClock)
    }

    /// As [`Scorer::score`], timing the stages.
    pub(crate) fn score_timed(&mut self, post: Post, clock: &impl StageClock) -> AnalyzedPost {
        let mut analyzed = Analyzed::default();
        let scored = self.run(post, &mut analyzed, clock);
        AnalyzedPost {
            scored,
            analyzed,
            dictionaries: self.dictionaries.clone(),
        }
    }

    /// Analyses and scores `post` into a buffer of the scorer's, reused
    /// from post to post; the tokens are valid until the next call.
    pub fn score_in_place(&mut self, post: Post) -> (ScoredPost, &Analyzed) {
        let mut buffer = std::mem::take(&mut self.buffer);
        let scored = self.run(post, &mut buffer, &NoClock);
        self.buffer = buffer;
        (scored, &self.buffer)
    }

    /// Analyses and matches a bare text (no post around it).
    pub fn matches(&mut self, text: &str) -> Matches<'_> {
        self.dictionaries
            .lexicon
            .analyzer()
            .analyze_into(text, &mut self.buffer);
        let lexicon: &Lexicon = &self.dictionaries.lexicon;
        core(lexicon, &self.buffer, &mut self.scratch);
        Matches {
            lexicon,
            scratch: &self.scratch,
        }
    }

    /// Runs the matching core alone on text analysed beforehand (for
    /// measuring it); the outcome is in the returned scratch area.
    pub fn match_analyzed(&mut self, analyzed: &Analyzed) -> &Scratch {
        core(&self.dictionaries.lexicon, analyzed, &mut self.scratch);
        &self.scratch
    }

    fn run<C: StageClock>(&mut self, post: Post, analyzed: &mut Analyzed, clock: &C) -> ScoredPost {
        let lexicon: &Lexicon = &self.dictionaries.lexicon;
        let started = C::TIMED.then(Instant::now);
        lexicon.analyzer().analyze_into(&post.text, analyzed);
        let analyzed_at = started.map(|t| {
            clock.analyzed(t);
            Instant::now()
        });
        core(lexicon, analyzed, &mut self.scratch);
        let scored = lexicon.scored_post(post, &self.scratch);
        if let Some(t) = analyzed_at {
            clock.scored(t);
        }
        scored
    }
}

/// The one call of the matching core.
#[inline]
fn core(lexicon: &Lexicon, analyzed: &Analyzed, scratch: &mut Scratch) {
    lexicon.score_into(analyzed, scratch);
}

/// No timing.
struct NoClock;

impl StageClock for NoClock {
    const TIMED: bool = false;
    #[inline]
    fn analyzed(&self, _: Instant) {}
    #[inline]
    fn scored(&self, _: Instant) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use yuqing_model::Timestamp;

    fn post(id: &str, text: &str) -> Post {
        Post::from_json(format!(r#"{{"id":"{id}","text":"{text}","ts":1719792000}}"#).as_bytes())
            .unwrap()
    }

    #[test]
    fn scores_a_report_and_keeps_the_tokens_it_was_scored_on() {
        let lexicon = Arc::new(Lexicon::builtin().unwrap());
        let mut scorer = Scorer::new(Arc::clone(&lexicon));
        let out = scorer.score(post("a", "广州某化工厂发生爆炸，已造成3人死亡"));
        assert!(out.scored.is_incident(), "{:?}", out.scored.categories);
        assert_eq!(out.scored.post.id, "a");
        assert_eq!(
            out.scored.post.ts,
            Timestamp::from_epoch(1719792000).unwrap()
        );
        let words: String = out.analyzed.tokens().map(|t| t.text).collect();
        assert!(words.contains("化工厂发生爆炸"), "{words}");
        assert!(out.analyzed.token_count() > 3);
        assert_eq!(out.dictionaries.generation(), 0);
        // The same post through the reusing path scores the same.
        let (again, tokens) =
            scorer.score_in_place(post("a", "广州某化工厂发生爆炸，已造成3人死亡"));
        assert_eq!(again.categories, out.scored.categories);
        assert_eq!(tokens.normalized(), out.analyzed.normalized());
        // Chatter is not flagged, and the scratch area does not carry over.
        let quiet = scorer.score(post("b", "今天天气不错，去公园散步"));
        assert!(!quiet.scored.is_incident());
        assert!(scorer.matches("今天天气不错").scratch.flagged().is_empty());
        assert!(
            !scorer
                .matches("化工厂发生爆炸，3人死亡")
                .scratch
                .flagged()
                .is_empty()
        );
    }

    #[test]
    fn follows_a_reload_and_marks_posts_with_the_generation() {
        let first = Arc::new(Lexicon::builtin().unwrap());
        let shared = SharedLexicon::new(Arc::clone(&first));
        let mut scorer = Scorer::current(&shared);
        assert!(!scorer.follow(&shared));
        let second = Arc::new(Lexicon::builtin().unwrap());
        shared.store(Arc::clone(&second));
        assert!(scorer.follow(&shared));
        let out = scorer.score(post("c", "山体滑坡"));
        assert_eq!(out.dictionaries.generation(), 1);
        assert!(Arc::ptr_eq(out.dictionaries.lexicon(), &second));
        assert!(!scorer.follow(&shared));
    }
}
