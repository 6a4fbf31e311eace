//! Category lookup against a generated list of one million domains, next
//! to a plain `HashSet<String>` baseline doing the same parent walk, plus
//! the time to load the list and its memory per name.
//!
//! Run: `cargo bench -p ward-runtime --bench categories`.

#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    reason = "a benchmark reports sizes on stderr and owns its generated input"
)]

use std::collections::HashSet;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ward_runtime::categories::{CategorySet, ListKind};

const NAMES: usize = 1_000_000;
const TLDS: [&str; 8] = ["com", "net", "org", "ru", "info", "xyz", "de", "io"];

/// A deterministic pseudo-random stream (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn label(&mut self, min: usize, max: usize) -> String {
        let len = min + (self.next() as usize) % (max - min + 1);
        (0..len)
            .map(|_| {
                char::from(b"abcdefghijklmnopqrstuvwxyz0123456789-"[(self.next() % 36) as usize])
            })
            .collect()
    }

    /// A registrable domain, sometimes with a subdomain, like real lists.
    fn domain(&mut self) -> String {
        let tld = TLDS[(self.next() % TLDS.len() as u64) as usize];
        let base = format!("{}.{tld}", self.label(5, 14));
        if self.next().is_multiple_of(3) {
            format!("{}.{base}", self.label(2, 8))
        } else {
            base
        }
    }
}

fn generated_list() -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..NAMES).map(|_| rng.domain()).collect()
}

/// Names to look up: half subdomains of listed names, half unlisted.
fn queries(list: &[String]) -> Vec<String> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..10_000usize)
        .map(|i| {
            if i.is_multiple_of(2) {
                let listed = &list[(rng.next() as usize) % list.len()];
                format!("{}.{listed}", rng.label(3, 6))
            } else {
                format!("www.{}", rng.domain())
            }
        })
        .collect()
}

/// The baseline: the same rule (a name or any parent listed) on a HashSet.
fn hashset_lookup(set: &HashSet<String>, name: &str) -> bool {
    let mut rest = name;
    loop {
        if set.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) => rest = parent,
            None => return false,
        }
    }
}

fn bench(c: &mut Criterion) {
    let list = generated_list();
    let text: String = list.iter().map(|n| format!("{n}\n")).collect();

    let mut set = CategorySet::with_seed(7);
    let started = std::time::Instant::now();
    let report = set.load("generated", ListKind::Block, &text, None).unwrap();
    let load = started.elapsed();
    let hashset: HashSet<String> = list.iter().cloned().collect();
    let hashset_bytes: usize = hashset.capacity() * (std::mem::size_of::<String>() + 8)
        + hashset.iter().map(|s| s.capacity()).sum::<usize>();
    eprintln!(
        "loaded {} names ({} duplicates) in {load:.2?}; table {} bytes = {:.1} bytes/name; HashSet about {:.1} bytes/name",
        report.added,
        report.duplicates,
        set.memory(),
        set.memory() as f64 / report.added as f64,
        hashset_bytes as f64 / hashset.len() as f64,
    );

    let queries = queries(&list);
    let hits = queries.iter().filter(|q| set.lookup(q).block != 0).count();
    let baseline_hits = queries
        .iter()
        .filter(|q| hashset_lookup(&hashset, q))
        .count();
    assert_eq!(hits, baseline_hits, "the table and the baseline disagree");

    let mut group = c.benchmark_group("category_lookup");
    group.throughput(criterion::Throughput::Elements(queries.len() as u64));
    group.bench_function("ward_table_1m", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(set.lookup(black_box(q)));
            }
        })
    });
    // The same queries against a list small enough to stay in cache: what
    // the lookup costs without memory misses.
    let small_text: String = list.iter().take(10_000).map(|n| format!("{n}\n")).collect();
    let mut small = CategorySet::with_seed(7);
    small
        .load("generated", ListKind::Block, &small_text, None)
        .unwrap();
    group.bench_function("ward_table_10k_in_cache", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(small.lookup(black_box(q)));
            }
        })
    });
    group.bench_function("hashset_baseline_1m", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(hashset_lookup(&hashset, black_box(q)));
            }
        })
    });
    group.finish();

    let mut load_group = c.benchmark_group("category_load");
    load_group.sample_size(10);
    load_group.bench_function("domains_1m", |b| {
        b.iter_batched(
            || CategorySet::with_seed(7),
            |mut s| black_box(s.load("generated", ListKind::Block, &text, None).unwrap()),
            BatchSize::LargeInput,
        )
    });
    load_group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
