use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Largest accepted `id`, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Largest accepted `text`, in bytes (64 KiB).
pub const MAX_TEXT_BYTES: usize = 65_536;
/// Largest accepted value of an optional string field (`platform`, `author`,
/// `region`, `url`, `lang`), in bytes.
pub const MAX_OPTIONAL_BYTES: usize = 4_096;

/// One post, as it arrives.
///
/// JSON form (unknown fields are ignored; `null` counts as absent for the
/// optional ones):
///
/// ```json
/// {"id": "wb-1", "text": "滁河水污染，大量死鱼", "ts": "2024-07-01T08:30:00+08:00",
///  "platform": "weibo", "author": "u123", "region": "安徽", "url": "https://…",
///  "lang": "zh", "reposts": 12, "comments": 3, "likes": 40, "views": 1000}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// Unique id, 1 to 256 bytes. A post seen twice with the same id is the
    /// same post.
    pub id: String,
    /// The text, 1 to 65,536 bytes of UTF-8, as written.
    pub text: String,
    /// When it was posted (event time).
    pub ts: Timestamp,
    /// Where it was posted (`weibo`, `wechat`, `news`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The author's id, as given by the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A region supplied by the source (geotag, profile location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A link to the post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Language tag, if the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Number of reposts / shares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reposts: Option<u64>,
    /// Number of comments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comments: Option<u64>,
    /// Number of likes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likes: Option<u64>,
    /// Number of views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views: Option<u64>,
}

/// Options for [`Post::from_json_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Timestamp for posts that carry no `ts` (backfills of archives
    /// without times). `None`: `ts` is required.
    pub default_ts: Option<Timestamp>,
    /// Names of the fields in the input, when an archive uses its own.
    /// Errors name the input's field.
    pub fields: FieldNames,
    /// Also read local times without an offset (`YYYY-MM-DD HH:MM[:SS]`,
    /// see [`Timestamp::parse_lenient`]) at this many seconds east of UTC.
    /// `None`: RFC 3339 or epoch integers only.
    pub local_offset_secs: Option<i32>,
    /// A post without `id` is accepted with an empty id, for the caller
    /// to fill in (`yuqing backtest` names it after its line).
    pub id_optional: bool,
}

/// The input's names for the fields that archives name differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    /// The id field (`id`).
    pub id: String,
    /// The text field (`text`).
    pub text: String,
    /// The time field (`ts`).
    pub ts: String,
    /// The author field (`author`).
    pub author: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            id: "id".into(),
            text: "text".into(),
            ts: "ts".into(),
            author: "author".into(),
        }
    }
}

impl FieldNames {
    /// (standard name, input name) for every field.
    fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("id", &self.id),
            ("text", &self.text),
            ("ts", &self.ts),
            ("author", &self.author),
        ]
    }

    /// The input's name of a standard field name (other names unchanged).
    fn input_name(&self, standard: &str) -> String {
        self.pairs()
            .iter()
            .find(|(s, _)| *s == standard)
            .map_or(standard, |(_, n)| n)
            .to_string()
    }
}

/// The wire form: like [`Post`], with `ts` (and, when allowed, `id`)
/// optional so that a default can be applied.
#[derive(Deserialize)]
struct RawPost {
    #[serde(default)]
    id: Option<String>,
    text: String,
    #[serde(default)]
    ts: Option<Timestamp>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    reposts: Option<u64>,
    #[serde(default)]
    comments: Option<u64>,
    #[serde(default)]
    likes: Option<u64>,
    #[serde(default)]
    views: Option<u64>,
}

