//! The room recipes: for each room type its size, its anchor piece and the design rules that
//! furnish the rest around it (what goes where, what stays clear), written in the layout
//! engine's moves.

use super::layout::{Layout, place_door};
use super::{Box3, End, Wall, draw};
use crate::furniture::Role;
use designer_core::labels::RoomType;
use glam::Vec2;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The roles one of which anchors a room of each type.
pub fn anchor_roles(room: RoomType) -> &'static [Role] {
    match room {
        RoomType::Bedroom => &[Role::Bed],
        RoomType::LivingRoom => &[Role::Sofa],
        RoomType::DiningRoom => &[Role::DiningTable],
        RoomType::Kitchen => &[Role::KitchenBase],
        RoomType::Bathroom => &[Role::Bathtub, Role::Shower],
        RoomType::Office => &[Role::Desk],
        RoomType::KidsRoom => &[Role::KidsBed],
        RoomType::HomeGym => &[Role::GymMachine],
        RoomType::LaundryRoom => &[Role::Washer],
    }
}

/// The floor of a room of this type: width and depth, cm (both at one end of their ranges
/// when `end` says so).
pub(super) fn size(room_type: RoomType, rng: &mut ChaCha8Rng, end: Option<End>) -> (f32, f32) {
    match room_type {
        RoomType::Bathroom => (draw(rng, 250.0..340.0, end), draw(rng, 280.0..360.0, end)),
        RoomType::Kitchen => (draw(rng, 320.0..440.0, end), draw(rng, 340.0..460.0, end)),
        RoomType::Office => (draw(rng, 300.0..420.0, end), draw(rng, 320.0..420.0, end)),
        RoomType::Bedroom => (draw(rng, 340.0..460.0, end), draw(rng, 360.0..460.0, end)),
        RoomType::LivingRoom => (draw(rng, 380.0..520.0, end), draw(rng, 420.0..540.0, end)),
        RoomType::DiningRoom => (draw(rng, 360.0..480.0, end), draw(rng, 380.0..480.0, end)),
        RoomType::KidsRoom => (draw(rng, 300.0..400.0, end), draw(rng, 320.0..420.0, end)),
        RoomType::HomeGym => (draw(rng, 300.0..400.0, end), draw(rng, 320.0..420.0, end)),
        RoomType::LaundryRoom => (draw(rng, 240.0..330.0, end), draw(rng, 260.0..340.0, end)),
    }
}

