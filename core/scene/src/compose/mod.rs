//! The composer: furnishes a room of a type by interior-design rules, seeded. The anchor piece
//! goes first (bed against the back wall, sofa facing the room or a TV, table centred with
//! chairs around it, counters along the walls, bath and fixtures against walls, desk with its
//! chair), companions next (nightstands, lamps, plants, shelves, pictures, rugs), then windows
//! where the walls are free. Every piece is an axis-aligned box that may not overlap another,
//! must stay inside the room, and keeps out of the clearances (the camera's spot, the door's
//! swing, walkways in front of the anchor).

mod layout;
mod rooms;

pub use rooms::anchor_roles;

use crate::furniture::Role;
use crate::style::Look;
use designer_core::labels::{RoomType, Style};
use glam::{Vec2, Vec3};
use layout::Layout;
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

/// Rotates a floor-plan offset by `angle` degrees the way pieces turn.
pub fn rotate(v: Vec2, angle: u16) -> Vec2 {
    let (s, c) = (angle as f32).to_radians().sin_cos();
    Vec2::new(v.x * c + v.y * s, -v.x * s + v.y * c)
}

/// Which end of its ranges a composition's draws take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum End {
    Low,
    High,
}

/// Where a composition's room size and camera land: anywhere in their ranges (`None`, what
/// training sees), or at one end of each range: the smallest or largest room of its type, the
/// camera at the low or high end of its height, distance from the front wall, sideways
/// offset, aim and field of view. The eval's hardest photos are drawn there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Extremes {
    pub room: Option<End>,
    pub camera: Option<End>,
}

impl Extremes {
    /// The four combinations of a room end and a camera end.
    pub const CORNERS: [Extremes; 4] = [
        Extremes {
            room: Some(End::Low),
            camera: Some(End::Low),
        },
        Extremes {
            room: Some(End::Low),
            camera: Some(End::High),
        },
        Extremes {
            room: Some(End::High),
            camera: Some(End::Low),
        },
        Extremes {
            room: Some(End::High),
            camera: Some(End::High),
        },
    ];
}

/// A draw from `range`, or the end of it `end` names. The generator is drawn from either
/// way, so a composition at the ends draws everything else from the same sequence as the
/// seed's ordinary one.
fn draw(rng: &mut ChaCha8Rng, range: std::ops::Range<f32>, end: Option<End>) -> f32 {
    let value = rng.random_range(range.clone());
    match end {
        None => value,
        Some(End::Low) => range.start,
        Some(End::High) => range.end,
    }
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
    extremes: Extremes,
) -> Scene {
    let mut rng = rng_for(room_type, seed);
    let (width, depth) = rooms::size(room_type, &mut rng, extremes.room);
    let camera_end = extremes.camera;
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
        Vec3::new(x, draw(&mut rng, 145.0..165.0, camera_end), depth - 35.0)
    } else {
        Vec3::new(
            width * draw(&mut rng, 0.4..0.6, camera_end),
            draw(&mut rng, 140.0..165.0, camera_end),
            depth - draw(&mut rng, 15.0..40.0, camera_end),
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
    rooms::furnish(room_type, &mut layout);
    layout::place_windows(&mut layout);
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
        focus.x + draw(rng, -40.0..40.0, camera_end),
        draw(rng, 50.0..90.0, camera_end),
        focus.y + draw(rng, -30.0..30.0, camera_end),
    );
    let camera = CameraPose {
        eye,
        target,
        fov_degrees: draw(rng, 58.0..70.0, camera_end),
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

#[cfg(test)]
mod tests {
    use super::*;

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
