//! Prints the check report for a photo file:
//! `cargo run -p plaza-photo --example report -- photo.jpg`

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: report <photo.jpg|photo.png>");
        std::process::exit(2);
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let limits = plaza_photo::Limits::default();
    let img = match plaza_photo::decode::decode(&bytes, None, &limits) {
        Ok(img) => img,
        Err(e) => {
            println!("refused: {} ({e})", e.code());
            return;
        }
    };
    let analysis = plaza_photo::checks::analyse(&img, &Default::default());
    let r = &analysis.report;
    println!("{}x{} accepted={}", r.width, r.height, r.accepted);
    for c in &r.checks {
        println!(
            "{:24} {:5} {:>9.2} {:?}..{:?} {:16} {}",
            c.name,
            if c.passed { "pass" } else { "FAIL" },
            c.value,
            c.min,
            c.max,
            c.unit,
            c.reason.unwrap_or("")
        );
    }
}
