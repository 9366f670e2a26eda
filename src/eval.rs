//! `yuqing eval`: the dictionaries against labelled posts, one report per
//! file, by text length, with a fixed hold-out half.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use yuqing_lexicon::Lexicon;
use yuqing_pipeline::{Matches, Scorer};

use crate::lines::{Line, LineReader, map_ordered};

/// Arguments of `yuqing eval`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL with `text` and `expected` (category ids of which at least one
    /// should be flagged; `[]` for posts that must not be flagged); `id`
    /// is optional. Lines without `expected` are unlabelled background:
    /// only the share flagged is reported. Repeat the option (or list
    /// several files after it) to evaluate several files, each reported on
    /// its own.
    #[arg(long, value_name = "FILE", required = true, num_args = 1..)]
    pub labels: Vec<PathBuf>,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
    /// Evaluate one half of every file only: `dev` to tune on, `test` to
    /// quote. A post's half is fixed by its id (its text when it has none),
    /// so it never changes between runs. Examples from `test` are never
    /// listed, so that they cannot guide a change.
    #[arg(long, value_name = "HALF", value_parser = ["dev", "test"])]
    pub half: Option<String>,
    /// How many misses and false flags to list per file.
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub show: usize,
    /// Print the report as one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 if a file's incident recall is below this.
    #[arg(long, value_name = "R")]
    pub min_recall: Option<f64>,
    /// Exit 1 if a file's false-flag rate is above this.
    #[arg(long, value_name = "R")]
    pub max_false_flags: Option<f64>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
}

#[derive(Deserialize)]
struct Labelled {
    #[serde(default)]
    id: Option<String>,
    text: String,
    /// `None`: unlabelled background.
    #[serde(default)]
    expected: Option<Vec<String>>,
}

/// Text-length classes, by characters of the text as given.
const FORMS: [(&str, usize); 3] = [("headline", 40), ("lead", 200), ("article", usize::MAX)];

fn form_of(chars: usize) -> usize {
    FORMS.iter().position(|&(_, max)| chars <= max).unwrap_or(2)
}

/// The hold-out half of a post: a fixed hash (FNV-1a) of its id.
fn half_of(key: &str) -> &'static str {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // A finaliser (splitmix64's), so that ids differing only in their
    // last characters (`fire-001`, `fire-002`) spread over both halves.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    if h & 1 == 0 { "dev" } else { "test" }
}

/// One evaluated post.
struct Outcome {
    line: usize,
    id: String,
    text: String,
    form: usize,
    /// `None`: unlabelled.
    expected: Option<Vec<u16>>,
    flagged: Vec<u16>,
    /// Best score among expected categories, with its terms (for misses),
    /// or of the top flagged category (for false flags).
    detail: (f32, String),
}

#[derive(Default, Serialize)]
struct Counts {
    tp: usize,
    fp: usize,
    #[serde(rename = "fn")]
    fn_: usize,
}

#[derive(Serialize)]
struct CategoryReport {
    id: String,
    precision: Option<f64>,
    recall: Option<f64>,
    /// Non-incidents flagged with this category, over all non-incidents.
    false_flag_rate: Option<f64>,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Serialize)]
struct FormReport {
    form: &'static str,
    max_chars: Option<usize>,
    incidents: usize,
    incident_recall: Option<f64>,
    non_incidents: usize,
    false_flag_rate: Option<f64>,
    unlabelled: usize,
    flagged_share: Option<f64>,
}

#[derive(Serialize)]
struct Listed {
    line: usize,
    id: String,
    expected: Vec<String>,
    flagged: Vec<String>,
    score: f32,
    terms: String,
    text: String,
}

#[derive(Serialize)]
struct FileReport {
    file: String,
    posts: usize,
    incidents: usize,
    non_incidents: usize,
    unlabelled: usize,
    invalid_lines: usize,
    /// Lines of the other half, left out.
    other_half: usize,
    incident_recall: Option<f64>,
    false_flag_rate: Option<f64>,
    /// Unlabelled posts flagged with any category, over unlabelled posts.
    flagged_share: Option<f64>,
    forms: Vec<FormReport>,
    categories: Vec<CategoryReport>,
    misses: Vec<Listed>,
    false_flags: Vec<Listed>,
    background_flags: Vec<Listed>,
}

