//! The signature rule of `docs/protocol.md` §3.4, and the determinism of batch verification: for every
//! crafted input, small-order components included, a batch gives each signature the verdict that checking it
//! alone gives.

mod common;

use clearance_core::crypto::{
    BatchItem, CheckedKey, PublicKey, SecretKey, Signature, verify_batch,
};
use clearance_core::hash::tag;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

/// A point of order 8 (RFC 8032 does not name it; it is one of the two order-8 points with x > 0).
fn order_8_point() -> EdwardsPoint {
    let bytes =
        hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a").unwrap();
    let point = CompressedEdwardsY(bytes.try_into().unwrap())
        .decompress()
        .unwrap();
    assert!(point.is_small_order());
    assert!(
        !is_identity(&(point + point + point + point)),
        "order exactly 8"
    );
    point
}

fn is_identity(p: &EdwardsPoint) -> bool {
    p.compress().to_bytes() == EdwardsPoint::default().compress().to_bytes()
}

fn scalar(n: u64) -> Scalar {
    let digest = Sha512::digest(n.to_le_bytes());
    Scalar::from_bytes_mod_order_wide(&digest.into())
}

/// A key `A = [a]B + T` with a chosen secret scalar and an optional torsion part, built by hand so that tests
/// can make signatures no honest signer would.
struct HandKey {
    a: Scalar,
    public: PublicKey,
}

impl HandKey {
    fn new(seed: u64, torsion: Option<EdwardsPoint>) -> HandKey {
        let a = scalar(seed);
        let point = B * a + torsion.unwrap_or_default();
        HandKey {
            a,
            public: PublicKey(point.compress().to_bytes()),
        }
    }

    fn checked(&self) -> CheckedKey {
        self.public.to_checked().unwrap()
    }

    /// Signs with nonce point `R = [r]B + extra` and `S = r + k·a + s_offset`.
    fn sign_with(
        &self,
        nonce: u64,
        extra: EdwardsPoint,
        s_offset: Scalar,
        message: &[u8],
    ) -> Signature {
        let r = scalar(nonce ^ 0xdead_beef);
        let big_r = (B * r + extra).compress().to_bytes();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(big_r)
                .chain_update(self.public.0)
                .chain_update(tag::TX.as_bytes())
                .chain_update([0u8])
                .chain_update(message)
                .finalize()
                .into(),
        );
        let s = r + k * self.a + s_offset;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        Signature(sig)
    }
}

/// Every way a signature can be built in these tests, honest or crafted.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Honest,
    /// `R` carries an order-8 component: fails the cofactorless equation, passes the cofactored one.
    TorsionInR,
    /// The key carries an order-8 component (a mixed-order key, which is not weak).
    TorsionInKey,
    /// The equation is off by a point of prime order: invalid under every rule.
    WrongS,
    /// `R` is itself of small order: refused before the equation.
    SmallOrderR,
    /// `S ≥ L`: refused before the equation.
    NonCanonicalS,
    /// Signed another message.
    WrongMessage,
}

const KINDS: [Kind; 7] = [
    Kind::Honest,
    Kind::TorsionInR,
    Kind::TorsionInKey,
    Kind::WrongS,
    Kind::SmallOrderR,
    Kind::NonCanonicalS,
    Kind::WrongMessage,
];

struct Case {
    key: CheckedKey,
    message: Vec<u8>,
    signature: Signature,
}

fn case(kind: Kind, n: u64) -> Case {
    let t = order_8_point();
    let message = format!("transaction body {n}").into_bytes();
    let zero = EdwardsPoint::default();
    let key = match kind {
        Kind::TorsionInKey => HandKey::new(n % 3, Some(t)),
        _ => HandKey::new(n % 3, None),
    };
    let signature = match kind {
        Kind::Honest | Kind::TorsionInKey => key.sign_with(n, zero, Scalar::ZERO, &message),
        Kind::TorsionInR => key.sign_with(n, t, Scalar::ZERO, &message),
        Kind::WrongS => key.sign_with(n, zero, Scalar::ONE, &message),
        Kind::WrongMessage => key.sign_with(n, zero, Scalar::ZERO, b"another body"),
        Kind::SmallOrderR => {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&t.compress().to_bytes());
            Signature(sig)
        }
        Kind::NonCanonicalS => {
            let mut sig = key.sign_with(n, zero, Scalar::ZERO, &message);
            // S + L has the same value modulo L and still fits in 256 bits for most S.
            let l: [u8; 32] =
                hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                    .unwrap()
                    .try_into()
                    .unwrap();
            let mut carry = 0u16;
            for (s_byte, l_byte) in sig.0[32..].iter_mut().zip(l) {
                let v = *s_byte as u16 + l_byte as u16 + carry;
                *s_byte = v as u8;
                carry = v >> 8;
            }
            assert_eq!(carry, 0);
            sig
        }
    };
    Case {
        key: key.checked(),
        message,
        signature,
    }
}

fn single(c: &Case) -> bool {
    c.key.verify(tag::TX, &c.message, &c.signature).is_ok()
}

fn batch(cases: &[Case]) -> Vec<bool> {
    let items: Vec<_> = cases
        .iter()
        .map(|c| BatchItem {
            key: &c.key,
            tag: tag::TX,
            bytes: &c.message,
            signature: &c.signature,
        })
        .collect();
    verify_batch(&items).iter().map(Result::is_ok).collect()
}

