//! The layout a restyled design keeps: an edge map of the picture (Canny's detector: a
//! smoothed luminance, its gradient thinned to one-pixel ridges, kept where strong or joined
//! to strong ones). Training computes it from every render and the generator learns to follow
//! it; a request computes it from the user's photo, in the browser or on the server.
//!
//! Written here rather than taken from `imageproc`: the map is a model input, so training, the
//! Lambda and the browser must compute the same map from the same pixels, on the model's own
//! pixel layout ([3, h, w] in [-1, 1]), in plain f32 arithmetic that wasm32 and x86 round
//! alike; it is about a hundred lines.

/// Gradient magnitudes (Sobel of the smoothed luminance, pixels in [-1, 1]) at or above this
/// start an edge: a step between two flat regions measures 2.5 x its height, so this is a
/// step of a tenth of the range (25 of 255 levels).
const STRONG: f32 = 0.5;
/// Magnitudes at or above this continue an edge that a strong one started.
const WEAK: f32 = 0.25;

/// The edge map of `pixels` ([3, height, width], values in [-1, 1]): 1.0 on an edge, else 0.0,
/// [height, width] row-major.
pub fn edge_map(pixels: &[f32], width: usize, height: usize) -> Vec<f32> {
    let plane = width * height;
    assert_eq!(pixels.len(), 3 * plane, "three planes of width x height");
    let luma: Vec<f32> = (0..plane)
        .map(|i| 0.299 * pixels[i] + 0.587 * pixels[plane + i] + 0.114 * pixels[2 * plane + i])
        .collect();
    let smooth = blurred(&luma, width, height);
    let at = |x: isize, y: isize| {
        let x = x.clamp(0, width as isize - 1) as usize;
        let y = y.clamp(0, height as isize - 1) as usize;
        smooth[y * width + x]
    };
    let mut magnitude = vec![0.0f32; plane];
    let mut direction = vec![0u8; plane];
    for y in 0..height as isize {
        for x in 0..width as isize {
            let gx = (at(x + 1, y - 1) + 2.0 * at(x + 1, y) + at(x + 1, y + 1))
                - (at(x - 1, y - 1) + 2.0 * at(x - 1, y) + at(x - 1, y + 1));
            let gy = (at(x - 1, y + 1) + 2.0 * at(x, y + 1) + at(x + 1, y + 1))
                - (at(x - 1, y - 1) + 2.0 * at(x, y - 1) + at(x + 1, y - 1));
            let i = y as usize * width + x as usize;
            magnitude[i] = (gx * gx + gy * gy).sqrt();
            direction[i] = sector(gx, gy);
        }
    }
    let thinned = suppressed(&magnitude, &direction, width, height);
    hysteresis(&thinned, width, height)
}

/// The edge map of `pixels` (as [`edge_map`]) as a latent grid of `factor` (as
/// [`to_latent_grid`]): what a layout-reading network takes, for a render in training and for
/// a photo in a request alike.
pub fn latent_layout(pixels: &[f32], width: usize, height: usize, factor: usize) -> Vec<f32> {
    to_latent_grid(&edge_map(pixels, width, height), width, height, factor)
}

/// The edge map as a latent grid: the `factor` x `factor` block of pixels over each latent
/// as channels, [factor², height / factor, width / factor] (channel dy * factor + dx), so it
/// can be laid beside latents and cut into the same patches.
pub fn to_latent_grid(map: &[f32], width: usize, height: usize, factor: usize) -> Vec<f32> {
    let (columns, rows) = (width / factor, height / factor);
    let mut grid = vec![0.0; map.len()];
    for dy in 0..factor {
        for dx in 0..factor {
            let channel = &mut grid[(dy * factor + dx) * rows * columns..][..rows * columns];
            for r in 0..rows {
                for c in 0..columns {
                    channel[r * columns + c] = map[(r * factor + dy) * width + c * factor + dx];
                }
            }
        }
    }
    grid
}

