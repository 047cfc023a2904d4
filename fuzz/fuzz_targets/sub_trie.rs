//! The subscription trie (hostile-inputs C12-C13, R4) against a naive model: random
//! subscribe / cancel / match operations, including one long topic (up to 1 MiB) per input.
//!
//! Invariants: every return value and query agrees with a map of counted prefixes; cancelling
//! what was never subscribed (or the empty topic) does nothing; once everything is cancelled
//! the trie is back to a single node (memory flat), and no walk overflows the stack.
#![no_main]

use std::collections::HashMap;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use sockwire::pattern::trie::SubscriptionTrie;

#[derive(Debug, Arbitrary)]
enum Op {
    Add(Vec<u8>),
    Remove(Vec<u8>),
    Matches(Vec<u8>),
    Contains(Vec<u8>),
    /// Subscribe to (or cancel, or match) copies of a byte: `len % 1 MiB` of them when the
    /// last field is 0xFF (slow: kept rare), else `len % 4096`.
    Long(u8, u32, u8),
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(ops) = Vec::<Op>::arbitrary(&mut u) else {
        return;
    };
    let mut trie = SubscriptionTrie::new();
    let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut long_used = false;
    for op in ops.into_iter().take(256) {
        match op {
            Op::Add(p) => add(&mut trie, &mut model, p),
            Op::Remove(p) => remove(&mut trie, &mut model, &p),
            Op::Matches(d) => {
                let expect = model.keys().any(|k| d.starts_with(k));
                assert_eq!(trie.matches(&d), expect, "matches({d:?})");
            }
            Op::Contains(p) => assert_eq!(trie.contains(&p), model.contains_key(&p)),
            Op::Long(byte, len, what) => {
                if long_used {
                    continue;
                }
                long_used = true;
                let max = if what == 0xFF { 1 << 20 } else { 4096 };
                let topic = vec![byte; (len % max) as usize];
                match what % 3 {
                    0 => add(&mut trie, &mut model, topic),
                    1 => remove(&mut trie, &mut model, &topic),
                    _ => {
                        let expect = model.keys().any(|k| topic.starts_with(k));
                        assert_eq!(trie.matches(&topic), expect);
                    }
                }
            }
        }
        assert_eq!(trie.len(), model.len());
        assert_eq!(trie.is_empty(), model.is_empty());
    }
    let keys: Vec<(Vec<u8>, u32)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
    for (k, n) in keys {
        for _ in 0..n {
            remove(&mut trie, &mut model, &k);
        }
    }
    assert!(trie.is_empty());
    assert_eq!(
        trie.node_count(),
        1,
        "nodes left after cancelling everything"
    );
});

fn add(trie: &mut SubscriptionTrie, model: &mut HashMap<Vec<u8>, u32>, p: Vec<u8>) {
    let c = model.entry(p.clone()).or_insert(0);
    let new = *c == 0;
    // The trie's count saturates at u32::MAX; the model does the same.
    *c = c.saturating_add(1);
    assert_eq!(trie.add(&p), new, "add({p:?})");
}

fn remove(trie: &mut SubscriptionTrie, model: &mut HashMap<Vec<u8>, u32>, p: &[u8]) {
    let last = match model.get_mut(p) {
        Some(c) => {
            *c -= 1;
            *c == 0
        }
        None => false,
    };
    if last {
        model.remove(p);
    }
    assert_eq!(trie.remove(p), last, "remove({p:?})");
}
