//! The detector on generated streams: bursts open alerts for the right key
//! in time, reposts and seasonal backgrounds do not, alerts resolve, and a
//! restart in the middle keeps one alert per incident.

mod common;

use common::*;
use yuqing_model::Level;
use yuqing_spike::{Alert, AlertState, Detector, DetectorConfig};

#[test]
fn a_burst_of_five_times_the_baseline_opens_an_alert_for_its_region_within_two_buckets() {
    let t = 240; // the burst starts at minute T = 240
    let mut s = Stream::new(1);
    s.background(0, 300, |_| 6.0);
    // 5× the category's baseline of ~6 reports a minute, all from 合肥.
    s.burst(t, t + 10, 30, ("合肥市", "安徽省"));
    let posts = s.sorted();
    let mut d = Detector::new(DetectorConfig::default(), parents());
    let emitted = run(&mut d, &posts);

    let opens: Vec<&Emitted> = emitted
        .iter()
        .filter(|e| e.alert.state == AlertState::Open)
        .collect();
    assert_eq!(
        opens.len(),
        1,
        "one incident, one alert:\n{}",
        summary(&emitted)
    );
    let open = opens[0];
    assert_eq!(open.alert.category, "fire");
    assert_eq!(
        open.alert.region.as_deref(),
        Some("合肥市"),
        "the most specific region"
    );
    assert_eq!(
        ms(&open.alert.window_start),
        T0 + t * MIN,
        "the window starts with the burst"
    );
    // Emitted while the stream is still in bucket T+2 (two buckets after
    // the start, with 30 s of allowed lateness).
    assert!(
        open.at_min < (t + 3) as f64,
        "opened at minute {:.2}",
        open.at_min
    );
    // The first minute of the burst (30 reports) is enough: the alert
    // opens within it, as the report that makes the window exceed
    // arrives, and the next message carries the whole minute.
    assert!(
        open.alert.count >= 4 && open.alert.count < 30,
        "{}",
        open.alert.count
    );
    assert_eq!(open.alert.distinct_authors, open.alert.count);
    assert!(
        open.at_min < (t + 1) as f64,
        "opened at minute {:.2}",
        open.at_min
    );
    let next = emitted
        .iter()
        .find(|e| e.alert.state == AlertState::Update)
        .expect("an update as the burst grows");
    assert!(next.alert.count >= 25, "{}", next.alert.count);
    assert_eq!(open.alert.window_secs, Some(60));
    assert!(
        open.alert.baseline < 2.0,
        "the region's baseline is ~0.5 a minute: {}",
        open.alert.baseline
    );
    assert!(open.alert.z >= 3.0);
    assert_eq!(
        open.alert.sample_post_ids.len() as u64,
        open.alert.count.min(10)
    );
    assert_eq!(open.alert.top_terms, vec!["起火".to_string()]);
    // The first report is the earliest post of the burst in 合肥.
    let first = posts
        .iter()
        .find(|p| p.post.ts.as_millis() >= T0 + t * MIN && p.regions[0] == "合肥市")
        .expect("burst posts");
    assert_eq!(open.alert.first_post_id, first.post.id);
    assert_eq!(ms(&open.alert.first_seen), first.post.ts.as_millis());
    assert!(
        emitted
            .iter()
            .all(|e| e.alert.alert_id == open.alert.alert_id),
        "{}",
        summary(&emitted)
    );
}

#[test]
fn two_hundred_reposts_of_one_post_do_not_open_an_alert() {
    for many_authors in [false, true] {
        let mut s = Stream::new(2);
        s.background(0, 300, |_| 1.0);
        let original = "滁州市一化工厂仓库突发大火，现场浓烟滚滚，消防正在全力扑救";
        for i in 0..200 {
            let ts = T0 + 200 * MIN + i * 1_500; // five minutes
            let text = match i % 3 {
                0 => format!("转发微博 //@源头: {original}"),
                1 => format!("太吓人了 //@源头：{original}"),
                _ => format!("{original}！！"),
            };
            let author = if many_authors {
                format!("r{i}")
            } else {
                "same-author".to_string()
            };
            let id = s.id();
            s.posts.push(post(
                id,
                ts,
                text,
                author,
                "fire",
                Some(("滁州市", "安徽省")),
            ));
        }
        let posts = s.sorted();
        let mut d = Detector::new(DetectorConfig::default(), parents());
        let emitted = run(&mut d, &posts);
        assert!(
            emitted.is_empty(),
            "many authors: {many_authors}\n{}",
            summary(&emitted)
        );
    }
}

