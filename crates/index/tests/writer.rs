//! The writer's policies on a real on-disk index: upserts, commit policy,
//! payloads, retention, one writer at a time.

use std::sync::Arc;
use std::time::Duration;

use yuqing_index::{IndexOptions, PostIndex, SearchRequest};
use yuqing_model::{Post, ScoredPost, Timestamp};
use yuqing_text::Analyzer;

fn scored(id: &str, text: &str, ts: Timestamp) -> ScoredPost {
    ScoredPost {
        post: Post::new(id, text, ts),
        categories: vec![],
        regions: vec![],
        severity: None,
    }
}

fn ids(index: &PostIndex, q: &str) -> Vec<String> {
    index
        .search(&SearchRequest {
            q: q.into(),
            ..Default::default()
        })
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.post.post.id)
        .collect()
}

#[test]
fn upserts_commits_and_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let analyzer = Arc::new(Analyzer::new(["暴雨"]));
    let index = PostIndex::open_or_create(dir.path(), Arc::clone(&analyzer)).unwrap();
    let mut w = index
        .writer(IndexOptions {
            commit_docs: 3,
            commit_interval: Duration::from_secs(3600),
            ..IndexOptions::default()
        })
        .unwrap();
    let now = Timestamp::now();
    for (id, text) in [("a", "暴雨来了"), ("b", "晴天"), ("a", "暴雨停了")] {
        let p = scored(id, text, now);
        w.add(&p, &analyzer.analyze(&p.post.text)).unwrap();
    }
    assert!(w.commit_due(), "three posts reach commit_docs = 3");
    w.commit_with_payload(Some("offsets:42".into())).unwrap();
    assert!(!w.commit_due());
    assert_eq!(
        index.num_docs(),
        2,
        "the second `a` replaced the first, in the same commit"
    );
    assert_eq!(ids(&index, "暴雨"), vec!["a"]);
    assert_eq!(index.get("a").unwrap().unwrap().post.text, "暴雨停了");
    assert_eq!(
        index.commit_payload().unwrap().as_deref(),
        Some("offsets:42")
    );

    // Time-based commits.
    drop(w);
    let mut w = index
        .writer(IndexOptions {
            commit_interval: Duration::from_millis(50),
            ..IndexOptions::default()
        })
        .unwrap();
    let p = scored("c", "暴雨又来了", now);
    w.add(&p, &analyzer.analyze(&p.post.text)).unwrap();
    assert!(!w.commit_due());
    std::thread::sleep(Duration::from_millis(80));
    assert!(w.commit_due());
}

#[test]
fn one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let analyzer = Arc::new(Analyzer::new([]));
    let index = PostIndex::open_or_create(dir.path(), Arc::clone(&analyzer)).unwrap();
    let _w = index.writer(IndexOptions::default()).unwrap();
    let other = PostIndex::open(dir.path(), analyzer).unwrap();
    assert!(other.writer(IndexOptions::default()).is_err());
}

#[test]
fn retention_deletes_old_posts_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let analyzer = Arc::new(Analyzer::new([]));
    let index = PostIndex::open_or_create(dir.path(), Arc::clone(&analyzer)).unwrap();
    let mut w = index
        .writer(IndexOptions {
            retention_days: Some(7),
            ..IndexOptions::default()
        })
        .unwrap();
    let now = Timestamp::now().as_millis();
    for (id, age_days) in [("new", 1), ("edge", 6), ("old", 8), ("older", 400)] {
        let ts = Timestamp::from_millis(now - age_days * 86_400_000).unwrap();
        let p = scored(id, "火灾", ts);
        w.add(&p, &analyzer.analyze(&p.post.text)).unwrap();
    }
    // Retention runs at the commit, before the new posts are committed:
    // the old ones never become visible.
    w.commit().unwrap();
    let p = scored("later", "火灾", Timestamp::now());
    w.add(&p, &analyzer.analyze(&p.post.text)).unwrap();
    w.commit().unwrap();
    let mut left = ids(&index, "火灾");
    left.sort();
    assert_eq!(left, vec!["edge", "later", "new"]);
}