#[derive(Serialize)]
struct Report {
    dictionaries: String,
    half: String,
    files: Vec<FileReport>,
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn shorten(s: &str, n: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let lexicon = crate::load_lexicon(args.dictionaries.as_ref())?;
    let workers = crate::worker_count(args.workers);
    let half = args.half.as_deref();
    // Held-out examples are never shown.
    let show = if half == Some("test") { 0 } else { args.show };

    let mut files = Vec::new();
    for path in &args.labels {
        let input = crate::open_input(Some(path))?;
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut invalid: Vec<(usize, String)> = Vec::new();
        let mut other_half = 0usize;
        map_ordered(
            LineReader::new(input),
            workers,
            || Scorer::new(Arc::clone(&lexicon)),
            |scorer, batch| {
                let mut out = Vec::new();
                for (n, line) in batch.lines() {
                    let bytes = match line {
                        Line::TooLong(len) => {
                            out.push(Err((n, format!("line is {len} bytes, over the limit"))));
                            continue;
                        }
                        Line::Bytes(b) if b.iter().all(u8::is_ascii_whitespace) => continue,
                        Line::Bytes(b) => b,
                    };
                    out.push(evaluate(scorer, n, bytes, half));
                }
                out
            },
            |batch| {
                for r in batch {
                    match r {
                        Ok(Some(o)) => outcomes.push(o),
                        Ok(None) => other_half += 1,
                        Err(e) => invalid.push(e),
                    }
                }
                Ok(())
            },
        )
        .with_context(|| format!("reading {}", path.display()))?;
        for (n, msg) in &invalid {
            eprintln!("{}: line {n}: {msg}", path.display());
        }
        let mut report = build_report(&lexicon, &outcomes, show);
        report.file = path.display().to_string();
        report.invalid_lines = invalid.len();
        report.other_half = other_half;
        files.push(report);
    }

    let report = Report {
        dictionaries: args
            .dictionaries
            .as_ref()
            .map_or_else(|| "built-in".to_string(), |d| d.display().to_string()),
        half: half.unwrap_or("all").to_string(),
        files,
    };
    let stdout = io::stdout();
    let mut w = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut w, &report)?;
        writeln!(w)?;
    } else {
        print_report(&mut w, &report)?;
    }

    let mut ok = true;
    for f in &report.files {
        if let (Some(min), Some(r)) = (args.min_recall, f.incident_recall)
            && r < min
        {
            eprintln!(
                "yuqing eval: {}: incident recall {r:.3} is below --min-recall {min}",
                f.file
            );
            ok = false;
        }
        if let (Some(max), Some(r)) = (args.max_false_flags, f.false_flag_rate)
            && r > max
        {
            eprintln!(
                "yuqing eval: {}: false-flag rate {r:.3} is above --max-false-flags {max}",
                f.file
            );
            ok = false;
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Scores one line; `Ok(None)` when it belongs to the half left out.
fn evaluate(
    scorer: &mut Scorer,
    line: usize,
    bytes: &[u8],
    half: Option<&str>,
) -> Result<Option<Outcome>, (usize, String)> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| (line, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    let l: Labelled = serde_json::from_str(text).map_err(|e| (line, format!("{e}")))?;
    if let Some(want) = half
        && half_of(l.id.as_deref().unwrap_or(&l.text)) != want
    {
        return Ok(None);
    }
    let lexicon = scorer.lexicon();
    let expected = match &l.expected {
        None => None,
        Some(ids) => {
            let mut expected = Vec::new();
            for id in ids {
                match lexicon.category_index(id) {
                    Some(c) => expected.push(c),
                    None => {
                        let known: Vec<&str> =
                            lexicon.categories().iter().map(|c| c.id.as_str()).collect();
                        return Err((
                            line,
                            format!(
                                "unknown category `{id}` in `expected` (known: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
            Some(expected)
        }
    };
    let Matches { lexicon, scratch } = scorer.matches(&l.text);
    let flagged: Vec<u16> = scratch.flagged().iter().map(|f| f.category).collect();
    let focus: Vec<u16> = match &expected {
        Some(e) if !e.is_empty() => e.clone(),
        _ => flagged.iter().take(1).copied().collect(),
    };
    let detail = focus
        .iter()
        .map(|&c| {
            let terms: Vec<&str> = scratch.terms(lexicon, c).collect();
            (
                scratch.score(lexicon, c),
                format!("{}: {}", lexicon.category(c).id, terms.join(" ")),
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((0.0, String::new()));
    Ok(Some(Outcome {
        line,
        id: l.id.unwrap_or_else(|| format!("line {line}")),
        form: form_of(l.text.chars().count()),
        text: l.text,
        expected,
        flagged,
        detail,
    }))
}

#[derive(Default, Clone, Copy)]
struct Tallies {
    incidents: usize,
    caught: usize,
    quiet: usize,
    false_flagged: usize,
    unlabelled: usize,
    background_flagged: usize,
}

fn build_report(lexicon: &Lexicon, outcomes: &[Outcome], show: usize) -> FileReport {
    let n = lexicon.categories().len();
    let mut counts: Vec<Counts> = (0..n).map(|_| Counts::default()).collect();
    let mut category_false_flags = vec![0usize; n];
    let mut all = Tallies::default();
    let mut by_form = [Tallies::default(); FORMS.len()];
    let mut misses = Vec::new();
    let mut false_flags = Vec::new();
    let mut background = Vec::new();
    for o in outcomes {
        let form = &mut by_form[o.form];
        let Some(expected) = &o.expected else {
            for t in [&mut all, form] {
                t.unlabelled += 1;
                t.background_flagged += usize::from(!o.flagged.is_empty());
            }
            if !o.flagged.is_empty() {
                background.push(o);
            }
            continue;
        };
        for &c in &o.flagged {
            if expected.contains(&c) {
                counts[c as usize].tp += 1;
            } else {
                counts[c as usize].fp += 1;
            }
        }
        for &c in expected {
            if !o.flagged.contains(&c) {
                counts[c as usize].fn_ += 1;
            }
        }
        if expected.is_empty() {
            for &c in &o.flagged {
                category_false_flags[c as usize] += 1;
            }
            for t in [&mut all, form] {
                t.quiet += 1;
                t.false_flagged += usize::from(!o.flagged.is_empty());
            }
            if !o.flagged.is_empty() {
                false_flags.push(o);
            }
        } else {
            let caught = expected.iter().any(|c| o.flagged.contains(c));
            for t in [&mut all, form] {
                t.incidents += 1;
                t.caught += usize::from(caught);
            }
            if !caught {
                misses.push(o);
            }
        }
    }
    // Misses with the least signal first (they need new terms); false
    // flags with the highest score first (the most confident mistakes).
    misses.sort_by(|a, b| a.detail.0.total_cmp(&b.detail.0).then(a.line.cmp(&b.line)));
    false_flags.sort_by(|a, b| b.detail.0.total_cmp(&a.detail.0).then(a.line.cmp(&b.line)));
    background.sort_by(|a, b| b.detail.0.total_cmp(&a.detail.0).then(a.line.cmp(&b.line)));
    let ids =
        |v: &[u16]| -> Vec<String> { v.iter().map(|&c| lexicon.category(c).id.clone()).collect() };
    let listed = |o: &&Outcome| Listed {
        line: o.line,
        id: o.id.clone(),
        expected: ids(o.expected.as_deref().unwrap_or_default()),
        flagged: ids(&o.flagged),
        score: (o.detail.0 * 100.0).round() / 100.0,
        terms: o.detail.1.clone(),
        text: shorten(&o.text, 90),
    };
    FileReport {
        file: String::new(),
        posts: outcomes.len(),
        incidents: all.incidents,
        non_incidents: all.quiet,
        unlabelled: all.unlabelled,
        invalid_lines: 0,
        other_half: 0,
        incident_recall: ratio(all.caught, all.incidents),
        false_flag_rate: ratio(all.false_flagged, all.quiet),
        flagged_share: ratio(all.background_flagged, all.unlabelled),
        forms: FORMS
            .iter()
            .zip(by_form)
            .map(|(&(form, max), t)| FormReport {
                form,
                max_chars: (max != usize::MAX).then_some(max),
                incidents: t.incidents,
                incident_recall: ratio(t.caught, t.incidents),
                non_incidents: t.quiet,
                false_flag_rate: ratio(t.false_flagged, t.quiet),
                unlabelled: t.unlabelled,
                flagged_share: ratio(t.background_flagged, t.unlabelled),
            })
            .collect(),
        categories: lexicon
            .categories()
            .iter()
            .zip(counts)
            .zip(category_false_flags)
            .map(|((c, k), ff)| CategoryReport {
                id: c.id.clone(),
                precision: ratio(k.tp, k.tp + k.fp),
                recall: ratio(k.tp, k.tp + k.fn_),
                false_flag_rate: ratio(ff, all.quiet),
                counts: k,
            })
            .collect(),
        misses: misses.iter().take(show).map(listed).collect(),
        false_flags: false_flags.iter().take(show).map(listed).collect(),
        background_flags: background.iter().take(show).map(listed).collect(),
    }
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

/// `0.750 (3/4)`, or `-` when there is nothing to count.
fn share(x: Option<f64>, of: usize) -> String {
    match x {
        Some(v) => format!("{v:.3} ({}/{of})", (v * of as f64).round() as usize),
        None => "-".to_string(),
    }
}

fn print_report(w: &mut impl Write, r: &Report) -> io::Result<()> {
    for f in &r.files {
        print_file(w, f, r)?;
        writeln!(w)?;
    }
    if r.files.len() > 1 {
        writeln!(
            w,
            "summary ({} half; dictionaries: {})",
            r.half, r.dictionaries
        )?;
        writeln!(
            w,
            "{:<44} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "file", "posts", "recall", "headline", "lead", "article", "flagged"
        )?;
        for f in &r.files {
            let name = std::path::Path::new(&f.file)
                .file_name()
                .map_or_else(|| f.file.clone(), |n| n.to_string_lossy().into_owned());
            // Non-incidents: the false-flag rate; background: the flagged share.
            let flagged = f.false_flag_rate.or(f.flagged_share);
            writeln!(
                w,
                "{:<44} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
                shorten(&name, 44),
                f.posts,
                fmt(f.incident_recall),
                fmt(f.forms[0].incident_recall),
                fmt(f.forms[1].incident_recall),
                fmt(f.forms[2].incident_recall),
                fmt(flagged)
            )?;
        }
    }
    Ok(())
}

fn print_file(w: &mut impl Write, f: &FileReport, r: &Report) -> io::Result<()> {
    writeln!(
        w,
        "yuqing eval: {} ({} posts: {} incidents, {} non-incidents, {} unlabelled, {} invalid lines; {} half{}); dictionaries: {}",
        f.file,
        f.posts,
        f.incidents,
        f.non_incidents,
        f.unlabelled,
        f.invalid_lines,
        r.half,
        if f.other_half > 0 {
            format!(", {} posts of the other half left out", f.other_half)
        } else {
            String::new()
        },
        r.dictionaries
    )?;
    if f.incidents > 0 || f.non_incidents > 0 {
        writeln!(w)?;
        writeln!(
            w,
            "{:<14} {:>9} {:>7} {:>5} {:>5} {:>5} {:>11}",
            "category", "precision", "recall", "tp", "fp", "fn", "false flags"
        )?;
        for c in &f.categories {
            if c.counts.tp + c.counts.fp + c.counts.fn_ == 0 {
                continue;
            }
            writeln!(
                w,
                "{:<14} {:>9} {:>7} {:>5} {:>5} {:>5} {:>11}",
                c.id,
                fmt(c.precision),
                fmt(c.recall),
                c.counts.tp,
                c.counts.fp,
                c.counts.fn_,
                fmt(c.false_flag_rate)
            )?;
        }
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:<10} {:>22} {:>22} {:>22}",
        "form", "incident recall", "false-flag rate", "background flagged"
    )?;
    for form in &f.forms {
        let label = match form.max_chars {
            Some(m) => format!("{} ≤{m}", form.form),
            None => form.form.to_string(),
        };
        writeln!(
            w,
            "{:<10} {:>22} {:>22} {:>22}",
            label,
            share(form.incident_recall, form.incidents),
            share(form.false_flag_rate, form.non_incidents),
            share(form.flagged_share, form.unlabelled)
        )?;
    }
    writeln!(w)?;
    if f.incidents > 0 {
        writeln!(
            w,
            "incident recall  {}  ({}/{}: incidents flagged with at least one expected category)",
            fmt(f.incident_recall),
            f.incident_recall
                .map_or(0, |x| (x * f.incidents as f64).round() as usize),
            f.incidents
        )?;
    }
    if f.non_incidents > 0 {
        writeln!(
            w,
            "false-flag rate  {}  ({}/{}: non-incidents flagged with any category)",
            fmt(f.false_flag_rate),
            f.false_flag_rate
                .map_or(0, |x| (x * f.non_incidents as f64).round() as usize),
            f.non_incidents
        )?;
    }
    if f.unlabelled > 0 {
        writeln!(
            w,
            "flagged share    {}  ({}/{}: unlabelled posts flagged with any category)",
            fmt(f.flagged_share),
            f.flagged_share
                .map_or(0, |x| (x * f.unlabelled as f64).round() as usize),
            f.unlabelled
        )?;
    }
    if r.half == "test" {
        writeln!(
            w,
            "(held-out half: its misses and false flags are not listed)"
        )?;
    }
    print_examples(w, f)
}

/// The misses, false flags and flagged background posts listed.
fn print_examples(w: &mut impl Write, f: &FileReport) -> io::Result<()> {
    if !f.misses.is_empty() {
        writeln!(
            w,
            "\nworst misses (incidents not flagged with an expected category; least signal first):"
        )?;
        for m in &f.misses {
            writeln!(
                w,
                "  line {} {} expected [{}] flagged [{}] best {} ({})\n      {}",
                m.line,
                m.id,
                m.expected.join(","),
                m.flagged.join(","),
                m.score,
                m.terms,
                m.text
            )?;
        }
    }
    for (title, list) in [
        (
            "false flags (non-incidents flagged; highest score first):",
            &f.false_flags,
        ),
        (
            "flagged background posts (unlabelled; highest score first):",
            &f.background_flags,
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        writeln!(w, "\n{title}")?;
        for m in list {
            writeln!(
                w,
                "  line {} {} flagged [{}] score {} ({})\n      {}",
                m.line,
                m.id,
                m.flagged.join(","),
                m.score,
                m.terms,
                m.text
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_split_at_40_and_200_characters() {
        assert_eq!(FORMS[form_of(1)].0, "headline");
        assert_eq!(FORMS[form_of(40)].0, "headline");
        assert_eq!(FORMS[form_of(41)].0, "lead");
        assert_eq!(FORMS[form_of(200)].0, "lead");
        assert_eq!(FORMS[form_of(201)].0, "article");
    }

    #[test]
    fn halves_are_fixed_and_roughly_even() {
        let n = 10_000;
        for prefix in ["post-", "fire-0", "x"] {
            let dev = (0..n)
                .filter(|i| half_of(&format!("{prefix}{i}")) == "dev")
                .count();
            assert!((4_500..5_500).contains(&dev), "{prefix}: {dev}");
        }
        let dev = (1..=30)
            .filter(|i| half_of(&format!("fire-{i:03}")) == "dev")
            .count();
        assert!((8..=22).contains(&dev), "{dev}");
        assert_eq!(half_of("post-1"), half_of("post-1"));
    }
}
