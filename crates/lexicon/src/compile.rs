//! Dictionary files to a [`Lexicon`]: validation with precise errors, then
//! the two automata and the flat arrays (`tables`).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use yuqing_model::Level;
use yuqing_text::{Analyzer, Normalizer, SegmenterOptions};

use crate::error::LineIndex;
use crate::lexicon::{Category, Gazetteer, Lexicon, Region};
use crate::source::{CategoryHeader, Group, Province, SeverityRules};
use crate::tables::{
    Casualty, Cue, Grades, Grading, NO_RULE, Patterns, Role, Rule, RuleTable, Term,
};
use crate::{DictError, DictErrors, DictSource, FileKind};

/// Longest term, context word or region name, in characters.
const MAX_WORD_CHARS: usize = 32;
const DEFAULT_WINDOW: u32 = 20;
const DEFAULT_NEGATION_WINDOW: u32 = 2;
const DEFAULT_SUPPORT_CAP: f32 = 1.0;
const DEFAULT_HEAD_WINDOW: u32 = 4;
const DEFAULT_TOPIC_WINDOW: u32 = 80;

impl Lexicon {
    /// Compiles dictionary files. Every problem is reported, each with its
    /// file, line and term.
    pub fn compile(sources: &[DictSource]) -> Result<Lexicon, DictErrors> {
        compile(sources, SegmenterOptions::default())
    }

    /// Like [`Lexicon::compile`], with explicit segmenter options.
    pub fn compile_with(
        sources: &[DictSource],
        options: SegmenterOptions,
    ) -> Result<Lexicon, DictErrors> {
        compile(sources, options)
    }

    /// The shipped dictionaries (embedded in the binary).
    pub fn builtin() -> Result<Lexicon, DictErrors> {
        Lexicon::compile(&DictSource::builtin())
    }

    /// Reads and compiles every `*.toml` in `dir`.
    pub fn from_dir(dir: &std::path::Path) -> Result<Lexicon, DictErrors> {
        Lexicon::compile(&DictSource::read_dir(dir)?)
    }
}

fn compile(sources: &[DictSource], options: SegmenterOptions) -> Result<Lexicon, DictErrors> {
    let mut b = Builder::new(Normalizer::new());
    // Shared sets first: category files refer to them.
    for kind in [FileKind::Shared, FileKind::Regions, FileKind::Category] {
        for src in sources.iter().filter(|s| s.kind() == kind) {
            let file = File {
                name: &src.name,
                index: LineIndex::new(&src.text),
            };
            match kind {
                FileKind::Shared => b.shared(&file, &src.text),
                FileKind::Regions => b.regions(&file, &src.text),
                FileKind::Category => b.category(&file, src.file_name(), &src.text),
            }
        }
    }
    if b.categories.is_empty() && b.errors.is_empty() {
        b.errors.push(DictError {
            file: sources
                .first()
                .map(|s| s.name.clone())
                .unwrap_or_else(|| "<dictionaries>".into()),
            line: 0,
            column: 0,
            term: None,
            message: "no category files: a dictionary needs at least one `<category>.toml`".into(),
        });
    }
    // Without a gazetteer no post is ever tagged with a region, and
    // `region=` filters and per-region alerts go quiet: refuse the set.
    if !sources.iter().any(|s| s.kind() == FileKind::Regions) {
        let file = sources.first().map_or_else(
            || "regions.toml".to_string(),
            |s| {
                std::path::Path::new(&s.name)
                    .with_file_name("regions.toml")
                    .display()
                    .to_string()
            },
        );
        b.errors.push(DictError {
            file,
            line: 0,
            column: 0,
            term: None,
            message: "missing: a dictionary set needs its gazetteer of regions (`[[province]]` entries); without it no post is tagged with a region".into(),
        });
    }
    b.finish(options)
}

struct File<'a> {
    name: &'a str,
    index: LineIndex<'a>,
}

