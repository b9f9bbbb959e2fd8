//! Room vignettes: the interim training images until the scene engine renders whole rooms.
//! Each is a room corner (back and side walls, a floor in perspective, maybe a window) dressed
//! in a style's materials, with real catalog furniture of the room type placed in it: the
//! largest pieces as the anchor in front, smaller companions behind, tinted by the style's
//! palette. Rendered at twice the size and downscaled, for anti-aliasing.

use crate::catalog::{CatalogEntry, Library};
use crate::dataset::{Example, ExampleSource};
use crate::image::{decode_bounded_any, rgb_to_tensor};
use crate::labels::{RoomType, Style};
use ::image::imageops::{self, FilterType};
use ::image::{Rgb, RgbImage, Rgba, RgbaImage};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Which room a catalog entry furnishes. Tables and chairs go to the dining room; doors,
/// windows, lights, people and outdoor things furnish none.
pub fn room_for(entry: &CatalogEntry) -> Option<RoomType> {
    if entry.door_or_window {
        return None;
    }
    let name = entry.name.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| name.contains(w));
    let dining_table = has(&["table"])
        && !has(&[
            "bedside", "coffee", "tennis", "pool", "fan", "tablet", "low", "side", "night",
            "dressing", "changing",
        ]);
    let dining_chair = has(&["chair"])
        && !has(&[
            "arm", "deck", "wheel", "relax", "office", "rocking", "high", "desk",
        ]);
    let room = match entry.category.as_str() {
        "Kitchen" | "Living room" if dining_table || dining_chair || has(&["dining"]) => {
            RoomType::DiningRoom
        }
        "Bedroom" => RoomType::Bedroom,
        "Bathroom" => RoomType::Bathroom,
        "Kitchen" => RoomType::Kitchen,
        "Living room" => RoomType::LivingRoom,
        "Office" => RoomType::Office,
        _ => return None,
    };
    Some(room)
}

#[derive(Clone, Copy)]
enum WallFinish {
    Plain,
    Brick,
    Logs,
    Panels,
}

#[derive(Clone, Copy)]
enum FloorFinish {
    Planks,
    Tiles,
    Concrete,
    Plain,
}

#[derive(Clone, Copy)]
enum Window {
    None,
    Framed(Rgb<u8>),
    Grid(Rgb<u8>),
}

/// A style's materials and palette.
#[derive(Clone, Copy)]
struct Look {
    wall: Rgb<u8>,
    wall_finish: WallFinish,
    floor: Rgb<u8>,
    floor_finish: FloorFinish,
    window: Window,
    rug: Option<[Rgb<u8>; 3]>,
    /// Furniture colours are multiplied by this, `tint_strength` of the way.
    tint: [f32; 3],
    tint_strength: f32,
    /// 1 keeps the furniture's saturation, 0 makes it grey.
    saturation: f32,
}

fn look(style: Style) -> Look {
    let plain = |wall, floor, floor_finish, window| Look {
        wall,
        wall_finish: WallFinish::Plain,
        floor,
        floor_finish,
        window,
        rug: None,
        tint: [1.0; 3],
        tint_strength: 0.0,
        saturation: 1.0,
    };
    match style {
        Style::Modern => Look {
            saturation: 0.8,
            ..plain(
                Rgb([224, 225, 228]),
                Rgb([70, 72, 78]),
                FloorFinish::Tiles,
                Window::Framed(Rgb([30, 30, 34])),
            )
        },
        Style::Minimalist => Look {
            saturation: 0.3,
            ..plain(
                Rgb([247, 246, 242]),
                Rgb([228, 224, 216]),
                FloorFinish::Plain,
                Window::Framed(Rgb([250, 250, 250])),
            )
        },
        Style::Scandinavian => Look {
            tint: [1.08, 1.02, 0.92],
            tint_strength: 0.35,
            saturation: 0.6,
            ..plain(
                Rgb([241, 238, 231]),
                Rgb([220, 193, 150]),
                FloorFinish::Planks,
                Window::Framed(Rgb([255, 255, 255])),
            )
        },
        Style::Industrial => Look {
            wall_finish: WallFinish::Brick,
            tint: [0.78, 0.78, 0.84],
            tint_strength: 0.5,
            saturation: 0.5,
            ..plain(
                Rgb([150, 80, 60]),
                Rgb([122, 120, 116]),
                FloorFinish::Concrete,
                Window::Grid(Rgb([36, 36, 38])),
            )
        },
        Style::Bohemian => Look {
            rug: Some([Rgb([178, 40, 52]), Rgb([232, 170, 52]), Rgb([36, 118, 120])]),
            tint: [1.15, 0.95, 0.75],
            tint_strength: 0.45,
            saturation: 1.35,
            ..plain(
                Rgb([206, 124, 76]),
                Rgb([150, 96, 56]),
                FloorFinish::Planks,
                Window::None,
            )
        },
        Style::MidCentury => Look {
            wall_finish: WallFinish::Panels,
            tint: [1.12, 0.9, 0.68],
            tint_strength: 0.4,
            saturation: 1.1,
            ..plain(
                Rgb([60, 122, 118]),
                Rgb([124, 78, 44]),
                FloorFinish::Planks,
                Window::None,
            )
        },
        Style::Coastal => Look {
            tint: [0.88, 0.98, 1.12],
            tint_strength: 0.45,
            saturation: 0.8,
            ..plain(
                Rgb([194, 222, 236]),
                Rgb([228, 218, 198]),
                FloorFinish::Planks,
                Window::Framed(Rgb([255, 255, 255])),
            )
        },
        Style::Rustic => Look {
            wall_finish: WallFinish::Logs,
            tint: [1.1, 0.9, 0.7],
            tint_strength: 0.45,
            saturation: 0.9,
            ..plain(
                Rgb([168, 124, 80]),
                Rgb([94, 60, 34]),
                FloorFinish::Planks,
                Window::None,
            )
        },
    }
}

