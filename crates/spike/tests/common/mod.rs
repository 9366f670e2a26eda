//! Generated streams for the detector tests.
#![allow(dead_code)]

use std::collections::HashMap;

use yuqing_model::{CategoryHit, Level, Post, ScoredPost, Severity, Timestamp};
use yuqing_spike::{Alert, Detector};

/// 2026-03-02T00:00:00Z.
pub const T0: i64 = 1_772_409_600_000;
pub const MIN: i64 = 60_000;

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A Poisson count of mean `lambda` (Knuth).
    pub fn poisson(&mut self, lambda: f64) -> u32 {
        let l = (-lambda).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    /// A text of its own: 30 characters drawn from a pool, so that two
    /// reports are far apart in SimHash.
    pub fn text(&mut self) -> String {
        const POOL: &str = "火灾现场消防救援人员赶到起火原因正在调查中居民楼厂房仓库浓烟滚滚附近群众疏散道路封闭损失情况统计目前无人员伤亡";
        let pool: Vec<char> = POOL.chars().collect();
        (0..30).map(|_| pool[self.below(pool.len())]).collect()
    }
}

/// Prefectures and their provinces, as the lexicon reports them.
pub const PLACES: &[(&str, &str)] = &[
    ("合肥市", "安徽省"),
    ("滁州市", "安徽省"),
    ("南京市", "江苏省"),
    ("苏州市", "江苏省"),
    ("杭州市", "浙江省"),
    ("宁波市", "浙江省"),
    ("广州市", "广东省"),
    ("深圳市", "广东省"),
    ("成都市", "四川省"),
    ("武汉市", "湖北省"),
    ("长沙市", "湖南省"),
    ("郑州市", "河南省"),
];

pub fn parents() -> HashMap<String, String> {
    PLACES
        .iter()
        .map(|(c, p)| (c.to_string(), p.to_string()))
        .collect()
}

pub fn post(
    id: String,
    ts: i64,
    text: String,
    author: String,
    category: &str,
    place: Option<(&str, &str)>,
) -> ScoredPost {
    ScoredPost {
        post: Post {
            author: Some(author),
            ..Post::new(id, text, Timestamp::from_millis(ts).expect("valid time"))
        },
        categories: vec![CategoryHit {
            id: category.to_string(),
            score: 3.0,
            terms: vec!["起火".to_string()],
        }],
        regions: place
            .map(|(c, p)| vec![c.to_string(), p.to_string()])
            .unwrap_or_default(),
        severity: Some(Severity {
            level: Level::Blue,
            dead: 0,
            injured: 0,
            missing: 0,
            trapped: 0,
            cues: Vec::new(),
        }),
    }
}

/// A stream of posts sorted by time.
pub struct Stream {
    pub posts: Vec<ScoredPost>,
    pub rng: Rng,
    next_id: u64,
}

impl Stream {
    pub fn new(seed: u64) -> Self {
        Stream {
            posts: Vec::new(),
            rng: Rng(seed),
            next_id: 0,
        }
    }

    pub fn id(&mut self) -> String {
        self.next_id += 1;
        format!("p{}", self.next_id)
    }

    /// Independent fire reports, Poisson with `rate(minute)` per minute,
    /// in random places, from minute `from` to `to`.
    pub fn background(&mut self, from: i64, to: i64, rate: impl Fn(i64) -> f64) {
        for m in from..to {
            let n = self.rng.poisson(rate(m));
            for _ in 0..n {
                let ts = T0 + m * MIN + self.rng.below(60_000) as i64;
                let place = PLACES[self.rng.below(PLACES.len())];
                let (id, text, author) = (
                    self.id(),
                    self.rng.text(),
                    format!("u{}", self.rng.next() % 1_000_000),
                );
                self.posts
                    .push(post(id, ts, text, author, "fire", Some(place)));
            }
        }
    }

    /// Independent reports of `category` naming no region, Poisson with
    /// `rate(minute)` per minute.
    pub fn steady(&mut self, from: i64, to: i64, category: &str, rate: impl Fn(i64) -> f64) {
        for m in from..to {
            let n = self.rng.poisson(rate(m));
            for _ in 0..n {
                let ts = T0 + m * MIN + self.rng.below(60_000) as i64;
                let (id, text, author) = (
                    self.id(),
                    self.rng.text(),
                    format!("u{}", self.rng.next() % 1_000_000),
                );
                self.posts.push(post(id, ts, text, author, category, None));
            }
        }
    }

    /// `per_min` independent reports a minute from `place`, minutes
    /// `from..to`.
    pub fn burst(&mut self, from: i64, to: i64, per_min: u32, place: (&str, &str)) {
        for m in from..to {
            for _ in 0..per_min {
                let ts = T0 + m * MIN + self.rng.below(60_000) as i64;
                let (id, text, author) = (
                    self.id(),
                    self.rng.text(),
                    format!("w{}", self.rng.next() % 1_000_000),
                );
                self.posts
                    .push(post(id, ts, text, author, "fire", Some(place)));
            }
        }
    }

    pub fn sorted(mut self) -> Vec<ScoredPost> {
        self.posts.sort_by_key(|p| p.post.ts.as_millis());
        self.posts
    }
}

/// An emitted alert and the event time (minutes since T0) of the post
/// after which it came.
pub struct Emitted {
    pub alert: Alert,
    pub at_min: f64,
}

pub fn run(detector: &mut Detector, posts: &[ScoredPost]) -> Vec<Emitted> {
    let mut out = Vec::new();
    for p in posts {
        detector.observe(p, &p.post.text);
        let at_min = (p.post.ts.as_millis() - T0) as f64 / MIN as f64;
        out.extend(
            detector
                .advance()
                .into_iter()
                .map(|alert| Emitted { alert, at_min }),
        );
    }
    out
}

pub fn ms(rfc3339: &str) -> i64 {
    Timestamp::parse_rfc3339(rfc3339)
        .expect("RFC 3339")
        .as_millis()
}

pub fn summary(e: &[Emitted]) -> String {
    e.iter()
        .map(|e| {
            format!(
                "{:.1} {} {} {:?} {} c={} z={} baseline={} window={:?} {}{}\n",
                e.at_min,
                e.alert.state.as_str(),
                e.alert.category,
                e.alert.region,
                e.alert.window_start,
                e.alert.count,
                e.alert.z,
                e.alert.baseline,
                e.alert.window_secs,
                e.alert.trigger.as_str(),
                if e.alert.confirmed {
                    ""
                } else {
                    " (unconfirmed)"
                },
            )
        })
        .collect()
}
