//! The answer cache: upstream answers kept for their TTL, keyed by name,
//! type and class, shared by every client (decisions are made per query,
//! after the cache, so one device's block never reaches another through
//! it). Truncated answers are never stored.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const SHARDS: usize = 16;

/// An answer as stored: its wire form with a lowercase question and no
/// OPT record, where its TTLs are, and what the policy reads of it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub wire: Vec<u8>,
    pub ttl_offsets: Vec<usize>,
    pub stored: Instant,
    /// Seconds the entry lives.
    pub ttl: u32,
    pub rcode: u8,
    /// CNAME targets in the answer, in order.
    pub cnames: Vec<String>,
    /// Addresses in the answer.
    pub answers: Vec<IpAddr>,
}

impl Entry {
    /// Seconds since stored, or `None` once expired.
    pub fn age(&self, now: Instant) -> Option<u32> {
        let age = u32::try_from(now.saturating_duration_since(self.stored).as_secs()).ok()?;
        (age < self.ttl).then_some(age)
    }
}

type Key = (String, u16, u16);

#[derive(Debug)]
pub struct Cache {
    shards: Vec<Mutex<HashMap<Key, Arc<Entry>>>>,
    per_shard: usize,
}

fn shard_of(name: &str, qtype: u16) -> usize {
    // FNV-1a: cheap, and only spreads locks.
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in name.bytes().chain(qtype.to_le_bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash % SHARDS as u64) as usize
}

impl Cache {
    pub fn new(max_entries: usize) -> Cache {
        Cache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: max_entries.div_ceil(SHARDS),
        }
    }

    pub fn get(&self, name: &str, qtype: u16, qclass: u16, now: Instant) -> Option<Arc<Entry>> {
        if self.per_shard == 0 {
            return None;
        }
        let shard = self.shards.get(shard_of(name, qtype))?;
        let mut map = shard.lock().ok()?;
        let key = (name.to_owned(), qtype, qclass);
        let entry = map.get(&key)?;
        if entry.age(now).is_some() {
            return Some(Arc::clone(entry));
        }
        map.remove(&key);
        None
    }

    pub fn insert(&self, name: &str, qtype: u16, qclass: u16, entry: Arc<Entry>) {
        if self.per_shard == 0 || entry.ttl == 0 {
            return;
        }
        let Some(shard) = self.shards.get(shard_of(name, qtype)) else {
            return;
        };
        let Ok(mut map) = shard.lock() else {
            return;
        };
        if map.len() >= self.per_shard {
            let now = Instant::now();
            map.retain(|_, e| e.age(now).is_some());
            if map.len() >= self.per_shard {
                // Still full of live entries: drop an arbitrary tenth.
                let drop: Vec<Key> = map.keys().take(self.per_shard / 10 + 1).cloned().collect();
                for key in drop {
                    map.remove(&key);
                }
            }
        }
        map.insert((name.to_owned(), qtype, qclass), entry);
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|m| m.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ttl: u32) -> Arc<Entry> {
        Arc::new(Entry {
            wire: Vec::new(),
            ttl_offsets: Vec::new(),
            stored: Instant::now(),
            ttl,
            rcode: 0,
            cnames: Vec::new(),
            answers: Vec::new(),
        })
    }

    #[test]
    fn keeps_entries_within_bounds_and_ttl() {
        let cache = Cache::new(32);
        for i in 0..1000 {
            cache.insert(&format!("n{i}.example"), 1, 1, entry(60));
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        cache.insert("zero.example", 1, 1, entry(0));
        assert!(cache.get("zero.example", 1, 1, Instant::now()).is_none());
        cache.insert("x.example", 1, 1, entry(5));
        assert!(cache.get("x.example", 1, 1, Instant::now()).is_some());
        assert!(cache.get("x.example", 28, 1, Instant::now()).is_none());
        let later = Instant::now() + std::time::Duration::from_secs(6);
        assert!(cache.get("x.example", 1, 1, later).is_none());
    }
}
