//! Putting back in order what parallel workers finish out of order.

use std::collections::BTreeMap;

/// Restores the order of numbered items (batches numbered 0, 1, 2 … as
/// they were read) that arrive in any order: each is held until every
/// earlier one has been taken. Used by the pipeline's sink and by the
/// command-line tools' ordered parallel map.
#[derive(Debug)]
pub struct Sequencer<T> {
    next: u64,
    waiting: BTreeMap<u64, T>,
}

impl<T> Default for Sequencer<T> {
    fn default() -> Self {
        Sequencer::new()
    }
}

impl<T> Sequencer<T> {
    /// Expects item 0 first.
    pub fn new() -> Self {
        Sequencer {
            next: 0,
            waiting: BTreeMap::new(),
        }
    }

    /// Takes item `seq`, whenever it arrives.
    pub fn insert(&mut self, seq: u64, item: T) {
        self.waiting.insert(seq, item);
    }

    /// The next item in order, if it has arrived.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.waiting.remove(&self.next)?;
        self.next += 1;
        Some(item)
    }

    /// How many items arrived ahead of one still missing.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_items_on_in_sequence_whatever_the_arrival_order() {
        let mut s = Sequencer::new();
        let mut out = Vec::new();
        for seq in [2u64, 0, 3, 1, 5, 4] {
            s.insert(seq, seq * 10);
            while let Some(x) = s.pop() {
                out.push(x);
            }
            if seq == 2 {
                // 0 has not arrived: nothing can go yet.
                assert_eq!(s.waiting(), 1);
                assert!(out.is_empty());
            }
        }
        assert_eq!(out, vec![0, 10, 20, 30, 40, 50]);
        assert_eq!(s.waiting(), 0);
    }

    #[test]
    fn holds_everything_behind_a_missing_item() {
        let mut s = Sequencer::new();
        for seq in 1..100u64 {
            s.insert(seq, seq);
        }
        assert_eq!(s.pop(), None);
        assert_eq!(s.waiting(), 99);
        s.insert(0, 0);
        let out: Vec<u64> = std::iter::from_fn(|| s.pop()).collect();
        assert_eq!(out, (0..100).collect::<Vec<_>>());
    }
}
