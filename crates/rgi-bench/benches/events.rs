//! What forwarding one event costs: a body chunk sent (or received) directly
//! on the server's handle, against the same through one, and ten,
//! pass-through wrappers (`InspectSend`, `MapSend`, `MapReceive`), each
//! seen as `&mut dyn`, the way a middleware hands it on.
//!
//! `cargo bench -p rgi-bench --bench events`

// criterion_group! generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Bencher, Criterion};
use rgi::{HttpReceive, HttpSend, InspectSend, MapReceive, MapSend, Receiver, Sender};
use rgi_bench::driver::CountingSender;

static CHUNK: Bytes = Bytes::from_static(b"0123456789abcdef");

/// Sends one body chunk and flushes it, as `SenderExt::send` does.
fn send_one(sender: &mut dyn Sender<HttpSend>, cx: &mut Context<'_>) {
    let event = HttpSend::Body {
        data: CHUNK.clone(),
        more: true,
    };
    sender
        .start_send(event)
        .expect("the sink takes every event");
    assert!(sender.poll_flush(cx).is_ready());
}

/// Runs `body` with `sink` wrapped in `depth` layers of `InspectSend` (or
/// `MapSend` when `map`), each handed on as `&mut dyn Sender`.
fn wrapped(
    depth: usize,
    map: bool,
    sender: &mut dyn Sender<HttpSend>,
    body: &mut dyn FnMut(&mut dyn Sender<HttpSend>),
) {
    match (depth, map) {
        (0, _) => body(sender),
        (_, false) => {
            let mut inspect = InspectSend::new(sender, |event: &HttpSend| {
                black_box(event);
            });
            wrapped(depth - 1, map, &mut inspect, body);
        }
        (_, true) => {
            let mut mapped = MapSend::new(sender, |event: HttpSend| black_box(event));
            wrapped(depth - 1, map, &mut mapped, body);
        }
    }
}

fn bench_send(b: &mut Bencher<'_>, depth: usize, map: bool) {
    let waker = futures::task::noop_waker_ref();
    let mut cx = Context::from_waker(waker);
    let mut sink = CountingSender::default();
    wrapped(depth, map, &mut sink, &mut |sender| {
        b.iter(|| send_one(sender, &mut cx));
    });
    black_box(sink.events);
}

/// A server-side receiver with a body chunk always ready.
struct EndlessBody;

impl Receiver<HttpReceive> for EndlessBody {
    fn poll_receive(&mut self, _cx: &mut Context<'_>) -> Poll<HttpReceive> {
        Poll::Ready(HttpReceive::Body {
            data: CHUNK.clone(),
            more: true,
        })
    }
}

fn bench_receive(b: &mut Bencher<'_>, receiver: &mut dyn Receiver<HttpReceive>) {
    let waker = futures::task::noop_waker_ref();
    let mut cx = Context::from_waker(waker);
    b.iter(|| black_box(receiver.poll_receive(&mut cx)));
}

fn events(c: &mut Criterion) {
    let mut send = c.benchmark_group("send_event");
    send.bench_function("direct", |b| bench_send(b, 0, false));
    send.bench_function("inspect_x1", |b| bench_send(b, 1, false));
    send.bench_function("map_x1", |b| bench_send(b, 1, true));
    send.bench_function("inspect_x10", |b| bench_send(b, 10, false));
    send.bench_function("map_x10", |b| bench_send(b, 10, true));
    send.finish();

    let mut receive = c.benchmark_group("receive_event");
    receive.bench_function("direct", |b| bench_receive(b, &mut EndlessBody));
    receive.bench_function("map_x1", |b| {
        let mut inner = EndlessBody;
        let mut mapped = MapReceive::new(&mut inner as &mut dyn Receiver<HttpReceive>, |e| {
            black_box(e)
        });
        bench_receive(b, &mut mapped);
    });
    receive.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = events
}
criterion_main!(benches);
