//! An LZ4 block compressor that takes only long matches, the longest it can find.
//!
//! Expanding an LZ4 block costs per piece (a run of literals, then a copy), not per byte. The
//! reference compressor takes the first match of 4 bytes or more that its hash table remembers,
//! so a kill's JSON expands in about 170 pieces: every shared id prefix (`2112000…`) is a piece
//! of its own. This one walks a chain of up to [`CHAIN`] earlier positions for the longest match
//! (stopping at one of [`LONG_ENOUGH`] bytes) and keeps none under [`MIN_MATCH`] bytes: about 90
//! pieces, and a smaller block (see PERFORMANCE, memory per stored kill). The output is a standard LZ4 block (any LZ4 block decoder expands it, given the
//! same dictionary).

use std::sync::Arc;

use super::ids::fibonacci_slot;

/// The shortest match taken: positions are found by a hash of their first 8 bytes. Shorter
/// matches save a byte or two but cost a piece each.
const MIN_MATCH: usize = 8;
/// Earlier positions tried per position: bounds the work on repetitive input.
const CHAIN: usize = 32;
/// A match this long ends the search: on repetitive input, every candidate matches at length.
const LONG_ENOUGH: usize = 64;
/// Chain heads: 2^12 of them (16 KB per compression).
const HASH_BITS: u32 = 12;
/// The farthest an LZ4 match reaches back (its offset is two bytes).
const WINDOW: usize = u16::MAX as usize;
/// LZ4's rules for the end of a block: the last 5 bytes are literals, and the last match starts
/// at least 12 bytes before the end.
const LAST_LITERALS: usize = 5;
const LAST_MATCH_START: usize = 12;
/// No earlier position with this hash.
const NONE: u32 = u32::MAX;

/// A dictionary with its positions already chained, so each compression starts from a copy of
/// them instead of hashing the dictionary again.
pub struct Dictionary {
    /// Shared with every block compressed against it: expanding one needs these bytes.
    bytes: Arc<[u8]>,
    chains: Chains,
}

impl Dictionary {
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes = bytes.into();
        let mut chains = Chains::new(bytes.len());
        for position in 0..bytes.len() {
            chains.insert(&bytes, position);
        }
        Self { bytes, chains }
    }

    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }
}

/// `input` as one LZ4 block whose matches may reach back into `dictionary`.
pub fn compress(input: &[u8], dictionary: &Dictionary) -> Vec<u8> {
    let start = dictionary.bytes.len();
    let mut buffer = Vec::with_capacity(start + input.len());
    buffer.extend_from_slice(&dictionary.bytes);
    buffer.extend_from_slice(input);
    let end = buffer.len();
    // The dictionary's last positions hash bytes of the input: chained only now, with it.
    let base = start.saturating_sub(7);
    let mut chains = Overlay::new(&dictionary.chains, base, end);
    for position in base..start {
        chains.insert(&buffer, position);
    }
    let matches_end = end.saturating_sub(LAST_LITERALS);
    let last_match_start = end.saturating_sub(LAST_MATCH_START);
    let mut out = Vec::with_capacity(input.len() / 2 + 16);
    let (mut literals_start, mut position) = (start, start);
    while position < last_match_start {
        match chains.longest(&buffer, position, matches_end) {
            Some(found) => {
                sequence(&mut out, &buffer[literals_start..position], Some(found));
                for covered in position..position + found.len {
                    chains.insert(&buffer, covered);
                }
                position += found.len;
                literals_start = position;
            }
            None => {
                chains.insert(&buffer, position);
                position += 1;
            }
        }
    }
    sequence(&mut out, &buffer[literals_start..], None);
    out
}

#[derive(Clone, Copy)]
struct Match {
    offset: usize,
    len: usize,
}

/// For each hash of 8 bytes, the latest position that had it; for each position, the one before
/// it with the same hash.
struct Chains {
    head: Box<[u32]>,
    /// One entry per position while the buffer is within reach of a match ([`WINDOW`]); for a
    /// longer one, a ring of 64 Ki entries (256 KB) indexed by position modulo its length. A
    /// position is looked up only while it is within reach, and no later position has taken
    /// its entry by then.
    previous: Vec<u32>,
    /// `WINDOW` for a ring, else all ones.
    mask: usize,
}

