//! Latents kept on the device so that each render is encoded once and trained on several
//! times. Over an autoencoder, the encoder's forward pass is most of a training step: burn
//! runs its full-resolution convolutions on its direct kernel, 70 % of the GPU time of a
//! denoiser step at 256 px (BENCHMARKS.md, "Generator v2"). With a ring, each step encodes
//! batch / reuse new renders into it and trains on a uniform draw from all it holds: every
//! latent is still trained on `reuse` times on average, each time at another noise and time.

use burn::tensor::{Int, Tensor};
use designer_core::labels::{RoomType, Style};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// How many batches of latents a ring holds: enough that a batch is a draw over thousands of
/// renders (8,192 at batch 128; 134 MB of f16 latents at 256 px), not over the last few.
pub const RING_BATCHES: usize = 64;

pub struct LatentRing {
    capacity: usize,
    latents: Option<Tensor<4>>,
    labels: Vec<(RoomType, Style)>,
    /// Where the next latents overwrite the oldest, once the ring is full.
    next: usize,
}

impl LatentRing {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            latents: None,
            labels: Vec::new(),
            next: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Adds `latents` ([n, c, h, w]) with their labels: appended while there is room, then in
    /// place of the oldest.
    pub fn push(&mut self, latents: Tensor<4>, labels: Vec<(RoomType, Style)>) {
        let n = labels.len();
        assert_eq!(latents.dims()[0], n, "one label per latent");
        let room = self.capacity - self.len();
        let (appended, rest) = (n.min(room), n - n.min(room));
        if appended > 0 {
            let head = latents.clone().narrow(0, 0, appended);
            self.latents = Some(match self.latents.take() {
                Some(ring) => Tensor::cat(vec![ring, head], 0),
                None => head,
            });
            self.labels.extend_from_slice(&labels[..appended]);
        }
        let mut offset = appended;
        while offset < appended + rest {
            let count = (appended + rest - offset).min(self.capacity - self.next);
            let part = latents.clone().narrow(0, offset, count);
            let ring = self.latents.take().expect("a full ring has latents");
            let [_, c, h, w] = part.dims();
            let rows = self.next..self.next + count;
            self.latents = Some(ring.slice_assign([rows, 0..c, 0..h, 0..w], part));
            self.labels[self.next..self.next + count]
                .copy_from_slice(&labels[offset..offset + count]);
            self.next = (self.next + count) % self.capacity;
            offset += count;
        }
    }

    /// `count` latents drawn uniformly (with replacement) from the ring, and their labels.
    pub fn draw(&self, count: usize, rng: &mut ChaCha8Rng) -> (Tensor<4>, Vec<(RoomType, Style)>) {
        let ring = self.latents.as_ref().expect("drawn from after a push");
        let rows: Vec<usize> = (0..count)
            .map(|_| rng.random_range(0..self.len()))
            .collect();
        let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let ids = Tensor::<1, Int>::from_ints(ids.as_slice(), &ring.device());
        let labels = rows.iter().map(|&r| self.labels[r]).collect();
        (ring.clone().select(0, ids), labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};
    use rand::SeedableRng;

    /// Latent i is a 1 x 1 x 1 tensor holding i, labelled with room i % 2.
    fn latents(from: usize, n: usize) -> (Tensor<4>, Vec<(RoomType, Style)>) {
        let values: Vec<f32> = (from..from + n).map(|i| i as f32).collect();
        let tensor = Tensor::<4>::from_data(TensorData::new(values, [n, 1, 1, 1]), &Device::flex());
        let labels = (from..from + n)
            .map(|i| (RoomType::ALL[i % 2], Style::ALL[0]))
            .collect();
        (tensor, labels)
    }

    fn held(ring: &LatentRing) -> Vec<f32> {
        let values = ring.latents.clone().unwrap().into_data();
        values.try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn the_ring_fills_then_replaces_the_oldest_and_draws_latents_with_their_labels() {
        let mut ring = LatentRing::new(5);
        let (t, l) = latents(0, 3);
        ring.push(t, l);
        let (t, l) = latents(3, 3);
        ring.push(t, l);
        // Five fit; the sixth took the place of the oldest.
        assert_eq!(held(&ring), [5.0, 1.0, 2.0, 3.0, 4.0]);
        let (t, l) = latents(6, 6);
        ring.push(t, l);
        assert_eq!(ring.len(), 5);
        assert_eq!(held(&ring), [10.0, 11.0, 7.0, 8.0, 9.0]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (drawn, labels) = ring.draw(64, &mut rng);
        let drawn = drawn.into_data().try_into_vec::<f32>().unwrap();
        let mut seen: Vec<u32> = drawn.iter().map(|&v| v as u32).collect();
        for (value, label) in seen.iter().zip(&labels) {
            assert_eq!(
                label.0,
                RoomType::ALL[*value as usize % 2],
                "label of {value}"
            );
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen, [7, 8, 9, 10, 11], "every latent held, and only those");
    }
}
