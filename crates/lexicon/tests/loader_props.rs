//! The dictionary loader on arbitrary bytes and on near-valid files: it
//! never panics, and every error names the file it is about (and a line
//! inside it, when it gives one).

use proptest::prelude::*;
use yuqing_lexicon::{DictSource, Lexicon};

const SHARED: &str = "[sets]\nnegation = [\"没有\", \"未\"]\n\n[severity]\ndead = [\"死亡\"]\n";
const REGIONS: &str = "[[province]]\nname = \"安徽省|安徽\"\ndivisions = [\"滁州市|滁州\"]\n";
const FIRE: &str = "[category]\nid = \"fire\"\nname_zh = \"火灾\"\nname_en = \"Fire\"\nthreshold = 2.0\nunless_before = [\"@negation\"]\n\n[[group]]\nweight = 2.0\nterms = [\"火灾\", \"起火\"]\n";

/// Pieces that make a valid file nearly valid: TOML punctuation, wrong
/// types, bad numbers, unknown sets and keys, traditional characters.
const PIECES: &[&str] = &[
    "\"",
    "[",
    "]",
    "[[",
    "]]",
    "=",
    ",",
    "\n",
    "#",
    "{",
    "}",
    "@nope",
    "-1",
    "1e99",
    "nan",
    "inf",
    "0",
    "\"火災\"",
    "\"\"",
    "[[group]]",
    "weight = ",
    "terms = ",
    "threshold = ",
    "window = 9999",
    "wieght = 1",
    "\"a|b|\"",
    "|",
    "true",
    "\u{0}",
    "\u{feff}",
    "火",
    "'''",
];

fn names_its_file(errors: &yuqing_lexicon::DictErrors, files: &[(&str, &str)]) {
    for e in errors.errors() {
        let file = files.iter().find(|(name, _)| *name == e.file);
        let Some((_, text)) = file else {
            panic!("error names no file of the set: {e}");
        };
        assert!(!e.message.trim().is_empty(), "{e}");
        assert!(
            e.line <= text.lines().count() + 1,
            "line {} of a {}-line file: {e}",
            e.line,
            text.lines().count()
        );
    }
}

/// `text` with the pieces inserted at the given places (on character
/// boundaries) and the given character ranges removed.
fn mutate(text: &str, edits: &[(usize, usize, usize)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, remove, piece) in edits {
        let at = at % (chars.len() + 1);
        let end = (at + remove % 4).min(chars.len());
        chars.drain(at..end);
        let piece: Vec<char> = PIECES[piece % PIECES.len()].chars().collect();
        chars.splice(at..at, piece);
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn near_valid_files_never_panic_and_errors_name_the_file(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 1..4),
    ) {
        let mut files = [
            ("shared.toml", SHARED.to_string()),
            ("regions.toml", REGIONS.to_string()),
            ("fire.toml", FIRE.to_string()),
        ];
        files[which].1 = mutate(&files[which].1, &edits);
        let sources: Vec<DictSource> = files
            .iter()
            .map(|(n, t)| DictSource { name: n.to_string(), text: t.clone() })
            .collect();
        if let Err(errors) = Lexicon::compile(&sources) {
            let named: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
            names_its_file(&errors, &named);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_name_the_file(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shared.toml"), SHARED).unwrap();
        std::fs::write(dir.path().join("regions.toml"), REGIONS).unwrap();
        let fire = dir.path().join("fire.toml");
        std::fs::write(&fire, &bytes).unwrap();
        let errors = Lexicon::from_dir(dir.path()).expect_err("random bytes are no category");
        let text = String::from_utf8_lossy(&bytes);
        names_its_file(&errors, &[(fire.to_str().unwrap(), &text)]);
    }
}
