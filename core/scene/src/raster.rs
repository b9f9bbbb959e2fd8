//! A small deterministic software rasterizer: perspective camera, near-plane clipping,
//! z-buffer, perspective-correct attributes, ambient + hemisphere + one directional light,
//! supersampled and box-filtered down. Pure Rust on the CPU.

use super::mesh::Vertex;
use super::texture::Texture;
use ::image::{Rgb, RgbImage};
use glam::{Mat3, Vec2, Vec3};

/// Camera space: x right, y up, z forward (depth).
#[derive(Clone, Copy, Debug)]
pub struct Camera {
    pub eye: Vec3,
    /// Rows: right, up, forward.
    view: Mat3,
    focal: f32,
    centre: Vec2,
    near: f32,
}

impl Camera {
    /// A camera at `eye` looking at `target`, `fov_degrees` wide across a `width` x `height`
    /// frame, with y up.
    pub fn look_at(eye: Vec3, target: Vec3, fov_degrees: f32, width: u32, height: u32) -> Self {
        let forward = (target - eye).normalize();
        let right = forward.cross(Vec3::Y).normalize();
        let up = right.cross(forward);
        Self {
            eye,
            view: Mat3::from_cols(right, up, forward).transpose(),
            focal: width as f32 / 2.0 / (fov_degrees.to_radians() / 2.0).tan(),
            centre: Vec2::new(width as f32 / 2.0, height as f32 / 2.0),
            near: 5.0,
        }
    }

    fn camera_space(&self, world: Vec3) -> Vec3 {
        self.view * (world - self.eye)
    }

    fn project(&self, c: Vec3) -> Vec2 {
        Vec2::new(
            self.centre.x + self.focal * c.x / c.z,
            self.centre.y - self.focal * c.y / c.z,
        )
    }

    /// Where a world point lands in the frame, if in front of the camera.
    pub fn screen_position(&self, world: Vec3) -> Option<Vec2> {
        let c = self.camera_space(world);
        (c.z > self.near).then(|| self.project(c))
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Light {
    /// Unit vector towards the light (from the windows).
    pub direction: Vec3,
    pub colour: Vec3,
    pub ambient: f32,
    pub diffuse: f32,
}

/// A style's grip on a surface's colours: multiplied, then saturation scaled.
#[derive(Clone, Copy, Debug)]
pub struct Tint {
    pub multiply: Vec3,
    pub saturation: f32,
}

impl Tint {
    pub const NONE: Tint = Tint {
        multiply: Vec3::ONE,
        saturation: 1.0,
    };

    pub fn apply(&self, c: Vec3) -> Vec3 {
        let c = c * self.multiply;
        let grey = c.dot(Vec3::new(0.299, 0.587, 0.114));
        Vec3::splat(grey) + (c - Vec3::splat(grey)) * self.saturation
    }
}

pub struct Surface<'a> {
    pub colour: Vec3,
    /// Replaces `colour` where present.
    pub texture: Option<&'a Texture>,
    pub tint: Tint,
    /// Extra light factor by world position: soft shadows under furniture, dark corners.
    pub shade: Option<&'a (dyn Fn(Vec3) -> f32 + Sync)>,
    /// The scene item the surface belongs to, for [`Frame::coverage`].
    pub owner: Option<u16>,
}

#[derive(Clone, Copy)]
struct ClipVertex {
    camera: Vec3,
    normal: Vec3,
    uv: Vec2,
    world: Vec3,
}

impl ClipVertex {
    fn lerp(&self, other: &Self, t: f32) -> Self {
        Self {
            camera: self.camera.lerp(other.camera, t),
            normal: self.normal.lerp(other.normal, t),
            uv: self.uv.lerp(other.uv, t),
            world: self.world.lerp(other.world, t),
        }
    }
}

pub struct Frame {
    width: u32,
    height: u32,
    colour: Vec<Vec3>,
    /// 1 / depth; 0 is infinitely far.
    inverse_depth: Vec<f32>,
    /// Which surface owner each pixel shows ([`NO_OWNER`]: the shell, or nothing).
    owners: Vec<u16>,
}

const NO_OWNER: u16 = u16::MAX;

impl Frame {
    /// A frame cleared to `background(row / height)` (the sky through the windows).
    pub fn new(width: u32, height: u32, background: impl Fn(f32) -> Vec3) -> Self {
        let colour = (0..height)
            .flat_map(|y| std::iter::repeat_n(background(y as f32 / height as f32), width as usize))
            .collect();
        Self {
            width,
            height,
            colour,
            inverse_depth: vec![0.0; (width * height) as usize],
            owners: vec![NO_OWNER; (width * height) as usize],
        }
    }

