//! The Sweet Home 3D furniture catalogs as Debian ships them: `.sh3f` libraries (zips with a
//! `PluginFurnitureCatalog.properties`) and the default catalog inside `sweethome3d.jar`.
//! Each entry keeps its labels, size, creator and icon (a 128 px PNG render of the model).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

const PLUGIN_PROPERTIES: &str = "PluginFurnitureCatalog.properties";
const DEFAULT_PROPERTIES: &str = "com/eteks/sweethome3d/io/DefaultFurnitureCatalog.properties";
/// The default catalog ships inside the GPL application (Debian's copyright file for
/// `sweethome3d` puts everything not listed otherwise under GPL-2+).
const DEFAULT_CATALOG_LICENSE: &str = "GNU GPL 2 or later (Sweet Home 3D default catalog)";

#[derive(Clone, Debug)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    /// Sweet Home 3D's category ("Bedroom", "Kitchen", "Living room", ...).
    pub category: String,
    pub tags: Vec<String>,
    /// Centimetres.
    pub width: f32,
    pub depth: f32,
    pub height: f32,
    /// Height of the piece's bottom above the floor, centimetres (wall cabinets, windows).
    pub elevation: f32,
    pub door_or_window: bool,
    pub creator: Option<String>,
    /// The entry's own licence where it names one, else its library's.
    pub license: String,
    /// The icon as stored: PNG bytes.
    pub icon: Vec<u8>,
    /// Where the icon is inside the library's zip, without the leading `/`.
    pub icon_path: String,
    /// Path of the OBJ model inside the library's zip, without the leading `/`.
    pub model: String,
    /// Row-major 3x3 rotation that turns the OBJ into Sweet Home 3D's orientation (y up, the
    /// front facing +z), where the model needs one.
    pub model_rotation: Option<[f32; 9]>,
}

impl CatalogEntry {
    /// Floor area in square metres, a fair measure of how much of a room it anchors.
    pub fn footprint(&self) -> f32 {
        self.width * self.depth / 10_000.0
    }
}

#[derive(Clone, Debug)]
pub struct Library {
    pub file: PathBuf,
    pub name: String,
    pub license: String,
    pub entries: Vec<CatalogEntry>,
}

impl Library {
    /// Creative Commons or public-domain content, which the committed weights may be
    /// trained on without carrying a copyleft licence.
    pub fn is_open_content(&self) -> bool {
        self.license.contains("Creative Commons") || self.license.contains("Public domain")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: entry {index} lacks '{key}'")]
    Missing {
        path: PathBuf,
        index: usize,
        key: &'static str,
    },
    #[error(
        "no furniture catalog under {0}; run `make data` to fetch Debian's sweethome3d packages"
    )]
    NotFound(PathBuf),
}

/// Reads one library (`.sh3f`) or the default catalog (`sweethome3d.jar`).
pub fn read_library(path: &Path) -> Result<Library, CatalogError> {
    let read_err = |message: String| CatalogError::Read {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| read_err(e.to_string()))?;
    let properties_name = if zip.index_for_name(PLUGIN_PROPERTIES).is_some() {
        PLUGIN_PROPERTIES
    } else {
        DEFAULT_PROPERTIES
    };
    let properties = {
        let entry = zip
            .by_name(properties_name)
            .map_err(|e| read_err(format!("{properties_name}: {e}")))?;
        java_properties::read(entry).map_err(|e| read_err(format!("{properties_name}: {e}")))?
    };

    let license = if properties_name == DEFAULT_PROPERTIES {
        DEFAULT_CATALOG_LICENSE.to_string()
    } else {
        properties
            .get("license")
            .cloned()
            .unwrap_or_else(|| "unknown".into())
    };
    let mut entries = Vec::new();
    for index in 1.. {
        let key = |name: &str| format!("{name}#{index}");
        let Some(id) = properties.get(&key("id")) else {
            break;
        };
        let get = |name: &'static str| {
            properties
                .get(&key(name))
                .cloned()
                .ok_or(CatalogError::Missing {
                    path: path.to_path_buf(),
                    index,
                    key: name,
                })
        };
        let number = |name: &'static str| -> Result<f32, CatalogError> {
            get(name)?
                .trim()
                .parse()
                .map_err(|_| read_err(format!("entry {index}: '{name}' is not a number")))
        };
        let optional_number =
            |name: &'static str| -> Result<Option<f32>, CatalogError> {
                match properties.get(&key(name)) {
                    None => Ok(None),
                    Some(v) => v.trim().parse().map(Some).map_err(|_| {
                        read_err(format!("entry {index}: '{name}' is not a number: {v}"))
                    }),
                }
            };
        let model_rotation = match properties.get(&key("modelRotation")) {
            None => None,
            Some(v) => Some(parse_rotation(v).ok_or_else(|| {
                read_err(format!(
                    "entry {index}: 'modelRotation' is not 9 numbers: {v}"
                ))
            })?),
        };
        let icon_path = get("icon")?;
        let mut icon = Vec::new();
        zip.by_name(icon_path.trim_start_matches('/'))
            .map_err(|e| read_err(format!("icon {icon_path}: {e}")))?
            .read_to_end(&mut icon)
            .map_err(|e| read_err(format!("icon {icon_path}: {e}")))?;
        entries.push(CatalogEntry {
            id: id.clone(),
            name: get("name")?,
            category: get("category")?,
            tags: properties
                .get(&key("tags"))
                .map(|t| {
                    t.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            width: number("width")?,
            depth: number("depth")?,
            height: number("height")?,
            elevation: optional_number("elevation")?.unwrap_or(0.0),
            door_or_window: properties
                .get(&key("doorOrWindow"))
                .is_some_and(|v| v == "true"),
            creator: properties.get(&key("creator")).cloned(),
            license: properties
                .get(&key("license"))
                .cloned()
                .unwrap_or_else(|| license.clone()),
            icon,
            icon_path: icon_path.trim_start_matches('/').to_string(),
            model: get("model")?.trim_start_matches('/').to_string(),
            model_rotation,
        });
    }
    Ok(Library {
        file: path.to_path_buf(),
        name: properties
            .get("name")
            .cloned()
            .unwrap_or_else(|| "Sweet Home 3D default catalog".into()),
        license,
        entries,
    })
}

