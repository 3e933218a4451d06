//! v3/v4 body compression: the codec negotiated in STARTUP compresses every envelope body that
//! carries the [`Flags::COMPRESSION`] flag. (v5 compresses whole segments instead; see
//! [`super::segment`].)
//!
//! LZ4 bodies are a 4-byte big-endian uncompressed length followed by an LZ4 block; Snappy
//! bodies are Snappy's raw format, which starts with its own varint length. Either way the
//! declared length is checked against the caller's limit, and against what the compressed bytes
//! could possibly expand to, before any memory is allocated for the output.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Envelope, Flags, FrameError};

/// A body compression codec, as named by the STARTUP `COMPRESSION` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// LZ4 (`"lz4"`): the only codec v5 allows.
    Lz4,
    /// Snappy (`"snappy"`): v3 and v4 only.
    Snappy,
}

/// LZ4 cannot expand one input byte into more than 255 output bytes (a length-extension byte
/// adds at most 255 to a match); the slack covers the fixed parts of a sequence.
const LZ4_MAX_RATIO: u64 = 255;
/// Snappy's densest element, a 3-byte copy of 64 bytes, expands less than 32 times.
const SNAPPY_MAX_RATIO: u64 = 32;
/// Slack added to the ratio bound for tiny inputs.
const RATIO_SLACK: u64 = 64;

