//! Face detection with SeetaFace's frontal model (through `rustface`), and
//! the features measured from a face box.
//!
//! rustface gives a box, not landmarks. The eyes are located as the two
//! darkest blobs (pupils, lashes) in the upper half of the box, one on each
//! side; when the blobs are not where eyes can be (glasses' glare, shadows),
//! they are placed from the box by fixed proportions: centres at 30 % and
//! 70 % of the box's width, 40 % down its height. The head's top is taken
//! where the background starts above the face (a plain background is
//! required anyway) and is placed 45 % of the box's height above the box when
//! no edge is found; the chin is 12 % of the box's height below it.

use std::cell::RefCell;
use std::sync::OnceLock;

use image::GrayImage;
use rustface::{Detector, ImageData, Model};

static MODEL_BYTES: &[u8] = include_bytes!("../model/seeta_fd_frontal_v1.0.bin");

/// Least detector score for a face. SeetaFace scores real faces in the
/// test photos 14–22 and its false hits (collars, hair) under 3.
pub const MIN_SCORE: f64 = 8.0;

/// Fraction of the box height by which the chin lies below the box.
pub const CHIN_BELOW_BOX: f64 = 0.12;
/// Fraction of the box height by which the crown lies above the box when the
/// background edge cannot be found.
pub const CROWN_ABOVE_BOX: f64 = 0.45;
/// Eye centres from the box when the blobs cannot be found.
pub const EYE_X: (f64, f64) = (0.30, 0.70);
pub const EYE_Y: f64 = 0.40;

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    // The model is compiled in; a unit test proves it parses.
    MODEL.get_or_init(|| rustface::read_model(MODEL_BYTES).expect("shipped face model parses"))
}

thread_local! {
    static DETECTOR: RefCell<Option<Box<dyn Detector>>> = const { RefCell::new(None) };
}

/// A face found in an image, in that image's pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub score: f64,
}

impl FaceBox {
    pub fn centre_x(&self) -> f64 {
        self.x + self.width / 2.0
    }

    fn scaled(&self, by: f64) -> FaceBox {
        FaceBox {
            x: self.x * by,
            y: self.y * by,
            width: self.width * by,
            height: self.height * by,
            score: self.score,
        }
    }
}

/// Faces in a greyscale image, largest first. Faces smaller than
/// `min_face` pixels are not looked for.
pub fn detect(gray: &GrayImage, min_face: u32) -> Vec<FaceBox> {
    let (w, h) = gray.dimensions();
    if w < 20 || h < 20 {
        return Vec::new();
    }
    let mut faces = DETECTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let detector = slot.get_or_insert_with(|| {
            let mut d = rustface::create_detector_with_model(model().clone());
            d.set_score_thresh(MIN_SCORE);
            d.set_pyramid_scale_factor(0.75);
            d.set_slide_window_step(4, 4);
            d
        });
        detector.set_min_face_size(min_face.max(20));
        let data = ImageData::new(gray.as_raw(), w, h);
        detector
            .detect(&data)
            .into_iter()
            .map(|f| {
                let b = f.bbox();
                FaceBox {
                    x: f64::from(b.x()),
                    y: f64::from(b.y()),
                    width: f64::from(b.width()),
                    height: f64::from(b.height()),
                    score: f.score(),
                }
            })
            .collect::<Vec<_>>()
    });
    faces.sort_by(|a, b| (b.width * b.height).total_cmp(&(a.width * a.height)));
    faces
}

/// Eye centres and how they were found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eyes {
    pub left: (f64, f64),
    pub right: (f64, f64),
    /// True when found as dark blobs, false when placed from the box.
    pub located: bool,
}

impl Eyes {
    pub fn distance(&self) -> f64 {
        (self.right.0 - self.left.0).hypot(self.right.1 - self.left.1)
    }

    pub fn line_y(&self) -> f64 {
        (self.left.1 + self.right.1) / 2.0
    }

    /// Roll of the eye line, degrees.
    pub fn roll_degrees(&self) -> f64 {
        (self.right.1 - self.left.1)
            .atan2(self.right.0 - self.left.0)
            .to_degrees()
    }

    pub fn scaled(&self, by: f64) -> Eyes {
        Eyes {
            left: (self.left.0 * by, self.left.1 * by),
            right: (self.right.0 * by, self.right.1 * by),
            located: self.located,
        }
    }
}