impl File<'_> {
    fn error(&self, span: Option<Range<usize>>, term: Option<&str>, message: String) -> DictError {
        let (line, column) = span.map_or((0, 0), |s| self.index.locate(s.start));
        DictError {
            file: self.name.to_string(),
            line,
            column,
            term: term.map(str::to_string),
            message,
        }
    }
}

struct NamedSet {
    words: Vec<String>,
    /// Set id once used as context (its words then have Context roles).
    context_id: Option<u32>,
}

/// What a category's groups take from its `[category]` table.
struct Inherited {
    /// The category's number.
    index: u16,
    window: u32,
    negation_window: u32,
    topic_window: u32,
    /// Context sets of the category's `unless_any`, `unless_before` and
    /// `unless_topic`, which groups inherit unless they say otherwise.
    unless: Vec<u32>,
    before: Vec<u32>,
    topic: Vec<u32>,
}

struct Builder {
    normalizer: Normalizer,
    errors: Vec<DictError>,
    /// Sets of shared.toml that are there but could not be read (their
    /// error is reported once; a use of them is not an error again), and
    /// whether shared.toml could not be read at all (then no `@name` is).
    broken_sets: Vec<String>,
    shared_unreadable: bool,
    named_sets: HashMap<String, NamedSet>,
    set_count: u32,
    patterns: Vec<String>,
    pattern_ids: HashMap<String, u32>,
    roles: Vec<(u32, Role)>,
    categories: Vec<Category>,
    category_ids: HashMap<String, String>,
    terms: Vec<Term>,
    rules: Vec<Rule>,
    rule_sets: Vec<u32>,
    regions: Vec<Region>,
    region_names: HashMap<String, (u32, String)>,
    cues: Vec<Cue>,
    grades: Grades,
}

impl Builder {
    fn new(normalizer: Normalizer) -> Self {
        Builder {
            normalizer,
            errors: Vec::new(),
            broken_sets: Vec::new(),
            shared_unreadable: false,
            named_sets: HashMap::new(),
            set_count: 0,
            patterns: Vec::new(),
            pattern_ids: HashMap::new(),
            roles: Vec::new(),
            categories: Vec::new(),
            category_ids: HashMap::new(),
            terms: Vec::new(),
            rules: Vec::new(),
            rule_sets: Vec::new(),
            regions: Vec::new(),
            region_names: HashMap::new(),
            cues: Vec::new(),
            grades: Grades::default(),
        }
    }

