//! A small PDF 1.4 writer: one page, text in the standard Helvetica font,
//! filled rectangles (the barcode is drawn bar by bar, so it stays sharp at
//! any printer resolution), and a cross-reference table whose offsets point
//! at the objects. Enough for the temporary licence a citizen prints.

use std::fmt::Write as _;

use crate::aamva::{CardData, Date};

/// US Letter, in points.
pub const PAGE_W: f64 = 612.0;
pub const PAGE_H: f64 = 792.0;

/// One page being drawn.
#[derive(Debug, Default)]
pub struct Page {
    content: String,
}

impl Page {
    pub fn new() -> Page {
        Page::default()
    }

    /// Text at (x, y) points from the bottom left, Helvetica (bold when
    /// `bold`) at `size` points.
    pub fn text(&mut self, x: f64, y: f64, size: f64, bold: bool, text: &str) {
        let font = if bold { "F2" } else { "F1" };
        let _ = writeln!(
            self.content,
            "BT /{font} {size:.1} Tf {x:.2} {y:.2} Td ({}) Tj ET",
            escape(text)
        );
    }

    /// A filled black rectangle.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64) {
        let _ = writeln!(self.content, "{x:.3} {y:.3} {w:.3} {h:.3} re f");
    }

    /// A rectangle outline.
    pub fn frame(&mut self, x: f64, y: f64, w: f64, h: f64) {
        let _ = writeln!(self.content, "1 w {x:.2} {y:.2} {w:.2} {h:.2} re S");
    }

    /// The finished document.
    pub fn finish(self) -> Vec<u8> {
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
                 /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>"
            ),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
                .to_owned(),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
                .to_owned(),
            format!(
                "<< /Length {} >>\nstream\n{}endstream",
                self.content.len(),
                self.content
            ),
        ];
        let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
        for off in offsets {
            let _ = writeln!(table, "{off:010} 00000 n ");
        }
        let _ = write!(
            table,
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        );
        out.extend_from_slice(table.as_bytes());
        out
    }
}

/// A PDF literal string in WinAnsi: `\`, `(` and `)` escaped, the em and
/// en dash mapped, anything else outside printable ASCII replaced by `?`.
fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '(' | ')' => {
                s.push('\\');
                s.push(c);
            }
            '—' => s.push_str("\\227"),
            '–' => s.push_str("\\226"),
            ' '..='~' => s.push(c),
            _ => s.push('?'),
        }
    }
    s
}

/// The temporary licence: the card's printed facts, a "TEMPORARY — valid
/// until <date>" notice, and the barcode (`barcode` rows from
/// [`crate::pdf417::Symbol::modules`]) when there is one.
pub fn temporary_licence(
    card: &CardData,
    jurisdiction_name: &str,
    valid_until: Date,
    barcode: Option<&[Vec<bool>]>,
) -> Vec<u8> {
    let f = card.fields();
    let mut p = Page::new();
    let left = 72.0;
    let mut y = PAGE_H - 90.0;
    p.text(
        left,
        y,
        18.0,
        true,
        &format!("{jurisdiction_name} DRIVER LICENSE"),
    );
    y -= 30.0;
    p.text(
        left,
        y,
        16.0,
        true,
        &format!("TEMPORARY — valid until {}", valid_until.display_us()),
    );
    y -= 30.0;
    let middle = if f.middle_names.is_empty() {
        String::new()
    } else {
        format!(" {}", f.middle_names)
    };
    let lines = [
        ("License number", f.customer_id.clone()),
        (
            "Name",
            format!("{}{middle} {}", f.first_name, f.family_name),
        ),
        ("Date of birth", f.birth_date.display_us()),
        ("Address", f.street_1.clone()),
        ("", f.street_2.clone().unwrap_or_default()),
        (
            "",
            format!(
                "{}, {} {}-{}",
                f.city,
                f.state,
                &f.postal_code[..5],
                &f.postal_code[5..]
            ),
        ),
        ("Class", f.class.clone()),
        ("Restrictions", f.restrictions.clone()),
        ("Endorsements", f.endorsements.clone()),
        ("Card expires", f.expiry.display_us()),
    ];
    for (label, value) in lines {
        if label.is_empty() && value.is_empty() {
            continue;
        }
        p.text(left, y, 10.0, true, label);
        p.text(left + 110.0, y, 11.0, false, &value);
        y -= 18.0;
    }
    y -= 12.0;
    if let Some(rows) = barcode {
        let width_modules = rows.first().map_or(0, Vec::len) + 2 * crate::pdf417::QUIET;
        let module = ((PAGE_W - 2.0 * left) / width_modules as f64).min(1.5);
        let height =
            (rows.len() * crate::pdf417::ROW_HEIGHT + 2 * crate::pdf417::QUIET) as f64 * module;
        let top = y;
        for (x, by, w, h) in crate::pdf417::bars(rows) {
            p.rect(
                left + x as f64 * module,
                top - (by + h) as f64 * module,
                w as f64 * module,
                h as f64 * module,
            );
        }
        y -= height + 16.0;
    }
    p.frame(
        left - 12.0,
        y,
        PAGE_W - 2.0 * (left - 12.0),
        PAGE_H - 60.0 - y,
    );
    y -= 20.0;
    p.text(
        left,
        y,
        9.0,
        false,
        "Carry this document with photo identification until your card arrives.",
    );
    p.finish()
}
