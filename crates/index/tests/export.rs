//! The export walk on a real on-disk index: every post once, in the order
//! of the sort, across passes and segments; a caller can stop it.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use yuqing_index::{EXPORT_PAGE, ExportRequest, IndexOptions, PostIndex, Sort};
use yuqing_model::{Post, ScoredPost, Timestamp};
use yuqing_text::Analyzer;

/// More posts than one pass reads, in several segments, many with the
/// same time (ties the walk must break).
fn index(dir: &std::path::Path) -> (PostIndex, usize) {
    let analyzer = Arc::new(Analyzer::new(["暴雨"]));
    let index = PostIndex::open_or_create(dir, Arc::clone(&analyzer)).unwrap();
    let mut w = index
        .writer(IndexOptions {
            commit_docs: 1_000,
            commit_interval: Duration::from_secs(3600),
            ..IndexOptions::default()
        })
        .unwrap();
    let n = EXPORT_PAGE * 2 + 321;
    for i in 0..n {
        let ts = Timestamp::from_millis(1_719_792_000_000 + (i as i64 / 7) * 1000).unwrap();
        let p = ScoredPost {
            post: Post::new(format!("p{i}"), "暴雨来了", ts),
            categories: vec![],
            regions: vec![],
            severity: None,
        };
        w.add(&p, &analyzer.analyze(&p.post.text)).unwrap();
        if w.commit_due() {
            w.commit_with_payload(None).unwrap();
        }
    }
    w.commit_with_payload(None).unwrap();
    (index, n)
}

#[test]
fn the_walk_hands_over_every_post_once_in_order_and_can_be_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (index, n) = index(dir.path());
    for sort in [Sort::Time, Sort::Relevance, Sort::Score] {
        let req = ExportRequest {
            q: "暴雨".into(),
            sort,
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut last: Option<Timestamp> = None;
        let summary = index
            .export(&req, |p| {
                assert!(seen.insert(p.post.id.clone()), "{} twice", p.post.id);
                if sort == Sort::Time {
                    assert!(last.is_none_or(|l| l >= p.post.ts), "newest first");
                    last = Some(p.post.ts);
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen.len(), n, "{sort:?}");
        assert_eq!((summary.total, summary.written), (n, n));
        assert!(summary.complete);
    }
    // Stopped after ten posts: no more are read.
    let mut handed = 0;
    let summary = index
        .export(&ExportRequest::default(), |_| {
            handed += 1;
            if handed > 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(handed, 11);
    assert_eq!(
        (summary.total, summary.written, summary.complete),
        (n, 10, false)
    );
}
