//! The real Sweet Home 3D catalogs (`make data` fetches them into .cache/catalog, or
//! DESIGNER_CATALOG names another folder), read and loaded once per test binary.

use designer_scene::SceneEngine;
use designer_scene::catalog::{self, Library};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub fn libraries() -> &'static [Library] {
    static LIBRARIES: OnceLock<Vec<Library>> = OnceLock::new();
    LIBRARIES.get_or_init(|| {
        let root = std::env::var_os("DESIGNER_CATALOG")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/catalog")
            });
        catalog::read_all(&root).unwrap_or_else(|e| panic!("{e}"))
    })
}

pub fn engine() -> Arc<SceneEngine> {
    static ENGINE: OnceLock<Arc<SceneEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(SceneEngine::load(libraries()).unwrap()))
        .clone()
}
