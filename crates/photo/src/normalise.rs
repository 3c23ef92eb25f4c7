//! The accepted photo as it is stored and printed: cropped around the head
//! to the card's proportions, scaled to [`CARD_WIDTH`]×[`CARD_HEIGHT`] and
//! re-encoded from pixels as a baseline JPEG. Re-encoding keeps nothing of
//! the submitted file but its pixels: no EXIF, GPS, ICC or comment segment
//! survives.
//!
//! The crop puts the head (crown to chin) at [`HEAD_SHARE`] of the height
//! and the eye line at [`EYE_LINE_FROM_BOTTOM`] of the height from the
//! bottom, centred on the face; where the crop reaches past the submitted
//! image, it is filled with the background's mean colour.

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage, imageops};

use crate::Error;
use crate::checks::Geometry;

pub const CARD_WIDTH: u32 = 600;
pub const CARD_HEIGHT: u32 = 750;
/// Head height as a share of the card photo's height (rule: 50–69 %).
pub const HEAD_SHARE: f64 = 0.60;
/// Eye line above the bottom, share of the height (rule: 55–69 %).
pub const EYE_LINE_FROM_BOTTOM: f64 = 0.62;
pub const JPEG_QUALITY: u8 = 90;

/// The card photo: JPEG bytes, [`CARD_WIDTH`]×[`CARD_HEIGHT`].
pub fn normalise(img: &RgbImage, g: &Geometry) -> Result<Vec<u8>, Error> {
    let head = (g.chin_y - g.crown_y).max(1.0);
    let crop_h = head / HEAD_SHARE;
    let crop_w = crop_h * f64::from(CARD_WIDTH) / f64::from(CARD_HEIGHT);
    let top = g.eyes.line_y() - (1.0 - EYE_LINE_FROM_BOTTOM) * crop_h;
    let left = g.face.centre_x() - crop_w / 2.0;
    let (cw, ch) = (crop_w.round() as u32, crop_h.round() as u32);
    // Only accepted photos are normalised, so the head fills half or more
    // of the image and the crop is at most about twice its size.
    if cw == 0
        || ch == 0
        || u64::from(cw) * u64::from(ch) > 4 * u64::from(img.width()) * u64::from(img.height())
    {
        return Err(Error::Internal("crop out of proportion".into()));
    }
    let fill = Rgb(g.background.map(|c| c.round().clamp(0.0, 255.0) as u8));
    let mut canvas = RgbImage::from_pixel(cw, ch, fill);
    let (ox, oy) = (left.round() as i64, top.round() as i64);
    imageops::replace(&mut canvas, img, -ox, -oy);
    let card = crate::resample::resize_rgb(&canvas, CARD_WIDTH, CARD_HEIGHT);
    let mut out = Vec::with_capacity(96 * 1024);
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&card)
        .map_err(|e| Error::Internal(format!("encoding the card photo: {e}")))?;
    Ok(out)
}
