//! The sixteen styles as looks: wall and floor finishes (procedural textures), a palette that
//! tints the furniture's own materials, rugs and pictures in the style's colours, the light's
//! warmth, how full a room gets, and the catalog pieces the style prefers where it has a choice.

use super::raster::Tint;
use super::texture::Texture;
use designer_core::labels::Style;
use glam::Vec3;

/// Texture resolution of the procedural finishes.
const FINISH_TEXELS: u32 = 128;
const ARTWORKS: usize = 4;

pub struct Finish {
    pub texture: Texture,
    /// Centimetres of surface one texture repeat covers.
    pub repeat: f32,
}

pub struct Look {
    pub wall: Finish,
    pub floor: Finish,
    pub ceiling: Vec3,
    /// Skirting boards and picture frames.
    pub trim: Vec3,
    pub furniture: Tint,
    pub rug: Option<Texture>,
    pub artworks: Vec<Texture>,
    pub light: Vec3,
    /// Scales how many companion pieces a room gets (minimalist sparse, bohemian full).
    pub clutter: f32,
    /// Words in catalog names the style picks first where a role has several pieces.
    pub preferred: &'static [&'static str],
}

fn rgb(hex: u32) -> Vec3 {
    Vec3::new(
        ((hex >> 16) & 0xff) as f32,
        ((hex >> 8) & 0xff) as f32,
        (hex & 0xff) as f32,
    ) / 255.0
}

/// A repeatable pseudo-random value in 0..1 for an integer lattice point.
fn hash(x: i32, y: i32, salt: u32) -> f32 {
    let mut h = (x as u32).wrapping_mul(0x27d4_eb2d)
        ^ (y as u32).wrapping_mul(0x1656_67b1)
        ^ salt.wrapping_mul(0x9e37_79b9);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    (h & 0xffff) as f32 / 65535.0
}

/// Smooth value noise, periodic over `period` cells, for u, v in 0..1.
fn noise(u: f32, v: f32, period: i32, salt: u32) -> f32 {
    let (x, y) = (u * period as f32, v * period as f32);
    let (x0, y0) = (x.floor() as i32, y.floor() as i32);
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
    let at = |i: i32, j: i32| hash(i.rem_euclid(period), j.rem_euclid(period), salt);
    let top = at(x0, y0) + (at(x0 + 1, y0) - at(x0, y0)) * sx;
    let bottom = at(x0, y0 + 1) + (at(x0 + 1, y0 + 1) - at(x0, y0 + 1)) * sx;
    top + (bottom - top) * sy
}

fn plain(colour: Vec3, grain: f32) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            colour * (1.0 - grain / 2.0 + grain * noise(u, v, 16, 1))
        }),
        repeat: 200.0,
    }
}

/// Running-bond bricks, 25 x 6.25 cm, mortar between.
fn brick(colour: Vec3, mortar: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let row = (v * 8.0).floor();
            let shift = if row as i32 % 2 == 0 { 0.0 } else { 0.5 };
            let along = u * 2.0 + shift;
            let (fu, fv) = (along.fract(), (v * 8.0).fract());
            if fu < 0.04 || fv < 0.12 {
                return mortar;
            }
            let brick = hash(along.floor() as i32, row as i32, 7);
            colour * (0.8 + 0.3 * brick) * (0.94 + 0.06 * noise(u, v, 32, 3))
        }),
        repeat: 50.0,
    }
}

/// Horizontal logs, 20 cm each, rounded by shading.
fn logs(colour: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let f = (v * 5.0).fract();
            let round = (f * std::f32::consts::PI).sin().powf(0.6);
            let grain = 0.9 + 0.1 * noise(u * 4.0, v * 0.5, 8, 5);
            colour * (0.55 + 0.5 * round) * grain
        }),
        repeat: 100.0,
    }
}

/// Vertical panels with grooves every 25 cm.
fn panels(colour: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, _| {
            let f = (u * 4.0).fract();
            if f < 0.04 {
                colour * 0.7
            } else {
                colour * (0.95 + 0.05 * f)
            }
        }),
        repeat: 100.0,
    }
}

/// Vertical two-tone stripes (wallpaper).
fn stripes(a: Vec3, b: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(
            FINISH_TEXELS,
            |u, _| if (u * 8.0).fract() < 0.5 { a } else { b },
        ),
        repeat: 100.0,
    }
}