/// How well the edges of `design` follow those of `photo` (two [`edge_map`]s of one size):
/// the F1 score of the design's edge pixels against the photo's, where an edge pixel counts
/// as found if the other map has one within `tolerance` pixels (the larger of the two axis
/// distances). 1.0 when neither map has an edge.
pub fn edge_f1(design: &[f32], photo: &[f32], width: usize, tolerance: usize) -> f64 {
    assert_eq!(design.len(), photo.len(), "two maps of one size");
    let height = design.len() / width;
    let near = |map: &[f32], i: usize| {
        let (x, y) = (i % width, i / width);
        let rows = y.saturating_sub(tolerance)..=(y + tolerance).min(height - 1);
        let columns = x.saturating_sub(tolerance)..=(x + tolerance).min(width - 1);
        rows.into_iter()
            .any(|r| columns.clone().any(|c| map[r * width + c] == 1.0))
    };
    let share_found = |from: &[f32], within: &[f32]| {
        let edges: Vec<usize> = (0..from.len()).filter(|&i| from[i] == 1.0).collect();
        let found = edges.iter().filter(|&&i| near(within, i)).count();
        (found, edges.len())
    };
    let (matched_design, design_edges) = share_found(design, photo);
    let (matched_photo, photo_edges) = share_found(photo, design);
    if design_edges == 0 && photo_edges == 0 {
        return 1.0;
    }
    let precision = matched_design as f64 / design_edges.max(1) as f64;
    let recall = matched_photo as f64 / photo_edges.max(1) as f64;
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// A 5 x 5 binomial blur (about a Gaussian of sigma 1), separable, edges clamped: it keeps
/// photo noise and fabric grain from reading as layout.
fn blurred(values: &[f32], width: usize, height: usize) -> Vec<f32> {
    const TAPS: [f32; 5] = [1.0 / 16.0, 4.0 / 16.0, 6.0 / 16.0, 4.0 / 16.0, 1.0 / 16.0];
    let pass = |input: &[f32], step: (isize, isize)| {
        let mut out = vec![0.0f32; input.len()];
        for y in 0..height as isize {
            for x in 0..width as isize {
                out[y as usize * width + x as usize] = (-2..=2isize)
                    .zip(TAPS)
                    .map(|(k, tap)| {
                        let sx = (x + k * step.0).clamp(0, width as isize - 1) as usize;
                        let sy = (y + k * step.1).clamp(0, height as isize - 1) as usize;
                        tap * input[sy * width + sx]
                    })
                    .sum();
            }
        }
        out
    };
    pass(&pass(values, (1, 0)), (0, 1))
}

/// The gradient's direction to the nearest of four: 0 horizontal, 1 the rising diagonal,
/// 2 vertical, 3 the falling one (image rows grow downwards).
fn sector(gx: f32, gy: f32) -> u8 {
    // tan(22.5°) and tan(67.5°)
    const LOW: f32 = 0.414_213_57;
    const HIGH: f32 = 2.414_213_6;
    let (ax, ay) = (gx.abs(), gy.abs());
    if ay <= LOW * ax {
        0
    } else if ay >= HIGH * ax {
        2
    } else if (gx > 0.0) == (gy > 0.0) {
        3
    } else {
        1
    }
}

/// Magnitudes kept only where they are a ridge across the gradient (at least both neighbours
/// along it), so an edge is one pixel wide.
fn suppressed(magnitude: &[f32], direction: &[u8], width: usize, height: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; magnitude.len()];
    for y in 1..height.saturating_sub(1) {
        for x in 1..width.saturating_sub(1) {
            let i = y * width + x;
            let (a, b) = match direction[i] {
                0 => (i - 1, i + 1),
                1 => (i - width + 1, i + width - 1),
                2 => (i - width, i + width),
                _ => (i - width - 1, i + width + 1),
            };
            if magnitude[i] >= magnitude[a] && magnitude[i] >= magnitude[b] {
                out[i] = magnitude[i];
            }
        }
    }
    out
}

