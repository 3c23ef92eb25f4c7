//! Writes the test photos in `tests/fixtures/` from NASA's public-domain
//! portrait of Eileen Collins as shipped in scikit-image (`astronaut.png`,
//! 512×512; see `tests/fixtures/README.md` for how to get it).
//!
//! `cargo run -p plaza-photo --example fixtures -- path/to/astronaut.png tests/fixtures`
//!
//! The portrait's mottled studio backdrop is replaced by a plain light grey
//! outside a mask drawn around the head and the suit, and the result is
//! framed like a licence photo. The defective photos are made from it.

use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage, imageops};

const W: u32 = 520;
const H: u32 = 650;
const LIGHT: [f64; 3] = [232.0, 232.0, 228.0];

// Measured on the source portrait (512×512).
const CROWN_Y: f64 = 15.0;
const CHIN_Y: f64 = 177.0;
const EYE_Y: f64 = 101.0;
const FACE_X: f64 = 225.0;

/// How much of a source pixel is the person (1) rather than backdrop (0).
fn person(x: f64, y: f64) -> f64 {
    let (cx, cy, a, b) = (228.0, 97.0, 78.0, 86.0);
    let e = ((x - cx) / a).powi(2) + ((y - cy) / b).powi(2);
    // Distance outside the ellipse, roughly in pixels.
    let head = ((1.0 - e.sqrt()) * a.min(b) / 3.0 + 0.5).clamp(0.0, 1.0);
    let body = if y >= 148.0 {
        let half = 60.0 + (y - 148.0) * 1.6;
        ((half - (x - 225.0).abs()) / 3.0 + 0.5).clamp(0.0, 1.0)
    } else {
        0.0
    };
    head.max(body)
}

/// The person on a backdrop given pixel by pixel.
fn on_backdrop(src: &RgbImage, backdrop: impl Fn(u32, u32) -> [f64; 3]) -> RgbImage {
    RgbImage::from_fn(src.width(), src.height(), |x, y| {
        let m = person(f64::from(x), f64::from(y));
        let p = src.get_pixel(x, y).0;
        let b = backdrop(x, y);
        Rgb(std::array::from_fn(|i| {
            (f64::from(p[i]) * m + b[i] * (1.0 - m)).round() as u8
        }))
    })
}

/// Frames `src` on a `w`×`h` light canvas: head `head_share` of the height,
/// eyes `eye_from_bottom` of the height from the bottom, face centre at
/// `centre_x` of the width.
fn frame(
    src: &RgbImage,
    w: u32,
    h: u32,
    head_share: f64,
    eye_from_bottom: f64,
    centre_x: f64,
) -> RgbImage {
    let scale = head_share * f64::from(h) / (CHIN_Y - CROWN_Y);
    let sw = (f64::from(src.width()) * scale).round() as u32;
    let sh = (f64::from(src.height()) * scale).round() as u32;
    let scaled = imageops::resize(src, sw, sh, imageops::FilterType::CatmullRom);
    let light = Rgb(LIGHT.map(|c| c as u8));
    let mut canvas = RgbImage::from_pixel(w, h, light);
    let ox = centre_x * f64::from(w) - FACE_X * scale;
    let oy = (1.0 - eye_from_bottom) * f64::from(h) - EYE_Y * scale;
    imageops::replace(&mut canvas, &scaled, ox.round() as i64, oy.round() as i64);
    canvas
}

/// `img` rotated by `deg` about (cx, cy), bilinear, filling with light grey.
fn rotate(img: &RgbImage, deg: f64, cx: f64, cy: f64) -> RgbImage {
    let (s, c) = deg.to_radians().sin_cos();
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let (dx, dy) = (f64::from(x) - cx, f64::from(y) - cy);
        let sx = c * dx + s * dy + cx;
        let sy = -s * dx + c * dy + cy;
        let (x0, y0) = (sx.floor(), sy.floor());
        let inside = |x: f64, y: f64| {
            x >= 0.0 && y >= 0.0 && x < f64::from(img.width()) && y < f64::from(img.height())
        };
        let px = |x: f64, y: f64| -> [f64; 3] {
            if inside(x, y) {
                img.get_pixel(x as u32, y as u32).0.map(f64::from)
            } else {
                LIGHT
            }
        };
        let (fx, fy) = (sx - x0, sy - y0);
        let (a, b, cc, d) = (
            px(x0, y0),
            px(x0 + 1.0, y0),
            px(x0, y0 + 1.0),
            px(x0 + 1.0, y0 + 1.0),
        );
        Rgb(std::array::from_fn(|i| {
            let top = a[i] * (1.0 - fx) + b[i] * fx;
            let bottom = cc[i] * (1.0 - fx) + d[i] * fx;
            (top * (1.0 - fy) + bottom * fy).round() as u8
        }))
    })
}

