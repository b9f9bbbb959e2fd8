//! The composer: furnishes a room of a type by interior-design rules, seeded. The anchor piece
//! goes first (bed against the back wall, sofa facing the room or a TV, table centred with
//! chairs around it, counters along the walls, bath and fixtures against walls, desk with its
//! chair), companions next (nightstands, lamps, plants, shelves, pictures, rugs), then windows
//! where the walls are free. Every piece is an axis-aligned box that may not overlap another,
//! must stay inside the room, and keeps out of the clearances (the camera's spot, the door's
//! swing, walkways in front of the anchor).

use super::furniture::Role;
use super::style::Look;
use crate::labels::{RoomType, Style};
use glam::{Vec2, Vec3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub const WALL_HEIGHT: f32 = 250.0;
/// Boxes may touch (a lamp on a nightstand) but not overlap by more than this, cm.
pub const TOUCH: f32 = 0.5;
/// Clearances keep out everything that starts below this height (cm): wall cabinets and
/// pendant lights may hang over a walkway.
pub const CLEARANCE_HEIGHT: f32 = 120.0;

/// What the composer needs to know of a catalog piece.
#[derive(Clone, Debug)]
pub struct PieceInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Width (x), height (y), depth (z), centimetres.
    pub size: Vec3,
    pub elevation: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Room {
    pub width: f32,
    pub depth: f32,
    pub height: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Wall {
    /// z = 0, facing the camera.
    Back,
    /// x = 0.
    Left,
    /// x = width.
    Right,
    /// z = depth, behind the camera.
    Front,
}

impl Wall {
    /// Rotation (degrees about y) that turns a piece's front (+z) away from this wall.
    pub fn angle(self) -> u16 {
        match self {
            Wall::Back => 0,
            Wall::Left => 90,
            Wall::Front => 180,
            Wall::Right => 270,
        }
    }

    fn length(self, room: &Room) -> f32 {
        match self {
            Wall::Back | Wall::Front => room.width,
            Wall::Left | Wall::Right => room.depth,
        }
    }

    /// Centre of a piece of depth `depth` standing against the wall at `along`, plus `off`.
    fn pose(self, room: &Room, along: f32, depth: f32, off: f32) -> Vec2 {
        let d = depth / 2.0 + off;
        match self {
            Wall::Back => Vec2::new(along, d),
            Wall::Front => Vec2::new(along, room.depth - d),
            Wall::Left => Vec2::new(d, along),
            Wall::Right => Vec2::new(room.width - d, along),
        }
    }
}

/// Floor kept free, below [`CLEARANCE_HEIGHT`], of every piece placed after it was declared
/// (pieces placed before it, like the chair at a desk, belong to it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Clearance {
    pub area: Rect,
    /// How many items the scene held when the clearance was declared.
    pub after_items: usize,
}

impl Clearance {
    /// Whether item `index`, with bounds `b`, stands in the way.
    pub fn blocked_by(&self, index: usize, b: &Box3) -> bool {
        index >= self.after_items && b.min.y < CLEARANCE_HEIGHT && self.area.intersects(b)
    }
}

/// A floor-plan rectangle, centimetres.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rect {
    pub min: Vec2,
    pub max: Vec2,
}

impl Rect {
    pub fn intersects(&self, b: &Box3) -> bool {
        self.min.x < b.max.x - TOUCH
            && b.min.x < self.max.x - TOUCH
            && self.min.y < b.max.z - TOUCH
            && b.min.z < self.max.y - TOUCH
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Box3 {
    pub min: Vec3,
    pub max: Vec3,
}

impl Box3 {
    pub fn overlaps(&self, o: &Box3) -> bool {
        (0..3).all(|i| self.min[i] < o.max[i] - TOUCH && o.min[i] < self.max[i] - TOUCH)
    }

    pub fn inside(&self, room: &Room) -> bool {
        let tol = TOUCH;
        self.min.x >= -tol
            && self.min.z >= -tol
            && self.min.y >= -tol
            && self.max.x <= room.width + tol
            && self.max.z <= room.depth + tol
            && self.max.y <= room.height + tol
    }
}

/// A catalog piece in the room.
#[derive(Clone, Debug, Serialize)]
pub struct Placement {
    #[serde(skip)]
    pub piece: usize,
    pub id: String,
    pub role: Role,
    /// Centre of the footprint, floor plan (x, z), centimetres.
    pub x: f32,
    pub z: f32,
    pub elevation: f32,
    /// Degrees about the vertical: 0 faces the camera's side of the room (+z).
    pub angle: u16,
    /// The catalog's width, height, depth.
    pub size: Vec3,
    /// Set for doors and windows, which sit in a wall rather than against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall: Option<Wall>,
}

impl Placement {
    pub fn bounds(&self) -> Box3 {
        let (w, d) = if self.angle.is_multiple_of(180) {
            (self.size.x, self.size.z)
        } else {
            (self.size.z, self.size.x)
        };
        Box3 {
            min: Vec3::new(self.x - w / 2.0, self.elevation, self.z - d / 2.0),
            max: Vec3::new(
                self.x + w / 2.0,
                self.elevation + self.size.y,
                self.z + d / 2.0,
            ),
        }
    }
}

/// Procedural decoration the catalog lacks: rugs on the floor, framed pictures on walls.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decor {
    Rug {
        area: Rect,
    },
    Picture {
        wall: Wall,
        /// Centre along the wall and height of the centre, cm.
        along: f32,
        y: f32,
        width: f32,
        height: f32,
        artwork: usize,
    },
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct CameraPose {
    pub eye: Vec3,
    pub target: Vec3,
    pub fov_degrees: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Scene {
    pub room_type: RoomType,
    pub style: Style,
    pub seed: u64,
    pub room: Room,
    pub camera: CameraPose,
    /// Unit vector towards the main window's light.
    pub light: Vec3,
    pub items: Vec<Placement>,
    pub decor: Vec<Decor>,
    /// Floor areas kept free below shoulder height.
    pub clearances: Vec<Clearance>,
}

impl Scene {
    pub fn has(&self, role: Role) -> bool {
        self.items.iter().any(|i| i.role == role)
    }
}

/// The roles one of which anchors a room of each type.
pub fn anchor_roles(room: RoomType) -> &'static [Role] {
    match room {
        RoomType::Bedroom => &[Role::Bed],
        RoomType::LivingRoom => &[Role::Sofa],
        RoomType::DiningRoom => &[Role::DiningTable],
        RoomType::Kitchen => &[Role::KitchenBase],
        RoomType::Bathroom => &[Role::Bathtub, Role::Shower],
        RoomType::Office => &[Role::Desk],
    }
}

/// The pieces by role, as the composer sees them.
pub struct Pieces<'a> {
    pub all: &'a [PieceInfo],
    /// Indices into `all`, per role, in `Role::ALL` order (see [`Pieces::index`]).
    pub by_role: &'a [Vec<usize>],
}

impl<'a> Pieces<'a> {
    /// The pieces' indices grouped by role: made once, when the pieces are loaded.
    pub fn index(all: &[PieceInfo]) -> Vec<Vec<usize>> {
        let mut by_role = vec![Vec::new(); Role::ALL.len()];
        for (i, p) in all.iter().enumerate() {
            by_role[role_index(p.role)].push(i);
        }
        by_role
    }

