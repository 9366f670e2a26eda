use serde::{Deserialize, Serialize};

use crate::{Level, Post};

/// One incident category flagged in a post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryHit {
    /// The category id (`fire`, `flood`, …), as in the dictionary file.
    pub id: String,
    /// The post's score for the category: the sum of the weights of the
    /// distinct terms that counted. At or above the category's threshold.
    pub score: f32,
    /// The distinct terms that counted, in order of first appearance, as
    /// written in the dictionary (simplified Chinese).
    pub terms: Vec<String>,
}

/// How serious the incident a post reports is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// The level: the highest of the casualty grading and every cue found.
    pub level: Level,
    /// Largest death toll reported (死亡, 遇难, 身亡 …), 0 if none.
    pub dead: u32,
    /// Largest number of injured reported (受伤, 伤 …), 0 if none.
    pub injured: u32,
    /// Largest number of missing reported (失联, 失踪 …), 0 if none.
    pub missing: u32,
    /// Largest number of people reported trapped (被困), 0 if none.
    pub trapped: u32,
    /// The severity cues found (疏散, 红色预警, 一级响应 …), distinct, in
    /// order of first appearance.
    pub cues: Vec<String>,
}

/// A post with what the matching core found in it.
///
/// Serialised flat: the post's own fields, then `categories`, `regions` and
/// `severity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPost {
    /// The post as received.
    #[serde(flatten)]
    pub post: Post,
    /// The flagged categories, highest score first. Empty when the post
    /// reports no incident.
    pub categories: Vec<CategoryHit>,
    /// Canonical names of the regions the text mentions (a prefecture
    /// brings its province along), in order of first mention.
    pub regions: Vec<String>,
    /// Severity of the reported incident; `null` when no category is flagged.
    pub severity: Option<Severity>,
}

impl ScoredPost {
    /// Whether any category is flagged.
    pub fn is_incident(&self) -> bool {
        !self.categories.is_empty()
    }
}