/// Floor planks 15 cm wide along the room's depth, staggered joints, a little grain.
fn planks(colour: Vec3, contrast: f32) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let plank = (u * 8.0).floor() as i32;
            let offset = hash(plank, 0, 11);
            let along = v + offset;
            let (fu, fv) = ((u * 8.0).fract(), (along * 1.0).fract());
            if fu < 0.05 || fv < 0.01 {
                return colour * (1.0 - 0.45 * contrast.max(0.3));
            }
            let tone = 1.0 + contrast * (hash(plank, along.floor() as i32, 13) - 0.5);
            let grain = 0.93 + 0.07 * noise(u * 8.0, v, 16, 17);
            colour * tone * grain
        }),
        repeat: 120.0,
    }
}

/// Square tiles, 60 cm, with grout.
fn tiles(colour: Vec3, grout: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let (fu, fv) = ((u * 2.0).fract(), (v * 2.0).fract());
            if fu < 0.015 || fv < 0.015 {
                grout
            } else {
                let tile = hash((u * 2.0) as i32, (v * 2.0) as i32, 19);
                colour * (0.96 + 0.06 * tile)
            }
        }),
        repeat: 120.0,
    }
}

fn concrete(colour: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let blotch = noise(u, v, 6, 23) * 0.6 + noise(u, v, 24, 29) * 0.4;
            colour * (0.85 + 0.25 * blotch)
        }),
        repeat: 250.0,
    }
}

/// Horizontal boards with a shadow line every 15 cm (shiplap).
fn shiplap(colour: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            if (v * 8.0).fract() < 0.07 {
                colour * 0.74
            } else {
                colour * (0.96 + 0.04 * noise(u * 2.0, v, 8, 41))
            }
        }),
        repeat: 120.0,
    }
}

/// Tatami: woven straw mats, 90 x 180 cm, with dark cloth borders, in a running bond.
fn tatami(straw: Vec3, border: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let column = (u * 2.0).floor() as i32;
            let across = (u * 2.0).fract();
            let along = (v + 0.5 * column as f32).fract();
            if !(0.04..=0.96).contains(&across) || !(0.02..=0.98).contains(&along) {
                return border;
            }
            let weave = if (v * 48.0).fract() < 0.5 { 1.0 } else { 0.93 };
            straw * weave * (0.95 + 0.05 * noise(u, v, 8, 43))
        }),
        repeat: 180.0,
    }
}

/// Squares of two stones in a checkerboard, 40 cm, faintly veined.
fn checkerboard(a: Vec3, b: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let square = (u * 4.0).floor() as i32 + (v * 4.0).floor() as i32;
            let stone = if square % 2 == 0 { a } else { b };
            stone * (0.92 + 0.12 * noise(u * 2.0, v * 2.0, 8, 47))
        }),
        repeat: 160.0,
    }
}

/// Art deco fans: rows of concentric gold half-rings on a deep ground, each row offset.
fn deco_fans(ground: Vec3, gold: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let (x, y) = (u * 4.0, v * 4.0);
            let shift = if (y.floor() as i32) % 2 == 0 {
                0.0
            } else {
                0.5
            };
            let (dx, dy) = ((x + shift).fract() - 0.5, 1.0 - y.fract());
            let r = (dx * dx + dy * dy).sqrt();
            if r < 0.5 && ((r * 7.0).fract() < 0.2 || dx.abs() < 0.015) {
                gold
            } else {
                ground * (0.95 + 0.05 * noise(u, v, 8, 53))
            }
        }),
        repeat: 100.0,
    }
}

/// Damask wallpaper: a lobed medallion in a second tone, rows offset.
fn damask(ground: Vec3, motif: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let (x, y) = (u * 4.0, v * 4.0);
            let shift = if (y.floor() as i32) % 2 == 0 {
                0.0
            } else {
                0.5
            };
            let (dx, dy) = ((x + shift).fract() - 0.5, y.fract() - 0.5);
            let r = (dx * dx + dy * dy).sqrt();
            let edge = 0.3 + 0.09 * (4.0 * dy.atan2(dx)).cos();
            if (r < edge && r > edge - 0.07) || r < 0.08 {
                motif
            } else {
                ground
            }
        }),
        repeat: 80.0,
    }
}