    pub fn of(&self, role: Role) -> &[usize] {
        &self.by_role[role_index(role)]
    }
}

fn role_index(role: Role) -> usize {
    Role::ALL
        .iter()
        .position(|r| *r == role)
        .expect("every role is listed")
}

struct Layout<'a> {
    pieces: &'a Pieces<'a>,
    look: &'a Look,
    rng: ChaCha8Rng,
    room: Room,
    items: Vec<Placement>,
    decor: Vec<Decor>,
    /// Pictures block wall space like pieces do.
    wall_boxes: Vec<Box3>,
    clearances: Vec<Clearance>,
}

impl<'a> Layout<'a> {
    fn info(&self, piece: usize) -> &'a PieceInfo {
        &self.pieces.all[piece]
    }

    /// A piece of `role`, the style's preferred ones three times as likely, that `fits`.
    fn pick(&mut self, role: Role, fits: impl Fn(&PieceInfo) -> bool) -> Option<usize> {
        let candidates: Vec<usize> = self
            .pieces
            .of(role)
            .iter()
            .copied()
            .filter(|&i| fits(&self.pieces.all[i]))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let weight = |i: usize| {
            let name = self.pieces.all[i].name.to_lowercase();
            if self.look.preferred.iter().any(|w| name.contains(w)) {
                3.0
            } else {
                1.0
            }
        };
        let total: f32 = candidates.iter().map(|&i| weight(i)).sum();
        let mut target = self.rng.random_range(0.0..total);
        for &i in &candidates {
            target -= weight(i);
            if target < 0.0 {
                return Some(i);
            }
        }
        candidates.last().copied()
    }

    /// Whether `b` is clear of every piece, opening and picture (and of the clearances, if
    /// `keep_clear`).
    fn free(&self, b: &Box3, keep_clear: bool) -> bool {
        !self
            .items
            .iter()
            .any(|i| i.wall.is_none() && i.bounds().overlaps(b))
            && !self
                .items
                .iter()
                .any(|i| i.wall.is_some() && opening_box(i).overlaps(b))
            && !self.wall_boxes.iter().any(|w| w.overlaps(b))
            && (!keep_clear
                || !self
                    .clearances
                    .iter()
                    .any(|c| c.blocked_by(self.items.len(), b)))
    }

    /// Places `piece` if the spot is free; returns its index in `items`.
    fn put(&mut self, piece: usize, at: Vec2, angle: u16, elevation: f32) -> Option<usize> {
        let info = self.info(piece);
        let placement = Placement {
            piece,
            id: info.id.clone(),
            role: info.role,
            x: at.x,
            z: at.y,
            elevation,
            angle,
            size: info.size,
            wall: None,
        };
        let b = placement.bounds();
        if !b.inside(&self.room) || !self.free(&b, true) {
            return None;
        }
        self.items.push(placement);
        Some(self.items.len() - 1)
    }

    /// Against `wall` at `along` (centre), its back touching the wall.
    fn against(&mut self, piece: usize, wall: Wall, along: f32) -> Option<usize> {
        let info = self.info(piece);
        let at = wall.pose(&self.room, along, info.size.z, 0.5);
        self.put(piece, at, wall.angle(), info.elevation)
    }

    /// Tries `tries` random spots along the given walls.
    fn against_any(&mut self, piece: usize, walls: &[Wall], tries: usize) -> Option<usize> {
        let half = self.info(piece).size.x / 2.0;
        for _ in 0..tries {
            let wall = walls[self.rng.random_range(0..walls.len())];
            // Side walls only up to three quarters of the way to the camera: nearer, a piece
            // would fill the picture's edge.
            let length = match wall {
                Wall::Left | Wall::Right => self.room.depth * 0.75,
                _ => wall.length(&self.room),
            };
            let Some(along) = between(&mut self.rng, half + 1.0, length - half - 1.0) else {
                continue;
            };
            if let Some(i) = self.against(piece, wall, along) {
                return Some(i);
            }
        }
        None
    }

    /// A piece of `role` on top of item `under`, centred or shifted by `shift` along its width.
    fn on_top(&mut self, role: Role, under: usize, shift: f32) -> Option<usize> {
        let base = self.items[under].clone();
        let top = base.bounds();
        let (span_x, span_z) = (top.max.x - top.min.x, top.max.z - top.min.z);
        let piece = self.pick(role, |p| {
            p.size.x <= span_x.max(span_z) && p.size.z <= span_x.min(span_z) + 10.0
        })?;
        let size = self.info(piece).size;
        let along = shift * (base.size.x - size.x).max(0.0) / 2.0;
        let dir = rotate(Vec2::new(along, 0.0), base.angle);
        self.put(
            piece,
            Vec2::new(base.x, base.z) + dir,
            base.angle,
            top.max.y,
        )
    }

    /// A door or window in `wall`, centred at `along`.
    fn opening(&mut self, piece: usize, wall: Wall, along: f32) -> Option<usize> {
        let info = self.info(piece);
        let at = wall.pose(&self.room, along, 0.0, 0.0);
        let placement = Placement {
            piece,
            id: info.id.clone(),
            role: info.role,
            x: at.x,
            z: at.y,
            elevation: info.elevation,
            angle: wall.angle(),
            size: info.size,
            wall: Some(wall),
        };
        let b = opening_box(&placement);
        let length = wall.length(&self.room);
        let half = info.size.x / 2.0;
        if along - half < 15.0 || along + half > length - 15.0 || !self.free(&b, false) {
            return None;
        }
        self.items.push(placement);
        Some(self.items.len() - 1)
    }

    fn keep_clear(&mut self, a: Vec2, b: Vec2) {
        self.clearances.push(Clearance {
            area: Rect {
                min: a.min(b),
                max: a.max(b),
            },
            after_items: self.items.len(),
        });
    }

    /// A walkway `depth` deep in front of item `i`.
    fn clear_in_front(&mut self, i: usize, depth: f32) {
        let b = self.items[i].bounds();
        let (lo, hi) = (Vec2::new(b.min.x, b.min.z), Vec2::new(b.max.x, b.max.z));
        let (a, c) = match self.items[i].angle {
            0 => (Vec2::new(lo.x, hi.y), Vec2::new(hi.x, hi.y + depth)),
            180 => (Vec2::new(lo.x, lo.y - depth), Vec2::new(hi.x, lo.y)),
            90 => (Vec2::new(hi.x, lo.y), Vec2::new(hi.x + depth, hi.y)),
            _ => (Vec2::new(lo.x - depth, lo.y), Vec2::new(lo.x, hi.y)),
        };
        self.keep_clear(a, c);
    }

    fn chance(&mut self, p: f32) -> bool {
        self.rng
            .random_bool((p * self.look.clutter).clamp(0.0, 1.0) as f64)
    }

    /// A companion of `role` against one of `walls`, maybe.
    fn companion(&mut self, role: Role, walls: &[Wall], p: f32) -> Option<usize> {
        if !self.chance(p) {
            return None;
        }
        let piece = self.pick(role, |_| true)?;
        self.against_any(piece, walls, 12)
    }

    /// A framed picture on `wall` centred at `along`, its centre at `y`, if the wall is free.
    fn picture(&mut self, wall: Wall, along: f32, y: f32, width: f32, height: f32) -> bool {
        let at = wall.pose(&self.room, along, 3.0, 0.0);
        let half = match wall {
            Wall::Back | Wall::Front => Vec3::new(width / 2.0, height / 2.0, 1.5),
            _ => Vec3::new(1.5, height / 2.0, width / 2.0),
        };
        let centre = Vec3::new(at.x, y, at.y);
        let b = Box3 {
            min: centre - half,
            max: centre + half,
        };
        if !b.inside(&self.room) || !self.free(&b, false) {
            return false;
        }
        let artwork = self.rng.random_range(0..self.look.artworks.len());
        self.wall_boxes.push(b);
        self.decor.push(Decor::Picture {
            wall,
            along,
            y,
            width,
            height,
            artwork,
        });
        true
    }

    /// Pictures above item `i` (a bed, a sofa) or anywhere free on `walls`.
    fn pictures_above(&mut self, i: usize) {
        let item = self.items[i].clone();
        let wall = match item.angle {
            0 => Wall::Back,
            90 => Wall::Left,
            270 => Wall::Right,
            _ => return,
        };
        let along = if wall == Wall::Back { item.x } else { item.z };
        let top = item.elevation + item.size.y;
        let width = (item.size.x * self.rng.random_range(0.35..0.6)).clamp(40.0, 140.0);
        let height = width * self.rng.random_range(0.6..0.9);
        let y = (top + 25.0 + height / 2.0).min(self.room.height - height / 2.0 - 20.0);
        if self.rng.random_bool(0.4) && width > 70.0 {
            // A pair side by side.
            let w = width / 2.0 - 5.0;
            self.picture(wall, along - w / 2.0 - 5.0, y, w, height);
            self.picture(wall, along + w / 2.0 + 5.0, y, w, height);
        } else {
            self.picture(wall, along, y, width, height);
        }
    }

    fn pictures_anywhere(&mut self, walls: &[Wall], count: usize) {
        for _ in 0..count {
            for _ in 0..8 {
                let wall = walls[self.rng.random_range(0..walls.len())];
                let width = self.rng.random_range(40.0..90.0);
                let height = width * self.rng.random_range(0.7..1.3);
                // Side walls only towards the back: near the camera a picture is a blur.
                let length = match wall {
                    Wall::Left | Wall::Right => self.room.depth * 0.65,
                    _ => self.room.width,
                };
                let Some(along) = between(&mut self.rng, width, length - width) else {
                    continue;
                };
                let y = self.rng.random_range(140.0..165.0);
                if self.picture(wall, along, y, width, height) {
                    break;
                }
            }
        }
    }

    fn rug(&mut self, centre: Vec2, size: Vec2) {
        if self.look.rug.is_none() {
            return;
        }
        let half = size / 2.0;
        let lo = (centre - half).max(Vec2::splat(10.0));
        let hi = (centre + half).min(Vec2::new(self.room.width - 10.0, self.room.depth - 10.0));
        if hi.x - lo.x > 60.0 && hi.y - lo.y > 40.0 {
            self.decor.push(Decor::Rug {
                area: Rect { min: lo, max: hi },
            });
        }
    }
}

