//! `yuqing eval`: the dictionaries against labelled posts.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use yuqing_lexicon::{Lexicon, Scratch};
use yuqing_text::Analyzed;

use crate::lines::{Line, LineReader, map_ordered};

/// Arguments of `yuqing eval`.
#[derive(clap::Args)]
pub struct Args {
    /// JSONL with `text` and `expected` (category ids of which at least one
    /// should be flagged; `[]` for posts that must not be flagged); `id`
    /// is optional.
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,
    /// Dictionary directory (default: the built-in dictionaries).
    #[arg(long, value_name = "DIR")]
    pub dictionaries: Option<PathBuf>,
    /// How many misses and false flags to list.
    #[arg(long, value_name = "N", default_value_t = 15)]
    pub show: usize,
    /// Print the report as one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 if the incident recall is below this.
    #[arg(long, value_name = "R")]
    pub min_recall: Option<f64>,
    /// Exit 1 if the false-flag rate is above this.
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
    expected: Vec<String>,
}

/// One evaluated post.
struct Outcome {
    line: usize,
    id: String,
    text: String,
    expected: Vec<u16>,
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
    #[serde(flatten)]
    counts: Counts,
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
struct Report {
    posts: usize,
    incidents: usize,
    non_incidents: usize,
    invalid_lines: usize,
    incident_recall: Option<f64>,
    false_flag_rate: Option<f64>,
    categories: Vec<CategoryReport>,
    misses: Vec<Listed>,
    false_flags: Vec<Listed>,
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
    let input = crate::open_input(Some(&args.labels))?;
    let workers = crate::worker_count(args.workers);
    let known: Vec<&str> = lexicon.categories().iter().map(|c| c.id.as_str()).collect();

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut invalid: Vec<(usize, String)> = Vec::new();
    map_ordered(
        LineReader::new(input),
        workers,
        || (Scratch::new(&lexicon), Analyzed::default()),
        |(scratch, analyzed), batch| {
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
                out.push(evaluate(&lexicon, scratch, analyzed, n, bytes));
            }
            out
        },
        |batch| {
            for r in batch {
                match r {
                    Ok(o) => outcomes.push(o),
                    Err(e) => invalid.push(e),
                }
            }
            Ok(())
        },
    )
    .with_context(|| format!("reading {}", args.labels.display()))?;
    for (n, msg) in &invalid {
        eprintln!("line {n}: {msg}");
    }