#[test]
fn a_week_of_background_with_daily_seasonality_opens_no_alert() {
    // Quiet at night (0.3 a minute at 04:00), busy in the evening (9 a
    // minute at 16:00), like a social network's day.
    let rate = |m: i64| {
        let hour = (m % 1440) as f64 / 60.0;
        let phase = (1.0 - ((hour - 4.0) / 24.0 * std::f64::consts::TAU).cos()) / 2.0;
        0.3 + 8.7 * phase.powf(1.5)
    };
    let mut s = Stream::new(3);
    s.background(0, 7 * 1440, rate);
    let posts = s.sorted();
    assert!(posts.len() > 30_000);
    let mut d = Detector::new(DetectorConfig::default(), parents());
    let mut emitted = run(&mut d, &posts);
    emitted.extend(
        d.finish()
            .into_iter()
            .map(|alert| Emitted { alert, at_min: 0.0 }),
    );
    assert!(emitted.is_empty(), "{}", summary(&emitted));
    // The same week with a burst on the last day is still caught.
    let mut s = Stream::new(3);
    s.background(0, 7 * 1440, rate);
    s.burst(
        6 * 1440 + 16 * 60,
        6 * 1440 + 16 * 60 + 5,
        10,
        ("成都市", "四川省"),
    );
    let mut d = Detector::new(DetectorConfig::default(), parents());
    let emitted = run(&mut d, &s.sorted());
    let opens: Vec<&Emitted> = emitted
        .iter()
        .filter(|e| e.alert.state == AlertState::Open)
        .collect();
    assert_eq!(opens.len(), 1, "{}", summary(&emitted));
    assert_eq!(opens[0].alert.region.as_deref(), Some("成都市"));
}

#[test]
fn an_open_alert_updates_as_it_grows_and_resolves_after_the_quiet_period() {
    let mut s = Stream::new(4);
    s.background(0, 400, |_| 2.0);
    s.burst(200, 203, 10, ("杭州市", "浙江省"));
    s.burst(203, 215, 40, ("杭州市", "浙江省"));
    let mut d = Detector::new(DetectorConfig::default(), parents());
    let emitted = run(&mut d, &s.sorted());
    let states: Vec<AlertState> = emitted.iter().map(|e| e.alert.state).collect();
    assert_eq!(
        states.first(),
        Some(&AlertState::Open),
        "{}",
        summary(&emitted)
    );
    assert_eq!(
        states.last(),
        Some(&AlertState::Resolved),
        "{}",
        summary(&emitted)
    );
    assert_eq!(states.iter().filter(|s| **s == AlertState::Open).count(), 1);
    assert!(
        states.contains(&AlertState::Update),
        "{}",
        summary(&emitted)
    );
    let resolved = &emitted[emitted.len() - 1];
    // The last exceeding bucket is minute 214; 30 quiet minutes later.
    assert!(
        resolved.at_min >= 244.0 && resolved.at_min < 247.0,
        "{}",
        summary(&emitted)
    );
    assert!(
        emitted
            .iter()
            .all(|e| e.alert.alert_id == resolved.alert.alert_id)
    );
    // Counts only grow, and the level follows the size (≥ 100 reports:
    // orange, ≥ 500: red).
    assert!(
        emitted
            .windows(2)
            .all(|w| w[0].alert.count <= w[1].alert.count)
    );
    assert!(resolved.alert.count >= 450, "{}", resolved.alert.count);
    assert!(resolved.alert.level >= Level::Orange);
    assert_eq!(ms(&resolved.alert.window_start), T0 + 200 * MIN);
    assert_eq!(d.open_alerts(), 0);
}

