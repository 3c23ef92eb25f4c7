use plaza_fulfillment::aamva::Date;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn check_xref(pdf: &[u8]) {
    let startxref = pdf.len()
        - find(
            &pdf.iter().rev().copied().collect::<Vec<u8>>(),
            b"\nferxtrats",
        )
        .unwrap()
        - 10;
    let tail = String::from_utf8(pdf[startxref..].to_vec()).unwrap();
    let xref_at: usize = tail.lines().nth(1).unwrap().parse().unwrap();
    let table = String::from_utf8(pdf[xref_at..].to_vec()).unwrap();
    assert!(table.starts_with("xref\n0 "));
    let mut lines = table.lines().skip(1);
    let count: usize = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(count > 1);
    assert_eq!(lines.next().unwrap(), "0000000000 65535 f ");
    for n in 1..count {
        let entry = lines.next().unwrap();
        assert_eq!(
            entry.len(),
            19,
            "xref entries are 20 bytes with the newline"
        );
        let off: usize = entry[..10].parse().unwrap();
        assert!(
            pdf[off..].starts_with(format!("{n} 0 obj").as_bytes()),
            "object {n} is not at {off}"
        );
    }
}

#[test]
fn the_pdf_writer_makes_a_valid_document() {
    let mut page = plaza_fulfillment::pdf::Page::new();
    page.text(72.0, 700.0, 12.0, false, "Hello (PDF) \\ world");
    page.rect(72.0, 600.0, 10.0, 20.0);
    let pdf = page.finish();
    assert!(pdf.starts_with(b"%PDF-1.4"));
    check_xref(&pdf);
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("(Hello \\(PDF\\) \\\\ world) Tj"));
    assert!(text.ends_with("%%EOF\n"));
}

#[tokio::test]
async fn the_temporary_licence_is_a_printable_pdf() {
    let env = crate::env().await;
    let order = env
        .app
        .create_order(crate::orders::new_order(
            "k-pdf",
            crate::card("Nguyen", "PL777"),
        ))
        .await
        .unwrap();
    let pdf = env.app.temporary_licence(&order.id).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    check_xref(&pdf);
    let until = plaza_kernel::clock::civil_from_days((crate::T0 + 60 * 86_400_000) / 86_400_000);
    let until = Date::new(until.0 as u16, until.1 as u8, until.2 as u8).unwrap();
    let raw = String::from_utf8_lossy(&pdf);
    let notice = format!("TEMPORARY \\227 valid until {}", until.display_us());
    assert!(raw.contains(&notice), "{notice}");
    assert!(raw.contains("(PL777) Tj"));
    match std::process::Command::new("pdftotext")
        .args(["-layout", "-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Err(e) => println!("skipping the pdftotext check: pdftotext is not available ({e})"),
        Ok(mut child) => {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&pdf).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success());
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains(&format!("TEMPORARY — valid until {}", until.display_us())),
                "{text}"
            );
            assert!(text.contains("PL777"));
            assert!(text.contains("MARIA ELENA NGUYEN"));
        }
    }
}
