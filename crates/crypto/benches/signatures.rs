//! Signature costs per scheme: the physical limit of a replicated chain (DESIGN.md).

use consortia_crypto::{KeyCache, PrivateKey, PublicKey, Scheme, Signature, verify_batch};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn signatures(c: &mut Criterion) {
    let message = vec![7u8; 200]; // about a notarization transaction's signed bytes
    let mut group = c.benchmark_group("crypto::verify");
    for scheme in Scheme::ALL {
        let key = PrivateKey::generate(scheme);
        let public = key.public_key();
        let sig = key.sign(&message);
        group.bench_function(BenchmarkId::new("scheme", scheme.name()), |b| {
            b.iter(|| public.verify(&message, &sig).expect("valid"))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("crypto::verify_batch");
    for n in [64usize, 512] {
        let keys: Vec<PrivateKey> = (0..n).map(|_| PrivateKey::generate(Scheme::Ed25519)).collect();
        let publics: Vec<PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
        let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(&message)).collect();
        let items: Vec<_> = (0..n).map(|i| (&publics[i], message.as_slice(), &sigs[i])).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("scheme=ed25519,n", n), |b| {
            b.iter(|| verify_batch(&items, &KeyCache::default()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("crypto::sign");
    for scheme in Scheme::ALL {
        let key = PrivateKey::generate(scheme);
        group.bench_function(BenchmarkId::new("scheme", scheme.name()), |b| {
            b.iter(|| key.sign(&message))
        });
    }
    group.finish();
}

criterion_group!(benches, signatures);
criterion_main!(benches);