impl Compression {
    /// The codec for a STARTUP `COMPRESSION` value (case-insensitive), if this crate has it.
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("lz4") {
            Some(Self::Lz4)
        } else if name.eq_ignore_ascii_case("snappy") {
            Some(Self::Snappy)
        } else {
            None
        }
    }

    /// The codec's STARTUP name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lz4 => "lz4",
            Self::Snappy => "snappy",
        }
    }

    /// Appends the compressed form of `body` to `out`.
    pub fn compress(self, body: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
        let start = out.len();
        match self {
            Self::Lz4 => {
                let len = u32::try_from(body.len()).map_err(|_| too_large(body.len()))?;
                let max = lz4_flex::block::get_maximum_output_size(body.len());
                out.put_u32(len);
                out.resize(start.saturating_add(4).saturating_add(max), 0);
                let dest = out.get_mut(start.saturating_add(4)..).unwrap_or_default();
                match lz4_flex::block::compress_into(body, dest) {
                    Ok(n) => out.truncate(start.saturating_add(4).saturating_add(n)),
                    Err(e) => {
                        out.truncate(start);
                        return Err(FrameError::Compression {
                            codec: "lz4",
                            reason: e.to_string(),
                        });
                    }
                }
            }
            Self::Snappy => {
                let max = snap::raw::max_compress_len(body.len());
                if max == 0 && !body.is_empty() {
                    return Err(too_large(body.len()));
                }
                out.resize(start.saturating_add(max), 0);
                let dest = out.get_mut(start..).unwrap_or_default();
                match snap::raw::Encoder::new().compress(body, dest) {
                    Ok(n) => out.truncate(start.saturating_add(n)),
                    Err(e) => {
                        out.truncate(start);
                        return Err(FrameError::Compression {
                            codec: "snappy",
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Decompresses a compressed body whose uncompressed length may not exceed `max_len`.
    pub fn decompress(self, body: &[u8], max_len: usize) -> Result<Bytes, FrameError> {
        match self {
            Self::Lz4 => {
                let Some((&declared, block)) = body.split_first_chunk::<4>() else {
                    return Err(FrameError::Decompression {
                        codec: "lz4",
                        reason: format!("{} bytes are too few for the length prefix", body.len()),
                    });
                };
                let declared = u32::from_be_bytes(declared);
                let declared =
                    check_declared(u64::from(declared), block.len(), LZ4_MAX_RATIO, max_len)?;
                let mut out = vec![0u8; declared];
                let n = lz4_flex::block::decompress_into(block, &mut out).map_err(|e| {
                    FrameError::Decompression {
                        codec: "lz4",
                        reason: e.to_string(),
                    }
                })?;
                if n != declared {
                    return Err(FrameError::DecompressedLength {
                        declared: declared as u64,
                        actual: n as u64,
                    });
                }
                Ok(Bytes::from(out))
            }
            Self::Snappy => {
                let snappy_err = |e: snap::Error| FrameError::Decompression {
                    codec: "snappy",
                    reason: e.to_string(),
                };
                let declared = snap::raw::decompress_len(body).map_err(snappy_err)?;
                let declared =
                    check_declared(declared as u64, body.len(), SNAPPY_MAX_RATIO, max_len)?;
                let mut out = vec![0u8; declared];
                let n = snap::raw::Decoder::new()
                    .decompress(body, &mut out)
                    .map_err(snappy_err)?;
                if n != declared {
                    return Err(FrameError::DecompressedLength {
                        declared: declared as u64,
                        actual: n as u64,
                    });
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

/// The error for a body too long for a 32-bit length.
fn too_large(len: usize) -> FrameError {
    FrameError::BodyTooLarge {
        len: len as u64,
        max: u64::from(u32::MAX),
        stream: 0,
    }
}

/// Checks a declared uncompressed length against the limit and against what `input_len`
/// compressed bytes can expand to, and returns it as a `usize`.
fn check_declared(
    declared: u64,
    input_len: usize,
    max_ratio: u64,
    max_len: usize,
) -> Result<usize, FrameError> {
    let max = max_len as u64;
    if declared > max {
        return Err(FrameError::DecompressedTooLarge { declared, max });
    }
    let reachable = (input_len as u64)
        .saturating_mul(max_ratio)
        .saturating_add(RATIO_SLACK);
    if declared > reachable {
        return Err(FrameError::DecompressedLength {
            declared,
            actual: reachable,
        });
    }
    usize::try_from(declared).map_err(|_| FrameError::DecompressedTooLarge { declared, max })
}

impl Envelope {
    /// The envelope with its body compressed and the compression flag set, for v3 and v4.
    /// A v5 envelope, or one already flagged, is returned unchanged: v5 compresses segments,
    /// not bodies.
    pub fn compress(self, compression: Compression) -> Result<Envelope, FrameError> {
        if self.header.version.is_framed() || self.header.flags.contains(Flags::COMPRESSION) {
            return Ok(self);
        }
        let mut out = BytesMut::new();
        compression.compress(&self.body, &mut out)?;
        let mut header = self.header;
        header.flags = header.flags.with(Flags::COMPRESSION);
        Ok(Envelope {
            header,
            body: out.freeze(),
        })
    }

    /// The envelope with its body decompressed and the compression flag cleared, when the flag
    /// is set on a v3/v4 envelope; otherwise unchanged. `compression` is what the connection
    /// negotiated; the decompressed body may not exceed `max_len` bytes.
    pub fn decompress(
        self,
        compression: Option<Compression>,
        max_len: usize,
    ) -> Result<Envelope, FrameError> {
        if self.header.version.is_framed() || !self.header.flags.contains(Flags::COMPRESSION) {
            return Ok(self);
        }
        let Some(compression) = compression else {
            return Err(FrameError::CompressionNotNegotiated {
                stream: self.header.stream,
            });
        };
        let body = compression.decompress(&self.body, max_len)?;
        let mut header = self.header;
        header.flags = header.flags.without(Flags::COMPRESSION);
        Ok(Envelope { header, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Header;
    use crate::{Direction, Opcode, ProtocolVersion};

    #[test]
    fn lz4_body_has_a_big_endian_length_prefix() {
        let mut out = BytesMut::new();
        Compression::Lz4.compress(b", World!", &mut out).unwrap();
        // Length 8, then one literal-only sequence: token 0x80, the 8 bytes.
        assert_eq!(&out[..], b"\x00\x00\x00\x08\x80, World!");
        assert_eq!(
            Compression::Lz4.decompress(&out, 100).unwrap(),
            &b", World!"[..]
        );
    }

    #[test]
    fn snappy_body_is_the_raw_format() {
        let mut out = BytesMut::new();
        Compression::Snappy.compress(b"hello", &mut out).unwrap();
        // varint length 5, literal tag (len-1)<<2 = 0x10, the bytes.
        assert_eq!(&out[..], b"\x05\x10hello");
        assert_eq!(
            Compression::Snappy.decompress(&out, 5).unwrap(),
            &b"hello"[..]
        );
    }

    #[test]
    fn declared_length_is_checked_before_allocating() {
        // 1 GiB declared in a 5-byte body.
        let lz4 = [0x40, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(
            Compression::Lz4.decompress(&lz4, 1 << 20),
            Err(FrameError::DecompressedTooLarge {
                declared: 1 << 30,
                max: 1 << 20
            })
        );
        // Under the limit but more than 1 byte of LZ4 can produce.
        assert!(matches!(
            Compression::Lz4.decompress(&lz4, usize::MAX),
            Err(FrameError::DecompressedLength { .. })
        ));
        // Snappy: varint 2^30.
        let snappy = [0x80, 0x80, 0x80, 0x80, 0x04];
        assert_eq!(
            Compression::Snappy.decompress(&snappy, 1 << 20),
            Err(FrameError::DecompressedTooLarge {
                declared: 1 << 30,
                max: 1 << 20
            })
        );
        assert!(matches!(
            Compression::Snappy.decompress(&snappy, usize::MAX),
            Err(FrameError::DecompressedLength { .. })
        ));
    }

    #[test]
    fn highly_compressible_bodies_fit_the_ratio_bounds() {
        let body = vec![0u8; 1 << 20];
        for c in [Compression::Lz4, Compression::Snappy] {
            let mut out = BytesMut::new();
            c.compress(&body, &mut out).unwrap();
            assert_eq!(c.decompress(&out, body.len()).unwrap(), &body[..]);
            assert!(matches!(
                c.decompress(&out, body.len() - 1),
                Err(FrameError::DecompressedTooLarge { .. })
            ));
        }
    }

    #[test]
    fn short_or_lying_lz4_bodies_are_errors() {
        assert!(matches!(
            Compression::Lz4.decompress(&[0, 0], 10),
            Err(FrameError::Decompression { .. })
        ));
        // Declares 10 bytes, holds 8.
        let mut out = BytesMut::new();
        Compression::Lz4.compress(b"12345678", &mut out).unwrap();
        out[3] = 10;
        assert_eq!(
            Compression::Lz4.decompress(&out, 100),
            Err(FrameError::DecompressedLength {
                declared: 10,
                actual: 8
            })
        );
    }

    #[test]
    fn envelope_flag_drives_compression() {
        let header = Header::new(ProtocolVersion::V4, Direction::Response, 3, Opcode::Result);
        let plain = Envelope::new(header, &b"some rows, some rows, some rows"[..]);
        for c in [Compression::Lz4, Compression::Snappy] {
            let packed = plain.clone().compress(c).unwrap();
            assert!(packed.header.flags.contains(Flags::COMPRESSION));
            assert_ne!(packed.body, plain.body);
            assert_eq!(packed.clone().decompress(Some(c), 1000).unwrap(), plain);
            assert_eq!(
                packed.decompress(None, 1000),
                Err(FrameError::CompressionNotNegotiated { stream: 3 })
            );
        }
        // Unflagged bodies pass through.
        assert_eq!(
            plain.clone().decompress(Some(Compression::Lz4), 0).unwrap(),
            plain
        );
        // v5 ignores the flag both ways.
        let v5 = Envelope::new(
            Header {
                flags: Flags::COMPRESSION,
                ..Header::new(ProtocolVersion::V5, Direction::Response, 3, Opcode::Result)
            },
            &b"not compressed"[..],
        );
        assert_eq!(
            v5.clone().decompress(Some(Compression::Lz4), 0).unwrap(),
            v5
        );
        assert_eq!(v5.clone().compress(Compression::Lz4).unwrap(), v5);
    }

    #[test]
    fn names_match_startup_options() {
        assert_eq!(Compression::from_name("LZ4"), Some(Compression::Lz4));
        assert_eq!(Compression::from_name("snappy"), Some(Compression::Snappy));
        assert_eq!(Compression::from_name("zstd"), None);
        assert_eq!(Compression::Lz4.name(), "lz4");
    }
}
