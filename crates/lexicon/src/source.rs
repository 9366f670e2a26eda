//! The dictionary file formats, as written by dictionary authors.
//!
//! A dictionary directory holds:
//!
//! - one `<category>.toml` per incident category (see [`CategoryFile`]);
//! - `shared.toml`: named word sets that any file can use as `@name`, and
//!   the severity rules (casualty words, cues, grading) — [`SharedFile`];
//! - `regions.toml`: the gazetteer of administrative regions —
//!   [`RegionsFile`].
//!
//! `docs/dictionaries.md` is the authors' guide; the types here are the
//! exact schema (unknown keys are errors, so a typo never passes silently).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::{DictError, DictErrors};

/// A dictionary file's name and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictSource {
    /// How the file is named in messages (its path, or its embedded name).
    pub name: String,
    /// The TOML text.
    pub text: String,
}

impl DictSource {
    /// The file name without directories.
    pub fn file_name(&self) -> &str {
        Path::new(&self.name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&self.name)
    }

    /// What the file holds, from its name.
    pub fn kind(&self) -> FileKind {
        match self.file_name() {
            "shared.toml" => FileKind::Shared,
            "regions.toml" => FileKind::Regions,
            _ => FileKind::Category,
        }
    }

    /// The shipped dictionaries, embedded in the binary at build time.
    pub fn builtin() -> Vec<DictSource> {
        crate::builtin::FILES
            .iter()
            .map(|(name, text)| DictSource {
                name: format!("<builtin>/{name}"),
                text: (*text).to_string(),
            })
            .collect()
    }

    /// Reads every `*.toml` file of `dir`, sorted by name.
    pub fn read_dir(dir: &Path) -> Result<Vec<DictSource>, DictErrors> {
        let io_err = |what: String, e: std::io::Error| {
            DictErrors(vec![DictError {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
                term: None,
                message: format!("{what}: {e}"),
            }])
        };
        let entries =
            std::fs::read_dir(dir).map_err(|e| io_err("cannot read the directory".into(), e))?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_err("cannot list the directory".into(), e))?;
            let path = entry.path();
            if path.extension().is_some_and(|x| x == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            match std::fs::read(&path) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => out.push(DictSource {
                        name: path.display().to_string(),
                        text,
                    }),
                    Err(e) => errors.push(DictError {
                        file: path.display().to_string(),
                        line: 0,
                        column: 0,
                        term: None,
                        message: format!(
                            "not UTF-8 (invalid byte at offset {})",
                            e.utf8_error().valid_up_to()
                        ),
                    }),
                },
                Err(e) => errors.push(DictError {
                    file: path.display().to_string(),
                    line: 0,
                    column: 0,
                    term: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(DictErrors(errors))
        }
    }
}

/// The three kinds of dictionary file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `<category>.toml`.
    Category,
    /// `shared.toml`.
    Shared,
    /// `regions.toml`.
    Regions,
}

/// `<category>.toml`: one incident category.
///
/// ```toml
/// [category]
/// id = "fire"
/// name_zh = "火灾"
/// name_en = "Fire"
/// threshold = 2.0
/// unless_any = ["@drill", "@denial"]
/// unless_before = ["@negation"]
///
/// [[group]]
/// weight = 2.0
/// terms = ["火灾", "失火", "起火"]
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryFile {
    /// The category itself.
    pub category: CategoryHeader,
    /// Groups of terms sharing a weight and rules.
    #[serde(default)]
    pub group: Vec<Group>,
}

/// The `[category]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryHeader {
    /// Id: lower-case ASCII letters, digits and `_`; the file is `<id>.toml`.
    pub id: Spanned<String>,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// What the category covers, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// A post is flagged when its score reaches this.
    pub threshold: Spanned<f32>,
    /// Default context window, in characters either side of a term.
    #[serde(default)]
    pub window: Option<Spanned<u32>>,
    /// How many characters may separate a negation (`unless_before`) from
    /// the term it negates.
    #[serde(default)]
    pub negation_window: Option<Spanned<u32>>,
    /// Factor applied to a term found inside a longer word (not on token
    /// boundaries), from 0 (does not count, the default) to 1.
    #[serde(default)]
    pub partial: Option<Spanned<f32>>,
    /// Most that `support` terms may add to the score.
    #[serde(default)]
    pub support_cap: Option<Spanned<f32>>,
    /// Context that suppresses every term of the category.
    #[serde(default)]
    pub unless_any: Vec<Spanned<String>>,
    /// Negations that suppress every term of the category when they come
    /// just before it.
    #[serde(default)]
    pub unless_before: Vec<Spanned<String>>,
    /// Words that say what a whole passage is about — a drill, a rumour
    /// denial, a trial, an anniversary — and suppress every term of the
    /// category within `topic_window` characters, a wider reach than
    /// `unless_any`'s.
    #[serde(default)]
    pub unless_topic: Vec<Spanned<String>>,
    /// Reach of `unless_topic`, in characters either side (default 80).
    #[serde(default)]
    pub topic_window: Option<Spanned<u32>>,
    /// Weight that harm adds: a casualty word with a count (`三人遇难`,
    /// `死亡2人`) or a harm word of `[severity] harm` (`送医`, `一家三口`)
    /// within the window of a term that counted. 0 (the default): none.
    #[serde(default)]
    pub harm: Option<Spanned<f32>>,
    /// How far from a counted term harm is looked for, in characters either
    /// side (default: `window`). Reports often name the symptoms in one
    /// sentence and the hospital in the next.
    #[serde(default)]
    pub harm_window: Option<Spanned<u32>>,
    /// Words that, close to a `head` term, make it count at its `head`
    /// weight: the shape of a headline (`仓库大火`, `某地…`, `发生爆炸`).
    /// A region name or a count (`3人`, `两辆`) close by does the same.
    #[serde(default)]
    pub head_with: Vec<Spanned<String>>,
    /// How close (characters either side) head evidence must be (default 4).
    #[serde(default)]
    pub head_window: Option<Spanned<u32>>,
    /// Whether a term in quotes of its own (`引发“地震”`, `变“车祸现场”`) is
    /// a figure of speech and does not count (default false: in some
    /// categories quotes mark an allegation, `被指“传销”`, and the term
    /// counts).
    #[serde(default)]
    pub quotes_figurative: bool,
    /// Whether a term within `window` characters of a six-digit securities
    /// code in brackets (`长生生物(002680)`) is market news about a listed
    /// company and does not count (default false).
    #[serde(default)]
    pub unless_stock_code: bool,
}

