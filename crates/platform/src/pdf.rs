//! A one-page PDF written by hand (PDF 1.7, ISO 32000-1): lines of text in the standard
//! Helvetica fonts, filled squares (a QR code), rules, and files attached to the document (an
//! `EmbeddedFiles` name tree, which readers list as attachments and `pdfdetach` extracts).
//!
//! Chosen over a PDF crate: a certificate needs a dozen objects, and the crates that write
//! PDFs bring fonts, images and compression this page does not use. Text is limited to
//! printable ASCII (what the standard fonts' WinAnsi encoding shares with UTF-8); anything
//! else prints as `?`, and the attached files carry the exact data.

use std::fmt::Write as _;

/// A4 portrait, in points.
pub(crate) const WIDTH: f32 = 595.0;
pub(crate) const HEIGHT: f32 = 842.0;

/// A page's content: drawing operators in PDF syntax.
#[derive(Default)]
pub(crate) struct Page {
    ops: String,
}

/// A font of the page.
#[derive(Clone, Copy)]
pub(crate) enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "/F1",
            Font::Bold => "/F2",
            Font::Mono => "/F3",
        }
    }
}

/// `text` as a PDF string literal: printable ASCII, with `\`, `(` and `)` escaped.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        match c {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

impl Page {
    /// Text at (`x`, `y`) from the bottom left, in `size` points.
    pub(crate) fn text(&mut self, x: f32, y: f32, font: Font, size: f32, text: &str) {
        let _ = writeln!(
            self.ops,
            "BT {} {size} Tf {x} {y} Td {} Tj ET",
            font.resource(),
            literal(text)
        );
    }

    /// A horizontal rule from `x1` to `x2` at `y`.
    pub(crate) fn rule(&mut self, x1: f32, x2: f32, y: f32) {
        let _ = writeln!(self.ops, "0.6 w 0.7 G {x1} {y} m {x2} {y} l S 0 G");
    }

    /// A square matrix of `width` × `width` modules (true: dark), each `module` points wide,
    /// its top left corner at (`x`, `y`).
    pub(crate) fn matrix(&mut self, x: f32, y: f32, module: f32, width: usize, dark: &[bool]) {
        for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
            let (row, col) = (i / width, i % width);
            let (left, bottom) = (x + col as f32 * module, y - (row + 1) as f32 * module);
            let _ = writeln!(self.ops, "{left} {bottom} {module} {module} re");
        }
        self.ops.push_str("f\n");
    }
}

/// A file attached to the document.
pub(crate) struct Attachment<'a> {
    pub(crate) name: &'a str,
    /// A MIME type, such as `application/json`.
    pub(crate) mime: &'a str,
    pub(crate) data: &'a [u8],
}

/// The document: one `page`, titled `title`, with `attachments`.
pub(crate) fn document(page: &Page, title: &str, attachments: &[Attachment<'_>]) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = vec![];
    let names: String = attachments
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{} {} 0 R ", literal(a.name), 8 + 2 * i))
        .collect();
    objects.push(
        format!(
            "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [ {names}] >> >> >>"
        )
        .into_bytes(),
    );
    objects.push(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec());
    objects.push(
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {WIDTH} {HEIGHT}] \
             /Resources << /Font << /F1 4 0 R /F2 5 0 R /F3 6 0 R >> >> /Contents 7 0 R >>"
        )
        .into_bytes(),
    );
    for font in ["Helvetica", "Helvetica-Bold", "Courier"] {
        objects.push(
            format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>"
            )
            .into_bytes(),
        );
    }
    objects.push(stream("", page.ops.as_bytes()));
    for (i, a) in attachments.iter().enumerate() {
        let file = 9 + 2 * i;
        let name = literal(a.name);
        objects.push(
            format!(
                "<< /Type /Filespec /F {name} /UF {name} /EF << /F {file} 0 R >> /AFRelationship /Data >>"
            )
            .into_bytes(),
        );
        let subtype = a.mime.replace('/', "#2F");
        objects.push(stream(&format!("/Type /EmbeddedFile /Subtype /{subtype} "), a.data));
    }
    objects.push(format!("<< /Title {} /Producer (Consortia) >>", literal(title)).into_bytes());
    write(&objects)
}

/// A stream object with `dict` entries besides its length.
fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dict}/Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// The file: header, numbered objects (the last is the document information), the
/// cross-reference table and the trailer.
fn write(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = vec![];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R /Info {} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1,
        objects.len()
    );
    out.extend_from_slice(table.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn text_outside_printable_ascii_is_replaced_and_delimiters_escaped() {
        assert_eq!(literal("a(b)\\c 中"), "(a\\(b\\)\\\\c ?)");
    }

    #[test]
    fn every_cross_reference_points_at_its_object() {
        let mut page = Page::default();
        page.text(50.0, 800.0, Font::Bold, 20.0, "Certificate");
        page.matrix(400.0, 800.0, 2.0, 2, &[true, false, false, true]);
        let data = br#"{"format": "x"}"#;
        let pdf = document(
            &page,
            "T",
            &[Attachment { name: "proof.json", mime: "application/json", data }],
        );
        // The cross-reference table and the trailer are ASCII (the header's second line is not).
        let start = find(&pdf, b"startxref\n").unwrap() + "startxref\n".len();
        let tail = std::str::from_utf8(&pdf[start..]).unwrap();
        let xref: usize = tail.lines().next().unwrap().parse().unwrap();
        let table = std::str::from_utf8(&pdf[xref..]).unwrap();
        assert!(table.starts_with("xref\n"));
        let entries: Vec<usize> = table
            .lines()
            .skip(3)
            .take_while(|l| !l.starts_with("trailer"))
            .map(|l| l[..10].parse().unwrap())
            .collect();
        assert_eq!(entries.len(), 10, "catalog, pages, page, 3 fonts, content, 2 per file, info");
        for (i, offset) in entries.iter().enumerate() {
            assert!(
                pdf[*offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()),
                "object {}",
                i + 1
            );
        }
        assert!(find(&pdf, data).is_some(), "the attachment is stored as is");
        assert!(find(&pdf, b"/EmbeddedFiles << /Names [ (proof.json) 8 0 R ] >>").is_some());
    }
}