fn parse_rotation(text: &str) -> Option<[f32; 9]> {
    let numbers: Vec<f32> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    numbers.try_into().ok()
}

/// Every library under `root` (an unpacked Debian package tree or any folder holding `.sh3f`
/// files and `sweethome3d.jar`), sorted by file name so the order never depends on the disk.
pub fn read_all(root: &Path) -> Result<Vec<Library>, CatalogError> {
    let mut files = Vec::new();
    collect_catalog_files(root, &mut files);
    if files.is_empty() {
        return Err(CatalogError::NotFound(root.to_path_buf()));
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files.iter().map(|f| read_library(f)).collect()
}

fn collect_catalog_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_catalog_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "sh3f")
            || path.file_name().is_some_and(|n| n == "sweethome3d.jar")
        {
            out.push(path);
        }
    }
}

/// Writes `library` to `out` with only the entries `keep` accepts: a properties file that
/// lists them alone (renumbered in their order, so they read back in the same order), their
/// icons, each one's model folder (OBJ, MTL, textures) copied byte for byte without
/// recompressing, and the library's other top-level files (its licence). A GPU machine that
/// cannot reach Debian gets the pieces the scene engine draws in a fraction of the packages'
/// 140 MB. Returns the number of entries kept.
pub fn write_subset(
    library: &Library,
    keep: impl Fn(&CatalogEntry) -> bool,
    out: &Path,
) -> Result<usize, CatalogError> {
    let error = |path: &Path, e: &dyn std::fmt::Display| CatalogError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let source = &library.file;
    let file = std::fs::File::open(source).map_err(|e| error(source, &e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| error(source, &e))?;
    let properties = java_properties::read(
        zip.by_name(PLUGIN_PROPERTIES)
            .map_err(|e| error(source, &format!("{PLUGIN_PROPERTIES}: {e}")))?,
    )
    .map_err(|e| error(source, &e))?;
    // `entries[i]` was read from the keys numbered i + 1.
    let kept: Vec<(usize, &CatalogEntry)> = library
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| keep(e))
        .map(|(i, e)| (i + 1, e))
        .collect();
    let renumbered: HashMap<usize, usize> = kept
        .iter()
        .enumerate()
        .map(|(new, (old, _))| (*old, new + 1))
        .collect();
    let mut lines: Vec<(String, &String)> = properties
        .iter()
        .filter_map(|(key, value)| match key.rsplit_once('#') {
            Some((name, number)) => {
                let number = number.parse::<usize>().ok()?;
                let new = renumbered.get(&number)?;
                Some((format!("{name}#{new}"), value))
            }
            None => Some((key.clone(), value)),
        })
        .collect();
    lines.sort();

    // A model's folder, with its slash: "scopia/bed1/" must not take "scopia/bed10/".
    let folders: Vec<String> = kept
        .iter()
        .filter_map(|(_, e)| {
            e.model
                .rsplit_once('/')
                .map(|(folder, _)| format!("{folder}/"))
        })
        .collect();
    let files: std::collections::HashSet<&str> = kept
        .iter()
        .flat_map(|(_, e)| [e.icon_path.as_str(), e.model.as_str()])
        .collect();
    let target = std::fs::File::create(out).map_err(|e| error(out, &e))?;
    let mut writer = zip::ZipWriter::new(std::io::BufWriter::new(target));
    writer
        .start_file(PLUGIN_PROPERTIES, zip::write::SimpleFileOptions::default())
        .map_err(|e| error(out, &e))?;
    {
        let mut properties_out = java_properties::PropertiesWriter::new(&mut writer);
        for (key, value) in &lines {
            properties_out
                .write(key, value)
                .map_err(|e| error(out, &e))?;
        }
        properties_out.finish().map_err(|e| error(out, &e))?;
    }
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|e| error(source, &e))?;
        let name = entry.name().map_err(|e| error(source, &e))?.into_owned();
        // The translations list every entry by its old number: left out with the rest.
        let top_level = !name.contains('/') && !name.ends_with(".properties");
        if top_level
            || files.contains(name.as_str())
            || folders.iter().any(|f| name.starts_with(f.as_str()))
        {
            writer.raw_copy_file(entry).map_err(|e| error(out, &e))?;
        }
    }
    writer.finish().map_err(|e| error(out, &e))?;
    Ok(kept.len())
}

/// Entries per category across libraries, for reports.
pub fn count_by_category(libraries: &[Library]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for entry in libraries.iter().flat_map(|l| &l.entries) {
        *counts.entry(entry.category.clone()).or_insert(0) += 1;
    }
    counts
}