/// Why bytes are not a valid [`Post`]. The `Display` form is the message
/// shown to users (`line 7: field \`ts\`: …`), so it names the field and
/// says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The bytes are not UTF-8.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The bytes are not JSON, or JSON cut short.
    #[error("malformed JSON at column {column}: {message}")]
    Malformed {
        /// 1-based column (in bytes) where the parser stopped.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// Valid JSON, but not an object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject {
        /// What was found instead (`array`, `string`, …).
        found: &'static str,
    },
    /// A required field is absent.
    #[error("missing required field `{field}`")]
    Missing {
        /// The field's name.
        field: String,
    },
    /// A field is present but wrong.
    #[error("field `{field}`: {problem}")]
    Field {
        /// The field's name.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl PostError {
    /// A short machine-readable reason (`invalid_utf8`, `malformed_json`,
    /// `not_an_object`, `missing_field`, `invalid_field`), for counters and
    /// dead-letter headers.
    pub fn reason(&self) -> &'static str {
        match self {
            PostError::InvalidUtf8 { .. } => "invalid_utf8",
            PostError::Malformed { .. } => "malformed_json",
            PostError::NotAnObject { .. } => "not_an_object",
            PostError::Missing { .. } => "missing_field",
            PostError::Field { .. } => "invalid_field",
        }
    }
}

impl Post {
    /// A post with only the required fields; the optional ones are absent.
    /// Not validated (see [`Post::validate`]).
    ///
    /// ```
    /// use yuqing_model::{Post, Timestamp};
    /// let ts = Timestamp::from_epoch(1719793800).unwrap();
    /// let p = Post { author: Some("u1".into()), ..Post::new("a", "滁州爆炸", ts) };
    /// assert!(p.validate().is_ok());
    /// assert_eq!(p.platform, None);
    /// ```
    pub fn new(id: impl Into<String>, text: impl Into<String>, ts: Timestamp) -> Post {
        Post {
            id: id.into(),
            text: text.into(),
            ts,
            platform: None,
            author: None,
            region: None,
            url: None,
            lang: None,
            reposts: None,
            comments: None,
            likes: None,
            views: None,
        }
    }

    /// Parses and validates one JSON object.
    ///
    /// ```
    /// use yuqing_model::Post;
    /// let p = Post::from_json(br#"{"id":"a","text":"t","ts":1719793800,"x":1}"#).unwrap();
    /// assert_eq!(p.ts.to_string(), "2024-07-01T00:30:00Z");
    /// let e = Post::from_json(br#"{"id":"a","text":"t"}"#).unwrap_err();
    /// assert_eq!(e.to_string(), "missing required field `ts`");
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Post, PostError> {
        Post::from_json_with(bytes, &ParseOptions::default())
    }

