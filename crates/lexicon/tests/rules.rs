//! The matching rules, through the public API, on small dictionaries
//! written here (so the tests do not depend on the shipped dictionaries'
//! contents), plus a few checks of the shipped ones.

use yuqing_lexicon::{DictSource, Lexicon, Scratch};
use yuqing_model::Level;

fn src(name: &str, text: &str) -> DictSource {
    DictSource {
        name: name.to_string(),
        text: text.to_string(),
    }
}

const SHARED: &str = r#"
[sets]
drill = ["演练", "演习"]
negation = ["没有", "未", "并未"]

[severity]
dead = ["死亡", "遇难", "死"]
injured = ["受伤", "伤"]
missing = ["失联"]
trapped = ["被困"]

[[severity.cue]]
level = "red"
terms = ["红色预警"]

[[severity.cue]]
level = "yellow"
terms = ["疏散"]
"#;

const EXPLOSION: &str = r#"
[category]
id = "explosion"
name_zh = "爆炸"
name_en = "Explosion"
threshold = 2.0
unless_any = ["@drill", "爆炸性新闻"]
unless_before = ["@negation"]

[[group]]
weight = 2.0
terms = ["爆炸", "闪爆"]

[[group]]
weight = 1.0
requires_any = ["化工", "氯气", "氨", "燃气"]
terms = ["泄漏"]

[[group]]
weight = 1.0
terms = ["巨响"]

[[group]]
weight = 0.5
support = true
terms = ["现场", "消防"]

[[group]]
weight = 2.0
severity = "orange"
terms = ["特大爆炸"]
"#;

const REGIONS: &str = r#"
[[province]]
name = "安徽省|安徽"
divisions = ["滁州市|滁州", "合肥市|合肥"]
"#;

fn lexicon() -> Lexicon {
    Lexicon::compile(&[
        src("shared.toml", SHARED),
        src("explosion.toml", EXPLOSION),
        src("regions.toml", REGIONS),
    ])
    .expect("test dictionaries compile")
}

struct Outcome {
    score: f32,
    flagged: bool,
    terms: Vec<String>,
    regions: Vec<String>,
    severity: Option<yuqing_lexicon::SeverityOutcome>,
}

fn score(l: &Lexicon, text: &str) -> Outcome {
    let mut s = Scratch::new(l);
    let a = l.analyzer().analyze(text);
    l.score_into(&a, &mut s);
    Outcome {
        score: s.score(l, 0),
        flagged: s.flagged().iter().any(|f| f.category == 0),
        terms: s.terms(l, 0).map(str::to_string).collect(),
        regions: s
            .regions()
            .iter()
            .map(|&r| l.regions()[r as usize].name.clone())
            .collect(),
        severity: s.severity(),
    }
}

#[test]
fn a_term_counts_only_on_token_boundaries() {
    let l = lexicon();
    // 爆炸性 is one jieba token: 爆炸 inside it is no explosion.
    let o = score(&l, "这是一条爆炸性的消息");
    assert!(!o.flagged, "{:?}", o.terms);
    assert_eq!(o.score, 0.0);
    // 发生爆炸 is one jieba token too, but 发生 + 爆炸 are both words.
    let o = score(&l, "某化工厂发生爆炸");
    assert!(o.flagged);
    assert_eq!(o.terms, vec!["爆炸"]);
}

#[test]
fn requires_any_needs_its_context_within_the_window() {
    let l = lexicon();
    let near = score(&l, "一处燃气管道泄漏，巨响传来");
    assert!(near.flagged, "{:?}", near.terms);
    assert!(near.terms.contains(&"泄漏".to_string()));
    // 泄漏 of a secret is no incident.
    let far = score(&l, "公司机密泄漏，巨响传来");
    assert!(!far.flagged, "{:?}", far.terms);
    assert_eq!(far.terms, vec!["巨响"]);
    // The context word must be within 20 characters (the default window).
    let text = format!("燃气{}泄漏，巨响", "的".repeat(30));
    assert!(!score(&l, &text).terms.contains(&"泄漏".to_string()));
}

