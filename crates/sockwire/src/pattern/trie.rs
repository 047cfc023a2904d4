//! The subscription trie: counted topic prefixes and the "does any subscribed prefix start this
//! message" test that PUB-side filtering runs on every message.
//!
//! Every walk is a loop, never recursion, so a 1 MiB topic cannot overflow the stack
//! (GHSA-qq65-x72m-9wr8), and nodes left without subscriptions are freed on removal, so
//! subscribe/cancel churn keeps memory flat.

use std::collections::HashMap;

const ROOT: u32 = 0;
const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    /// Subscriptions ending exactly here.
    count: u32,
    parent: u32,
    byte: u8,
    /// Children sorted by byte; small fan-out is the norm for topic strings.
    children: Vec<(u8, u32)>,
}

impl Node {
    fn new(parent: u32, byte: u8) -> Node {
        Node {
            count: 0,
            parent,
            byte,
            children: Vec::new(),
        }
    }
    fn child(&self, b: u8) -> Option<u32> {
        self.children
            .binary_search_by_key(&b, |&(k, _)| k)
            .ok()
            .map(|i| self.children[i].1)
    }
}

/// A set of topic prefixes with a count per prefix.
#[derive(Debug, Clone)]
pub struct SubscriptionTrie {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Number of distinct prefixes.
    distinct: usize,
}

impl Default for SubscriptionTrie {
    fn default() -> Self {
        Self::new()
    }
}

impl SubscriptionTrie {
    /// An empty trie.
    pub fn new() -> Self {
        SubscriptionTrie {
            nodes: vec![Node::new(NONE, 0)],
            free: Vec::new(),
            distinct: 0,
        }
    }

    fn find(&self, prefix: &[u8]) -> Option<u32> {
        let mut n = ROOT;
        for &b in prefix {
            n = self.nodes[n as usize].child(b)?;
        }
        Some(n)
    }

    fn alloc(&mut self, parent: u32, byte: u8) -> u32 {
        let node = Node::new(parent, byte);
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    /// Adds one subscription to `prefix`; true when the prefix was not subscribed before.
    pub fn add(&mut self, prefix: &[u8]) -> bool {
        let mut n = ROOT;
        for &b in prefix {
            let node = &self.nodes[n as usize];
            n = match node.children.binary_search_by_key(&b, |&(k, _)| k) {
                Ok(i) => node.children[i].1,
                Err(i) => {
                    let c = self.alloc(n, b);
                    self.nodes[n as usize].children.insert(i, (b, c));
                    c
                }
            };
        }
        let node = &mut self.nodes[n as usize];
        node.count = node.count.saturating_add(1);
        if node.count == 1 {
            self.distinct += 1;
            true
        } else {
            false
        }
    }

    /// Removes one subscription to `prefix`; true when that was the last one. Removing a prefix
    /// that was never subscribed does nothing and returns false.
    pub fn remove(&mut self, prefix: &[u8]) -> bool {
        let Some(mut n) = self.find(prefix) else {
            return false;
        };
        let node = &mut self.nodes[n as usize];
        if node.count == 0 {
            return false;
        }
        node.count -= 1;
        if node.count > 0 {
            return false;
        }
        self.distinct -= 1;
        // Free the chain of nodes that no longer lead anywhere.
        while n != ROOT {
            let node = &self.nodes[n as usize];
            if node.count > 0 || !node.children.is_empty() {
                break;
            }
            let (parent, byte) = (node.parent, node.byte);
            let p = &mut self.nodes[parent as usize];
            if let Ok(i) = p.children.binary_search_by_key(&byte, |&(k, _)| k) {
                p.children.remove(i);
            }
            self.nodes[n as usize].children = Vec::new();
            self.free.push(n);
            n = parent;
        }
        if self.distinct == 0 {
            // Nothing is subscribed any more: give back the node table too (a cancelled 1 MiB
            // topic would otherwise keep a million free nodes for the peer's lifetime).
            *self = SubscriptionTrie::new();
        }
        true
    }

    /// Whether `prefix` itself is subscribed.
    pub fn contains(&self, prefix: &[u8]) -> bool {
        self.find(prefix)
            .is_some_and(|n| self.nodes[n as usize].count > 0)
    }

    /// Whether some subscribed prefix is a prefix of `data` (the empty prefix matches all).
    pub fn matches(&self, data: &[u8]) -> bool {
        let mut n = &self.nodes[ROOT as usize];
        if n.count > 0 {
            return true;
        }
        for &b in data {
            match n.child(b) {
                Some(c) => n = &self.nodes[c as usize],
                None => return false,
            }
            if n.count > 0 {
                return true;
            }
        }
        false
    }

    /// Number of distinct subscribed prefixes.
    pub fn len(&self) -> usize {
        self.distinct
    }

    /// True when nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.distinct == 0
    }

