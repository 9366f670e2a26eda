//! Deterministic synthetic Chinese posts.
//!
//! yuqing ships no third-party text. Demos, tests and benchmarks that need
//! posts get them from here: everyday chatter assembled from a small
//! vocabulary, and incident reports built from templates (a region, an
//! incident of some category, a casualty count). The same seed always
//! gives the same posts.
//!
//! [`corpus`] loads a real corpus for benchmarks when one is available and
//! falls back to this generator otherwise.
//!
//! ```
//! use yuqing_gen::Generator;
//! let mut g = Generator::new(7);
//! let a = g.chatter();
//! let b = Generator::new(7).chatter();
//! assert_eq!(a, b);
//! let (category, text) = g.incident();
//! assert!(!category.is_empty() && !text.is_empty());
//! ```

pub mod corpus;

/// A small, fast, seedable PRNG (SplitMix64). Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One element of `items` (non-empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const OPENERS: &[&str] = &[
    "今天",
    "刚才",
    "早上",
    "晚上",
    "周末",
    "昨天",
    "这几天",
    "下班路上",
    "中午",
    "半夜",
    "最近",
    "刚刚",
];
const CHATTER: &[&str] = &[
    "和朋友去吃了火锅",
    "终于把论文写完了",
    "地铁上人好多",
    "猫又把杯子打翻了",
    "天气不错适合出去走走",
    "加班到现在好累",
    "新买的耳机音质很好",
    "排队买奶茶排了半小时",
    "看完一部电影感觉还行",
    "健身房今天人不多",
    "楼下的桂花开了",
    "考试终于结束了",
    "跟妈妈视频聊了很久",
    "外卖送得特别慢",
    "准备去海边旅游",
    "公司楼下新开了一家面馆",
    "这首歌单曲循环一整天",
    "今天跑了五公里",
    "周末打算在家睡觉",
    "手机屏幕又摔碎了",
    "同事带了自己做的蛋糕",
    "路边的小狗好可爱",
    "图书馆的空调太冷了",
    "买的快递终于到了",
    "明天要早起开会",
    "晚饭做了番茄炒蛋",
    "球赛看得好激动",
    "孩子今天学会了骑车",
    "咖啡喝多了睡不着",
    "朋友圈都在晒年终奖",
];
const CLOSERS: &[&str] = &[
    "",
    "哈哈哈",
    "好开心",
    "心累",
    "加油",
    "晚安",
    "[微笑]",
    "[哈哈]",
    "真不错",
    "有点无聊",
    "大家觉得呢",
    "冲鸭",
];

/// The regions incident templates pick from (canonical name, alias).
pub const REGIONS: &[(&str, &str)] = &[
    ("滁州市", "滁州"),
    ("合肥市", "合肥"),
    ("南京市", "南京"),
    ("杭州市", "杭州"),
    ("成都市", "成都"),
    ("武汉市", "武汉"),
    ("广州市", "广州"),
    ("郑州市", "郑州"),
    ("西安市", "西安"),
    ("昆明市", "昆明"),
];