/// Doors and windows straddle the wall plane; for overlap tests their box reaches 20 cm either
/// side of it whatever their catalog depth, so nothing stands in front of a sill or a door.
pub fn opening_box(item: &Placement) -> Box3 {
    const REACH: f32 = 20.0;
    let Box3 { mut min, mut max } = item.bounds();
    let (plane_x, plane_z) = (item.x, item.z);
    match item.wall {
        Some(Wall::Back | Wall::Front) => (min.z, max.z) = (plane_z - REACH, plane_z + REACH),
        Some(Wall::Left | Wall::Right) => (min.x, max.x) = (plane_x - REACH, plane_x + REACH),
        None => {}
    }
    Box3 { min, max }
}

/// A uniform draw from `low..high`, or `None` where rounding left the range empty (a wall
/// exactly as long as the piece plus its margins).
fn between(rng: &mut ChaCha8Rng, low: f32, high: f32) -> Option<f32> {
    (low < high).then(|| rng.random_range(low..high))
}

/// Rotates a floor-plan offset by `angle` degrees the way pieces turn.
pub fn rotate(v: Vec2, angle: u16) -> Vec2 {
    let (s, c) = (angle as f32).to_radians().sin_cos();
    Vec2::new(v.x * c + v.y * s, -v.x * s + v.y * c)
}