#[test]
fn unless_any_suppresses_drills_and_figures_of_speech() {
    let l = lexicon();
    assert!(score(&l, "化工厂发生爆炸").flagged);
    let drill = score(&l, "消防队在化工厂开展爆炸应急演练");
    assert!(!drill.flagged, "{:?}", drill.terms);
    // The figure itself is listed as context: it overlaps the term.
    assert!(!score(&l, "爆炸性新闻").flagged);
}

#[test]
fn unless_before_suppresses_negated_terms_only_when_close() {
    let l = lexicon();
    assert!(!score(&l, "厂区没有发生爆炸").flagged);
    assert!(!score(&l, "厂区并未发生爆炸").flagged);
    // A negation further away does not reach the term.
    assert!(score(&l, "没有人想到工厂会突然爆炸").flagged);
    // 未 inside the word 未来 is not a negation.
    assert!(score(&l, "未来爆炸").flagged);
}

#[test]
fn support_terms_count_only_beside_a_main_term() {
    let l = lexicon();
    let o = score(&l, "消防赶到现场");
    assert_eq!(o.score, 0.0);
    assert!(o.terms.is_empty());
    // 巨响 (1.0) + support (0.5 + 0.5) reaches the threshold of 2.
    let o = score(&l, "一声巨响，消防赶到现场");
    assert!(o.flagged, "{:?}", o.terms);
    assert_eq!(o.score, 2.0);
    assert_eq!(o.terms, vec!["巨响", "消防", "现场"]);
}

#[test]
fn a_term_inside_a_longer_counted_term_is_the_same_mention() {
    let src_text = EXPLOSION.replace(
        "terms = [\"爆炸\", \"闪爆\"]",
        "terms = [\"爆炸\", \"闪爆\", \"燃气爆炸\"]",
    );
    let l = Lexicon::compile(&[
        src("shared.toml", SHARED),
        src("explosion.toml", &src_text),
        src("regions.toml", REGIONS),
    ])
    .unwrap();
    // 燃气爆炸 holds 爆炸: one mention, weight 2, not 4.
    let o = score(&l, "小区燃气爆炸");
    assert_eq!(o.terms, vec!["燃气爆炸"]);
    assert_eq!(o.score, 2.0);
    // A second, separate mention of 爆炸 is a second term.
    let o = score(&l, "小区燃气爆炸，随后又一次爆炸");
    assert_eq!(o.terms, vec!["燃气爆炸", "爆炸"]);
    assert_eq!(o.score, 4.0);
}

#[test]
fn each_distinct_term_counts_once() {
    let l = lexicon();
    let o = score(&l, "巨响，巨响，又是巨响");
    assert_eq!(o.score, 1.0);
    assert!(!o.flagged);
}

#[test]
fn traditional_text_scores_like_its_simplified_twin() {
    let l = lexicon();
    let simplified = score(&l, "滁州化工厂发生爆炸，现场3人死亡");
    let traditional = score(&l, "滁州化工廠發生爆炸，現場3人死亡");
    assert!(simplified.flagged);
    assert_eq!(simplified.score, traditional.score);
    assert_eq!(simplified.terms, traditional.terms);
    assert_eq!(simplified.regions, traditional.regions);
    assert_eq!(simplified.severity, traditional.severity);
    // Full-width and upper-case folding too.
    let wide = score(&l, "滁州化工厂发生爆炸，现场３人死亡");
    assert_eq!(wide.severity, simplified.severity);
}

#[test]
fn regions_bring_their_province_and_need_whole_tokens() {
    let l = lexicon();
    assert_eq!(score(&l, "滁州发生爆炸").regions, vec!["安徽省", "滁州市"]);
    assert_eq!(
        score(&l, "合肥和滁州市").regions,
        vec!["安徽省", "合肥市", "滁州市"]
    );
    assert!(score(&l, "今天天气不错").regions.is_empty());
}

