//! The real Sweet Home 3D catalogs from Debian (fetched by `make data`) parse completely, their
//! models load at their catalog sizes, the composer keeps its rules over many seeds, and the
//! renders are deterministic and tell styles apart.

use designer_core::{RoomType, Style};
use designer_scene::SceneError;
use designer_scene::compose::{Box3, End, Extremes, Scene, Wall, anchor_roles, opening_box};
use designer_scene::furniture::{Role, role_of};

mod support;
use support::{engine, libraries};

#[test]
fn every_library_parses_with_its_full_entry_count() {
    let counts: Vec<(String, usize)> = libraries()
        .iter()
        .map(|l| {
            (
                l.file.file_name().unwrap().to_string_lossy().into_owned(),
                l.entries.len(),
            )
        })
        .collect();
    let expected = [
        ("BlendSwap-CC-0.sh3f", 175),
        ("BlendSwap-CC-BY.sh3f", 135),
        ("KatorLegaz.sh3f", 90),
        ("Reallusion.sh3f", 25),
        ("Scopia.sh3f", 395),
    ];
    for (file, count) in expected {
        assert!(
            counts.contains(&(file.to_string(), count)),
            "{file}: expected {count} entries in {counts:?}"
        );
    }
    let default = libraries()
        .iter()
        .find(|l| l.file.ends_with("sweethome3d.jar"))
        .expect("the default catalog");
    assert!(default.entries.len() > 50, "{}", default.entries.len());
    assert!(
        !default.is_open_content(),
        "the jar's catalog is GPL, kept out of training"
    );
    for library in libraries() {
        for entry in &library.entries {
            assert!(
                entry.width > 0.0 && entry.depth > 0.0 && entry.height > 0.0,
                "{}: {entry:?}",
                library.name
            );
            assert!(entry.elevation >= 0.0, "{}", entry.id);
            assert_eq!(&entry.icon[1..4], b"PNG", "{} icon is a PNG", entry.id);
            assert!(
                entry.model.to_lowercase().ends_with(".obj"),
                "{}: {}",
                entry.id,
                entry.model
            );
            assert!(!entry.license.is_empty());
        }
    }
    // Fields that only some entries carry are read where they are.
    let entries = || libraries().iter().flat_map(|l| &l.entries);
    assert!(entries().filter(|e| e.door_or_window).count() >= 30);
    assert!(entries().filter(|e| e.elevation > 0.0).count() >= 50);
    assert!(entries().filter(|e| e.model_rotation.is_some()).count() >= 5);
}

#[test]
fn roles_cover_every_room_and_leave_out_people() {
    let open: Vec<_> = libraries()
        .iter()
        .filter(|l| l.is_open_content())
        .flat_map(|l| &l.entries)
        .collect();
    let count = |role: Role| open.iter().filter(|e| role_of(e) == Some(role)).count();
    for (role, at_least) in [
        (Role::Bed, 5),
        (Role::Sofa, 8),
        (Role::DiningTable, 8),
        (Role::DiningChair, 10),
        (Role::KitchenBase, 6),
        (Role::Bathtub, 2),
        (Role::Toilet, 2),
        (Role::Desk, 4),
        (Role::Door, 5),
        (Role::Window, 5),
    ] {
        assert!(count(role) >= at_least, "{role}: only {}", count(role));
    }
    assert!(
        open.iter()
            .filter(|e| e.category == "Characters" || e.category == "Vehicles")
            .all(|e| role_of(e).is_none())
    );
}

#[test]
fn models_are_normalised_to_their_catalog_size() {
    let engine = engine();
    assert!(engine.pieces().len() > 150, "{}", engine.pieces().len());
    for (i, piece) in engine.pieces().iter().enumerate() {
        let (lo, hi) = engine.model(i).bounds();
        let expected_lo = glam::Vec3::new(-piece.size.x / 2.0, 0.0, -piece.size.z / 2.0);
        let expected_hi = glam::Vec3::new(piece.size.x / 2.0, piece.size.y, piece.size.z / 2.0);
        assert!(
            (lo - expected_lo).abs().max_element() < 0.05
                && (hi - expected_hi).abs().max_element() < 0.05,
            "{}: bounds {lo}..{hi}, catalog size {}",
            piece.id,
            piece.size
        );
    }
    // A model turned by its catalog rotation: the Scopia toilet-and-basin unit stands upright.
    let rotated: Vec<_> = libraries()
        .iter()
        .filter(|l| l.is_open_content())
        .flat_map(|l| &l.entries)
        .filter(|e| e.model_rotation.is_some())
        .filter_map(|e| engine.pieces().iter().position(|p| p.id == e.id))
        .collect();
    assert!(
        !rotated.is_empty(),
        "some loaded piece has a model rotation"
    );
}