struct Icon {
    image: RgbaImage,
    footprint: f32,
}

/// Renders vignettes from catalog icons; also an endless, seeded training source.
pub struct VignetteRenderer {
    size: u32,
    /// Per room type (model id order): icons sorted by footprint, largest first.
    icons: Vec<Vec<Icon>>,
}

#[derive(Debug, thiserror::Error)]
pub enum VignetteError {
    #[error("the catalog has no furniture for {0}")]
    NoFurniture(RoomType),
}

impl VignetteRenderer {
    /// Uses the furniture of the open-content libraries (Creative Commons, public domain).
    pub fn new(libraries: &[Library], size: u32) -> Result<Self, VignetteError> {
        let mut icons: Vec<Vec<Icon>> = RoomType::ALL.iter().map(|_| Vec::new()).collect();
        let open = libraries.iter().filter(|l| l.is_open_content());
        for entry in open.flat_map(|l| &l.entries) {
            let (Some(room), Ok(image)) = (room_for(entry), decode_rgba(&entry.icon)) else {
                continue;
            };
            icons[room.id()].push(Icon {
                image,
                footprint: entry.footprint(),
            });
        }
        for (room, list) in RoomType::ALL.iter().zip(&mut icons) {
            if list.is_empty() {
                return Err(VignetteError::NoFurniture(*room));
            }
            list.sort_by(|a, b| b.footprint.total_cmp(&a.footprint));
        }
        Ok(Self { size, icons })
    }

    /// Icons available per room type.
    pub fn icon_counts(&self) -> Vec<(RoomType, usize)> {
        RoomType::ALL
            .iter()
            .map(|r| (*r, self.icons[r.id()].len()))
            .collect()
    }

    /// One vignette; the same seed gives the same image.
    pub fn render(&self, room: RoomType, style: Style, seed: u64) -> RgbImage {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        self.render_with(room, style, &mut rng)
    }

    fn render_with(&self, room: RoomType, style: Style, rng: &mut ChaCha8Rng) -> RgbImage {
        let look = look(style);
        let side = self.size * 2;
        let mut canvas = backdrop(&look, side, rng);
        let icons = &self.icons[room.id()];
        // Anchor from the largest third; companions from anything else.
        let anchor = &icons[rng.random_range(0..icons.len().div_ceil(3))];
        let companions = rng.random_range(1..=2);
        let s = side as f32;
        for i in 0..companions {
            let icon = &icons[rng.random_range(0..icons.len())];
            let left = i == 0 && rng.random_bool(0.5) || i == 1;
            let centre_x = if left { 0.22 } else { 0.78 } + rng.random_range(-0.06..0.06);
            let width = s * rng.random_range(0.30..0.42);
            place(
                &mut canvas,
                icon,
                &look,
                centre_x * s,
                s * rng.random_range(0.74..0.82),
                width,
            );
        }
        let width = s * rng.random_range(0.55..0.72);
        place(
            &mut canvas,
            anchor,
            &look,
            s * rng.random_range(0.44..0.56),
            s * rng.random_range(0.9..0.97),
            width,
        );
        let mut image = imageops::resize(&canvas, self.size, self.size, FilterType::Triangle);
        if rng.random_bool(0.5) {
            imageops::flip_horizontal_in_place(&mut image);
        }
        image
    }
}

