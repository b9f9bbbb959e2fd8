//! The scene engine: furnished rooms built from the real Sweet Home 3D catalog models, composed
//! by interior-design rules, dressed in a style and rendered in perspective on the CPU. The
//! default training data of the generator.
//!
//! [`SceneEngine::load`] reads the open-content libraries' models once; then
//! [`SceneEngine::compose`] lays out a room (seeded) and [`SceneEngine::render`] draws it.

pub mod bulk;
pub mod catalog;
pub mod compose;
pub mod furniture;
pub mod mesh;
pub mod raster;
pub mod style;
pub mod texture;

use crate::catalog::Library;
use ::image::RgbImage;
use compose::{Decor, Extremes, PieceInfo, Pieces, Placement, Room, Scene, Wall};
use designer_core::labels::{RoomType, Style};
use furniture::{Role, role_of};
use glam::{Vec2, Vec3};
use mesh::{Model, Vertex, ZipModels};
use raster::{Camera, Frame, Light, Surface, Tint};
use rayon::prelude::*;
use std::collections::HashMap;
use style::Look;

/// Models heavier than this are left out: at 512 px a piece never needs more, and a few
/// foliage models would otherwise cost more than the rest of a room together.
pub const MAX_TRIANGLES: usize = 100_000;
pub const MIN_SIZE: u32 = 64;
pub const MAX_SIZE: u32 = 512;

#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("cannot open {path}: {message}")]
    Library { path: String, message: String },
    #[error(
        "the open-content catalogs have no {0} that loads, and every room of its type needs one"
    )]
    MissingRole(Role),
    #[error("size {0} is outside {MIN_SIZE}..={MAX_SIZE}")]
    Size(u32),
}

