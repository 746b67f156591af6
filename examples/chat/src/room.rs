//! The room: who is in it, and a bounded queue per member.
//!
//! What the seed's "simplified example" could not do: it kept connection
//! ids and had nothing to send to. Here every member owns the receiving end
//! of its own bounded channel, and [`Room::broadcast`] puts each event into
//! every member's queue with `try_send`: it never waits. A member whose
//! queue is full (its client reads slower than the room talks) is dropped
//! from the room on the spot, so one slow member can neither stall the
//! others nor make the server hold an unbounded backlog for it; its
//! connection sees its queue end and closes with 1008.
//!
//! Memory is bounded: at most `max_members` members, each with at most
//! `queue` events waiting, and an event is one shared `Arc<str>` however
//! many queues hold it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::json;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{channel, Receiver, Sender};

/// One event as the clients get it: a JSON text, shared by every queue.
pub type Event = Arc<str>;

/// A chat room.
#[derive(Debug)]
pub struct Room {
    queue: usize,
    max_members: usize,
    inner: Mutex<Members>,
}

#[derive(Debug, Default)]
struct Members {
    next_id: u64,
    /// By id, so the member list reads in joining order.
    by_id: BTreeMap<u64, Member>,
}

#[derive(Debug)]
struct Member {
    name: String,
    queue: Sender<Event>,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomFull;

impl Room {
    /// A room for at most `max_members` members (at least 1), each with a
    /// queue of `queue` events (at least 1).
    pub fn new(max_members: usize, queue: usize) -> Self {
        Self {
            queue: queue.max(1),
            max_members: max_members.max(1),
            inner: Mutex::new(Members::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Members> {
        // Every critical section is a few map operations and `try_send`s
        // that cannot panic half-way.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `name` to the room: the others hear `join`, the newcomer's
    /// queue starts with `welcome` (its name and everyone present).
    pub fn join(self: &Arc<Self>, name: &str) -> Result<Membership, RoomFull> {
        let (queue, events) = channel(self.queue);
        let mut members = self.lock();
        if members.by_id.len() >= self.max_members {
            return Err(RoomFull);
        }
        let id = members.next_id;
        members.next_id += 1;
        let mut present: Vec<&str> = members.by_id.values().map(|m| m.name.as_str()).collect();
        present.push(name);
        let welcome = json!({ "type": "welcome", "you": name, "members": present });
        // A fresh queue has room for one event.
        let _ = queue.try_send(welcome.to_string().into());
        let join = json!({ "type": "join", "name": name }).to_string();
        self.send_all(&mut members, join.into());
        let name = name.to_owned();
        members.by_id.insert(id, Member { name, queue });
        Ok(Membership {
            room: self.clone(),
            id,
            events,
        })
    }

    /// `from` says `text`: every member hears it, `from` included (that is
    /// how a client knows the room has it).
    pub fn say(&self, from: &str, text: &str) {
        let event = json!({ "type": "message", "from": from, "text": text });
        self.broadcast(event.to_string().into());
    }

    /// Puts `event` into every member's queue without waiting; drops the
    /// members whose queue is full.
    pub fn broadcast(&self, event: Event) {
        self.send_all(&mut self.lock(), event);
    }

    fn send_all(&self, members: &mut Members, event: Event) {
        let mut lagging = Vec::new();
        for (&id, member) in &members.by_id {
            match member.queue.try_send(event.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => lagging.push(id),
                // Its connection is leaving; `Membership::drop` removes it.
                Err(TrySendError::Closed(_)) => {}
            }
        }
        for id in lagging {
            if let Some(member) = members.by_id.remove(&id) {
                tracing::info!(name = member.name, "dropped from the room: too slow");
                let leave = json!({ "type": "leave", "name": member.name, "why": "too slow" });
                // Dropping its sender ends its queue: its connection closes.
                drop(member);
                self.send_all(members, leave.to_string().into());
            }
        }
    }

    /// The names of the members, in joining order.
    pub fn names(&self) -> Vec<String> {
        self.lock().by_id.values().map(|m| m.name.clone()).collect()
    }

    /// How many members the room has.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether the room is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A member's place in the room: its queue of events. Dropping it leaves
/// the room (the others hear `leave`).
#[derive(Debug)]
pub struct Membership {
    room: Arc<Room>,
    id: u64,
    events: Receiver<Event>,
}

impl Membership {
    /// The next event for this member; `None` once the room dropped it
    /// (its queue overflowed).
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut members = self.room.lock();
        if let Some(member) = members.by_id.remove(&self.id) {
            let leave = json!({ "type": "leave", "name": member.name });
            self.room.send_all(&mut members, leave.to_string().into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(event: Option<Event>) -> serde_json::Value {
        serde_json::from_str(&event.expect("an event")).unwrap()
    }

    #[tokio::test]
    async fn everyone_hears_everyone() {
        let room = Arc::new(Room::new(10, 8));
        let mut alice = room.join("alice").unwrap();
        let mut bob = room.join("bob").unwrap();
        assert_eq!(
            parse(alice.next().await),
            json!({ "type": "welcome", "you": "alice", "members": ["alice"] })
        );
        assert_eq!(
            parse(alice.next().await),
            json!({ "type": "join", "name": "bob" })
        );
        assert_eq!(
            parse(bob.next().await),
            json!({ "type": "welcome", "you": "bob", "members": ["alice", "bob"] })
        );
        room.say("bob", "hi \"all\"");
        let said = json!({ "type": "message", "from": "bob", "text": "hi \"all\"" });
        assert_eq!(parse(alice.next().await), said);
        assert_eq!(parse(bob.next().await), said);
        drop(bob);
        assert_eq!(
            parse(alice.next().await),
            json!({ "type": "leave", "name": "bob" })
        );
        assert_eq!(room.names(), ["alice"]);
    }

    #[tokio::test]
    async fn a_slow_member_is_dropped_and_the_others_keep_hearing() {
        let room = Arc::new(Room::new(10, 4));
        let mut fast = room.join("fast").unwrap();
        let mut slow = room.join("slow").unwrap();
        // fast: welcome, join(slow); slow: welcome.
        fast.next().await;
        fast.next().await;
        for n in 0..100 {
            room.say("fast", &n.to_string());
            let heard = parse(fast.next().await);
            assert_eq!(heard["text"], n.to_string(), "{heard}");
            if n == 3 {
                // slow's queue (4) held welcome and three messages; the
                // fourth did not fit, so slow is out, and fast hears it.
                let left = parse(fast.next().await);
                assert_eq!(
                    left,
                    json!({ "type": "leave", "name": "slow", "why": "too slow" })
                );
            }
        }
        assert_eq!(room.names(), ["fast"]);
        // slow gets what was queued, then the end of its queue.
        assert_eq!(parse(slow.next().await)["type"], "welcome");
        for n in 0..3 {
            assert_eq!(parse(slow.next().await)["text"], n.to_string());
        }
        assert_eq!(slow.next().await, None);
        // Leaving after being dropped says nothing twice.
        drop(slow);
        room.say("fast", "still here");
        assert_eq!(parse(fast.next().await)["text"], "still here");
    }

    #[test]
    fn the_room_is_bounded() {
        let room = Arc::new(Room::new(2, 4));
        let _a = room.join("a").unwrap();
        let b = room.join("b").unwrap();
        assert_eq!(room.join("c").unwrap_err(), RoomFull);
        drop(b);
        assert!(room.join("c").is_ok());
    }
}