fn check_invariants(scene: &Scene) {
    let where_ = format!("{} {} seed {}", scene.room_type, scene.style, scene.seed);
    let room = &scene.room;
    assert!(
        anchor_roles(scene.room_type).iter().any(|r| scene.has(*r)),
        "{where_}: no anchor piece"
    );
    assert!(scene.has(Role::Door), "{where_}: no door");
    let boxes: Vec<(usize, Box3)> = scene
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let b = if item.wall.is_some() {
                opening_box(item)
            } else {
                item.bounds()
            };
            (i, b)
        })
        .collect();
    for (i, item) in scene.items.iter().enumerate() {
        let b = item.bounds();
        match item.wall {
            None => assert!(b.inside(room), "{where_}: {} sticks out: {b:?}", item.id),
            Some(wall) => {
                let (along, length) = match wall {
                    Wall::Back | Wall::Front => (item.x, room.width),
                    Wall::Left | Wall::Right => (item.z, room.depth),
                };
                assert!(
                    along - item.size.x / 2.0 >= 0.0
                        && along + item.size.x / 2.0 <= length
                        && b.max.y <= room.height,
                    "{where_}: {} does not fit its wall",
                    item.id
                );
            }
        }
        for (j, other) in &boxes[i + 1..] {
            assert!(
                !boxes[i].1.overlaps(other),
                "{where_}: {} overlaps {}",
                item.id,
                scene.items[*j].id
            );
        }
        if item.wall.is_none() {
            for clearance in &scene.clearances {
                assert!(
                    !clearance.blocked_by(i, &b),
                    "{where_}: {} stands in {clearance:?}",
                    item.id
                );
            }
        }
    }
}

#[test]
fn composed_rooms_keep_the_rules_over_many_seeds() {
    let engine = engine();
    let mut pieces = 0;
    for room in RoomType::ALL {
        for (k, style) in Style::ALL.iter().enumerate() {
            for seed in 0..25u64 {
                let scene = engine.compose(*room, *style, seed * 8 + k as u64);
                check_invariants(&scene);
                pieces += scene.items.len();
            }
        }
    }
    // Rooms are furnished, not just anchored: on average at least five pieces.
    let rooms = RoomType::ALL.len() * Style::ALL.len() * 25;
    assert!(pieces >= 5 * rooms, "{pieces} pieces in {rooms} rooms");
}

#[test]
fn rooms_at_the_ends_of_the_ranges_keep_the_rules_and_bound_the_ordinary_ones() {
    let engine = engine();
    for room in RoomType::ALL {
        let ordinary: Vec<Scene> = (0..30)
            .map(|seed| engine.compose(*room, Style::Modern, seed))
            .collect();
        for extremes in Extremes::CORNERS {
            // Every style once per corner: styles pick different pieces (a long table, a
            // wide door) and those are what crowd the smallest rooms.
            for (seed, style) in Style::ALL.iter().enumerate() {
                let scene = engine.compose_at(*room, *style, seed as u64, extremes);
                check_invariants(&scene);
                let (area, fov) = (
                    scene.room.width * scene.room.depth,
                    scene.camera.fov_degrees,
                );
                for o in &ordinary {
                    let (o_area, o_fov) = (o.room.width * o.room.depth, o.camera.fov_degrees);
                    match extremes.room {
                        Some(End::Low) => assert!(area <= o_area, "{room}: {area} > {o_area}"),
                        _ => assert!(area >= o_area, "{room}: {area} < {o_area}"),
                    }
                    match extremes.camera {
                        Some(End::Low) => assert!(fov <= o_fov),
                        _ => assert!(fov >= o_fov),
                    }
                }
            }
        }
    }
}