/// Incident templates per category; `{r}` is a region, `{n}` a number.
pub const INCIDENTS: &[(&str, &[&str])] = &[
    (
        "fire",
        &[
            "{r}一居民楼突发火灾，消防员正在扑救，{n}人被困",
            "{r}某仓库起火，现场浓烟滚滚，暂无人员伤亡",
            "{r}山火蔓延，过火面积持续扩大，当地已疏散群众",
        ],
    ),
    (
        "explosion",
        &[
            "{r}一化工厂发生爆炸，造成{n}人受伤",
            "{r}一小区燃气爆炸，附近居民听到一声巨响",
            "{r}一餐馆液化气罐闪爆，{n}人送医",
        ],
    ),
    (
        "traffic",
        &[
            "{r}高速公路发生多车相撞事故，造成{n}人死亡",
            "{r}一辆大货车侧翻，司机被困车内",
            "{r}路口两车相撞，{n}人受伤送医",
        ],
    ),
    (
        "flood",
        &[
            "{r}暴雨致城区严重内涝，多条道路积水",
            "{r}山洪暴发，{n}人失联，救援正在进行",
            "{r}河水暴涨漫过堤坝，沿河村庄被淹",
        ],
    ),
    (
        "pollution",
        &[
            "{r}一条河出现大量死鱼，村民怀疑有工厂偷排污水",
            "{r}化工厂附近刺鼻气味持续多日，居民投诉污染",
        ],
    ),
    (
        "geohazard",
        &[
            "{r}发生山体滑坡，{n}间房屋被掩埋",
            "{r}附近发生4.8级地震，震感强烈",
        ],
    ),
    (
        "food_drug",
        &[
            "{r}一学校食堂疑似食物中毒，{n}名学生送医",
            "{r}查获一处黑作坊，非法添加工业原料",
        ],
    ),
    (
        "work_safety",
        &[
            "{r}一工地脚手架坍塌，{n}名工人被困",
            "{r}一煤矿发生透水事故，井下{n}人被困",
        ],
    ),
    ("violence", &["{r}一男子持刀伤人，{n}人受伤，嫌犯已被控制"]),
    (
        "fraud",
        &[
            "{r}一市民接到冒充客服的电话，被骗走{n}万元",
            "{r}警方打掉一个电信诈骗团伙，涉案金额{n}万元",
        ],
    ),
    (
        "outage",
        &[
            "{r}多个小区大面积停电，供电部门正在抢修",
            "{r}一处自来水管爆裂，周边小区停水",
        ],
    ),
    (
        "public_health",
        &["{r}一所学校出现聚集性疫情，新增病例{n}例"],
    ),
];

/// How eyewitnesses and bystanders open a report.
const WITNESS_OPENERS: &[&str] = &[
    "",
    "",
    "突发！",
    "刚刚",
    "刚才",
    "我家附近",
    "听朋友说",
    "有没有人知道，",
    "现场视频：",
    "紧急扩散！",
    "天哪，",
    "网友爆料：",
    "[吃惊]",
    "真的假的？",
    "本地消息：",
    "下班路过看到",
];
/// What they add after the news.
const WITNESS_REACTIONS: &[&str] = &[
    "",
    "",
    "太吓人了",
    "希望大家平安",
    "附近的朋友注意安全",
    "求扩散",
    "路都封了",
    "一直有车往那边开",
    "到底怎么回事",
    "已经有人在现场了",
    "[蜡烛]",
    "祈福",
    "心疼",
    "等官方通报",
    "附近好多人在围观",
    "我们小区都听到了",
    "朋友圈都刷屏了",
    "楼上邻居也在问",
];

/// Generates posts from a seed.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
}

impl Generator {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Generator {
            rng: Rng::new(seed),
        }
    }

    /// The underlying random source.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// One post of everyday chatter (no incident).
    pub fn chatter(&mut self) -> String {
        let r = &mut self.rng;
        let mut s = String::new();
        s.push_str(r.pick::<&str>(OPENERS));
        s.push_str(r.pick::<&str>(CHATTER));
        if r.below(3) == 0 {
            s.push('，');
            s.push_str(r.pick::<&str>(CHATTER));
        }
        s.push_str(r.pick::<&str>(CLOSERS));
        s
    }

    /// One incident report: (category id, text).
    pub fn incident(&mut self) -> (&'static str, String) {
        let (category, templates) = *self.rng.pick(INCIDENTS);
        let region = self.rng.pick(REGIONS).1;
        (category, self.incident_text(templates, region))
    }

    /// One incident report of `category` in `region` (an alias from
    /// [`REGIONS`] or any name), or `None` for an unknown category.
    pub fn incident_of(&mut self, category: &str, region: &str) -> Option<String> {
        let templates = INCIDENTS.iter().find(|(c, _)| *c == category)?.1;
        Some(self.incident_text(templates, region))
    }

    /// An eyewitness-style report of `category` in `region`: the news in
    /// the writer's own framing, so that independent reports of one
    /// incident differ as they do in real streams. `None` for an unknown
    /// category.
    pub fn report_of(&mut self, category: &str, region: &str) -> Option<String> {
        let news = self.incident_of(category, region)?;
        let opener = *self.rng.pick(WITNESS_OPENERS);
        let reaction = *self.rng.pick(WITNESS_REACTIONS);
        let sep = if reaction.is_empty() { "" } else { "，" };
        Some(format!("{opener}{news}{sep}{reaction}"))
    }

    fn incident_text(&mut self, templates: &[&str], region: &str) -> String {
        let t = *self.rng.pick(templates);
        let n = 1 + self.rng.below(12);
        t.replace("{r}", region).replace("{n}", &n.to_string())
    }
}

