//! The canonical binary encoding. This is the only module that names `bincode`, so that moving to a
//! maintained bincode-compatible crate is one change (bincode is pinned to 2.0.1: 3.0.0 is an empty tombstone
//! and the crate is marked unmaintained, RUSTSEC-2025-0141).
//!
//! The format is bincode 2's serde mode with fixed-width little-endian integers; `docs/protocol.md` states it
//! byte by byte. Every decode takes an explicit size limit and rejects trailing bytes.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Upper bound for any single object this crate decodes. Per-kind limits in [`limit`] are smaller.
const ABSOLUTE_LIMIT: usize = 64 * 1024 * 1024;

/// Per-kind size limits, in bytes, of encoded objects.
pub mod limit {
    /// A signed transaction (body + signature + framing).
    pub const SIGNED_TX: usize = 64 * 1024;
    /// A transaction body.
    pub const TX_BODY: usize = SIGNED_TX;
    /// A block header.
    pub const HEADER: usize = 1024;
    /// A vote or a proposal body.
    pub const VOTE: usize = 512;
    /// A whole block with all its transactions.
    pub const BLOCK: usize = 32 * 1024 * 1024;
    /// A commit certificate (up to [`crate::validator::MAX_VALIDATORS`] signed votes).
    pub const COMMIT: usize = 256 * 1024;
    /// A validator set.
    pub const VALIDATOR_SET: usize = 64 * 1024;
    /// A genesis document in canonical form.
    pub const GENESIS: usize = 4 * 1024 * 1024;
    /// Anything small kept by the node (results, log entries).
    pub const SMALL: usize = 64 * 1024;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what}: {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("{what}: {trailing} trailing bytes after the encoded value")]
    TrailingBytes { what: &'static str, trailing: usize },
    #[error("{what}: malformed encoding: {reason}")]
    Malformed { what: &'static str, reason: String },
}

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
    bincode::config::Limit<ABSOLUTE_LIMIT>,
> {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<ABSOLUTE_LIMIT>()
}

/// Canonical bytes of `value`.
///
/// Encoding a value built by this crate cannot fail: the types use only serde features bincode supports
/// and no object comes near the absolute limit. A failure is therefore a programming error in this crate.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    match bincode::serde::encode_to_vec(value, config()) {
        Ok(bytes) => bytes,
        Err(e) => panic!("canonical encoding of an in-memory value failed: {e}"),
    }
}

/// Decodes exactly one `T` from `bytes`, refusing more than `limit` bytes and any trailing bytes.
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
    what: &'static str,
) -> Result<T, DecodeError> {
    let limit = limit.min(ABSOLUTE_LIMIT);
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    let (value, used) =
        bincode::serde::decode_from_slice::<T, _>(bytes, config()).map_err(|e| {
            DecodeError::Malformed {
                what,
                reason: e.to_string(),
            }
        })?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            what,
            trailing: bytes.len() - used,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Sample {
        a: u16,
        b: Option<u64>,
        c: String,
    }

    #[test]
    fn fixed_width_little_endian() {
        let bytes = encode(&Sample {
            a: 0x0102,
            b: Some(7),
            c: "hi".into(),
        });
        assert_eq!(
            bytes,
            [
                0x02, 0x01, // a
                0x01, 7, 0, 0, 0, 0, 0, 0, 0, // b
                2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i' // c
            ]
        );
    }

    #[test]
    fn rejects_trailing_bytes_and_oversize() {
        let mut bytes = encode(&7u32);
        assert_eq!(decode::<u32>(&bytes, 4, "n"), Ok(7));
        bytes.push(0);
        assert!(matches!(
            decode::<u32>(&bytes, 8, "n"),
            Err(DecodeError::TrailingBytes { trailing: 1, .. })
        ));
        assert!(matches!(
            decode::<u32>(&bytes, 4, "n"),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn rejects_invalid_option_and_bool_tags() {
        assert!(decode::<Option<u8>>(&[2, 0], 8, "o").is_err());
        assert!(decode::<bool>(&[2], 8, "b").is_err());
    }

    #[test]
    fn huge_length_prefix_does_not_allocate() {
        let mut bytes = u64::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        assert!(decode::<Vec<u64>>(&bytes, 64, "v").is_err());
        assert!(decode::<String>(&bytes, 64, "s").is_err());
        assert!(decode::<crate::bytes::Bytes>(&bytes, 64, "b").is_err());
    }
}