/// Copies what the scene engine draws into `dir`: the open-content libraries, each with only
/// the entries `engine` loaded from them (see [`catalog::write_subset`]). An engine loaded
/// from the copy has the same pieces in the same order, so its renders are the same pixels.
/// Returns each written file and how many entries it kept.
pub fn write_catalog_subset(
    libraries: &[Library],
    engine: &SceneEngine,
    dir: &std::path::Path,
) -> Result<Vec<(std::path::PathBuf, usize)>, catalog::CatalogError> {
    std::fs::create_dir_all(dir).map_err(|e| catalog::CatalogError::Read {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let drawn: std::collections::HashSet<&str> =
        engine.pieces().iter().map(|p| p.id.as_str()).collect();
    libraries
        .iter()
        .filter(|l| l.is_open_content())
        .map(|library| {
            let out = dir.join(library.file.file_name().unwrap_or_default());
            let kept = catalog::write_subset(library, |e| drawn.contains(e.id.as_str()), &out)?;
            Ok((out, kept))
        })
        .collect()
}

/// A catalog model that was left out, and why.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

pub struct SceneEngine {
    pieces: Vec<PieceInfo>,
    by_role: Vec<Vec<usize>>,
    models: Vec<Model>,
    looks: Vec<Look>,
    skipped: Vec<Skipped>,
}

impl SceneEngine {
    /// Loads every piece that plays a role from the open-content (Creative Commons and public
    /// domain) libraries; the GPL default catalog stays out of the training data.
    pub fn load(libraries: &[Library]) -> Result<Self, SceneError> {
        let wanted: Vec<(usize, &crate::catalog::CatalogEntry, Role)> = libraries
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_open_content())
            .flat_map(|(i, l)| l.entries.iter().map(move |e| (i, e)))
            .filter_map(|(i, e)| role_of(e).map(|r| (i, e, r)))
            .collect();
        let loaded: Vec<Result<(PieceInfo, Model), Skipped>> = wanted
            .par_iter()
            .map_init(HashMap::new, |zips, &(library, entry, role)| {
                let skip = |reason: String| Skipped {
                    id: entry.id.clone(),
                    reason,
                };
                let zip = match zips.entry(library) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        let path = &libraries[library].file;
                        let file = std::fs::File::open(path).map_err(|e| skip(e.to_string()))?;
                        let archive = zip::ZipArchive::new(std::io::BufReader::new(file))
                            .map_err(|e| skip(e.to_string()))?;
                        v.insert(ZipModels::new(archive))
                    }
                };
                let mut model = zip.load(&entry.model).map_err(|e| skip(e.to_string()))?;
                let triangles = model.triangle_count();
                if triangles > MAX_TRIANGLES {
                    return Err(skip(format!(
                        "{triangles} triangles (more than {MAX_TRIANGLES})"
                    )));
                }
                let size = Vec3::new(entry.width, entry.height, entry.depth);
                model.normalise(entry.model_rotation, size);
                let info = PieceInfo {
                    id: entry.id.clone(),
                    name: entry.name.clone(),
                    role,
                    size,
                    elevation: entry.elevation,
                };
                Ok((info, model))
            })
            .collect();
        let mut engine = SceneEngine {
            pieces: Vec::new(),
            by_role: Vec::new(),
            models: Vec::new(),
            looks: Style::ALL.iter().map(|s| Look::of(*s)).collect(),
            skipped: Vec::new(),
        };
        for result in loaded {
            match result {
                Ok((info, model)) => {
                    engine.pieces.push(info);
                    engine.models.push(model);
                }
                Err(skipped) => engine.skipped.push(skipped),
            }
        }
        engine.by_role = Pieces::index(&engine.pieces);
        for room in RoomType::ALL {
            let anchors = compose::anchor_roles(*room);
            if !anchors
                .iter()
                .any(|r| engine.pieces.iter().any(|p| p.role == *r))
            {
                return Err(SceneError::MissingRole(anchors[0]));
            }
        }
        for role in [Role::Door, Role::Window] {
            if !engine.pieces.iter().any(|p| p.role == role) {
                return Err(SceneError::MissingRole(role));
            }
        }
        Ok(engine)
    }

    pub fn pieces(&self) -> &[PieceInfo] {
        &self.pieces
    }

    pub fn model(&self, piece: usize) -> &Model {
        &self.models[piece]
    }

    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    pub fn look(&self, style: Style) -> &Look {
        &self.looks[style.id()]
    }

    /// Lays out a room; the same arguments give the same scene.
    pub fn compose(&self, room: RoomType, style: Style, seed: u64) -> Scene {
        self.compose_at(room, style, seed, Extremes::default())
    }

    /// [`Self::compose`], with the room's size and the camera at the ends of their ranges
    /// where `extremes` says so.
    pub fn compose_at(&self, room: RoomType, style: Style, seed: u64, extremes: Extremes) -> Scene {
        compose::compose(
            &Pieces {
                all: &self.pieces,
                by_role: &self.by_role,
            },
            self.look(style),
            room,
            style,
            seed,
            extremes,
        )
    }

    /// Draws `scene` as a `size` x `size` image, supersampled.
    pub fn render(&self, scene: &Scene, size: u32) -> Result<RgbImage, SceneError> {
        Ok(self.render_seen(scene, size)?.0)
    }

    /// [`Self::render`], and what of the scene's furniture the picture shows.
    pub fn render_seen(&self, scene: &Scene, size: u32) -> Result<(RgbImage, Seen), SceneError> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
            return Err(SceneError::Size(size));
        }
        // Small renders take more samples: their edges are a larger share of the picture.
        let factor = if size < 128 { 3 } else { 2 };
        let side = size * factor;
        let look = self.look(scene.style);
        let camera = Camera::look_at(
            scene.camera.eye,
            scene.camera.target,
            scene.camera.fov_degrees,
            side,
            side,
        );
        let light = Light {
            direction: scene.light,
            colour: look.light,
            ambient: 0.62,
            diffuse: 0.42,
        };
        let mut frame = Frame::new(side, side, |t| {
            Vec3::new(0.58, 0.74, 0.93).lerp(Vec3::new(0.9, 0.94, 0.98), t)
        });
        let shadows = FloorShadows::new(scene);
        let shade = |p: Vec3| shadows.at(p);
        let mut draw = |vertices: &[Vertex], triangles: &[[u32; 3]], surface: &Surface| {
            frame.draw(&camera, &light, vertices, triangles, surface);
        };

        // The shell: floor, ceiling, walls around the openings, skirting.
        let room = &scene.room;
        let plain = |colour: Vec3| Surface {
            colour,
            texture: None,
            tint: Tint::NONE,
            shade: None,
            owner: None,
        };
        let floor = Surface {
            texture: Some(&look.floor.texture),
            shade: Some(&shade),
            ..plain(Vec3::ONE)
        };
        let corners = [
            Vec3::new(0.0, 0.0, 0.0),
            Vec3::new(room.width, 0.0, 0.0),
            Vec3::new(room.width, 0.0, room.depth),
            Vec3::new(0.0, 0.0, room.depth),
        ];
        let (vertices, triangles) = quad(corners, Vec3::Y, |p| {
            Vec2::new(p.x, p.z) / look.floor.repeat
        });
        draw(&vertices, &triangles, &floor);
        let ceiling = corners.map(|c| c + Vec3::Y * room.height);
        let (vertices, triangles) = quad(ceiling, -Vec3::Y, |_| Vec2::ZERO);
        draw(&vertices, &triangles, &plain(look.ceiling));
        let wall_surface = Surface {
            texture: Some(&look.wall.texture),
            shade: Some(&shade),
            ..plain(Vec3::ONE)
        };
        for wall in [Wall::Back, Wall::Left, Wall::Right, Wall::Front] {
            let holes = openings(scene, wall);
            let (vertices, triangles) =
                wall_mesh(room, wall, &holes, 0.0, room.height, 0.0, look.wall.repeat);
            draw(&vertices, &triangles, &wall_surface);
            let (vertices, triangles) = wall_mesh(room, wall, &holes, 0.0, 9.0, 1.2, 100.0);
            draw(
                &vertices,
                &triangles,
                &Surface {
                    shade: Some(&shade),
                    ..plain(look.trim)
                },
            );
        }

        for decor in &scene.decor {
            match decor {
                Decor::Rug { area } => {
                    let y = 0.8;
                    let corners = [
                        Vec3::new(area.min.x, y, area.min.y),
                        Vec3::new(area.max.x, y, area.min.y),
                        Vec3::new(area.max.x, y, area.max.y),
                        Vec3::new(area.min.x, y, area.max.y),
                    ];
                    let size = area.max - area.min;
                    let (vertices, triangles) = quad(corners, Vec3::Y, |p| {
                        (Vec2::new(p.x, p.z) - area.min) / size
                    });
                    let rug = look
                        .rug
                        .as_ref()
                        .expect("rugs only in styles that have them");
                    draw(
                        &vertices,
                        &triangles,
                        &Surface {
                            texture: Some(rug),
                            shade: Some(&shade),
                            ..plain(Vec3::ONE)
                        },
                    );
                }
                &Decor::Picture {
                    wall,
                    along,
                    y,
                    width,
                    height,
                    artwork,
                } => {
                    let frame_quad =
                        wall_rect(room, wall, along, y, width + 6.0, height + 6.0, 1.5);
                    let (vertices, triangles) = quad(frame_quad, inward(wall), |_| Vec2::ZERO);
                    draw(&vertices, &triangles, &plain(look.trim));
                    let canvas = wall_rect(room, wall, along, y, width, height, 2.5);
                    let (vertices, triangles) = quad(canvas, inward(wall), |p| {
                        let (u, v) = wall_coordinates(wall, p);
                        Vec2::new((u - along) / width + 0.5, (y - v) / height + 0.5)
                    });
                    draw(
                        &vertices,
                        &triangles,
                        &Surface {
                            texture: Some(&look.artworks[artwork]),
                            ..plain(Vec3::ONE)
                        },
                    );
                }
            }
        }

        for (owner, item) in (0u16..).zip(&scene.items) {
            let model = &self.models[item.piece];
            let vertices = place_model(model, item);
            for part in &model.parts {
                let material = &model.materials[part.material];
                let surface = Surface {
                    colour: material.colour,
                    texture: material.texture.as_deref(),
                    tint: look.furniture,
                    shade: None,
                    owner: Some(owner),
                };
                draw(&vertices, &part.triangles, &surface);
            }
        }
        let coverage = frame.coverage(scene.items.len());
        let mut shares = vec![0.0; Role::ALL.len()];
        for (item, share) in scene.items.iter().zip(coverage) {
            shares[item.role as usize] += share;
        }
        Ok((frame.downsample(factor), Seen { shares }))
    }

    /// Composes and renders in one go.
    pub fn scene(
        &self,
        room: RoomType,
        style: Style,
        seed: u64,
        size: u32,
    ) -> Result<Render, SceneError> {
        self.scene_at(room, style, seed, Extremes::default(), size)
    }

    /// [`Self::scene`], composed as [`Self::compose_at`] does.
    pub fn scene_at(
        &self,
        room: RoomType,
        style: Style,
        seed: u64,
        extremes: Extremes,
        size: u32,
    ) -> Result<Render, SceneError> {
        self.rendered(self.compose_at(room, style, seed, extremes), size)
    }

    /// `scene` with its picture and what the picture shows.
    pub fn rendered(&self, scene: Scene, size: u32) -> Result<Render, SceneError> {
        let (image, seen) = self.render_seen(&scene, size)?;
        Ok(Render { scene, image, seen })
    }
}

