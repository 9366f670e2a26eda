//! `yuqing dict`: dictionary tools.

use std::path::PathBuf;
use std::process::ExitCode;

use yuqing_lexicon::{DictSource, Lexicon};

/// `yuqing dict …` subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Validate a dictionary directory (default: the built-in one); every
    /// error is reported with file, line, column and term.
    Check {
        /// The directory of `*.toml` dictionary files.
        dir: Option<PathBuf>,
    },
    /// List the categories of a dictionary directory with their thresholds
    /// and term counts.
    List {
        /// The directory (default: the built-in dictionaries).
        dir: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let (dir, list) = match command {
        Command::Check { dir } => (dir, false),
        Command::List { dir } => (dir, true),
    };
    let sources = match &dir {
        Some(d) => DictSource::read_dir(d),
        None => Ok(DictSource::builtin()),
    };
    let where_ = dir.as_ref().map_or_else(
        || "built-in dictionaries".to_string(),
        |d| d.display().to_string(),
    );
    let compiled = sources.and_then(|s| Lexicon::compile(&s));
    match compiled {
        Ok(lexicon) => {
            let s = lexicon.stats();
            if list {
                // Columns as wide as their widest value, in terminal
                // columns.
                let categories = lexicon.categories();
                let widest = |header: &str, f: fn(&yuqing_lexicon::Category) -> &str| {
                    categories
                        .iter()
                        .map(|c| width(f(c)))
                        .chain([width(header)])
                        .max()
                        .unwrap_or(0)
                };
                let w_id = widest("id", |c| &c.id);
                let w_zh = widest("name", |c| &c.name_zh);
                let w_en = widest("english", |c| &c.name_en);
                println!(
                    "{} {} {} {:>9} {:>6}",
                    pad("id", w_id),
                    pad("name", w_zh),
                    pad("english", w_en),
                    "threshold",
                    "terms"
                );
                for c in categories {
                    println!(
                        "{} {} {} {:>9} {:>6}",
                        pad(&c.id, w_id),
                        pad(&c.name_zh, w_zh),
                        pad(&c.name_en, w_en),
                        c.threshold,
                        c.terms
                    );
                }
            }
            // One-character terms match almost everywhere and switch off the
            // automaton's two-character prefilter for every post.
            for p in lexicon.primary_patterns() {
                if p.chars().count() == 1 {
                    eprintln!(
                        "warning: one-character term or region `{p}`: it slows the scan of every post and is rarely unambiguous; prefer the words it appears in"
                    );
                }
            }
            println!(
                "ok: {where_}: {} categories, {} terms, {} regions, {} context sets, {} automaton patterns ({} words new to jieba)",
                s.categories,
                s.terms,
                s.regions,
                s.context_sets,
                s.patterns,
                s.segmenter_words_added
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in errors.errors() {
                eprintln!("{e}");
            }
            let n = errors.errors().len();
            eprintln!("{where_}: {n} error{}", if n == 1 { "" } else { "s" });
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `s` padded with spaces to `width` terminal columns (a Chinese character
/// takes two), so that columns line up after Chinese names.
fn pad(s: &str, columns: usize) -> String {
    format!("{s}{}", " ".repeat(columns.saturating_sub(width(s))))
}

/// Terminal columns of `s`.
fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}