#[test]
fn an_alert_updates_when_its_reports_name_a_new_region() {
    // A burst in 杭州; from minute 210 some reports also name 宁波.
    let stream = |seed| {
        let mut s = Stream::new(seed);
        s.background(0, 300, |_| 2.0);
        s.burst(200, 215, 20, ("杭州市", "浙江省"));
        for m in 210..212 {
            for k in 0..2 {
                let ts = T0 + m * MIN + 20_000 * k;
                let (id, text) = (s.id(), s.rng.text());
                let mut p = post(
                    id,
                    ts,
                    text,
                    format!("n{m}{k}"),
                    "fire",
                    Some(("杭州市", "浙江省")),
                );
                p.regions.push("宁波市".into());
                s.posts.push(p);
            }
        }
        s.sorted()
    };
    // Growth alone never updates here.
    let mut config = DetectorConfig::default();
    config.set("thresholds.update_growth", "1000").expect("set");
    let mut d = Detector::new(config.clone(), parents());
    let emitted = run(&mut d, &stream(5));
    let open = &emitted[0];
    assert_eq!(open.alert.state, AlertState::Open, "{}", summary(&emitted));
    assert_eq!(open.alert.region.as_deref(), Some("杭州市"));
    assert_eq!(
        open.alert.regions,
        vec!["杭州市".to_string(), "浙江省".to_string()]
    );
    let spread = emitted
        .iter()
        .position(|e| e.alert.regions.iter().any(|r| r == "宁波市"))
        .expect("a message naming 宁波市");
    let e = &emitted[spread];
    assert_eq!(e.alert.state, AlertState::Update, "{}", summary(&emitted));
    // The third report naming 宁波 is in minute 211; the update follows
    // when that bucket closes.
    assert!(
        e.at_min >= 212.0 && e.at_min < 213.0,
        "{}",
        summary(&emitted)
    );
    assert_eq!(
        e.alert.regions[..2],
        ["杭州市".to_string(), "浙江省".to_string()]
    );
    let updates = |e: &[Emitted]| {
        e.iter()
            .filter(|e| e.alert.state == AlertState::Update)
            .count()
    };

    // With region updates off, that message is not sent.
    config
        .set("thresholds.update_region_reports", "0")
        .expect("set");
    let mut d = Detector::new(config, parents());
    let quiet = run(&mut d, &stream(5));
    assert_eq!(
        updates(&quiet) + 1,
        updates(&emitted),
        "{}\n{}",
        summary(&quiet),
        summary(&emitted)
    );
}

#[test]
fn the_region_hierarchy_can_be_replaced_as_dictionaries_reload() {
    let mut s = Stream::new(1);
    s.background(0, 300, |_| 6.0);
    s.burst(240, 250, 30, ("合肥市", "安徽省"));
    let posts = s.sorted();
    let opened = |d: &mut Detector, posts: &[yuqing_model::ScoredPost]| -> Vec<Option<String>> {
        run(d, posts)
            .into_iter()
            .filter(|e| e.alert.state == AlertState::Open)
            .map(|e| e.alert.region)
            .collect()
    };
    // Without a hierarchy, 合肥市 and 安徽省 are unrelated: each opens.
    let mut d = Detector::new(DetectorConfig::default(), Default::default());
    let mut regions = opened(&mut d, &posts);
    regions.sort();
    assert_eq!(
        regions,
        vec![Some("合肥市".to_string()), Some("安徽省".to_string())]
    );
    // Given one (as a reload does), the most specific region wins again.
    let mut d = Detector::new(DetectorConfig::default(), Default::default());
    d.set_region_parents(parents());
    assert_eq!(opened(&mut d, &posts), vec![Some("合肥市".to_string())]);
}

