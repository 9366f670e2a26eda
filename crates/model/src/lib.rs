//! The data model shared by every yuqing stage.
//!
//! A [`Post`] is what arrives (one JSON object per message or line). It is
//! validated once, at the edge, by [`Post::from_json`]: every later stage can
//! rely on its invariants (an id of 1 to 256 bytes, a text of 1 to 65,536
//! bytes, a timestamp in range). A [`ScoredPost`] is a post plus what the
//! matching core found in it: the incident [`CategoryHit`]s, the regions it
//! mentions and, when it reports an incident, its [`Severity`].
//!
//! Errors name the field and the problem ([`PostError`]) so that a producer
//! can fix its messages without reading yuqing's source.

mod level;
mod post;
mod scored;
mod timestamp;

pub use level::{Level, ParseLevelError};
pub use post::{
    FieldNames, MAX_ID_BYTES, MAX_OPTIONAL_BYTES, MAX_TEXT_BYTES, ParseOptions, Post, PostError,
};
pub use scored::{CategoryHit, ScoredPost, Severity};
pub use timestamp::{Timestamp, TimestampError, format_utc_offset, parse_utc_offset};
