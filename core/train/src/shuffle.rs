//! A bounded shuffle buffer over a stream of examples: memory holds `capacity` items whatever
//! the size of the dataset behind the stream, and each draw takes a random one of them and
//! refills its place from the stream.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The buffer size the training pipeline uses: at least 1,000, at least ten batches.
pub fn capacity_for(batch_size: usize) -> usize {
    1000.max(10 * batch_size)
}

pub struct ShuffleBuffer<T> {
    items: Vec<T>,
    capacity: usize,
}

impl<T> ShuffleBuffer<T> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a shuffle buffer holds at least one item");
        Self {
            items: Vec::new(),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The buffered items, in the order [`ShuffleBuffer::next`] indexes them.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Puts back items saved with [`ShuffleBuffer::items`] (a checkpoint's).
    pub fn replace(&mut self, items: Vec<T>) {
        self.items = items;
    }

    /// Tops the buffer up from `stream`, then hands out a random item; `None` once both the
    /// stream and the buffer are empty.
    pub fn next(
        &mut self,
        rng: &mut ChaCha8Rng,
        stream: &mut impl Iterator<Item = T>,
    ) -> Option<T> {
        while self.items.len() < self.capacity {
            match stream.next() {
                Some(item) => self.items.push(item),
                None => break,
            }
        }
        if self.items.is_empty() {
            return None;
        }
        let index = rng.random_range(0..self.items.len());
        Some(self.items.swap_remove(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Counts how many items are alive at once: the buffer's memory bound, observed.
    struct Tracked<'a>(&'a std::cell::Cell<usize>);
    impl Drop for Tracked<'_> {
        fn drop(&mut self) {
            self.0.set(self.0.get() - 1);
        }
    }

    #[test]
    fn memory_stays_at_the_capacity_whatever_the_stream_length() {
        let alive = std::cell::Cell::new(0usize);
        let mut peak = 0;
        let mut stream = (0..50_000u32).map(|_| {
            alive.set(alive.get() + 1);
            Tracked(&alive)
        });
        let mut buffer = ShuffleBuffer::new(capacity_for(32));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut drawn = 0;
        while let Some(item) = buffer.next(&mut rng, &mut stream) {
            peak = peak.max(alive.get());
            drawn += 1;
            drop(item);
        }
        assert_eq!(drawn, 50_000);
        assert_eq!(peak, 1000, "at most the buffer plus nothing else");
        assert_eq!(alive.get(), 0);
    }

    #[test]
    fn one_pass_yields_every_item_once_and_shuffled() {
        let mut buffer = ShuffleBuffer::new(100);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut stream = 0..1000u32;
        let mut out = Vec::new();
        while let Some(i) = buffer.next(&mut rng, &mut stream) {
            out.push(i);
        }
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            (0..1000).collect::<Vec<_>>(),
            "every item exactly once"
        );
        // Shuffled: many items leave far from where they came in, yet no further than the
        // buffer allows an item to be drawn early.
        let moved = out
            .iter()
            .enumerate()
            .filter(|(pos, i)| pos.abs_diff(**i as usize) > 10)
            .count();
        assert!(moved > 500, "only {moved} items moved");
        assert!(
            out.iter()
                .enumerate()
                .all(|(pos, i)| (*i as usize) < pos + 100)
        );
    }

    #[test]
    fn the_capacity_follows_the_batch_size() {
        assert_eq!(capacity_for(32), 1000);
        assert_eq!(capacity_for(128), 1280);
    }
}
