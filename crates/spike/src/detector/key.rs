//! What the detector counts: a category, or a category in a region.

use serde::{Deserialize, Serialize};

/// What is counted: a category, or a category in a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// Category id.
    pub category: String,
    /// Canonical region name; `None` for the category as a whole.
    pub region: Option<String>,
}
