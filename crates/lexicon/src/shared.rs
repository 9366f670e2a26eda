//! A lexicon that can be swapped while it is in use (dictionary hot
//! reload).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::Lexicon;

/// The current [`Lexicon`], replaceable at run time. Readers take the
/// current one with [`SharedLexicon::load`] (an `Arc`: it stays valid for as
/// long as they hold it, even after a swap) and notice swaps by the
/// [`SharedLexicon::generation`] number; a swap never blocks them for more
/// than a pointer copy.
#[derive(Debug)]
pub struct SharedLexicon {
    current: RwLock<Arc<Lexicon>>,
    generation: AtomicU64,
}

impl SharedLexicon {
    /// Starts with `lexicon`, generation 0.
    pub fn new(lexicon: Arc<Lexicon>) -> Self {
        SharedLexicon {
            current: RwLock::new(lexicon),
            generation: AtomicU64::new(0),
        }
    }

    /// The current lexicon.
    pub fn load(&self) -> Arc<Lexicon> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the lexicon; returns the new generation.
    pub fn store(&self, lexicon: Arc<Lexicon>) -> u64 {
        match self.current.write() {
            Ok(mut g) => *g = lexicon,
            Err(poisoned) => *poisoned.into_inner() = lexicon,
        }
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// How many times the lexicon was replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// What a successful reload did: the answer of `POST /api/v1/admin/reload`
/// and the fields of the log line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReloadReport {
    /// Where the dictionaries came from (`built-in` or a directory).
    pub source: String,
    /// Categories now in use.
    pub categories: usize,
    /// Terms now in use.
    pub terms: usize,
    /// How many reloads this process has done (the
    /// [`SharedLexicon::generation`] after the swap).
    pub generation: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_what_they_loaded_and_see_the_swap() {
        let a = Arc::new(Lexicon::builtin().unwrap());
        let shared = SharedLexicon::new(Arc::clone(&a));
        let held = shared.load();
        assert_eq!(shared.generation(), 0);
        let b = Arc::new(Lexicon::builtin().unwrap());
        assert_eq!(shared.store(Arc::clone(&b)), 1);
        assert!(Arc::ptr_eq(&held, &a));
        assert!(Arc::ptr_eq(&shared.load(), &b));
    }
}
