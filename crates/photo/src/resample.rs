//! Resizing 8-bit images with a triangle (linear) filter in fixed point.
//!
//! Every photo is resized three or four times (a working copy, the copy
//! faces are looked for on, the face for the sharpness check, the card
//! photo), so this is on the hot path of every upload. The filter is
//! separable: each output sample is a weighted sum over the source samples
//! under a triangle as wide as the scale factor (never narrower than one
//! pixel, so enlarging interpolates linearly and shrinking averages every
//! source pixel it covers). Weights are computed once per axis as integers
//! summing to 2^14, and rows are accumulated in `i32`, so the inner loops
//! are plain multiply-adds the compiler vectorises.

use image::{GrayImage, ImageBuffer, Pixel, RgbImage};

const ONE: i32 = 1 << 14;

/// The source samples under one output sample and their weights.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

fn taps(src: u32, dst: u32) -> Vec<Taps> {
    let ratio = f64::from(src) / f64::from(dst);
    let support = ratio.max(1.0);
    (0..dst)
        .map(|i| {
            let centre = (f64::from(i) + 0.5) * ratio;
            let lo = (centre - support).floor().max(0.0) as usize;
            let hi = ((centre + support).ceil() as usize).min(src as usize);
            let raw: Vec<f64> = (lo..hi)
                .map(|j| (1.0 - ((j as f64 + 0.5) - centre).abs() / support).max(0.0))
                .collect();
            let total: f64 = raw.iter().sum();
            let mut weights: Vec<i32> = if total > 0.0 {
                raw.iter()
                    .map(|w| (w / total * f64::from(ONE)).round() as i32)
                    .collect()
            } else {
                // The sample falls between source pixels that all weigh
                // nothing (cannot happen with support ≥ 1, kept for safety):
                // take the nearest one.
                let mut w = vec![0; raw.len()];
                if let Some(first) = w.first_mut() {
                    *first = ONE;
                }
                w
            };
            // Rounding may leave the sum off by a little: give the
            // difference to the heaviest tap, so flat areas stay flat.
            let sum: i32 = weights.iter().sum();
            if let Some(max) = weights.iter_mut().max() {
                *max += ONE - sum;
            }
            Taps { start: lo, weights }
        })
        .collect()
}

fn clamp_u8(acc: i32) -> u8 {
    ((acc + ONE / 2) >> 14).clamp(0, 255) as u8
}