#[test]
fn casualties_grade_the_level() {
    let l = lexicon();
    let sev = |t: &str| score(&l, t).severity.expect("flagged");
    let s = sev("化工厂爆炸造成3人死亡、12人受伤");
    assert_eq!((s.dead, s.injured, s.level), (3, 12, Level::Yellow));
    let s = sev("爆炸已致13死199伤");
    assert_eq!((s.dead, s.injured, s.level), (13, 199, Level::Red));
    let s = sev("爆炸事故遇难人数已上升至十二人");
    assert_eq!((s.dead, s.level), (12, Level::Orange));
    let s = sev("厂区爆炸，1人受伤，2人失联");
    assert_eq!((s.injured, s.missing, s.level), (1, 2, Level::Blue));
    // Deaths include the missing: 2 + 1 = 3 reaches yellow.
    let s = sev("厂区爆炸，2人死亡，1人失联");
    assert_eq!(s.level, Level::Yellow);
    // Cues and group severities raise the floor.
    assert_eq!(sev("气象台发布红色预警，化工厂爆炸").level, Level::Red);
    assert_eq!(sev("化工厂爆炸，周边居民紧急疏散").level, Level::Yellow);
    assert_eq!(sev("发生特大爆炸").level, Level::Orange);
    // No severity for a post that reports no incident.
    assert!(score(&l, "3人死亡").severity.is_none());
}

/// A fire category with the rules of the shipped ones: harm evidence,
/// head words, a domain suppressor.
const FIRE: &str = r#"
[category]
id = "fire"
name_zh = "火灾"
name_en = "Fire"
threshold = 2.0
unless_before = ["@negation"]
harm = 1.0
head_with = ["仓库", "小区", "发生", "某"]

[[group]]
weight = 2.0
terms = ["火灾", "起火"]

[[group]]
weight = 1.0
head = 2.0
unless_any = ["@sport"]
terms = ["大火", "浓烟"]

[[group]]
weight = 1.0
terms = ["火苗"]
"#;

const SHARED_HARM: &str = r#"
[sets]
negation = ["没有", "未"]
sport = ["比赛", "球队", "进球"]

[severity]
dead = ["死亡", "遇难"]
injured = ["受伤"]
harm = ["送医", "身亡", "人员伤亡"]
"#;

fn fire() -> Lexicon {
    Lexicon::compile(&[
        src("shared.toml", SHARED_HARM),
        src("fire.toml", FIRE),
        src("regions.toml", REGIONS),
    ])
    .expect("test dictionaries compile")
}

#[test]
fn harm_close_to_a_term_is_evidence_of_an_incident() {
    let l = fire();
    // 大火 (1.0) alone is not enough: it is also "very popular".
    assert!(!score(&l, "那部剧真是大火").flagged);
    // With a casualty count close by it is a fire report, headline or not.
    let o = score(&l, "那晚的大火过后，楼里住户三人遇难");
    assert!(o.flagged, "{:?}", o.terms);
    assert_eq!(o.score, 2.0);
    // In a headline the count is close enough to be head evidence too.
    assert_eq!(score(&l, "深夜大火 三人遇难").score, 3.0);
    assert!(score(&l, "昨夜城西一场大火致2人受伤").flagged);
    // A harm word needs no number.
    assert!(score(&l, "大火中一名老人身亡").flagged);
    assert!(score(&l, "火苗窜起，多名住户被送医").flagged);
    // A casualty word without a count is no harm (死亡 alone is too vague) …
    assert!(!score(&l, "大火与死亡的隐喻").flagged);
    // … nor is harm that is negated.
    assert!(!score(&l, "大火未造成人员伤亡").flagged);
    assert!(!score(&l, "大火，没有人员伤亡").flagged);
    // Harm far from the term does not count.
    let far = format!("大火，{}三人遇难", "的".repeat(30));
    assert!(!score(&l, &far).flagged);
}

