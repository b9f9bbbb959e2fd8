//! The one request/response format of the browser and the Lambda, its validation and its limits.

use crate::labels::{RoomType, Style};
use crate::sampler::SamplerKind;
use serde::{Deserialize, Serialize};

/// Lambda refuses response payloads over 6 MB; every response we build stays under this.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// The Lambda makes many variations of small designs; the payload bound limits large ones.
pub const MAX_VARIATIONS: u32 = 64;
pub const MIN_SIZE: u32 = 32;
/// Sizes above the model's trained size are drawn there, then redrawn at their own (two stages,
/// see `generate::REFINE_STRENGTH`).
pub const MAX_SIZE: u32 = 512;
/// A request's size unless it says: generator v2's, where rooms are drawn whole (smaller
/// sizes are served by the small models, which draw thumbnails).
pub const DEFAULT_SIZE: u32 = 256;
/// The generator halves the image twice, and the model was trained on multiples of this.
pub const SIZE_MULTIPLE: u32 = 16;
pub const MAX_STEPS: u32 = 100;
/// The steps a request takes unless it says, or its network is a step-distilled student.
pub const TEACHER_STEPS: u32 = 20;
pub const MAX_GUIDANCE: f32 = 20.0;
/// An uploaded photo is refused past this many encoded bytes, before any decoding.
pub const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// A photo's shorter side must have at least this many pixels: the smallest design's (the
/// site's "Finer on the server" sends a design as the photo).
pub const MIN_PHOTO_SIDE: u32 = MIN_SIZE;

/// What a person asks for: a room type in a style, a number of variations from a seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignRequest {
    pub room_type: RoomType,
    pub style: Style,
    #[serde(default = "defaults::variations")]
    pub variations: u32,
    /// Variation i is generated from seed + i.
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Sampler steps. Unset: what the network needs: the first of
    /// [`crate::model::DISTILLED_STEPS`] (8) for a step-distilled network sampled as a
    /// student, else [`TEACHER_STEPS`] (see [`DesignRequest::steps_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    /// Classifier-free guidance scale: 0 ignores the labels, 1 follows them plainly, more
    /// exaggerates them.
    #[serde(default = "defaults::guidance")]
    pub guidance: f32,
    /// Width and height in pixels.
    #[serde(default = "defaults::size")]
    pub size: u32,
    #[serde(default)]
    pub sampler: SamplerKind,
    /// A photo of the person's room to restyle: base64 PNG or JPEG, or a data URL of one.
    #[serde(default)]
    pub photo: Option<String>,
    /// How far a photo may change where its colours are kept (see `keep`): 0 keeps it, 1
    /// ignores it.
    #[serde(default = "defaults::strength")]
    pub strength: f32,
    /// What of the photo a design keeps. Unset: its layout where the model can follow one,
    /// else its colours (the response says which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Keep>,
}

/// What a restyled photo's designs keep of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// Its layout: the network follows the photo's edge map (walls, windows, furniture
    /// outlines) and draws everything else anew, from noise.
    Layout,
    /// Its colours and blur: the sampler starts from the noised photo at t = 1 - strength
    /// (SDEdit).
    #[serde(alias = "colors")]
    Colours,
    /// Both: the edge map followed from the noised photo.
    Both,
}

impl Keep {
    pub fn layout(self) -> bool {
        matches!(self, Keep::Layout | Keep::Both)
    }
    pub fn colours(self) -> bool {
        matches!(self, Keep::Colours | Keep::Both)
    }
}

mod defaults {
    pub fn variations() -> u32 {
        4
    }
    pub fn seed() -> u64 {
        42
    }
    pub fn guidance() -> f32 {
        3.0
    }
    pub fn size() -> u32 {
        super::DEFAULT_SIZE
    }
    pub fn strength() -> f32 {
        0.6
    }
}

impl DesignRequest {
    /// The steps this request takes with a network that does or does not read the step size
    /// (a step-distilled student, see [`crate::model::Scalar::StepSize`]): its own, else
    /// the student's first distilled step count unless the request asks for the teacher's
    /// sampler, else [`TEACHER_STEPS`].
    pub fn steps_for(&self, reads_step_size: bool) -> u32 {
        match self.steps {
            Some(steps) => steps,
            None if reads_step_size && self.sampler != SamplerKind::Teacher => {
                crate::model::DISTILLED_STEPS[0]
            }
            None => TEACHER_STEPS,
        }
    }

    /// A request with every optional field at its default.
    pub fn new(room_type: RoomType, style: Style) -> Self {
        Self {
            room_type,
            style,
            variations: defaults::variations(),
            seed: defaults::seed(),
            steps: None,
            guidance: defaults::guidance(),
            size: defaults::size(),
            sampler: SamplerKind::default(),
            photo: None,
            strength: defaults::strength(),
            keep: None,
        }
    }

