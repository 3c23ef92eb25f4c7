//! Photo checks: decode, face detection and every measurement, per photo,
//! at the sizes citizens send (600×600 to 1200×1600 JPEGs), then the
//! throughput of the service's pool of 2 workers, and the cost of a
//! submission (checks, normalisation to the card photo, encryption, store).
//!
//! The inputs are the accepted test photo framed at each size (a portrait
//! fills the height; a square one is padded with the light background).
//!
//! ```text
//! cargo bench -p plaza-photo --bench checks -- --photos 60
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage, imageops};
use plaza_kernel::clock::SystemClock;
use plaza_kernel::crypt::DataKey;
use plaza_photo::checks::{Thresholds, analyse};
use plaza_photo::decode::decode;
use plaza_photo::{Config, Limits, Photos};

const SIZES: [(u32, u32); 4] = [(600, 600), (600, 750), (900, 1200), (1200, 1600)];

fn input(base: &RgbImage, w: u32, h: u32) -> Vec<u8> {
    let scale = f64::from(h) / f64::from(base.height());
    let sw = ((f64::from(base.width()) * scale).round() as u32).min(w);
    let scaled = imageops::resize(base, sw, h, imageops::FilterType::CatmullRom);
    let mut canvas = RgbImage::from_pixel(w, h, Rgb([232, 232, 228]));
    imageops::replace(&mut canvas, &scaled, i64::from((w - sw) / 2), 0);
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&canvas)
        .unwrap();
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    format!(
        "p50 {:6.1} ms  p99 {:6.1} ms  max {:6.1} ms",
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    )
}

fn main() {
    let mut n: usize = 60;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--photos" {
            n = args
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--photos N");
        }
    }
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/good.jpg");
    let base = image::open(fixture).unwrap().to_rgb8();
    let limits = Limits::default();
    let thresholds = Thresholds::default();
    let inputs: Vec<((u32, u32), Vec<u8>)> = SIZES
        .iter()
        .map(|&(w, h)| ((w, h), input(&base, w, h)))
        .collect();

    println!("one thread, {n} photos per size (after 3 warm-up runs):");
    for ((w, h), bytes) in &inputs {
        let one = || {
            let t = Instant::now();
            let img = decode(bytes, None, &limits).unwrap();
            let decoded = t.elapsed();
            let report = analyse(&img, &thresholds).report;
            assert!(report.accepted, "{w}x{h}: {:?}", report.reasons());
            (decoded, t.elapsed())
        };
        for _ in 0..3 {
            one();
        }
        let (mut decodes, mut totals) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (d, t) = one();
            decodes.push(d);
            totals.push(t);
        }
        let mean_decode = decodes.iter().sum::<Duration>().as_secs_f64() * 1000.0 / n as f64;
        // Face detection alone, on the copy the checks detect on.
        let img = decode(bytes, None, &limits).unwrap();
        let gray = plaza_photo::resample::gray(&img);
        let side = plaza_photo::checks::DETECT_SIDE;
        let (dw, dh) = if w >= h {
            (side, side * h / w)
        } else {
            (side * w / h, side)
        };
        let small = plaza_photo::resample::resize_gray(&gray, dw, dh);
        let t = Instant::now();
        for _ in 0..n {
            assert_eq!(plaza_photo::face::detect(&small, dw.min(dh) / 5).len(), 1);
        }
        let mean_detect = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
        println!(
            "  check {w:>4}x{h:<4} ({:>4} KB): {}  (mean: decode {mean_decode:.1} ms, face detection {mean_detect:.1} ms)",
            bytes.len() / 1024,
            summary(totals)
        );
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = plaza_kernel::testing::temp_dir("photo-bench");
        let db = plaza_photo::open_db(&plaza_kernel::db::StorageTarget::DataDir(dir))
            .await
            .unwrap();
        let config = Config {
            workers: 2,
            queue: 64,
            ..Config::default()
        };
        let photos = Photos::new(db, DataKey::random(), Arc::new(SystemClock), config);
        println!(
            "service pool, 2 workers, {} photos per size, 8 in flight:",
            n * 2
        );
        for ((w, h), bytes) in &inputs {
            let t = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            let mut latencies = Vec::new();
            for i in 0..n * 2 {
                if i >= 8 {
                    latencies.push(tasks.join_next().await.unwrap().unwrap());
                }
                let (photos, bytes) = (photos.clone(), bytes.clone());
                tasks.spawn(async move {
                    let s = Instant::now();
                    assert!(photos.check(bytes, None).await.unwrap().accepted);
                    s.elapsed()
                });
            }
            while let Some(r) = tasks.join_next().await {
                latencies.push(r.unwrap());
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "  check {w:>4}x{h:<4}: {:6.1} photos/s  (latency incl. queueing: {})",
                (n * 2) as f64 / secs,
                summary(latencies)
            );
        }
        let ((w, h), big) = inputs.last().unwrap();
        let mut submits = Vec::new();
        for _ in 0..n {
            let s = Instant::now();
            assert!(
                photos
                    .submit(big.clone(), None)
                    .await
                    .unwrap()
                    .photo_id
                    .is_some()
            );
            submits.push(s.elapsed());
        }
        println!(
            "  submit {w}x{h} (one at a time, same photo): {}",
            summary(submits)
        );
    });
}