    let report = build_report(&lexicon, &outcomes, invalid.len(), args.show);
    let stdout = io::stdout();
    let mut w = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut w, &report)?;
        writeln!(w)?;
    } else {
        print_report(
            &mut w,
            &report,
            &args.labels,
            args.dictionaries.as_ref(),
            &known,
        )?;
    }

    let mut ok = true;
    if let (Some(min), Some(r)) = (args.min_recall, report.incident_recall)
        && r < min
    {
        eprintln!("yuqing eval: incident recall {r:.3} is below --min-recall {min}");
        ok = false;
    }
    if let (Some(max), Some(r)) = (args.max_false_flags, report.false_flag_rate)
        && r > max
    {
        eprintln!("yuqing eval: false-flag rate {r:.3} is above --max-false-flags {max}");
        ok = false;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn evaluate(
    lexicon: &Lexicon,
    scratch: &mut Scratch,
    analyzed: &mut Analyzed,
    line: usize,
    bytes: &[u8],
) -> Result<Outcome, (usize, String)> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| (line, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    let l: Labelled = serde_json::from_str(text).map_err(|e| (line, format!("{e}")))?;
    let mut expected = Vec::new();
    for id in &l.expected {
        match lexicon.category_index(id) {
            Some(c) => expected.push(c),
            None => {
                let known: Vec<&str> = lexicon.categories().iter().map(|c| c.id.as_str()).collect();
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
    lexicon.analyzer().analyze_into(&l.text, analyzed);
    lexicon.score_into(analyzed, scratch);
    let flagged: Vec<u16> = scratch.flagged().iter().map(|f| f.category).collect();
    let focus: Vec<u16> = if expected.is_empty() {
        flagged.iter().take(1).copied().collect()
    } else {
        expected.clone()
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
    Ok(Outcome {
        line,
        id: l.id.unwrap_or_else(|| format!("line {line}")),
        text: l.text,
        expected,
        flagged,
        detail,
    })
}

fn build_report(lexicon: &Lexicon, outcomes: &[Outcome], invalid: usize, show: usize) -> Report {
    let n = lexicon.categories().len();
    let mut counts: Vec<Counts> = (0..n).map(|_| Counts::default()).collect();
    let (mut incidents, mut caught, mut quiet, mut false_flagged) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    let mut false_flags = Vec::new();
    for o in outcomes {
        for &c in &o.flagged {
            if o.expected.contains(&c) {
                counts[c as usize].tp += 1;
            } else {
                counts[c as usize].fp += 1;
            }
        }
        for &c in &o.expected {
            if !o.flagged.contains(&c) {
                counts[c as usize].fn_ += 1;
            }
        }
        if o.expected.is_empty() {
            quiet += 1;
            if !o.flagged.is_empty() {
                false_flagged += 1;
                false_flags.push(o);
            }
        } else {
            incidents += 1;
            if o.expected.iter().any(|c| o.flagged.contains(c)) {
                caught += 1;
            } else {
                misses.push(o);
            }
        }
    }
    // Misses with the least signal first (they need new terms); false
    // flags with the highest score first (the most confident mistakes).
    misses.sort_by(|a, b| a.detail.0.total_cmp(&b.detail.0).then(a.line.cmp(&b.line)));
    false_flags.sort_by(|a, b| b.detail.0.total_cmp(&a.detail.0).then(a.line.cmp(&b.line)));
    let ids =
        |v: &[u16]| -> Vec<String> { v.iter().map(|&c| lexicon.category(c).id.clone()).collect() };
    let listed = |o: &&Outcome| Listed {
        line: o.line,
        id: o.id.clone(),
        expected: ids(&o.expected),
        flagged: ids(&o.flagged),
        score: (o.detail.0 * 100.0).round() / 100.0,
        terms: o.detail.1.clone(),
        text: shorten(&o.text, 90),
    };
    Report {
        posts: outcomes.len(),
        incidents,
        non_incidents: quiet,
        invalid_lines: invalid,
        incident_recall: ratio(caught, incidents),
        false_flag_rate: ratio(false_flagged, quiet),
        categories: lexicon
            .categories()
            .iter()
            .zip(counts)
            .map(|(c, k)| CategoryReport {
                id: c.id.clone(),
                precision: ratio(k.tp, k.tp + k.fp),
                recall: ratio(k.tp, k.tp + k.fn_),
                counts: k,
            })
            .collect(),
        misses: misses.iter().take(show).map(listed).collect(),
        false_flags: false_flags.iter().take(show).map(listed).collect(),
    }
}

fn print_report(
    w: &mut impl Write,
    r: &Report,
    labels: &std::path::Path,
    dictionaries: Option<&PathBuf>,
    _known: &[&str],
) -> io::Result<()> {
    let fmt = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    writeln!(
        w,
        "yuqing eval: {} ({} posts: {} incidents, {} non-incidents, {} invalid lines); dictionaries: {}",
        labels.display(),
        r.posts,
        r.incidents,
        r.non_incidents,
        r.invalid_lines,
        dictionaries.map_or_else(|| "built-in".to_string(), |d| d.display().to_string())
    )?;
    writeln!(w)?;
    writeln!(
        w,
        "{:<14} {:>9} {:>7} {:>5} {:>5} {:>5}",
        "category", "precision", "recall", "tp", "fp", "fn"
    )?;
    for c in &r.categories {
        writeln!(
            w,
            "{:<14} {:>9} {:>7} {:>5} {:>5} {:>5}",
            c.id,
            fmt(c.precision),
            fmt(c.recall),
            c.counts.tp,
            c.counts.fp,
            c.counts.fn_
        )?;
    }
    writeln!(w)?;
    let caught = r
        .incident_recall
        .map_or(0, |x| (x * r.incidents as f64).round() as usize);
    let flagged = r
        .false_flag_rate
        .map_or(0, |x| (x * r.non_incidents as f64).round() as usize);
    writeln!(
        w,
        "incident recall  {}  ({caught}/{}: incidents flagged with at least one expected category)",
        fmt(r.incident_recall),
        r.incidents
    )?;
    writeln!(
        w,
        "false-flag rate  {}  ({flagged}/{}: non-incidents flagged with any category)",
        fmt(r.false_flag_rate),
        r.non_incidents
    )?;
    if !r.misses.is_empty() {
        writeln!(
            w,
            "\nworst misses (incidents not flagged with an expected category; least signal first):"
        )?;
        for m in &r.misses {
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
    if !r.false_flags.is_empty() {
        writeln!(
            w,
            "\nfalse flags (non-incidents flagged; highest score first):"
        )?;
        for m in &r.false_flags {
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