    /// Parses and validates a JSON request; the error names the offending field.
    pub fn from_json(json: &str) -> Result<Self, DesignError> {
        // A byte-order mark is what some editors put before UTF-8 text: not part of the JSON.
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        // serde would also take a struct from an array; a request is only ever an object.
        if !json.trim_start().starts_with('{') {
            return Err(DesignError::invalid("request", "must be a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let request: Self = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let field = err.path().to_string();
            let message = strip_position(&err.inner().to_string());
            if field == "." {
                DesignError::invalid("request", message)
            } else {
                DesignError::invalid(&field, message)
            }
        })?;
        // One request per document: a second one, or anything else after it, is refused
        // rather than ignored.
        de.end().map_err(|_| {
            DesignError::invalid("request", "has content after the request's closing brace")
        })?;
        request.validate()?;
        Ok(request)
    }

    /// Checks every number against its range, so that nothing downstream can panic or
    /// produce a response over the payload limit.
    pub fn validate(&self) -> Result<(), DesignError> {
        if !(1..=MAX_VARIATIONS).contains(&self.variations) {
            return Err(DesignError::invalid(
                "variations",
                format!(
                    "must be between 1 and {MAX_VARIATIONS}, got {}",
                    self.variations
                ),
            ));
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) || !self.size.is_multiple_of(SIZE_MULTIPLE) {
            return Err(DesignError::invalid(
                "size",
                format!(
                    "must be a multiple of {SIZE_MULTIPLE} between {MIN_SIZE} and {MAX_SIZE}, got {}",
                    self.size
                ),
            ));
        }
        if let Some(steps) = self.steps.filter(|s| !(1..=MAX_STEPS).contains(s)) {
            return Err(DesignError::invalid(
                "steps",
                format!("must be between 1 and {MAX_STEPS}, got {steps}"),
            ));
        }
        if !(0.0..=MAX_GUIDANCE).contains(&self.guidance) {
            return Err(DesignError::invalid(
                "guidance",
                format!(
                    "must be between 0 and {MAX_GUIDANCE}, got {}",
                    self.guidance
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.strength) {
            return Err(DesignError::invalid(
                "strength",
                format!("must be between 0 and 1, got {}", self.strength),
            ));
        }
        if self
            .seed
            .checked_add(u64::from(self.variations - 1))
            .is_none()
        {
            return Err(DesignError::invalid(
                "seed",
                format!(
                    "seed + variations - 1 must fit in 64 bits, got seed {}",
                    self.seed
                ),
            ));
        }
        if self.keep.is_some() && self.photo.is_none() {
            return Err(DesignError::invalid(
                "keep",
                "says what to keep of a photo: send one in `photo`, or leave `keep` out",
            ));
        }
        if let Some(photo) = &self.photo
            && photo.len() > MAX_PHOTO_BYTES * 4 / 3 + 128
        {
            return Err(DesignError::invalid(
                "photo",
                format!("must be at most {MAX_PHOTO_BYTES} bytes before base64 encoding"),
            ));
        }
        let bound = max_response_bytes(self.variations, self.size);
        if bound > MAX_RESPONSE_BYTES {
            let fitting = (1..self.variations)
                .rev()
                .find(|&n| max_response_bytes(n, self.size) <= MAX_RESPONSE_BYTES)
                .unwrap_or(0);
            return Err(DesignError::TooLarge {
                message: format!(
                    "{} designs of {}x{} could reach {bound} bytes, over the {MAX_RESPONSE_BYTES}-byte response limit; ask for at most {fitting} at this size",
                    self.variations, self.size, self.size
                ),
            });
        }
        Ok(())
    }

    /// The seeds of the variations, in order.
    pub fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        (0..u64::from(self.variations)).map(move |i| self.seed + i)
    }
}

/// The ranges a request is checked against, for `info` answers and UIs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Limits {
    /// Inclusive [min, max].
    pub variations: [u32; 2],
    /// Inclusive [min, max], and the multiple a size must be.
    pub size: [u32; 2],
    pub size_multiple: u32,
    pub steps: [u32; 2],
    pub guidance: [f32; 2],
    pub max_photo_bytes: usize,
    /// A photo's shorter side must have at least this many pixels.
    pub min_photo_side: u32,
    /// Requests whose response could exceed this are refused (too large).
    pub max_response_bytes: usize,
}

pub const LIMITS: Limits = Limits {
    variations: [1, MAX_VARIATIONS],
    size: [MIN_SIZE, MAX_SIZE],
    size_multiple: SIZE_MULTIPLE,
    steps: [1, MAX_STEPS],
    guidance: [0.0, MAX_GUIDANCE],
    max_photo_bytes: MAX_PHOTO_BYTES,
    min_photo_side: MIN_PHOTO_SIDE,
    max_response_bytes: MAX_RESPONSE_BYTES,
};

/// An upper bound on the JSON response size: PNG's worst case is stored (uncompressed)
/// deflate blocks, plus chunk headers; base64 adds a third.
pub fn max_response_bytes(variations: u32, size: u32) -> usize {
    let raw = (size as usize) * (size as usize * 3 + 1);
    let png = raw + raw.div_ceil(65_535) * 5 + 128;
    let base64 = png.div_ceil(3) * 4;
    let per_design = base64 + 128;
    variations as usize * per_design + 1024
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// One generated design.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub png_base64: String,
}

/// What comes back: the designs, the weights that made them, where and how fast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DesignResponse {
    pub designs: Vec<Design>,
    /// Name and content hash of the weights.
    pub model: String,
    /// Which compute backend ran the generator ("cpu", "webgpu", ...).
    pub backend: String,
    pub elapsed_ms: u64,
    /// For a photo: what was kept of it and how it was fitted to the design's square.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoUse>,
}

/// How a request's photo was used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoUse {
    pub keep: Keep,
    /// The photo's own size, after its EXIF orientation.
    pub width: u32,
    pub height: u32,
    /// How it became the design's square: "as is" (square already) or "centre-cropped" (the
    /// middle square of a wider or taller photo; nothing is padded).
    pub fit: String,
}

