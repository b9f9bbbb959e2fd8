//! Small repeating colour textures: the catalog's (shrunk on load) and the styles' procedural
//! wall, floor, rug and picture finishes. Sampled bilinearly with wrap-around.

use ::image::RgbImage;
use ::image::imageops::{self, FilterType};
use glam::{Vec2, Vec3};

#[derive(Clone, Debug)]
pub struct Texture {
    width: u32,
    height: u32,
    texels: Vec<Vec3>,
}

impl Texture {
    /// Shrinks `image` to at most `max_side` on its longer side.
    pub fn from_image(image: &RgbImage, max_side: u32) -> Self {
        let (w, h) = image.dimensions();
        let scale = (max_side as f32 / w.max(h) as f32).min(1.0);
        let (tw, th) = (
            ((w as f32 * scale).round() as u32).max(1),
            ((h as f32 * scale).round() as u32).max(1),
        );
        let small = if (tw, th) == (w, h) {
            image.clone()
        } else {
            imageops::resize(image, tw, th, FilterType::Triangle)
        };
        Self {
            width: tw,
            height: th,
            texels: small
                .pixels()
                .map(|p| Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32) / 255.0)
                .collect(),
        }
    }

    /// A `size` x `size` texture painted by `paint(u, v)` with u, v in 0..1.
    pub fn paint(size: u32, paint: impl Fn(f32, f32) -> Vec3) -> Self {
        let texels = (0..size * size)
            .map(|i| {
                let (x, y) = (i % size, i / size);
                paint(
                    (x as f32 + 0.5) / size as f32,
                    (y as f32 + 0.5) / size as f32,
                )
            })
            .collect();
        Self {
            width: size,
            height: size,
            texels,
        }
    }

    pub fn average(&self) -> Vec3 {
        self.texels.iter().copied().sum::<Vec3>() / self.texels.len() as f32
    }

    /// Bilinear, repeating: (0, 0) is the top-left corner of the texture, (1, 1) its far one.
    pub fn sample(&self, uv: Vec2) -> Vec3 {
        let x = uv.x * self.width as f32 - 0.5;
        let y = uv.y * self.height as f32 - 0.5;
        let (fx, fy) = (x - x.floor(), y - y.floor());
        let wrap = |v: f32, n: u32| (v.floor() as i64).rem_euclid(n as i64) as u32;
        let (x0, y0) = (wrap(x, self.width), wrap(y, self.height));
        let (x1, y1) = ((x0 + 1) % self.width, (y0 + 1) % self.height);
        let at = |x: u32, y: u32| self.texels[(y * self.width + x) as usize];
        let top = at(x0, y0).lerp(at(x1, y0), fx);
        let bottom = at(x0, y1).lerp(at(x1, y1), fx);
        top.lerp(bottom, fy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_repeats_and_blends_neighbours() {
        let t = Texture::paint(2, |u, _| Vec3::splat(if u < 0.5 { 0.0 } else { 1.0 }));
        // Texel centres give the texels; halfway between them, the mean.
        assert_eq!(t.sample(Vec2::new(0.25, 0.25)), Vec3::ZERO);
        assert_eq!(t.sample(Vec2::new(0.75, 0.25)), Vec3::ONE);
        assert_eq!(t.sample(Vec2::new(1.25, 3.25)), Vec3::ZERO);
        assert!((t.sample(Vec2::new(0.5, 0.25)).x - 0.5).abs() < 1e-6);
        assert!((t.average().x - 0.5).abs() < 1e-6);
    }
}
