//! Incident dictionaries, the regions gazetteer, and the matching and
//! scoring core.
//!
//! # From files to a [`Lexicon`]
//!
//! Dictionary files ([`source`] describes the formats) compile once into a
//! [`Lexicon`]: two character-wise Aho-Corasick automata (daachorse) — the
//! primary one over category terms and region names, scanned on every
//! post, and the secondary one over support terms, context words, casualty
//! and harm words and severity cues, scanned only where a term matched —
//! plus flat arrays saying what each pattern is for. A `Lexicon` is
//! immutable: share it behind an `Arc`, and swap the `Arc` to reload.
//!
//! Inside, each step is a module that depends only on those before it:
//! `source` reads the files; `tables` holds the compiled arrays and the
//! automata (and is the only place they are indexed); `lexicon` is the
//! `Lexicon` that owns them, with the methods the scoring loop reads them
//! by; `compile` turns sources into a `Lexicon`; `matcher` scores with one.
//!
//! # Scoring
//!
//! [`Lexicon::score_into`] scans a post's normalised text and writes the
//! outcome into a reusable [`Scratch`]: fixed-size per-category score
//! arrays, no allocation per match. The rules, in order:
//!
//! 1. **Boundaries.** A term counts fully only when it starts and ends on
//!    jieba token boundaries, or when what it shares a token with is itself
//!    a word of two or more characters (`发生爆炸` = `发生` + `爆炸`). So
//!    `爆炸` counts in `化工厂发生爆炸` but not in `爆炸性新闻` (`爆炸性` is one
//!    token and `性` is no word of its own).
//! 2. **Titles and quotes.** A term inside the title of a work
//!    (`《唐山大地震》`) does not count, nor — in categories with
//!    `quotes_figurative` — one in scare quotes of its own (`引发“地震”`).
//! 3. **Context.** `requires_any` words must occur within the window (in
//!    characters, either side); `unless_any` words must not; `unless_before`
//!    words (negations) must not end just before the term.
//! 4. **Headline shape.** A `head` term weighs its head weight when a
//!    region, a count (`3人`, `两辆`) or a `head_with` word is within a few
//!    characters (`仓库大火`).
//! 5. **Score.** Each distinct term adds its weight once. `support` terms
//!    add (up to a cap) only when a non-support term counted too; `harm`
//!    (casualties with a count, or harm words, near a counted term) adds
//!    the category's harm weight once.
//! 6. **Flag.** A category is flagged when its score reaches its threshold.
//! 7. **Severity.** For flagged posts, casualty counts next to casualty
//!    words (`造成3人死亡`, `死亡人数升至21人`, `13死199伤`) are graded into
//!    `blue|yellow|orange|red`, raised by cues (`红色预警`, `疏散`).
//!
//! ```
//! use yuqing_lexicon::{Lexicon, Scratch};
//! let lexicon = Lexicon::builtin().unwrap();
//! let mut scratch = Scratch::new(&lexicon);
//! let analyzed = lexicon.analyzer().analyze("滁州一化工厂发生爆炸，造成3人死亡");
//! lexicon.score_into(&analyzed, &mut scratch);
//! let flagged: Vec<&str> = scratch.flagged().iter().map(|f| lexicon.category(f.category).id.as_str()).collect();
//! assert!(flagged.contains(&"explosion"));
//! ```

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}
mod casualty;
mod compile;
mod error;
mod lexicon;
mod matcher;
mod shared;
pub mod source;
mod tables;

pub use error::{DictError, DictErrors};
pub use lexicon::{Category, Lexicon, LexiconStats, Region};
pub use matcher::{Flag, Scratch, SeverityOutcome};
pub use shared::{ReloadReport, SharedLexicon};
pub use source::{DictSource, FileKind};
