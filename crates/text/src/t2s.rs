//! Traditional to simplified Chinese, phrase-aware, with match positions.
//!
//! The tables are OpenCC's `TSPhrases` and `TSCharacters` (Apache-2.0, as
//! shipped by the `hanconv` crate). They compile into one leftmost-longest
//! automaton, so a phrase rule (`乾坤` stays `乾坤`) wins over the character
//! rule inside it (`乾` → `干`). Unlike `hanconv`'s own converter this one
//! reports where each replacement is, which the normaliser needs to keep
//! offsets back to the original text.

use std::collections::BTreeMap;

use daachorse::{CharwiseDoubleArrayAhoCorasick, CharwiseDoubleArrayAhoCorasickBuilder, MatchKind};
use hanconv::RawDictionary;

/// Characters in a bitset of this many code points (the BMP and the
/// supplementary ideographic plane).
const TRIGGER_SPAN: usize = 0x3_0000;

pub(crate) struct T2s {
    automaton: CharwiseDoubleArrayAhoCorasick<u32>,
    targets: Vec<Box<str>>,
    /// Characters whose presence can make the conversion change the text.
    /// A text with none of them converts to itself, so the automaton need
    /// not run at all (the common case: simplified input).
    trigger: Box<[u64]>,
}

impl T2s {
    pub(crate) fn new() -> T2s {
        // key -> replacement; phrases after characters so that, for a key in
        // both, the phrase table wins (it never happens in OpenCC's data, but
        // the order states the intent).
        let mut rules: BTreeMap<&'static str, &'static str> = BTreeMap::new();
        for (from, to) in RawDictionary::TSCharacters.iter() {
            rules.insert(from, to);
        }
        for (from, to) in RawDictionary::TSPhrases.iter() {
            rules.insert(from, to);
        }

        let mut trigger = vec![0u64; TRIGGER_SPAN / 64].into_boxed_slice();
        let set = |trigger: &mut [u64], c: char| {
            let i = c as usize;
            if i < TRIGGER_SPAN {
                trigger[i / 64] |= 1 << (i % 64);
            }
        };
        let is_set = |trigger: &[u64], c: char| {
            let i = c as usize;
            i < TRIGGER_SPAN && trigger[i / 64] & (1 << (i % 64)) != 0
        };
        // Character rules first: their sources are triggers.
        for (&from, &to) in &rules {
            if let Some(c) = single_char(from)
                && from != to
            {
                set(&mut trigger, c);
            }
        }
        // A phrase rule matches only where all its characters are present,
        // so one trigger among them is enough. Phrases with none get the
        // characters where source and target differ (all of them when the
        // two sides differ in length).
        for (&from, &to) in &rules {
            if from == to || single_char(from).is_some() {
                continue;
            }
            if from.chars().any(|c| is_set(&trigger, c)) {
                continue;
            }
            if from.chars().count() == to.chars().count() {
                for (f, t) in from.chars().zip(to.chars()) {
                    if f != t {
                        set(&mut trigger, f);
                    }
                }
            } else {
                for c in from.chars() {
                    set(&mut trigger, c);
                }
            }
        }

        // Identity character rules would only cost matches; identity phrase
        // rules stay, they protect their characters from conversion.
        let kept: Vec<(&str, &str)> = rules
            .into_iter()
            .filter(|(from, to)| from != to || single_char(from).is_none())
            .collect();
        let targets: Vec<Box<str>> = kept.iter().map(|(_, to)| Box::from(*to)).collect();
        let automaton = CharwiseDoubleArrayAhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build_with_values(
                kept.iter()
                    .enumerate()
                    .map(|(i, (from, _))| (*from, i as u32)),
            )
            .expect("the OpenCC tables shipped with hanconv are valid automaton input");
        T2s {
            automaton,
            targets,
            trigger,
        }
    }

    /// Whether `c` can take part in a conversion.
    #[inline]
    pub(crate) fn triggers(&self, c: char) -> bool {
        let i = c as usize;
        i < TRIGGER_SPAN && self.trigger[i / 64] & (1 << (i % 64)) != 0
    }

    /// Calls `f(start, end, replacement)` for each replacement, left to
    /// right, non-overlapping. Identity phrase rules are skipped.
    pub(crate) fn for_each_replacement(&self, text: &str, mut f: impl FnMut(usize, usize, &str)) {
        for m in self.automaton.leftmost_find_iter(text) {
            let to = &*self.targets[m.value() as usize];
            if &text[m.start()..m.end()] != to {
                f(m.start(), m.end(), to);
            }
        }
    }
}

fn single_char(s: &str) -> Option<char> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(t: &T2s, text: &str) -> String {
        let mut out = String::new();
        let mut last = 0;
        t.for_each_replacement(text, |s, e, to| {
            out.push_str(&text[last..s]);
            out.push_str(to);
            last = e;
        });
        out.push_str(&text[last..]);
        out
    }

    #[test]
    fn converts_characters_and_respects_phrases() {
        let t = T2s::new();
        assert_eq!(
            convert(&t, "化工廠爆炸，數十人受傷"),
            "化工厂爆炸，数十人受伤"
        );
        assert_eq!(convert(&t, "乾旱"), "干旱");
        assert_eq!(convert(&t, "乾坤"), "乾坤");
        assert_eq!(convert(&t, "简体不变"), "简体不变");
    }

    #[test]
    fn a_text_without_trigger_characters_is_left_alone() {
        let t = T2s::new();
        // Every character of a text that converts must be checked; the
        // converse (no trigger, no change) is what the fast path relies on.
        for (from, to) in RawDictionary::TSPhrases
            .iter()
            .chain(RawDictionary::TSCharacters.iter())
        {
            if convert(&t, from) != from {
                assert!(
                    from.chars().any(|c| t.triggers(c)),
                    "{from} -> {to} has no trigger"
                );
            }
        }
        assert!(!t.triggers('水'));
        assert!(t.triggers('災'));
    }
}
