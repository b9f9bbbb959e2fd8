//! Catalog models: OBJ + MTL (+ textures) read straight from a library's zip with `tobj`,
//! turned into Sweet Home 3D's orientation and scaled to the size the catalog gives, so a
//! piece's box is exactly [-w/2, w/2] x [0, h] x [-d/2, d/2] centimetres, its front facing +z.

use super::texture::Texture;
use glam::{Mat3, Vec2, Vec3};
use std::collections::HashMap;
use std::io::{BufReader, Cursor, Read};
use std::path::Path;
use std::sync::Arc;

/// Textures are shrunk to this on load: a piece covers a few dozen pixels of a render.
const TEXTURE_SIZE: u32 = 64;

#[derive(Clone, Debug)]
pub struct Material {
    /// Diffuse colour, 0..1 sRGB.
    pub colour: Vec3,
    pub texture: Option<Arc<Texture>>,
}

#[derive(Clone, Copy, Debug)]
pub struct Vertex {
    pub position: Vec3,
    /// Zero where the OBJ gives none: the rasterizer then uses the face normal.
    pub normal: Vec3,
    pub uv: Vec2,
}

/// Triangles that share a material.
#[derive(Clone, Debug)]
pub struct Part {
    pub material: usize,
    pub triangles: Vec<[u32; 3]>,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub vertices: Vec<Vertex>,
    pub parts: Vec<Part>,
    pub materials: Vec<Material>,
}

impl Model {
    pub fn triangle_count(&self) -> usize {
        self.parts.iter().map(|p| p.triangles.len()).sum()
    }

    /// Axis-aligned bounds of the vertices that some triangle uses.
    pub fn bounds(&self) -> (Vec3, Vec3) {
        let mut used = vec![false; self.vertices.len()];
        for t in self.parts.iter().flat_map(|p| &p.triangles) {
            for &i in t {
                used[i as usize] = true;
            }
        }
        self.vertices.iter().zip(used).filter(|(_, u)| *u).fold(
            (Vec3::splat(f32::MAX), Vec3::splat(f32::MIN)),
            |(lo, hi), (v, _)| (lo.min(v.position), hi.max(v.position)),
        )
    }