/// Resizes raw interleaved `C`-channel rows of `w`×`h` to `nw`×`nh`.
fn resize_raw<const C: usize>(src: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Vec<u8> {
    let (w_, nw_) = (w as usize, nw as usize);
    // Horizontal pass: h rows of nw samples.
    let across = taps(w, nw);
    let mut mid = vec![0u8; nw_ * h as usize * C];
    for (row, out) in src.chunks_exact(w_ * C).zip(mid.chunks_exact_mut(nw_ * C)) {
        for (t, px) in across.iter().zip(out.chunks_exact_mut(C)) {
            let mut acc = [0i32; C];
            let under = &row[t.start * C..(t.start + t.weights.len()) * C];
            for (weight, sample) in t.weights.iter().zip(under.chunks_exact(C)) {
                for c in 0..C {
                    acc[c] += weight * i32::from(sample[c]);
                }
            }
            for c in 0..C {
                px[c] = clamp_u8(acc[c]);
            }
        }
    }
    // Vertical pass: nh rows, each a weighted sum of whole rows.
    let down = taps(h, nh);
    let stride = nw_ * C;
    let mut out = vec![0u8; stride * nh as usize];
    let mut acc = vec![0i32; stride];
    for (t, dst) in down.iter().zip(out.chunks_exact_mut(stride)) {
        acc.iter_mut().for_each(|a| *a = 0);
        for (k, weight) in t.weights.iter().enumerate() {
            let row = &mid[(t.start + k) * stride..(t.start + k + 1) * stride];
            for (a, s) in acc.iter_mut().zip(row) {
                *a += weight * i32::from(*s);
            }
        }
        for (d, a) in dst.iter_mut().zip(&acc) {
            *d = clamp_u8(*a);
        }
    }
    out
}

fn resize<P: Pixel<Subpixel = u8>, const C: usize>(
    img: &ImageBuffer<P, Vec<u8>>,
    nw: u32,
    nh: u32,
) -> ImageBuffer<P, Vec<u8>> {
    let (w, h) = img.dimensions();
    let (nw, nh) = (nw.max(1), nh.max(1));
    if w == 0 || h == 0 {
        return ImageBuffer::new(nw, nh);
    }
    let raw = resize_raw::<C>(img.as_raw(), w, h, nw, nh);
    ImageBuffer::from_raw(nw, nh, raw).expect("buffer sized for the image")
}

/// `img` resized to `nw`×`nh` (each at least 1).
pub fn resize_rgb(img: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    resize::<_, 3>(img, nw, nh)
}

/// `img` resized to `nw`×`nh` (each at least 1).
pub fn resize_gray(img: &GrayImage, nw: u32, nh: u32) -> GrayImage {
    resize::<_, 1>(img, nw, nh)
}

/// Greyscale by the Rec. 601 weights, in fixed point.
pub fn gray(img: &RgbImage) -> GrayImage {
    let raw = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| {
            let y = 19_595 * u32::from(p[0]) + 38_470 * u32::from(p[1]) + 7_471 * u32::from(p[2]);
            ((y + 32_768) >> 16) as u8
        })
        .collect();
    GrayImage::from_raw(img.width(), img.height(), raw).expect("one sample per pixel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};
    use proptest::prelude::*;

    #[test]
    fn a_flat_image_stays_flat_at_any_size() {
        let img = RgbImage::from_pixel(517, 643, Rgb([200, 17, 99]));
        for (w, h) in [(600, 750), (320, 400), (33, 1), (1, 1), (1200, 1600)] {
            let out = resize_rgb(&img, w, h);
            assert_eq!(out.dimensions(), (w, h));
            assert!(out.pixels().all(|p| *p == Rgb([200, 17, 99])), "{w}x{h}");
        }
    }

    #[test]
    fn halving_averages_neighbours() {
        // Columns alternate 0 and 200: halved, every sample is near 100.
        let img = GrayImage::from_fn(64, 8, |x, _| Luma([if x % 2 == 0 { 0 } else { 200 }]));
        let out = resize_gray(&img, 32, 4);
        // Away from the edges (where the filter sees one side only).
        for (x, _, p) in out
            .enumerate_pixels()
            .filter(|(x, _, _)| (1..31).contains(x))
        {
            assert!((90..=110).contains(&p.0[0]), "column {x}: {}", p.0[0]);
        }
    }

    #[test]
    fn enlarging_interpolates_between_samples() {
        let img = GrayImage::from_fn(2, 1, |x, _| Luma([if x == 0 { 0 } else { 240 }]));
        let out = resize_gray(&img, 8, 1);
        let v: Vec<u8> = out.pixels().map(|p| p.0[0]).collect();
        assert!(v.windows(2).all(|w| w[0] <= w[1]), "monotonic ramp: {v:?}");
        assert_eq!((v[0], v[7]), (0, 240));
        assert!(v[3] > 60 && v[4] < 180, "{v:?}");
    }

    #[test]
    fn grey_follows_rec_601() {
        let img = RgbImage::from_fn(4, 1, |x, _| {
            [
                Rgb([255, 0, 0]),
                Rgb([0, 255, 0]),
                Rgb([0, 0, 255]),
                Rgb([255, 255, 255]),
            ][x as usize]
        });
        let g: Vec<u8> = gray(&img).pixels().map(|p| p.0[0]).collect();
        assert_eq!(g, vec![76, 150, 29, 255]);
    }

    proptest! {
        #[test]
        fn output_stays_within_the_source_range(
            w in 1u32..40, h in 1u32..40, nw in 1u32..80, nh in 1u32..80, seed in any::<u64>()
        ) {
            let mut s = seed;
            let img = GrayImage::from_fn(w, h, |_, _| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                Luma([(s >> 56) as u8])
            });
            let (lo, hi) = img.pixels().fold((255u8, 0u8), |(lo, hi), p| (lo.min(p.0[0]), hi.max(p.0[0])));
            let out = resize_gray(&img, nw, nh);
            prop_assert_eq!(out.dimensions(), (nw, nh));
            prop_assert!(out.pixels().all(|p| p.0[0] >= lo && p.0[0] <= hi));
        }
    }
}
