//! What travels over request-response: block sync and missing proposals. Each frame is a 4-byte big-endian
//! length followed by the canonical encoding, and both are bounded before anything is allocated.

use crate::consensus::Message;
use clearance_core::Hash32;
use clearance_core::bytes::Bytes;
use clearance_core::encoding::{self, limit};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io;

pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/clearance/sync/1");

/// Largest request frame.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Largest response frame: a batch of blocks is cut well below it by the server.
pub const MAX_RESPONSE_BYTES: usize = 2 * limit::BLOCK;
/// A server stops adding blocks to a response after this many bytes.
pub const SYNC_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// And after this many blocks.
pub const SYNC_BATCH_BLOCKS: u32 = 512;
/// Largest consensus message on gossip: a proposal with a full block.
pub const MAX_CONSENSUS_BYTES: usize = limit::BLOCK + 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// The peer's committed height and head.
    Status,
    /// Committed blocks from `from` on, at most `max`, each with its commit certificate.
    Blocks { from: u64, max: u32 },
    /// The proposals (with blocks) the peer holds for `height`.
    Proposals { height: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Status { height: u64, head: Hash32 },
    Blocks(Vec<SyncedBlock>),
    Proposals(Vec<Message>),
    Error(String),
}

/// A committed block as stored: the block bytes and the certificate bytes, unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedBlock {
    pub block: Bytes,
    pub certificate: Bytes,
}

#[derive(Debug, Clone, Default)]
pub struct SyncCodec;

async fn read_frame<T, R>(io: &mut R, max: usize, what: &'static str) -> io::Result<T>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    encoding::decode(&buf, max, what).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_frame<T, W>(io: &mut W, value: &T) -> io::Result<()>
where
    T: Serialize,
    W: AsyncWrite + Unpin + Send,
{
    let bytes = encoding::encode(value);
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_REQUEST_BYTES, "sync request").await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_RESPONSE_BYTES, "sync response").await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

/// Decodes a consensus message from gossip.
pub fn decode_consensus(bytes: &[u8]) -> Result<Message, encoding::DecodeError> {
    encoding::decode(bytes, MAX_CONSENSUS_BYTES, "consensus message")
}

pub fn encode_consensus(msg: &Message) -> Vec<u8> {
    encoding::encode(msg)
}

/// Most transactions in one gossiped batch.
pub const MAX_GOSSIP_TXS: usize = 256;
/// A node closes the batch it is filling before its transactions pass this many bytes.
pub const GOSSIP_TX_BATCH_BYTES: usize = 1024 * 1024;
/// Largest gossiped batch: [`MAX_GOSSIP_TXS`] transactions of the largest size, with their length prefixes.
pub const MAX_GOSSIP_TX_BYTES: usize = 8 + MAX_GOSSIP_TXS * (8 + limit::SIGNED_TX);

/// A gossiped batch of transactions: the canonical encoding of `Vec<Bytes>`, each the exact bytes of one
/// `SignedTx` as its submitter's node received them.
pub fn encode_txs(txs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + txs.iter().map(|tx| 8 + tx.len()).sum::<usize>());
    out.extend_from_slice(&(txs.len() as u64).to_le_bytes());
    for tx in txs {
        out.extend_from_slice(&(tx.len() as u64).to_le_bytes());
        out.extend_from_slice(tx);
    }
    out
}

/// Splits a gossiped batch into its transactions' bytes: 1 to [`MAX_GOSSIP_TXS`] of them, nothing after the last.
pub fn decode_txs(bytes: &[u8]) -> Result<Vec<Bytes>, encoding::DecodeError> {
    // The count comes first: refused before the decoder reserves room for that many entries.
    let count = bytes
        .first_chunk::<8>()
        .map_or(0, |c| u64::from_le_bytes(*c));
    if count == 0 || count > MAX_GOSSIP_TXS as u64 {
        return Err(encoding::DecodeError::Malformed {
            what: "transaction batch",
            reason: format!("{count} transactions, not 1 to {MAX_GOSSIP_TXS}"),
        });
    }
    encoding::decode(bytes, MAX_GOSSIP_TX_BYTES, "transaction batch")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_batch_is_the_canonical_encoding_of_its_byte_strings() {
        let txs = vec![vec![1u8, 2, 3], Vec::new(), vec![9u8; 300]];
        let canonical: Vec<Bytes> = txs.iter().cloned().map(Bytes).collect();
        let encoded = encode_txs(&txs);
        assert_eq!(encoded, encoding::encode(&canonical));
        assert_eq!(decode_txs(&encoded), Ok(canonical));
    }

    #[test]
    fn a_transaction_batch_is_refused_empty_too_long_or_with_trailing_bytes() {
        assert!(decode_txs(&encode_txs(&[])).is_err());
        let too_many = vec![vec![0u8]; MAX_GOSSIP_TXS + 1];
        assert!(decode_txs(&encode_txs(&too_many)).is_err());
        assert!(decode_txs(&encode_txs(&too_many[1..])).is_ok());
        let mut trailing = encode_txs(&[vec![7u8]]);
        trailing.push(0);
        assert!(decode_txs(&trailing).is_err());
        // A count that promises more than the bytes hold.
        let mut short = encode_txs(&[vec![7u8; 10]]);
        short.truncate(short.len() - 1);
        assert!(decode_txs(&short).is_err());
    }
}