#[test]
fn a_restart_in_the_middle_of_a_burst_keeps_one_alert_and_the_baselines() {
    let mut s = Stream::new(5);
    s.background(0, 400, |_| 4.0);
    s.burst(200, 220, 25, ("深圳市", "广东省"));
    let posts = s.sorted();

    let mut straight = Detector::new(DetectorConfig::default(), parents());
    let whole = run(&mut straight, &posts);

    // Stop at minute 210, with the alert open, and start again from the
    // snapshot.
    let cut = posts.partition_point(|p| p.post.ts.as_millis() < T0 + 210 * MIN);
    let mut first = Detector::new(DetectorConfig::default(), parents());
    let mut emitted = run(&mut first, &posts[..cut]);
    assert_eq!(first.open_alerts(), 1);
    let before_cut = emitted.len();
    let snapshot = first.snapshot().expect("the state serialises");
    drop(first);
    let mut second =
        Detector::restore(DetectorConfig::default(), parents(), &snapshot).expect("restore");
    assert_eq!(second.open_alerts(), 1);
    emitted.extend(run(&mut second, &posts[cut..]));

    let strip = |e: &[Emitted]| -> Vec<Alert> {
        e.iter()
            .map(|e| Alert {
                emitted_at: String::new(),
                ..e.alert.clone()
            })
            .collect()
    };
    assert_eq!(
        strip(&emitted),
        strip(&whole),
        "restarted:\n{}\nstraight:\n{}",
        summary(&emitted),
        summary(&whole)
    );
    assert_eq!(
        emitted
            .iter()
            .filter(|e| e.alert.state == AlertState::Open)
            .count(),
        1
    );
    assert_eq!(
        emitted.last().map(|e| e.alert.state),
        Some(AlertState::Resolved)
    );
    // `seq` numbers the alert's messages from its `open`, across the
    // restart: the first message after it continues where the snapshot
    // left off.
    let seqs: Vec<u64> = emitted.iter().map(|e| e.alert.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(
        emitted.len() > before_cut && before_cut > 0,
        "messages on both sides of the restart: {}",
        summary(&emitted)
    );

    assert!(Detector::restore(DetectorConfig::default(), parents(), b"{not json").is_err());
}

#[test]
fn late_posts_are_counted_not_lost_and_keys_are_bounded() {
    let config = DetectorConfig {
        max_keys: 5,
        ..DetectorConfig::default()
    };
    let mut d = Detector::new(config, parents());
    let mut s = Stream::new(6);
    s.background(0, 600, |_| 3.0);
    let posts = s.sorted();
    run(&mut d, &posts);
    // 12 prefectures and 6 provinces were named; at most 5 keys stay
    // (plus those with buckets still open).
    assert!(d.keys() <= 5 + 19, "{}", d.keys());
    assert_eq!(d.late(), 0);
    // A post ten minutes behind the newest is late.
    let late = post(
        "late".into(),
        T0 + 589 * MIN,
        "迟到的报告".into(),
        "x".into(),
        "fire",
        None,
    );
    assert!(!d.observe(&late, &late.post.text));
    assert_eq!(d.late(), 1);
    // One 20 seconds behind is within the allowed lateness.
    let last = posts.last().expect("posts").post.ts.as_millis();
    let ok = post(
        "ok".into(),
        last - 20_000,
        "准时的报告".into(),
        "y".into(),
        "fire",
        None,
    );
    assert!(d.observe(&ok, &ok.post.text));
}

#[test]
fn thresholds_can_be_set_per_category() {
    let mut s = Stream::new(7);
    s.background(0, 300, |_| 6.0);
    s.burst(240, 250, 30, ("合肥市", "安徽省"));
    let posts = s.sorted();
    let mut config = DetectorConfig::default();
    config.categories.insert(
        "fire".into(),
        yuqing_spike::ThresholdOverrides {
            min_count: Some(1_000),
            ..Default::default()
        },
    );
    config.validate().expect("valid");
    let mut d = Detector::new(config, parents());
    assert!(run(&mut d, &posts).is_empty());

    let bad = DetectorConfig {
        thresholds: yuqing_spike::Thresholds {
            k: 4,
            n: 3,
            ..Default::default()
        },
        ..DetectorConfig::default()
    };
    let err = bad.validate().expect_err("k > n");
    assert!(err.contains("k = 4"), "{err}");

    // Dotted settings, as `yuqing backtest --set` takes them: a category
    // inherits what it does not override.
    let mut config = DetectorConfig::default();
    config.set("thresholds.z", "4").expect("set");
    config.set("categories.flood.min_count", "9").expect("set");
    config.set("bucket_secs", "3600").expect("set");
    assert_eq!(config.bucket_secs, 3600);
    let flood = config.thresholds("flood");
    assert_eq!((flood.z, flood.min_count), (4.0, 9));
    assert_eq!(
        config.thresholds("fire").min_count,
        yuqing_spike::Thresholds::default().min_count
    );
    let err = config.set("thresholds.min_cout", "3").expect_err("typo");
    assert!(err.contains("`spike.thresholds.min_cout`"), "{err}");
    let err = config.set("categories.flood.zz", "3").expect_err("typo");
    assert!(err.contains("zz"), "{err}");
    let err = config.set("bucket_secs", "soon").expect_err("not a number");
    assert!(err.contains("`spike.bucket_secs` = soon"), "{err}");
    let err = config.set("categories.flood.k", "7").expect_err("k > n");
    assert!(err.contains("spike.categories.flood"), "{err}");
    assert_eq!(
        config.thresholds("flood").k,
        yuqing_spike::Thresholds::default().k,
        "a failed set changes nothing"
    );
}