fn map(img: &RgbImage, f: impl Fn([u8; 3]) -> [u8; 3]) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        Rgb(f(img.get_pixel(x, y).0))
    })
}

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .expect("encoding a fixture");
    out
}

/// The JPEG with an EXIF segment (camera, GPS position, a marker text) and a
/// comment inserted after its start marker, as a phone would write them.
fn with_metadata(jpeg: &[u8]) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0*\0\0\0\x08".to_vec();
    exif.extend_from_slice(b"PLAZA-EXIF-MARKER GPS 40.2732N 76.8867W Camera: Example Phone");
    let mut out = jpeg[..2].to_vec();
    for (marker, body) in [(0xE1u8, exif), (0xFE, b"PLAZA-COMMENT-MARKER".to_vec())] {
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A PNG whose header claims 100000×100000 pixels, with a small valid IDAT:
/// a decompression bomb's shape without its size.
fn bomb_png() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of 1024 zero bytes, stored uncompressed would be big;
    // a minimal deflate block of zeros is enough to look real.
    chunk(
        &mut out,
        b"IDAT",
        &[
            0x78, 0x9C, 0x63, 0x60, 0x18, 0x05, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01,
        ],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("writing a fixture");
    println!("{name}: {} bytes", bytes.len());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let source = PathBuf::from(args.next().expect("path to astronaut.png"));
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "tests/fixtures".into()));
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let src = image::open(&source)
        .expect("reading the source portrait")
        .to_rgb8();
    let plain = on_backdrop(&src, |_, _| LIGHT);
    // The flag and shuttle model from the portrait's left edge, repeated.
    let busy = on_backdrop(&src, |x, y| src.get_pixel(x % 140, y).0.map(f64::from));
    let q = 80;

    let good = frame(&plain, W, H, 0.60, 0.62, 0.5);
    write(&dir, "good.jpg", &with_metadata(&jpeg(&good, q)));
    let good_low = frame(&plain, W, H, 0.56, 0.58, 0.52);
    write(&dir, "good_lower.jpg", &jpeg(&good_low, q));

    // Two people: the portrait twice, side by side.
    let half = frame(&plain, W / 2, H, 0.30, 0.62, 0.5);
    let mut two = RgbImage::from_pixel(W, H, Rgb(LIGHT.map(|c| c as u8)));
    imageops::replace(&mut two, &half, 0, 0);
    imageops::replace(&mut two, &half, i64::from(W / 2), 0);
    write(&dir, "two_faces.jpg", &jpeg(&two, q));

    write(
        &dir,
        "small_face.jpg",
        &jpeg(&frame(&plain, W, H, 0.30, 0.62, 0.5), q),
    );
    write(
        &dir,
        "off_centre.jpg",
        &jpeg(&frame(&plain, W, H, 0.60, 0.62, 0.30), q),
    );
    write(
        &dir,
        "dark.jpg",
        &jpeg(&map(&good, |p| p.map(|c| (f64::from(c) * 0.25) as u8)), q),
    );
    write(&dir, "blurred.jpg", &jpeg(&imageops::blur(&good, 5.0), q));
    write(
        &dir,
        "greyscale.jpg",
        &jpeg(
            &map(&good, |p| {
                let l =
                    (0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
                        .round() as u8;
                [l, l, l]
            }),
            q,
        ),
    );
    write(
        &dir,
        "colour_cast.jpg",
        &jpeg(
            &map(&good, |p| {
                [
                    p[0],
                    (f64::from(p[1]) * 0.85) as u8,
                    (f64::from(p[2]) * 0.55) as u8,
                ]
            }),
            q,
        ),
    );
    let (cx, cy) = (f64::from(W) / 2.0, 0.38 * f64::from(H));
    write(&dir, "rotated.jpg", &jpeg(&rotate(&good, 16.0, cx, cy), q));
    // A backdrop of flags and models.
    let mut cluttered = frame(&busy, W, H, 0.60, 0.62, 0.5);
    // The canvas around the scaled portrait is plain; cover it too.
    for (x, y, p) in cluttered.enumerate_pixels_mut() {
        if p.0 == LIGHT.map(|c| c as u8) {
            *p = *src.get_pixel(x % 140, y % 512);
        }
    }
    write(&dir, "cluttered.jpg", &jpeg(&cluttered, q));

    let good_bytes = std::fs::read(dir.join("good.jpg")).expect("good.jpg");
    write(
        &dir,
        "truncated.jpg",
        &good_bytes[..good_bytes.len() * 6 / 10],
    );
    write(&dir, "bomb.png", &bomb_png());
    let small = imageops::resize(&good, 320, 400, imageops::FilterType::Triangle);
    write(&dir, "jpeg_named.png", &jpeg(&small, 60));
    // Random bytes from a fixed linear congruential sequence.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect();
    write(&dir, "random.bin", &random);
}
