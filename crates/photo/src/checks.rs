//! The measurable checks of a licence photo. Each returns whether it passed,
//! the measured value, the accepted range, a stable reason code and advice
//! for the citizen. Thresholds live in [`Thresholds`].
//!
//! Measurements are taken on a working copy scaled to at most
//! [`WORK_SIDE`] pixels on its longest side (cheap, and the same at every
//! input size); lengths in the report (eye distance) are in the submitted
//! image's pixels.

use image::{GrayImage, Rgb, RgbImage, imageops};
use serde::Serialize;

use crate::face::{self, Eyes, FaceBox};

/// Longest side of the working copy the checks measure.
pub const WORK_SIDE: u32 = 640;
/// Longest side of the copy faces are detected on. Faces narrower than a
/// fifth of the shorter side are not looked for (an acceptable face is
/// about a third of the height, and so about 40 % of the width).
pub const DETECT_SIDE: u32 = 320;

/// The thresholds of every check. The defaults follow the card's photo rules
/// (head 50–69 % of the height, eyes 55–69 % from the bottom, at least 90
/// pixels between the eyes) and, for the image-quality checks, values chosen
/// on the test photos: plain light backgrounds and sharp, well-exposed
/// colour portraits pass with a margin, the defects fail with one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    /// Head (crown to chin) as a percentage of the image height: 50–69.
    pub head_height_pct: (f64, f64),
    /// Eye line above the bottom edge, percentage of the height: 55–69.
    pub eye_line_pct: (f64, f64),
    /// Least distance between the eye centres, in pixels: 90.
    pub min_eye_distance_px: f64,
    /// Most horizontal offset of the face's centre from the image's centre,
    /// percentage of the width: 10.
    pub max_off_centre_pct: f64,
    /// Most roll of the eye line, degrees: 8.
    pub max_roll_deg: f64,
    /// Least mean brightness (0–255) of the background border: 150.
    pub min_background_brightness: f64,
    /// Most standard deviation of the background border's brightness: 22.
    pub max_background_spread: f64,
    /// Mean brightness of the face: 70–210.
    pub face_brightness: (f64, f64),
    /// Least spread between the face's 5th and 95th brightness percentiles: 50.
    pub min_contrast: f64,
    /// Least sharpness of the face scaled to 160 pixels wide: variance of
    /// the Laplacian over the variance of brightness, ×1000: 10 (sharp
    /// portraits measure about 30, a 5-pixel blur under 2).
    pub min_sharpness: f64,
    /// Least mean chroma (max − min channel) over the face: 8.
    pub min_face_chroma: f64,
    /// Most difference between the background's mean channels: 30.
    pub max_background_cast: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            head_height_pct: (50.0, 69.0),
            eye_line_pct: (55.0, 69.0),
            min_eye_distance_px: 90.0,
            max_off_centre_pct: 10.0,
            max_roll_deg: 8.0,
            min_background_brightness: 150.0,
            max_background_spread: 22.0,
            face_brightness: (70.0, 210.0),
            min_contrast: 50.0,
            min_sharpness: 10.0,
            min_face_chroma: 8.0,
            max_background_cast: 30.0,
        }
    }
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Stable name, e.g. `eye_distance`.
    pub name: &'static str,
    pub passed: bool,
    /// False when the value could not be measured; such a check does not
    /// fail the photo (it is reported so staff can look).
    pub measured: bool,
    pub value: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub unit: &'static str,
    /// Stable reason code when failed, e.g. `photo.eyes_too_close`.
    pub reason: Option<&'static str>,
    /// What the citizen can do, when failed.
    pub advice: Option<&'static str>,
}

/// The outcome of every check on one photo.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub accepted: bool,
    pub width: u32,
    pub height: u32,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// Reason codes of the failed checks.
    pub fn reasons(&self) -> Vec<&'static str> {
        self.checks.iter().filter_map(|c| c.reason).collect()
    }
}