    /// Parses a file's TOML syntax: its top-level tables and values, each
    /// read on its own afterwards (so that one bad table does not hide the
    /// problems of the others).
    fn parse_doc<'t>(&mut self, file: &File, text: &'t str) -> Option<DeTable<'t>> {
        match DeTable::parse(text) {
            Ok(t) => Some(t.into_inner()),
            Err(e) => {
                self.errors
                    .push(file.error(e.span(), None, e.message().trim().to_string()));
                None
            }
        }
    }

    /// Reads one value of a parsed file as `T`; the error says where.
    fn de<T: serde::de::DeserializeOwned>(
        &mut self,
        file: &File,
        value: Spanned<DeValue<'_>>,
    ) -> Option<T> {
        let span = value.span();
        match T::deserialize(ValueDeserializer::from(value)) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(file.error(
                    Some(e.span().unwrap_or(span)),
                    None,
                    e.message().trim().to_string(),
                ));
                None
            }
        }
    }

    /// Splits a parsed file into the values of its `known` top-level keys
    /// (in that order); any other key is an error.
    fn top_level<'t, const N: usize>(
        &mut self,
        file: &File,
        doc: DeTable<'t>,
        known: [&str; N],
    ) -> [Option<Spanned<DeValue<'t>>>; N] {
        let mut out = [const { None }; N];
        for (k, v) in doc {
            match known.iter().position(|n| *n == k.get_ref().as_ref()) {
                Some(i) => out[i] = Some(v),
                None => {
                    let expected = known
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(" or ");
                    self.errors.push(file.error(
                        Some(k.span()),
                        None,
                        format!("unknown field `{}`, expected {expected}", k.get_ref()),
                    ));
                }
            }
        }
        out
    }

    /// The elements of an array of tables (`[[group]]`), each read on its
    /// own; the number written, read or not.
    fn each<T: serde::de::DeserializeOwned>(
        &mut self,
        file: &File,
        name: &str,
        value: Option<Spanned<DeValue<'_>>>,
    ) -> (Vec<T>, usize) {
        let Some(value) = value else {
            return (Vec::new(), 0);
        };
        let span = value.span();
        match value.into_inner() {
            DeValue::Array(items) => {
                let n = items.len();
                let read = items.into_iter().filter_map(|v| self.de(file, v)).collect();
                (read, n)
            }
            other => {
                self.errors.push(file.error(
                    Some(span),
                    None,
                    format!(
                        "`{name}` must be an array of tables (`[[{name}]]`), found {}",
                        other.type_str()
                    ),
                ));
                (Vec::new(), 1)
            }
        }
    }

    /// Whether `@name` is unknown because of an error reported already.
    fn follow_on(&self, name: &str) -> bool {
        self.shared_unreadable || self.broken_sets.iter().any(|b| b == name)
    }

    fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.pattern_ids.get(word) {
            return id;
        }
        let id = self.patterns.len() as u32;
        self.patterns.push(word.to_string());
        self.pattern_ids.insert(word.to_string(), id);
        id
    }

    /// Checks one word: not empty, not too long, already in normal form
    /// (the text is normalised before matching, so a word that is not
    /// would never match).
    fn word(&mut self, file: &File, w: &Spanned<String>, what: &str) -> Option<String> {
        let s = w.get_ref();
        let fail = |b: &mut Self, msg: String| {
            b.errors.push(file.error(Some(w.span()), Some(s), msg));
            None
        };
        if s.trim().is_empty() {
            return fail(self, format!("empty {what}"));
        }
        let n = s.chars().count();
        if n > MAX_WORD_CHARS {
            return fail(
                self,
                format!("{what} is {n} characters, over the limit of {MAX_WORD_CHARS}"),
            );
        }
        let normal = self.normalizer.normalize(s);
        if normal.as_str() != s {
            return fail(
                self,
                format!(
                    "{what} is not in normal form (texts are matched after normalisation, so it would never match); write it as `{}`",
                    normal.as_str()
                ),
            );
        }
        Some(s.clone())
    }

    fn shared(&mut self, file: &File, text: &str) {
        let Some(doc) = self.parse_doc(file, text) else {
            self.shared_unreadable = true;
            return;
        };
        let [sets, severity] = self.top_level(file, doc, ["sets", "severity"]);
        // Each set on its own: a bad one is reported once, and its uses are
        // not reported again.
        let mut raw_sets: BTreeMap<String, Vec<Spanned<String>>> = BTreeMap::new();
        if let Some(sets) = sets {
            let span = sets.span();
            match sets.into_inner() {
                DeValue::Table(t) => {
                    for (k, v) in t {
                        let name = k.get_ref().to_string();
                        match self.de::<Vec<Spanned<String>>>(file, v) {
                            Some(words) => {
                                raw_sets.insert(name, words);
                            }
                            None => self.broken_sets.push(name),
                        }
                    }
                }
                other => {
                    self.errors.push(file.error(
                        Some(span),
                        None,
                        format!(
                            "`sets` must be a table of word lists, found {}",
                            other.type_str()
                        ),
                    ));
                    self.shared_unreadable = true;
                }
            }
        }
        let severity: Option<SeverityRules> = match severity {
            Some(v) => self.de(file, v),
            None => None,
        };
        for name in raw_sets.keys() {
            if !valid_id(name) {
                self.errors.push(file.error(
                    None,
                    None,
                    format!("set name `{name}`: use lower-case ASCII letters, digits and `_`"),
                ));
            }
        }
        // Sets may include other sets (`@name`); expand them depth-first.
        let mut done: HashMap<String, Vec<String>> = HashMap::new();
        for name in raw_sets.keys() {
            let mut stack = Vec::new();
            self.expand_set(file, &raw_sets, name, &mut stack, &mut done);
        }
        for (name, words) in done {
            self.named_sets.insert(
                name,
                NamedSet {
                    words,
                    context_id: None,
                },
            );
        }
        if let Some(sev) = severity {
            self.severity(file, &sev);
        }
    }

    /// Reads shared.toml's `[severity]`: casualty and harm words, cues and
    /// their levels, the grading thresholds.
    fn severity(&mut self, file: &File, sev: &SeverityRules) {
        for (words, kind) in [
            (&sev.dead, Casualty::Dead),
            (&sev.injured, Casualty::Injured),
            (&sev.missing, Casualty::Missing),
            (&sev.trapped, Casualty::Trapped),
        ] {
            for w in words {
                if let Some(w) = self.word(file, w, "casualty word") {
                    let p = self.intern(&w);
                    self.roles.push((p, Role::Casualty(kind)));
                }
            }
        }
        for w in &sev.harm {
            if let Some(w) = self.word(file, w, "harm word") {
                let p = self.intern(&w);
                self.roles.push((p, Role::Harm));
            }
        }
        for cue in &sev.cue {
            let level = match cue.level.get_ref().parse::<Level>() {
                Ok(l) => l,
                Err(e) => {
                    self.errors
                        .push(file.error(Some(cue.level.span()), None, e.to_string()));
                    continue;
                }
            };
            for w in &cue.terms {
                if let Some(w) = self.word(file, w, "cue") {
                    let p = self.intern(&w);
                    let id = self.cues.len() as u32;
                    self.cues.push(Cue { level, pattern: p });
                    self.roles.push((p, Role::Cue(id)));
                }
            }
        }
        if let Some(g) = &sev.grading {
            let ok = g.yellow.dead < g.orange.dead
                && g.orange.dead < g.red.dead
                && g.yellow.injured < g.orange.injured
                && g.orange.injured < g.red.injured;
            if ok {
                self.grades = Grades {
                    yellow: (g.yellow.dead, g.yellow.injured),
                    orange: (g.orange.dead, g.orange.injured),
                    red: (g.red.dead, g.red.injured),
                };
            } else {
                self.errors.push(file.error(
                    None,
                    None,
                    "[severity.grading]: thresholds must grow from yellow to orange to red".into(),
                ));
            }
        }
    }

    fn expand_set(
        &mut self,
        file: &File,
        raw: &BTreeMap<String, Vec<Spanned<String>>>,
        name: &str,
        stack: &mut Vec<String>,
        done: &mut HashMap<String, Vec<String>>,
    ) -> Vec<String> {
        if let Some(words) = done.get(name) {
            return words.clone();
        }
        stack.push(name.to_string());
        let mut words: Vec<String> = Vec::new();
        for w in raw.get(name).map(Vec::as_slice).unwrap_or_default() {
            match w.get_ref().strip_prefix('@') {
                Some(inner) if stack.iter().any(|s| s == inner) => {
                    self.errors.push(file.error(
                        Some(w.span()),
                        None,
                        format!("set `{name}` includes itself through `@{inner}`"),
                    ));
                }
                Some(inner) if raw.contains_key(inner) => {
                    for x in self.expand_set(file, raw, inner, stack, done) {
                        if !words.contains(&x) {
                            words.push(x);
                        }
                    }
                }
                Some(inner) if self.follow_on(inner) => {}
                Some(inner) => self.errors.push(file.error(
                    Some(w.span()),
                    None,
                    format!("unknown set `@{inner}` in set `{name}`"),
                )),
                None => {
                    if let Some(x) = self.word(file, w, "set word")
                        && !words.contains(&x)
                    {
                        words.push(x);
                    }
                }
            }
        }
        stack.pop();
        done.insert(name.to_string(), words.clone());
        words
    }

    /// Resolves a list of context words into set ids: `@name` entries to
    /// their shared set, the other words to one new anonymous set.
    fn context_list(&mut self, file: &File, list: &[Spanned<String>]) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut inline = Vec::new();
        for w in list {
            if let Some(name) = w.get_ref().strip_prefix('@') {
                match self.named_sets.get(name) {
                    Some(set) => {
                        let id = match set.context_id {
                            Some(id) => id,
                            None => {
                                let id = self.set_count;
                                self.set_count += 1;
                                let words = set.words.clone();
                                for word in words {
                                    let p = self.intern(&word);
                                    self.roles.push((p, Role::Context(id)));
                                }
                                if let Some(s) = self.named_sets.get_mut(name) {
                                    s.context_id = Some(id);
                                }
                                id
                            }
                        };
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    None if self.follow_on(name) => {}
                    None => self.errors.push(file.error(
                        Some(w.span()),
                        None,
                        format!("unknown set `@{name}`: define it under [sets] in shared.toml"),
                    )),
                }
            } else if let Some(word) = self.word(file, w, "context word") {
                inline.push(word);
            }
        }
        if !inline.is_empty() {
            let id = self.set_count;
            self.set_count += 1;
            for word in inline {
                let p = self.intern(&word);
                self.roles.push((p, Role::Context(id)));
            }
            ids.push(id);
        }
        ids
    }

    fn push_sets(&mut self, ids: &[u32]) -> (u32, u32) {
        let start = self.rule_sets.len() as u32;
        self.rule_sets.extend_from_slice(ids);
        (start, self.rule_sets.len() as u32)
    }

    fn category(&mut self, file: &File, file_name: &str, text: &str) {
        let Some(doc) = self.parse_doc(file, text) else {
            return;
        };
        let [header, groups] = self.top_level(file, doc, ["category", "group"]);
        let header = match header {
            Some(v) => self.de::<CategoryHeader>(file, v),
            None => {
                self.errors.push(file.error(
                    None,
                    None,
                    "missing table `[category]` (id, names, threshold)".into(),
                ));
                None
            }
        };
        let (groups, written) = self.each::<Group>(file, "group", groups);
        // A header that could not be read was reported: its groups are
        // still checked, against default settings, and nothing follows
        // from the header itself.
        let read = header.is_some();
        let header = header.unwrap_or_else(|| placeholder_header(file_name));
        let h = &header;
        let id = h.id.get_ref().clone();
        let ok = read && self.check_header(file, h, file_name);
        let threshold = *h.threshold.get_ref();
        let window = self.bounded(file, h.window.as_ref(), "window", 1, 500, DEFAULT_WINDOW);
        let negation_window = self.bounded(
            file,
            h.negation_window.as_ref(),
            "negation_window",
            0,
            20,
            DEFAULT_NEGATION_WINDOW,
        );
        let partial = self.fraction(file, h.partial.as_ref(), "partial", 0.0, 1.0, 0.0);
        let support_cap = self.fraction(
            file,
            h.support_cap.as_ref(),
            "support_cap",
            0.0,
            100.0,
            DEFAULT_SUPPORT_CAP,
        );
        let harm = self.fraction(file, h.harm.as_ref(), "harm", 0.0, 100.0, 0.0);
        let harm_window = self.bounded(file, h.harm_window.as_ref(), "harm_window", 1, 500, window);
        let head_window = self.bounded(
            file,
            h.head_window.as_ref(),
            "head_window",
            0,
            50,
            DEFAULT_HEAD_WINDOW,
        );
        let head_with = self.context_list(file, &h.head_with);
        let head_sets = self.push_sets(&head_with);
        let cat_unless = self.context_list(file, &h.unless_any);
        let cat_before = self.context_list(file, &h.unless_before);
        let cat_topic = self.context_list(file, &h.unless_topic);
        let topic_window = self.bounded(
            file,
            h.topic_window.as_ref(),
            "topic_window",
            1,
            500,
            DEFAULT_TOPIC_WINDOW,
        );
        // With a bad header the groups are still checked, so that one run
        // reports every problem; the category itself is not kept.
        let cat_index = self.categories.len() as u16;
        if ok {
            self.category_ids.insert(id.clone(), file.name.to_string());
        }

        if written == 0 {
            self.errors.push(file.error(
                None,
                None,
                format!("category `{id}` has no `[[group]]` of terms: it could never flag a post"),
            ));
        }
        let inherited = Inherited {
            index: cat_index,
            window,
            negation_window,
            topic_window,
            unless: cat_unless,
            before: cat_before,
            topic: cat_topic,
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut n_terms = 0;
        for g in &groups {
            n_terms += self.group(file, g, &inherited, &mut seen);
        }
        if !ok {
            return;
        }
        self.categories.push(Category {
            id,
            name_zh: h.name_zh.clone(),
            name_en: h.name_en.clone(),
            threshold,
            partial,
            support_cap,
            terms: n_terms,
            window,
            harm,
            harm_window,
            head_window,
            quotes_figurative: h.quotes_figurative,
            unless_stock_code: h.unless_stock_code,
            head_sets,
        });
    }

    /// Checks a category's `[category]` table as read: its id (valid, the
    /// file's name, not taken) and threshold. Each problem is reported.
    fn check_header(&mut self, file: &File, h: &CategoryHeader, file_name: &str) -> bool {
        let id = h.id.get_ref();
        let mut ok = true;
        if !valid_id(id) {
            self.errors.push(file.error(
                Some(h.id.span()),
                None,
                format!("category id `{id}`: use lower-case ASCII letters, digits and `_`"),
            ));
            ok = false;
        } else if file_name != format!("{id}.toml") {
            self.errors.push(file.error(
                Some(h.id.span()),
                None,
                format!(
                    "category id `{id}` does not match the file name: name the file `{id}.toml`"
                ),
            ));
            ok = false;
        }
        if let Some(other) = self.category_ids.get(id) {
            let msg = format!("category id `{id}` is already defined in {other}");
            self.errors.push(file.error(Some(h.id.span()), None, msg));
            ok = false;
        }
        let threshold = *h.threshold.get_ref();
        if !(threshold.is_finite() && threshold > 0.0) {
            self.errors.push(file.error(
                Some(h.threshold.span()),
                None,
                format!("threshold must be a number above 0, got {threshold}"),
            ));
            ok = false;
        }
        ok
    }

    /// Reads one `[[group]]` of a category: its weight, severity and head
    /// weight, its context rule, its terms. Returns the terms added.
    fn group(
        &mut self,
        file: &File,
        g: &Group,
        inherited: &Inherited,
        seen: &mut HashMap<String, usize>,
    ) -> usize {
        // A bad weight is reported and the group's terms and rules are
        // still checked (with a weight of 1 that is never used).
        let mut weight = *g.weight.get_ref();
        let weight_ok = weight.is_finite() && weight > 0.0 && weight <= 100.0;
        if !weight_ok {
            self.errors.push(file.error(
                Some(g.weight.span()),
                None,
                format!("weight must be above 0 and at most 100, got {weight}"),
            ));
            weight = 1.0;
        }
        let severity = match &g.severity {
            None => None,
            Some(s) => match s.get_ref().parse::<Level>() {
                Ok(l) => Some(l),
                Err(e) => {
                    self.errors
                        .push(file.error(Some(s.span()), None, e.to_string()));
                    None
                }
            },
        };
        let head = match &g.head {
            None => 0.0,
            Some(v) => {
                let head = *v.get_ref();
                let above = if weight_ok { weight } else { 0.0 };
                if !(head.is_finite() && head > above && head <= 100.0) {
                    self.errors.push(file.error(
                        Some(v.span()),
                        None,
                        format!(
                            "head must be above the group's weight ({weight}) and at most 100, got {head}"
                        ),
                    ));
                } else if g.support {
                    self.errors.push(file.error(
                        Some(v.span()),
                        None,
                        "head is for main terms: a support group cannot have one".into(),
                    ));
                }
                head
            }
        };
        let rule = self.group_rule(file, g, inherited);
        if g.terms.is_empty() {
            self.errors
                .push(file.error(Some(g.weight.span()), None, "group has no terms".into()));
        }
        let term = Term {
            category: inherited.index,
            support: g.support,
            weight,
            rule,
            severity,
            pattern: 0,
            head,
        };
        self.group_terms(file, g, &term, seen)
    }

    /// The context rule of a group (its own lists, with the category's
    /// when it inherits them), or [`NO_RULE`].
    fn group_rule(&mut self, file: &File, g: &Group, inherited: &Inherited) -> u32 {
        let group_window =
            self.bounded(file, g.window.as_ref(), "window", 1, 500, inherited.window);
        let requires = self.context_list(file, &g.requires_any);
        let mut unless = self.context_list(file, &g.unless_any);
        let mut before = self.context_list(file, &g.unless_before);
        if g.inherit {
            unless.extend(
                inherited
                    .unless
                    .iter()
                    .filter(|i| !unless.contains(i))
                    .collect::<Vec<_>>(),
            );
            before.extend(
                inherited
                    .before
                    .iter()
                    .filter(|i| !before.contains(i))
                    .collect::<Vec<_>>(),
            );
        }
        let topic: Vec<u32> = if g.inherit {
            inherited.topic.clone()
        } else {
            Vec::new()
        };
        if requires.is_empty() && unless.is_empty() && before.is_empty() && topic.is_empty() {
            NO_RULE
        } else {
            let requires = self.push_sets(&requires);
            let unless = self.push_sets(&unless);
            let before = self.push_sets(&before);
            let topic = self.push_sets(&topic);
            self.rules.push(Rule {
                window: group_window,
                negation_window: inherited.negation_window,
                topic_window: inherited.topic_window,
                requires,
                unless,
                before,
                topic,
            });
            (self.rules.len() - 1) as u32
        }
    }

    /// Adds a group's terms (words and `@set`s), each a copy of `term` with
    /// its pattern; a word listed twice in a category is an error
    /// (`seen`: word → line). Returns the terms added.
    fn group_terms(
        &mut self,
        file: &File,
        g: &Group,
        term: &Term,
        seen: &mut HashMap<String, usize>,
    ) -> usize {
        let mut added = 0;
        for t in &g.terms {
            let words: Vec<String> = match t.get_ref().strip_prefix('@') {
                Some(name) => match self.named_sets.get(name) {
                    Some(set) => set.words.clone(),
                    None if self.follow_on(name) => continue,
                    None => {
                        self.errors.push(file.error(
                            Some(t.span()),
                            None,
                            format!("unknown set `@{name}`: define it under [sets] in shared.toml"),
                        ));
                        continue;
                    }
                },
                None => match self.word(file, t, "term") {
                    Some(w) => vec![w],
                    None => continue,
                },
            };
            for w in words {
                let line = file.index.locate(t.span().start).0;
                if let Some(first) = seen.get(&w) {
                    self.errors.push(file.error(
                        Some(t.span()),
                        Some(&w),
                        format!("listed twice in this category (first at line {first})"),
                    ));
                    continue;
                }
                seen.insert(w.clone(), line);
                let pattern = self.intern(&w);
                let tid = self.terms.len() as u32;
                self.terms.push(Term {
                    pattern,
                    ..term.clone()
                });
                self.roles.push((pattern, Role::Term(tid)));
                added += 1;
            }
        }
        added
    }

    fn bounded(
        &mut self,
        file: &File,
        v: Option<&Spanned<u32>>,
        what: &str,
        min: u32,
        max: u32,
        default: u32,
    ) -> u32 {
        match v {
            None => default,
            Some(v) if (min..=max).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                self.errors.push(file.error(
                    Some(v.span()),
                    None,
                    format!("{what} must be from {min} to {max}, got {}", v.get_ref()),
                ));
                default
            }
        }
    }

    fn fraction(
        &mut self,
        file: &File,
        v: Option<&Spanned<f32>>,
        what: &str,
        min: f32,
        max: f32,
        default: f32,
    ) -> f32 {
        match v {
            None => default,
            Some(v) if (min..=max).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                self.errors.push(file.error(
                    Some(v.span()),
                    None,
                    format!("{what} must be from {min} to {max}, got {}", v.get_ref()),
                ));
                default
            }
        }
    }

    fn regions(&mut self, file: &File, text: &str) {
        let Some(doc) = self.parse_doc(file, text) else {
            return;
        };
        let [province] = self.top_level(file, doc, ["province"]);
        let (provinces, written) = self.each::<Province>(file, "province", province);
        if written == 0 {
            self.errors.push(file.error(
                None,
                None,
                "no regions: the gazetteer needs at least one `[[province]]` (without regions no post is tagged with one)".into(),
            ));
        }
        for p in &provinces {
            let Some(pid) = self.region(file, &p.name, None) else {
                continue;
            };
            for d in &p.divisions {
                self.region(file, d, Some(pid));
            }
        }
    }

    /// Registers `canonical|alias|…`; returns the region's index.
    fn region(&mut self, file: &File, entry: &Spanned<String>, parent: Option<u32>) -> Option<u32> {
        let mut names = Vec::new();
        for part in entry.get_ref().split('|') {
            let spanned = Spanned::new(entry.span(), part.to_string());
            let w = self.word(file, &spanned, "region name")?;
            if w.chars().count() < 2 {
                self.errors.push(file.error(
                    Some(entry.span()),
                    Some(&w),
                    "region names need at least two characters (one is too ambiguous)".into(),
                ));
                return None;
            }
            names.push(w);
        }
        let id = self.regions.len() as u32;
        for n in &names {
            if let Some((other, _)) = self.region_names.get(n) {
                let msg = format!(
                    "`{n}` already names {} (each name or alias must point to one region)",
                    self.regions[*other as usize].name
                );
                self.errors
                    .push(file.error(Some(entry.span()), Some(n), msg));
                return None;
            }
        }
        for n in &names {
            self.region_names
                .insert(n.clone(), (id, file.name.to_string()));
            let p = self.intern(n);
            self.roles.push((p, Role::Region(id)));
        }
        self.regions.push(Region {
            name: names[0].clone(),
            parent,
        });
        Some(id)
    }

    fn finish(mut self, options: SegmenterOptions) -> Result<Lexicon, DictErrors> {
        if self.patterns.is_empty() && self.errors.is_empty() {
            self.errors.push(DictError {
                file: "<dictionaries>".into(),
                line: 0,
                column: 0,
                term: None,
                message: "no terms: every category is empty".into(),
            });
        }
        if !self.errors.is_empty() {
            return Err(DictErrors(self.errors));
        }
        // Two automata: the primary one (main terms, regions) runs on every
        // post; the secondary one (support terms, context, casualty words,
        // cues) only on posts where a main term matched.
        let patterns = Patterns::build(self.patterns, self.roles, &self.terms).map_err(|e| {
            DictErrors(vec![DictError {
                file: "<dictionaries>".into(),
                line: 0,
                column: 0,
                term: None,
                message: format!("cannot build the automaton: {e}"),
            }])
        })?;
        let analyzer = Analyzer::with_normalizer(self.normalizer, patterns.keywords(), options);
        let names = self
            .region_names
            .into_iter()
            .map(|(name, (id, _))| (name, id))
            .collect();
        Ok(Lexicon::new(
            analyzer,
            self.categories,
            Gazetteer::new(self.regions, names),
            patterns,
            self.terms,
            RuleTable::new(self.rules, self.rule_sets, self.set_count as usize),
            Grading::new(self.cues, self.grades),
        ))
    }
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Stands for a `[category]` table that could not be read, so that the
/// category's groups are still checked (with the default settings).
fn placeholder_header(file_name: &str) -> CategoryHeader {
    let id = file_name.strip_suffix(".toml").unwrap_or(file_name);
    CategoryHeader {
        id: Spanned::new(0..0, id.to_string()),
        name_zh: String::new(),
        name_en: String::new(),
        description: None,
        threshold: Spanned::new(0..0, 1.0),
        window: None,
        negation_window: None,
        partial: None,
        support_cap: None,
        unless_any: Vec::new(),
        unless_before: Vec::new(),
        unless_topic: Vec::new(),
        topic_window: None,
        harm: None,
        harm_window: None,
        head_with: Vec::new(),
        head_window: None,
        quotes_figurative: false,
        unless_stock_code: false,
    }
}