impl ExampleSource for VignetteRenderer {
    fn image_size(&self) -> u32 {
        self.size
    }

    fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Example {
        self.next_batch(1, rng).remove(0)
    }

    /// Labels and seeds are drawn in order from `rng`, the renders made in parallel: a GPU
    /// eats images faster than one core draws them.
    fn next_batch(&mut self, n: usize, rng: &mut ChaCha8Rng) -> Vec<Example> {
        let jobs: Vec<(RoomType, Style, u64)> = (0..n)
            .map(|_| {
                let room = RoomType::ALL[rng.random_range(0..RoomType::ALL.len())];
                let style = Style::ALL[rng.random_range(0..Style::ALL.len())];
                (room, style, rng.random())
            })
            .collect();
        jobs.into_par_iter()
            .map(|(room, style, seed)| Example {
                pixels: rgb_to_tensor(&self.render(room, style, seed)),
                room,
                style,
            })
            .collect()
    }

    fn describe(&self) -> String {
        let icons: usize = self.icons.iter().map(Vec::len).sum();
        format!(
            "room vignettes from {icons} icons of the CC-BY/CC0 Sweet Home 3D furniture libraries (Debian sweethome3d-furniture)"
        )
    }
}

fn decode_rgba(png: &[u8]) -> Result<RgbaImage, crate::image::ImageError> {
    Ok(decode_bounded_any(png)?.to_rgba8())
}

fn shade(c: Rgb<u8>, f: f32) -> Rgb<u8> {
    Rgb(c.0.map(|v| (v as f32 * f).clamp(0.0, 255.0) as u8))
}

/// Walls, floor and window of a room corner seen from the doorway.
fn backdrop(look: &Look, side: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let s = side as f32;
    let horizon = s * rng.random_range(0.5..0.6);
    let inset = s * rng.random_range(0.1..0.18);
    let mut image = RgbImage::new(side, side);
    for y in 0..side {
        for x in 0..side {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            // The floor widens from the back wall's corners outwards, past the image's edges.
            let on_floor = fy >= horizon && {
                let left_edge = inset - inset * ((fy - horizon) / (s - horizon)).min(1.0) * 1.6;
                fx >= left_edge && fx <= s - left_edge
            };
            let pixel = if on_floor {
                floor_pixel(look, fx, fy, horizon, s)
            } else if fx < inset || fx > s - inset {
                // Side walls, a little darker than the back wall.
                shade(wall_pixel(look, fx, fy, s), 0.86)
            } else {
                wall_pixel(look, fx, fy, s)
            };
            image.put_pixel(x, y, pixel);
        }
    }
    draw_window(&mut image, look, horizon, inset, rng);
    if let Some(colours) = look.rug {
        draw_rug(&mut image, colours, horizon, s);
    }
    image
}

fn wall_pixel(look: &Look, x: f32, y: f32, s: f32) -> Rgb<u8> {
    let unit = s / 32.0;
    match look.wall_finish {
        WallFinish::Plain => look.wall,
        WallFinish::Brick => {
            let row = (y / unit) as i32;
            let offset = if row % 2 == 0 { 0.0 } else { unit };
            let mortar = (y % unit) < unit * 0.18 || ((x + offset) % (2.0 * unit)) < unit * 0.18;
            if mortar {
                Rgb([190, 182, 170])
            } else {
                shade(look.wall, 0.92 + 0.08 * ((row * 7 % 5) as f32 / 4.0))
            }
        }
        WallFinish::Logs => {
            let phase = (y % (1.5 * unit)) / (1.5 * unit);
            shade(look.wall, 0.75 + 0.3 * (std::f32::consts::PI * phase).sin())
        }
        WallFinish::Panels => {
            if (x % (3.0 * unit)) < unit * 0.25 {
                shade(look.wall, 0.8)
            } else {
                look.wall
            }
        }
    }
}

