//! What travels over request-response: block sync, and the consensus channel. Each frame is a 4-byte big-endian
//! length followed by the canonical encoding, and both are bounded before anything is allocated.

use crate::consensus::Message;
use crate::consensus::peer_gossip::RoundState;
use clearance_core::Hash32;
use clearance_core::bytes::Bytes;
use clearance_core::crypto::PublicKey;
use clearance_core::encoding::{self, limit};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io;

pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/clearance/sync/3");
/// Consensus traffic: its own protocol, so its streams never queue behind gossiped transactions.
pub const CONSENSUS_PROTOCOL: StreamProtocol = StreamProtocol::new("/clearance/consensus/4");

/// Largest request frame: a request for [`MAX_WANTED_TXS`] transactions is about 10 KiB.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Missing transactions one request may name, and a response may carry.
pub const MAX_WANTED_TXS: usize = 256;
/// A server stops adding transactions to a response after this many bytes.
pub const WANTED_TXS_BYTES: usize = 4 * 1024 * 1024;
/// Largest response frame: a batch of blocks is cut well below it by the server.
pub const MAX_RESPONSE_BYTES: usize = 2 * limit::BLOCK;
/// A server stops adding blocks to a response after this many bytes.
/// Small enough that a member asking for the same blocks again and again costs a server little memory (each
/// answer is read and encoded whole); large enough that the round trips of a catching-up node do not dominate.
pub const SYNC_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// And after this many blocks.
pub const SYNC_BATCH_BLOCKS: u32 = 512;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// The peer's committed height and head.
    Status,
    /// Committed blocks from `from` on, at most `max`, each with its commit certificate.
    Blocks { from: u64, max: u32 },
    /// Pending transactions by submitter key and sequence number: those a member lacks while later ones of the
    /// same keys wait in its mempool (a gossip batch it never received). At most [`MAX_WANTED_TXS`].
    Txs { wanted: Vec<(PublicKey, u64)> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Status {
        height: u64,
        head: Hash32,
    },
    Blocks(Vec<SyncedBlock>),
    Error(String),
    /// The signed bytes of the wanted transactions the server holds pending, in no particular order.
    Txs(Vec<Bytes>),
}

/// A committed block as stored: the block bytes and the certificate bytes, unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedBlock {
    pub block: Bytes,
    pub certificate: Bytes,
}

#[derive(Debug, Clone, Default)]
pub struct SyncCodec;

/// One item on the consensus channel, encoded on its own so that a node encodes a message once for all peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsensusItem {
    /// Where the sender is and what it holds (see `consensus::peer_gossip`).
    State(RoundState),
    Message(Message),
    /// A committed block for a peer still deciding its height.
    Commit(SyncedBlock),
    /// A proposal with its block's transactions named by id: the receiver has nearly all of them in its mempool
    /// already, so a proposal costs 32 bytes per transaction instead of the transaction.
    CompactProposal(CompactProposal),
    /// The transactions of a compact proposal that the receiver could not find, by their index in the block.
    /// The block is named by its hash: an equivocating proposer (or twins) makes several blocks for one round,
    /// and a peer that restarted may hold another of them than the one it sent before.
    WantTxs {
        height: u64,
        round: u32,
        block: Hash32,
        indexes: Vec<u32>,
    },
    /// The answer to `WantTxs`: the named block's exact transaction bytes at those indexes.
    ProposalTxs {
        height: u64,
        round: u32,
        block: Hash32,
        txs: Vec<IndexedTx>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactProposal {
    pub proposal: clearance_core::vote::SignedProposal,
    /// The block's header bytes, exactly as in the block.
    pub header: Bytes,
    /// The id (`SignedTx::id`) of each transaction of the block, in block order.
    pub tx_ids: Vec<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedTx {
    pub index: u32,
    pub tx: Bytes,
}

/// Most transactions a compact proposal may name or a `WantTxs` ask for: above any `max_block_txs` genesis allows.
pub const MAX_BLOCK_TX_IDS: usize = 100_000;

/// Most items in one consensus request.
pub const MAX_CONSENSUS_ITEMS: usize = 512;
/// Largest consensus item: a commit (a full block and its certificate) or a proposal with its block.
pub const MAX_CONSENSUS_ITEM_BYTES: usize = 2 * limit::BLOCK;
/// Largest consensus request. A sender closes a request before it passes [`CONSENSUS_BATCH_BYTES`], so only a
/// single large item comes near this.
pub const MAX_CONSENSUS_REQUEST_BYTES: usize = MAX_CONSENSUS_ITEM_BYTES + 1024 * 1024;
/// A sender starts a new request rather than let one pass this many bytes.
pub const CONSENSUS_BATCH_BYTES: usize = 256 * 1024;

/// A request on the consensus channel: encoded [`ConsensusItem`]s, shared between the requests to every peer.
/// On the wire it is the canonical encoding of `Vec<Bytes>`. The answer is an empty acknowledgement: what the
/// peer holds comes back in its own round states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsensusRequest(pub Vec<std::sync::Arc<Vec<u8>>>);

#[derive(Debug, Clone, Default)]
pub struct ConsensusCodec;

pub fn encode_item(item: &ConsensusItem) -> Vec<u8> {
    encoding::encode(item)
}

pub fn decode_item(bytes: &[u8]) -> Result<ConsensusItem, encoding::DecodeError> {
    encoding::decode(bytes, MAX_CONSENSUS_ITEM_BYTES, "consensus item")
}

/// Reads one frame's body: its 4-byte big-endian length, refused above `max`, then that many bytes. The buffer
/// grows with the bytes that actually arrive, so a peer that announces a large frame and sends little costs
/// little, however many streams it opens.
async fn read_body<R>(io: &mut R, max: usize, what: &'static str) -> io::Result<Vec<u8>>
where
    R: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(invalid(format!(
            "{what} of {len} bytes exceeds the limit of {max}"
        )));
    }
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{what} ended after {} of {len} bytes", buf.len()),
        ));
    }
    Ok(buf)
}