impl Chains {
    fn new(len: usize) -> Self {
        let (entries, mask) = Self::layout(len);
        Self {
            head: vec![NONE; 1 << HASH_BITS].into_boxed_slice(),
            previous: vec![NONE; entries],
            mask,
        }
    }

    /// Entries and mask for a buffer of `len` bytes.
    fn layout(len: usize) -> (usize, usize) {
        if len > WINDOW + 1 {
            (WINDOW + 1, WINDOW)
        } else {
            (len, usize::MAX)
        }
    }

    fn slot(&self, position: usize) -> usize {
        position & self.mask
    }

    fn insert(&mut self, buffer: &[u8], position: usize) {
        let (Some(hash), Ok(at)) = (hash_at(buffer, position), u32::try_from(position)) else {
            return;
        };
        let slot = self.slot(position);
        self.previous[slot] = self.head[hash];
        self.head[hash] = at;
    }
}

/// One input's chains laid over its dictionary's, which stay as they are: the positions from
/// `base` on (the dictionary's last 7, whose 8 bytes reach into the input, then the input's) are
/// chained here, the earlier ones in the dictionary's. Copying the dictionary's chains instead
/// (about 240 KB for a 56 KB dictionary) took a fifth of the time to pack a 10 KB kill.
struct Overlay<'d> {
    dictionary: &'d Chains,
    base: usize,
    /// The latest position with each hash: the dictionary's heads (16 KB) to start with.
    head: Box<[u32]>,
    /// For each position from `base` on, the one before it with the same hash (a ring past
    /// [`WINDOW`], as in [`Chains`]).
    previous: Vec<u32>,
    mask: usize,
}

impl<'d> Overlay<'d> {
    fn new(dictionary: &'d Chains, base: usize, end: usize) -> Self {
        let (entries, mask) = Chains::layout(end - base);
        Self {
            dictionary,
            base,
            head: dictionary.head.clone(),
            previous: vec![NONE; entries],
            mask,
        }
    }

    /// The position before `position` with the same hash.
    fn before(&self, position: usize) -> u32 {
        match position.checked_sub(self.base) {
            Some(local) => self.previous[local & self.mask],
            None => self.dictionary.previous[self.dictionary.slot(position)],
        }
    }

    fn insert(&mut self, buffer: &[u8], position: usize) {
        let (Some(hash), Ok(at)) = (hash_at(buffer, position), u32::try_from(position)) else {
            return;
        };
        self.previous[(position - self.base) & self.mask] = self.head[hash];
        self.head[hash] = at;
    }

    /// The longest match for the bytes at `position` that ends by `end`, if any is long enough.
    fn longest(&self, buffer: &[u8], position: usize, end: usize) -> Option<Match> {
        let mut candidate = self.head[hash_at(buffer, position)?];
        let mut best = Match { offset: 0, len: 0 };
        for _ in 0..CHAIN {
            if candidate == NONE {
                break;
            }
            let earlier = candidate as usize;
            let offset = position - earlier;
            if offset > WINDOW {
                break;
            }
            let len = common_prefix(&buffer[earlier..end], &buffer[position..end]);
            if len > best.len {
                best = Match { offset, len };
                if len >= LONG_ENOUGH {
                    break;
                }
            }
            candidate = self.before(earlier);
        }
        (best.len >= MIN_MATCH).then_some(best)
    }
}

fn hash_at(buffer: &[u8], position: usize) -> Option<usize> {
    let word = u64::from_le_bytes(*buffer.get(position..)?.first_chunk::<8>()?);
    Some(fibonacci_slot(word, HASH_BITS))
}