/// Chevron parquet: short planks at 45 degrees, mirrored from one column to the next.
fn chevron(colour: Vec3, contrast: f32) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let column = (u * 6.0).floor() as i32;
            let across = (u * 6.0).fract();
            let slope = if column % 2 == 0 {
                across
            } else {
                1.0 - across
            };
            let along = v * 12.0 + slope;
            if across < 0.04 || along.fract() < 0.08 {
                return colour * (1.0 - 0.4 * contrast.max(0.3));
            }
            let tone = 1.0 + contrast * (hash(column, along.floor() as i32, 59) - 0.5);
            colour * tone * (0.94 + 0.06 * noise(u * 6.0, v * 6.0, 24, 61))
        }),
        repeat: 90.0,
    }
}

/// Palm and banana leaves, dark and light, scattered over a pale ground.
fn leaves(ground: Vec3, dark: Vec3, light: Vec3) -> Finish {
    const CELLS: i32 = 3;
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let (x, y) = (u * CELLS as f32, v * CELLS as f32);
            let (cx, cy) = (x.floor() as i32, y.floor() as i32);
            let mut colour = ground;
            for (i, j) in (-1..=1).flat_map(|i| (-1..=1).map(move |j| (cx + i, cy + j))) {
                let cell = (i.rem_euclid(CELLS), j.rem_euclid(CELLS));
                let centre = (
                    i as f32 + hash(cell.0, cell.1, 67),
                    j as f32 + hash(cell.0, cell.1, 71),
                );
                let angle = hash(cell.0, cell.1, 73) * std::f32::consts::PI;
                let (dx, dy) = (x - centre.0, y - centre.1);
                let (a, b) = (
                    dx * angle.cos() + dy * angle.sin(),
                    dy * angle.cos() - dx * angle.sin(),
                );
                if (a / 0.75).powi(2) + (b / 0.24).powi(2) < 1.0 {
                    let leaf = if hash(cell.0, cell.1, 79) < 0.5 {
                        dark
                    } else {
                        light
                    };
                    colour = if b.abs() < 0.015 { ground } else { leaf };
                }
            }
            colour
        }),
        repeat: 120.0,
    }
}

/// Harlequin wallpaper: diamonds of two colours outlined in a third.
fn harlequin(a: Vec3, b: Vec3, line: Vec3) -> Finish {
    Finish {
        texture: Texture::paint(FINISH_TEXELS, |u, v| {
            let (dx, dy) = ((u * 4.0).fract() - 0.5, (v * 3.0).fract() - 0.5);
            let d = dx.abs() + dy.abs();
            if (d - 0.5).abs() < 0.035 {
                line
            } else if d < 0.5 {
                a
            } else {
                b
            }
        }),
        repeat: 90.0,
    }
}

/// Rug designs, mapped once over the rug.
enum Rug {
    /// A border and a field of diamonds in several colours (kilim).
    Kilim([u32; 4]),
    /// Bands across the rug.
    Stripes([u32; 2], f32),
    /// Checks.
    Checks([u32; 2]),
    /// Circles on a field.
    Dots([u32; 2]),
    /// Offset blocks.
    Blocks([u32; 3]),
}

fn rug(design: Rug) -> Texture {
    Texture::paint(FINISH_TEXELS, |u, v| {
        let border = u.min(1.0 - u).min(v.min(1.0 - v));
        let fibre = 0.92 + 0.08 * noise(u, v, 64, 31);
        let c = match &design {
            Rug::Kilim(c) => {
                if border < 0.06 {
                    rgb(c[0])
                } else {
                    let (du, dv) = (
                        ((u * 4.0).fract() - 0.5).abs(),
                        ((v * 6.0).fract() - 0.5).abs(),
                    );
                    let d = du + dv;
                    if d < 0.18 {
                        rgb(c[1])
                    } else if d < 0.32 {
                        rgb(c[2])
                    } else {
                        rgb(c[3])
                    }
                }
            }
            Rug::Stripes(c, n) => rgb(c[((v * n).floor() as usize) % 2]),
            Rug::Checks(c) => rgb(c[((u * 6.0).floor() as usize + (v * 8.0).floor() as usize) % 2]),
            Rug::Dots(c) => {
                let (du, dv) = ((u * 4.0).fract() - 0.5, (v * 5.0).fract() - 0.5);
                rgb(c[usize::from(du * du + dv * dv < 0.09)])
            }
            Rug::Blocks(c) => {
                if border < 0.05 {
                    rgb(c[0])
                } else {
                    let cell = hash((u * 3.0) as i32, (v * 4.0) as i32, 37);
                    rgb(c[1 + usize::from(cell > 0.6)])
                }
            }
        };
        c * fibre
    })
}

