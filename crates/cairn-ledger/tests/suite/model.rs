//! Model-based property test: random sequences of appends, checkpoints, reopens ("reboots") and
//! torn writes against a plain `Vec` of entries and the reference tree.

use cairn_ledger::merkle::MemoryTree;
use cairn_ledger::{Ledger, verify_dir};
use proptest::prelude::*;

use super::opts;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Vec<u8>>),
    Checkpoint,
    Reopen,
    /// Garbage appended to the last segment, as a crash mid-write leaves it, then reopen.
    TornWriteAndReopen(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..40)
            .prop_map(Op::Append),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Reopen),
        1 => prop::collection::vec(any::<u8>(), 1..30).prop_map(Op::TornWriteAndReopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_the_model(ops in prop::collection::vec(op(), 1..25)) {
        let dir = tempfile::tempdir().unwrap();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut tree = MemoryTree::default();
        let mut ledger = Some(Ledger::open(dir.path(), opts()).unwrap());
        for op in ops {
            match op {
                Op::Append(batch) => {
                    let l = ledger.as_ref().unwrap();
                    let range = l.append(&batch).unwrap();
                    prop_assert_eq!(range.start, model.len() as u64);
                    for e in batch {
                        tree.push_entry(&e);
                        model.push(e);
                    }
                }
                Op::Checkpoint => {
                    ledger.as_ref().unwrap().checkpoint().unwrap();
                }
                Op::Reopen => {
                    drop(ledger.take());
                    ledger = Some(Ledger::open(dir.path(), opts()).unwrap());
                }
                Op::TornWriteAndReopen(garbage) => {
                    drop(ledger.take());
                    let last = super::segments(dir.path()).pop().unwrap();
                    let mut bytes = std::fs::read(&last).unwrap();
                    // A length field larger than what follows: a record cut short.
                    bytes.extend_from_slice(&(garbage.len() as u32 + 1).to_le_bytes());
                    bytes.extend_from_slice(&garbage);
                    std::fs::write(&last, bytes).unwrap();
                    ledger = Some(Ledger::open(dir.path(), opts()).unwrap());
                }
            }
            let l = ledger.as_ref().unwrap();
            prop_assert_eq!(l.size(), model.len() as u64);
            prop_assert_eq!(l.root_at(l.size()).unwrap(), tree.root(tree.size()).unwrap());
            if let Some(last) = model.last() {
                prop_assert_eq!(&l.read_entry(model.len() as u64 - 1).unwrap(), last);
            }
        }
        let l = ledger.take().unwrap();
        prop_assert_eq!(l.read_range(0, usize::MAX).unwrap(), model);
        l.close().unwrap();
        drop(l);
        let report = verify_dir(dir.path(), &Default::default(), &mut |_, _| {}).unwrap();
        prop_assert!(report.ok, "{:?}", report.problems);
    }
}