/// A composed scene, its picture, and what of its furniture the picture shows.
pub struct Render {
    pub scene: Scene,
    pub image: RgbImage,
    pub seen: Seen,
}

/// How much of a render each furniture role covers: its items' visible pixels (the parts
/// hidden behind others or out of view not counted) as a share of the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// In `Role::ALL` order.
    shares: Vec<f32>,
}

/// The share of a picture a role must cover to count as shown: about 40 pixels of a 64 px
/// view, a piece a person would name.
pub const SHOWN: f32 = 0.01;

impl Seen {
    pub fn share(&self, role: Role) -> f32 {
        self.shares[role as usize]
    }

    pub fn shows(&self, role: Role) -> bool {
        self.share(role) >= SHOWN
    }
}

/// The model's vertices turned and moved to where the placement puts it.
fn place_model(model: &Model, item: &Placement) -> Vec<Vertex> {
    let (s, c) = (item.angle as f32).to_radians().sin_cos();
    let turn = |v: Vec3| Vec3::new(v.x * c + v.z * s, v.y, -v.x * s + v.z * c);
    let offset = Vec3::new(item.x, item.elevation, item.z);
    model
        .vertices
        .iter()
        .map(|v| Vertex {
            position: turn(v.position) + offset,
            normal: turn(v.normal),
            uv: v.uv,
        })
        .collect()
}