#[test]
fn head_words_in_the_shape_of_a_headline_count_in_full() {
    let l = fire();
    // A head term with a place word, a region, a count or an incident verb
    // close by weighs its head weight.
    for text in [
        "城东仓库大火",
        "滁州大火",
        "两栋楼浓烟",
        "发生大火",
        "某小区浓烟",
    ] {
        let o = score(&l, text);
        assert!(o.flagged, "{text}: {:?}", o.terms);
        assert_eq!(o.score, 2.0, "{text}");
    }
    // Without it, it needs another sign.
    assert!(!score(&l, "好大的浓烟").flagged);
    // Evidence further than the head window (4 characters) does not count.
    assert!(!score(&l, "仓库旁边的那条街上浓烟").flagged);
    // Terms without `head` do not take it.
    assert!(!score(&l, "仓库火苗").flagged);
    // Domain suppressors still apply (球队大火: a team on fire).
    assert!(!score(&l, "滁州球队大火").flagged);
}

#[test]
fn domain_suppressors_keep_figures_apart_from_reports() {
    let l = fire();
    assert!(score(&l, "某小区大火").flagged);
    assert!(!score(&l, "比赛中球队大火").flagged);
    // Suppressors of one group leave the others alone.
    assert!(score(&l, "比赛期间体育馆起火").flagged);
}

#[test]
fn regions_survive_the_shapes_of_headlines() {
    let l = fire();
    let regions = |t: &str| score(&l, t).regions;
    // 某 and 一 after a name, and administrative suffixes.
    assert_eq!(regions("滁州某仓库起火"), vec!["安徽省", "滁州市"]);
    assert_eq!(regions("滁州一仓库起火"), vec!["安徽省", "滁州市"]);
    assert_eq!(regions("滁州县城一仓库起火"), vec!["安徽省", "滁州市"]);
    // A province and a prefecture written together.
    assert_eq!(regions("安徽滁州发生火灾"), vec!["安徽省", "滁州市"]);
}

#[test]
fn topic_words_suppress_across_a_passage_and_figures_only_nearby() {
    let text = |gap: usize| format!("消防队开展应急演练{}仓库起火", "，".repeat(gap));
    let with_topic = FIRE.replace(
        "unless_before = [\"@negation\"]",
        "unless_before = [\"@negation\"]\nunless_topic = [\"@drill\"]",
    );
    let shared = SHARED_HARM.replace("[sets]", "[sets]\ndrill = [\"演练\"]");
    let l = Lexicon::compile(&[
        src("shared.toml", &shared),
        src("fire.toml", &with_topic),
        src("regions.toml", REGIONS),
    ])
    .expect("compiles");
    // A drill mentioned 60 characters away is what the passage is about …
    assert!(!score(&l, &text(60)).flagged);
    // … but not 100 characters away (topic_window is 80).
    assert!(score(&l, &text(100)).flagged);
    // A suppressor of `unless_any` reaches only the term's window (20).
    let local = FIRE.replace(
        "unless_before = [\"@negation\"]",
        "unless_before = [\"@negation\"]\nunless_any = [\"@drill\"]",
    );
    let l = Lexicon::compile(&[
        src("shared.toml", &shared),
        src("fire.toml", &local),
        src("regions.toml", REGIONS),
    ])
    .expect("compiles");
    assert!(!score(&l, &text(10)).flagged);
    assert!(score(&l, &text(30)).flagged);
}

#[test]
fn titles_of_works_are_not_reports() {
    let l = fire();
    assert!(!score(&l, "重温电影《城市火灾》").flagged);
    // A long title is a quoted headline or notice: its words count.
    assert!(score(&l, "通报全文：《关于城南仓库发生火灾的情况通报》").flagged);
    assert!(score(&l, "城南仓库火灾").flagged);
}