/// Seeds differ per room type so "seed 7" is not the same draw in every room.
fn rng_for(room_type: RoomType, seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ ((room_type.id() as u64 + 1) << 56))
}

pub fn compose(
    pieces: &Pieces,
    look: &Look,
    room_type: RoomType,
    style: Style,
    seed: u64,
) -> Scene {
    let mut rng = rng_for(room_type, seed);
    let (width, depth) = match room_type {
        RoomType::Bathroom => (
            rng.random_range(250.0..340.0),
            rng.random_range(280.0..360.0),
        ),
        RoomType::Kitchen => (
            rng.random_range(320.0..440.0),
            rng.random_range(340.0..460.0),
        ),
        RoomType::Office => (
            rng.random_range(300.0..420.0),
            rng.random_range(320.0..420.0),
        ),
        RoomType::Bedroom => (
            rng.random_range(340.0..460.0),
            rng.random_range(360.0..460.0),
        ),
        RoomType::LivingRoom => (
            rng.random_range(380.0..520.0),
            rng.random_range(420.0..540.0),
        ),
        RoomType::DiningRoom => (
            rng.random_range(360.0..480.0),
            rng.random_range(380.0..480.0),
        ),
    };
    let room = Room {
        width,
        depth,
        height: WALL_HEIGHT,
    };
    // The camera stands by the front wall at eye height, from the middle or a corner.
    let corner = rng.random_bool(0.35);
    let eye = if corner {
        let x = if rng.random_bool(0.5) {
            45.0
        } else {
            width - 45.0
        };
        Vec3::new(x, rng.random_range(145.0..165.0), depth - 35.0)
    } else {
        Vec3::new(
            width * rng.random_range(0.4..0.6),
            rng.random_range(140.0..165.0),
            depth - rng.random_range(15.0..40.0),
        )
    };
    let mut layout = Layout {
        pieces,
        look,
        rng,
        room,
        items: Vec::new(),
        decor: Vec::new(),
        wall_boxes: Vec::new(),
        clearances: Vec::new(),
    };
    layout.keep_clear(
        Vec2::new(eye.x - 50.0, depth - 100.0),
        Vec2::new(eye.x + 50.0, depth),
    );
    match room_type {
        RoomType::Bedroom => bedroom(&mut layout),
        RoomType::LivingRoom => living_room(&mut layout),
        RoomType::DiningRoom => dining_room(&mut layout),
        RoomType::Kitchen => kitchen(&mut layout),
        RoomType::Bathroom => bathroom(&mut layout),
        RoomType::Office => office(&mut layout),
    }
    place_windows(&mut layout);
    // Aim at the first piece placed (the anchor, or the TV a sofa faces), a little
    // off-centre, so it fills the middle of the picture.
    let focus = layout
        .items
        .iter()
        .find(|i| i.wall.is_none())
        .map(|i| Vec2::new(i.x, i.z))
        .unwrap_or(Vec2::new(width / 2.0, depth / 3.0));
    let rng = &mut layout.rng;
    let target = Vec3::new(
        focus.x + rng.random_range(-40.0..40.0),
        rng.random_range(50.0..90.0),
        focus.y + rng.random_range(-30.0..30.0),
    );
    let camera = CameraPose {
        eye,
        target,
        fov_degrees: rng.random_range(58.0..70.0),
    };
    let light = layout
        .items
        .iter()
        .find(|i| i.role == Role::Window)
        .map(|w| {
            let b = w.bounds();
            let centre = (b.min + b.max) / 2.0;
            let inward =
                (centre - Vec3::new(width / 2.0, centre.y, depth / 2.0)).normalize_or_zero();
            (inward + Vec3::new(0.0, 0.9, 0.0)).normalize()
        })
        .unwrap_or(Vec3::new(0.4, 0.8, 0.45).normalize());
    Scene {
        room_type,
        style,
        seed,
        room,
        camera,
        light,
        items: layout.items,
        decor: layout.decor,
        clearances: layout.clearances,
    }
}

