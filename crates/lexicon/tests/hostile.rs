//! Hostile input: long posts made of one incident phrase repeated are
//! scored with work that grows linearly with their length (counted by the
//! scratch, not timed), and with the same outcome as a few repeats.

use yuqing_lexicon::{Lexicon, Scratch};

/// Phrases a hostile producer could repeat: negated incidents, incident
/// heads, casualty counts, region names, titles, scare quotes, codes.
const PHRASES: &[&str] = &[
    "没有发生火灾",
    "发生爆炸",
    "3人死亡",
    "大火致3人死亡",
    "滁州",
    "滁州合肥南京广州衡阳县",
    "滁州一化工厂发生爆炸，造成3人死亡，未造成人员受伤。",
    "“地震”",
    "《唐山大地震》",
    "(600519)暴跌爆炸",
    "食物中毒送医",
    "中毒送医",
    "2019-ncov疫情",
];

struct Outcome {
    work: u64,
    flagged: Vec<(String, Vec<String>)>,
    regions: Vec<String>,
    severity: Option<yuqing_lexicon::SeverityOutcome>,
}

fn score(l: &Lexicon, s: &mut Scratch, text: &str) -> Outcome {
    let a = l.analyzer().analyze(text);
    l.score_into(&a, s);
    Outcome {
        work: s.work(),
        flagged: s
            .flagged()
            .iter()
            .map(|f| {
                (
                    l.categories()[f.category as usize].id.clone(),
                    s.terms(l, f.category).map(str::to_string).collect(),
                )
            })
            .collect(),
        regions: s
            .regions()
            .iter()
            .map(|&r| l.regions()[r as usize].name.clone())
            .collect(),
        severity: s.severity(),
    }
}

#[test]
fn repeated_phrases_are_scored_with_linear_work_and_the_outcome_of_a_few() {
    let l = Lexicon::builtin().expect("shipped dictionaries compile");
    let mut s = Scratch::new(&l);
    for phrase in PHRASES {
        // 24 KB (posts may have up to 64 KB; the debug build is slow).
        let long_n = 24 * 1024 / phrase.len();
        let short = score(&l, &mut s, &phrase.repeat(long_n / 8));
        let long = score(&l, &mut s, &phrase.repeat(long_n));
        // Eight times the text, about eight times the work: linear, not
        // quadratic (64 times).
        assert!(
            long.work <= short.work * 10 + 1000,
            "{phrase}: {} units of work for {long_n} repeats, {} for {}",
            long.work,
            short.work,
            long_n / 8
        );
        // Every distinct term counts once, so repeating does not change
        // what is found.
        let few = score(&l, &mut s, &phrase.repeat(8));
        assert_eq!(long.flagged, few.flagged, "{phrase}");
        assert_eq!(long.regions, few.regions, "{phrase}");
        assert_eq!(long.severity, few.severity, "{phrase}");
    }
}

#[test]
fn a_term_repeated_past_the_cap_costs_only_its_finding() {
    // Up to 512 occurrences of a term each get their context examined;
    // beyond, an occurrence costs its finding alone, so a post of one
    // phrase repeated to the size limit is cheap per character.
    let l = Lexicon::builtin().expect("shipped dictionaries compile");
    let mut s = Scratch::new(&l);
    let phrase = "中毒送医";
    let work = |s: &mut Scratch, n: usize| score(&l, s, &phrase.repeat(n)).work;
    let below = (work(&mut s, 400) - work(&mut s, 200)) as f64 / 200.0;
    let above = (work(&mut s, 4800) - work(&mut s, 2400)) as f64 / 2400.0;
    assert!(
        above * 3.0 < below,
        "work per repeat: {below:.1} below the cap, {above:.1} above it"
    );
}
