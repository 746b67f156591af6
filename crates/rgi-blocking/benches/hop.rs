//! The pool decision, measured: one hop onto a blocking thread and back,
//! on this crate's pool against tokio's `spawn_blocking` behind a
//! semaphore of the same size (the other design the issue names).
//!
//! `cargo bench -p rgi-blocking --bench hop`

// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use rgi_blocking::{Pool, PoolConfig};
use tokio::sync::Semaphore;

const SIZE: usize = 32;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn on_pool(pool: &Pool) -> u64 {
    pool.run(|| black_box(1u64)).await.expect("ran")
}

async fn on_spawn_blocking(permits: &Arc<Semaphore>) -> u64 {
    let permit = permits.clone().acquire_owned().await.expect("open");
    tokio::task::spawn_blocking(move || {
        drop(permit);
        black_box(1u64)
    })
    .await
    .expect("ran")
}

fn hop(c: &mut Criterion) {
    let rt = runtime();
    let pool = Pool::new(PoolConfig::with_size(SIZE));
    let permits = Arc::new(Semaphore::new(SIZE));

    let mut group = c.benchmark_group("hop/one");
    group.bench_function("pool", |b| b.to_async(&rt).iter(|| on_pool(&pool)));
    group.bench_function("spawn_blocking+semaphore", |b| {
        b.to_async(&rt).iter(|| on_spawn_blocking(&permits))
    });
    group.finish();

    // 64 calls at once from 64 tasks: the queue under contention.
    let mut group = c.benchmark_group("hop/64-concurrent");
    group.bench_function("pool", |b| {
        b.to_async(&rt).iter(|| {
            sixty_four(|| {
                let pool = pool.clone();
                async move { on_pool(&pool).await }
            })
        })
    });
    group.bench_function("spawn_blocking+semaphore", |b| {
        b.to_async(&rt).iter(|| {
            sixty_four(|| {
                let permits = permits.clone();
                async move { on_spawn_blocking(&permits).await }
            })
        })
    });
    group.finish();
}

/// Runs 64 calls made by `call` as 64 tasks, and waits for all.
async fn sixty_four<F, Fut>(call: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        tasks.spawn(call());
    }
    tasks.join_all().await.len()
}

criterion_group!(benches, hop);
criterion_main!(benches);
