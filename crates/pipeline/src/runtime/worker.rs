//! The workers: decode, analyse and score the messages of a batch.

use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use prometheus::local::LocalHistogram;
use yuqing_lexicon::SharedLexicon;
use yuqing_metrics::metrics;
use yuqing_model::Post;

use crate::scorer::{AnalyzedPost, Scorer, StageClock};
use crate::sinks::DeadLetter;
use crate::source::{MAX_MESSAGE_BYTES, Message, Origin};

/// A batch of messages, numbered so that the sink can restore the order.
pub(super) struct Batch {
    pub(super) seq: u64,
    pub(super) messages: Vec<Message>,
}

/// What became of a message.
pub(super) enum Item {
    /// A post, for the index.
    Post {
        post: Box<AnalyzedPost>,
        origin: Origin,
    },
    /// Not a post: a dead letter.
    Dead(Box<DeadLetter>),
}

/// A batch after the workers, in the order of its messages.
pub(super) struct Processed {
    pub(super) seq: u64,
    pub(super) items: Vec<Item>,
}

/// Per-worker stage timers, flushed into the metrics after each batch.
pub(super) struct StageTimers {
    decode: LocalHistogram,
    analyze: LocalHistogram,
    score: LocalHistogram,
}

impl StageTimers {
    pub(super) fn new() -> Self {
        let stage = |s: &str| metrics().stage_duration.with_label_values(&[s]).local();
        StageTimers {
            decode: stage("decode"),
            analyze: stage("segment"),
            score: stage("score"),
        }
    }

    fn flush(&self) {
        self.decode.flush();
        self.analyze.flush();
        self.score.flush();
    }
}

impl StageClock for StageTimers {
    fn analyzed(&self, started: Instant) {
        self.analyze.observe(started.elapsed().as_secs_f64());
    }

    fn scored(&self, started: Instant) {
        self.score.observe(started.elapsed().as_secs_f64());
    }
}

/// Why a message is not even decoded: too large, or empty.
fn refused(message: &Message) -> Option<(&'static str, String)> {
    let too_large = |n: usize| {
        (
            "too_large",
            format!("message is {n} bytes, over the limit of {MAX_MESSAGE_BYTES}"),
        )
    };
    if let Some(n) = message.oversize {
        return Some(too_large(n));
    }
    if message.payload.len() > MAX_MESSAGE_BYTES {
        return Some(too_large(message.payload.len()));
    }
    if message.payload.iter().all(u8::is_ascii_whitespace) {
        return Some(("empty", "empty message".into()));
    }
    None
}

/// One message: a scored post, or a dead letter with its reason.
pub(super) fn process(scorer: &mut Scorer, timers: &StageTimers, message: Message) -> Item {
    let dead = |message: Message, reason: &'static str, error: String| {
        Item::Dead(Box::new(DeadLetter {
            message,
            reason,
            error,
        }))
    };
    if let Some((reason, error)) = refused(&message) {
        return dead(message, reason, error);
    }
    let started = Instant::now();
    let decoded = Post::from_json(&message.payload);
    timers.decode.observe(started.elapsed().as_secs_f64());
    match decoded {
        Ok(post) => Item::Post {
            post: Box::new(scorer.score_timed(post, timers)),
            origin: message.origin,
        },
        Err(e) => {
            let reason = e.reason();
            dead(message, reason, e.to_string())
        }
    }
}

/// A worker thread's body: batches in, processed batches out, until the
/// source stops or the sink goes away. Each batch is scored with the
/// dictionaries current when it starts.
pub(super) fn run_worker(shared: &SharedLexicon, work: Receiver<Batch>, done: Sender<Processed>) {
    let mut scorer = Scorer::current(shared);
    let timers = StageTimers::new();
    for batch in work.iter() {
        // A reload: the next batch uses the new dictionaries.
        scorer.follow(shared);
        let span = tracing::debug_span!("batch", seq = batch.seq, messages = batch.messages.len());
        let _entered = span.enter();
        let items = batch
            .messages
            .into_iter()
            .map(|m| process(&mut scorer, &timers, m))
            .collect();
        timers.flush();
        tracing::trace!("scored");
        if done
            .send(Processed {
                seq: batch.seq,
                items,
            })
            .is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use yuqing_lexicon::Lexicon;

    use super::*;

    fn message(payload: &[u8], oversize: Option<usize>) -> Message {
        Message {
            payload: payload.to_vec(),
            key: None,
            oversize,
            origin: Origin::File { line: 1, end: 1 },
        }
    }

    /// Every reason a message is dead-lettered for is among those the
    /// metrics export from start-up.
    #[test]
    fn dead_letter_reasons_are_the_ones_the_metrics_know() {
        let mut scorer = Scorer::new(Arc::new(Lexicon::builtin().unwrap()));
        let timers = StageTimers::new();
        let cases: [(&[u8], Option<usize>); 8] = [
            (b"\xff\xfe", None),
            (b"{\"id\":", None),
            (b"[1,2]", None),
            (b"{\"id\":\"a\",\"text\":\"x\"}", None),
            (b"{\"id\":\"\",\"text\":\"x\",\"ts\":1}", None),
            (b"", Some(MAX_MESSAGE_BYTES + 1)),
            (b"  ", None),
            (b"nonsense", None),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (payload, oversize) in cases {
            match process(&mut scorer, &timers, message(payload, oversize)) {
                Item::Dead(d) => {
                    assert!(
                        yuqing_metrics::DEAD_LETTER_REASONS.contains(&d.reason),
                        "{}",
                        d.reason
                    );
                    seen.insert(d.reason);
                }
                Item::Post { .. } => panic!("{payload:?} is not a post"),
            }
        }
        assert_eq!(
            seen.len(),
            yuqing_metrics::DEAD_LETTER_REASONS.len(),
            "{seen:?}"
        );
    }

    #[test]
    fn workers_score_batches_with_the_dictionaries_current_at_each() {
        let shared = SharedLexicon::new(Arc::new(Lexicon::builtin().unwrap()));
        let (work_tx, work_rx) = crossbeam_channel::bounded(4);
        let (done_tx, done_rx) = crossbeam_channel::bounded(4);
        let post = r#"{"id":"p","text":"化工厂发生爆炸","ts":1719792000}"#.as_bytes();
        std::thread::scope(|scope| {
            scope.spawn(|| run_worker(&shared, work_rx, done_tx));
            let batch = |seq| Batch {
                seq,
                messages: vec![message(post, None), message(b"", None)],
            };
            work_tx.send(batch(0)).unwrap();
            let first = done_rx.recv().unwrap();
            shared.store(Arc::new(Lexicon::builtin().unwrap()));
            work_tx.send(batch(1)).unwrap();
            drop(work_tx);
            let second = done_rx.recv().unwrap();
            for (p, generation) in [(first, 0), (second, 1)] {
                assert_eq!(p.seq, generation);
                match &p.items[..] {
                    [Item::Post { post, .. }, Item::Dead(d)] => {
                        assert_eq!(post.dictionaries.generation(), generation);
                        assert!(post.scored.is_incident());
                        assert_eq!(d.reason, "empty");
                    }
                    _ => panic!("a post and a dead letter expected"),
                }
            }
        });
    }
}