/// Abstract paintings in a palette: soft fields of colour with a few shapes.
fn artworks(palette: [u32; 4], seed: u32) -> Vec<Texture> {
    (0..ARTWORKS as u32)
        .map(|k| {
            let salt = seed * 16 + k;
            Texture::paint(32, |u, v| {
                let field = noise(u, v, 3, salt);
                let shape = noise(u, v, 2, salt + 101);
                let pick = ((field * 2.0 + shape * 2.0) as usize + k as usize) % 4;
                rgb(palette[pick])
            })
        })
        .collect()
}

impl Look {
    pub fn of(style: Style) -> Look {
        let tint = |r: f32, g: f32, b: f32, saturation: f32| Tint {
            multiply: Vec3::new(r, g, b),
            saturation,
        };
        match style {
            Style::Modern => Look {
                wall: plain(rgb(0xdedfe2), 0.03),
                floor: tiles(rgb(0x55575c), rgb(0x8a8c90)),
                ceiling: rgb(0xf2f2f2),
                trim: rgb(0x2a2a2e),
                furniture: tint(0.95, 0.95, 1.0, 0.75),
                rug: Some(rug(Rug::Blocks([0x1e1e22, 0x9a9ca2, 0xc8cacd]))),
                artworks: artworks([0x111111, 0xf4f4f4, 0xd22b2b, 0x8d9196], 1),
                light: rgb(0xfbfcff),
                clutter: 0.8,
                preferred: &[
                    "glass",
                    "modern",
                    "contemporary",
                    "leather",
                    "black",
                    "clear",
                ],
            },
            Style::Minimalist => Look {
                wall: plain(rgb(0xf7f6f2), 0.02),
                floor: plain(rgb(0xe4dfd4), 0.06),
                ceiling: rgb(0xfafafa),
                trim: rgb(0xf0efea),
                furniture: tint(1.05, 1.05, 1.05, 0.25),
                rug: None,
                artworks: artworks([0xf5f5f2, 0xe0ded8, 0x2b2b2b, 0xcfcac0], 2),
                light: rgb(0xffffff),
                clutter: 0.35,
                preferred: &["white", "simple", "modern", "clear"],
            },
            Style::Scandinavian => Look {
                wall: plain(rgb(0xf1eee7), 0.03),
                floor: planks(rgb(0xdcc196), 0.12),
                ceiling: rgb(0xfbfaf6),
                trim: rgb(0xfaf9f5),
                furniture: tint(1.06, 1.02, 0.94, 0.6),
                rug: Some(rug(Rug::Stripes([0xe9e7e1, 0xb9b6ae], 14.0))),
                artworks: artworks([0xe8d5c4, 0x9fb7b0, 0x5f6b6d, 0xf0ede6], 3),
                light: rgb(0xfff9f0),
                clutter: 0.8,
                preferred: &["oak", "wood", "white", "chair", "plant"],
            },
            Style::Industrial => Look {
                wall: brick(rgb(0x98503a), rgb(0xbdb3a6)),
                floor: concrete(rgb(0x7a7874)),
                ceiling: rgb(0x505256),
                trim: rgb(0x232325),
                furniture: tint(0.8, 0.8, 0.86, 0.5),
                rug: Some(rug(Rug::Blocks([0x2a2624, 0x5a4a40, 0x3e3a38]))),
                artworks: artworks([0x1a1a1a, 0x8c8c8c, 0xc4a35a, 0x4a4a4a], 4),
                light: rgb(0xfff1da),
                clutter: 0.9,
                preferred: &[
                    "iron",
                    "metal",
                    "leather",
                    "black",
                    "workbench",
                    "technical",
                ],
            },
            Style::Bohemian => Look {
                wall: plain(rgb(0xcc7b4c), 0.08),
                floor: planks(rgb(0x96603a), 0.2),
                ceiling: rgb(0xf3e6d4),
                trim: rgb(0x6e4022),
                furniture: tint(1.12, 0.96, 0.78, 1.35),
                rug: Some(rug(Rug::Kilim([0x7a1f2b, 0xe8aa34, 0x24767a, 0xb22834]))),
                artworks: artworks([0xb22834, 0xe8aa34, 0x24767a, 0x5b2a6e], 5),
                light: rgb(0xffe8c8),
                clutter: 1.5,
                preferred: &["rattan", "plant", "armchair", "puff", "lamp", "oriental"],
            },
            Style::MidCentury => Look {
                wall: panels(rgb(0x3c7a76)),
                floor: planks(rgb(0x7c4e2c), 0.15),
                ceiling: rgb(0xf4efe4),
                trim: rgb(0x5a3418),
                furniture: tint(1.1, 0.92, 0.72, 1.1),
                rug: Some(rug(Rug::Dots([0xd99a2b, 0xf1e2c0]))),
                artworks: artworks([0xd9822b, 0x3c7a76, 0xe8c547, 0x2d2a26], 6),
                light: rgb(0xfff0dc),
                clutter: 1.0,
                preferred: &["mid-century", "teak", "walnut", "wooden", "armchair"],
            },
            Style::Coastal => Look {
                wall: stripes(rgb(0x9cc8e0), rgb(0xdcebf3)),
                floor: planks(rgb(0xe6dccb), 0.08),
                ceiling: rgb(0xfcfdfd),
                trim: rgb(0xffffff),
                furniture: tint(0.92, 0.99, 1.1, 0.8),
                rug: Some(rug(Rug::Stripes([0x2f5f8a, 0xf4efe4], 9.0))),
                artworks: artworks([0x2f5f8a, 0x8fc1d4, 0xe9dcc3, 0xffffff], 7),
                light: rgb(0xf6fbff),
                clutter: 0.9,
                preferred: &["white", "rattan", "wicker", "plant", "clear"],
            },
            Style::Rustic => Look {
                wall: logs(rgb(0xa87a4c)),
                floor: planks(rgb(0x5e3c22), 0.25),
                ceiling: rgb(0x8a6440),
                trim: rgb(0x3e2614),
                furniture: tint(1.06, 0.9, 0.72, 0.9),
                rug: Some(rug(Rug::Checks([0x8a2a22, 0x3a2a1e]))),
                artworks: artworks([0x5e3c22, 0x8a2a22, 0xc9a66b, 0x2e3b26], 8),
                light: rgb(0xffe4c0),
                clutter: 1.1,
                preferred: &["wood", "oak", "winchester", "chest", "trestles", "barrel"],
            },
            Style::Japandi => Look {
                wall: plain(rgb(0xcfc3b0), 0.05),
                floor: tatami(rgb(0xc4b682), rgb(0x33302a)),
                ceiling: rgb(0xe9e0d0),
                trim: rgb(0x3a332c),
                furniture: tint(1.0, 0.95, 0.86, 0.45),
                rug: Some(rug(Rug::Stripes([0x3b3835, 0xd9cfbf], 4.0))),
                artworks: artworks([0x2b2b2b, 0xd9cfbf, 0x8a6f52, 0x6f7d6a], 9),
                light: rgb(0xfff3e2),
                clutter: 0.5,
                preferred: &["wood", "oak", "bamboo", "bonsai", "low", "walnut"],
            },
            Style::Farmhouse => Look {
                wall: shiplap(rgb(0xf3efe6)),
                floor: planks(rgb(0x8b6445), 0.3),
                ceiling: rgb(0xfbf8f2),
                trim: rgb(0xfdfcf8),
                furniture: tint(1.05, 0.98, 0.9, 0.7),
                rug: Some(rug(Rug::Checks([0x2a2a2a, 0xe9e4d8]))),
                artworks: artworks([0x6f7f5f, 0xe9e4d8, 0x8b6445, 0x3a3a3a], 10),
                light: rgb(0xfff4e4),
                clutter: 1.0,
                preferred: &["wood", "farm", "chest", "white", "bench", "basket"],
            },
            Style::ArtDeco => Look {
                wall: deco_fans(rgb(0x14463c), rgb(0xc9a24a)),
                floor: checkerboard(rgb(0x151515), rgb(0xeeeae2)),
                ceiling: rgb(0xe8dcc0),
                trim: rgb(0xc9a24a),
                furniture: tint(0.95, 0.9, 0.95, 1.2),
                rug: Some(rug(Rug::Blocks([0xc9a24a, 0x101820, 0x14463c]))),
                artworks: artworks([0xc9a24a, 0x101010, 0x14463c, 0xe8dcc0], 11),
                light: rgb(0xfff0d8),
                clutter: 0.9,
                preferred: &["velvet", "gold", "glass", "round", "leather", "chandelier"],
            },
            Style::Traditional => Look {
                wall: damask(rgb(0x6e2430), rgb(0xa8844e)),
                floor: chevron(rgb(0x6b4226), 0.2),
                ceiling: rgb(0xf1e8d6),
                trim: rgb(0xf3ecdc),
                furniture: tint(1.08, 0.92, 0.8, 1.05),
                rug: Some(rug(Rug::Kilim([0x1f2a4a, 0x8a1f2b, 0xd9c08a, 0x6e2430]))),
                artworks: artworks([0x3b4a2a, 0x8a6a3a, 0x1f2a4a, 0xd9c08a], 12),
                light: rgb(0xffe9c8),
                clutter: 1.2,
                preferred: &[
                    "classic",
                    "chesterfield",
                    "winchester",
                    "wooden",
                    "chest",
                    "chandelier",
                ],
            },
            Style::Contemporary => Look {
                wall: plain(rgb(0x8e9590), 0.04),
                floor: planks(rgb(0xd2bf9f), 0.06),
                ceiling: rgb(0xf7f7f5),
                trim: rgb(0x1c1c1c),
                furniture: tint(1.0, 0.99, 0.97, 0.8),
                rug: Some(rug(Rug::Blocks([0x2b2b2b, 0xcf9a3a, 0xb9b4ab]))),
                artworks: artworks([0x1c1c1c, 0xcf9a3a, 0xe8e4de, 0x5d6b66], 13),
                light: rgb(0xfdfbf6),
                clutter: 0.7,
                preferred: &["modern", "contemporary", "glass", "leather", "round"],
            },
            Style::Mediterranean => Look {
                wall: concrete(rgb(0xf2e8d5)),
                // Terracotta tiles of 30 cm.
                floor: Finish {
                    repeat: 60.0,
                    ..tiles(rgb(0xb4603a), rgb(0xe3d4bd))
                },
                ceiling: rgb(0xf4eee2),
                trim: rgb(0x1f4e8c),
                furniture: tint(1.05, 0.97, 0.88, 1.0),
                rug: Some(rug(Rug::Kilim([0x1f4e8c, 0xe8b84a, 0xf4eee2, 0x2f7f9a]))),
                artworks: artworks([0x1f4e8c, 0xe8b84a, 0xb4603a, 0xf4eee2], 14),
                light: rgb(0xfff2d6),
                clutter: 1.0,
                preferred: &["wrought", "iron", "wood", "terracotta", "plant", "rattan"],
            },
            Style::Tropical => Look {
                wall: leaves(rgb(0xe9e4cf), rgb(0x2e5e34), rgb(0x5f9a4a)),
                floor: planks(rgb(0xb07f4f), 0.15),
                ceiling: rgb(0xf6f1e4),
                trim: rgb(0x6b4a2b),
                furniture: tint(1.06, 1.0, 0.85, 1.15),
                rug: Some(rug(Rug::Stripes([0xd9c7a0, 0x3f7a4a], 6.0))),
                artworks: artworks([0x2e5e34, 0xe07a3a, 0xf2c14e, 0x1f8a8a], 15),
                light: rgb(0xfff6e0),
                clutter: 1.2,
                preferred: &["rattan", "wicker", "bamboo", "plant", "palm", "teak"],
            },
            Style::Maximalist => Look {
                wall: harlequin(rgb(0x7a1f5c), rgb(0xe0902a), rgb(0x1b1b3a)),
                floor: checkerboard(rgb(0x1f5c4a), rgb(0xe8d8b0)),
                ceiling: rgb(0x2b6f73),
                trim: rgb(0xd4a017),
                furniture: tint(1.1, 0.9, 1.0, 1.6),
                rug: Some(rug(Rug::Dots([0xc2185b, 0xf2c14e]))),
                artworks: artworks([0xc2185b, 0xf2c14e, 0x1f8a8a, 0x5b2a6e], 16),
                light: rgb(0xffeeda),
                clutter: 1.7,
                preferred: &["velvet", "oriental", "armchair", "plant", "lamp", "puff"],
            },
        }
    }
}
