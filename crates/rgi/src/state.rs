//! Lifespan state: typed values created at startup and shared, read-only,
//! with every request scope (spec: `spec/lifespan.md`, "State").

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

type Map = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// Read-only lifespan state, one value per type. Cloning it is one atomic
/// increment; every request scope carries a clone (rule `LIFE-010`).
#[derive(Clone, Default)]
pub struct State {
    // `None` while empty, so the many scopes of a server without lifespan
    // state cost no allocation.
    map: Option<Arc<Map>>,
}

impl State {
    /// An empty state, for servers without lifespan support and for tests.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of type `T`, if startup stored one.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.map
            .as_ref()?
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
    }

    /// The value of type `T` as a shared handle, to keep beyond the request.
    pub fn get_arc<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.map
            .as_ref()?
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// How many values the state holds.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, |map| map.len())
    }

    /// Whether the state holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State").field("len", &self.len()).finish()
    }
}

/// The state under construction during lifespan startup. The server puts one
/// in the lifespan scope; middleware and apps [`insert`](Self::insert) into
/// it while handling `Startup`; once startup completes the server
/// [`freeze`](Self::freeze)s it into the [`State`] every request sees.
///
/// Clones share the same map, so a middleware may keep one.
#[derive(Clone, Default)]
pub struct StateBuilder {
    map: Arc<Mutex<Map>>,
}

impl StateBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value`, replacing any earlier value of the same type, and
    /// returns the earlier one's handle.
    pub fn insert<T: Any + Send + Sync>(&self, value: T) -> Option<Arc<dyn Any + Send + Sync>> {
        self.lock().insert(TypeId::of::<T>(), Arc::new(value))
    }

    /// Whether a value of type `T` is stored.
    pub fn contains<T: Any + Send + Sync>(&self) -> bool {
        self.lock().contains_key(&TypeId::of::<T>())
    }

    /// A read-only snapshot. Later inserts do not show in it.
    pub fn freeze(&self) -> State {
        let map = self.lock().clone();
        State {
            map: (!map.is_empty()).then(|| Arc::new(map)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        // A panic while inserting cannot leave the map half-written (insert
        // is one call), so a poisoned lock is still sound to use.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for StateBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateBuilder")
            .field("len", &self.lock().len())
            .finish()
    }
}
