//! A bounded "best k so far" collection with coldkit's total order: higher score first, and
//! among equal scores the lower item index first (so results are deterministic).

/// One scored item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub score: f32,
    pub index: usize,
}

impl Scored {
    /// `self` ranks strictly before `other`.
    #[inline]
    pub fn better_than(&self, other: &Scored) -> bool {
        self.score > other.score || (self.score == other.score && self.index < other.index)
    }
}

/// The best `k` items pushed so far, as a binary heap whose root is the *worst* kept item.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: Vec<Scored>,
}

impl TopK {
    /// Room for `k` items (allocates lazily up to `min(k, 4096)` at first).
    pub fn new(k: usize) -> Self {
        TopK { k, heap: Vec::with_capacity(k.min(4096)) }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Scores must beat this to enter (`-inf` until k items are kept). In an ascending-index
    /// scan an equal score never enters, because the kept item has the lower index.
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap[0].score
        }
    }

    /// Offer an item; kept if it ranks before the current worst (or there is room).
    pub fn push(&mut self, item: Scored) {
        if self.heap.len() < self.k {
            self.heap.push(item);
            self.sift_up(self.heap.len() - 1);
        } else if self.k > 0 && item.better_than(&self.heap[0]) {
            self.heap[0] = item;
            self.sift_down(0);
        }
    }

    /// Kept items, best first.
    pub fn into_sorted(mut self) -> Vec<Scored> {
        self.heap.sort_unstable_by(|a, b| {
            b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal).then(a.index.cmp(&b.index))
        });
        self.heap
    }

    /// Move every item of `other` into `self`.
    pub fn merge(&mut self, other: TopK) {
        for item in other.heap {
            self.push(item);
        }
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            // Worse items float to the root.
            if self.heap[parent].better_than(&self.heap[pos]) {
                self.heap.swap(parent, pos);
                pos = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        let n = self.heap.len();
        loop {
            let left = 2 * pos + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let worse_child = if right < n && self.heap[left].better_than(&self.heap[right]) { right } else { left };
            if self.heap[pos].better_than(&self.heap[worse_child]) {
                self.heap.swap(pos, worse_child);
                pos = worse_child;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_best_k_with_ties_by_lower_index() {
        let scores = [0.5f32, 0.9, 0.5, 0.1, 0.9, 0.5, 0.7];
        for k in 0..=scores.len() + 2 {
            let mut top = TopK::new(k);
            // Push in a scrambled order: the order must not matter.
            for &i in &[6usize, 2, 4, 0, 3, 5, 1] {
                top.push(Scored { score: scores[i], index: i });
            }
            let got: Vec<usize> = top.into_sorted().iter().map(|s| s.index).collect();
            let mut want: Vec<usize> = (0..scores.len()).collect();
            want.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap().then(a.cmp(&b)));
            want.truncate(k);
            assert_eq!(got, want, "k={k}");
        }
    }
}