/// Where the face is, in the submitted image's pixels; what normalisation
/// crops around.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub face: FaceBox,
    pub eyes: Eyes,
    pub crown_y: f64,
    pub chin_y: f64,
    /// Mean colour of the background border.
    pub background: [f64; 3],
}

/// The report and, when one face was found, its geometry.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub report: Report,
    pub geometry: Option<Geometry>,
}

struct Range {
    min: Option<f64>,
    max: Option<f64>,
}

fn at_least(min: f64) -> Range {
    Range {
        min: Some(min),
        max: None,
    }
}

fn at_most(max: f64) -> Range {
    Range {
        min: None,
        max: Some(max),
    }
}

fn between((min, max): (f64, f64)) -> Range {
    Range {
        min: Some(min),
        max: Some(max),
    }
}

/// Builds a check: `low` is the (reason, advice) when under the range,
/// `high` when over it.
fn check(
    name: &'static str,
    value: f64,
    range: Range,
    unit: &'static str,
    low: (&'static str, &'static str),
    high: (&'static str, &'static str),
) -> Check {
    let round = |v: f64| (v * 100.0).round() / 100.0;
    let value = round(value);
    let failed = if range.min.is_some_and(|m| value < m) {
        Some(low)
    } else if range.max.is_some_and(|m| value > m) {
        Some(high)
    } else {
        None
    };
    Check {
        name,
        passed: failed.is_none(),
        measured: true,
        value,
        min: range.min,
        max: range.max,
        unit,
        reason: failed.map(|f| f.0),
        advice: failed.map(|f| f.1),
    }
}

/// Luma (Rec. 601) of a pixel.
fn luma(p: &Rgb<u8>) -> f64 {
    0.299 * f64::from(p.0[0]) + 0.587 * f64::from(p.0[1]) + 0.114 * f64::from(p.0[2])
}

fn gray_of(img: &RgbImage) -> GrayImage {
    crate::resample::gray(img)
}

/// Statistics of a set of pixels.
struct Stats {
    n: f64,
    sum: [f64; 3],
    luma_sum: f64,
    luma_sq: f64,
    chroma_sum: f64,
    histogram: [u32; 256],
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            n: 0.0,
            sum: [0.0; 3],
            luma_sum: 0.0,
            luma_sq: 0.0,
            chroma_sum: 0.0,
            histogram: [0; 256],
        }
    }
}

impl Stats {
    fn add(&mut self, p: &Rgb<u8>) {
        let l = luma(p);
        self.n += 1.0;
        for (s, c) in self.sum.iter_mut().zip(p.0) {
            *s += f64::from(c);
        }
        self.luma_sum += l;
        self.luma_sq += l * l;
        let (mx, mn) = (p.0.iter().max(), p.0.iter().min());
        if let (Some(mx), Some(mn)) = (mx, mn) {
            self.chroma_sum += f64::from(mx - mn);
        }
        self.histogram[l.round().clamp(0.0, 255.0) as usize] += 1;
    }

    fn mean_luma(&self) -> f64 {
        self.luma_sum / self.n.max(1.0)
    }

    fn spread(&self) -> f64 {
        let m = self.mean_luma();
        (self.luma_sq / self.n.max(1.0) - m * m).max(0.0).sqrt()
    }

    fn mean_rgb(&self) -> [f64; 3] {
        self.sum.map(|s| s / self.n.max(1.0))
    }

    fn chroma(&self) -> f64 {
        self.chroma_sum / self.n.max(1.0)
    }

    fn percentile(&self, p: f64) -> f64 {
        let target = (p * self.n).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (v, &count) in self.histogram.iter().enumerate() {
            seen += u64::from(count);
            if seen >= target {
                return v as f64;
            }
        }
        255.0
    }
}

fn region_stats(img: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> Stats {
    let mut s = Stats::default();
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            s.add(img.get_pixel(x, y));
        }
    }
    s
}

