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
}

/// The wire form: like [`Post`], with `ts` optional so that a default can
/// be applied.
#[derive(Deserialize)]
struct RawPost {
    id: String,
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
    /// let opts = ParseOptions { default_ts: Some(Timestamp::from_epoch(1719793800).unwrap()) };
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
        match s.trim_start().as_bytes().first() {
            Some(b'{') => {}
            Some(b'[') => return Err(PostError::NotAnObject { found: "an array" }),
            Some(b'"') => return Err(PostError::NotAnObject { found: "a string" }),
            Some(b'0'..=b'9' | b'-') => return Err(PostError::NotAnObject { found: "a number" }),
            Some(b't' | b'f') => return Err(PostError::NotAnObject { found: "a boolean" }),
            Some(b'n') => return Err(PostError::NotAnObject { found: "null" }),
            _ => {}
        }
        let mut de = serde_json::Deserializer::from_str(s);
        let raw: RawPost = match serde_path_to_error::deserialize(&mut de) {
            Ok(p) => p,
            Err(e) => return Err(classify(e)),
        };
        de.end().map_err(|e| PostError::Malformed {
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
        let ts = match (raw.ts, options.default_ts) {
            (Some(ts), _) | (None, Some(ts)) => ts,
            (None, None) => {
                return Err(PostError::Missing {
                    field: "ts".to_string(),
                });
            }
        };
        let post = Post {
            id: raw.id,
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
        post.validate()?;
        Ok(post)
    }

    /// Checks the size limits. [`Post::from_json`] calls this; call it
    /// yourself for a `Post` built in code.
    pub fn validate(&self) -> Result<(), PostError> {
        check_len("id", &self.id, 1, MAX_ID_BYTES)?;
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

fn classify(e: serde_path_to_error::Error<serde_json::Error>) -> PostError {
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