    /// Draws world-space triangles, lit from both sides (catalog models are not closed).
    pub fn draw(
        &mut self,
        camera: &Camera,
        light: &Light,
        vertices: &[Vertex],
        triangles: &[[u32; 3]],
        surface: &Surface,
    ) {
        let cameras: Vec<Vec3> = vertices
            .iter()
            .map(|v| camera.camera_space(v.position))
            .collect();
        for t in triangles {
            let [a, b, c] = t.map(|i| i as usize);
            let (pa, pb, pc) = (
                vertices[a].position,
                vertices[b].position,
                vertices[c].position,
            );
            let mut face = (pb - pa).cross(pc - pa);
            if face.length_squared() < 1e-12 {
                continue;
            }
            face = face.normalize();
            if face.dot(camera.eye - pa) < 0.0 {
                face = -face;
            }
            let clip = |i: usize| ClipVertex {
                camera: cameras[i],
                normal: vertices[i].normal,
                uv: vertices[i].uv,
                world: vertices[i].position,
            };
            let corners = [clip(a), clip(b), clip(c)];
            let near = camera.near;
            let inside = corners.iter().filter(|v| v.camera.z > near).count();
            match inside {
                0 => {}
                3 => self.fill(camera, light, &corners, face, surface),
                _ => {
                    // Sutherland-Hodgman against the near plane: a triangle or a quad.
                    let mut polygon: Vec<ClipVertex> = Vec::with_capacity(4);
                    for i in 0..3 {
                        let (p, q) = (corners[i], corners[(i + 1) % 3]);
                        if p.camera.z > near {
                            polygon.push(p);
                        }
                        if (p.camera.z > near) != (q.camera.z > near) {
                            let t = (near - p.camera.z) / (q.camera.z - p.camera.z);
                            polygon.push(p.lerp(&q, t));
                        }
                    }
                    for i in 1..polygon.len() - 1 {
                        let triangle = [polygon[0], polygon[i], polygon[i + 1]];
                        self.fill(camera, light, &triangle, face, surface);
                    }
                }
            }
        }
    }

