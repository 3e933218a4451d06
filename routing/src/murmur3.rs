//! Murmur3 tokens exactly as Cassandra's `Murmur3Partitioner` computes them.
//!
//! The partitioner hashes a partition key with MurmurHash3 x64 128-bit, seed 0, and takes the
//! first 64-bit half as the token. Cassandra's hash differs from the reference algorithm in one
//! place: the 1 to 15 tail bytes after the last 16-byte block are widened as *signed* Java bytes,
//! so a tail byte ≥ 0x80 contributes `0xffff…ff80`-style bits instead of `0x80`. Keys whose tail
//! bytes are all below 0x80 hash the same as the reference algorithm.

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

/// The Murmur3 token of a serialized partition key, as Cassandra computes it.
///
/// The empty key is the minimum token `i64::MIN`; a hash equal to `i64::MIN` is moved to
/// `i64::MAX`, so no real key ever gets the minimum token.
///
/// ```
/// assert_eq!(ringgate_routing::murmur3_token(b"123"), -7468325962851647638);
/// assert_eq!(ringgate_routing::murmur3_token(b""), i64::MIN);
/// ```
pub fn murmur3_token(key: &[u8]) -> i64 {
    if key.is_empty() {
        return i64::MIN;
    }
    let hash = cassandra_x64_128_first_half(key);
    if hash == i64::MIN { i64::MAX } else { hash }
}

/// The first 64 bits of Cassandra's MurmurHash3 x64 128-bit hash of `key` with seed 0.
fn cassandra_x64_128_first_half(key: &[u8]) -> i64 {
    let mut h1: u64 = 0;
    let mut h2: u64 = 0;

    let mut blocks = key.chunks_exact(16);
    for block in &mut blocks {
        let (lo, hi) = block.split_at(8);
        let k1 = u64::from_le_bytes(to_eight(lo));
        let k2 = u64::from_le_bytes(to_eight(hi));

        h1 ^= mix_k1(k1);
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);

        h2 ^= mix_k2(k2);
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }

    let tail = blocks.remainder();
    if tail.len() > 8 {
        h2 ^= mix_k2(tail_word(&tail[8..]));
    }
    if !tail.is_empty() {
        h1 ^= mix_k1(tail_word(&tail[..tail.len().min(8)]));
    }

    // Java mixes in the length as an int widened to long; a slice length always fits.
    let len = key.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h1 as i64
}

/// Up to eight tail bytes as one word, each byte sign-extended before it is shifted into place
/// (later bytes are XORed over the sign bits of earlier ones, as in Cassandra).
fn tail_word(bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().fold(0u64, |word, (i, &b)| {
        word ^ (((b as i8) as i64 as u64) << (8 * i))
    })
}

fn to_eight(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    out
}

fn mix_k1(k1: u64) -> u64 {
    k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

fn mix_k2(k2: u64) -> u64 {
    k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::murmur3_token;

    #[test]
    fn issue_vectors() {
        let repeat = |bytes: &[u8], n: usize| bytes.repeat(n);
        let cases: Vec<(Vec<u8>, i64)> = vec![
            (b"123".to_vec(), -7468325962851647638),
            (repeat(b"\x00\xff\x10\xfa\x99", 10), 5837342703291459765),
            (repeat(b"\xfe", 8), -8927430733708461935),
            (repeat(b"\x10", 8), 1446172840243228796),
            (b"9223372036854775807".to_vec(), 7162290910810015547),
            (b"test".to_vec(), -6017608668500074083),
            ("kremówki".as_bytes().to_vec(), 4354931215268080151),
            (b"hello".to_vec(), -3758069500696749310),
            (
                b"The quick brown fox jumps over the lazy dog.".to_vec(),
                -3631792323850337591,
            ),
            ((0x01..=0x10).collect(), -5563837382979743776),
            (repeat(b"\xff", 16), -2824192546314762522),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur3_token(&key), expected, "key {key:02x?}");
        }
    }

    #[test]
    fn empty_key_is_the_minimum_token() {
        assert_eq!(murmur3_token(&[]), i64::MIN);
    }
}
