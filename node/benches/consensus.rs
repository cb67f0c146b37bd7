//! Baseline for the bare consensus state machine: heights decided per second by n in-process validators with
//! instant, lossless delivery and real ed25519 signing and verification (each node's `Verifier` checks what it
//! receives, as its network layer does). No network, no disk, no execution.
//!
//! `cargo bench -p clearance-node --bench consensus`

use clearance_core::block::{Block, Header, HeaderView, block_hash};
use clearance_core::crypto::SecretKey;
use clearance_core::genesis::ConsensusParams;
use clearance_core::hash::Hash32;
use clearance_core::ids::CountryCode;
use clearance_core::proposer::ProposerOrder;
use clearance_core::time::Timestamp;
use clearance_core::validator::{Validator, ValidatorSet};
use clearance_node::consensus::{Config, Input, Machine, Message, Output, Timeouts, Verifier};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::collections::VecDeque;

const IDS: [&str; 7] = ["AZ", "CN", "DE", "FR", "JP", "KG", "KZ"];

struct Net {
    machines: Vec<Machine>,
    verifiers: Vec<Verifier>,
    set: ValidatorSet,
    chain_id: Hash32,
    nonce: u64,
}

impl Net {
    fn new(n: usize) -> Net {
        let keys: Vec<SecretKey> = (0..n)
            .map(|i| SecretKey::from_seed([i as u8 + 1; 32]))
            .collect();
        let set = ValidatorSet::new(
            (0..n)
                .map(|i| Validator {
                    member: CountryCode::parse(IDS[i]).expect("id"),
                    key: keys[i].public_key(),
                })
                .collect(),
        )
        .expect("set");
        let chain_id = Hash32::sha256(b"bench");
        let timeouts = Timeouts::from_params(&ConsensusParams::default());
        let machines = keys
            .into_iter()
            .map(|key| {
                Machine::new(
                    Config {
                        chain_id,
                        timeouts,
                        keys: vec![key],
                    },
                    set.clone(),
                    ProposerOrder::rotation(set.len(), 1),
                    1,
                    None,
                )
            })
            .collect();
        Net {
            machines,
            verifiers: (0..n)
                .map(|_| Verifier::new(chain_id, set.clone()))
                .collect(),
            set,
            chain_id,
            nonce: 0,
        }
    }

    fn block(&mut self, height: u64) -> Block {
        self.nonce += 1;
        let header = Header {
            chain_id: self.chain_id,
            height,
            time: Timestamp(self.nonce),
            parent_hash: Hash32::sha256(&self.nonce.to_le_bytes()),
            proposer: ProposerOrder::rotation(self.set.len(), height)
                .proposer(&self.set, 0)
                .member
                .clone(),
            tx_count: 0,
            tx_root: clearance_core::merkle::empty_root(),
            results_root: clearance_core::merkle::empty_root(),
            log_size: 0,
            log_root: clearance_core::merkle::empty_root(),
            validator_set_hash: self.set.hash(),
            next_validator_set_hash: self.set.hash(),
            state_root: Hash32::ZERO,
        };
        Block {
            header: HeaderView::from_header(header).bytes,
            txs: Vec::new(),
        }
    }

    /// Runs until every machine has decided its current height; returns the number of heights decided.
    fn run(&mut self, mut work: VecDeque<(usize, Input)>) -> u64 {
        let n = self.machines.len() as u64;
        let mut decided = 0;
        while let Some((i, input)) = work.pop_front() {
            for output in self.machines[i].handle(input) {
                match output {
                    Output::ValidateBlock { height, block } => work.push_back((
                        i,
                        Input::BlockVerdict {
                            height,
                            block_hash: block_hash(block.header.as_slice()),
                            valid: true,
                        },
                    )),
                    Output::Decide { .. } => {
                        decided += 1;
                        if decided == n {
                            return 1;
                        }
                    }
                    other => self.enqueue(i, vec![other], &mut work),
                }
            }
        }
        0
    }

    fn start(&mut self) -> VecDeque<(usize, Input)> {
        let mut work = VecDeque::new();
        for i in 0..self.machines.len() {
            let outputs = self.machines[i].start();
            self.enqueue(i, outputs, &mut work);
        }
        work
    }

    fn enqueue(&mut self, i: usize, outputs: Vec<Output>, work: &mut VecDeque<(usize, Input)>) {
        let n = self.machines.len();
        for output in outputs {
            match output {
                Output::Broadcast(Message::Vote(v)) => {
                    for j in (0..n).filter(|j| *j != i) {
                        let checked = self.verifiers[j].vote(v.clone()).expect("a valid vote");
                        work.push_back((j, Input::Vote(checked)));
                    }
                }
                Output::Broadcast(Message::Proposal { proposal, block }) => {
                    for j in (0..n).filter(|j| *j != i) {
                        let checked = self.verifiers[j]
                            .proposal(proposal.clone(), block.clone())
                            .expect("a valid proposal");
                        work.push_back((j, Input::Proposal(checked)));
                    }
                }
                Output::BuildBlock { height, round } => {
                    let block = self.block(height);
                    work.push_back((
                        i,
                        Input::BlockToPropose {
                            height,
                            round,
                            block,
                        },
                    ));
                }
                _ => {}
            }
        }
    }
}

fn heights(c: &mut Criterion) {
    let mut group = c.benchmark_group("consensus_height");
    group.throughput(Throughput::Elements(1));
    for n in [4usize, 7] {
        group.bench_function(format!("n{n}"), |b| {
            let mut net = Net::new(n);
            let mut work = net.start();
            b.iter(|| {
                let decided = net.run(std::mem::take(&mut work));
                assert_eq!(decided, 1, "every machine decides each height");
                // Every machine has decided: commit the height everywhere, which starts the next one.
                work = VecDeque::new();
                for i in 0..n {
                    let height = net.machines[i].height();
                    if net.machines[i].is_decided() {
                        let outputs = net.machines[i].handle(Input::HeightCommitted {
                            height,
                            next_validators: net.set.clone(),
                            next_proposers: ProposerOrder::rotation(net.set.len(), height + 1),
                        });
                        net.enqueue(i, outputs, &mut work);
                    }
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, heights);
criterion_main!(benches);