/// A generated post of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenPost {
    /// Id.
    pub id: String,
    /// Event time, ms since the epoch.
    pub ts_ms: i64,
    /// Platform.
    pub platform: &'static str,
    /// Author id.
    pub author: String,
    /// Text.
    pub text: String,
}

/// An incident burst inside a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// Category id (one of [`INCIDENTS`]).
    pub category: String,
    /// Region name as it appears in the text (`滁州`).
    pub region: String,
    /// Start, minutes after the stream's start.
    pub at_minute: u32,
    /// Duration in minutes.
    pub minutes: u32,
    /// Posts in the burst (about a third of them reposts).
    pub posts: u32,
}

/// What [`stream`] generates.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Seed.
    pub seed: u64,
    /// Start, ms since the epoch.
    pub start_ms: i64,
    /// Length in minutes.
    pub minutes: u32,
    /// Background posts per minute (on average).
    pub per_minute: f64,
    /// Incident bursts.
    pub bursts: Vec<Burst>,
}

const PLATFORMS: &[&str] = &["weibo", "weibo", "weibo", "wechat", "news", "douyin"];

/// A stream of posts in time order: everyday chatter with a scattering of
/// unrelated incident reports (about one an hour, random category and
/// region), plus the bursts: many independent reports of one incident in a
/// short time, and reposts of them.
pub fn stream(spec: &StreamSpec) -> Vec<GenPost> {
    let mut g = Generator::new(spec.seed);
    let mut out: Vec<GenPost> = Vec::new();
    let mut n = 0u64;
    let mut next_id = |prefix: &str| {
        n += 1;
        format!("{prefix}-{n:06}")
    };
    let span_ms = i64::from(spec.minutes) * 60_000;
    let background = (spec.per_minute * f64::from(spec.minutes)).round() as u64;
    for _ in 0..background {
        let ts_ms = spec.start_ms + (g.rng().unit() * span_ms as f64) as i64;
        let text = if g.rng().below(240) == 0 {
            g.incident().1
        } else {
            g.chatter()
        };
        let author = format!("u{}", g.rng().below(5_000));
        let platform = *g.rng().pick(PLATFORMS);
        out.push(GenPost {
            id: next_id("gen"),
            ts_ms,
            platform,
            author,
            text,
        });
    }
    for b in &spec.bursts {
        let start = spec.start_ms + i64::from(b.at_minute) * 60_000;
        let len = i64::from(b.minutes.max(1)) * 60_000;
        let mut originals: Vec<(String, String)> = Vec::new();
        for _ in 0..b.posts {
            // Reports arrive faster early on: a square-root ramp.
            let ts_ms = start + (g.rng().unit().powf(1.6) * len as f64) as i64;
            let author = format!("w{}", g.rng().below(100_000));
            let platform = *g.rng().pick(PLATFORMS);
            let text = if !originals.is_empty() && g.rng().below(3) == 0 {
                let (who, what) = g.rng().pick(&originals).clone();
                format!("转发微博 //@{who}: {what}")
            } else {
                let t = g
                    .report_of(&b.category, &b.region)
                    .unwrap_or_else(|| g.chatter());
                originals.push((author.clone(), t.clone()));
                t
            };
            out.push(GenPost {
                id: next_id("gen"),
                ts_ms,
                platform,
                author,
                text,
            });
        }
    }
    out.sort_by(|a, b| a.ts_ms.cmp(&b.ts_ms).then(a.id.cmp(&b.id)));
    out
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_ordered_and_contain_the_burst() {
        let spec = StreamSpec {
            seed: 3,
            start_ms: 1_719_792_000_000,
            minutes: 120,
            per_minute: 2.0,
            bursts: vec![Burst {
                category: "fire".into(),
                region: "合肥".into(),
                at_minute: 60,
                minutes: 10,
                posts: 30,
            }],
        };
        let a = stream(&spec);
        assert_eq!(a, stream(&spec));
        assert_eq!(a.len(), 240 + 30);
        assert!(a.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
        let in_burst = a
            .iter()
            .filter(|p| {
                p.text.contains("合肥") && (1_719_795_600_000..1_719_796_200_000).contains(&p.ts_ms)
            })
            .count();
        assert!(in_burst >= 30, "{in_burst}");
    }
}
