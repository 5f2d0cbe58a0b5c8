//! A set of timeline positions as a bitmap with a rank directory: what a
//! filter lets through and what a search matches, at 1 bit per row of the
//! timeline (plus 4 bytes per 512 rows), whatever the number of hits.
//! Rank (hits before a position) and select (the k-th hit) take a binary
//! search over the directory and a few popcounts.

/// Words (of 64 positions) per directory entry.
const BLOCK: usize = 8;

/// Positions, in increasing order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PosSet {
    words: Vec<u64>,
    /// Hits before word `i * BLOCK`.
    before: Vec<u32>,
    count: usize,
}

impl PosSet {
    /// An empty set.
    pub fn new() -> PosSet {
        PosSet::default()
    }

    /// Adds `pos`, which must be past every position already in the set
    /// (smaller ones are ignored).
    pub fn push(&mut self, pos: usize) {
        if self.last().is_some_and(|l| pos <= l) {
            return;
        }
        let w = pos / 64;
        while self.words.len() <= w {
            if self.words.len().is_multiple_of(BLOCK) {
                self.before
                    .push(u32::try_from(self.count).unwrap_or(u32::MAX));
            }
            self.words.push(0);
        }
        self.words[w] |= 1 << (pos % 64);
        self.count += 1;
    }

    /// Hits.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No hit.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `pos` is in the set.
    pub fn contains(&self, pos: usize) -> bool {
        self.words
            .get(pos / 64)
            .is_some_and(|w| w & (1 << (pos % 64)) != 0)
    }

    /// Hits before `pos`.
    pub fn rank(&self, pos: usize) -> usize {
        let w = pos / 64;
        if w >= self.words.len() {
            return self.count;
        }
        let b = w / BLOCK;
        let mut n = self.before[b] as usize;
        for x in &self.words[b * BLOCK..w] {
            n += x.count_ones() as usize;
        }
        n + (self.words[w] & ((1u64 << (pos % 64)) - 1)).count_ones() as usize
    }

    /// The `k`-th hit (from 0).
    pub fn select(&self, k: usize) -> Option<usize> {
        if k >= self.count {
            return None;
        }
        // The last directory entry with fewer than k + 1 hits before it.
        let b = self.before.partition_point(|&n| n as usize <= k) - 1;
        let mut left = k - self.before[b] as usize;
        for (i, &x) in self.words.iter().enumerate().skip(b * BLOCK) {
            let ones = x.count_ones() as usize;
            if left < ones {
                let mut x = x;
                for _ in 0..left {
                    x &= x - 1;
                }
                return Some(i * 64 + x.trailing_zeros() as usize);
            }
            left -= ones;
        }
        None
    }

    /// The first hit.
    pub fn first(&self) -> Option<usize> {
        self.select(0)
    }

    /// The last hit.
    pub fn last(&self) -> Option<usize> {
        self.count.checked_sub(1).and_then(|k| self.select(k))
    }

    /// The first hit after `pos`.
    pub fn next_after(&self, pos: usize) -> Option<usize> {
        self.select(self.rank(pos.saturating_add(1)))
    }

    /// The last hit before `pos`.
    pub fn prev_before(&self, pos: usize) -> Option<usize> {
        self.rank(pos).checked_sub(1).and_then(|k| self.select(k))
    }

    /// Every hit, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut x = w;
            std::iter::from_fn(move || {
                (x != 0).then(|| {
                    let b = x.trailing_zeros() as usize;
                    x &= x - 1;
                    i * 64 + b
                })
            })
        })
    }
}

impl FromIterator<usize> for PosSet {
    fn from_iter<I: IntoIterator<Item = usize>>(it: I) -> PosSet {
        let mut s = PosSet::new();
        for p in it {
            s.push(p);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_and_select_agree_with_a_list() {
        let mut x = 12345u64;
        for density in [1u64, 3, 50, 1000] {
            let mut list = Vec::new();
            let mut p = 0usize;
            for _ in 0..3000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p += 1 + (x % density) as usize;
                list.push(p);
            }
            let s: PosSet = list.iter().copied().collect();
            assert_eq!(s.len(), list.len());
            assert_eq!(s.iter().collect::<Vec<_>>(), list);
            for (k, &p) in list.iter().enumerate() {
                assert_eq!(s.select(k), Some(p));
                assert_eq!(s.rank(p), k);
                assert!(s.contains(p));
                assert!(!s.contains(p + 1) || list.get(k + 1) == Some(&(p + 1)));
            }
            assert_eq!(s.select(list.len()), None);
            assert_eq!(s.first(), list.first().copied());
            assert_eq!(s.last(), list.last().copied());
            assert_eq!(s.next_after(list[10]), Some(list[11]));
            assert_eq!(s.prev_before(list[10]), Some(list[9]));
            assert_eq!(s.prev_before(list[0]), None);
            assert_eq!(s.next_after(*list.last().unwrap()), None);
        }
        assert!(PosSet::new().is_empty());
        assert_eq!(PosSet::new().rank(5), 0);
    }
}
