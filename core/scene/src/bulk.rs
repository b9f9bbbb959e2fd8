//! Scenes in bulk: many renders in parallel (rayon), in order, and the contact sheet.

use crate::compose::{Extremes, Scene};
use crate::{Render, SceneEngine, SceneError};
use ::image::RgbImage;
use designer_core::labels::{RoomType, Style, Vocabulary};
use designer_core::progress::Progress;
use designer_core::sheet::grid;
use rayon::prelude::*;

/// Renders every (room type, style, seed) job in parallel, in order.
pub fn render_many(
    engine: &SceneEngine,
    jobs: impl Iterator<Item = (RoomType, Style, u64)>,
    size: u32,
) -> Result<Vec<Render>, SceneError> {
    let ordinary = jobs.map(|(room, style, seed)| (room, style, seed, Extremes::default()));
    render_many_at(engine, ordinary, size)
}

/// [`render_many`], each room and camera at the ends of their ranges where its job's
/// [`Extremes`] say so (the eval's hardest photos).
pub fn render_many_at(
    engine: &SceneEngine,
    jobs: impl Iterator<Item = (RoomType, Style, u64, Extremes)>,
    size: u32,
) -> Result<Vec<Render>, SceneError> {
    let jobs: Vec<_> = jobs.collect();
    let scenes = jobs
        .into_par_iter()
        .map(|(room, style, seed, extremes)| engine.compose_at(room, style, seed, extremes))
        .collect();
    render_scenes(engine, scenes, size)
}

/// Renders composed scenes in parallel, in order (scenes a caller has changed: the eval's
/// rooms with their anchor piece taken out).
pub fn render_scenes(
    engine: &SceneEngine,
    scenes: Vec<Scene>,
    size: u32,
) -> Result<Vec<Render>, SceneError> {
    scenes
        .into_par_iter()
        .map(|scene| engine.rendered(scene, size))
        .collect()
}

/// The contact sheet of the engine's rooms (`designer scenes --sheet`): every room type (rows)
/// in every style (columns) at `size` px, all from `seed`, so a row is one room dressed in
/// each style. Rendered in parallel, then laid out.
pub fn sheet(
    engine: &SceneEngine,
    size: u32,
    seed: u64,
    progress: &mut dyn Progress,
) -> Result<RgbImage, SceneError> {
    progress.stage("rendering", 0);
    let jobs = RoomType::ALL
        .iter()
        .flat_map(|room| Style::ALL.iter().map(move |style| (*room, *style, seed)));
    let mut renders = render_many(engine, jobs, size)?.into_iter();
    grid(&Vocabulary::default(), size, progress, |_, _| {
        Ok(renders.next().expect("one render per cell").image)
    })
}
