use plaza_fulfillment::ImageFormat;
use plaza_fulfillment::pdf417::{self, Options, Patterns, QUIET, ROW_HEIGHT, Render};

/// Reads a PNG drawn by `pdf417::to_png` back to its codewords with
/// Plaza's own table.
fn read_back(png: &[u8], patterns: &Patterns, px: u32) -> Vec<u32> {
    let img = image::load_from_memory(png).unwrap().to_luma8();
    let q = QUIET as u32 * px;
    let rows = (img.height() - 2 * q) / (ROW_HEIGHT as u32 * px);
    let modules = (img.width() - 2 * q) / px;
    let columns = (modules as usize - 69) / 17;
    let mut out = Vec::new();
    for r in 0..rows {
        let y = q + r * ROW_HEIGHT as u32 * px + px;
        let line: Vec<bool> = (0..modules)
            .map(|m| img.get_pixel(q + m * px + px / 2, y).0[0] < 128)
            .collect();
        for c in 0..columns {
            let start = 34 + 17 * c;
            let mut widths = [0u8; 8];
            let mut idx = 0;
            for m in start..start + 17 {
                if m > start && line[m] != line[m - 1] {
                    idx += 1;
                }
                widths[idx] += 1;
            }
            out.push(
                patterns
                    .value_of(r as usize % 3, widths)
                    .expect("a known pattern"),
            );
        }
    }
    out
}

#[test]
fn layout_and_drawing_round_trip_with_plazas_reader() {
    let table = Patterns::shipped();
    for payload in [
        crate::card("Garcia", "PL1").encode(),
        crate::card(
            "Wolfeschlegelsteinhausenbergerdorff-Smithers",
            "PL12345678901234567890123",
        )
        .encode(),
        vec![0u8; 6],
        (0..=255u8).cycle().take(900).collect(),
    ] {
        let symbol = pdf417::encode(&payload, Options::default()).unwrap();
        let png = pdf417::to_png(&symbol.modules(&table), Render { module_px: 2 }).unwrap();
        let cws = read_back(&png, &table, 2);
        assert_eq!(cws, symbol.codewords);
        let k = pdf417::ec_count(symbol.ec_level);
        let mut root = 1;
        for _ in 0..k {
            root = root * 3 % 929;
            assert_eq!(pdf417::evaluate(&cws, root), 0);
        }
        let data_end = cws[0] as usize;
        let data: Vec<u32> = cws[1..data_end]
            .iter()
            .copied()
            .filter(|&c| c != pdf417::PAD)
            .collect();
        assert_eq!(pdf417::byte_decompaction(&data).unwrap(), payload);
        let svg = pdf417::to_svg(&symbol.modules(&table));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}

#[test]
fn the_largest_payload_fits_and_one_more_byte_does_not() {
    let mut n = 800;
    while pdf417::encode(&vec![b'A'; n + 1], Options::default()).is_ok() {
        n += 1;
    }
    let s = pdf417::encode(&vec![b'A'; n], Options::default()).unwrap();
    assert!(s.codewords.len() <= pdf417::MAX_CODEWORDS);
    assert_eq!(
        pdf417::encode(&vec![b'A'; n + 1], Options::default())
            .unwrap_err()
            .code(),
        "pdf417.too_long"
    );
    println!("largest byte payload in one symbol: {n} bytes");
}

/// The decisive test: an independent decoder (rxing) reads the PNG back
/// to exactly the bytes written.
#[tokio::test]
async fn rxing_reads_plazas_barcodes() {
    let table = Patterns::shipped();
    let long = crate::card(
        "Wolfeschlegelsteinhausenbergerdorff-Smithers",
        "PL12345678901234567890123",
    );
    for payload in [
        crate::card("Garcia", "PL1").encode(),
        long.encode(),
        (0..=255u8).cycle().take(700).collect::<Vec<u8>>(),
    ] {
        let symbol = pdf417::encode(&payload, Options::default()).unwrap();
        let png = pdf417::to_png(&symbol.modules(&table), Render { module_px: 3 }).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_luma8();
        let (w, h) = img.dimensions();
        let result = rxing::helpers::detect_in_luma(
            img.into_raw(),
            w,
            h,
            Some(rxing::BarcodeFormat::PDF_417),
        )
        .unwrap();
        let bytes: Vec<u8> = result.getText().chars().map(|c| c as u32 as u8).collect();
        assert_eq!(bytes, payload);
    }
    // And through the service.
    let env = crate::env().await;
    let app = env.app.clone();
    let order = app
        .create_order(crate::orders::new_order("bc", long.clone()))
        .await
        .unwrap();
    let png = app.barcode(&order.id, ImageFormat::Png).await.unwrap();
    let img = image::load_from_memory(&png).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    let result =
        rxing::helpers::detect_in_luma(img.into_raw(), w, h, Some(rxing::BarcodeFormat::PDF_417))
            .unwrap();
    assert_eq!(result.getText().as_bytes(), long.encode());
}

#[tokio::test]
async fn without_a_table_barcodes_are_unavailable_but_the_licence_prints() {
    let env = crate::env().await;
    let bare = env.app.clone().without_barcodes();
    let order = bare
        .create_order(crate::orders::new_order("nb", crate::card("Garcia", "PL1")))
        .await
        .unwrap();
    let err = bare.barcode(&order.id, ImageFormat::Svg).await.unwrap_err();
    assert_eq!(err.public().code, "fulfillment.barcode_unavailable");
    assert!(
        bare.temporary_licence(&order.id)
            .await
            .unwrap()
            .starts_with(b"%PDF-")
    );
    // With the shipped tables the licence carries the barcode's bars.
    let app = env.app.clone();
    let with = app.temporary_licence(&order.id).await.unwrap();
    let without = bare.temporary_licence(&order.id).await.unwrap();
    assert!(String::from_utf8_lossy(&with).matches(" re f").count() > 500);
    assert_eq!(
        String::from_utf8_lossy(&without).matches(" re f").count(),
        0
    );
    assert!(
        app.barcode(&order.id, ImageFormat::Png)
            .await
            .unwrap()
            .starts_with(b"\x89PNG")
    );
}