async fn read_frame<T, R>(io: &mut R, max: usize, what: &'static str) -> io::Result<T>
where
    T: DeserializeOwned,
    R: AsyncRead + Unpin + Send,
{
    let buf = read_body(io, max, what).await?;
    encoding::decode(&buf, max, what).map_err(invalid)
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

impl libp2p::request_response::Codec for ConsensusCodec {
    type Protocol = StreamProtocol;
    type Request = ConsensusRequest;
    type Response = ();

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<ConsensusRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let buf = read_body(io, MAX_CONSENSUS_REQUEST_BYTES, "consensus request").await?;
        let items = decode_byte_list(
            &buf,
            MAX_CONSENSUS_ITEMS,
            MAX_CONSENSUS_REQUEST_BYTES,
            "consensus request",
        )
        .map_err(invalid)?;
        Ok(ConsensusRequest(
            items
                .into_iter()
                .map(|Bytes(b)| std::sync::Arc::new(b))
                .collect(),
        ))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<()>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, 0, "consensus acknowledgement").await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: ConsensusRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let items: Vec<&[u8]> = req.0.iter().map(|item| item.as_slice()).collect();
        let body = encode_byte_list(&items);
        let len = u32::try_from(body.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
        io.write_all(&len.to_be_bytes()).await?;
        io.write_all(&body).await?;
        io.close().await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, ack: ()) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &ack).await
    }
}

fn invalid(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Most transactions in one gossiped batch.
pub const MAX_GOSSIP_TXS: usize = 256;
/// A node closes the batch it is filling before its transactions pass this many bytes.
pub const GOSSIP_TX_BATCH_BYTES: usize = 1024 * 1024;
/// Largest gossiped batch: [`MAX_GOSSIP_TXS`] transactions of the largest size, with their length prefixes.
pub const MAX_GOSSIP_TX_BYTES: usize = 8 + MAX_GOSSIP_TXS * (8 + limit::SIGNED_TX);

/// The canonical encoding of `Vec<Bytes>`, built from byte strings already encoded, without copying them twice.
fn encode_byte_list<B: AsRef<[u8]>>(items: &[B]) -> Vec<u8> {
    let items = items.iter().map(AsRef::as_ref);
    let mut out = Vec::with_capacity(8 + items.clone().map(|b| 8 + b.len()).sum::<usize>());
    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for item in items {
        out.extend_from_slice(&(item.len() as u64).to_le_bytes());
        out.extend_from_slice(item);
    }
    out
}

/// Decodes a `Vec<Bytes>` of 1 to `max_count` entries within `max_bytes`, nothing after the last. The count comes
/// first: it is refused before the decoder reserves room for that many entries.
fn decode_byte_list(
    bytes: &[u8],
    max_count: usize,
    max_bytes: usize,
    what: &'static str,
) -> Result<Vec<Bytes>, encoding::DecodeError> {
    let count = bytes
        .first_chunk::<8>()
        .map_or(0, |c| u64::from_le_bytes(*c));
    if count == 0 || count > max_count as u64 {
        return Err(encoding::DecodeError::Malformed {
            what,
            reason: format!("{count} entries, not 1 to {max_count}"),
        });
    }
    encoding::decode(bytes, max_bytes, what)
}

/// A gossiped batch of transactions: the canonical encoding of `Vec<Bytes>`, each the exact bytes of one
/// `SignedTx` as its submitter's node received them.
pub fn encode_txs(txs: &[Vec<u8>]) -> Vec<u8> {
    encode_byte_list(txs)
}

/// Splits a gossiped batch into its transactions' bytes: 1 to [`MAX_GOSSIP_TXS`] of them, nothing after the last.
pub fn decode_txs(bytes: &[u8]) -> Result<Vec<Bytes>, encoding::DecodeError> {
    decode_byte_list(
        bytes,
        MAX_GOSSIP_TXS,
        MAX_GOSSIP_TX_BYTES,
        "transaction batch",
    )
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
    fn a_request_for_the_most_wanted_transactions_fits_a_request_frame() {
        let key = clearance_core::crypto::SecretKey::from_seed([3; 32]).public_key();
        let one = encoding::encode(&SyncRequest::Txs {
            wanted: vec![(key, 7)],
        });
        // The variant, the count, then the 32-byte key and the 8-byte sequence (docs/protocol.md 12.3).
        assert_eq!(one.len(), 12 + 40);
        assert_eq!(&one[..12], &[2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        let most = encoding::encode(&SyncRequest::Txs {
            wanted: vec![(key, u64::MAX); MAX_WANTED_TXS],
        });
        assert!(most.len() <= MAX_REQUEST_BYTES, "{} bytes", most.len());
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