fn floor_pixel(look: &Look, x: f32, y: f32, horizon: f32, s: f32) -> Rgb<u8> {
    // Perspective: floor coordinates from the screen position, with depth ~ 1 / (y - horizon).
    let dy = (y - horizon).max(0.5);
    let depth = s / dy;
    let across = (x - s / 2.0) / dy;
    let light = 0.85 + 0.15 * (dy / (s - horizon)).min(1.0);
    let base = shade(look.floor, light);
    match look.floor_finish {
        FloorFinish::Plain => base,
        FloorFinish::Planks => {
            let plank = (across * 6.0).floor();
            let seam = (across * 6.0).fract().abs() < 0.08;
            let end = ((depth * 1.5 + plank * 0.37).fract()) < 0.03;
            if seam || end {
                shade(base, 0.8)
            } else {
                shade(
                    base,
                    0.95 + 0.1 * ((plank as i32).rem_euclid(3) as f32 / 2.0),
                )
            }
        }
        FloorFinish::Tiles => {
            let grout = (across * 3.0).fract().abs() < 0.04 || (depth * 1.5).fract() < 0.05;
            if grout { shade(base, 1.35) } else { base }
        }
        FloorFinish::Concrete => {
            let n = ((x * 12.9898 + y * 78.233).sin() * 43_758.547)
                .fract()
                .abs();
            shade(base, 0.92 + 0.16 * n)
        }
    }
}

fn draw_window(image: &mut RgbImage, look: &Look, horizon: f32, inset: f32, rng: &mut ChaCha8Rng) {
    let (frame, grid) = match look.window {
        Window::None => return,
        Window::Framed(c) => (c, false),
        Window::Grid(c) => (c, true),
    };
    let s = image.width() as f32;
    let width = s * rng.random_range(0.22..0.34);
    let x0 = rng.random_range(inset + s * 0.04..s - inset - width - s * 0.04);
    let (y0, y1) = (horizon * 0.18, horizon * 0.78);
    let bar = s / 90.0;
    for y in y0 as u32..y1 as u32 {
        for x in x0 as u32..(x0 + width) as u32 {
            let (fx, fy) = (x as f32 - x0, y as f32 - y0);
            let on_frame = fx < bar || fx > width - bar || fy < bar || fy > (y1 - y0) - bar;
            let on_grid =
                grid && ((fx % (width / 3.0)) < bar * 0.7 || (fy % ((y1 - y0) / 4.0)) < bar * 0.7);
            let sky = Rgb([(200.0 + 40.0 * fy / (y1 - y0)) as u8, 228, 248]);
            image.put_pixel(x, y, if on_frame || on_grid { frame } else { sky });
        }
    }
}

fn draw_rug(image: &mut RgbImage, colours: [Rgb<u8>; 3], horizon: f32, s: f32) {
    let (top, bottom) = (horizon + (s - horizon) * 0.35, s * 0.98);
    for y in top as u32..bottom as u32 {
        let t = (y as f32 - top) / (bottom - top);
        let half = s * (0.22 + 0.12 * t);
        for x in (s / 2.0 - half) as u32..(s / 2.0 + half) as u32 {
            let band =
                ((t * 9.0) as usize + ((x as f32 - s / 2.0).abs() / (s * 0.06)) as usize) % 3;
            image.put_pixel(x, y, colours[band]);
        }
    }
}

/// Draws an icon, tinted by the look, with its bottom centre at (cx, bottom).
fn place(canvas: &mut RgbImage, icon: &Icon, look: &Look, cx: f32, bottom: f32, width: f32) {
    let w = width.max(4.0) as u32;
    let scaled = imageops::resize(&icon.image, w, w, FilterType::Triangle);
    // Icons leave transparent margins: align the lowest opaque row, not the image's edge.
    let lowest = (0..w)
        .rev()
        .find(|&y| (0..w).any(|x| scaled.get_pixel(x, y)[3] > 32))
        .unwrap_or(w - 1);
    let x0 = cx as i64 - w as i64 / 2;
    let y0 = bottom as i64 - lowest as i64;
    for (x, y, &Rgba([r, g, b, a])) in scaled.enumerate_pixels() {
        let (px, py) = (x0 + x as i64, y0 + y as i64);
        if a == 0 || px < 0 || py < 0 || px >= canvas.width() as i64 || py >= canvas.height() as i64
        {
            continue;
        }
        let styled = style_colour([r, g, b], look);
        let alpha = a as f32 / 255.0;
        let under = canvas.get_pixel_mut(px as u32, py as u32);
        for c in 0..3 {
            under[c] = (styled[c] * alpha + under[c] as f32 * (1.0 - alpha))
                .round()
                .clamp(0.0, 255.0) as u8;
        }
    }
}

fn style_colour([r, g, b]: [u8; 3], look: &Look) -> [f32; 3] {
    let mut c = [r as f32, g as f32, b as f32];
    for (v, t) in c.iter_mut().zip(look.tint) {
        *v *= 1.0 + (t - 1.0) * look.tint_strength;
    }
    let grey = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
    c.map(|v| grey + (v - grey) * look.saturation)
}