    fn fill(
        &mut self,
        camera: &Camera,
        light: &Light,
        v: &[ClipVertex; 3],
        face: Vec3,
        surface: &Surface,
    ) {
        let p = v.map(|v| camera.project(v.camera));
        let inverse_z = v.map(|v| 1.0 / v.camera.z);
        let edge =
            |a: Vec2, b: Vec2, c: Vec2| (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
        let area = edge(p[0], p[1], p[2]);
        if area.abs() < 1e-9 {
            return;
        }
        let min = p[0].min(p[1]).min(p[2]);
        let max = p[0].max(p[1]).max(p[2]);
        let x0 = (min.x.floor().max(0.0)) as u32;
        let y0 = (min.y.floor().max(0.0)) as u32;
        let x1 = (max.x.ceil().min(self.width as f32)) as u32;
        let y1 = (max.y.ceil().min(self.height as f32)) as u32;
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        // Attributes divided by depth interpolate linearly on screen.
        let over_z = |i: usize| {
            (
                v[i].uv * inverse_z[i],
                v[i].normal * inverse_z[i],
                v[i].world * inverse_z[i],
            )
        };
        let attributes = [over_z(0), over_z(1), over_z(2)];
        let smooth = v.iter().all(|v| v.normal != Vec3::ZERO);
        for y in y0..y1 {
            for x in x0..x1 {
                let s = Vec2::new(x as f32 + 0.5, y as f32 + 0.5);
                let w = [
                    edge(p[1], p[2], s) / area,
                    edge(p[2], p[0], s) / area,
                    edge(p[0], p[1], s) / area,
                ];
                if w[0] < 0.0 || w[1] < 0.0 || w[2] < 0.0 {
                    continue;
                }
                let iz = w[0] * inverse_z[0] + w[1] * inverse_z[1] + w[2] * inverse_z[2];
                let index = (y * self.width + x) as usize;
                if iz <= self.inverse_depth[index] {
                    continue;
                }
                self.inverse_depth[index] = iz;
                self.owners[index] = surface.owner.unwrap_or(NO_OWNER);
                let mix = |f: fn(&(Vec2, Vec3, Vec3)) -> Vec3| {
                    (f(&attributes[0]) * w[0] + f(&attributes[1]) * w[1] + f(&attributes[2]) * w[2])
                        / iz
                };
                let uv = mix(|a| a.0.extend(0.0)).truncate();
                let world = mix(|a| a.2);
                let mut normal = if smooth {
                    mix(|a| a.1).normalize_or_zero()
                } else {
                    face
                };
                if normal.dot(face) < 0.0 {
                    normal = -normal;
                }
                self.colour[index] = shade(surface, light, normal, uv, world);
            }
        }
    }

    /// The share of the frame's pixels in which each of owners 0..`owners` shows (occluded
    /// parts do not count).
    pub fn coverage(&self, owners: usize) -> Vec<f32> {
        let mut counts = vec![0usize; owners];
        for &owner in &self.owners {
            if let Some(count) = counts.get_mut(owner as usize) {
                *count += 1;
            }
        }
        let total = self.owners.len().max(1) as f32;
        counts.into_iter().map(|c| c as f32 / total).collect()
    }

    /// Averages `factor` x `factor` blocks into one pixel each (supersampling).
    pub fn downsample(&self, factor: u32) -> RgbImage {
        let (w, h) = (self.width / factor, self.height / factor);
        let samples = (factor * factor) as f32;
        RgbImage::from_fn(w, h, |x, y| {
            let mut sum = Vec3::ZERO;
            for dy in 0..factor {
                for dx in 0..factor {
                    let (sx, sy) = (x * factor + dx, y * factor + dy);
                    sum += self.colour[(sy * self.width + sx) as usize];
                }
            }
            let c = (sum / samples).clamp(Vec3::ZERO, Vec3::ONE) * 255.0;
            Rgb([c.x.round() as u8, c.y.round() as u8, c.z.round() as u8])
        })
    }
}

fn shade(surface: &Surface, light: &Light, normal: Vec3, uv: Vec2, world: Vec3) -> Vec3 {
    let albedo = surface
        .tint
        .apply(surface.texture.map_or(surface.colour, |t| t.sample(uv)));
    // Sky from above, a darker bounce from below, the windows' light on the side it falls.
    let hemisphere = 0.12 * normal.y;
    let direct = light.diffuse * normal.dot(light.direction).max(0.0);
    let mut lit = (light.ambient + hemisphere + direct) * light.colour;
    if let Some(shade) = surface.shade {
        lit *= shade(world);
    }
    albedo * lit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quad(z: f32, half: f32) -> (Vec<Vertex>, Vec<[u32; 3]>) {
        let corner = |x: f32, y: f32| Vertex {
            position: Vec3::new(x, y, z),
            normal: Vec3::ZERO,
            uv: Vec2::ZERO,
        };
        (
            vec![
                corner(-half, -half),
                corner(half, -half),
                corner(half, half),
                corner(-half, half),
            ],
            vec![[0, 1, 2], [0, 2, 3]],
        )
    }

    fn flat(colour: Vec3) -> Surface<'static> {
        Surface {
            colour,
            texture: None,
            tint: Tint::NONE,
            shade: None,
            owner: None,
        }
    }

    const LIGHT: Light = Light {
        direction: Vec3::Z,
        colour: Vec3::ONE,
        ambient: 1.0,
        diffuse: 0.0,
    };

