//! The subscription trie: counted topic prefixes and the "does any subscribed prefix start this
//! message" test that PUB-side filtering runs on every message.
//!
//! Every walk is a loop, never recursion, so a 1 MiB topic cannot overflow the stack
//! (GHSA-qq65-x72m-9wr8), and nodes left without subscriptions are freed on removal, so
//! subscribe/cancel churn keeps memory flat.

use std::collections::HashMap;

use bytes::Bytes;

const ROOT: u32 = 0;
const NONE: u32 = u32::MAX;

/// Two nodes are joined again after a removal only when their labels together are this short:
/// joining copies both labels, and a peer must not be able to make each short command copy a
/// long topic. A node left split costs one node, and creating it took a command whose topic
/// ended there.
const JOIN_MAX: usize = 256;

#[derive(Debug, Clone)]
struct Node {
    /// The bytes on the edge from the parent; empty only for the root. Splitting a label is
    /// O(1) (both halves share the bytes).
    label: Bytes,
    /// Subscriptions ending exactly here.
    count: u32,
    parent: u32,
    /// Children keyed by the first byte of their label, sorted; small fan-out is the norm for
    /// topic strings.
    children: Vec<(u8, u32)>,
}

impl Node {
    fn new(parent: u32, label: Bytes) -> Node {
        Node {
            label,
            count: 0,
            parent,
            children: Vec::new(),
        }
    }
    fn child_index(&self, b: u8) -> Result<usize, usize> {
        self.children.binary_search_by_key(&b, |&(k, _)| k)
    }
    fn child(&self, b: u8) -> Option<u32> {
        self.child_index(b).ok().map(|i| self.children[i].1)
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A set of topic prefixes with a count per prefix: a radix tree, where a run of bytes with no
/// branch is one node, so memory grows with the bytes subscribed, not 100-odd bytes per byte.
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
            nodes: vec![Node::new(NONE, Bytes::new())],
            free: Vec::new(),
            distinct: 0,
        }
    }

    fn node(&self, n: u32) -> &Node {
        &self.nodes[n as usize]
    }

    fn node_mut(&mut self, n: u32) -> &mut Node {
        &mut self.nodes[n as usize]
    }

    /// The node where exactly `prefix` ends, if one does.
    fn find(&self, prefix: &[u8]) -> Option<u32> {
        let mut n = ROOT;
        let mut rest = prefix;
        while let Some(&b) = rest.first() {
            let c = self.node(n).child(b)?;
            let label = &self.node(c).label;
            rest = rest.strip_prefix(&label[..])?;
            n = c;
        }
        Some(n)
    }

    fn alloc(&mut self, parent: u32, label: Bytes) -> u32 {
        let node = Node::new(parent, label);
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    fn release(&mut self, n: u32) {
        let node = self.node_mut(n);
        node.label = Bytes::new();
        node.children = Vec::new();
        node.count = 0;
        self.free.push(n);
    }

    /// Splits the label of `c` (child `i` of `parent`) after `at` bytes; returns the new node
    /// holding the first part, whose only child is `c`.
    fn split(&mut self, parent: u32, i: usize, c: u32, at: usize) -> u32 {
        let head = self.node_mut(c).label.split_to(at);
        let m = self.alloc(parent, head);
        let first = self.node(c).label[0];
        self.node_mut(m).children.push((first, c));
        self.node_mut(c).parent = m;
        self.node_mut(parent).children[i].1 = m;
        m
    }

    /// Adds one subscription to `prefix`; true when the prefix was not subscribed before.
    pub fn add(&mut self, prefix: &[u8]) -> bool {
        let mut n = ROOT;
        let mut rest = prefix;
        while let Some(&b) = rest.first() {
            match self.node(n).child_index(b) {
                Err(i) => {
                    // The new part is copied: the topic may be a slice of a large read buffer.
                    let c = self.alloc(n, Bytes::copy_from_slice(rest));
                    self.node_mut(n).children.insert(i, (b, c));
                    n = c;
                    rest = &[];
                }
                Ok(i) => {
                    let c = self.node(n).children[i].1;
                    let label_len = self.node(c).label.len();
                    let common = common_prefix_len(&self.node(c).label, rest);
                    n = if common < label_len {
                        self.split(n, i, c, common)
                    } else {
                        c
                    };
                    rest = &rest[common..];
                }
            }
        }
        let node = self.node_mut(n);
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
        let node = self.node_mut(n);
        if node.count == 0 {
            return false;
        }
        node.count -= 1;
        if node.count > 0 {
            return false;
        }
        self.distinct -= 1;
        if self.distinct == 0 {
            // Nothing is subscribed any more: give back the node table too.
            *self = SubscriptionTrie::new();
            return true;
        }
        // Free the chain of nodes that no longer lead anywhere.
        while n != ROOT && self.node(n).count == 0 && self.node(n).children.is_empty() {
            let parent = self.node(n).parent;
            let first = self.node(n).label[0];
            if let Ok(i) = self.node(parent).child_index(first) {
                self.node_mut(parent).children.remove(i);
            }
            self.release(n);
            n = parent;
        }
        self.join_if_short(n);
        true
    }

    /// Joins `n` with its only child when `n` has no subscription of its own and the joined
    /// label stays short (see [`JOIN_MAX`]).
    fn join_if_short(&mut self, n: u32) {
        let node = self.node(n);
        if n == ROOT || node.count > 0 || node.children.len() != 1 {
            return;
        }
        let c = node.children[0].1;
        if node.label.len() + self.node(c).label.len() > JOIN_MAX {
            return;
        }
        let mut label = Vec::with_capacity(node.label.len() + self.node(c).label.len());
        label.extend_from_slice(&node.label);
        label.extend_from_slice(&self.node(c).label);
        let parent = node.parent;
        let first = label[0];
        let child = self.node_mut(c);
        child.label = Bytes::from(label);
        child.parent = parent;
        if let Ok(i) = self.node(parent).child_index(first) {
            self.node_mut(parent).children[i].1 = c;
        }
        self.release(n);
    }

    /// Whether `prefix` itself is subscribed.
    pub fn contains(&self, prefix: &[u8]) -> bool {
        self.find(prefix).is_some_and(|n| self.node(n).count > 0)
    }

    /// Whether some subscribed prefix is a prefix of `data` (the empty prefix matches all).
    pub fn matches(&self, data: &[u8]) -> bool {
        let mut n = self.node(ROOT);
        if n.count > 0 {
            return true;
        }
        let mut rest = data;
        while let Some(&b) = rest.first() {
            let Some(c) = n.child(b) else {
                return false;
            };
            n = self.node(c);
            let Some(r) = rest.strip_prefix(&n.label[..]) else {
                return false;
            };
            if n.count > 0 {
                return true;
            }
            rest = r;
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

    /// Bytes held by the labels of the nodes in use (for memory tests).
    pub fn label_bytes(&self) -> usize {
        self.nodes.iter().map(|n| n.label.len()).sum()
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

    /// The tree's shape rules: every node but the root has a label, is filed under its first
    /// byte, points back at its parent, and has a subscription or a reason to exist.
    fn check_shape(t: &SubscriptionTrie) {
        let mut seen = 1;
        let mut stack = vec![ROOT];
        while let Some(n) = stack.pop() {
            let node = t.node(n);
            for w in node.children.windows(2) {
                assert!(w[0].0 < w[1].0, "children out of order");
            }
            for &(k, c) in &node.children {
                let child = t.node(c);
                assert!(!child.label.is_empty(), "empty label below the root");
                assert_eq!(child.label[0], k, "child filed under the wrong byte");
                assert_eq!(child.parent, n, "broken parent link");
                assert!(
                    child.count > 0 || !child.children.is_empty(),
                    "a node with nothing below it was kept"
                );
                seen += 1;
                stack.push(c);
            }
        }
        assert_eq!(seen, t.node_count(), "nodes in use but unreachable");
    }

    #[test]
    fn a_one_mib_topic_costs_about_its_own_size() {
        let topic = vec![b'x'; 1 << 20];
        let mut t = SubscriptionTrie::new();
        t.add(&topic);
        assert_eq!(t.node_count(), 2);
        assert_eq!(t.label_bytes(), 1 << 20);
        // Prefixes of it split the label without copying it.
        for k in [1usize, 10, 1000, 500_000] {
            assert!(t.add(&topic[..k]));
        }
        assert_eq!(t.node_count(), 6);
        assert_eq!(t.label_bytes(), 1 << 20);
        assert!(t.matches(&topic[..1000]));
        assert!(!t.matches(b"y"));
        check_shape(&t);
    }

    #[test]
    fn hostile_split_and_join_churn_on_a_long_topic_stays_bounded() {
        // A peer holding one long topic, then subscribing and cancelling its prefixes, must
        // not make each short command copy the long label, nor grow the tree.
        let topic: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
        let mut t = SubscriptionTrie::new();
        t.add(&topic);
        for i in 0..20_000usize {
            let k = 1 + (i * 7919) % 4096;
            assert!(t.add(&topic[..k]));
            assert!(t.remove(&topic[..k]));
        }
        check_shape(&t);
        assert!(
            t.label_bytes() <= (1 << 20),
            "labels hold {} bytes",
            t.label_bytes()
        );
        assert!(t.node_count() <= 4098, "{} nodes", t.node_count());
        assert!(t.contains(&topic));
        assert!(t.remove(&topic));
        assert_eq!(t.node_count(), 1);
    }

    fn naive_matches(model: &HashMap<Vec<u8>, u32>, data: &[u8]) -> bool {
        model.iter().any(|(k, &c)| c > 0 && data.starts_with(k))
    }

    proptest! {
        #[test]
        fn trie_agrees_with_naive_model(
            ops in prop::collection::vec((any::<bool>(), prop::collection::vec(0u8..3, 0..9)), 0..200),
            probes in prop::collection::vec(prop::collection::vec(0u8..3, 0..12), 0..50),
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
                check_shape(&t);
            }
            for (topic, &c) in &model {
                prop_assert_eq!(t.contains(topic), c > 0);
            }
            for p in &probes {
                prop_assert_eq!(t.matches(p), naive_matches(&model, p));
            }
        }
    }
}