/// The errors of a set of `files`, given a gazetteer when they have none.
fn errors(files: &[(&str, &str)]) -> Vec<String> {
    let mut sources: Vec<DictSource> = files.iter().map(|(n, t)| src(n, t)).collect();
    if !files.iter().any(|(n, _)| *n == "regions.toml") {
        sources.push(src("regions.toml", REGIONS));
    }
    match Lexicon::compile(&sources) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn bad_dictionaries_get_errors_with_file_line_and_term() {
    let e = errors(&[
        ("shared.toml", SHARED),
        (
            "fire.toml",
            "[category]\nid = \"fire\"\nname_zh = \"火灾\"\nname_en = \"Fire\"\nthreshold = 2.0\n\n[[group]]\nweight = 2.0\nterms = [\"火灾\", \"起火\",\n  \"火灾\"]\n",
        ),
    ]);
    assert_eq!(
        e,
        vec!["fire.toml:10:3: term `火灾`: listed twice in this category (first at line 9)"]
    );

    let e = errors(&[(
        "fire.toml",
        "[category]\nid = \"fire\"\nname_zh = \"火灾\"\nname_en = \"Fire\"\nthreshold = 2.0\n[[group]]\nweight = 2.0\nterms = [\"火災\"]\n",
    )]);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("fire.toml:8:10: term `火災`: term is not in normal form"),
        "{e:?}"
    );
    assert!(e[0].contains("write it as `火灾`"), "{e:?}");

    let e = errors(&[(
        "fire.toml",
        "[category]\nid = \"fire\"\nname_zh = \"火灾\"\nname_en = \"Fire\"\nthreshold = 2.0\n[[group]]\nwieght = 2.0\nterms = [\"火灾\"]\n",
    )]);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("fire.toml:7:1: unknown field `wieght`"),
        "{e:?}"
    );

    let e = errors(&[("fire.toml", "[category]\nid = \"fire\"\nname_zh = 火灾\n")]);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("fire.toml:3:"), "{e:?}");

    let e = errors(&[(
        "fires.toml",
        "[category]\nid = \"fire\"\nname_zh = \"火灾\"\nname_en = \"Fire\"\nthreshold = -1\n[[group]]\nweight = 2.0\nunless_any = [\"@nope\"]\nterms = [\"火灾\"]\n",
    )]);
    assert!(
        e.iter()
            .any(|m| m
                .starts_with("fires.toml:2:6: category id `fire` does not match the file name")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("fires.toml:5:13: threshold must be a number above 0")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("fires.toml:8:15: unknown set `@nope`")),
        "{e:?}"
    );

    let e = errors(&[(
        "regions.toml",
        "[[province]]\nname = \"安徽省|安徽\"\ndivisions = [\"滁州市|安徽\"]\n",
    )]);
    assert_eq!(
        e,
        vec![
            "regions.toml:3:14: term `安徽`: `安徽` already names 安徽省 (each name or alias must point to one region)"
        ]
    );

    let e = errors(&[]);
    assert!(e[0].contains("no category files"), "{e:?}");

    // A head weight must be above the group's weight, and only main terms
    // have one; harm is a weight like the others.
    let e = errors(&[(
        "fire.toml",
        "[category]\nid = \"fire\"\nname_zh = \"火灾\"\nname_en = \"Fire\"\nthreshold = 2.0\nharm = -1\nhead_window = 99\n[[group]]\nweight = 2.0\nhead = 1.0\nterms = [\"火灾\"]\n[[group]]\nweight = 0.5\nhead = 2.0\nsupport = true\nterms = [\"现场\"]\n",
    )]);
    assert_eq!(
        e,
        vec![
            "fire.toml:6:8: harm must be from 0 to 100, got -1",
            "fire.toml:7:15: head_window must be from 0 to 50, got 99",
            "fire.toml:10:8: head must be above the group's weight (2) and at most 100, got 1",
            "fire.toml:14:8: head is for main terms: a support group cannot have one",
        ]
    );
}