    /// Like [`Post::from_json`], with options.
    ///
    /// ```
    /// use yuqing_model::{ParseOptions, Post, Timestamp};
    /// let opts = ParseOptions {
    ///     default_ts: Some(Timestamp::from_epoch(1719793800).unwrap()),
    ///     ..ParseOptions::default()
    /// };
    /// let p = Post::from_json_with(br#"{"id":"a","text":"t"}"#, &opts).unwrap();
    /// assert_eq!(p.ts.as_secs(), 1719793800);
    /// ```
    pub fn from_json_with(bytes: &[u8], options: &ParseOptions) -> Result<Post, PostError> {
        let s = std::str::from_utf8(bytes).map_err(|e| PostError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        Post::from_json_str_with(s, options)
    }

    /// Like [`Post::from_json`], for text already known to be UTF-8.
    pub fn from_json_str(s: &str) -> Result<Post, PostError> {
        Post::from_json_str_with(s, &ParseOptions::default())
    }

    /// Like [`Post::from_json_with`], for text already known to be UTF-8.
    pub fn from_json_str_with(s: &str, options: &ParseOptions) -> Result<Post, PostError> {
        // A byte-order mark is how some Windows tools start UTF-8 text;
        // it is not part of the JSON.
        let s = s.strip_prefix('\u{feff}').unwrap_or(s);
        let found = match s.trim_start().as_bytes().first() {
            Some(b'{') => None,
            Some(b'[') => Some("an array"),
            Some(b'"') => Some("a string"),
            Some(b'0'..=b'9' | b'-') => Some("a number"),
            Some(b't' | b'f') => Some("a boolean"),
            Some(b'n') => Some("null"),
            _ => None,
        };
        if let Some(found) = found {
            // Only valid JSON is "not an object"; `nonsense` or `tru` is
            // malformed JSON, whatever its first letter.
            let mut de = serde_json::Deserializer::from_str(s);
            serde::de::IgnoredAny::deserialize(&mut de)
                .and_then(|_| de.end())
                .map_err(|e| PostError::Malformed {
                    column: e.column(),
                    message: strip_position(&e.to_string()),
                })?;
            return Err(PostError::NotAnObject { found });
        }
        let custom = options.fields != FieldNames::default() || options.local_offset_secs.is_some();
        let raw = if custom {
            raw_with_names(s, options)?
        } else {
            let mut de = serde_json::Deserializer::from_str(s);
            let raw: RawPost = match serde_path_to_error::deserialize(&mut de) {
                Ok(p) => p,
                Err(e) => return Err(classify(e, &options.fields)),
            };
            de.end().map_err(|e| PostError::Malformed {
                column: e.column(),
                message: strip_position(&e.to_string()),
            })?;
            raw
        };
        let ts = match (raw.ts, options.default_ts) {
            (Some(ts), _) | (None, Some(ts)) => ts,
            (None, None) => {
                return Err(PostError::Missing {
                    field: options.fields.ts.clone(),
                });
            }
        };
        let (id, check_id) = match raw.id {
            Some(id) => (id, true),
            None if options.id_optional => (String::new(), false),
            None => {
                return Err(PostError::Missing {
                    field: options.fields.id.clone(),
                });
            }
        };
        let post = Post {
            id,
            text: raw.text,
            ts,
            platform: raw.platform,
            author: raw.author,
            region: raw.region,
            url: raw.url,
            lang: raw.lang,
            reposts: raw.reposts,
            comments: raw.comments,
            likes: raw.likes,
            views: raw.views,
        };
        post.check(check_id)
            .map_err(|e| rename_field(e, &options.fields))?;
        Ok(post)
    }

    /// Checks the size limits. [`Post::from_json`] calls this; call it
    /// yourself for a `Post` built in code.
    pub fn validate(&self) -> Result<(), PostError> {
        self.check(true)
    }

    fn check(&self, check_id: bool) -> Result<(), PostError> {
        if check_id {
            check_len("id", &self.id, 1, MAX_ID_BYTES)?;
        }
        check_len("text", &self.text, 1, MAX_TEXT_BYTES)?;
        for (name, value) in [
            ("platform", &self.platform),
            ("author", &self.author),
            ("region", &self.region),
            ("url", &self.url),
            ("lang", &self.lang),
        ] {
            if let Some(v) = value {
                check_len(name, v, 0, MAX_OPTIONAL_BYTES)?;
            }
        }
        Ok(())
    }
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), PostError> {
    let n = value.len();
    if n < min {
        return Err(PostError::Field {
            field: field.to_string(),
            problem: "must not be empty".to_string(),
        });
    }
    if n > max {
        return Err(PostError::Field {
            field: field.to_string(),
            problem: format!("is {n} bytes, over the limit of {max}"),
        });
    }
    Ok(())
}

/// Reads an object whose fields have the input's own names, and reads
/// local times, into the wire form.
fn raw_with_names(s: &str, options: &ParseOptions) -> Result<RawPost, PostError> {
    // Only what starts like an object gets here (see the caller).
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(s).map_err(|e| PostError::Malformed {
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
    let names = &options.fields;
    let mut renamed = serde_json::Map::new();
    for (standard, name) in names.pairs() {
        if let Some(v) = object.remove(name) {
            renamed.insert(standard.to_string(), v);
        }
    }
    for (k, v) in object {
        // A standard name the input uses for something else is not ours.
        if !renamed.contains_key(&k) && names.pairs().iter().all(|(s, _)| *s != k) {
            renamed.insert(k, v);
        }
    }
    if let (Some(offset), Some(serde_json::Value::String(t))) =
        (options.local_offset_secs, renamed.get("ts"))
    {
        let ts = Timestamp::parse_lenient(t, offset).map_err(|e| PostError::Field {
            field: names.ts.clone(),
            problem: e.to_string(),
        })?;
        renamed.insert("ts".into(), serde_json::Value::String(ts.to_string()));
    }
    serde_path_to_error::deserialize(serde_json::Value::Object(renamed))
        .map_err(|e| classify(e, names))
}

/// An error about a standard field, named as the input names it.
fn rename_field(e: PostError, names: &FieldNames) -> PostError {
    match e {
        PostError::Missing { field } => PostError::Missing {
            field: names.input_name(&field),
        },
        PostError::Field { field, problem } => PostError::Field {
            field: names.input_name(&field),
            problem,
        },
        other => other,
    }
}

fn classify(e: serde_path_to_error::Error<serde_json::Error>, names: &FieldNames) -> PostError {
    rename_field(classify_standard(e), names)
}

fn classify_standard(e: serde_path_to_error::Error<serde_json::Error>) -> PostError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let message = strip_position(&inner.to_string());
    match inner.classify() {
        serde_json::error::Category::Data => {
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'))
            {
                return PostError::Missing {
                    field: field.to_string(),
                };
            }
            if path.is_empty() || path == "." {
                PostError::Field {
                    field: "?".to_string(),
                    problem: message,
                }
            } else {
                PostError::Field {
                    field: path,
                    problem: message,
                }
            }
        }
        _ => PostError::Malformed {
            column: inner.column(),
            message,
        },
    }
}

/// serde_json appends " at line L column C"; the column is reported
/// separately and the line is always 1 for a single message.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        Post::from_json(json.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn accepts_a_full_post_and_ignores_unknown_fields() {
        let p = Post::from_json(
            r#"{"id":"wb-1","text":"滁河水污染","ts":"2024-07-01T08:30:00+08:00",
               "platform":"weibo","author":"u1","region":"安徽","url":"https://e.x/1",
               "lang":"zh","reposts":3,"comments":null,"likes":4,"views":5,
               "something_new":{"nested":[1,2]}}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(p.id, "wb-1");
        assert_eq!(p.reposts, Some(3));
        assert_eq!(p.comments, None);
        assert_eq!(p.ts.to_string(), "2024-07-01T00:30:00Z");
    }