fn quad(
    corners: [Vec3; 4],
    normal: Vec3,
    uv: impl Fn(Vec3) -> Vec2,
) -> (Vec<Vertex>, Vec<[u32; 3]>) {
    let vertices = corners
        .iter()
        .map(|&p| Vertex {
            position: p,
            normal,
            uv: uv(p),
        })
        .collect();
    (vertices, vec![[0, 1, 2], [0, 2, 3]])
}

fn inward(wall: Wall) -> Vec3 {
    match wall {
        Wall::Back => Vec3::Z,
        Wall::Front => -Vec3::Z,
        Wall::Left => Vec3::X,
        Wall::Right => -Vec3::X,
    }
}

/// A point on `wall` at `along` (cm from its start), height `y`, `off` cm into the room.
fn wall_point(room: &Room, wall: Wall, along: f32, y: f32, off: f32) -> Vec3 {
    match wall {
        Wall::Back => Vec3::new(along, y, off),
        Wall::Front => Vec3::new(along, y, room.depth - off),
        Wall::Left => Vec3::new(off, y, along),
        Wall::Right => Vec3::new(room.width - off, y, along),
    }
}

/// (along, height) of a point on `wall`.
fn wall_coordinates(wall: Wall, p: Vec3) -> (f32, f32) {
    match wall {
        Wall::Back | Wall::Front => (p.x, p.y),
        Wall::Left | Wall::Right => (p.z, p.y),
    }
}

fn wall_rect(
    room: &Room,
    wall: Wall,
    along: f32,
    y: f32,
    width: f32,
    height: f32,
    off: f32,
) -> [Vec3; 4] {
    let (a0, a1) = (along - width / 2.0, along + width / 2.0);
    let (y0, y1) = (y - height / 2.0, y + height / 2.0);
    [
        wall_point(room, wall, a0, y0, off),
        wall_point(room, wall, a1, y0, off),
        wall_point(room, wall, a1, y1, off),
        wall_point(room, wall, a0, y1, off),
    ]
}

