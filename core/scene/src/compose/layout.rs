//! The layout engine: a room being furnished, and the placing moves every recipe is made of
//! (a piece against a wall, on top of another, an opening in a wall, a companion, pictures, a
//! rug), each refused where the piece would overlap another, leave the room or block a
//! clearance. The door and the windows are placed here too, the same for every room type.

use super::{
    Box3, CLEARANCE_HEIGHT, Clearance, Decor, PieceInfo, Pieces, Placement, Rect, Room, Wall,
    opening_box, rotate,
};
use crate::furniture::Role;
use crate::style::Look;
use glam::{Vec2, Vec3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

pub(super) struct Layout<'a> {
    pub(super) pieces: &'a Pieces<'a>,
    pub(super) look: &'a Look,
    pub(super) rng: ChaCha8Rng,
    pub(super) room: Room,
    pub(super) items: Vec<Placement>,
    pub(super) decor: Vec<Decor>,
    /// Pictures block wall space like pieces do.
    pub(super) wall_boxes: Vec<Box3>,
    pub(super) clearances: Vec<Clearance>,
}

impl<'a> Layout<'a> {
    pub(super) fn info(&self, piece: usize) -> &'a PieceInfo {
        &self.pieces.all[piece]
    }

    /// A piece of `role`, the style's preferred ones three times as likely, that `fits`.
    pub(super) fn pick(&mut self, role: Role, fits: impl Fn(&PieceInfo) -> bool) -> Option<usize> {
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
    pub(super) fn free(&self, b: &Box3, keep_clear: bool) -> bool {
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
    pub(super) fn put(
        &mut self,
        piece: usize,
        at: Vec2,
        angle: u16,
        elevation: f32,
    ) -> Option<usize> {
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
    pub(super) fn against(&mut self, piece: usize, wall: Wall, along: f32) -> Option<usize> {
        let info = self.info(piece);
        let at = wall.pose(&self.room, along, info.size.z, 0.5);
        self.put(piece, at, wall.angle(), info.elevation)
    }

    /// Tries `tries` random spots along the given walls.
    pub(super) fn against_any(
        &mut self,
        piece: usize,
        walls: &[Wall],
        tries: usize,
    ) -> Option<usize> {
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
    pub(super) fn on_top(&mut self, role: Role, under: usize, shift: f32) -> Option<usize> {
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
    pub(super) fn opening(&mut self, piece: usize, wall: Wall, along: f32) -> Option<usize> {
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

    pub(super) fn keep_clear(&mut self, a: Vec2, b: Vec2) {
        self.clearances.push(Clearance {
            area: Rect {
                min: a.min(b),
                max: a.max(b),
            },
            after_items: self.items.len(),
        });
    }

    /// A walkway `depth` deep in front of item `i`.
    pub(super) fn clear_in_front(&mut self, i: usize, depth: f32) {
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

    pub(super) fn chance(&mut self, p: f32) -> bool {
        self.rng
            .random_bool((p * self.look.clutter).clamp(0.0, 1.0) as f64)
    }

    /// A companion of `role` against one of `walls`, maybe.
    pub(super) fn companion(&mut self, role: Role, walls: &[Wall], p: f32) -> Option<usize> {
        if !self.chance(p) {
            return None;
        }
        let piece = self.pick(role, |_| true)?;
        self.against_any(piece, walls, 12)
    }

    /// A framed picture on `wall` centred at `along`, its centre at `y`, if the wall is free.
    pub(super) fn picture(
        &mut self,
        wall: Wall,
        along: f32,
        y: f32,
        width: f32,
        height: f32,
    ) -> bool {
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
    pub(super) fn pictures_above(&mut self, i: usize) {
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

    pub(super) fn pictures_anywhere(&mut self, walls: &[Wall], count: usize) {
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

    pub(super) fn rug(&mut self, centre: Vec2, size: Vec2) {
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

/// A uniform draw from `low..high`, or `None` where rounding left the range empty (a wall
/// exactly as long as the piece plus its margins).
pub(super) fn between(rng: &mut ChaCha8Rng, low: f32, high: f32) -> Option<f32> {
    (low < high).then(|| rng.random_range(low..high))
}

/// Puts a door in a wall with its swing free; false when no wall had room for it.
pub(super) fn place_door(l: &mut Layout) -> bool {
    let Some(door) = l.pick(Role::Door, |_| true) else {
        return false;
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
            return true;
        }
    }
    false
}

pub(super) fn place_windows(l: &mut Layout) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

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
}
