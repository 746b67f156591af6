//! The handle adapters: each event passes once, in order, and reaches the
//! other side (rule `CORE-005`); `poll_flush` is passed through.

mod common;

use common::{run, Recorder, Script};
use rgi::bytes::Bytes;
use rgi::http::{HeaderValue, StatusCode};
use rgi::{
    HttpReceive, HttpSend, InspectSend, MapReceive, MapSend, Prepend, ReceiverExt, ResponseStart,
    SenderExt,
};

/// A short description of an event, to compare sequences.
fn describe(event: &HttpSend) -> String {
    match event {
        HttpSend::Start(start) => format!("start {}", start.status.as_u16()),
        HttpSend::Body { data, more } => format!("body {data:?} more={more}"),
        HttpSend::Trailers(_) => "trailers".into(),
        _ => "other".into(),
    }
}

fn response() -> Vec<HttpSend> {
    vec![
        HttpSend::Start(ResponseStart::new(StatusCode::CREATED).with_trailers()),
        HttpSend::chunk("one"),
        HttpSend::flush(),
        HttpSend::body("two"),
        HttpSend::Trailers(Default::default()),
    ]
}

#[test]
fn inspect_send_sees_each_event_once_in_order_and_passes_it_on() {
    let expected: Vec<String> = response().iter().map(describe).collect();
    let mut inner = Recorder::slow(2);
    let mut seen = Vec::new();
    let mut sender = InspectSend::new(&mut inner, |event: &HttpSend| seen.push(describe(event)));
    for event in response() {
        run(sender.send(event)).unwrap();
    }
    let inner = sender.into_inner();
    assert_eq!(seen, expected);
    assert_eq!(
        inner.events.iter().map(describe).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(inner.start_sends, expected.len());
    // The inner sender's backpressure was honoured: 2 pendings + 1 ready each.
    assert_eq!(inner.flush_polls, expected.len() * 3);
}

#[test]
fn inspect_send_passes_errors_through() {
    let mut inner = Recorder::<HttpSend>::new();
    inner.refuse = Some(|| rgi::Error::Disconnected);
    let mut calls = 0;
    let mut sender = InspectSend::new(&mut inner, |_: &HttpSend| calls += 1);
    let err = run(sender.send(HttpSend::body(""))).unwrap_err();
    assert!(matches!(err, rgi::Error::Disconnected));
    assert_eq!(calls, 1);
}

#[test]
fn map_send_rewrites_each_event_once_in_order() {
    let expected: Vec<String> = response().iter().map(describe).collect();
    let mut inner = Recorder::slow(1);
    let mut calls = 0;
    let mut sender = MapSend::new(&mut inner, |mut event: HttpSend| {
        calls += 1;
        if let HttpSend::Start(start) = &mut event {
            start
                .headers
                .insert("x-mapped", HeaderValue::from_static("yes"));
        }
        event
    });
    for event in response() {
        run(sender.send(event)).unwrap();
    }
    assert_eq!(calls, expected.len());
    assert_eq!(
        inner.events.iter().map(describe).collect::<Vec<_>>(),
        expected
    );
    let HttpSend::Start(start) = &inner.events[0] else {
        panic!("first event is not Start")
    };
    assert_eq!(start.headers["x-mapped"], "yes");
    assert!(start.trailers, "fields the map did not touch are kept");
    assert_eq!(inner.flush_polls, expected.len() * 2);
}

#[test]
fn map_receive_maps_each_event_once_in_order() {
    let script = Script::new([
        HttpReceive::Body {
            data: Bytes::from("ab"),
            more: true,
        },
        HttpReceive::Body {
            data: Bytes::from("cd"),
            more: false,
        },
        HttpReceive::Disconnect,
    ]);
    let mut calls = 0;
    let mut receiver = MapReceive::new(script, |event| {
        calls += 1;
        match event {
            HttpReceive::Body { data, more } => HttpReceive::Body {
                data: Bytes::from(data.to_ascii_uppercase()),
                more,
            },
            other => other,
        }
    });
    let got: Vec<HttpReceive> = (0..3).map(|_| run(receiver.recv())).collect();
    drop(receiver);
    assert_eq!(
        got,
        [
            HttpReceive::Body {
                data: Bytes::from("AB"),
                more: true
            },
            HttpReceive::Body {
                data: Bytes::from("CD"),
                more: false
            },
            HttpReceive::Disconnect,
        ]
    );
    assert_eq!(calls, 3);
}

#[test]
fn prepend_yields_its_event_once_then_the_inner_receiver() {
    let mut inner = Script::new([
        HttpReceive::Body {
            data: Bytes::from("rest"),
            more: false,
        },
        HttpReceive::Disconnect,
    ]);
    let first = HttpReceive::Body {
        data: Bytes::from("first"),
        more: true,
    };
    let mut receiver = Prepend::new(first.clone(), &mut inner);
    assert_eq!(run(receiver.recv()), first);
    assert_eq!(
        run(receiver.recv()),
        HttpReceive::Body {
            data: Bytes::from("rest"),
            more: false
        }
    );
    assert_eq!(run(receiver.recv()), HttpReceive::Disconnect);
    drop(receiver);
    assert_eq!(
        inner.polls, 2,
        "the prepended event did not consume an inner one"
    );
    assert_eq!(inner.remaining(), 0);
}

#[test]
fn prepended_body_chunk_is_not_copied() {
    let data = Bytes::from(vec![7u8; 64]);
    let mut inner = Script::<HttpReceive>::new([]);
    let mut receiver = Prepend::new(
        HttpReceive::Body {
            data: data.clone(),
            more: false,
        },
        &mut inner,
    );
    let HttpReceive::Body { data: got, .. } = run(receiver.recv()) else {
        panic!("not a body")
    };
    assert_eq!(got.as_ptr(), data.as_ptr());
}