fn place_door(l: &mut Layout) {
    let Some(door) = l.pick(Role::Door, |_| true) else {
        return;
    };
    let w = l.info(door).size.x;
    // Where the camera sees it first; behind the camera if the visible walls are full.
    let walls = [Wall::Left, Wall::Right, Wall::Back];
    for attempt in 0..40 {
        let wall = if attempt < 30 {
            walls[l.rng.random_range(0..walls.len())]
        } else {
            Wall::Front
        };
        let length = wall.length(&l.room);
        let along = match wall {
            // Near the front, where it leaves the back of the room to furniture.
            Wall::Left | Wall::Right => length - w / 2.0 - l.rng.random_range(30.0..110.0),
            Wall::Front => l.rng.random_range(w / 2.0 + 15.0..length - w / 2.0 - 15.0),
            Wall::Back => {
                if l.rng.random_bool(0.5) {
                    w / 2.0 + 30.0
                } else {
                    length - w / 2.0 - 30.0
                }
            }
        };
        let Some(i) = l.opening(door, wall, along) else {
            continue;
        };
        {
            // The door swings into the room: its arc must be free, and stays so.
            let b = l.items[i].bounds();
            let swing = w + 10.0;
            let (a, c) = match wall {
                Wall::Left => (
                    Vec2::new(0.0, b.min.z - 10.0),
                    Vec2::new(swing, b.max.z + 10.0),
                ),
                Wall::Right => (
                    Vec2::new(l.room.width - swing, b.min.z - 10.0),
                    Vec2::new(l.room.width, b.max.z + 10.0),
                ),
                Wall::Front => (
                    Vec2::new(b.min.x - 10.0, l.room.depth - swing),
                    Vec2::new(b.max.x + 10.0, l.room.depth),
                ),
                Wall::Back => (
                    Vec2::new(b.min.x - 10.0, 0.0),
                    Vec2::new(b.max.x + 10.0, swing),
                ),
            };
            let swing_area = Rect {
                min: a.min(c),
                max: a.max(c),
            };
            let blocked = l.items[..i].iter().any(|item| {
                item.bounds().min.y < CLEARANCE_HEIGHT && swing_area.intersects(&item.bounds())
            });
            if blocked {
                l.items.pop();
                continue;
            }
            l.keep_clear(a, c);
            return;
        }
    }
}

fn place_windows(l: &mut Layout) {
    let count = l.rng.random_range(1..=2);
    let mut placed = 0;
    for _ in 0..20 {
        if placed == count {
            break;
        }
        let Some(window) = l.pick(Role::Window, |_| true) else {
            return;
        };
        let walls = [Wall::Back, Wall::Back, Wall::Left, Wall::Right];
        let wall = walls[l.rng.random_range(0..walls.len())];
        let length = wall.length(&l.room);
        let half = l.info(window).size.x / 2.0;
        let Some(along) = between(&mut l.rng, half + 20.0, length - half - 20.0) else {
            continue;
        };
        if l.opening(window, wall, along).is_some() {
            placed += 1;
        }
    }
}

const SIDE_WALLS: [Wall; 2] = [Wall::Left, Wall::Right];
const VISIBLE_WALLS: [Wall; 3] = [Wall::Back, Wall::Left, Wall::Right];