#[test]
fn rooms_get_their_companions() {
    let engine = engine();
    let seen = |room: RoomType, role: Role| {
        (0..40).any(|seed| engine.compose(room, Style::Scandinavian, seed).has(role))
    };
    for (room, role) in [
        (RoomType::Bedroom, Role::Nightstand),
        (RoomType::Bedroom, Role::Wardrobe),
        (RoomType::LivingRoom, Role::CoffeeTable),
        (RoomType::LivingRoom, Role::FloorPlant),
        (RoomType::DiningRoom, Role::DiningChair),
        (RoomType::Kitchen, Role::Fridge),
        (RoomType::Kitchen, Role::WallCabinet),
        (RoomType::Bathroom, Role::Toilet),
        (RoomType::Bathroom, Role::Washbasin),
        (RoomType::Office, Role::OfficeChair),
        (RoomType::Office, Role::Bookcase),
        (RoomType::Office, Role::Window),
        (RoomType::KidsRoom, Role::KidsTable),
        (RoomType::KidsRoom, Role::KidsChair),
        (RoomType::KidsRoom, Role::Wardrobe),
        (RoomType::HomeGym, Role::Bench),
        (RoomType::LaundryRoom, Role::LaundryBasket),
        (RoomType::LaundryRoom, Role::KitchenBase),
        (RoomType::LaundryRoom, Role::WallCabinet),
    ] {
        assert!(seen(room, role), "no {role} in 40 {room}s");
    }
}

#[test]
fn gyms_and_laundries_hold_more_than_their_anchor_and_nothing_of_a_kitchen() {
    let engine = engine();
    let count = |scene: &Scene, role: Role| scene.items.iter().filter(|i| i.role == role).count();
    let gyms: Vec<_> = (0..40)
        .map(|seed| engine.compose(RoomType::HomeGym, Style::Industrial, seed))
        .collect();
    assert!(gyms.iter().any(|g| count(g, Role::GymMachine) >= 2));
    let laundries: Vec<_> = (0..40)
        .map(|seed| engine.compose(RoomType::LaundryRoom, Style::Farmhouse, seed))
        .collect();
    assert!(laundries.iter().any(|l| count(l, Role::Washer) == 2));
    for laundry in &laundries {
        for item in &laundry.items {
            let name = engine.pieces()[item.piece].name.to_lowercase();
            assert!(
                !name.contains("stove") && !name.contains("dishwasher"),
                "a {name} in a laundry room"
            );
        }
    }
}

#[test]
fn the_catalog_subset_renders_the_same_rooms_from_a_fraction_of_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let written = designer_scene::write_catalog_subset(libraries(), &engine, dir.path()).unwrap();
    assert_eq!(written.len(), 5, "the five open-content libraries");
    let size = |files: &mut dyn Iterator<Item = &std::path::PathBuf>| {
        files
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum::<u64>()
    };
    let full = size(
        &mut libraries()
            .iter()
            .filter(|l| l.is_open_content())
            .map(|l| &l.file),
    );
    let subset = size(&mut written.iter().map(|(f, _)| f));
    assert!(subset * 3 < full, "{subset} bytes of {full}");
    let copy = designer_scene::catalog::read_all(dir.path()).unwrap();
    let engine_from_copy = designer_scene::SceneEngine::load(&copy).unwrap();
    let ids = |engine: &designer_scene::SceneEngine| {
        let pieces = engine.pieces().iter();
        pieces.map(|p| (p.id.clone(), p.size)).collect::<Vec<_>>()
    };
    assert_eq!(ids(&engine_from_copy), ids(&engine));
    assert!(
        engine_from_copy.skipped().is_empty(),
        "only what loads is copied"
    );
    for (room, style) in [
        (RoomType::LaundryRoom, Style::Tropical),
        (RoomType::Bedroom, Style::ArtDeco),
    ] {
        let original = engine.scene(room, style, 9, 64).unwrap().image;
        let copied = engine_from_copy.scene(room, style, 9, 64).unwrap().image;
        assert!(original == copied, "{room} {style} differs from the subset");
    }
}