/// A `[[group]]` of terms.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// A note for people (what the group is for).
    #[serde(default)]
    pub note: Option<String>,
    /// Weight each distinct term adds to the score.
    pub weight: Spanned<f32>,
    /// The terms, simplified Chinese, normalised (lower-case Latin,
    /// half-width). `@name` adds every word of a shared set.
    pub terms: Vec<Spanned<String>>,
    /// Terms count only when one of these words is within the window.
    #[serde(default)]
    pub requires_any: Vec<Spanned<String>>,
    /// Terms do not count when one of these words is within the window.
    #[serde(default)]
    pub unless_any: Vec<Spanned<String>>,
    /// Terms do not count right after one of these (negation).
    #[serde(default)]
    pub unless_before: Vec<Spanned<String>>,
    /// Context window for this group, in characters either side.
    #[serde(default)]
    pub window: Option<Spanned<u32>>,
    /// Severity floor when a term of this group counts in a flagged post.
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
    /// Corroborating terms: they add to the score only when a non-support
    /// term of the category counted too (at most `support_cap` in all).
    #[serde(default)]
    pub support: bool,
    /// Head words: a term of this group weighs this much (instead of
    /// `weight`) when head evidence is close to it — a region name, a count,
    /// or a word of the category's `head_with`.
    #[serde(default)]
    pub head: Option<Spanned<f32>>,
    /// Whether the category's `unless_any` / `unless_before` apply to this
    /// group (default true).
    #[serde(default = "yes")]
    pub inherit: bool,
}

fn yes() -> bool {
    true
}

/// `shared.toml`: word sets and severity rules.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedFile {
    /// Named word sets, used as `@name` in any list of words or terms.
    #[serde(default)]
    pub sets: BTreeMap<String, Vec<Spanned<String>>>,
    /// Severity rules.
    #[serde(default)]
    pub severity: Option<SeverityRules>,
}

/// The `[severity]` table of `shared.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityRules {
    /// Words reporting deaths (死亡, 遇难 …), read with a number before or
    /// after them.
    #[serde(default)]
    pub dead: Vec<Spanned<String>>,
    /// Words reporting injuries.
    #[serde(default)]
    pub injured: Vec<Spanned<String>>,
    /// Words reporting missing people.
    #[serde(default)]
    pub missing: Vec<Spanned<String>>,
    /// Words reporting trapped people.
    #[serde(default)]
    pub trapped: Vec<Spanned<String>>,
    /// Words that report harm to people without a number (`送医`,
    /// `不治身亡`, `一家三口`): harm evidence for categories with `harm`.
    /// (A casualty word above counts as harm only with a count next to it.)
    #[serde(default)]
    pub harm: Vec<Spanned<String>>,
    /// Cue words that set a minimum level.
    #[serde(default)]
    pub cue: Vec<CueGroup>,
    /// Casualty counts at which each level starts.
    #[serde(default)]
    pub grading: Option<Grading>,
}

/// A `[[severity.cue]]` group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CueGroup {
    /// `blue`, `yellow`, `orange` or `red`.
    pub level: Spanned<String>,
    /// The cue words.
    pub terms: Vec<Spanned<String>>,
}

/// `[severity.grading]`: thresholds per level.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grading {
    /// 较大.
    pub yellow: GradeThreshold,
    /// 重大.
    pub orange: GradeThreshold,
    /// 特别重大.
    pub red: GradeThreshold,
}

/// Counts at which a level starts; either one is enough.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeThreshold {
    /// Deaths plus missing.
    pub dead: u32,
    /// Injured.
    pub injured: u32,
}

/// `regions.toml`: provinces and the divisions below them.
///
/// ```toml
/// [[province]]
/// name = "安徽省|安徽"
/// divisions = ["合肥市|合肥", "滁州市|滁州"]
/// ```
///
/// Each entry is the canonical name followed by `|`-separated aliases that
/// also count as a mention.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionsFile {
    /// Provincial-level divisions.
    #[serde(default)]
    pub province: Vec<Province>,
}

/// One `[[province]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Province {
    /// `canonical|alias|…`.
    pub name: Spanned<String>,
    /// Divisions below it: `canonical|alias|…` each.
    #[serde(default)]
    pub divisions: Vec<Spanned<String>>,
}