    /// Rotates by Sweet Home 3D's `modelRotation` (row-major), then scales and moves the model
    /// so its box is `size` (width, height, depth) standing on y = 0, centred on x and z.
    pub fn normalise(&mut self, rotation: Option<[f32; 9]>, size: Vec3) {
        if let Some(m) = rotation {
            let rotation = Mat3::from_cols_array(&m).transpose();
            for v in &mut self.vertices {
                v.position = rotation * v.position;
                v.normal = rotation * v.normal;
            }
        }
        let (lo, hi) = self.bounds();
        let extent = (hi - lo).max(Vec3::splat(1e-6));
        let scale = size / extent;
        let centre = Vec3::new((lo.x + hi.x) / 2.0, lo.y, (lo.z + hi.z) / 2.0);
        for v in &mut self.vertices {
            v.position = (v.position - centre) * scale;
            // Normals follow the inverse transpose of the scale.
            v.normal = (v.normal / scale).normalize_or_zero();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}: no triangles")]
    Empty(String),
}

/// Reads files out of one library zip, remembering textures already decoded.
pub struct ZipModels<R: Read + std::io::Seek> {
    zip: zip::ZipArchive<R>,
    textures: HashMap<String, Option<Arc<Texture>>>,
}

impl<R: Read + std::io::Seek> ZipModels<R> {
    pub fn new(zip: zip::ZipArchive<R>) -> Self {
        Self {
            zip,
            textures: HashMap::new(),
        }
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, MeshError> {
        let error = |message: String| MeshError::Read {
            path: path.to_string(),
            message,
        };
        let mut file = self.zip.by_name(path).map_err(|e| error(e.to_string()))?;
        let mut bytes = Vec::with_capacity(file.size() as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| error(e.to_string()))?;
        Ok(bytes)
    }

    /// A texture that fails to decode leaves the material's colour in its place.
    fn texture(&mut self, path: &str) -> Option<Arc<Texture>> {
        if let Some(t) = self.textures.get(path) {
            return t.clone();
        }
        let texture = self
            .read(path)
            .ok()
            .and_then(|bytes| designer_core::image::decode_bounded_any(&bytes).ok())
            .map(|image| Arc::new(Texture::from_image(&image.to_rgb8(), TEXTURE_SIZE)));
        self.textures.insert(path.to_string(), texture.clone());
        texture
    }

    /// Loads the OBJ at `path` (inside the zip) with its materials, un-normalised.
    pub fn load(&mut self, path: &str) -> Result<Model, MeshError> {
        let error = |message: String| MeshError::Read {
            path: path.to_string(),
            message,
        };
        let folder = Path::new(path).parent().unwrap_or(Path::new(""));
        let resolve = |name: &str| -> String {
            let joined = folder.join(name.replace('\\', "/"));
            joined.to_string_lossy().into_owned()
        };
        // Some files carry Latin-1 bytes in comments and names; tobj wants UTF-8 lines.
        let obj = String::from_utf8_lossy(&self.read(path)?).into_owned();
        let mut mtl_files: HashMap<String, Vec<u8>> = HashMap::new();
        for line in obj.lines() {
            if let Some(name) = line.trim().strip_prefix("mtllib ") {
                let name = resolve(name.trim());
                if let Ok(bytes) = self.read(&name) {
                    mtl_files.insert(name, bytes);
                }
            }
        }
        let options = tobj::LoadOptions {
            triangulate: true,
            single_index: true,
            ignore_points: true,
            ignore_lines: true,
        };
        let (meshes, materials) =
            tobj::load_obj_buf(&mut BufReader::new(Cursor::new(obj)), &options, |mtl| {
                let name = resolve(&mtl.to_string_lossy());
                match mtl_files.get(&name) {
                    Some(bytes) => {
                        let text = String::from_utf8_lossy(bytes).into_owned();
                        tobj::load_mtl_buf(&mut BufReader::new(Cursor::new(text)))
                    }
                    None => Err(tobj::LoadError::OpenFileFailed),
                }
            })
            .map_err(|e| error(e.to_string()))?;
        let materials = materials.unwrap_or_default();

        let mut model = Model {
            vertices: Vec::new(),
            parts: Vec::new(),
            materials: Vec::new(),
        };
        // Glass and other see-through materials (dissolve under 0.9) are left out: windows
        // show the sky, glass tables their frames.
        let mut material_index: Vec<Option<usize>> = Vec::new();
        for m in &materials {
            if m.dissolve.is_some_and(|d| d < 0.9) {
                material_index.push(None);
                continue;
            }
            let texture = m
                .diffuse_texture
                .as_deref()
                .and_then(|t| self.texture(&resolve(t)));
            let colour = Vec3::from(m.diffuse.unwrap_or([0.8; 3]));
            material_index.push(Some(model.materials.len()));
            model.materials.push(Material {
                colour: colour.clamp(Vec3::ZERO, Vec3::ONE),
                texture,
            });
        }
        let default_material = model.materials.len();
        model.materials.push(Material {
            colour: Vec3::splat(0.8),
            texture: None,
        });
        let mut by_material: HashMap<usize, usize> = HashMap::new();
        for mesh in meshes.iter().map(|m| &m.mesh) {
            let material = match mesh.material_id {
                Some(id) => match material_index.get(id) {
                    Some(Some(index)) => *index,
                    Some(None) => continue,
                    None => default_material,
                },
                None => default_material,
            };
            let base = model.vertices.len() as u32;
            let count = mesh.positions.len() / 3;
            for i in 0..count {
                fn at(data: &[f32], i: usize, n: usize) -> Option<&[f32]> {
                    data.get(i * n..i * n + n)
                }
                model.vertices.push(Vertex {
                    position: Vec3::from_slice(&mesh.positions[i * 3..i * 3 + 3]),
                    normal: at(&mesh.normals, i, 3).map_or(Vec3::ZERO, Vec3::from_slice),
                    // OBJ's v runs upwards, image rows downwards.
                    uv: at(&mesh.texcoords, i, 2)
                        .map_or(Vec2::ZERO, |t| Vec2::new(t[0], 1.0 - t[1])),
                });
            }
            let part = *by_material.entry(material).or_insert_with(|| {
                model.parts.push(Part {
                    material,
                    triangles: Vec::new(),
                });
                model.parts.len() - 1
            });
            model.parts[part].triangles.extend(
                mesh.indices
                    .chunks_exact(3)
                    .filter(|t| t.iter().all(|&i| (i as usize) < count))
                    .map(|t| [base + t[0], base + t[1], base + t[2]]),
            );
        }
        if model.triangle_count() == 0 {
            return Err(MeshError::Empty(path.to_string()));
        }
        Ok(model)
    }
}
