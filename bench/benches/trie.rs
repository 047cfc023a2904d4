//! The subscription trie that PUB-side filtering runs on every message: match rate against
//! 10,000 subscriptions, half the probes matching, plus the cost of building such a trie.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sockwire::pattern::trie::SubscriptionTrie;

const SUBSCRIPTIONS: usize = 10_000;
const PROBES: usize = 1_000;

/// A small deterministic generator, so every run probes the same topics.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Topic prefixes shaped like real ones: `market.<venue>.<symbol>.` with shared stems.
fn subscriptions() -> Vec<Vec<u8>> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..SUBSCRIPTIONS)
        .map(|i| {
            let venue = rng.next() % 16;
            format!("market.v{venue:02}.sym{i:05}.").into_bytes()
        })
        .collect()
}

/// Message bodies: even ones start with a subscribed prefix, odd ones share a stem but miss.
fn probes(subs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    (0..PROBES)
        .map(|i| {
            let mut body = if i % 2 == 0 {
                subs[(rng.next() % subs.len() as u64) as usize].clone()
            } else {
                format!(
                    "market.v{:02}.sym{:05}x",
                    rng.next() % 16,
                    rng.next() % 100_000
                )
                .into_bytes()
            };
            body.extend_from_slice(b"payload-bytes-follow-the-topic-prefix");
            body
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let subs = subscriptions();
    let mut trie = SubscriptionTrie::new();
    for s in &subs {
        trie.add(s);
    }
    let probes = probes(&subs);
    let mut group = c.benchmark_group("trie");
    group.throughput(Throughput::Elements(PROBES as u64));
    group.bench_function("match_10k_subscriptions", |b| {
        b.iter(|| {
            probes
                .iter()
                .filter(|p| trie.matches(std::hint::black_box(p)))
                .count()
        })
    });
    group.throughput(Throughput::Elements(SUBSCRIPTIONS as u64));
    group.bench_function("build_10k_subscriptions", |b| {
        b.iter(|| {
            let mut t = SubscriptionTrie::new();
            for s in &subs {
                t.add(s);
            }
            t.len()
        })
    });
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