#[test]
fn the_same_seed_gives_the_same_pixels() {
    let engine = engine();
    let first = engine
        .scene(RoomType::Bedroom, Style::Rustic, 11, 96)
        .unwrap();
    let again = engine
        .scene(RoomType::Bedroom, Style::Rustic, 11, 96)
        .unwrap();
    let (scene, a) = (&first.scene, &first.image);
    assert_eq!(a.dimensions(), (96, 96));
    assert_eq!(*a, again.image);
    assert_eq!(first.seen, again.seen);
    let other = engine
        .scene(RoomType::Bedroom, Style::Rustic, 12, 96)
        .unwrap();
    assert_ne!(*a, other.image);
    // The scene description round-trips through JSON with its catalog ids and poses.
    let json = serde_json::to_value(&scene).unwrap();
    assert_eq!(json["room_type"], "bedroom");
    assert_eq!(json["seed"], 11);
    assert!(json["items"][0]["id"].as_str().unwrap().contains('#'));
    assert!(json["items"][0]["angle"].is_number());
}

#[test]
fn a_render_says_which_furniture_it_shows() {
    use designer_scene::compose::anchor_roles;
    use designer_scene::furniture::Role;
    let engine = engine();
    for room in RoomType::ALL {
        let renders: Vec<_> = (0..6)
            .map(|seed| engine.scene(*room, Style::Modern, seed, 64).unwrap())
            .collect();
        let mut anchor_shown = 0;
        for render in &renders {
            let total: f32 = Role::ALL.iter().map(|r| render.seen.share(*r)).sum();
            assert!(
                total > 0.0 && total < 1.0,
                "{room}: furniture covers {total}"
            );
            for role in Role::ALL {
                if !render.scene.has(*role) {
                    assert_eq!(
                        render.seen.share(*role),
                        0.0,
                        "{room}: {role:?} is not in the room"
                    );
                }
            }
            anchor_shown += usize::from(anchor_roles(*room).iter().any(|r| render.seen.shows(*r)));
        }
        // The composer aims the camera at the anchor: it shows in most views.
        assert!(
            anchor_shown >= 4,
            "{room}: anchor shown in {anchor_shown} of 6"
        );
    }
}

fn mean_colour(image: &image::RgbImage) -> [f32; 3] {
    let mut sum = [0.0; 3];
    for p in image.pixels() {
        for c in 0..3 {
            sum[c] += p[c] as f32;
        }
    }
    sum.map(|s| s / (image.width() * image.height()) as f32)
}

#[test]
fn every_style_renders_and_the_styles_look_apart() {
    let engine = engine();
    // One room (same seed) in every style; any two differ clearly, pixel by pixel.
    for room in [RoomType::LivingRoom, RoomType::Kitchen] {
        let renders: Vec<_> = Style::ALL
            .iter()
            .map(|s| (*s, engine.scene(room, *s, 5, 64).unwrap().image))
            .collect();
        for (i, (s1, a)) in renders.iter().enumerate() {
            let m = mean_colour(a);
            assert!(m.iter().all(|c| *c > 10.0 && *c < 245.0), "{s1}: {m:?}");
            for (s2, b) in &renders[i + 1..] {
                let difference = a
                    .as_raw()
                    .iter()
                    .zip(b.as_raw())
                    .map(|(x, y)| (*x as f32 - *y as f32).abs())
                    .sum::<f32>()
                    / a.as_raw().len() as f32;
                assert!(
                    difference > 12.0,
                    "{room}: {s1} and {s2} look alike ({difference:.1})"
                );
            }
        }
    }
}

#[test]
fn sizes_from_64_to_512_render_and_others_are_refused() {
    let engine = engine();
    let scene = engine.compose(RoomType::Office, Style::Modern, 1);
    for size in [64, 200, 512] {
        assert_eq!(
            engine.render(&scene, size).unwrap().dimensions(),
            (size, size)
        );
    }
    for size in [0, 63, 513] {
        assert!(matches!(engine.render(&scene, size), Err(SceneError::Size(s)) if s == size));
    }
}
