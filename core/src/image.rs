//! Pixels in and out: model tensors <-> RGB8, PNG encoding, base64 and data URLs, and a
//! bounded decoder for images that come from outside (photos, training data).

use ::image::codecs::png::{CompressionType, FilterType, PngEncoder};
use ::image::imageops;
use ::image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader, Limits, RgbImage};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use fast_image_resize::{FilterType as ResizeFilter, ResizeAlg, ResizeOptions, Resizer};
use std::io::Cursor;

/// Images from outside are refused past these dimensions, before their pixels are allocated,
/// so a small file that claims to be huge (a decompression bomb) costs nothing.
pub const MAX_INPUT_SIDE: u32 = 4096;
pub const MAX_INPUT_ALLOC: u64 = 128 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Why the bytes did not decode, in words for the person who sent them (the decoder's own
    /// errors print its internal chunk structures).
    #[error("{0}")]
    Decode(String),
    #[error("cannot read image: {0}")]
    Io(#[from] std::io::Error),
}

impl From<::image::ImageError> for ImageError {
    fn from(error: ::image::ImageError) -> Self {
        use ::image::ImageError as E;
        use ::image::error::{ImageFormatHint, LimitErrorKind};
        let format = |hint: &ImageFormatHint| match hint {
            ImageFormatHint::Exact(format) => format!("{format:?}").to_ascii_uppercase(),
            _ => "image".to_string(),
        };
        ImageError::Decode(match &error {
            E::Decoding(e) => format!(
                "corrupt {}: the file is damaged or truncated",
                format(&e.format_hint())
            ),
            E::Unsupported(_) => "not a PNG or JPEG image".to_string(),
            E::Limits(e) => match e.kind() {
                LimitErrorKind::DimensionError => format!(
                    "too large to decode: at most {MAX_INPUT_SIDE} x {MAX_INPUT_SIDE} pixels"
                ),
                _ => format!("too large to decode: more than {MAX_INPUT_ALLOC} bytes of pixels"),
            },
            E::IoError(e) => format!("cannot read image: {e}"),
            other => format!("not a readable PNG or JPEG image: {other}"),
        })
    }
}

/// One image of a [batch, 3, h, w] model output (values in [-1, 1]) as RGB8.
pub fn tensor_to_rgb(data: &[f32], index: usize, width: u32, height: u32) -> RgbImage {
    let plane = (width * height) as usize;
    let image = &data[index * 3 * plane..(index + 1) * 3 * plane];
    RgbImage::from_fn(width, height, |x, y| {
        let at = (y * width + x) as usize;
        let channel = |c: usize| {
            ((image[c * plane + at] + 1.0) * 127.5)
                .round()
                .clamp(0.0, 255.0) as u8
        };
        ::image::Rgb([channel(0), channel(1), channel(2)])
    })
}

/// An RGB8 image as model input: [3, h, w] row-major, values in [-1, 1].
pub fn rgb_to_tensor(image: &RgbImage) -> Vec<f32> {
    let plane = (image.width() * image.height()) as usize;
    let mut out = vec![0.0; 3 * plane];
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = pixel[c] as f32 / 127.5 - 1.0;
        }
    }
    out
}

/// PNG bytes. Settings are fixed so the same pixels always give the same bytes. The `Sub` filter
/// on every row, not the adaptive choice (which mostly picks Paeth): our 128 px renders then
/// decode 1.5x faster (7,400 vs 4,900 a second on one core) for 3 % more bytes, and decoding
/// is most of what the training data pipeline does (BENCHMARKS.md).
pub fn encode_png(image: &RgbImage) -> Vec<u8> {
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Default, FilterType::Sub)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ::image::ExtendedColorType::Rgb8,
        )
        .expect("encoding an in-memory RGB8 image cannot fail");
    png
}

pub fn to_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

pub fn png_data_url(png: &[u8]) -> String {
    format!("data:image/png;base64,{}", to_base64(png))
}

/// Decodes base64 (optionally a `data:image/...;base64,` URL) to bytes.
pub fn from_base64(text: &str) -> Result<Vec<u8>, ImageError> {
    let payload = match text.split_once(";base64,") {
        Some((prefix, rest)) if prefix.starts_with("data:") => rest,
        _ => text,
    };
    // Line breaks and spaces are allowed anywhere (base64 and mail tools wrap at 76 columns).
    let compact: Vec<u8> = payload
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    Ok(BASE64.decode(compact)?)
}

/// Decodes PNG or JPEG bytes to RGB8 under the input limits.
pub fn decode_bounded(bytes: &[u8]) -> Result<RgbImage, ImageError> {
    Ok(decode_bounded_any(bytes)?.to_rgb8())
}