/// The background border: a band along the top and, down to `down_to`, the
/// two sides (the bottom holds shoulders and clothes).
fn background_stats(img: &RgbImage, down_to: u32) -> Stats {
    let (w, h) = img.dimensions();
    let band_x = (w / 12).max(1);
    let band_y = (h / 14).max(1);
    let mut s = Stats::default();
    for y in 0..down_to.min(h) {
        for x in 0..w {
            if y < band_y || x < band_x || x >= w - band_x {
                s.add(img.get_pixel(x, y));
            }
        }
    }
    s
}

/// Variance of the 4-neighbour Laplacian, relative to the variance of the
/// image itself (×1000), so that a dim or low-contrast face is not taken for
/// a blurred one.
fn sharpness(g: &GrayImage) -> f64 {
    let lap = laplacian_variance(g);
    let mut s = Stats::default();
    for p in g.pixels() {
        let v = p.0[0];
        s.add(&Rgb([v, v, v]));
    }
    let spread = s.spread();
    if spread < 1.0 {
        return 0.0;
    }
    1000.0 * lap / (spread * spread)
}

/// Variance of the 4-neighbour Laplacian.
fn laplacian_variance(g: &GrayImage) -> f64 {
    let (w, h) = g.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    let (mut sum, mut sq, mut n) = (0.0, 0.0, 0.0);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let c = f64::from(g.get_pixel(x, y).0[0]);
            let l = f64::from(g.get_pixel(x - 1, y).0[0])
                + f64::from(g.get_pixel(x + 1, y).0[0])
                + f64::from(g.get_pixel(x, y - 1).0[0])
                + f64::from(g.get_pixel(x, y + 1).0[0])
                - 4.0 * c;
            sum += l;
            sq += l * l;
            n += 1.0;
        }
    }
    let m = sum / n;
    sq / n - m * m
}

/// Where the head's top is: scanning up from the face box, the first rows
/// that look like the background.
fn crown(work: &RgbImage, f: &FaceBox, bg: &Stats, t: &Thresholds) -> f64 {
    let fallback = f.y - face::CROWN_ABOVE_BOX * f.height;
    if bg.spread() > t.max_background_spread {
        return fallback;
    }
    let bg_luma = bg.mean_luma();
    let x0 = (f.centre_x() - 0.15 * f.width).max(0.0) as u32;
    let x1 = ((f.centre_x() + 0.15 * f.width) as u32).min(work.width());
    let start = f.y.max(0.0) as u32;
    let stop = (f.y - 1.2 * f.height).max(0.0) as u32;
    let mut run = 0;
    let mut y = start;
    while y > stop {
        y -= 1;
        let row = region_stats(work, x0, y, x1, y + 1);
        let like_background =
            (row.mean_luma() - bg_luma).abs() < 18.0 && row.spread() < bg.spread() + 12.0;
        if like_background {
            run += 1;
            if run == 3 {
                return f64::from(y + 3);
            }
        } else {
            run = 0;
        }
    }
    fallback
}

