//! Lifespan state: `StateBuilder` at startup, frozen `State` snapshots in
//! every request scope (rule `LIFE-010`).

use std::sync::Arc;

use rgi::{State, StateBuilder};

#[derive(Debug, PartialEq)]
struct Pool(&'static str);

#[derive(Debug, PartialEq)]
struct Limit(u32);

#[test]
fn freeze_is_a_snapshot() {
    let builder = StateBuilder::new();
    builder.insert(Pool("db"));
    let before = builder.freeze();
    builder.insert(Limit(10));
    builder.insert(Pool("other"));
    let after = builder.freeze();

    assert_eq!(before.len(), 1);
    assert_eq!(
        before.get::<Pool>(),
        Some(&Pool("db")),
        "later inserts do not show"
    );
    assert_eq!(before.get::<Limit>(), None);
    assert_eq!(after.len(), 2);
    assert_eq!(after.get::<Pool>(), Some(&Pool("other")));
    assert_eq!(after.get::<Limit>(), Some(&Limit(10)));
}

#[test]
fn insert_replaces_and_returns_the_earlier_value() {
    let builder = StateBuilder::new();
    assert!(builder.insert(Limit(1)).is_none());
    let earlier = builder.insert(Limit(2)).expect("an earlier value");
    assert_eq!(earlier.downcast_ref::<Limit>(), Some(&Limit(1)));
    assert_eq!(builder.freeze().get::<Limit>(), Some(&Limit(2)));
}

#[test]
fn builder_clones_share_one_map() {
    let server_side = StateBuilder::new();
    let middleware_copy = server_side.clone();
    middleware_copy.insert(Pool("from middleware"));
    assert!(server_side.contains::<Pool>());
    assert!(!server_side.contains::<Limit>());
    assert_eq!(
        server_side.freeze().get::<Pool>(),
        Some(&Pool("from middleware"))
    );
}

#[test]
fn values_are_shared_not_copied() {
    let builder = StateBuilder::new();
    builder.insert(Pool("db"));
    let state = builder.freeze();
    let request_a = state.clone();
    let request_b = state;
    let a: Arc<Pool> = request_a.get_arc().unwrap();
    let b: Arc<Pool> = request_b.get_arc().unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(std::ptr::eq(request_a.get::<Pool>().unwrap(), &*a));
    // A second freeze shares the values too: only the map is new.
    let again: Arc<Pool> = builder.freeze().get_arc().unwrap();
    assert!(Arc::ptr_eq(&a, &again));
}

#[test]
fn values_are_keyed_by_type() {
    let builder = StateBuilder::new();
    builder.insert(7u32);
    builder.insert(7u64);
    let state = builder.freeze();
    assert_eq!(state.len(), 2);
    assert_eq!(state.get::<u32>(), Some(&7));
    assert_eq!(state.get::<u64>(), Some(&7));
    assert_eq!(state.get::<i32>(), None);
    assert!(state.get_arc::<i32>().is_none());
}

#[test]
fn empty_state() {
    let state = State::new();
    assert!(state.is_empty());
    assert_eq!(state.get::<Pool>(), None);
    let frozen = StateBuilder::new().freeze();
    assert!(frozen.is_empty());
}

#[test]
fn state_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<State>();
    assert_send_sync::<StateBuilder>();
    let builder = StateBuilder::new();
    builder.insert(Limit(3));
    let state = builder.freeze();
    let handle = std::thread::spawn(move || state.get::<Limit>().map(|l| l.0));
    assert_eq!(handle.join().unwrap(), Some(3));
}