fn bedroom(l: &mut Layout) {
    let room_width = l.room.width;
    let Some(bed) = l.pick(Role::Bed, |p| p.size.x + 120.0 < room_width) else {
        return;
    };
    let bed_width = l.info(bed).size.x;
    let centre = room_width / 2.0 + l.rng.random_range(-0.12..0.12) * room_width;
    let centre = centre.clamp(bed_width / 2.0 + 60.0, room_width - bed_width / 2.0 - 60.0);
    let Some(b) = l.against(bed, Wall::Back, centre) else {
        return;
    };
    l.clear_in_front(b, 60.0);
    place_door(l);
    let bed_box = l.items[b].bounds();
    for side in [-1.0f32, 1.0] {
        let Some(stand) = l.pick(Role::Nightstand, |_| true) else {
            break;
        };
        let w = l.info(stand).size.x;
        let along = if side < 0.0 {
            bed_box.min.x - w / 2.0 - 3.0
        } else {
            bed_box.max.x + w / 2.0 + 3.0
        };
        if let Some(s) = l.against(stand, Wall::Back, along)
            && l.chance(0.7)
        {
            l.on_top(Role::TableLamp, s, 0.0);
        }
    }
    let rug_size = Vec2::new(bed_width + 90.0, l.info(bed).size.z * 0.75);
    if l.chance(0.8) {
        l.rug(
            Vec2::new(centre, bed_box.max.z - rug_size.y / 2.0 + 40.0),
            rug_size,
        );
    }
    l.pictures_above(b);
    l.companion(Role::Wardrobe, &SIDE_WALLS, 0.8);
    l.companion(Role::FloorPlant, &VISIBLE_WALLS, 0.6);
    l.companion(Role::Armchair, &SIDE_WALLS, 0.3);
    l.companion(Role::Bookcase, &SIDE_WALLS, 0.3);
    l.companion(Role::FloorLamp, &VISIBLE_WALLS, 0.3);
}

fn living_room(l: &mut Layout) {
    let (room_width, room_depth) = (l.room.width, l.room.depth);
    let facing_tv = l.rng.random_bool(0.45) && !l.pieces.of(Role::TvUnit).is_empty();
    let Some(sofa) = l.pick(Role::Sofa, |p| {
        p.size.x + 80.0 < room_width && p.size.z < 130.0
    }) else {
        return;
    };
    let sofa_size = l.info(sofa).size;
    let centre_x = room_width / 2.0 + l.rng.random_range(-0.08..0.08) * room_width;
    let (sofa_item, table_z) = if facing_tv {
        // TV unit on the back wall, the sofa facing it with its back to the camera.
        let unit = l.pick(Role::TvUnit, |_| true).expect("checked above");
        let Some(u) = l.against(unit, Wall::Back, centre_x) else {
            return;
        };
        if l.info(unit).size.y < 100.0 {
            l.on_top(Role::Tv, u, 0.0);
        }
        let front = l.items[u].bounds().max.z;
        // Viewing distance about 2.3 m, but never in the camera's lap.
        let z = (front + 230.0 + sofa_size.z / 2.0).min(room_depth - 170.0 - sofa_size.z / 2.0);
        let Some(s) = l.put(sofa, Vec2::new(centre_x, z), 180, 0.0) else {
            return;
        };
        (s, (front + z - sofa_size.z / 2.0) / 2.0)
    } else {
        let Some(s) = l.against(sofa, Wall::Back, centre_x) else {
            return;
        };
        (s, sofa_size.z + 45.0)
    };
    place_door(l);
    let sofa_box = l.items[sofa_item].bounds();
    if let Some(table) = l.pick(Role::CoffeeTable, |p| p.size.x < sofa_size.x) {
        let depth = l.info(table).size.z;
        let z = if facing_tv {
            table_z
        } else {
            table_z + depth / 2.0
        };
        if let Some(t) = l.put(table, Vec2::new(centre_x, z), 0, 0.0)
            && l.chance(0.4)
        {
            let shift = l.rng.random_range(-0.5..0.5);
            l.on_top(Role::SmallPlant, t, shift);
        }
    }
    if l.chance(0.85) {
        let z0 = if facing_tv {
            sofa_box.min.z - 150.0
        } else {
            sofa_box.min.z + 40.0
        };
        l.rug(
            Vec2::new(centre_x, z0 + 90.0),
            Vec2::new(sofa_size.x + 60.0, 190.0),
        );
    }
    // Armchairs at the ends of the coffee table, turned towards it.
    for (side, angle) in [(-1.0f32, 90u16), (1.0, 270)] {
        if !l.chance(0.45) {
            continue;
        }
        let Some(chair) = l.pick(Role::Armchair, |p| p.size.z < 110.0) else {
            continue;
        };
        let size = l.info(chair).size;
        let x = centre_x + side * (sofa_size.x / 2.0 + size.z / 2.0 + 15.0);
        let z = if facing_tv {
            sofa_box.min.z - 80.0
        } else {
            sofa_box.max.z + size.x / 2.0 + 20.0
        };
        l.put(chair, Vec2::new(x, z), angle, 0.0);
    }
    if !facing_tv {
        l.pictures_above(sofa_item);
    } else {
        l.pictures_anywhere(&SIDE_WALLS, 1);
    }
    l.companion(Role::FloorPlant, &VISIBLE_WALLS, 0.7);
    l.companion(Role::FloorLamp, &VISIBLE_WALLS, 0.5);
    l.companion(Role::Bookcase, &SIDE_WALLS, 0.5);
    l.companion(Role::FloorPlant, &VISIBLE_WALLS, 0.3);
}