#[test]
fn the_rule_on_each_crafted_input() {
    for n in 0..8 {
        let expect = |kind| match kind {
            Kind::Honest | Kind::TorsionInR | Kind::TorsionInKey => true,
            Kind::WrongS | Kind::SmallOrderR | Kind::NonCanonicalS | Kind::WrongMessage => false,
        };
        for kind in KINDS {
            assert_eq!(single(&case(kind, n)), expect(kind), "{kind:?} #{n}");
        }
    }
}

#[test]
fn the_cofactorless_rule_disagrees_on_torsion_in_r() {
    // Why the rule is the cofactored one: ed25519-dalek's `verify_strict` rejects what the batch equation
    // cannot reliably reject, so a batch over it would not be deterministic.
    let c = case(Kind::TorsionInR, 1);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&c.key.key().0).unwrap();
    let mut msg = tag::TX.as_bytes().to_vec();
    msg.push(0);
    msg.extend_from_slice(&c.message);
    let sig = ed25519_dalek::Signature::from_bytes(&c.signature.0);
    assert!(vk.verify_strict(&msg, &sig).is_err());
    assert!(single(&c));
}

#[test]
fn batches_agree_with_single_verification() {
    // Every mix of kinds over many batch compositions: the batch's verdicts equal the single verdicts.
    let mut n = 0u64;
    for size in [2usize, 3, 7, 16, 64] {
        for (first, first_kind) in KINDS.iter().enumerate() {
            let cases: Vec<Case> = (0..size)
                .map(|i| {
                    n += 1;
                    let kind = if i == 0 {
                        *first_kind
                    } else {
                        KINDS[(n as usize * 5 + i) % KINDS.len()]
                    };
                    case(kind, n)
                })
                .collect();
            let singles: Vec<bool> = cases.iter().map(single).collect();
            assert_eq!(batch(&cases), singles, "size {size}, first {first}");
        }
    }
}

#[test]
fn a_batch_of_valid_signatures_passes_as_one() {
    for kinds in [
        vec![Kind::Honest; 40],
        vec![Kind::TorsionInR; 40],
        vec![Kind::TorsionInKey; 40],
        [Kind::Honest, Kind::TorsionInR, Kind::TorsionInKey].repeat(20),
    ] {
        let cases: Vec<Case> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| case(*k, i as u64))
            .collect();
        assert!(batch(&cases).iter().all(|ok| *ok));
    }
}

#[test]
fn one_bad_signature_fails_only_itself() {
    let mut cases: Vec<Case> = (0..30).map(|i| case(Kind::Honest, i)).collect();
    cases[17] = case(Kind::WrongS, 17);
    let verdicts = batch(&cases);
    for (i, ok) in verdicts.iter().enumerate() {
        assert_eq!(*ok, i != 17, "signature {i}");
    }
}

#[test]
fn real_keys_sign_and_batch() {
    let keys: Vec<SecretKey> = (1..=4u8).map(|n| SecretKey::from_seed([n; 32])).collect();
    let messages: Vec<Vec<u8>> = (0..50).map(|i| format!("body {i}").into_bytes()).collect();
    let checked: Vec<CheckedKey> = keys
        .iter()
        .map(|k| k.public_key().to_checked().unwrap())
        .collect();
    let signatures: Vec<Signature> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % 4].sign(tag::TX, m))
        .collect();
    let items: Vec<BatchItem<'_>> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| BatchItem {
            key: &checked[i % 4],
            tag: tag::TX,
            bytes: m,
            signature: &signatures[i],
        })
        .collect();
    assert!(verify_batch(&items).iter().all(Result::is_ok));
    // The same signature under another domain tag is refused, alone and in a batch.
    let mut wrong = items;
    wrong[3].tag = tag::VOTE;
    let verdicts = verify_batch(&wrong);
    assert!(verdicts[3].is_err());
    assert_eq!(verdicts.iter().filter(|v| v.is_err()).count(), 1);
}

#[test]
fn verify_many_gives_each_transaction_its_own_verdict() {
    use clearance_core::tx::{SignedTx, TxBody, verify_many};
    let chain = clearance_core::hash::Hash32::sha256(b"chain");
    let records = common::every_record();
    let mut txs = Vec::new();
    for (i, record) in records.iter().cycle().take(150).enumerate() {
        let signer = common::key(1 + (i % 3) as u8);
        let body = TxBody {
            chain_id: if i % 17 == 5 {
                clearance_core::hash::Hash32::sha256(b"other chain")
            } else {
                chain
            },
            submitter: signer.public_key(),
            sequence: if i % 23 == 7 { 0 } else { i as u64 + 1 },
            record: record.clone(),
        };
        let mut tx = SignedTx::sign(&body, &signer);
        if i % 11 == 3 {
            tx.signature.0[40] ^= 1;
        }
        if i % 13 == 4 {
            tx.signature = common::key(9).sign(tag::TX, tx.body.as_slice());
        }
        txs.push(tx);
    }
    let one_by_one: Vec<_> = txs.iter().map(|tx| tx.verify(&chain)).collect();
    assert!(one_by_one.iter().filter(|r| r.is_ok()).count() > 100);
    assert!(one_by_one.iter().filter(|r| r.is_err()).count() > 20);
    assert_eq!(
        verify_many(&chain, &txs, &mut std::collections::HashMap::new()),
        one_by_one
    );
}
