//! A watch matches a post exactly when the search finds that post for the
//! same query and filters: the same posts indexed and watched, every
//! query asked of both.

use std::sync::Arc;

use yuqing_index::{Filters, IndexOptions, PostIndex, SearchRequest};
use yuqing_lexicon::Lexicon;
use yuqing_model::{Level, Post};
use yuqing_pipeline::watch::WatchMatcher;
use yuqing_pipeline::{AnalyzedPost, Scorer, WatchRule, WatchSpec};

const TEXTS: &[&str] = &[
    "滁州一化工厂发生爆炸，造成5人受伤",
    "刚刚滁州一小区燃气爆炸，附近居民听到一声巨响",
    "转发微博 //@w1: 滁州一化工厂发生爆炸，造成12人死亡，路都封了",
    "广州某仓库起火，浓烟滚滚，消防已到场",
    "廣州某倉庫起火，濃煙滾滾",
    "化工厂泄漏导致河水污染，鱼大量死亡",
    "泄漏的化工厂已经停产整顿",
    "暴雨导致城区大面积积水，多条道路内涝",
    "今天和朋友去吃了火锅，好开心",
    "这部电影简直是爆炸性新闻",
    "山体滑坡掩埋了两户民房，3人失联",
    "合肥一工厂发生火灾，无人员伤亡",
    "地铁站里人很多，WiFi信号很差",
    "PM2.5 严重超标，空气污染",
    "消防演习：模拟化工厂爆炸",
    "滁州的天气不错",
    "河南洪水，多地启动一级响应，紧急疏散群众",
    "食品安全问题：学校食堂食物中毒，20名学生送医",
];

const QUERIES: &[&str] = &[
    "爆炸",
    "化工厂爆炸",
    "\"化工厂发生爆炸\"",
    "\"发生爆炸\"",
    "\"燃气爆炸\"",
    "工厂",
    "起火 OR 火灾",
    "化工厂 -泄漏",
    "化工厂 AND NOT 爆炸",
    "(泄漏 OR 污染) AND 化工厂",
    "\"倉庫起火\"",
    "wifi",
    "滁州 爆炸 -燃气",
    "+积水 内涝",
    "\"河水 污染\"",
    "text:滑坡",
    "爆炸^2 OR 洪水",
    "食物中毒",
    "\"一级响应\" OR \"疏散\"",
];

fn filters() -> Vec<(Option<&'static str>, Option<&'static str>, Option<Level>)> {
    vec![
        (None, None, None),
        (Some("explosion"), None, None),
        (None, Some("滁州市"), None),
        (None, Some("安徽省"), None),
        (None, None, Some(Level::Yellow)),
        (Some("fire"), Some("广州市"), None),
    ]
}

#[test]
fn watches_match_the_posts_the_search_finds() {
    let lexicon = Arc::new(Lexicon::builtin().unwrap());
    let mut scorer = Scorer::new(Arc::clone(&lexicon));
    let dir = tempfile::tempdir().unwrap();
    let index = PostIndex::open_or_create(dir.path(), lexicon.shared_analyzer()).unwrap();
    let mut writer = index.writer(IndexOptions::default()).unwrap();
    let posts: Vec<AnalyzedPost> = TEXTS
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let json = serde_json::json!({"id": format!("p{i}"), "text": text, "ts": 1_719_792_000 + i as i64});
            scorer.score(Post::from_json(json.to_string().as_bytes()).unwrap())
        })
        .collect();
    for p in &posts {
        writer.add(&p.scored, &p.analyzed).unwrap();
    }
    writer.commit().unwrap();
    index.reload().unwrap();

    let mut specs = Vec::new();
    for (qi, q) in QUERIES.iter().enumerate() {
        for (fi, (category, region, level)) in filters().into_iter().enumerate() {
            specs.push(WatchSpec {
                name: format!("q{qi}-f{fi}"),
                query: q.to_string(),
                category: category.map(str::to_string),
                region: region.map(str::to_string),
                level,
                rule: WatchRule::Every,
                min_count: None,
                window_mins: None,
            });
        }
    }
    let compiled = specs
        .iter()
        .map(|s| {
            s.compile(&lexicon)
                .unwrap_or_else(|e| panic!("{}: {e}", s.query))
        })
        .collect();
    let mut matcher = WatchMatcher::new(compiled);
    let mut watched: Vec<Vec<String>> = vec![Vec::new(); specs.len()];
    let mut out = Vec::new();
    for p in &posts {
        matcher.matching(&p.scored, &p.analyzed, lexicon.analyzer(), &mut out);
        for &w in &out {
            watched[w].push(p.scored.post.id.clone());
        }
    }

    let mut nonempty = 0;
    for (w, spec) in specs.iter().enumerate() {
        let request = SearchRequest {
            q: spec.query.clone(),
            filters: Filters {
                category: spec.category.clone(),
                region: spec.region.clone(),
                level: spec.level,
                ..Filters::default()
            },
            limit: 100,
            ..SearchRequest::default()
        };
        let found = index.search(&request).unwrap();
        let mut searched: Vec<String> = found.hits.iter().map(|h| h.post.post.id.clone()).collect();
        searched.sort();
        let mut mine = watched[w].clone();
        mine.sort();
        assert_eq!(
            mine, searched,
            "watch `{}`: query {:?} category {:?} region {:?} level {:?}",
            spec.name, spec.query, spec.category, spec.region, spec.level
        );
        nonempty += usize::from(!searched.is_empty());
    }
    // The comparison is not vacuous: most queries find something.
    assert!(nonempty >= QUERIES.len(), "{nonempty}");
}
