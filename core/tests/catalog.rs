//! The real Sweet Home 3D catalogs from Debian (fetched by `make data`) parse completely, and
//! the vignettes built from them are seeded and tell room types and styles apart.

use designer_core::catalog::{self, Library};
use designer_core::vignette::{VignetteRenderer, room_for};
use designer_core::{RoomType, Style};
use std::path::PathBuf;
use std::sync::OnceLock;

fn libraries() -> &'static [Library] {
    static LIBRARIES: OnceLock<Vec<Library>> = OnceLock::new();
    LIBRARIES.get_or_init(|| {
        let root = std::env::var_os("DESIGNER_CATALOG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/catalog"));
        catalog::read_all(&root).unwrap_or_else(|e| panic!("{e}"))
    })
}

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
            assert_eq!(&entry.icon[1..4], b"PNG", "{} icon is a PNG", entry.id);
        }
    }
}

#[test]
fn every_room_type_gets_furniture_and_people_get_none() {
    let entries: Vec<_> = libraries()
        .iter()
        .filter(|l| l.is_open_content())
        .flat_map(|l| &l.entries)
        .collect();
    for room in RoomType::ALL {
        let n = entries
            .iter()
            .filter(|e| room_for(e) == Some(*room))
            .count();
        assert!(n >= 10, "{room}: only {n} pieces");
    }
    assert!(
        entries
            .iter()
            .filter(|e| e.category == "Characters")
            .all(|e| room_for(e).is_none())
    );
    assert!(
        entries
            .iter()
            .filter(|e| e.door_or_window)
            .all(|e| room_for(e).is_none())
    );
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
fn vignettes_are_seeded_and_styles_look_apart() {
    let renderer = VignetteRenderer::new(libraries(), 64).unwrap();
    let a = renderer.render(RoomType::Bedroom, Style::Industrial, 3);
    assert_eq!(a.dimensions(), (64, 64));
    assert_eq!(a, renderer.render(RoomType::Bedroom, Style::Industrial, 3));
    assert_ne!(a, renderer.render(RoomType::Bedroom, Style::Industrial, 4));
    // Averaged over seeds, every pair of styles differs clearly in colour.
    let average = |style| {
        let colours: Vec<_> = (0..12)
            .map(|s| mean_colour(&renderer.render(RoomType::LivingRoom, style, s)))
            .collect();
        [0, 1, 2].map(|c| colours.iter().map(|m| m[c]).sum::<f32>() / colours.len() as f32)
    };
    let averages: Vec<_> = Style::ALL.iter().map(|s| (*s, average(*s))).collect();
    for (i, (s1, c1)) in averages.iter().enumerate() {
        for (s2, c2) in &averages[i + 1..] {
            let distance = (0..3).map(|c| (c1[c] - c2[c]).powi(2)).sum::<f32>().sqrt();
            assert!(distance > 8.0, "{s1} and {s2} look alike: {c1:?} vs {c2:?}");
        }
    }
}
