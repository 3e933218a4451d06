//! The two checksums of v5 framing: CRC24 over a segment header, CRC32 over its payload.
//!
//! Both are computed exactly as Cassandra computes them (see `protocol-notes.md`): the CRC24
//! starts from 0x875060 with polynomial 0x1974F0B, fed the header bytes least significant first,
//! with no reflection and no final XOR; the CRC32 is the zlib CRC-32 primed with the four bytes
//! `FA 2D 55 CA` before the payload.

/// Initial value of the segment header CRC24.
const CRC24_INIT: u32 = 0x0087_5060;
/// The CRC24 polynomial, including its x^24 term.
const CRC24_POLY: u32 = 0x0197_4F0B;
/// The bytes Cassandra feeds the payload CRC32 before the payload itself.
const CRC32_PRIMER: [u8; 4] = [0xFA, 0x2D, 0x55, 0xCA];

/// The CRC24 of a segment header's first bytes (3 for uncompressed, 5 for LZ4 segments),
/// given in wire order (least significant first).
pub(crate) fn crc24(header: &[u8]) -> u32 {
    let mut crc = CRC24_INIT;
    for &b in header {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= CRC24_POLY;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// A running CRC32 of a segment payload, already primed.
pub(crate) struct PayloadCrc(crc32fast::Hasher);

impl PayloadCrc {
    /// A hasher primed with the four bytes every payload CRC starts from.
    pub(crate) fn new() -> Self {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&CRC32_PRIMER);
        Self(hasher)
    }

    /// Feeds more payload bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum of everything fed so far.
    pub(crate) fn finish(self) -> u32 {
        self.0.finalize()
    }
}

/// The CRC32 of a whole segment payload.
pub(crate) fn crc32(payload: &[u8]) -> u32 {
    let mut crc = PayloadCrc::new();
    crc.update(payload);
    crc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain bit-by-bit zlib CRC-32, to check the primed hasher against a definition that
    /// does not depend on crc32fast.
    fn reference_crc32(seed: u32, data: &[u8]) -> u32 {
        let mut crc = !seed;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn crc24_golden_uncompressed_header() {
        // 50-byte self-contained payload: header 32 00 02, CRC24 a5 ff ee (little-endian).
        assert_eq!(crc24(&[0x32, 0x00, 0x02]), 0x00EE_FFA5);
    }

    #[test]
    fn crc24_golden_lz4_header() {
        // Raw 1-byte self-contained LZ4 segment: header 01 00 00 00 04, CRC24 06 a5 87.
        assert_eq!(crc24(&[0x01, 0x00, 0x00, 0x00, 0x04]), 0x0087_A506);
    }

    #[test]
    fn crc24_of_nothing_is_the_initial_value() {
        assert_eq!(crc24(&[]), CRC24_INIT);
    }

    #[test]
    fn crc32_is_zlib_primed_with_the_four_bytes() {
        let payload = [b'b'; 50];
        // The seed the notes give for the primer alone.
        assert_eq!(reference_crc32(0, &CRC32_PRIMER), 0x4477_7ED3);
        assert_eq!(crc32(&payload), reference_crc32(0x4477_7ED3, &payload));
        // Golden trailer 7a ae eb 7c, little-endian.
        assert_eq!(crc32(&payload), 0x7CEB_AE7A);
    }

    #[test]
    fn running_crc_equals_one_shot() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let (a, b) = data.split_at(377);
        let mut running = PayloadCrc::new();
        running.update(a);
        running.update(b);
        assert_eq!(running.finish(), crc32(&data));
    }
}
