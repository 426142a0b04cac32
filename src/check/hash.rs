//! A fast hasher for the checker's maps and sets, which are keyed by names and indices.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A map hashed with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A set hashed with [`FastHasher`].
pub(crate) type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

/// Multiply-and-rotate hashing, one step per 8 bytes: a few instructions for a short name,
/// where std's SipHash-1-3 spends dozens (hashing was 3% of checking a big file). It makes no
/// attempt to resist chosen collisions, which a checker of the user's own files need not.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

/// An odd constant with well-mixed bits.
const K: u64 = 0xf135_7aea_2e62_a9c5;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// The high bits (which hashbrown's control bytes use) folded into the low ones (which
    /// pick the bucket).
    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::FastSet;

    /// Distinct names and index pairs stay distinct, and lookups find what was inserted.
    #[test]
    fn sets_of_names_and_pairs() {
        let names: FastSet<String> = (0..1000).map(|i| format!("s{i}")).collect();
        assert_eq!(names.len(), 1000);
        assert!(names.contains("s999") && !names.contains("s1000"));
        let pairs: FastSet<(usize, String)> = (0..100)
            .flat_map(|s| (0..5).map(move |a| (s, format!("a{a}"))))
            .collect();
        assert_eq!(pairs.len(), 500);
        assert!(pairs.contains(&(99, "a4".to_string())));
    }
}
