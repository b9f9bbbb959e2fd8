//! Contact sheets: every room type (rows) in every style (columns), one cell each, so that a
//! person can judge a model (or the scene engine) at a glance; and restyled photos, one row
//! each: the photo, its edge map, and its designs in a few styles.

use crate::generate::Designer;
use crate::image::{encode_png, rgb_to_tensor, to_base64};
use crate::labels::{RoomType, Style, Vocabulary};
use crate::progress::Progress;
use crate::request::{DesignError, DesignRequest};
use ::image::{Rgb, RgbImage};

/// White between the cells, in pixels.
const GAP: u32 = 2;

/// The grid of `cell`-pixel images that `image_at(room, style)` draws for the vocabulary's
/// room types (rows) and styles (columns).
pub fn grid<E>(
    vocabulary: &Vocabulary,
    cell: u32,
    progress: &mut dyn Progress,
    mut image_at: impl FnMut(RoomType, Style) -> Result<RgbImage, E>,
) -> Result<RgbImage, E> {
    let (rooms, styles) = (&vocabulary.room_types, &vocabulary.styles);
    let columns = styles.len();
    let mut sheet = blank(rooms.len(), columns, cell);
    let total = (rooms.len() * columns) as u64;
    progress.stage("sheet", total);
    for (row, room) in rooms.iter().enumerate() {
        for (column, style) in styles.iter().enumerate() {
            place(&mut sheet, &image_at(*room, *style)?, row, column, cell);
            progress.set((row * columns + column + 1) as u64, total);
        }
    }
    Ok(sheet)
}

/// A white sheet for `rows` x `columns` cells of `cell` pixels.
fn blank(rows: usize, columns: usize, cell: u32) -> RgbImage {
    RgbImage::from_pixel(
        columns as u32 * (cell + GAP) + GAP,
        rows as u32 * (cell + GAP) + GAP,
        Rgb([255, 255, 255]),
    )
}

fn place(sheet: &mut RgbImage, image: &RgbImage, row: usize, column: usize, cell: u32) {
    let at = |i: usize| i64::from(GAP + i as u32 * (cell + GAP));
    ::image::imageops::replace(sheet, image, at(column), at(row));
}

/// One row per photo (`like.size` pixels square, with the room type it shows): the photo, its
/// edge map (what a layout-keeping design follows, white on black), and its design in each of
/// `styles`, as requests like `like` (its `keep`, steps, guidance) with seed `seed + row` ask.
pub fn restyles(
    designer: &Designer,
    photos: &[(RgbImage, RoomType)],
    styles: &[Style],
    like: &DesignRequest,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<RgbImage, DesignError> {
    let cell = like.size;
    let side = cell as usize;
    let mut sheet = blank(photos.len(), styles.len() + 2, cell);
    let total = (photos.len() * styles.len()) as u64;
    progress.stage("restyling", total);
    for (row, (photo, room)) in photos.iter().enumerate() {
        place(&mut sheet, photo, row, 0, cell);
        let map = crate::layout::edge_map(&rgb_to_tensor(photo), side, side);
        let edges = RgbImage::from_fn(cell, cell, |x, y| {
            Rgb([(map[y as usize * side + x as usize] * 255.0) as u8; 3])
        });
        place(&mut sheet, &edges, row, 1, cell);
        for (column, style) in styles.iter().enumerate() {
            let request = DesignRequest {
                room_type: *room,
                style: *style,
                variations: 1,
                seed: seed + row as u64,
                photo: Some(to_base64(&encode_png(photo))),
                ..like.clone()
            };
            let design = designer.generate_images(&request)?.remove(0);
            place(&mut sheet, &design, row, column + 2, cell);
            progress.set((row * styles.len() + column + 1) as u64, total);
        }
    }
    Ok(sheet)
}

/// The sheet of `designer`'s designs, for the labels it knows, for requests like `like` (its steps, guidance, size,
/// sampler): one design per cell, column c from seed `seed + c`, so a column's rooms share a
/// seed and a row shows one room type across the styles.
pub fn designs(
    designer: &Designer,
    like: &DesignRequest,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<RgbImage, DesignError> {
    grid(designer.vocabulary(), like.size, progress, |room, style| {
        let request = DesignRequest {
            room_type: room,
            style,
            variations: 1,
            seed: seed + style.id() as u64,
            ..like.clone()
        };
        Ok(designer.generate_images(&request)?.remove(0))
    })
}
