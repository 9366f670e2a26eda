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
                println!(
                    "{:<14} {:<10} {:<20} {:>9} {:>6}",
                    "id", "name", "english", "threshold", "terms"
                );
                for c in lexicon.categories() {
                    println!(
                        "{:<14} {:<10} {:<20} {:>9} {:>6}",
                        c.id, c.name_zh, c.name_en, c.threshold, c.terms
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