fn dining_room(l: &mut Layout) {
    let (room_width, room_depth) = (l.room.width, l.room.depth);
    let Some(table) = l.pick(Role::DiningTable, |p| p.size.x + 160.0 < room_width) else {
        return;
    };
    let size = l.info(table).size;
    let centre = Vec2::new(
        room_width / 2.0 + l.rng.random_range(-20.0..20.0),
        room_depth * l.rng.random_range(0.38..0.48),
    );
    let Some(t) = l.put(table, centre, 0, 0.0) else {
        return;
    };
    let tb = l.items[t].bounds();
    if l.chance(0.8) {
        l.rug(centre, Vec2::new(size.x + 130.0, size.z + 130.0));
    }
    // Chairs go round the table before the door claims its swing.
    // One chair model for the set, as a designer would.
    if let Some(chair) = l.pick(Role::DiningChair, |_| true) {
        let c = l.info(chair).size;
        let per_side = (((size.x - 10.0) / (c.x + 12.0)).floor() as i32).clamp(1, 3);
        for i in 0..per_side {
            let x = tb.min.x + size.x * (i as f32 + 0.5) / per_side as f32;
            l.put(chair, Vec2::new(x, tb.min.z - c.z / 2.0 - 2.0), 0, 0.0);
            l.put(chair, Vec2::new(x, tb.max.z + c.z / 2.0 + 2.0), 180, 0.0);
        }
        if size.z >= 80.0 {
            chairs_at_ends(l, chair, &tb);
        }
    }
    place_door(l);
    if let Some(light) = l.pick(Role::PendantLight, |p| p.size.y < 100.0) {
        let h = l.info(light).size.y;
        let height = l.room.height;
        l.put(light, centre, 0, height - h);
    }
    l.companion(Role::Wardrobe, &VISIBLE_WALLS, 0.5);
    l.companion(Role::Bookcase, &VISIBLE_WALLS, 0.3);
    l.companion(Role::FloorPlant, &VISIBLE_WALLS, 0.7);
    l.pictures_anywhere(&VISIBLE_WALLS, 2);
}

/// A chair at each end of a table, facing it.
fn chairs_at_ends(l: &mut Layout, chair: usize, table: &Box3) {
    let depth = l.info(chair).size.z;
    let z = (table.min.z + table.max.z) / 2.0;
    l.put(
        chair,
        Vec2::new(table.min.x - depth / 2.0 - 2.0, z),
        90,
        0.0,
    );
    l.put(
        chair,
        Vec2::new(table.max.x + depth / 2.0 + 2.0, z),
        270,
        0.0,
    );
}

/// A run of kitchen modules along `wall` from one end, fridge first where there is one.
fn counter_run(l: &mut Layout, wall: Wall, start: f32, end: f32, with_fridge: bool) -> Vec<usize> {
    let mut placed = Vec::new();
    let mut at = start;
    if with_fridge && let Some(fridge) = l.pick(Role::Fridge, |_| true) {
        let w = l.info(fridge).size.x;
        if let Some(f) = l.against(fridge, wall, at + w / 2.0) {
            at += w + 1.0;
            l.clear_in_front(f, 90.0);
        }
    }
    let mut sink = false;
    while at < end {
        let left = end - at;
        let Some(module) = l.pick(Role::KitchenBase, |p| {
            p.size.x <= left && (!sink || !p.name.to_lowercase().contains("sink"))
        }) else {
            break;
        };
        let w = l.info(module).size.x;
        sink |= l.info(module).name.to_lowercase().contains("sink");
        match l.against(module, wall, at + w / 2.0) {
            Some(m) => {
                placed.push(m);
                at += w + 0.6;
            }
            None => at += 10.0,
        }
    }
    for &m in &placed {
        l.clear_in_front(m, 90.0);
        let item = l.items[m].clone();
        let Some(cabinet) = l.pick(Role::WallCabinet, |p| p.size.x <= item.size.x + 1.0) else {
            continue;
        };
        let along = if matches!(wall, Wall::Back | Wall::Front) {
            item.x
        } else {
            item.z
        };
        l.against(cabinet, wall, along);
    }
    placed
}

fn kitchen(l: &mut Layout) {
    let (room_width, room_depth) = (l.room.width, l.room.depth);
    let from_left = l.rng.random_bool(0.5);
    let l_shape = l.rng.random_bool(0.5);
    let side = if from_left { Wall::Left } else { Wall::Right };
    let (start, end) = if l_shape {
        if from_left {
            (65.0, room_width - 1.0)
        } else {
            (1.0, room_width - 65.0)
        }
    } else {
        (1.0, room_width - 1.0)
    };
    let placed = if from_left || !l_shape {
        counter_run(l, Wall::Back, start, end, true)
    } else {
        // Fill from the right: mirror by running on the back wall from `start`.
        counter_run(l, Wall::Back, start, end, false)
    };
    place_door(l);
    if placed.is_empty() {
        return;
    }
    if l_shape {
        counter_run(l, side, 1.0, room_depth * 0.6, !from_left);
    }
    if room_depth > 420.0
        && l.chance(0.6)
        && let Some(table) = l.pick(Role::DiningTable, |p| p.size.x < 150.0)
    {
        let centre = Vec2::new(room_width / 2.0, room_depth * 0.58);
        if let Some(t) = l.put(table, centre, 0, 0.0) {
            let tb = l.items[t].bounds();
            if let Some(chair) = l.pick(Role::DiningChair, |_| true) {
                chairs_at_ends(l, chair, &tb);
            }
        }
    }
    l.companion(Role::SmallPlant, &VISIBLE_WALLS, 0.2);
    l.pictures_anywhere(&SIDE_WALLS, 1);
}

