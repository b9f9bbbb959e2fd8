//! Contact sheets: every room type (rows) in every style (columns), one cell each, so that a
//! person can judge a model (or the scene engine) at a glance.

use crate::generate::Designer;
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
    let (rows, columns) = (rooms.len() as u32, styles.len() as u32);
    let mut sheet = RgbImage::from_pixel(
        columns * (cell + GAP) + GAP,
        rows * (cell + GAP) + GAP,
        Rgb([255, 255, 255]),
    );
    let total = u64::from(rows * columns);
    progress.stage("sheet", total);
    for (row, room) in rooms.iter().enumerate() {
        for (column, style) in styles.iter().enumerate() {
            let image = image_at(*room, *style)?;
            ::image::imageops::replace(
                &mut sheet,
                &image,
                i64::from(GAP + column as u32 * (cell + GAP)),
                i64::from(GAP + row as u32 * (cell + GAP)),
            );
            progress.set((row * columns as usize + column + 1) as u64, total);
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