    #[test]
    fn names_the_field_and_the_problem() {
        assert_eq!(err(r#"{"text":"t","ts":1}"#), "missing required field `id`");
        assert!(
            err(r#"{"id":5,"text":"t","ts":1}"#)
                .starts_with("field `id`: invalid type: integer `5`")
        );
        assert_eq!(
            err(r#"{"id":"","text":"t","ts":1}"#),
            "field `id`: must not be empty"
        );
        let long = "x".repeat(257);
        assert_eq!(
            err(&format!(r#"{{"id":"{long}","text":"t","ts":1}}"#)),
            "field `id`: is 257 bytes, over the limit of 256"
        );
        let e = err(r#"{"id":"a","text":"t","ts":"soon"}"#);
        assert!(
            e.starts_with("field `ts`: `soon` is not an RFC 3339"),
            "{e}"
        );
        let e = err(r#"{"id":"a","text":"t","ts":1,"likes":-1}"#);
        assert!(e.starts_with("field `likes`:"), "{e}");
    }

    #[test]
    fn text_limit_is_65536_bytes() {
        let ok = "水".repeat(MAX_TEXT_BYTES / 3);
        assert!(
            Post::from_json(format!(r#"{{"id":"a","text":"{ok}","ts":1}}"#).as_bytes()).is_ok()
        );
        let big = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            err(&format!(r#"{{"id":"a","text":"{big}","ts":1}}"#)),
            "field `text`: is 65537 bytes, over the limit of 65536"
        );
    }

    #[test]
    fn malformed_and_non_object_input() {
        let e = err(r#"{"id":"a","text":"#);
        assert!(e.starts_with("malformed JSON at column"), "{e}");
        assert_eq!(err("[1,2]"), "expected a JSON object, found an array");
        assert_eq!(err("null"), "expected a JSON object, found null");
        let e = err(r#"{"id":"a","text":"t","ts":1} trailing"#);
        assert!(e.starts_with("malformed JSON"), "{e}");
        let bad = b"{\"id\":\"a\",\"text\":\"\xff\",\"ts\":1}";
        assert_eq!(
            Post::from_json(bad).unwrap_err(),
            PostError::InvalidUtf8 { offset: 18 }
        );
    }

    #[test]
    fn a_leading_byte_order_mark_is_not_part_of_the_json() {
        let p =
            Post::from_json("\u{feff}{\"id\":\"a\",\"text\":\"t\",\"ts\":1}".as_bytes()).unwrap();
        assert_eq!((p.id.as_str(), p.text.as_str()), ("a", "t"));
        // Only at the start: inside a value it stays, elsewhere it is malformed.
        let p =
            Post::from_json("{\"id\":\"a\",\"text\":\"\u{feff}t\",\"ts\":1}".as_bytes()).unwrap();
        assert_eq!(p.text, "\u{feff}t");
        let e = Post::from_json("{\"id\":\"a\",\u{feff}\"text\":\"t\",\"ts\":1}".as_bytes())
            .unwrap_err();
        assert_eq!(e.reason(), "malformed_json", "{e}");
    }

    #[test]
    fn words_that_are_not_json_are_malformed_not_non_objects() {
        for bad in [
            "nonsense", "tru", "nul", "fals", "-x", "\"open", "[1,", "truex", "null x",
        ] {
            let e = Post::from_json(bad.as_bytes()).unwrap_err();
            assert_eq!(e.reason(), "malformed_json", "{bad}: {e}");
            assert!(e.to_string().starts_with("malformed JSON at column"), "{e}");
        }
        for (ok, found) in [("true", "a boolean"), ("null", "null"), (" 12", "a number")] {
            assert_eq!(
                Post::from_json(ok.as_bytes()).unwrap_err(),
                PostError::NotAnObject { found }
            );
        }
    }

    #[test]
    fn an_archive_s_own_field_names_and_local_times() {
        let opts = ParseOptions {
            fields: FieldNames {
                text: "content".into(),
                ts: "created".into(),
                ..FieldNames::default()
            },
            local_offset_secs: Some(8 * 3600),
            id_optional: true,
            ..ParseOptions::default()
        };
        let p = Post::from_json_with(
            r#"{"content":"滁州爆炸","created":"2024-07-01 08:30:00","text":5}"#.as_bytes(),
            &opts,
        )
        .unwrap();
        assert_eq!((p.id.as_str(), p.text.as_str()), ("", "滁州爆炸"));
        assert_eq!(p.ts.to_string(), "2024-07-01T00:30:00Z");
        let e = |json: &str| {
            Post::from_json_with(json.as_bytes(), &opts)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(e(r#"{"created":1}"#), "missing required field `content`");
        assert_eq!(
            e(r#"{"content":"","created":1}"#),
            "field `content`: must not be empty"
        );
        assert!(
            e(r#"{"content":"t","created":"soon"}"#).starts_with("field `created`: `soon`"),
            "{}",
            e(r#"{"content":"t","created":"soon"}"#)
        );
        assert!(
            e(r#"{"id":7,"content":"t","created":1}"#)
                .starts_with("field `id`: invalid type: integer `7`, expected a string")
        );
        assert_eq!(e("nonsense"), err("nonsense"));
        assert!(
            e(r#"{"id":"a","content":"t","created":1} x"#)
                .starts_with("malformed JSON at column 38")
        );
    }

    #[test]
    fn reasons_are_stable_identifiers() {
        assert_eq!(
            Post::from_json(b"[]").unwrap_err().reason(),
            "not_an_object"
        );
        assert_eq!(
            Post::from_json(b"{").unwrap_err().reason(),
            "malformed_json"
        );
        assert_eq!(
            Post::from_json(b"{}").unwrap_err().reason(),
            "missing_field"
        );
    }
}
