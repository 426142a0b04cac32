//! Output cut into lines of bounded length, so that memory stays bounded whatever an action
//! prints (a line without end, a binary dump): a line longer than [`MAX_PIECE`] reaches the
//! log in pieces, every byte of it, in order.
//!
//! Secrets are masked line by line (then piece by piece), so a cut must never fall inside a
//! secret: an unfinished piece keeps back its last bytes — one less than the longest secret
//! — which could be the start of a secret still being printed, and the cut moves back to
//! the start of any secret it would split. Pieces also end on a character boundary, so a
//! character is never split in two. (A cut inside one endless run of overlapping secrets,
//! such as `aaaa…` when `aa` is a secret, is the one case where the cut cannot move back
//! far enough; it is then made where it would have been.)

/// The longest piece of a line held in memory.
pub(super) const MAX_PIECE: usize = 64 * 1024;

/// Cuts a byte stream into lines (with their `\n`) and over-long lines into pieces.
pub(super) struct Splitter {
    buf: Vec<u8>,
    max: usize,
    /// What is masked (only values without a line break: the others never occur in a line).
    masks: Vec<Vec<u8>>,
    /// The longest mask, in bytes.
    longest: usize,
}

impl Splitter {
    /// Pieces of at most `max` bytes (more when a secret is longer than half of that), cut
    /// where none of `masks` is split.
    pub(super) fn new(max: usize, masks: &[String]) -> Splitter {
        let masks: Vec<Vec<u8>> = masks
            .iter()
            .filter(|m| !m.is_empty() && !m.contains('\n'))
            .map(|m| m.as_bytes().to_vec())
            .collect();
        let longest = masks.iter().map(Vec::len).max().unwrap_or(0);
        Splitter {
            buf: Vec::new(),
            max: max.max(2 * longest + 4),
            masks,
            longest,
        }
    }

    /// Takes the next bytes of the stream; `emit` gets each finished line and piece.
    pub(super) fn push(&mut self, bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (segment, ends_line) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            rest = &rest[segment.len()..];
            self.buf.extend_from_slice(segment);
            while self.buf.len() > self.max {
                let at = self.cut();
                emit(&self.buf[..at]);
                self.buf.drain(..at);
            }
            if ends_line {
                emit(&self.buf);
                self.buf.clear();
            }
        }
    }

    /// The end of the stream: the unfinished last line, if any.
    pub(super) fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(&self.buf);
            self.buf.clear();
        }
    }

    /// Where to cut the (over-full) buffer: within `max` bytes, before the bytes that may
    /// start a secret not wholly seen yet, on a character boundary, and not inside a secret.
    fn cut(&self) -> usize {
        let n = self.buf.len().min(self.max);
        let mut at = char_start(&self.buf, n - self.longest.saturating_sub(1));
        let planned = at;
        while let Some(start) = self.straddling(at) {
            if start == 0 {
                return planned;
            }
            at = start;
        }
        at
    }

    /// The start of a secret that begins before `at` and ends after it, if any.
    fn straddling(&self, at: usize) -> Option<usize> {
        self.masks.iter().find_map(|m| {
            let from = at.saturating_sub(m.len() - 1);
            (from..at).find(|&s| s + m.len() <= self.buf.len() && self.buf[s..].starts_with(m))
        })
    }
}

/// `at`, or the start of the UTF-8 character the bytes before `at` end inside of (never 0).
fn char_start(buf: &[u8], at: usize) -> usize {
    for back in 1..=at.min(3) {
        let b = buf[at - back];
        if b & 0b1100_0000 != 0b1000_0000 {
            // The first byte of a character (or ASCII): how long that character is.
            let len = match b {
                0xf0.. => 4,
                0xe0.. => 3,
                0xc0.. => 2,
                _ => 1,
            };
            return if len > back && at > back {
                at - back
            } else {
                at
            };
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::Splitter;

    /// The pieces of `input` fed in chunks of `chunk` bytes.
    fn pieces(max: usize, masks: &[&str], input: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let masks: Vec<String> = masks.iter().map(|m| (*m).to_string()).collect();
        let mut s = Splitter::new(max, &masks);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            s.push(c, &mut |p| out.push(p.to_vec()));
        }
        s.finish(&mut |p| out.push(p.to_vec()));
        out
    }

    #[test]
    fn lines_come_whole_and_long_ones_in_bounded_pieces_with_every_byte() {
        let input = b"one\ntwo\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nend";
        let out = pieces(16, &[], input, 5);
        assert_eq!(out[0], b"one\n");
        assert_eq!(out[1], b"two\n");
        assert!(out.iter().all(|p| p.len() <= 16), "{out:?}");
        assert_eq!(out.last().map(Vec::as_slice), Some(&b"end"[..]));
        assert_eq!(out.concat(), input);
    }

    #[test]
    fn no_cut_splits_a_secret_wherever_it_falls() {
        let secret = "hunter2-secret";
        for offset in 0..40 {
            let mut input = "x".repeat(offset).into_bytes();
            input.extend_from_slice(secret.as_bytes());
            input.extend_from_slice(&b"y".repeat(50));
            for chunk in [1, 3, 7, 64] {
                let out = pieces(20, &[secret, "ter2"], &input, chunk);
                assert_eq!(out.concat(), input);
                let whole = out
                    .iter()
                    .filter(|p| p.windows(secret.len()).any(|w| w == secret.as_bytes()))
                    .count();
                assert_eq!(whole, 1, "offset {offset}, chunk {chunk}: {out:?}");
                let max = out.iter().map(Vec::len).max().unwrap_or(0);
                assert!(max <= 32, "bounded: {max}");
            }
        }
    }

    #[test]
    fn characters_are_not_cut_in_two() {
        let input = "é".repeat(100);
        let out = pieces(16, &[], input.as_bytes(), 7);
        assert!(
            out.iter().all(|p| std::str::from_utf8(p).is_ok()),
            "{out:?}"
        );
        assert_eq!(out.concat(), input.as_bytes());
    }
}