#[test]
fn the_shipped_dictionaries_compile_and_keep_their_promises() {
    let l = Lexicon::builtin().expect("shipped dictionaries compile");
    let ids: Vec<&str> = l.categories().iter().map(|c| c.id.as_str()).collect();
    for id in [
        "pollution",
        "flood",
        "drought",
        "geohazard",
        "fire",
        "explosion",
        "work_safety",
        "traffic",
        "food_drug",
        "public_health",
        "violence",
        "fraud",
        "outage",
    ] {
        assert!(ids.contains(&id), "missing category {id}");
    }
    assert!(l.stats().terms >= 500, "{:?}", l.stats());
    // Every provincial-level division and every prefecture-level one.
    let provinces = l.regions().iter().filter(|r| r.parent.is_none()).count();
    assert_eq!(provinces, 34);
    assert!(l.regions().len() > 333, "{}", l.regions().len());
    let flagged = |t: &str| {
        let mut s = Scratch::new(&l);
        l.score_into(&l.analyzer().analyze(t), &mut s);
        s.flagged()
            .iter()
            .map(|f| l.category(f.category).id.clone())
            .collect::<Vec<_>>()
    };
    assert!(flagged("这是一条爆炸性新闻").is_empty());
    assert!(flagged("新专辑销量火爆").is_empty());
    assert!(flagged("消防支队组织开展高层建筑火灾应急演练").is_empty());
    assert!(flagged("经核实，网传某地发生爆炸系谣言").is_empty());
    assert!(flagged("某化工厂发生爆炸").contains(&"explosion".to_string()));
    assert!(flagged("高速公路发生多车相撞事故").contains(&"traffic".to_string()));
    assert!(flagged("滁河水污染，大量死鱼").contains(&"pollution".to_string()));
    // Slang and idioms that use incident words.
    assert!(flagged("躺着也中枪，果断中枪").is_empty());
    assert!(flagged("男子在街头中枪身亡").contains(&"violence".to_string()));
    assert!(flagged("天一热就自燃了").is_empty());
    assert!(flagged("一辆小轿车在高速上发生自燃").contains(&"fire".to_string()));
    assert!(flagged("杀人放火必备").is_empty());
    assert!(flagged("男子放火烧毁邻居家柴房").contains(&"fire".to_string()));
}

#[test]
fn the_shipped_dictionaries_read_report_shapes_and_leave_figures_alone() {
    let l = Lexicon::builtin().expect("shipped dictionaries compile");
    let flagged = |t: &str| {
        let mut s = Scratch::new(&l);
        l.score_into(&l.analyzer().analyze(t), &mut s);
        s.flagged()
            .iter()
            .map(|f| l.category(f.category).id.clone())
            .collect::<Vec<_>>()
    };
    // Headlines: a head word with a place, a count or an incident verb;
    // casualties as evidence.
    for (text, category) in [
        ("老旧小区深夜大火 三人遇难", "fire"),
        ("山区公路一客车侧翻坠入河谷", "traffic"),
        ("婚宴后数十名宾客上吐下泻送医", "food_drug"),
        ("外国城市发生爆炸袭击", "explosion"),
        ("化工厂氯气泄漏 周边数十人不适送医", "work_safety"),
        ("男子持刀 致2人受伤", "violence"),
        ("一化工厂爆炸", "explosion"),
        ("城郊仓库大火", "fire"),
    ] {
        assert!(flagged(text).contains(&category.to_string()), "{text}");
    }
    // Pollution as people report it, medium by medium.
    for text in [
        "河水发红发臭 村民怀疑上游工厂偷排",
        "空气质量指数爆表 市民出门戴口罩",
        "工地深夜施工噪音扰民 居民投诉无果",
        "海面出现大片油污",
        "村口河道发黑发臭，死鱼漂了一层",
        "化工园区排放刺鼻气味，附近居民夜里被熏醒",
        "农田土壤镉超标，稻米检出重金属",
    ] {
        assert_eq!(flagged(text), ["pollution"], "{text}");
    }
    // Figures of sport, finance, entertainment, games and reviews; past
    // disasters recalled.
    for text in [
        "球队火山爆发，末节打出一波20比2",
        "金融海啸",
        "救市如救火",
        "婚姻触礁",
        "名气淹没了作品",
        "这部剧今年暑假大火",
        "重组搁浅，股价跌停",
        "这家炸鸡外卖太好吃了",
        "手机死机了",
        "电脑中毒了怎么办",
        "外卖吃了拉肚子 差评",
        "游戏里一个爆头把对面团灭了",
        "汶川地震十周年 缅怀遇难同胞",
        "重温电影《唐山大地震》",
        "天一热就自燃了",
    ] {
        assert!(flagged(text).is_empty(), "{text}: {:?}", flagged(text));
    }
}