/// Why a request produced no designs. `Invalid` is the caller's fault (a 4xx), the rest ours.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum DesignError {
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    /// The response could exceed the 6 MB payload limit (a 413).
    #[error("response too large: {message}")]
    TooLarge { message: String },
    #[error("model error: {message}")]
    Model { message: String },
}

impl DesignError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        DesignError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub fn model(message: impl Into<String>) -> Self {
        DesignError::Model {
            message: message.into(),
        }
    }

    /// The HTTP-like status an adapter should answer with.
    pub fn status(&self) -> u16 {
        match self {
            DesignError::Invalid { .. } => 400,
            DesignError::TooLarge { .. } => 413,
            DesignError::Model { .. } => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(json: &str) -> (String, String) {
        match DesignRequest::from_json(json).unwrap_err() {
            DesignError::Invalid { field, message } => (field, message),
            other => panic!("expected an invalid-request error, got {other:?}"),
        }
    }

    #[test]
    fn the_design_example_parses_with_defaults_filled() {
        let req = DesignRequest::from_json(
            r#"{"room_type":"bedroom","style":"scandinavian","variations":4,"seed":42,
                "steps":20,"guidance":3.0,"size":256,"photo":null,"strength":0.6}"#,
        )
        .unwrap();
        assert_eq!(
            req,
            DesignRequest {
                steps: Some(20),
                ..DesignRequest::new(RoomType::Bedroom, Style::Scandinavian)
            }
        );
        let minimal =
            DesignRequest::from_json(r#"{"room_type":"office","style":"rustic"}"#).unwrap();
        assert_eq!(minimal.variations, 4);
        assert_eq!(minimal.size, 256);
        assert_eq!(minimal.sampler, SamplerKind::Euler);
        assert_eq!(minimal.seeds().collect::<Vec<_>>(), vec![42, 43, 44, 45]);
    }

    #[test]
    fn each_bad_field_is_named() {
        let base = r#""room_type":"bedroom","style":"modern""#;
        let cases = [
            (
                r#"{"room_type":"castle","style":"modern"}"#.to_string(),
                "room_type",
                "allowed: living_room",
            ),
            (
                r#"{"room_type":"bedroom","style":"gothic"}"#.to_string(),
                "style",
                "allowed: modern, minimalist",
            ),
            (
                format!("{{{base},\"colour\":1}}"),
                "colour",
                "unknown field",
            ),
            (
                format!("{{{base},\"variations\":0}}"),
                "variations",
                "between 1 and 64",
            ),
            (
                format!("{{{base},\"variations\":65}}"),
                "variations",
                "between 1 and 64",
            ),
            (
                format!("{{{base},\"variations\":-1}}"),
                "variations",
                "invalid value",
            ),
            (format!("{{{base},\"size\":50}}"), "size", "multiple of 16"),
            (
                format!("{{{base},\"size\":528}}"),
                "size",
                "between 32 and 512",
            ),
            (
                format!("{{{base},\"steps\":0}}"),
                "steps",
                "between 1 and 100",
            ),
            (
                format!("{{{base},\"steps\":1000}}"),
                "steps",
                "between 1 and 100",
            ),
            (
                format!("{{{base},\"guidance\":-1}}"),
                "guidance",
                "between 0 and 20",
            ),
            (
                format!("{{{base},\"strength\":1.5}}"),
                "strength",
                "between 0 and 1",
            ),
            (
                format!("{{{base},\"seed\":18446744073709551615}}"),
                "seed",
                "64 bits",
            ),
            (
                format!("{{{base},\"sampler\":\"ddim\"}}"),
                "sampler",
                "unknown variant",
            ),
            (
                format!("{{{base},\"keep\":\"layout\"}}"),
                "keep",
                "send one in `photo`",
            ),
            (
                format!("{{{base},\"photo\":\"AAAA\",\"keep\":\"walls\"}}"),
                "keep",
                "unknown variant `walls`, expected one of `layout`",
            ),
            (
                r#"{"style":"modern"}"#.to_string(),
                "request",
                "missing field `room_type`",
            ),
            ("{\"room_type\":".to_string(), "room_type", "EOF"),
            ("[1, 2]".to_string(), "request", "must be a JSON object"),
            (
                format!("{{{base}}}{{{base}}}"),
                "request",
                "content after the request",
            ),
            (
                format!("{{{base}}} junk"),
                "request",
                "content after the request",
            ),
            (
                r#"{"room_type":"castle","room_type":"bedroom","style":"modern"}"#.to_string(),
                "room_type",
                "allowed:",
            ),
            (
                r#"{"room_type":"bedroom","room_type":"bedroom","style":"modern"}"#.to_string(),
                "request",
                "duplicate field `room_type`",
            ),
        ];
        for (json, field, needle) in cases {
            let (got_field, message) = field_of(&json);
            assert_eq!(got_field, field, "{json} -> {message}");
            assert!(
                message.contains(needle),
                "{json}: '{message}' lacks '{needle}'"
            );
        }
    }

    #[test]
    fn keep_names_what_of_a_photo_stays_and_is_left_out_unless_given() {
        let with = |keep: &str| {
            DesignRequest::from_json(&format!(
                r#"{{"room_type":"bedroom","style":"modern","photo":"AAAA","keep":"{keep}"}}"#
            ))
            .unwrap()
            .keep
        };
        assert_eq!(with("layout"), Some(Keep::Layout));
        assert_eq!(with("colours"), Some(Keep::Colours));
        assert_eq!(with("colors"), Some(Keep::Colours));
        assert_eq!(with("both"), Some(Keep::Both));
        assert!(Keep::Both.layout() && Keep::Both.colours());
        assert!(!Keep::Layout.colours() && !Keep::Colours.layout());
        // A request without it serializes as before (the Lambda's cache keys stay the same).
        let plain = DesignRequest::new(RoomType::Bedroom, Style::Modern);
        assert!(!serde_json::to_string(&plain).unwrap().contains("keep"));
    }

    #[test]
    fn a_byte_order_mark_and_trailing_whitespace_are_not_the_request() {
        let plain = r#"{"room_type":"bedroom","style":"modern"}"#;
        let expected = DesignRequest::from_json(plain).unwrap();
        assert_eq!(
            DesignRequest::from_json(&format!("\u{feff}{plain}\n")).unwrap(),
            expected
        );
    }

    #[test]
    fn requests_that_could_exceed_the_payload_limit_are_refused() {
        let mut big = DesignRequest::new(RoomType::Office, Style::Modern);
        // The default size takes 23 designs, the largest 5.
        for (size, fitting) in [(DEFAULT_SIZE, 23), (MAX_SIZE, 5)] {
            big.size = size;
            big.variations = MAX_VARIATIONS;
            match big.validate().unwrap_err() {
                DesignError::TooLarge { message } => assert!(
                    message.contains(&format!("at most {fitting} at this size")),
                    "{message}"
                ),
                other => panic!("expected too large, got {other:?}"),
            }
            big.variations = fitting;
            assert!(big.validate().is_ok());
            big.variations = fitting + 1;
            assert_eq!(big.validate().unwrap_err().status(), 413);
        }
        // Every variation count fits at the small model's size.
        big.size = 64;
        big.variations = MAX_VARIATIONS;
        assert!(big.validate().is_ok());
        // The bound really bounds: an incompressible image is within it.
        let raw = (MAX_SIZE * (MAX_SIZE * 3 + 1)) as usize;
        assert!(max_response_bytes(1, MAX_SIZE) > raw * 4 / 3);
    }

    #[test]
    fn errors_serialize_with_a_tag_and_a_status() {
        let err = DesignError::invalid("style", "unknown");
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"error":"invalid","field":"style","message":"unknown"}"#
        );
        assert_eq!(err.status(), 400);
        assert_eq!(DesignError::model("x").status(), 500);
    }
}
