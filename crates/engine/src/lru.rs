//! A least-recently-used map within a byte budget: the query caches' shared mechanism (whole
//! Parquet files in `data_cache`, decoded columns in `decoded`).

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Values with a size in bytes; the least recently used leave first when an insert would
/// pass the budget.
#[derive(Debug)]
pub struct ByteLru<K, V> {
    budget: AtomicUsize,
    state: Mutex<State<K, V>>,
}

#[derive(Debug)]
struct State<K, V> {
    /// Key -> (value, bytes, last use).
    entries: HashMap<K, (V, usize, u64)>,
    /// Last use -> key: the eviction order.
    by_use: BTreeMap<u64, K>,
    used: usize,
    clock: u64,
}

impl<K, V> Default for ByteLru<K, V> {
    fn default() -> Self {
        ByteLru {
            budget: AtomicUsize::new(0),
            state: Mutex::new(State {
                entries: HashMap::new(),
                by_use: BTreeMap::new(),
                used: 0,
                clock: 0,
            }),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> ByteLru<K, V> {
    /// Change the budget (0 turns the cache off); entries over it leave at the next insert.
    pub fn set_budget(&self, bytes: usize) {
        self.budget.store(bytes, Ordering::Relaxed);
    }

    pub fn budget(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> usize {
        self.state.lock().map(|s| s.used).unwrap_or(0)
    }

    /// The value under `key`, now the most recently used.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let mut guard = self.state.lock().ok()?;
        let s = &mut *guard;
        let (k, (value, _, used)) = s.entries.get_key_value(key)?;
        let (k, value, old) = (k.clone(), value.clone(), *used);
        s.clock += 1;
        let now = s.clock;
        if let Some(e) = s.entries.get_mut(key) {
            e.2 = now;
        }
        s.by_use.remove(&old);
        s.by_use.insert(now, k);
        Some(value)
    }

    /// Keep `value` (`size` bytes) under `key`, replacing what was there, after evicting the
    /// least recently used entries it needs room from; not kept if larger than the budget.
    pub fn insert(&self, key: K, value: V, size: usize) {
        let budget = self.budget();
        let Ok(mut guard) = self.state.lock() else {
            return;
        };
        let s = &mut *guard;
        if let Some((_, bytes, used)) = s.entries.remove(&key) {
            s.used -= bytes;
            s.by_use.remove(&used);
        }
        while s.used + size > budget {
            let Some((_, oldest)) = s.by_use.pop_first() else {
                break;
            };
            if let Some((_, bytes, _)) = s.entries.remove(&oldest) {
                s.used -= bytes;
            }
        }
        if s.used + size <= budget {
            s.clock += 1;
            s.used += size;
            s.by_use.insert(s.clock, key.clone());
            s.entries.insert(key, (value, size, s.clock));
        }
    }
}