/// The (along, height) rectangles cut out of `wall` by its doors and windows.
fn openings(scene: &Scene, wall: Wall) -> Vec<[f32; 4]> {
    scene
        .items
        .iter()
        .filter(|i| i.wall == Some(wall))
        .map(|i| {
            let along = if matches!(wall, Wall::Back | Wall::Front) {
                i.x
            } else {
                i.z
            };
            [
                along - i.size.x / 2.0,
                along + i.size.x / 2.0,
                i.elevation,
                i.elevation + i.size.y,
            ]
        })
        .collect()
}

/// The band of `wall` between heights `y0` and `y1`, `off` cm into the room, as rectangles
/// around the `holes`; textured `repeat` cm per texture.
fn wall_mesh(
    room: &Room,
    wall: Wall,
    holes: &[[f32; 4]],
    y0: f32,
    y1: f32,
    off: f32,
    repeat: f32,
) -> (Vec<Vertex>, Vec<[u32; 3]>) {
    let length = match wall {
        Wall::Back | Wall::Front => room.width,
        Wall::Left | Wall::Right => room.depth,
    };
    let mut xs = vec![0.0, length];
    let mut ys = vec![y0, y1];
    for h in holes {
        xs.extend([h[0].clamp(0.0, length), h[1].clamp(0.0, length)]);
        ys.extend([h[2].clamp(y0, y1), h[3].clamp(y0, y1)]);
    }
    for v in [&mut xs, &mut ys] {
        v.sort_by(f32::total_cmp);
        v.dedup();
    }
    let normal = inward(wall);
    let (mut vertices, mut triangles) = (Vec::new(), Vec::new());
    for i in 0..xs.len() - 1 {
        for j in 0..ys.len() - 1 {
            let (a0, a1, b0, b1) = (xs[i], xs[i + 1], ys[j], ys[j + 1]);
            let (ca, cb) = ((a0 + a1) / 2.0, (b0 + b1) / 2.0);
            if holes
                .iter()
                .any(|h| ca > h[0] && ca < h[1] && cb > h[2] && cb < h[3])
            {
                continue;
            }
            let base = vertices.len() as u32;
            for (a, b) in [(a0, b0), (a1, b0), (a1, b1), (a0, b1)] {
                vertices.push(Vertex {
                    position: wall_point(room, wall, a, b, off),
                    normal,
                    uv: Vec2::new(a, room.height - b) / repeat,
                });
            }
            triangles.extend([[base, base + 1, base + 2], [base, base + 2, base + 3]]);
        }
    }
    (vertices, triangles)
}

/// Soft contact shadows under furniture and darker corners where walls meet the floor: light
/// the scene's one lamp cannot cast, but without which pieces float.
struct FloorShadows {
    footprints: Vec<(Vec2, Vec2)>,
    room: Room,
}

impl FloorShadows {
    fn new(scene: &Scene) -> Self {
        let footprints = scene
            .items
            .iter()
            .filter(|i| i.wall.is_none() && i.elevation < 5.0)
            .map(|i| {
                let b = i.bounds();
                (Vec2::new(b.min.x, b.min.z), Vec2::new(b.max.x, b.max.z))
            })
            .collect();
        Self {
            footprints,
            room: scene.room,
        }
    }

    fn at(&self, p: Vec3) -> f32 {
        let mut light = 1.0f32;
        if p.y < 2.0 {
            let ground = Vec2::new(p.x, p.z);
            for (lo, hi) in &self.footprints {
                let outside = (*lo - ground).max(ground - *hi).max(Vec2::ZERO).length();
                light = light.min(1.0 - 0.4 * (1.0 - outside / 18.0).clamp(0.0, 1.0));
            }
        }
        // Corners: floor and ceiling edges and vertical corners a little darker.
        let to_wall =
            p.x.min(self.room.width - p.x)
                .min(p.z)
                .min(self.room.depth - p.z);
        let to_edge = p.y.min(self.room.height - p.y);
        let corner = (1.0 - to_wall.max(0.0) / 30.0).clamp(0.0, 1.0)
            * (1.0 - to_edge.max(0.0) / 30.0).clamp(0.0, 1.0);
        light * (1.0 - 0.18 * corner)
    }
}