/// Ridges at or above [`STRONG`], and those at or above [`WEAK`] joined to them (through
/// any of the eight neighbours), as 1.0; the rest 0.0.
fn hysteresis(ridges: &[f32], width: usize, height: usize) -> Vec<f32> {
    let mut edges = vec![0.0f32; ridges.len()];
    let mut frontier: Vec<usize> = (0..ridges.len()).filter(|&i| ridges[i] >= STRONG).collect();
    for &i in &frontier {
        edges[i] = 1.0;
    }
    while let Some(i) = frontier.pop() {
        let (x, y) = ((i % width) as isize, (i / width) as isize);
        for (dx, dy) in [
            (-1, -1),
            (0, -1),
            (1, -1),
            (-1, 0),
            (1, 0),
            (-1, 1),
            (0, 1),
            (1, 1),
        ] {
            let (nx, ny) = (x + dx, y + dy);
            if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                continue;
            }
            let n = ny as usize * width + nx as usize;
            if edges[n] == 0.0 && ridges[n] >= WEAK {
                edges[n] = 1.0;
                frontier.push(n);
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `side` x `side` grey picture with a lighter square from `from` to `to` (exclusive).
    fn square(side: usize, from: usize, to: usize, step: f32) -> Vec<f32> {
        let plane: Vec<f32> = (0..side * side)
            .map(|i| {
                let (x, y) = (i % side, i / side);
                let inside = (from..to).contains(&x) && (from..to).contains(&y);
                if inside { step } else { 0.0 }
            })
            .collect();
        plane.repeat(3)
    }

    #[test]
    fn a_square_gives_a_closed_thin_outline_and_nothing_elsewhere() {
        let side = 64;
        let map = edge_map(&square(side, 16, 48, 0.5), side, side);
        let on = |x: usize, y: usize| map[y * side + x] == 1.0;
        for along in 20..44 {
            // Each side of the square is crossed by an edge within a pixel of its border.
            let crossed = |pixels: &[(usize, usize)]| pixels.iter().any(|&(x, y)| on(x, y));
            assert!(
                crossed(&[(15, along), (16, along)]),
                "left side at row {along}"
            );
            assert!(
                crossed(&[(47, along), (48, along)]),
                "right side at row {along}"
            );
            assert!(
                crossed(&[(along, 15), (along, 16)]),
                "top at column {along}"
            );
            assert!(
                crossed(&[(along, 47), (along, 48)]),
                "bottom at column {along}"
            );
            // ... by one edge pixel, not a band.
            let across = (10..22).filter(|&x| on(x, along)).count();
            assert!(
                across <= 2,
                "{across} edge pixels across the left side at row {along}"
            );
        }
        // Nothing inside the square or far outside it.
        for y in 0..side {
            for x in 0..side {
                let distance = |a: usize| (a as isize - 16).abs().min((a as isize - 47).abs());
                let near = distance(x).min(distance(y)) <= 2;
                let inside_band = (14..=49).contains(&x) && (14..=49).contains(&y);
                if on(x, y) {
                    assert!(
                        near && inside_band,
                        "an edge at ({x}, {y}), away from the border"
                    );
                }
            }
        }
    }

    #[test]
    fn flat_pictures_and_faint_steps_have_no_edges() {
        let side = 32;
        let flat = vec![0.3; 3 * side * side];
        assert!(edge_map(&flat, side, side).iter().all(|&v| v == 0.0));
        // A step of 1/64 of the range (4 levels of 255) is shading, not layout.
        let faint = square(side, 8, 24, 1.0 / 32.0);
        assert!(edge_map(&faint, side, side).iter().all(|&v| v == 0.0));
        let clear = square(side, 8, 24, 1.0 / 4.0);
        assert!(edge_map(&clear, side, side).contains(&1.0));
    }

    #[test]
    fn edge_f1_forgives_the_tolerance_and_no_more() {
        let side = 64;
        let photo = edge_map(&square(side, 16, 48, 0.5), side, side);
        assert_eq!(edge_f1(&photo, &photo, side, 0), 1.0);
        // The same square two pixels to the right: found within 2 px, mostly not within 1.
        let moved = edge_map(&square(side, 18, 50, 0.5), side, side);
        assert!(edge_f1(&moved, &photo, side, 2) > 0.99);
        assert!(edge_f1(&moved, &photo, side, 1) < 0.7);
        // A design with no edges finds none of the photo's; an empty pair agrees.
        let blank = vec![0.0; side * side];
        assert_eq!(edge_f1(&blank, &photo, side, 2), 0.0);
        assert_eq!(edge_f1(&blank, &blank, side, 2), 1.0);
        // Another square elsewhere shares only where the outlines cross.
        let other = edge_map(&square(side, 4, 20, 0.5), side, side);
        assert!(edge_f1(&other, &photo, side, 2) < 0.3);
    }

    #[test]
    fn the_latent_grid_holds_each_block_of_pixels_as_channels() {
        // A 4 x 2 map, factor 2: two latents side by side.
        let map: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let grid = to_latent_grid(&map, 4, 2, 2);
        // Channel (dy, dx) holds the pixel at that offset in each latent's block.
        assert_eq!(grid, [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
    }
}
