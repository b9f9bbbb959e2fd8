//! Responses of seeded requests, which are deterministic, kept per container in an LRU bounded
//! by bytes rather than entries (one 256 px design weighs as much as a hundred 32 px ones).

use designer_core::{DesignRequest, DesignResponse};
use lru::LruCache;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// The canonical request's hash: defaults filled in, fields in one order, so that `{}` with
/// defaults and the same request spelt out share an entry (the caller fills in the steps,
/// whose default is the serving model's). Hashing keeps photo requests from holding
/// megabytes of key.
pub type Key = [u8; 32];

pub fn key(request: &DesignRequest) -> Key {
    let canonical = serde_json::to_vec(request).expect("a request always serializes");
    Sha256::digest(&canonical).into()
}

fn weight(response: &DesignResponse) -> usize {
    let images: usize = response
        .designs
        .iter()
        .map(|design| design.png_base64.len() + 64)
        .sum();
    images + response.model.len() + response.backend.len() + 96
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub capacity_bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

pub struct ResponseCache {
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<Key, DesignResponse>,
    stats: CacheStats,
}

impl ResponseCache {
    /// A cache of at most `capacity_bytes` of responses (0 turns caching off).
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                stats: CacheStats {
                    capacity_bytes,
                    ..CacheStats::default()
                },
            }),
        }
    }

    pub fn get(&self, key: &Key) -> Option<DesignResponse> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let found = inner.entries.get(key).cloned();
        match found {
            Some(_) => inner.stats.hits += 1,
            None => inner.stats.misses += 1,
        }
        found
    }

    /// Keeps `response`, evicting the least recently used entries to stay within capacity; a
    /// response larger than the whole capacity is not kept.
    pub fn put(&self, key: Key, response: DesignResponse) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let size = weight(&response);
        if size > inner.stats.capacity_bytes {
            return;
        }
        if let Some(old) = inner.entries.put(key, response) {
            inner.stats.bytes -= weight(&old);
        }
        inner.stats.bytes += size;
        while inner.stats.bytes > inner.stats.capacity_bytes {
            let Some((_, evicted)) = inner.entries.pop_lru() else {
                break;
            };
            inner.stats.bytes -= weight(&evicted);
        }
        inner.stats.entries = inner.entries.len();
    }

    pub fn stats(&self) -> CacheStats {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use designer_core::request::Design;
    use designer_core::{RoomType, Style};

    fn response(bytes: usize) -> DesignResponse {
        DesignResponse {
            designs: vec![Design {
                seed: 1,
                width: 32,
                height: 32,
                png_base64: "A".repeat(bytes),
            }],
            model: "m".into(),
            backend: "cpu".into(),
            elapsed_ms: 1,
            photo: None,
        }
    }

    /// A request as the app keys it: its steps filled in (20, a teacher's).
    fn request(seed: u64) -> DesignRequest {
        let mut request = DesignRequest::new(RoomType::Bedroom, Style::Modern);
        request.seed = seed;
        request.steps = Some(designer_core::request::TEACHER_STEPS);
        request
    }

    #[test]
    fn equal_requests_share_a_key_and_different_ones_do_not() {
        let spelt_out = DesignRequest::from_json(
            r#"{"room_type":"bedroom","style":"modern","seed":42,"steps":20,"size":256}"#,
        )
        .unwrap();
        assert_eq!(key(&spelt_out), key(&request(42)));
        assert_ne!(key(&request(42)), key(&request(43)));
    }

    #[test]
    fn stays_within_its_byte_capacity_evicting_the_least_recent() {
        let one = weight(&response(1000));
        let cache = ResponseCache::new(one * 2 + one / 2);
        cache.put(key(&request(1)), response(1000));
        cache.put(key(&request(2)), response(1000));
        assert!(
            cache.get(&key(&request(1))).is_some(),
            "1 is now the most recent"
        );
        cache.put(key(&request(3)), response(1000));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes), (2, one * 2));
        assert!(cache.get(&key(&request(2))).is_none(), "2 was least recent");
        assert!(cache.get(&key(&request(1))).is_some());
        assert!(cache.get(&key(&request(3))).is_some());
        assert_eq!((cache.stats().hits, cache.stats().misses), (3, 1));
    }

    #[test]
    fn too_large_responses_and_a_zero_capacity_keep_nothing() {
        let cache = ResponseCache::new(100);
        cache.put(key(&request(1)), response(1000));
        assert_eq!(cache.stats().entries, 0);
        let off = ResponseCache::new(0);
        off.put(key(&request(1)), response(1));
        assert!(off.get(&key(&request(1))).is_none());
    }
}