/// How many bytes `a` and `b` share from their start.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let mut at = 0;
    while let (Some(x), Some(y)) = (a[at..len].first_chunk::<8>(), b[at..len].first_chunk::<8>()) {
        let differ = u64::from_le_bytes(*x) ^ u64::from_le_bytes(*y);
        if differ != 0 {
            return at + (differ.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + a[at..len]
        .iter()
        .zip(&b[at..len])
        .take_while(|(x, y)| x == y)
        .count()
}

/// One LZ4 sequence: a token, the literals, then the match (none in the block's last one).
fn sequence(out: &mut Vec<u8>, literals: &[u8], matched: Option<Match>) {
    // A match's length is written less the 4 every LZ4 match has.
    let match_len = matched.map_or(0, |m| m.len - 4);
    out.push((literals.len().min(15) as u8) << 4 | match_len.min(15) as u8);
    if literals.len() >= 15 {
        length(out, literals.len() - 15);
    }
    out.extend_from_slice(literals);
    if let Some(m) = matched {
        out.extend_from_slice(&(m.offset as u16).to_le_bytes());
        if match_len >= 15 {
            length(out, match_len - 15);
        }
    }
}

/// The rest of a length over 15: bytes of 255, then what remains.
fn length(out: &mut Vec<u8>, mut rest: usize) {
    while rest >= 255 {
        out.push(255);
        rest -= 255;
    }
    out.push(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    static WORDS: &[u8] = br#"{"character_id":2112000000,"corporation_name":"","flag":5}"#;

    fn expand(block: &[u8], len: usize, dictionary: &[u8]) -> Vec<u8> {
        let mut out = vec![0; len];
        let n = lz4_flex::block::decompress_into_with_dict(block, &mut out, dictionary)
            .unwrap_or_else(|e| panic!("not a valid LZ4 block: {e}"));
        out.truncate(n);
        out
    }

    /// `input` compressed against `words`, checked to expand back to it.
    fn block_of(input: &[u8], words: &'static [u8]) -> Vec<u8> {
        let block = compress(input, &Dictionary::new(words));
        assert_eq!(expand(&block, input.len(), words), input);
        block
    }

    #[test]
    fn a_match_is_taken_only_when_it_is_long() {
        // `"flag":` (7 bytes) is in the dictionary but too short; `{"character_id":2112000`
        // (23) is long enough.
        let input = br#"[{"character_id":2112000123},{"flag":9,"x":"abcdefghijklmn"}]"#;
        let block = block_of(input, WORDS);
        // A token, 1 literal (`[`), a 2-byte offset and a length byte (23 - 4 > 15); then the
        // last token, a length byte and the 37 literals after the match.
        assert_eq!(block.len(), 1 + 1 + 2 + 1 + 1 + 1 + 37);
    }

    #[test]
    fn of_two_earlier_copies_the_longer_match_is_taken() {
        let block = block_of(
            b"abcdefghijklmnopabcdefghij_abcdefghijklmnop............",
            b"",
        );
        // 16 literals, then `abcdefghij` (10 bytes back 16); `_`, then all 16 letters from the
        // first copy, though the second (`abcdefghij`) is nearer; then the 12 dots. In bytes:
        // (token, length byte, 16 literals, offset) + (token, `_`, offset) + (token, 12 dots).
        assert_eq!(block.len(), (1 + 1 + 16 + 2) + (1 + 1 + 2) + (1 + 12));
    }

    #[test]
    fn a_block_ends_in_five_literals_even_when_its_end_repeats() {
        let input = b"0123456789abcdefghij0123456789abcdefghij";
        let block = block_of(input, b"");
        assert!(block.len() < input.len() - 8, "{}", block.len());
        assert_eq!(block[block.len() - 5..], input[input.len() - 5..]);
    }

    proptest! {
        #[test]
        fn any_input_comes_back_byte_for_byte(
            input in prop::collection::vec(prop::sample::select(b"{}\":,0129abc".to_vec()), 0..3000),
            cut in 0usize..WORDS.len(),
        ) {
            let words: &'static [u8] = &WORDS[cut..];
            let block = compress(&input, &Dictionary::new(words));
            prop_assert_eq!(expand(&block, input.len(), words), input);
        }

        #[test]
        fn random_bytes_come_back_too(input in prop::collection::vec(any::<u8>(), 0..300)) {
            let block = compress(&input, &Dictionary::new(WORDS));
            prop_assert_eq!(expand(&block, input.len(), WORDS), input);
        }
    }

    /// Bytes without repeats of 8 (a linear congruential sequence).
    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect()
    }

    #[test]
    fn no_match_reaches_back_further_than_64_kb() {
        // A copy 65 536 bytes back is out of reach; one 60 000 bytes back is not.
        for (len, reachable) in [(65_536, false), (60_000, true)] {
            let chunk = noise(len, 7);
            let input = [&chunk[..], &chunk[..], &b"and a tail"[..]].concat();
            let block = block_of(&input, WORDS);
            assert_eq!(
                block.len() < len + len / 10,
                reachable,
                "{len}: {}",
                block.len()
            );
        }
    }
}
