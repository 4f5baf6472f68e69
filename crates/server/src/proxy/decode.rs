//! Side-channel decompression: the client receives the upstream's compressed bytes untouched,
//! while the usage parser reads a decompressed copy.
//!
//! Supports `gzip`, `deflate` and `br`. Any other encoding (or a corrupt stream) makes the copy
//! unreadable; the response is still forwarded byte for byte, only its usage is not extracted.

use std::io::Write;

/// An incremental decoder for one `content-encoding`.
pub enum SideDecoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
}

/// What a `content-encoding` header means for the side copy.
pub enum Encoding {
    Identity,
    Decodable(Box<SideDecoder>),
    Unsupported,
}

impl Encoding {
    pub fn from_header(value: Option<&str>) -> Self {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Encoding::Identity;
        };
        match value.to_ascii_lowercase().as_str() {
            "identity" => Encoding::Identity,
            "gzip" | "x-gzip" => Encoding::Decodable(Box::new(SideDecoder::Gzip(
                flate2::write::GzDecoder::new(Vec::new()),
            ))),
            "deflate" => Encoding::Decodable(Box::new(SideDecoder::Deflate(
                flate2::write::ZlibDecoder::new(Vec::new()),
            ))),
            "br" => Encoding::Decodable(Box::new(SideDecoder::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(Vec::new(), 4096),
            )))),
            _ => Encoding::Unsupported,
        }
    }
}

impl SideDecoder {
    /// Decodes one chunk; returns the bytes decoded so far (possibly none). `Err` means the
    /// stream is corrupt and should not be read further.
    pub fn feed(&mut self, chunk: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            SideDecoder::Gzip(d) => {
                d.write_all(chunk)?;
                Ok(std::mem::take(d.get_mut()))
            }
            SideDecoder::Deflate(d) => {
                d.write_all(chunk)?;
                Ok(std::mem::take(d.get_mut()))
            }
            SideDecoder::Brotli(d) => {
                d.write_all(chunk)?;
                Ok(std::mem::take(d.get_mut()))
            }
        }
    }
}

/// Decodes a whole captured body at once.
pub fn decode_all(encoding: Option<&str>, parts: &[bytes::Bytes]) -> Option<Vec<u8>> {
    match Encoding::from_header(encoding) {
        Encoding::Identity => {
            let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
            for p in parts {
                out.extend_from_slice(p);
            }
            Some(out)
        }
        Encoding::Unsupported => None,
        Encoding::Decodable(mut decoder) => {
            let mut out = Vec::new();
            for p in parts {
                out.extend(decoder.feed(p).ok()?);
            }
            // Flush whatever the decoder still holds.
            let rest = match *decoder {
                SideDecoder::Gzip(d) => d.finish().ok()?,
                SideDecoder::Deflate(d) => d.finish().ok()?,
                SideDecoder::Brotli(d) => d.into_inner().ok()?,
            };
            out.extend(rest);
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_split_anywhere_decodes_the_same() {
        let plain = br#"{"usage":{"input_tokens":12,"output_tokens":3}}"#.repeat(20);
        let packed = gzip(&plain);
        for cut in 1..packed.len() {
            let parts = [
                Bytes::copy_from_slice(&packed[..cut]),
                Bytes::copy_from_slice(&packed[cut..]),
            ];
            assert_eq!(
                decode_all(Some("gzip"), &parts).as_deref(),
                Some(plain.as_slice()),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn incremental_gzip_yields_everything() {
        let plain = b"data: {\"x\":1}\n\n".repeat(50);
        let packed = gzip(&plain);
        let Encoding::Decodable(mut d) = Encoding::from_header(Some("gzip")) else {
            panic!("gzip")
        };
        let mut out = Vec::new();
        for chunk in packed.chunks(7) {
            out.extend(d.feed(chunk).unwrap());
        }
        assert_eq!(out, plain);
    }

    #[test]
    fn unknown_encoding_is_not_read() {
        assert!(decode_all(Some("zstd"), &[Bytes::from_static(b"x")]).is_none());
        assert_eq!(
            decode_all(None, &[Bytes::from_static(b"ab"), Bytes::from_static(b"c")]).unwrap(),
            b"abc"
        );
    }
}