/// Decodes PNG or JPEG bytes under the input limits, keeping the colour type (and alpha), and
/// turned as their EXIF orientation says (a phone's portrait photo is stored sideways).
pub fn decode_bounded_any(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    limits.max_alloc = Some(MAX_INPUT_ALLOC);
    reader.limits(limits.clone());
    // A file that ends early fails as a read, not as a decoding error: say it as one.
    let format = reader.format();
    let truncated = |error: ::image::ImageError| match &error {
        ::image::ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            let name = format.map_or("image".to_string(), |f| {
                format!("{f:?}").to_ascii_uppercase()
            });
            ImageError::Decode(format!("corrupt {name}: the file is damaged or truncated"))
        }
        _ => error.into(),
    };
    let mut decoder = reader.into_decoder().map_err(truncated)?;
    // As `ImageReader::decode` does: the pixels' buffer counts against the allocation limit.
    limits.reserve(decoder.total_bytes())?;
    let orientation = decoder.orientation().map_err(truncated)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(truncated)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Centre-crops to a square and resizes to `size` x `size` (bilinear, antialiased).
pub fn square(image: &RgbImage, size: u32) -> RgbImage {
    let side = image.width().min(image.height());
    if side == size {
        let x = (image.width() - side) / 2;
        let y = (image.height() - side) / 2;
        return imageops::crop_imm(image, x, y, side, side).to_image();
    }
    let mut out = RgbImage::new(size, size);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(ResizeFilter::Bilinear))
        .fit_into_destination(Some((0.5, 0.5)));
    Resizer::new()
        .resize(image, &mut out, &options)
        .expect("an RGB8 image always resizes into an RGB8 image");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            ::image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8])
        })
    }

    #[test]
    fn base64_may_be_wrapped_and_bad_images_say_what_is_wrong() {
        let png = encode_png(&RgbImage::from_pixel(4, 4, ::image::Rgb([10, 20, 30])));
        let wrapped: String = to_base64(&png)
            .as_bytes()
            .chunks(76)
            .map(|line| format!("{}\r\n", std::str::from_utf8(line).unwrap()))
            .collect();
        assert_eq!(from_base64(&wrapped).unwrap(), png);
        assert_eq!(
            from_base64(&format!("data:image/png;base64,{wrapped}")).unwrap(),
            png
        );

        // A flipped byte in the pixel data breaks the chunk's CRC.
        let mut corrupt = png.clone();
        let at = corrupt.len() - 20;
        corrupt[at] ^= 0xff;
        let message = decode_bounded(&corrupt).unwrap_err().to_string();
        assert!(message.starts_with("corrupt PNG"), "{message}");
        assert!(!message.contains("ChunkType"), "{message}");
        let message = decode_bounded(b"GIF89a not really")
            .unwrap_err()
            .to_string();
        assert!(message.contains("not a PNG or JPEG"), "{message}");
    }

    #[test]
    fn png_base64_round_trip_keeps_every_pixel() {
        let img = gradient(20, 12);
        let png = encode_png(&img);
        assert_eq!(png, encode_png(&img), "encoding is deterministic");
        let back = decode_bounded(&from_base64(&to_base64(&png)).unwrap()).unwrap();
        assert_eq!(back, img);
        let via_url = decode_bounded(&from_base64(&png_data_url(&png)).unwrap()).unwrap();
        assert_eq!(via_url, img);
    }

    #[test]
    fn tensor_round_trip_keeps_every_pixel() {
        let img = gradient(8, 8);
        let data = rgb_to_tensor(&img);
        assert!(data.iter().all(|v| (-1.0..=1.0).contains(v)));
        let mut batch = vec![0.0; data.len()];
        batch.extend(&data);
        assert_eq!(tensor_to_rgb(&batch, 1, 8, 8), img);
        // Out-of-range model outputs saturate instead of wrapping.
        let wild = vec![5.0; 3 * 4];
        assert_eq!(
            tensor_to_rgb(&wild, 0, 2, 2).get_pixel(0, 0).0,
            [255, 255, 255]
        );
    }

    #[test]
    fn garbage_and_bombs_are_refused_not_decoded() {
        assert!(matches!(
            from_base64("not base64 !!"),
            Err(ImageError::Base64(_))
        ));
        assert!(matches!(
            decode_bounded(b"hello"),
            Err(ImageError::Decode(_))
        ));
        // A valid, small file whose dimensions are past the limit.
        let wide = encode_png(&RgbImage::new(MAX_INPUT_SIDE + 1, 1));
        assert!(wide.len() < 1000);
        let err = decode_bounded(&wide).unwrap_err().to_string();
        assert!(err.contains("too large to decode: at most 4096"), "{err}");
    }

    #[test]
    fn square_crops_the_centre() {
        let img = gradient(30, 20);
        let sq = square(&img, 20);
        assert_eq!(sq.dimensions(), (20, 20));
        assert_eq!(sq.get_pixel(0, 0), img.get_pixel(5, 0));
        assert_eq!(square(&img, 8).dimensions(), (8, 8));
    }
}