/// The centre of the darkest blob in a region: the points whose small
/// neighbourhood (radius `r`) is darkest relative to its surround (radius
/// `3r`), so that a pupil in skin counts and a stretch of dark hair does not.
/// Returns the mean position of the best few percent of points.
fn darkest(gray: &GrayImage, x0: u32, y0: u32, x1: u32, y1: u32, r: u32) -> Option<(f64, f64)> {
    let outer = 3 * r;
    if x1 <= x0 + 2 * outer + 1 || y1 <= y0 + 2 * outer + 1 {
        return None;
    }
    // Summed-area table over the region.
    let (rw, rh) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut sat = vec![0i64; (rw + 1) * (rh + 1)];
    for y in 0..rh {
        let mut row = 0i64;
        for x in 0..rw {
            row += i64::from(gray.get_pixel(x0 + x as u32, y0 + y as u32).0[0]);
            sat[(y + 1) * (rw + 1) + x + 1] = sat[y * (rw + 1) + x + 1] + row;
        }
    }
    let boxsum = |x: usize, y: usize, r: usize| {
        let (ax, ay, bx, by) = (x - r, y - r, x + r + 1, y + r + 1);
        sat[by * (rw + 1) + bx] + sat[ay * (rw + 1) + ax]
            - sat[ay * (rw + 1) + bx]
            - sat[by * (rw + 1) + ax]
    };
    let (r, outer) = (r as usize, outer as usize);
    let (inner_area, outer_area) = (
        ((2 * r + 1) * (2 * r + 1)) as f64,
        ((2 * outer + 1) * (2 * outer + 1)) as f64,
    );
    let score = |x: usize, y: usize| {
        boxsum(x, y, r) as f64 / inner_area - boxsum(x, y, outer) as f64 / outer_area
    };
    let mut values = Vec::with_capacity((rw - 2 * outer) * (rh - 2 * outer));
    for y in outer..rh - outer {
        for x in outer..rw - outer {
            values.push(score(x, y));
        }
    }
    let k = values.len() / 50;
    let cutoff = *values.select_nth_unstable_by(k, f64::total_cmp).1;
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
    for y in outer..rh - outer {
        for x in outer..rw - outer {
            if score(x, y) <= cutoff {
                sx += x as f64;
                sy += y as f64;
                n += 1.0;
            }
        }
    }
    Some((f64::from(x0) + sx / n, f64::from(y0) + sy / n))
}

/// The eyes of a face.
pub fn eyes(gray: &GrayImage, face: &FaceBox) -> Eyes {
    let from_box = Eyes {
        left: (face.x + EYE_X.0 * face.width, face.y + EYE_Y * face.height),
        right: (face.x + EYE_X.1 * face.width, face.y + EYE_Y * face.height),
        located: false,
    };
    let (w, h) = gray.dimensions();
    let clamp_x = |v: f64| v.clamp(0.0, f64::from(w)) as u32;
    let clamp_y = |v: f64| v.clamp(0.0, f64::from(h)) as u32;
    let top = clamp_y(face.y + 0.22 * face.height);
    let bottom = clamp_y(face.y + 0.55 * face.height);
    let mid = face.centre_x();
    let r = ((face.width / 40.0).round() as u32).max(1);
    let left = darkest(
        gray,
        clamp_x(face.x + 0.18 * face.width),
        top,
        clamp_x(mid - 0.06 * face.width),
        bottom,
        r,
    );
    let right = darkest(
        gray,
        clamp_x(mid + 0.06 * face.width),
        top,
        clamp_x(face.x + 0.82 * face.width),
        bottom,
        r,
    );
    let (Some(left), Some(right)) = (left, right) else {
        return from_box;
    };
    let dx = right.0 - left.0;
    let dy = right.1 - left.1;
    let plausible = dx > 0.25 * face.width && dx < 0.65 * face.width && dy.abs() < 0.5 * dx;
    if plausible {
        Eyes {
            left,
            right,
            located: true,
        }
    } else {
        from_box
    }
}

pub(crate) fn scale_faces(faces: Vec<FaceBox>, by: f64) -> Vec<FaceBox> {
    faces.into_iter().map(|f| f.scaled(by)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_parses_and_finds_nothing_in_a_blank_image() {
        let _ = model();
        let blank = GrayImage::from_pixel(200, 200, image::Luma([200]));
        assert!(detect(&blank, 40).is_empty());
    }

    #[test]
    fn the_darkest_blob_is_found() {
        let mut g = GrayImage::from_pixel(100, 60, image::Luma([220]));
        for y in 28..34 {
            for x in 60..66 {
                g.put_pixel(x, y, image::Luma([10]));
            }
        }
        let (x, y) = darkest(&g, 0, 0, 100, 60, 3).unwrap();
        assert!(
            (61.0..=64.0).contains(&x) && (29.0..=32.0).contains(&y),
            "{x},{y}"
        );
    }

    #[test]
    fn scaling_a_box() {
        let b = FaceBox {
            x: 10.0,
            y: 20.0,
            width: 30.0,
            height: 30.0,
            score: 1.0,
        };
        assert_eq!(b.scaled(2.0).width, 60.0);
        assert_eq!(b.scaled(2.0).centre_x(), 50.0);
    }
}