/// Measures every check on a decoded photo.
pub fn analyse(img: &RgbImage, t: &Thresholds) -> Analysis {
    let (w, h) = img.dimensions();
    let scale = (f64::from(WORK_SIDE) / f64::from(w.max(h))).min(1.0);
    let work = if scale < 1.0 {
        let ww = ((f64::from(w) * scale).round() as u32).max(1);
        let wh = ((f64::from(h) * scale).round() as u32).max(1);
        crate::resample::resize_rgb(img, ww, wh)
    } else {
        img.clone()
    };
    let scale = f64::from(work.width()) / f64::from(w);
    let (ww, wh) = work.dimensions();
    let gray = gray_of(&work);
    // Faces are looked for on a smaller copy still: a face that could pass
    // fills a third of the height, and detection cost grows with the pixels.
    let det_scale = (f64::from(DETECT_SIDE) / f64::from(ww.max(wh))).min(1.0);
    let faces = if det_scale < 1.0 {
        let dw = ((f64::from(ww) * det_scale).round() as u32).max(1);
        let dh = ((f64::from(wh) * det_scale).round() as u32).max(1);
        let small = crate::resample::resize_gray(&gray, dw, dh);
        let back = f64::from(ww) / f64::from(dw);
        face::scale_faces(face::detect(&small, dw.min(dh) / 5), back)
    } else {
        face::detect(&gray, ww.min(wh) / 5)
    };
    let mut checks = Vec::new();
    checks.push(check(
        "face_count",
        faces.len() as f64,
        between((1.0, 1.0)),
        "faces",
        (
            "photo.no_face",
            "We could not find a face. Face the camera, uncovered, in good light.",
        ),
        (
            "photo.several_faces",
            "Only you may be in the photo. Take it again with nobody else in the picture.",
        ),
    ));
    let face = (faces.len() == 1).then(|| faces[0]);
    let eyes = face.map(|f| face::eyes(&gray, &f));
    let down_to = eyes.map_or(wh * 6 / 10, |e| e.line_y() as u32);
    let bg = background_stats(&work, down_to);
    checks.push(check(
        "background_brightness",
        bg.mean_luma(),
        at_least(t.min_background_brightness),
        "0-255",
        (
            "photo.background_dark",
            "Stand in front of a plain white or light grey wall.",
        ),
        ("", ""),
    ));
    checks.push(check(
        "background_uniformity",
        bg.spread(),
        at_most(t.max_background_spread),
        "0-255 (std dev)",
        ("", ""),
        (
            "photo.background_busy",
            "The background must be plain: stand in front of a bare wall, with no objects, patterns or shadows behind you.",
        ),
    ));
    let rgb = bg.mean_rgb();
    let cast =
        rgb.iter().copied().fold(f64::MIN, f64::max) - rgb.iter().copied().fold(f64::MAX, f64::min);
    checks.push(check(
        "background_colour_cast",
        cast,
        at_most(t.max_background_cast),
        "0-255",
        ("", ""),
        (
            "photo.colour_cast",
            "The colours look tinted. Take the photo in daylight or white light, without filters.",
        ),
    ));

    let geometry = match (face, eyes) {
        (Some(f), Some(e)) => {
            let crown_y = crown(&work, &f, &bg, t);
            let chin_y = f.y + f.height * (1.0 + face::CHIN_BELOW_BOX);
            let hh = f64::from(wh);
            checks.push(check(
                "head_height",
                100.0 * (chin_y - crown_y) / hh,
                between(t.head_height_pct),
                "% of height",
                (
                    "photo.head_too_small",
                    "Your head is too small in the photo. Come closer to the camera or crop closer.",
                ),
                (
                    "photo.head_too_large",
                    "Your head is too large in the photo. Step back from the camera so your whole head and the top of your shoulders show.",
                ),
            ));
            checks.push(check(
                "eye_line",
                100.0 * (hh - e.line_y()) / hh,
                between(t.eye_line_pct),
                "% from bottom",
                (
                    "photo.eyes_too_low",
                    "Your eyes are too low in the photo. Leave less space above your head.",
                ),
                (
                    "photo.eyes_too_high",
                    "Your eyes are too high in the photo. Leave more space above your head.",
                ),
            ));
            checks.push(check(
                "eye_distance",
                e.distance() / scale,
                at_least(t.min_eye_distance_px),
                "px",
                (
                    "photo.eyes_too_close",
                    "The photo is too small or taken from too far: send a larger, closer photo.",
                ),
                ("", ""),
            ));
            checks.push(check(
                "centred",
                100.0 * (f.centre_x() - f64::from(ww) / 2.0).abs() / f64::from(ww),
                at_most(t.max_off_centre_pct),
                "% of width",
                ("", ""),
                (
                    "photo.off_centre",
                    "Put your face in the middle of the photo.",
                ),
            ));
            let mut upright = check(
                "upright",
                e.roll_degrees().abs(),
                at_most(t.max_roll_deg),
                "degrees",
                ("", ""),
                (
                    "photo.tilted",
                    "Hold your head straight and level, and the camera too.",
                ),
            );
            if !e.located {
                upright.measured = false;
                upright.passed = true;
                upright.reason = None;
                upright.advice = None;
            }
            checks.push(upright);

            let (fx0, fy0) = (f.x.max(0.0) as u32, f.y.max(0.0) as u32);
            let (fx1, fy1) = ((f.x + f.width) as u32, (f.y + f.height) as u32);
            let fs = region_stats(&work, fx0, fy0, fx1, fy1);
            checks.push(check(
                "exposure",
                fs.mean_luma(),
                between(t.face_brightness),
                "0-255",
                (
                    "photo.too_dark",
                    "Your face is too dark. Take the photo in even, bright light facing you.",
                ),
                (
                    "photo.too_bright",
                    "Your face is too bright. Avoid direct flash or strong light on your face.",
                ),
            ));
            checks.push(check(
                "contrast",
                fs.percentile(0.95) - fs.percentile(0.05),
                at_least(t.min_contrast),
                "0-255",
                (
                    "photo.low_contrast",
                    "The photo looks washed out. Take it in better light.",
                ),
                ("", ""),
            ));
            let fw = fx1.min(ww).saturating_sub(fx0).max(1);
            let fh = fy1.min(wh).saturating_sub(fy0).max(1);
            let face_gray = imageops::crop_imm(&gray, fx0, fy0, fw, fh).to_image();
            let target_h = ((160.0 * f64::from(fh) / f64::from(fw)).round() as u32).max(3);
            let face_gray = crate::resample::resize_gray(&face_gray, 160, target_h);
            checks.push(check(
                "sharpness",
                sharpness(&face_gray),
                at_least(t.min_sharpness),
                "Laplacian variance / brightness variance × 1000",
                (
                    "photo.blurred",
                    "The photo is blurred. Hold the camera still and make sure your face is in focus.",
                ),
                ("", ""),
            ));
            checks.push(check(
                "colour",
                fs.chroma(),
                at_least(t.min_face_chroma),
                "0-255",
                (
                    "photo.greyscale",
                    "The photo must be in colour. Send a colour photo.",
                ),
                ("", ""),
            ));
            let back = 1.0 / scale;
            Some(Geometry {
                face: face::scale_faces(vec![f], back)[0],
                eyes: e.scaled(back),
                crown_y: crown_y * back,
                chin_y: chin_y * back,
                background: rgb,
            })
        }
        _ => None,
    };
    let accepted = checks.iter().all(|c| c.passed);
    Analysis {
        report: Report {
            accepted,
            width: w,
            height: h,
            checks,
        },
        geometry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_fails_low_and_high_with_its_own_reason() {
        let c = |v| {
            check(
                "x",
                v,
                between((1.0, 2.0)),
                "u",
                ("low", "l"),
                ("high", "h"),
            )
        };
        assert!(c(1.5).passed);
        assert_eq!(c(0.5).reason, Some("low"));
        assert_eq!(c(2.5).reason, Some("high"));
        assert_eq!(c(2.5).advice, Some("h"));
    }

    #[test]
    fn a_blank_image_has_no_face_and_a_plain_background() {
        let img = RgbImage::from_pixel(600, 750, Rgb([230, 230, 228]));
        let a = analyse(&img, &Thresholds::default());
        assert!(!a.report.accepted);
        assert_eq!(a.report.reasons(), vec!["photo.no_face"]);
        assert!(a.geometry.is_none());
        assert!(a.report.check("background_brightness").unwrap().passed);
    }

    #[test]
    fn the_laplacian_sees_edges() {
        let flat = GrayImage::from_pixel(50, 50, image::Luma([128]));
        let checker = GrayImage::from_fn(50, 50, |x, y| {
            image::Luma([if (x + y) % 2 == 0 { 0 } else { 255 }])
        });
        assert_eq!(laplacian_variance(&flat), 0.0);
        assert!(laplacian_variance(&checker) > 10_000.0);
    }

    #[test]
    fn percentiles_of_a_histogram() {
        let mut s = Stats::default();
        for v in 0..=100u8 {
            s.add(&Rgb([v, v, v]));
        }
        assert_eq!(s.percentile(0.05), 5.0);
        assert_eq!(s.percentile(0.95), 95.0);
    }
}