    #[test]
    fn nearer_surfaces_hide_farther_ones_whatever_the_order() {
        let camera = Camera::look_at(Vec3::ZERO, Vec3::Z, 60.0, 32, 32);
        let (near, near_t) = quad(100.0, 10.0);
        let (far, far_t) = quad(200.0, 300.0);
        let red = Vec3::new(1.0, 0.0, 0.0);
        let blue = Vec3::new(0.0, 0.0, 1.0);
        let mut a = Frame::new(32, 32, |_| Vec3::ZERO);
        a.draw(&camera, &LIGHT, &near, &near_t, &flat(red));
        a.draw(&camera, &LIGHT, &far, &far_t, &flat(blue));
        let mut b = Frame::new(32, 32, |_| Vec3::ZERO);
        b.draw(&camera, &LIGHT, &far, &far_t, &flat(blue));
        b.draw(&camera, &LIGHT, &near, &near_t, &flat(red));
        assert_eq!(a.coverage(0), b.coverage(0));
        let (a_image, b_image) = (a.downsample(1), b.downsample(1));
        assert_eq!(a_image, b_image);
        assert_eq!(a_image.get_pixel(16, 16).0, [255, 0, 0]);
        assert_eq!(a_image.get_pixel(1, 1).0, [0, 0, 255]);

        // What each owner shows, the hidden part of the far one not counted.
        let owned = |colour, owner| Surface {
            owner: Some(owner),
            ..flat(colour)
        };
        let mut c = Frame::new(32, 32, |_| Vec3::ZERO);
        c.draw(&camera, &LIGHT, &far, &far_t, &owned(blue, 1));
        c.draw(&camera, &LIGHT, &near, &near_t, &owned(red, 0));
        let image = c.downsample(1);
        let count = |rgb: [u8; 3]| image.pixels().filter(|p| p.0 == rgb).count() as f32;
        let coverage = c.coverage(3);
        assert_eq!(coverage[0], count([255, 0, 0]) / 1024.0);
        assert_eq!(coverage[1], count([0, 0, 255]) / 1024.0);
        assert!(coverage[0] > 0.02 && coverage[1] > 0.9, "{coverage:?}");
        assert_eq!(coverage[2], 0.0);
    }

    #[test]
    fn a_wall_through_the_camera_plane_is_clipped_not_lost() {
        // A floor running from behind the camera to far ahead fills the lower half.
        let camera = Camera::look_at(
            Vec3::new(0.0, 100.0, 0.0),
            Vec3::new(0.0, 100.0, 1.0),
            90.0,
            16,
            16,
        );
        let corner = |x: f32, z: f32| Vertex {
            position: Vec3::new(x, 0.0, z),
            normal: Vec3::Y,
            uv: Vec2::ZERO,
        };
        let floor = vec![
            corner(-1e4, -500.0),
            corner(1e4, -500.0),
            corner(1e4, 1e5),
            corner(-1e4, 1e5),
        ];
        let mut frame = Frame::new(16, 16, |_| Vec3::ZERO);
        frame.draw(
            &camera,
            &LIGHT,
            &floor,
            &[[0, 1, 2], [0, 2, 3]],
            &flat(Vec3::ONE),
        );
        let image = frame.downsample(1);
        assert!((0..16).all(|x| image.get_pixel(x, 15).0 == [255, 255, 255]));
        assert!((0..16).all(|x| image.get_pixel(x, 2).0 == [0, 0, 0]));
    }

    #[test]
    fn texture_coordinates_are_perspective_correct() {
        // A floor textured in two halves along depth: the seam at z = 300 must land where the
        // camera projects z = 300, not halfway up the screen as affine mapping would put it.
        let camera = Camera::look_at(
            Vec3::new(0.0, 100.0, 0.0),
            Vec3::new(0.0, 0.0, 300.0),
            60.0,
            64,
            64,
        );
        let texture = Texture::paint(64, |_, v| Vec3::splat(if v < 0.5 { 0.0 } else { 1.0 }));
        let corner = |x: f32, z: f32, v: f32| Vertex {
            position: Vec3::new(x, 0.0, z),
            normal: Vec3::Y,
            uv: Vec2::new(0.5, v),
        };
        let floor = vec![
            corner(-1e3, 100.0, 0.0),
            corner(1e3, 100.0, 0.0),
            corner(1e3, 500.0, 1.0),
            corner(-1e3, 500.0, 1.0),
        ];
        let surface = Surface {
            texture: Some(&texture),
            ..flat(Vec3::ZERO)
        };
        let mut frame = Frame::new(64, 64, |_| Vec3::splat(0.5));
        frame.draw(&camera, &LIGHT, &floor, &[[0, 1, 2], [0, 2, 3]], &surface);
        let image = frame.downsample(1);
        let seam = camera
            .screen_position(Vec3::new(0.0, 0.0, 300.0))
            .unwrap()
            .y;
        let column: Vec<u8> = (0..64).map(|y| image.get_pixel(32, y)[0]).collect();
        let first_dark = column.iter().position(|&c| c < 64).unwrap() as f32;
        assert!(
            (first_dark - seam).abs() <= 1.5,
            "seam at {seam}, dark from {first_dark}: {column:?}"
        );
    }
}