    /// Nodes in use (for memory tests).
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

/// Counted subscriptions of a SUB or XSUB socket, kept both as a trie (to filter what arrives)
/// and as a list (to re-send them all when a publisher reconnects).
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    trie: SubscriptionTrie,
    topics: HashMap<bytes::Bytes, u32>,
}

impl Subscriptions {
    /// Counts a subscription; true when the topic is new and must be sent to publishers.
    pub(crate) fn subscribe(&mut self, topic: bytes::Bytes) -> bool {
        self.trie.add(&topic);
        let c = self.topics.entry(topic).or_insert(0);
        *c += 1;
        *c == 1
    }
    /// Counts a cancellation; true when it was the last and must be sent to publishers.
    pub(crate) fn unsubscribe(&mut self, topic: &[u8]) -> bool {
        match self.topics.get_mut(topic) {
            Some(c) => {
                self.trie.remove(topic);
                *c -= 1;
                if *c == 0 {
                    self.topics.remove(topic);
                    true
                } else {
                    false
                }
            }
            None => false,
        }
    }
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        self.trie.matches(data)
    }
    pub(crate) fn topics(&self) -> impl Iterator<Item = &bytes::Bytes> {
        self.topics.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prefix_matching_is_exact() {
        let mut t = SubscriptionTrie::new();
        assert!(!t.matches(b"anything"));
        assert!(t.add(b"ab"));
        assert!(t.matches(b"ab"));
        assert!(t.matches(b"abc"));
        assert!(!t.matches(b"a"));
        assert!(!t.matches(b"ba"));
        assert!(t.add(b""));
        assert!(t.matches(b""));
        assert!(t.matches(b"zzz"));
        assert!(t.remove(b""));
        assert!(!t.matches(b"zzz"));
    }

    #[test]
    fn counted_and_pruned() {
        let mut t = SubscriptionTrie::new();
        assert!(t.add(b"topic"));
        assert!(!t.add(b"topic"));
        assert!(!t.remove(b"topic"));
        assert!(t.matches(b"topic/1"));
        assert!(t.remove(b"topic"));
        assert!(!t.matches(b"topic/1"));
        assert_eq!(t.node_count(), 1);
        // C13: cancelling what was never subscribed, or the empty topic, is a no-op.
        assert!(!t.remove(b"never"));
        assert!(!t.remove(b""));
        assert_eq!(t.node_count(), 1);
    }

    #[test]
    fn hostile_c12_one_mib_topic_no_stack_overflow() {
        let topic = vec![b'x'; 1 << 20];
        let mut t = SubscriptionTrie::new();
        t.add(&topic);
        assert!(t.matches(&topic));
        assert!(t.remove(&topic));
        assert_eq!(t.node_count(), 1);
    }

    #[test]
    fn hostile_r4_churn_keeps_memory_flat() {
        let mut t = SubscriptionTrie::new();
        for i in 0..100_000u32 {
            let topic = i.to_be_bytes();
            t.add(&topic);
            t.remove(&topic);
        }
        assert_eq!(t.node_count(), 1);
        assert!(t.nodes.len() <= 8, "arena grew to {}", t.nodes.len());
    }

    fn naive_matches(model: &HashMap<Vec<u8>, u32>, data: &[u8]) -> bool {
        model.iter().any(|(k, &c)| c > 0 && data.starts_with(k))
    }

    proptest! {
        #[test]
        fn trie_agrees_with_naive_model(
            ops in prop::collection::vec((any::<bool>(), prop::collection::vec(0u8..4, 0..5)), 0..200),
            probes in prop::collection::vec(prop::collection::vec(0u8..4, 0..8), 0..50),
        ) {
            let mut t = SubscriptionTrie::new();
            let mut model: HashMap<Vec<u8>, u32> = HashMap::new();
            for (add, topic) in &ops {
                if *add {
                    let c = model.entry(topic.clone()).or_insert(0);
                    *c += 1;
                    prop_assert_eq!(t.add(topic), *c == 1);
                } else {
                    let expect_last = match model.get_mut(topic) {
                        Some(c) if *c > 0 => { *c -= 1; *c == 0 }
                        _ => false,
                    };
                    prop_assert_eq!(t.remove(topic), expect_last);
                }
                prop_assert_eq!(t.len(), model.values().filter(|&&c| c > 0).count());
            }
            for p in &probes {
                prop_assert_eq!(t.matches(p), naive_matches(&model, p));
            }
        }
    }
}
