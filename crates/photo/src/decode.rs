//! The decoder front: everything a file must get past before a pixel is
//! decoded. The byte size is checked first, then the type from the file's
//! own magic bytes (never from its name or the sender's word), then the
//! dimensions from the header, and only then is the image decoded, under
//! the `image` crate's limits as a second guard against decompression bombs.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, RgbImage};

use crate::Error;

/// What a file may be before it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file accepted, in bytes. Default 8 MiB.
    pub max_bytes: usize,
    /// Most pixels (width × height) accepted. Default 24 million.
    pub max_pixels: u64,
    /// Longest side accepted, in pixels. Default 8000.
    pub max_side: u32,
    /// Shortest side accepted, in pixels. Default 300.
    pub min_side: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 8 * 1024 * 1024,
            max_pixels: 24_000_000,
            max_side: 8000,
            min_side: 300,
        }
    }
}

/// The two types a photo may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Png => ImageFormat::Png,
        }
    }
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The file's type from its magic bytes.
pub fn sniff(bytes: &[u8]) -> Result<Format, Error> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(Format::Jpeg)
    } else if bytes.starts_with(PNG_MAGIC) {
        Ok(Format::Png)
    } else {
        Err(Error::UnsupportedType("not a JPEG or PNG file".into()))
    }
}

/// Checks a claimed media type (if any) against the bytes: a file that says
/// it is one type and is another is refused.
pub fn check_claim(claimed: Option<&str>, actual: Format) -> Result<(), Error> {
    let Some(claimed) = claimed.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    let claimed = claimed.to_ascii_lowercase();
    let matches = match actual {
        Format::Jpeg => matches!(claimed.as_str(), "image/jpeg" | "image/jpg" | "image/pjpeg"),
        Format::Png => claimed == "image/png",
    };
    if matches {
        Ok(())
    } else {
        Err(Error::UnsupportedType(format!(
            "sent as {claimed} but the file is {}",
            actual.media_type()
        )))
    }
}

/// The image's dimensions, from its header only.
pub fn dimensions(bytes: &[u8], format: Format) -> Result<(u32, u32), Error> {
    ImageReader::with_format(Cursor::new(bytes), format.image_format())
        .into_dimensions()
        .map_err(|e| Error::Unreadable(e.to_string()))
}

/// Refuses images too big or too small by their header's dimensions.
pub fn check_dimensions(width: u32, height: u32, limits: &Limits) -> Result<(), Error> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width.max(height) > limits.max_side {
        return Err(Error::TooManyPixels {
            width: width.into(),
            height: height.into(),
            max_pixels: limits.max_pixels,
            max_side: limits.max_side,
        });
    }
    if width.min(height) < limits.min_side {
        return Err(Error::TooSmall {
            width,
            height,
            min_side: limits.min_side,
        });
    }
    Ok(())
}

/// A JPEG must end with its end-of-image marker (a little trailing padding
/// is tolerated): a truncated file is refused rather than decoded into a
/// half-grey picture.
fn complete_jpeg(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Decodes a photo to RGB after every check above.
pub fn decode(bytes: &[u8], claimed: Option<&str>, limits: &Limits) -> Result<RgbImage, Error> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            bytes: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = sniff(bytes)?;
    check_claim(claimed, format)?;
    let (width, height) = dimensions(bytes, format)?;
    check_dimensions(width, height, limits)?;
    if format == Format::Jpeg && !complete_jpeg(bytes) {
        return Err(Error::Unreadable("JPEG without its end marker".into()));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.image_format());
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(limits.max_side);
    decode_limits.max_image_height = Some(limits.max_side);
    // RGBA at 16 bits per channel, the widest a PNG decodes to, plus slack.
    decode_limits.max_alloc = Some(limits.max_pixels * 8 + (16 << 20));
    reader.limits(decode_limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::TooManyPixels {
            width: width.into(),
            height: height.into(),
            max_pixels: limits.max_pixels,
            max_side: limits.max_side,
        },
        other => Error::Unreadable(other.to_string()),
    })?;
    if image.width() != width || image.height() != height {
        return Err(Error::Unreadable(
            "decoded size differs from the header".into(),
        ));
    }
    Ok(flatten(image))
}

/// RGB pixels; transparent areas are composited on white (a transparent
/// background is a plain light one).
fn flatten(image: image::DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    RgbImage::from_fn(w, h, |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        let mix = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_uses_magic_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(), Format::Jpeg);
        assert_eq!(sniff(PNG_MAGIC).unwrap(), Format::Png);
        assert!(matches!(sniff(b"GIF89a"), Err(Error::UnsupportedType(_))));
        assert!(matches!(sniff(b""), Err(Error::UnsupportedType(_))));
    }

    #[test]
    fn a_claim_must_match_the_bytes() {
        assert!(check_claim(None, Format::Png).is_ok());
        assert!(check_claim(Some(""), Format::Png).is_ok());
        assert!(check_claim(Some("IMAGE/JPEG"), Format::Jpeg).is_ok());
        assert!(matches!(
            check_claim(Some("image/png"), Format::Jpeg),
            Err(Error::UnsupportedType(_))
        ));
    }

    #[test]
    fn dimensions_are_bounded_both_ways() {
        let l = Limits::default();
        assert!(check_dimensions(600, 750, &l).is_ok());
        assert!(matches!(
            check_dimensions(100_000, 100_000, &l),
            Err(Error::TooManyPixels { .. })
        ));
        assert!(matches!(
            check_dimensions(9000, 400, &l),
            Err(Error::TooManyPixels { .. })
        ));
        assert!(matches!(
            check_dimensions(299, 400, &l),
            Err(Error::TooSmall { .. })
        ));
    }
}