fn bathroom(l: &mut Layout) {
    let room_width = l.room.width;
    let roles = [Role::Bathtub, Role::Shower];
    let role = if l.pieces.of(Role::Bathtub).is_empty() || l.rng.random_bool(0.2) {
        roles[1]
    } else {
        roles[0]
    };
    let Some(tub) = l.pick(role, |p| p.size.x + 20.0 < room_width) else {
        return;
    };
    let w = l.info(tub).size.x;
    let along = if l.rng.random_bool(0.5) {
        w / 2.0 + 1.0
    } else {
        room_width - w / 2.0 - 1.0
    };
    let Some(t) = l.against(tub, Wall::Back, along) else {
        return;
    };
    l.clear_in_front(t, 60.0);
    place_door(l);
    if let Some(basin) = l.pick(Role::Washbasin, |p| p.size.x < 130.0)
        && let Some(b) = l.against_any(basin, &VISIBLE_WALLS, 16)
    {
        l.clear_in_front(b, 60.0);
        // A mirror above it.
        let item = l.items[b].clone();
        let wall = match item.angle {
            0 => Wall::Back,
            90 => Wall::Left,
            _ => Wall::Right,
        };
        let along = if wall == Wall::Back { item.x } else { item.z };
        let top = item.elevation + item.size.y;
        let y = (top + 50.0).min(175.0);
        l.picture(wall, along, y, item.size.x.min(80.0), 60.0);
    }
    if let Some(toilet) = l.pick(Role::Toilet, |_| true)
        && let Some(i) = l.against_any(toilet, &VISIBLE_WALLS, 16)
    {
        l.clear_in_front(i, 50.0);
    }
    l.companion(Role::TowelRack, &VISIBLE_WALLS, 0.7);
    if l.chance(0.7) {
        let b = l.items[t].bounds();
        l.rug(
            Vec2::new((b.min.x + b.max.x) / 2.0, b.max.z + 40.0),
            Vec2::new(80.0, 50.0),
        );
    }
    l.companion(Role::SmallPlant, &VISIBLE_WALLS, 0.2);
}

fn office(l: &mut Layout) {
    let room_width = l.room.width;
    let Some(desk) = l.pick(Role::Desk, |p| p.size.x + 60.0 < room_width) else {
        return;
    };
    let w = l.info(desk).size.x;
    let along = room_width / 2.0 + l.rng.random_range(-0.2..0.2) * (room_width - w);
    let Some(d) = l.against(desk, Wall::Back, along) else {
        return;
    };
    let db = l.items[d].bounds();
    l.on_top(Role::Computer, d, 0.0);
    if l.chance(0.6) {
        let side = if l.rng.random_bool(0.5) { -0.9 } else { 0.9 };
        l.on_top(Role::TableLamp, d, side);
    }
    // The chair at the desk, and room behind it to pull it out.
    let mut behind = db.max.z;
    if let Some(chair) = l.pick(Role::OfficeChair, |_| true) {
        let c = l.info(chair).size;
        if l.put(
            chair,
            Vec2::new(along, db.max.z + c.z / 2.0 + 2.0),
            180,
            0.0,
        )
        .is_some()
        {
            behind += c.z + 2.0;
        }
    }
    l.keep_clear(
        Vec2::new(db.min.x, behind),
        Vec2::new(db.max.x, behind + 60.0),
    );
    place_door(l);
    if l.chance(0.5) {
        l.rug(
            Vec2::new(along, db.max.z + 60.0),
            Vec2::new(w + 40.0, 160.0),
        );
    }
    l.companion(Role::Bookcase, &SIDE_WALLS, 0.9);
    l.companion(Role::Bookcase, &VISIBLE_WALLS, 0.4);
    l.companion(Role::FloorPlant, &VISIBLE_WALLS, 0.6);
    l.companion(Role::Armchair, &SIDE_WALLS, 0.3);
    l.pictures_above(d);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_range_is_no_draw_rather_than_a_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // A wall exactly as long as a piece and its margins leaves no room to choose.
        let (half, length) = (54.25f32, 148.5f32);
        assert_eq!(between(&mut rng, half + 20.0, length - half - 20.0), None);
        assert_eq!(between(&mut rng, 3.0, 2.0), None);
        let x = between(&mut rng, 1.0, 2.0).unwrap();
        assert!((1.0..2.0).contains(&x));
    }

    #[test]
    fn turning_a_piece_swaps_its_footprint() {
        let piece = |angle| Placement {
            piece: 0,
            id: "x".into(),
            role: Role::Bed,
            x: 100.0,
            z: 50.0,
            elevation: 0.0,
            angle,
            size: Vec3::new(160.0, 90.0, 200.0),
            wall: None,
        };
        let b = piece(0).bounds();
        assert_eq!((b.max.x - b.min.x, b.max.z - b.min.z), (160.0, 200.0));
        let b = piece(90).bounds();
        assert_eq!((b.max.x - b.min.x, b.max.z - b.min.z), (200.0, 160.0));
        // Front (+z) turned by 90 degrees faces +x, as Wall::Left's angle needs.
        let front = rotate(Vec2::new(0.0, 1.0), Wall::Left.angle());
        assert!((front - Vec2::new(1.0, 0.0)).length() < 1e-6);
    }
}