#[test]
fn arbitrary_text_never_panics_and_offsets_map_back() {
    let l = Lexicon::builtin().expect("shipped dictionaries compile");
    let mut s = Scratch::new(&l);
    // Characters that stress every stage: ideographs (simplified and
    // traditional), casualty words and numerals, full-width forms, spaces,
    // zero-width and control characters, Latin, emoji, combining marks.
    let alphabet: Vec<char> = "火灾爆炸死亡受伤人名三十百万1２3 　\t\n\u{200b}\u{7}aZＡ發災傷乾著于的了，。！😀é\u{301}滁州市爆炸性"
        .chars()
        .collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let len = (next() % 60) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let a = l.analyzer().analyze(&text);
        l.score_into(&a, &mut s);
        for t in a.tokens() {
            assert!(
                t.orig_start <= t.orig_end && t.orig_end <= text.len(),
                "{text:?}"
            );
            assert!(text.is_char_boundary(t.orig_start) && text.is_char_boundary(t.orig_end));
        }
        let _ = s.severity();
    }
}

/// The errors of exactly `files` (no gazetteer added).
fn set_errors(files: &[(&str, &str)]) -> Vec<String> {
    let sources: Vec<DictSource> = files.iter().map(|(n, t)| src(n, t)).collect();
    match Lexicon::compile(&sources) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors().iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_set_without_regions_or_with_an_empty_category_is_refused() {
    // No regions.toml: named where it should be.
    let e = set_errors(&[("d/shared.toml", SHARED), ("d/explosion.toml", EXPLOSION)]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("d/regions.toml: missing: a dictionary set needs its gazetteer"),
        "{e:?}"
    );
    // An empty one, or one with only comments.
    for empty in ["", "# nothing yet\n"] {
        let e = set_errors(&[
            ("d/shared.toml", SHARED),
            ("d/explosion.toml", EXPLOSION),
            ("d/regions.toml", empty),
        ]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "d/regions.toml: no regions: the gazetteer needs at least one `[[province]]`"
            ),
            "{e:?}"
        );
    }
    // A category file without groups.
    let e = set_errors(&[
        ("d/shared.toml", SHARED),
        ("d/explosion.toml", EXPLOSION),
        ("d/regions.toml", REGIONS),
        (
            "d/fire.toml",
            "[category]\nid = \"fire\"\nname_zh = \"火灾\"\nname_en = \"Fire\"\nthreshold = 2.0\n",
        ),
    ]);
    assert_eq!(
        e,
        vec![
            "d/fire.toml: category `fire` has no `[[group]]` of terms: it could never flag a post"
        ]
    );
    // The complete set compiles.
    assert!(
        set_errors(&[
            ("d/shared.toml", SHARED),
            ("d/explosion.toml", EXPLOSION),
            ("d/regions.toml", REGIONS),
        ])
        .is_empty()
    );
}