/// Furnishes the room with its type's recipe.
pub(super) fn furnish(room_type: RoomType, l: &mut Layout) {
    match room_type {
        RoomType::Bedroom => bedroom(l),
        RoomType::LivingRoom => living_room(l),
        RoomType::DiningRoom => dining_room(l),
        RoomType::Kitchen => kitchen(l),
        RoomType::Bathroom => bathroom(l),
        RoomType::Office => office(l),
        RoomType::KidsRoom => kids_room(l),
        RoomType::HomeGym => home_gym(l),
        RoomType::LaundryRoom => laundry_room(l),
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
    // Chairs go round the table before the door claims its swing, unless they leave it no
    // wall at all (a long table with end chairs in the smallest dining room): a room needs its
    // door more than the table needs every chair, so then the door goes first and the chairs
    // take what is left.
    let chairs_from = l.items.len();
    chairs_round(l, &tb);
    if !place_door(l) {
        l.items.truncate(chairs_from);
        place_door(l);
        chairs_round(l, &tb);
    }
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

/// Chairs along both long sides of the table, and one at each end of a deep one; one chair
/// model for the set, as a designer would.
fn chairs_round(l: &mut Layout, table: &Box3) {
    let Some(chair) = l.pick(Role::DiningChair, |_| true) else {
        return;
    };
    let c = l.info(chair).size;
    let width = table.max.x - table.min.x;
    let per_side = (((width - 10.0) / (c.x + 12.0)).floor() as i32).clamp(1, 3);
    for i in 0..per_side {
        let x = table.min.x + width * (i as f32 + 0.5) / per_side as f32;
        l.put(chair, Vec2::new(x, table.min.z - c.z / 2.0 - 2.0), 0, 0.0);
        l.put(chair, Vec2::new(x, table.max.z + c.z / 2.0 + 2.0), 180, 0.0);
    }
    if table.max.z - table.min.z >= 80.0 {
        chairs_at_ends(l, chair, table);
    }
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

/// A run of base modules along `wall` from one end, the tall or free-standing appliances in
/// `first` (a fridge, a washer and a dryer) before them, wall cabinets above. `belongs` says
/// which base modules (by lower-case name) belong in the room.
fn counter_run(
    l: &mut Layout,
    wall: Wall,
    (start, end): (f32, f32),
    first: &[Role],
    belongs: fn(&str) -> bool,
) -> Vec<usize> {
    let mut placed = Vec::new();
    let mut at = start;
    for &role in first {
        let Some(appliance) = l.pick(role, |p| p.size.x <= end - at) else {
            continue;
        };
        let w = l.info(appliance).size.x;
        if let Some(a) = l.against(appliance, wall, at + w / 2.0) {
            at += w + 1.0;
            l.clear_in_front(a, 90.0);
        }
    }
    let mut sink = false;
    while at < end {
        let left = end - at;
        let Some(module) = l.pick(Role::KitchenBase, |p| {
            let name = p.name.to_lowercase();
            p.size.x <= left && belongs(&name) && (!sink || !name.contains("sink"))
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
    let fridge: &[Role] = if from_left || !l_shape {
        &[Role::Fridge]
    } else {
        &[]
    };
    let placed = counter_run(l, Wall::Back, (start, end), fridge, |_| true);
    place_door(l);
    if placed.is_empty() {
        return;
    }
    if l_shape {
        let fridge: &[Role] = if from_left { &[] } else { &[Role::Fridge] };
        counter_run(l, side, (1.0, room_depth * 0.6), fridge, |_| true);
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

/// `piece` against the back wall, its centre off the wall's by up to `spread` of the length
/// the piece leaves free: where along the wall, and its index if it fitted.
fn off_back_centre(l: &mut Layout, piece: usize, spread: f32) -> (f32, Option<usize>) {
    let free = l.room.width - l.info(piece).size.x;
    let along = l.room.width / 2.0 + l.rng.random_range(-spread..spread) * free;
    (along, l.against(piece, Wall::Back, along))
}

/// `piece` against the back wall in its left or right corner (even odds): whether left, and
/// its index if it fitted.
fn in_back_corner(l: &mut Layout, piece: usize) -> (bool, Option<usize>) {
    let w = l.info(piece).size.x;
    let left = l.rng.random_bool(0.5);
    let along = if left {
        w / 2.0 + 1.0
    } else {
        l.room.width - w / 2.0 - 1.0
    };
    (left, l.against(piece, Wall::Back, along))
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
    let (_, Some(t)) = in_back_corner(l, tub) else {
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
    let (along, Some(d)) = off_back_centre(l, desk, 0.2) else {
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

/// A bunk or child's bed in a back corner, a play table with small chairs in the free half,
/// storage and a desk on the side walls.
fn kids_room(l: &mut Layout) {
    let (room_width, room_depth) = (l.room.width, l.room.depth);
    let Some(bed) = l.pick(Role::KidsBed, |p| p.size.x + 100.0 < room_width) else {
        return;
    };
    let w = l.info(bed).size.x;
    let (bed_left, Some(b)) = in_back_corner(l, bed) else {
        return;
    };
    l.clear_in_front(b, 60.0);
    place_door(l);
    l.pictures_above(b);
    // The play table in the half the bed leaves free.
    let free_x = if bed_left {
        (w + room_width) / 2.0
    } else {
        (room_width - w) / 2.0
    };
    if l.chance(0.8)
        && let Some(table) = l.pick(Role::KidsTable, |_| true)
    {
        let centre = Vec2::new(free_x, room_depth * l.rng.random_range(0.4..0.55));
        if let Some(t) = l.put(table, centre, 0, 0.0) {
            let tb = l.items[t].bounds();
            if let Some(chair) = l.pick(Role::KidsChair, |_| true) {
                chairs_at_ends(l, chair, &tb);
            }
            if l.chance(0.7) {
                l.rug(centre, Vec2::new(180.0, 140.0));
            }
        }
    } else if l.chance(0.8) {
        l.rug(Vec2::new(free_x, room_depth * 0.5), Vec2::new(160.0, 120.0));
    }
    l.companion(Role::Wardrobe, &SIDE_WALLS, 0.7);
    l.companion(Role::Bookcase, &VISIBLE_WALLS, 0.6);
    if let Some(d) = l.companion(Role::Desk, &SIDE_WALLS, 0.4) {
        l.clear_in_front(d, 60.0);
        if l.chance(0.6) {
            l.on_top(Role::TableLamp, d, 0.8);
        }
    }
    l.companion(Role::ClothesRack, &SIDE_WALLS, 0.3);
    l.companion(Role::FloorLamp, &VISIBLE_WALLS, 0.3);
    l.pictures_anywhere(&SIDE_WALLS, 1);
}

/// A machine on the back wall, one or two more along the walls, each with room in front
/// to use it, a mat between them and a bench.
fn home_gym(l: &mut Layout) {
    let (room_width, room_depth) = (l.room.width, l.room.depth);
    let Some(machine) = l.pick(Role::GymMachine, |p| p.size.x + 60.0 < room_width) else {
        return;
    };
    let (_, Some(m)) = off_back_centre(l, machine, 0.25) else {
        return;
    };
    l.clear_in_front(m, 80.0);
    place_door(l);
    for _ in 0..2 {
        if !l.chance(0.9) {
            continue;
        }
        let Some(other) = l.pick(Role::GymMachine, |p| p.size.x < room_depth * 0.6) else {
            continue;
        };
        if let Some(o) = l.against_any(other, &VISIBLE_WALLS, 24) {
            l.clear_in_front(o, 70.0);
        }
    }
    // An exercise mat in the open middle.
    if l.chance(0.8) {
        l.rug(
            Vec2::new(room_width / 2.0, room_depth * 0.6),
            Vec2::new(180.0, 90.0),
        );
    }
    l.companion(Role::Bench, &VISIBLE_WALLS, 0.5);
    l.companion(Role::FloorPlant, &VISIBLE_WALLS, 0.5);
    l.companion(Role::TowelRack, &SIDE_WALLS, 0.3);
    l.pictures_anywhere(&VISIBLE_WALLS, 1);
}

/// A washer and a dryer side by side from one back corner, a run of base cabinets (a sink
/// where one fits) after them, wall cabinets above, a basket and a drying rack.
fn laundry_room(l: &mut Layout) {
    let room_width = l.room.width;
    let end = room_width * l.rng.random_range(0.7..1.0) - 1.0;
    let no_cooking = |name: &str| !name.contains("stove") && !name.contains("dishwasher");
    let placed = counter_run(
        l,
        Wall::Back,
        (1.0, end),
        &[Role::Washer, Role::Washer],
        no_cooking,
    );
    if placed.is_empty() && !l.items.iter().any(|i| i.role == Role::Washer) {
        return;
    }
    place_door(l);
    l.companion(Role::LaundryBasket, &VISIBLE_WALLS, 0.8);
    l.companion(Role::ClothesRack, &SIDE_WALLS, 0.6);
    l.companion(Role::Bookcase, &SIDE_WALLS, 0.3);
    l.companion(Role::TowelRack, &SIDE_WALLS, 0.3);
    l.companion(Role::SmallPlant, &VISIBLE_WALLS, 0.2);
    l.pictures_anywhere(&SIDE_WALLS, 1);
}
