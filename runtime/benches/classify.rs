//! Classification throughput on a generated capture with a hospital
//! protocol mix (see `ward_runtime::synth::hospital_mix`): the whole
//! inspection pipeline from pcap bytes to flow records, on one core.
//!
//! Run: `cargo bench -p ward-runtime --bench classify`. Set
//! `WARD_BENCH_PCAP=path` to also write the capture, for running another
//! classifier (nDPI's `ndpiReader`) on the same bytes.

#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    reason = "a benchmark reports sizes on stderr and owns its generated input"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ward_runtime::flow::FlowConfig;
use ward_runtime::inspect::Inspector;
use ward_runtime::synth::{hospital_mix, pcap_file};

const CONVERSATIONS: usize = 20_000;

fn bench(c: &mut Criterion) {
    let frames = hospital_mix(CONVERSATIONS);
    let packets = frames.len() as u64;
    let wire_bytes: u64 = frames.iter().map(|(_, f)| f.len() as u64).sum();
    let file = pcap_file(1, &frames);
    if let Some(path) = std::env::var_os("WARD_BENCH_PCAP") {
        std::fs::write(&path, &file).unwrap();
    }
    eprintln!(
        "capture: {CONVERSATIONS} conversations, {packets} packets, {wire_bytes} bytes of frames"
    );

    let mut group = c.benchmark_group("classify");
    group.sample_size(10);
    group.throughput(Throughput::Elements(packets));
    group.bench_function("hospital_mix_packets", |b| {
        b.iter(|| {
            let mut flows = 0u64;
            let mut inspector = Inspector::new(FlowConfig::default(), None, None);
            inspector
                .read(black_box(&file[..]), &mut |_| flows += 1)
                .unwrap();
            let (devices, _) = inspector.finish(&mut |_| flows += 1);
            black_box((flows, devices.len()))
        })
    });
    group.throughput(Throughput::Bytes(wire_bytes));
    group.bench_function("hospital_mix_bytes", |b| {
        b.iter(|| {
            let mut inspector = Inspector::new(FlowConfig::default(), None, None);
            inspector.read(black_box(&file[..]), &mut |_| {}).unwrap();
            black_box(inspector.finish(&mut |_| {}).1)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
